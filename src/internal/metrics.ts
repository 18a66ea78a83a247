import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"

/** Labels every client metric carries. */
export const clientLabels = (clientId: string): ReadonlyArray<MetricLabel.MetricLabel> => [MetricLabel.make("client", clientId)]

export const desires = Metric.counter("effect_dask_desires", { description: "Keys the client told the scheduler it wants", incremental: true })
export const releases = Metric.counter("effect_dask_releases", { description: "Keys the client released", incremental: true })
export const gcReleases = Metric.counter("effect_dask_gc_releases", { description: "Handles released by the GC backstop", incremental: true })
export const errors = Metric.counter("effect_dask_errors", { description: "Remote task errors received", incremental: true })
