/**
 * The client: it reference-counts keys, shares one state per key between its
 * futures, and talks to whatever {@link Scheduler} layer is provided.
 *
 * Every operation below uses the current client: the one set on this fiber
 * with {@link withClient}, else the one provided by {@link layer}, else the
 * newest open client in the global registry (held weakly), else it fails with
 * `NoClientError`.
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import { RemoteError } from "./Errors.js"
import type {
  CancelledError,
  ClientClosedError,
  ConnectionLostError,
  FutureError,
  InvalidOptionsError,
  NoClientError,
  SchedulerError,
  UnsupportedTaskError
} from "./Errors.js"
import { DecodeError } from "./Errors.js"
import type { Future } from "./Future.js"
import * as internal from "./internal/client.js"
import type * as SchedulerTypes from "./Scheduler.js"
import type { Key, RunOutcome, TaskOptions, WorkerInfo } from "./Scheduler.js"
import { Scheduler } from "./Scheduler.js"
import type * as Task from "./Task.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Client {
  /** The id the scheduler knows this client by. */
  readonly id: string
  /** The scheduler's address. */
  readonly address: string
  /** Whether the client is closed. */
  readonly closed: boolean
}

/**
 * The `Client` service, provided by {@link layer}.
 *
 * @since 0.1.0
 * @category tags
 */
export const Client: Context.Tag<Client, Client> = internal.ClientTag as any

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Client id; default `Client-ts-<uuid>`. */
  readonly id?: string | undefined
  /** Record where each handle was acquired (stack and span), for memory reports. Off by default. */
  readonly trackCallSites?: boolean | undefined
}

/**
 * Opens a client on the provided scheduler. Closing the scope closes the
 * client: it releases every key it holds in one message, cancels its futures,
 * closes its stream and leaves the registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Client, SchedulerError, Scheduler | Scope.Scope> =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const clientId = options?.id ?? internal.defaultClientId()
    const inbox = new internal.Inbox()
    const session = yield* scheduler.connect(clientId, inbox.sink)
    return yield* internal.make(session, inbox, scheduler.address, { ...options, clientId })
  })

/**
 * The state of a client's connection: `connecting` (before the first
 * registration), `running`, `reconnecting` (the stream was lost: pending
 * futures failed with `cause`; finished ones keep their status until the
 * scheduler is asked after the reconnect) and `closed` (the client closed, or
 * the backend gave up reconnecting: then with `cause`).
 *
 * @since 0.2.0
 * @category models
 */
export type ConnectionStatus =
  | { readonly _tag: "connecting"; readonly address: string }
  | { readonly _tag: "running"; readonly address: string }
  | { readonly _tag: "reconnecting"; readonly address: string; readonly cause: ConnectionLostError }
  | { readonly _tag: "closed"; readonly address: string; readonly cause?: ConnectionLostError | undefined }

/**
 * The current client's connection status as a `SubscriptionRef`: read it with
 * `SubscriptionRef.get`, watch it with its `changes` stream.
 *
 * @since 0.2.0
 * @category connection
 */
export const status: Effect.Effect<SubscriptionRef.SubscriptionRef<ConnectionStatus>, NoClientError> = Effect.map(
  internal.current,
  (client) => client.status!
)

/**
 * The current client's connection status, then every change of it.
 *
 * @since 0.2.0
 * @category connection
 */
export const statusChanges: Stream.Stream<ConnectionStatus, NoClientError> = Stream.unwrap(
  Effect.map(status, (ref) => ref.changes)
)

/**
 * A client as a Layer; operations in the program it is provided to use it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Client, SchedulerError, Scheduler> =>
  Layer.scoped(Client, make(options))

/**
 * Runs an effect with `client` as the current client of its fiber (and of the
 * fibers it forks). Other fibers are unaffected.
 *
 * @since 0.1.0
 * @category current client
 */
export const withClient: {
  (client: Client): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, client: Client): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, client: Client): Effect.Effect<A, E, R> =>
    Effect.locally(self, internal.currentClient, client as internal.ClientImpl)
)

