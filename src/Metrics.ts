/**
 * The client's Effect metrics. Every value carries a `client` label (the
 * client id); the memory gauges also a `worker` label. Read them with
 * `Metric.value(metric.pipe(Metric.taggedWithLabels(Metrics.labels(client))))`,
 * with {@link values}, or export them with any Effect metrics exporter.
 *
 * Counters are updated as the client works. The gauges are set whenever a
 * memory snapshot is taken (`Memory.snapshot`, the dashboard) — the client
 * learns where keys live only by asking — or periodically by {@link poll} /
 * {@link layer}.
 *
 * Spans: `Client.submit`, `map`, `scatter` and `gather` run under spans named
 * `effect-dask.<op>`. `Future.release` has none: it is the hot path of every
 * scope close (see bench/callsites.ts for the measured cost of a span there).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import * as Schedule from "effect/Schedule"
import type { Client } from "./Client.js"
import type { NoClientError } from "./Errors.js"
import * as client_ from "./internal/client.js"
import * as internal from "./internal/memory.js"
import * as metrics from "./internal/metrics.js"

/**
 * Keys the client told the scheduler it wants (`client-desires-keys`).
 *
 * @since 0.1.0
 * @category counters
 */
export const desires: Metric.Metric.Counter<number> = metrics.desires

/**
 * Keys the client released (`client-releases-keys`).
 *
 * @since 0.1.0
 * @category counters
 */
export const releases: Metric.Metric.Counter<number> = metrics.releases

/**
 * Detached handles nobody released, released by the GC backstop. Should stay 0.
 *
 * @since 0.1.0
 * @category counters
 */
export const gcReleases: Metric.Metric.Counter<number> = metrics.gcReleases

/**
 * Remote task errors the client received.
 *
 * @since 0.1.0
 * @category counters
 */
export const errors: Metric.Metric.Counter<number> = metrics.errors

/**
 * Keys the client holds on each worker (labels `client`, `worker`).
 *
 * @since 0.1.0
 * @category gauges
 */
export const keysHeld: Metric.Metric.Gauge<number> = metrics.keysHeld

/**
 * Bytes of the client's keys on each worker (labels `client`, `worker`).
 *
 * @since 0.1.0
 * @category gauges
 */
export const bytesHeld: Metric.Metric.Gauge<number> = metrics.bytesHeld

/**
 * The labels of a client's counters.
 *
 * @since 0.1.0
 * @category labels
 */
export const labels = (client: { readonly id: string }): ReadonlyArray<MetricLabel.MetricLabel> =>
  metrics.clientLabels(client.id)

/**
 * The labels of a client's gauges for one worker.
 *
 * @since 0.1.0
 * @category labels
 */
export const workerLabels = (client: { readonly id: string }, worker: string): ReadonlyArray<MetricLabel.MetricLabel> =>
  metrics.workerLabels(client.id, worker)

/**
 * The counters of a client (the current one, or the given one).
 *
 * @since 0.1.0
 * @category getters
 */
export const values = (client?: Client): Effect.Effect<{
  readonly desires: number
  readonly releases: number
  readonly gcReleases: number
  readonly errors: number
}, NoClientError> =>
  Effect.flatMap(internal.resolve(client), (c) => {
    const l = metrics.clientLabels(c.id)
    const read = (m: Metric.Metric.Counter<number>) => Effect.map(Metric.value(Metric.taggedWithLabels(m, l)), (s) => s.count)
    return Effect.all({ desires: read(desires), releases: read(releases), gcReleases: read(gcReleases), errors: read(errors) })
  })

/**
 * Sets the memory gauges of every open client now and then every `interval`
 * (default 5 seconds), forever; snapshot failures are logged at debug level
 * and retried at the next tick.
 *
 * @since 0.1.0
 * @category polling
 */
export const poll = (options?: { readonly interval?: Duration.DurationInput | undefined }): Effect.Effect<never> =>
  Effect.suspend(() =>
    Effect.forEach(client_.openClients(), (c) =>
      Effect.catchAll(internal.snapshotOf(c), (e) => Effect.logDebug("effect-dask: memory snapshot failed", e)), { discard: true })
  ).pipe(
    Effect.repeat(Schedule.spaced(Duration.decode(options?.interval ?? "5 seconds"))),
    Effect.zipRight(Effect.never)
  )

/**
 * {@link poll} in the background for the lifetime of the layer.
 *
 * @since 0.1.0
 * @category polling
 */
export const layer = (options?: { readonly interval?: Duration.DurationInput | undefined }): Layer.Layer<never> =>
  Layer.scopedDiscard(Effect.forkScoped(poll(options)))
