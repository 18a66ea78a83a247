/**
 * The embedded scheduler: a Dask-style scheduler and its workers running
 * inside this process — the zero-setup backend, like Dask's
 * `Client(processes=False)`.
 *
 * It keeps Dask's task states (`released`, `waiting`, `queued`,
 * `processing`, `memory`, `erred`, `forgotten`), its per-client interest
 * (`who_wants`) and its transition rules, so a value is freed exactly when
 * Dask's scheduler would free it: no client, no `"fire-and-forget"` and no
 * `"published-<name>"` pseudo-client wants the key, and no waiting dependent
 * still needs it. Tasks are the JS implementations of {@link Task.Task}s:
 * synchronous functions run inline (no fiber), Promise- and Effect-returning
 * ones run concurrently up to each worker's slots.
 *
 * Where it differs from Dask, and why:
 * - every ready task without a free slot is `queued` (Dask queues only
 *   root-ish tasks) and takes the first slot that frees; a task placed at
 *   once goes, as Dask's `decide_worker`, to a free worker holding some of
 *   its dependencies (fewest bytes to copy, then the least busy; Dask adds
 *   estimated durations and bandwidth, which the model does not know);
 * - workers share one heap, so a task reads its dependencies' values where
 *   they are (no transfer, no replica), and each value is counted once, on
 *   the worker that computed or received it;
 * - `Cancel` of a key the scheduler does not know returns at once (Dask
 *   waits up to a second for it to arrive: our stream is ordered);
 * - a scatter over a key that is waiting or running replaces its
 *   computation and wakes its dependents;
 * - cancelling a key leaves the client's interest in a dependent that other
 *   clients want too (Dask drops it without telling the client, whose future
 *   on that dependent then never completes).
 * Dask's quirks are kept: a key desired before it exists is a placeholder
 * that is never computed, the fire-and-forget pseudo-client lets go of a key
 * only when the key reaches memory or errs itself, and republishing a dataset
 * name does not release the keys it replaced.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, EmbeddedScheduler, Future, Task } from "effect-dask"
 *
 * const add = Task.make("add", (a: number, b: number) => a + b)
 * const program = Effect.gen(function*() {
 *   const f = yield* Client.submit(add, 1, 2)
 *   return yield* Future.result(f)
 * })
 * program.pipe(
 *   Effect.provide(Client.layer()),
 *   Effect.provide(EmbeddedScheduler.layer({ workers: 2, slots: 4 })),
 *   Effect.scoped,
 *   Effect.runPromise
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type { ResourceLimits } from "node:worker_threads"
import type { TaskModuleError } from "./Errors.js"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/embedded/scheduler.js"
import type { ErrorInfo, Key } from "./Scheduler.js"
import { Scheduler } from "./Scheduler.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Number of in-process workers (default 2). */
  readonly workers?: number | undefined
  /**
   * Tasks run at once per worker, Dask's `nthreads` (default 4 in this
   * thread, 1 with `threads`: a thread runs one synchronous task at a time).
   */
  readonly slots?: number | undefined
  /**
   * Run each worker in its own `worker_threads` thread (own heap, own core)
   * instead of all of them in this thread. Tasks are then found by name in
   * `modules`. Default false: see the README for when each mode wins.
   */
  readonly threads?: boolean | undefined
  /**
   * With `threads`: the task modules the threads import (`URL`s, paths or
   * `file:` URL strings, relative ones against the working directory), e.g.
   * `[new URL("./tasks.ts", import.meta.url)]`. See `TaskModule`.
   */
  readonly modules?: ReadonlyArray<URL | string> | undefined
  /**
   * With `threads`: V8 limits of each thread (`worker_threads` `resourceLimits`).
   * A thread that exceeds them dies; its keys are lost and recomputed elsewhere.
   */
  readonly resourceLimits?: ResourceLimits | undefined
  /**
   * Bytes of results a worker may hold (estimated with a `sizeof` over JS
   * values) before it pauses: a paused worker takes no new tasks until
   * releases bring it back under the limit, like Dask's paused worker.
   * Unlimited by default.
   */
  readonly memoryLimit?: number | undefined
  /** Scheduler address (default `inproc://embedded-<n>`). */
  readonly address?: string | undefined
  /** Synchronous tasks run per slice before yielding to the event loop (default 4096). */
  readonly budget?: number | undefined
}

/**
 * A task's state (Dask's `TaskState` states; `queued` is ready but waiting for a free slot).
 *
 * @since 0.1.0
 * @category models
 */
export type TaskStateName = "released" | "waiting" | "queued" | "processing" | "memory" | "erred" | "forgotten"

/**
 * @since 0.1.0
 * @category models
 */