/**
 * The current client.
 *
 * @since 0.1.0
 * @category current client
 */
export const current: Effect.Effect<Client, NoClientError> = internal.current

/** Runs `f` with the current client; the builder's stack is kept for call-site tracking (free when off). */
const use = <A, E, R>(f: (client: internal.ClientImpl) => Effect.Effect<A, E, R>): Effect.Effect<A, E | NoClientError, R> =>
  internal.withCallerStack(Effect.flatMap(internal.current, f))

/** Effect's default tracer: spans go nowhere unless something reads them. */
const defaultTracer = Effect.runSync(Effect.tracer)

/**
 * The `effect-dask.submit` span, made only when something reads it: a tracer
 * other than Effect's default (an exporter), or call-site tracking (memory
 * reports name the span). Otherwise it was two thirds of a one-by-one
 * submit's Effect overhead. `map`, `scatter` and `gather` keep theirs
 * unconditionally: one span per batch costs nothing per task.
 */
const submitSpan = (task: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    fiber.currentTracer !== defaultTracer || internal.tracksCallSites()
      ? Effect.withSpan(self, "effect-dask.submit", { attributes: { task }, captureStackTrace: false })
      : self
  )

const impl = <A, E>(f: Future<A, E>) => f as unknown as internal.FutureImpl<A, E>
const impls = <A, E>(fs: ReadonlyArray<Future<A, E>>) => fs as unknown as ReadonlyArray<internal.FutureImpl<A, E>>

/**
 * An argument: a value or a future of it (futures become dependencies, also
 * inside arrays and plain objects).
 *
 * @since 0.1.0
 * @category models
 */
export type Arg<T> =
  | T
  | Future<T, any>
  | (T extends ReadonlyArray<infer U> ? ReadonlyArray<Arg<U>> : never)

/**
 * @since 0.1.0
 * @category models
 */
export type Args<T extends ReadonlyArray<any>> = { readonly [K in keyof T]: Arg<T[K]> }

/**
 * Options of one {@link submitWith} call: Dask's `submit` keywords. The
 * scheduling ones ({@link TaskOptions}) reach every backend.
 *
 * @since 0.2.0
 * @category models
 */
export interface SubmitOptions extends TaskOptions {
  /** The key itself (Dask's `key=`): equal keys are one task, whatever the arguments. */
  readonly key?: string | undefined
  /** Overrides the task definition's purity: `false` gives a random token. */
  readonly pure?: boolean | undefined
}

/**
 * Options of one {@link mapWith} call: Dask's `map` keywords.
 *
 * @since 0.2.0
 * @category models
 */
export interface MapOptions extends TaskOptions {
  /** A key prefix (keys are `prefix-<token>`), or one explicit key per task. */
  readonly key?: string | ReadonlyArray<string> | undefined
  /** Overrides the task definition's purity: `false` gives random tokens. */
  readonly pure?: boolean | undefined
}

/**
 * Options of {@link scatter}: Dask's `scatter` keywords.
 *
 * @since 0.2.0
 * @category models
 */
export interface ScatterOptions extends SchedulerTypes.ScatterOptions {
  /** `false`: a random token instead of the value's hash, so equal values get distinct keys. */
  readonly hash?: boolean | undefined
}

const scheduling = (options: SubmitOptions | MapOptions): TaskOptions | undefined => {
  const { key: _key, pure: _pure, ...rest } = options
  return rest
}

/** One argument list per position of the arrays (as Python's `zip`: the shortest decides). */
const zipArgs = (arrays: ReadonlyArray<ReadonlyArray<unknown>>): Array<ReadonlyArray<unknown>> => {
  const n = arrays.length === 0 ? 0 : Math.min(...arrays.map((a) => a.length))
  const argLists: Array<ReadonlyArray<unknown>> = new Array(n)
  const m = arrays.length
  // Plain loops: no closure per task. Sized up front: the model keeps each row as the task's
  // arguments, and a row grown by push from [] holds 17 slots (152 bytes instead of 32 for two).
  for (let i = 0; i < n; i++) {
    const row: Array<unknown> = new Array(m)
    for (let j = 0; j < m; j++) row[j] = arrays[j]![i]
    argLists[i] = row
  }
  return argLists
}

