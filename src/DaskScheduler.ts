/**
 * A {@link Scheduler} backend that drives an unmodified Dask scheduler and its
 * workers over TCP.
 *
 * The wire dialect is chosen per connection from the scheduler's `versions`
 * reply: distributed 2022.1 – 2023.3 (tasks + dependencies in
 * `update-graph`) or 2024.11 – 2025.3 (a pickled HighLevelGraph with
 * `TaskRef`s). Any other version is refused at connect with
 * `UnsupportedVersionError`, before the client registers.
 *
 * Tasks run as importable Python callables (`Task.python` or the `python`
 * option of `Task.make`); results come back as msgpack (lz4-compressed frames
 * are decoded), falling back to pickle read by a whitelist reader that never
 * imports or executes anything.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, DaskScheduler, Future, Task } from "effect-dask"
 *
 * const add = Task.python<[number, number], number>("operator.add")
 *
 * const program = Effect.gen(function*() {
 *   const f = yield* Client.submit(add, 1, 2)
 *   return yield* Future.result(f)
 * }).pipe(
 *   Effect.scoped,
 *   Effect.provide(Client.layer()),
 *   Effect.provide(DaskScheduler.layer({ address: "tcp://127.0.0.1:8786" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/dask/scheduler.js"
import type { Scheduler } from "./Scheduler.js"

/**
 * Options of the Dask backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * `tcp://host:port` of the scheduler. Defaults to the `DASK_SCHEDULER_ADDRESS`
   * config value (environment variable). A missing or malformed address fails
   * the layer with a `ConfigError`.
   */
  readonly address?: string | undefined
  /**
   * Largest message accepted from the scheduler or a worker, checked against
   * the declared frame sizes before anything is allocated. A larger one closes
   * that connection with a `ProtocolError`. Default 256 MiB.
   */
  readonly maxMessageBytes?: number | undefined
  /** Interval of `heartbeat-client` on the stream. Default 5 seconds. */
  readonly heartbeat?: Duration.DurationInput | undefined
  /**
   * How long the stream writer gathers messages into one batch while it is
   * busy. An idle stream sends at once. Default 2 milliseconds.
   */
  readonly batchInterval?: Duration.DurationInput | undefined
  /**
   * When the stream is lost, a `ConnectionLost` report is emitted and
   * connecting is retried on this schedule; on success the client is
   * registered again and a `Reconnected` report emitted (`restarted` when the
   * scheduler's identity changed: a new process). Messages sent while
   * disconnected are delivered after re-registration. When the schedule ends
   * without success, pending and later submissions fail with
   * `ConnectionLostError`. Default: exponential from 100 ms, capped at 5 s,
   * until the session closes.
   */
  readonly reconnect?: Schedule.Schedule<unknown, unknown> | undefined
  /** Connections kept for request/reply calls (one request in flight each). Default 4. */
  readonly poolSize?: number | undefined
  /** Bound on opening a connection and on the handshake. Default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Deadline of every reply to a request (`versions` at connect, `gather`,
   * `who_has`, …), and how long a message that started arriving may stall
   * (on any connection, the stream included). A large reply that keeps
   * arriving is not stalled. Exceeding it fails with a `RequestTimeoutError`
   * naming the address and the request, and closes that connection.
   * Default 30 seconds (Dask's `distributed.comm.timeouts.tcp`).
   *
   * @since 0.2.0
   */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /**
   * Decode budget of one message: the bytes that decoding it may build, in
   * total, over every codec (lz4 output, msgpack containers and strings,
   * pickle containers, numpy arrays, broadcast arrays at their full size).
   * Exceeding it fails that reply with a `DecodeError` naming the codec and
   * the budget; the connection stays open. Default: a quarter of V8's heap
   * limit, at most 1 GiB.
   *
   * @since 0.2.0
   */
  readonly maxDecodedBytes?: number | undefined
}

/**
 * The name of the config value read when no `address` is given.
 *
 * @since 0.1.0
 * @category constants
 */
export const ADDRESS_ENV: string = internal.ADDRESS_ENV

/**
 * Builds the service; connections close with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Scheduler["Type"], ConfigError.ConfigError, Scope.Scope> =
  internal.make

/**
 * A layer for the {@link Scheduler} tag backed by a Dask cluster.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<Scheduler, ConfigError.ConfigError> = internal.layer