export interface TaskSnapshot {
  readonly key: Key
  readonly state: TaskStateName
  /** Clients and pseudo-clients that want the key. */
  readonly whoWants: ReadonlyArray<string>
  readonly dependencies: ReadonlyArray<Key>
  readonly dependents: ReadonlyArray<Key>
  /** Dependents still waiting for this key's value. */
  readonly waiters: ReadonlyArray<Key>
  /** Dependencies this task still waits for. */
  readonly waitingOn: ReadonlyArray<Key>
  /** Workers holding the value. */
  readonly workers: ReadonlyArray<string>
  readonly processingOn: string | undefined
  /** Estimated bytes of the value (-1 when never computed). */
  readonly nbytes: number
  readonly type: string | undefined
  /** Retries left. */
  readonly retries: number
  /** For erred tasks, the failure (of this task or the dependency to blame). */
  readonly error: ErrorInfo | undefined
  readonly erredBecauseOf: Key | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface WorkerSnapshot {
  readonly address: string
  /** Keys whose values this worker holds. */
  readonly keys: ReadonlyArray<Key>
  /** Estimated bytes held. */
  readonly bytes: number
  readonly memoryLimit: number | undefined
  readonly slots: number
  /** Tasks assigned to the worker (running or about to start). */
  readonly running: number
  readonly paused: boolean
}

/**
 * A copy of the embedded scheduler's state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly address: string
  readonly tasks: ReadonlyMap<Key, TaskSnapshot>
  /** Each client's and pseudo-client's wanted keys (Dask's `wants_what`). */
  readonly clients: ReadonlyMap<string, ReadonlyArray<Key>>
  readonly workers: ReadonlyArray<WorkerSnapshot>
  /** Ready tasks waiting for a slot. */
  readonly queued: number
  /** Promise/Effect tasks running now. */
  readonly inFlight: number
  readonly datasets: ReadonlyMap<string, ReadonlyArray<Key>>
}

/**
 * Counts, cheap enough to poll.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Tasks known (not forgotten). */
  readonly tasks: number
  /** Values held, over all workers. */
  readonly keys: number
  /** Estimated bytes held, over all workers. */
  readonly bytes: number
  /** Tasks assigned to workers (running or about to start). */
  readonly processing: number
  readonly queued: number
}

/**
 * What one worker thread really holds, asked of the thread itself.
 *
 * @since 0.2.0
 * @category models
 */
export interface ThreadSnapshot {
  readonly address: string
  /** Values held in the thread's heap. */
  readonly keys: number
  /** Their estimated bytes, measured in the thread. */
  readonly bytes: number
  /** The thread's V8 heap in use (after a GC when the thread can run one). */
  readonly heapUsed: number
  /** Values copied into this thread from other threads (dependencies it needed), since it started. */
  readonly received: number
  /** Tasks that ended in this thread (finished or erred), since it started: Dask's `executed_count`. */
  readonly executed: number
}

/**
 * Read access to a running embedded scheduler, for tests and diagnostics.
 *
 * @since 0.1.0
 * @category tags
 */
export class EmbeddedScheduler extends Context.Tag("effect-dask/EmbeddedScheduler")<EmbeddedScheduler, {
  readonly address: string
  /** A copy of the current state. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** Counts only (no copy). */
  readonly stats: Effect.Effect<Stats>
  /** With `threads`: what each thread holds, asked of the threads after a GC in each (empty in this-thread mode). */
  readonly threads: Effect.Effect<ReadonlyArray<ThreadSnapshot>>
  /**
   * As `threads`, without the GC (a GC of a thread's heap can take a tenth of a second): cheap enough
   * to poll; `heapUsed` then includes garbage. Since 0.2.0.
   */
  readonly threadsNow: Effect.Effect<ReadonlyArray<ThreadSnapshot>>
}>() {}

/**
 * How building an embedded scheduler with options `O` can fail: only with
 * `threads` (a task module that does not load, or two tasks with one name).
 *
 * @since 0.2.0
 * @category models
 */
export type MakeError<O> = "threads" extends keyof O
  ? O extends { readonly threads?: false | undefined } ? never : TaskModuleError
  : never

/**
 * Builds an embedded scheduler in the current scope. Closing the scope stops
 * every running task and drops all state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const O extends Options = {}>(
  options?: O
): Effect.Effect<Context.Context<Scheduler | EmbeddedScheduler>, MakeError<O>, Scope.Scope> =>
  Effect.map(internal.make(options) as Effect.Effect<internal.Embedded, MakeError<O>, Scope.Scope>, (embedded) =>
    Context.make(
      Scheduler,
      Scheduler.of({ address: embedded.address, connect: (clientId, reports) => internal.connect(embedded, clientId, reports) })
    ).pipe(
      Context.add(EmbeddedScheduler, EmbeddedScheduler.of({
        address: embedded.address,
        snapshot: Effect.sync(() => internal.snapshot(embedded.model)),
        stats: Effect.sync(() => internal.stats(embedded.model)),
        threads: embedded.threads === undefined ? Effect.succeed([]) : embedded.threads.stats(true),
        threadsNow: embedded.threads === undefined ? Effect.succeed([]) : embedded.threads.stats(false)
      }))
    ))

/**
 * The embedded scheduler as a Layer for {@link Scheduler} (and
 * {@link EmbeddedScheduler}). Several clients may connect to one build.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const O extends Options = {}>(options?: O): Layer.Layer<Scheduler | EmbeddedScheduler, MakeError<O>> =>
  Layer.scopedContext(make(options))