/**
 * Submits one task. Pure tasks get deterministic keys (`name-<token>`), so
 * equal submissions share a key and are computed once.
 *
 * A dependency taken by name (`Future.fromKey`) that the scheduler has not
 * reported on yet is checked first: if the scheduler does not have it, the
 * submission fails with `LostDataError` (reason "unknown to the scheduler")
 * and nothing is sent (a Dask 2022.12 worker would crash on such a task).
 *
 * @since 0.1.0
 * @category submission
 */
export const submit = <As extends ReadonlyArray<any>, A, E>(
  task: Task.Task<As, A, E>,
  ...args: Args<As>
): Effect.Effect<Future<A, E>, UnsupportedTaskError | CancelledError | NoClientError | ClientClosedError | SchedulerError, Scope.Scope> =>
  use((client) =>
    Effect.map(
      // Without options nothing can be invalid.
      client.submitMany<A>(task, [args]) as Effect.Effect<
        Array<internal.FutureImpl<A, any>>,
        UnsupportedTaskError | CancelledError | ClientClosedError | SchedulerError,
        Scope.Scope
      >,
      (fs) => fs[0]! as unknown as Future<A, E>
    )
  ).pipe(submitSpan(task.name))

/**
 * {@link submit} with Dask's per-call options: `key`, `pure`, `retries`,
 * `priority`, `workers`, `resources`, `allowOtherWorkers`, `fifoTimeout`. A
 * malformed option fails with `InvalidOptionsError` before anything is sent.
 *
 * @example
 * ```ts
 * const f = yield* Client.submitWith(inc, [1], { priority: 10, resources: { GPU: 1 }, retries: 2 })
 * ```
 *
 * @since 0.2.0
 * @category submission
 */
export const submitWith = <As extends ReadonlyArray<any>, A, E>(
  task: Task.Task<As, A, E>,
  args: Args<As>,
  options: SubmitOptions
): Effect.Effect<
  Future<A, E>,
  UnsupportedTaskError | CancelledError | InvalidOptionsError | NoClientError | ClientClosedError | SchedulerError,
  Scope.Scope
> =>
  use((client) =>
    Effect.map(
      client.submitMany<A>(task, [args], { key: options.key, pure: options.pure, options: scheduling(options), single: true }),
      (fs) => fs[0]! as unknown as Future<A, E>
    )
  ).pipe(submitSpan(task.name))

/**
 * Submits the task once per position of the given arrays (one graph update).
 *
 * @since 0.1.0
 * @category submission
 */
export const map = <As extends ReadonlyArray<any>, A, E>(
  task: Task.Task<As, A, E>,
  ...arrays: { readonly [K in keyof As]: ReadonlyArray<Arg<As[K]>> }
): Effect.Effect<Array<Future<A, E>>, UnsupportedTaskError | CancelledError | NoClientError | ClientClosedError | SchedulerError, Scope.Scope> =>
  use((client) => {
    // Without options nothing can be invalid.
    return client.submitMany<A>(task, zipArgs(arrays)) as unknown as Effect.Effect<Array<Future<A, E>>, UnsupportedTaskError | CancelledError | ClientClosedError | SchedulerError, Scope.Scope>
  }).pipe(Effect.withSpan("effect-dask.map", { attributes: { task: task.name }, captureStackTrace: false }))

/**
 * {@link map} with Dask's per-call options (see {@link MapOptions}); the
 * scheduling options apply to every task of the call.
 *
 * @since 0.2.0
 * @category submission
 */
export const mapWith = <As extends ReadonlyArray<any>, A, E>(
  task: Task.Task<As, A, E>,
  arrays: { readonly [K in keyof As]: ReadonlyArray<Arg<As[K]>> },
  options: MapOptions
): Effect.Effect<
  Array<Future<A, E>>,
  UnsupportedTaskError | CancelledError | InvalidOptionsError | NoClientError | ClientClosedError | SchedulerError,
  Scope.Scope
