/**
 * A Node.js worker that joins an unmodified Dask scheduler (distributed
 * 2022.12 or 2024.12) beside Python workers and runs JS tasks: the tasks of
 * the listed task modules (see {@link TaskModule}), found by name.
 *
 * It registers with the resource `js` (= `nthreads`), which the Dask backend
 * requires of every JS task, so the scheduler places JS tasks on Node workers
 * only; placement, stealing, retries, the active memory manager and
 * worker-ttl stay the scheduler's. Results are served to Python peers and
 * clients as msgpack (arrays → tuples, objects → dicts, a top-level typed
 * array → bytes). A Python task that reaches it fails at once with an error
 * naming it as a JS worker; `run`, plugins and other Python-only operations
 * get a well-formed error reply.
 *
 * From the shell: `npx effect-dask worker tcp://127.0.0.1:8786 --tasks ./tasks.js`.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { DaskWorker } from "effect-dask"
 *
 * const worker = DaskWorker.layer({
 *   scheduler: "tcp://127.0.0.1:8786",
 *   modules: [new URL("./tasks.ts", import.meta.url)],
 *   nthreads: 4
 * })
 * Layer.launch(worker).pipe(Effect.runFork) // runs until interrupted, then retires
 * ```
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { DaskWorkerError, TaskModuleError } from "./Errors.js"
import * as internal from "./internal/worker/layer.js"
import type * as TaskModule from "./TaskModule.js"

/**
 * Options of a Node worker.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** `tcp://host:port` of the Dask scheduler. */
  readonly scheduler: string
  /** Task modules whose JS tasks this worker runs. */
  readonly modules?: ReadonlyArray<TaskModule.Specifier> | undefined
  /** Tasks run at once (Dask's `nthreads`; also the `js` resource registered). Default 1. */
  readonly nthreads?: number | undefined
  /**
   * Process memory (RSS) at which the worker pauses: bytes, or a fraction in
   * (0, 1] of V8's heap limit. 0 or absent: no limit.
   */
  readonly memoryLimit?: number | undefined
  /** Fraction of `memoryLimit` above which the worker pauses (Dask's `worker.memory.pause`). Default 0.8. */
  readonly pauseFraction?: number | undefined
  /** Worker name (unique in the cluster). Default: its address. */
  readonly name?: string | undefined
  /** Further resources to register (`js` is always registered). */
  readonly resources?: Readonly<Record<string, number>> | undefined
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Port to listen on. Default 0 (a free port). */
  readonly port?: number | undefined
  /** Largest message accepted from a peer. Default 512 MiB. */
  readonly maxMessageBytes?: number | undefined
  /** Where lifecycle lines go (registration, pause, close). Default: nowhere. */
  readonly log?: ((line: string) => void) | undefined
}

/**
 * A running Node worker.
 *
 * @since 0.2.0
 * @category models
 */
export interface DaskWorker {
  /** `tcp://host:port` it listens on (its address in the cluster). */
  readonly address: string
  readonly name: string
  /** Keys held in memory. */
  readonly keys: Effect.Effect<ReadonlyArray<unknown>>
  /** Completes, with the reason, when the worker has left the cluster. */
  readonly closed: Effect.Effect<string>
  /** Asks the scheduler to retire this worker (its keys move elsewhere), then closes. */
  readonly retire: Effect.Effect<void>
}

/**
 * The service tag of a running worker.
 *
 * @since 0.2.0
 * @category tags
 */
export const DaskWorker: import("effect/Context").Tag<DaskWorker, DaskWorker> = internal.DaskWorkerTag

/**
 * Starts a worker in the scope; closing the scope retires it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<DaskWorker, DaskWorkerError | TaskModuleError, Scope.Scope> =
  internal.make

/**
 * A layer running one worker for its lifetime.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: (options: Options) => Layer.Layer<DaskWorker, DaskWorkerError | TaskModuleError> = internal.layer
