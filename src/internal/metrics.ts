import * as Metric from "effect/Metric"
import type * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"

/** Labels every client metric carries. */
export const clientLabels = (clientId: string): ReadonlyArray<MetricLabel.MetricLabel> => [MetricLabel.make("client", clientId)]

const counterKey = (name: string, description: string) => MetricKey.counter(name, { description, incremental: true })
const desiresKey = counterKey("effect_dask_desires", "Keys the client told the scheduler it wants")
const releasesKey = counterKey("effect_dask_releases", "Keys the client released")
const gcReleasesKey = counterKey("effect_dask_gc_releases", "Handles released by the GC backstop")
const errorsKey = counterKey("effect_dask_errors", "Remote task errors received")

export const desires = Metric.fromMetricKey(desiresKey)
export const releases = Metric.fromMetricKey(releasesKey)
export const gcReleases = Metric.fromMetricKey(gcReleasesKey)
export const errors = Metric.fromMetricKey(errorsKey)

/** The hook a metric updates for these labels, the same one `metric.unsafeUpdate(n, labels)` would look up. */
const hookOf = (key: MetricKey.MetricKey.Counter<number>, labels: ReadonlyArray<MetricLabel.MetricLabel>) =>
  Metric.globalMetricRegistry.getCounter(MetricKey.taggedWithLabels(key, labels))

/**
 * One client's counters, looked up once when it opens: desires and releases
 * are counted per key, and `unsafeUpdate` with labels costs a WeakMap lookup
 * and two closure calls each time.
 */
export class ClientCounters {
  readonly desires: MetricHook.MetricHook.Counter<number>
  readonly releases: MetricHook.MetricHook.Counter<number>
  readonly gcReleases: MetricHook.MetricHook.Counter<number>
  readonly errors: MetricHook.MetricHook.Counter<number>
  constructor(labels: ReadonlyArray<MetricLabel.MetricLabel>) {
    this.desires = hookOf(desiresKey, labels)
    this.releases = hookOf(releasesKey, labels)
    this.gcReleases = hookOf(gcReleasesKey, labels)
    this.errors = hookOf(errorsKey, labels)
  }
}

/** Labels of a per-worker gauge of one client. */
export const workerLabels = (clientId: string, worker: string): ReadonlyArray<MetricLabel.MetricLabel> => [
  MetricLabel.make("client", clientId),
  MetricLabel.make("worker", worker)
]

// Gauges are set from memory snapshots (`Memory.snapshot`, the dashboard, `Metrics.poll`): the client learns where keys live only by asking.
export const keysHeld = Metric.gauge("effect_dask_keys_held", { description: "Keys this client holds, per worker holding them" })
export const bytesHeld = Metric.gauge("effect_dask_bytes_held", { description: "Bytes of this client's keys, per worker holding them" })