> =>
  use((client) =>
    client.submitMany<A>(task, zipArgs(arrays), { key: options.key, pure: options.pure, options: scheduling(options) }) as unknown as Effect.Effect<
      Array<Future<A, E>>,
      UnsupportedTaskError | CancelledError | InvalidOptionsError | ClientClosedError | SchedulerError,
      Scope.Scope
    >
  ).pipe(Effect.withSpan("effect-dask.map", { attributes: { task: task.name }, captureStackTrace: false }))

/**
 * Places values in worker memory. Keys are `type-<token of the value>`
 * (unless `hash: false`), so equal values share a key. `workers` picks the
 * workers (round-robin), `broadcast` puts every value on each of them.
 *
 * @since 0.1.0
 * @category submission
 */
export const scatter = <A>(
  values: ReadonlyArray<A>,
  options?: ScatterOptions
): Effect.Effect<Array<Future<A>>, SchedulerError | InvalidOptionsError | NoClientError | ClientClosedError, Scope.Scope> =>
  use((client) =>
    client.scatter(values, options) as unknown as Effect.Effect<Array<Future<A>>, SchedulerError | InvalidOptionsError | ClientClosedError, Scope.Scope>
  )
    .pipe(Effect.withSpan("effect-dask.scatter", { attributes: { count: values.length }, captureStackTrace: false }))

/**
 * Waits for the futures and fetches their values in order. With
 * `errors: "skip"`, failed and cancelled futures are left out.
 *
 * @since 0.1.0
 * @category results
 */
export const gather = <A, E>(
  futures: ReadonlyArray<Future<A, E>>,
  options?: { readonly errors?: "raise" | "skip" }
): Effect.Effect<Array<A>, E | FutureError> => {
  if (futures.length === 0) return Effect.succeed([])
  return impl(futures[0]!).client.gather(impls(futures), options?.errors ?? "raise").pipe(
    Effect.withSpan("effect-dask.gather", { attributes: { count: futures.length }, captureStackTrace: false })
  )
}

/**
 * Cancels the futures' keys (and their dependents), each for the client it
 * belongs to; with `force`, for every client. Their handles then release
 * nothing.
 *
 * @since 0.1.0
 * @category lifetimes
 */
export const cancel = (
  futures: ReadonlyArray<Future<any, any>>,
  options?: { readonly force?: boolean }
): Effect.Effect<void> => {
  if (futures.length === 0) return Effect.void
  const force = options?.force ?? false
  const first = impl(futures[0]!).client
  let others = false
  for (let i = 1; i < futures.length && !others; i++) others = impl(futures[i]!).client !== first
  if (!others) return first.cancel(impls(futures), force)
  // Futures of several clients: each client cancels its own.
  const byClient = new Map<internal.FutureImpl<any, any>["client"], Array<internal.FutureImpl<any, any>>>()
  for (const f of impls(futures)) {
    const list = byClient.get(f.client)
    if (list === undefined) byClient.set(f.client, [f])
    else list.push(f)
  }
  return Effect.forEach(byClient, ([client, fs]) => client.cancel(fs, force), { discard: true })
}

/**
 * Waits until every future is finished, erred or cancelled.
 *
 * @since 0.1.0
 * @category results
 */
export const wait = (futures: ReadonlyArray<Future<any, any>>): Effect.Effect<void> =>
  internal.waitAll(impls(futures))

/**
 * The futures in completion order. The stream keeps no reference to a
 * future once it has been emitted. Single use, like Dask's `as_completed`:
 * it lets go of the input when it starts.
 *
 * @since 0.1.0
 * @category results
 */
export const asCompleted = <A, E>(futures: ReadonlyArray<Future<A, E>>): Stream.Stream<Future<A, E>> =>
  futures.length === 0
    ? Stream.empty
    : impl(futures[0]!).client.asCompleted(impls(futures)) as unknown as Stream.Stream<Future<A, E>>

/**
 * Which workers hold each key (all keys when none are given).
 *
 * @since 0.1.0
 * @category memory
 */
