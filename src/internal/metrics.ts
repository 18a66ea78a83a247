import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"

/** Labels every client metric carries. */
export const clientLabels = (clientId: string): ReadonlyArray<MetricLabel.MetricLabel> => [MetricLabel.make("client", clientId)]

export const desires = Metric.counter("effect_dask_desires", { description: "Keys the client told the scheduler it wants", incremental: true })
export const releases = Metric.counter("effect_dask_releases", { description: "Keys the client released", incremental: true })
export const gcReleases = Metric.counter("effect_dask_gc_releases", { description: "Handles released by the GC backstop", incremental: true })
export const errors = Metric.counter("effect_dask_errors", { description: "Remote task errors received", incremental: true })

/** Labels of a per-worker gauge of one client. */
export const workerLabels = (clientId: string, worker: string): ReadonlyArray<MetricLabel.MetricLabel> => [
  MetricLabel.make("client", clientId),
  MetricLabel.make("worker", worker)
]

// Gauges are set from memory snapshots (`Memory.snapshot`, the dashboard, `Metrics.poll`): the client learns where keys live only by asking.
export const keysHeld = Metric.gauge("effect_dask_keys_held", { description: "Keys this client holds, per worker holding them" })
export const bytesHeld = Metric.gauge("effect_dask_bytes_held", { description: "Bytes of this client's keys, per worker holding them" })