export const whoHas = (futures?: ReadonlyArray<Future<any, any>>): Effect.Effect<Record<Key, ReadonlyArray<string>>, SchedulerError | NoClientError> =>
  use((client) => client.whoHas(futures?.map((f) => f.key)))

/**
 * Which keys each worker holds.
 *
 * @since 0.1.0
 * @category memory
 */
export const hasWhat: Effect.Effect<Record<string, ReadonlyArray<Key>>, SchedulerError | NoClientError> = use((client) =>
  client.hasWhat()
)

/**
 * Bytes of each key's result (all keys when none are given).
 *
 * @since 0.1.0
 * @category memory
 */
export const nbytes = (futures?: ReadonlyArray<Future<any, any>>): Effect.Effect<Record<Key, number>, SchedulerError | NoClientError> =>
  use((client) => client.nbytes(futures?.map((f) => f.key)))

/**
 * The scheduler's workers with the bytes and keys they hold.
 *
 * @since 0.1.0
 * @category memory
 */
export const workers: Effect.Effect<ReadonlyArray<WorkerInfo>, SchedulerError | NoClientError> = use((client) =>
  client.workers()
)

/**
 * Keeps the futures' keys computed and in memory with no handle left (Dask's
 * `fire_and_forget`): the scheduler's "fire-and-forget" pseudo-client wants them.
 *
 * @since 0.1.0
 * @category lifetimes
 */
export const fireAndForget = (futures: ReadonlyArray<Future<any, any>>): Effect.Effect<void> =>
  futures.length === 0 ? Effect.void : impl(futures[0]!).client.fireAndForget(impls(futures))

/**
 * Publishes the futures' keys under a name; the dataset keeps them alive
 * until unpublished.
 *
 * @since 0.1.0
 * @category datasets
 */
export const publishDataset = (
  name: string,
  futures: ReadonlyArray<Future<any, any>>,
  options?: { readonly override?: boolean }
): Effect.Effect<void, SchedulerError | NoClientError> =>
  use((client) => client.session.publishDataset(name, futures.map((f) => f.key), options?.override ?? false))

/**
 * Handles on a published dataset's keys, in the caller's scope.
 *
 * @since 0.1.0
 * @category datasets
 */
export const getDataset = (
  name: string
): Effect.Effect<Option.Option<Array<Future<unknown>>>, SchedulerError | NoClientError | ClientClosedError, Scope.Scope> =>
  use((client) =>
    Effect.flatMap(client.session.getDataset(name), (keys) =>
      Option.isNone(keys)
        ? Effect.succeedNone
        : Effect.asSome(Effect.forEach(keys.value, (key) => client.acquire<unknown>(key) as unknown as Effect.Effect<Future<unknown>, ClientClosedError, Scope.Scope>)))
  )

/**
 * The value of a published dataset as plain data, for datasets that hold data
 * rather than futures (e.g. `client.publish_dataset(x={"a": 1})` from a
 * Python client on Dask). Decoded like a gathered result; a dataset of
 * futures is read with {@link getDataset}. Backends whose datasets only hold
 * futures fail with a `DecodeError` saying so.
 *
 * @since 0.2.0
 * @category datasets
 */
export const getDatasetValue = (name: string): Effect.Effect<Option.Option<unknown>, SchedulerError | NoClientError> =>
  use((client) =>
    client.session.getDatasetValue?.(name) ??
      Effect.fail(
        new DecodeError({
          serializer: "dataset",
          message: `this backend's datasets hold futures only: read "${name}" with getDataset`
        })
      )
  )

/**
 * Unpublishes a dataset; its keys are released unless wanted elsewhere.
 *
 * @since 0.1.0
 * @category datasets
 */
export const unpublishDataset = (name: string): Effect.Effect<void, SchedulerError | NoClientError> =>
  use((client) => client.session.unpublishDataset(name))

/**
 * Names of the published datasets.
 *
 * @since 0.1.0
 * @category datasets
 */
export const listDatasets: Effect.Effect<ReadonlyArray<string>, SchedulerError | NoClientError> = use((client) =>
  client.session.listDatasets()
)

/**
 * Re-runs the futures' erred keys (and their erred dependencies) on the
 * scheduler (Dask's `Client.retry`). The handles stay: their state goes back
 * to pending, then to the new outcome. Keys that did not err are left alone.
 *
 * @since 0.2.0
 * @category lifetimes
 */
export const retry = (futures: ReadonlyArray<Future<any, any>>): Effect.Effect<void, SchedulerError | ClientClosedError> =>
  futures.length === 0 ? Effect.void : impl(futures[0]!).client.retry(impls(futures))

/**
 * Restarts the cluster (Dask's `Client.restart`): every task is forgotten,
 * workers come back empty. Returns once this client processed the restart:
 * every handle taken before is stale (its release sends nothing) and new
 * submissions run on the fresh workers. Other clients see the restart too.
 *
 * @since 0.2.0
 * @category lifetimes
 */
export const restart = (
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Effect.Effect<void, SchedulerError | ClientClosedError | NoClientError> =>
  use((client) => client.restart(Duration.decode(options?.timeout ?? "120 seconds")))

/**
 * What {@link run} got from one worker: the decoded return value, or the
 * remote failure as a `RemoteError`.
 *
 * @since 0.2.0
 * @category models
 */
export type RunResult = Either.Either<unknown, RemoteError>

const runResult = (o: RunOutcome, where: string): RunResult =>
  o._tag === "Value"
    ? Either.right(o.value)
    : Either.left(RemoteError.fromText(where, o.error.type, o.error.message, o.error.traceback))

/**
 * Runs an importable Python callable, named by its import path
 * (`"os.getpid"`), on every worker or the listed ones (Dask's `Client.run`):
 * one result per worker address, each a decoded value or a `RemoteError`.
 * Arguments are scalars, lists, tuples and plain objects. Only a Dask
 * backend runs Python; the others fail with `UnsupportedTaskError`.
 *
 * @since 0.2.0
 * @category inspection
 */
export const run = (
  callable: string,
  args: ReadonlyArray<unknown> = [],
  options?: { readonly workers?: ReadonlyArray<string> | undefined }
): Effect.Effect<ReadonlyMap<string, RunResult>, SchedulerError | UnsupportedTaskError | NoClientError> =>
  use((client) =>
    Effect.map(client.session.run(callable, args, { _tag: "Workers", workers: options?.workers }), (outcomes) => {
      const out = new Map<string, RunResult>()
      for (const [worker, o] of outcomes) out.set(worker, runResult(o, worker))
      return out
    })
  )

/**
 * Runs an importable Python callable on the scheduler (Dask's
 * `Client.run_on_scheduler`); a failure of the callable is a `RemoteError`.
 *
 * @since 0.2.0
 * @category inspection
 */
export const runOnScheduler = (
  callable: string,
  args: ReadonlyArray<unknown> = []
): Effect.Effect<unknown, RemoteError | SchedulerError | UnsupportedTaskError | NoClientError> =>
  use((client) =>
    Effect.flatMap(client.session.run(callable, args, { _tag: "Scheduler" }), (outcomes) => {
      const [where, o] = outcomes.entries().next().value ?? [client.address, undefined]
      if (o === undefined) return Effect.die(new Error("run_function gave no reply"))
      return Either.match(runResult(o, where), { onLeft: Effect.fail, onRight: Effect.succeed })
    })
  )

/**
 * The futures inside a nested structure (arrays and plain objects), each key
 * once, in first-seen order (Dask's `futures_of`).
 *
 * @since 0.2.0
 * @category results
 */
export const futuresOf = (value: unknown): Array<Future<unknown, unknown>> =>
  internal.futuresOf(value) as unknown as Array<Future<unknown, unknown>>

/**
 * Closes a client now (Dask's `Client.close`), before its scope does: it
 * releases every key it holds in one message, cancels its futures and says
 * goodbye to the scheduler. Idempotent; later operations on it fail with
 * `ClientClosedError`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const close = (client: Client): Effect.Effect<void> => Effect.sync(() => (client as internal.ClientImpl).close())
