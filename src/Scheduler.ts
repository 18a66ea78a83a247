/**
 * The scheduler protocol: the only way a client talks to any scheduler.
 *
 * Modelled on Dask's client↔scheduler conversation: an ordered, batched
 * stream of client messages (update-graph, client-desires-keys,
 * client-releases-keys, cancel, heartbeat, close), an ordered stream of
 * scheduler reports (key-in-memory, task-erred, cancelled-keys, lost-data,
 * task-retried, restart), and request/reply calls (gather, scatter, who_has,
 * has_what, nbytes). The embedded, Dask-TCP and test backends are each a
 * Layer for the {@link Scheduler} tag.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ConnectionLostError, SchedulerError, UnsupportedTaskError } from "./Errors.js"
import type * as Task from "./Task.js"

/**
 * A Dask key. Dask 2022.12 keys are strings; later versions also allow
 * tuples, which backends render as strings (`"('x', 0)"`).
 *
 * @since 0.1.0
 * @category models
 */
export type Key = string

/**
 * Stands in a task's arguments where a future was passed: the backend
 * substitutes the dependency's value (embedded), its key (Dask 2022.12) or a
 * `TaskRef` (Dask 2024.12).
 *
 * @since 0.1.0
 * @category models
 */
export class KeyRef {
  readonly _tag = "KeyRef"
  constructor(readonly key: Key) {}
}

/**
 * Per-call scheduling options, as Dask's `submit` / `map` take them. One
 * type for every backend and every kind of task: a Python callable on Dask,
 * a JS task on the embedded scheduler, a JS task routed to Node workers on
 * Dask by a `resources` restriction.
 *
 * @since 0.2.0
 * @category models
 */
export interface TaskOptions {
  /** Times a failed task is retried before it errs; overrides the task definition's `retries`. */
  readonly retries?: number | undefined
  /** Higher runs earlier (Dask's user priority); default 0. */
  readonly priority?: number | undefined
  /** Worker addresses (or host names) the task may run on. */
  readonly workers?: ReadonlyArray<string> | undefined
  /** Abstract resources the task holds on its worker while it runs, e.g. `{ GPU: 1 }`. */
  readonly resources?: Readonly<Record<string, number>> | undefined
  /** With `workers`: other workers may run the task when the listed ones cannot. */
  readonly allowOtherWorkers?: boolean | undefined
  /**
   * Submissions closer together than this share one priority generation
   * (Dask's `fifo_timeout`): later generations run after earlier ones of the
   * same priority. Applies to the whole update. Default 0.
   */
  readonly fifoTimeout?: Duration.DurationInput | undefined
}

/**
 * One node of a submitted graph.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskSpec {
  readonly key: Key
  readonly task: Task.Any
  /** Positional arguments; futures replaced by {@link KeyRef}s, at any depth of arrays and plain objects. */
  readonly args: ReadonlyArray<unknown>
  /** Keys this task depends on (every KeyRef in `args`, deduplicated). */
  readonly dependencies: ReadonlyArray<Key>
  /**
   * What {@link Session.prepare} returned for this call: the backend's
   * validated (and, for Dask, encoded) form, so that `send` neither checks
   * nor encodes it again. Opaque to the client.
   */
  readonly prepared?: unknown
  /** Per-call options (validated by the client; every task of one call shares one object). */
  readonly options?: TaskOptions | undefined
}

/**
 * The retries a task gets: the call's, else its definition's.
 *
 * @since 0.2.0
 * @category models
 */
export const retriesOf = (spec: TaskSpec): number => spec.options?.retries ?? spec.task.retries

/**
 * A message on the client→scheduler stream.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientMessage =
  /** Submits tasks; `keys` are the ones this client wants (implies desire). */
  | { readonly _tag: "UpdateGraph"; readonly tasks: ReadonlyArray<TaskSpec>; readonly keys: ReadonlyArray<Key> }
  /** `client-desires-keys`; `client` overrides the wanting client (e.g. `"fire-and-forget"`). */
  | { readonly _tag: "DesireKeys"; readonly keys: ReadonlyArray<Key>; readonly client?: string }
  /** `client-releases-keys`. */
  | { readonly _tag: "ReleaseKeys"; readonly keys: ReadonlyArray<Key> }
  /** Cancels keys (and their dependents) for this client; `force` cancels for every client. */
  | { readonly _tag: "Cancel"; readonly keys: ReadonlyArray<Key>; readonly force: boolean }
  | { readonly _tag: "Heartbeat" }
  /** `close-client` + `close-stream`: the scheduler releases whatever this client still wants. */
  | { readonly _tag: "Close" }
  /**
   * This client now holds (desires) a key it took from a Variable or Queue:
   * the slot may let go of it (Dask's `variable-future-release` /
   * `variable-future-received-confirm`, `queue-future-release`). Sent after
   * the desire, never after a release of the same key.
   */
  | {
    readonly _tag: "Received"
    readonly kind: "variable" | "queue"
    readonly name: string
    readonly key: Key
    readonly token: string | undefined
  }
  /** Deletes a Variable (`variable_delete`); its key is released once every getter confirmed. */
  | { readonly _tag: "VariableDelete"; readonly name: string }
  /** Drops this client's reference to a Queue (`queue_release`); the last one releases its keys. */
  | { readonly _tag: "QueueRelease"; readonly name: string }

/**
 * A remote failure as text.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorInfo {
  readonly type: string
  readonly message: string
  readonly traceback: string
}

/**
 * A message on the scheduler→client stream.
 *
 * @since 0.1.0
 * @category models
 */
export type SchedulerReport =
  | { readonly _tag: "KeyInMemory"; readonly key: Key; readonly type?: string | undefined; readonly nbytes?: number | undefined }
  | { readonly _tag: "TaskErred"; readonly key: Key; readonly error: ErrorInfo }
  | { readonly _tag: "CancelledKeys"; readonly keys: ReadonlyArray<Key>; readonly reason: string }
  | { readonly _tag: "LostData"; readonly key: Key }
  | { readonly _tag: "TaskRetried"; readonly key: Key }
  | { readonly _tag: "Restart" }
  /** The stream broke: pending futures fail; the backend may reconnect. */
  | {
    readonly _tag: "ConnectionLost"
    readonly error: ConnectionLostError
    /** The backend stopped trying to reconnect (since 0.2.0): nothing will be sent any more. */
    readonly final?: boolean | undefined
  }
  /**
   * A new stream is registered after a loss. The scheduler released this
   * client's keys when the old stream broke (Dask's `remove_client`); the
   * client asks {@link Session.keyStatus} what still exists and re-desires
   * only that. `restarted`: the scheduler is not the one the stream was lost
   * from (a new process at the same address), so it holds nothing of before.
   */
  | { readonly _tag: "Reconnected"; readonly restarted: boolean }

/**
 * A worker as the scheduler sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerInfo {
  readonly address: string
  readonly nthreads: number
  /** Bytes of task results held, as the scheduler accounts them. */
  readonly bytes: number
  readonly keys: number
  readonly memoryLimit: number | undefined
}

/**
 * What the scheduler has of a key, as {@link Session.keyStatus} reports it:
 * `pending` (waiting, queued, processing, no-worker), `memory`, `erred`, or
 * `missing` (unknown, forgotten, or a released placeholder that nothing can
 * compute: Dask 2022.12 makes one when a client desires an unknown key).
 *
 * @since 0.2.0
 * @category models
 */
export type KeyStatus = "pending" | "memory" | "erred" | "missing"

/**
 * Options for scatter.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScatterOptions {
  /** Worker addresses to place the values on (round-robin among them). */
  readonly workers?: ReadonlyArray<string> | undefined
  /** Place every value on every (listed) worker. */
  readonly broadcast?: boolean | undefined
}

/**
 * Where a backend delivers its reports, in order: a plain synchronous
 * callback given to {@link Scheduler} `connect`. The client only appends to a
 * buffer here and processes the buffer once per microtask (never re-entrantly),
 * so a backend may call it from anywhere, even inside `send`; no fiber wakes
 * per report.
 *
 * @since 0.2.0
 * @category models
 */
export type ReportSink = (report: SchedulerReport) => void

/**
 * One client's connection to a scheduler.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly clientId: string
  /**
   * Withdraws `key` from a `ReleaseKeys` that is still queued (not yet handed
   * to the wire). `true` when it was withdrawn: the scheduler never sees that
   * release. The client calls it when a key it just released is acquired
   * again, so a re-acquire never races its own release.
   */
  readonly retract: (key: Key) => boolean
  /**
   * Calls `done` once the scheduler has processed every stream message sent
   * before this call (or once the registration that carried them is gone:
   * then the scheduler dropped them all). Request/reply calls are not ordered
   * with the stream; this is what orders an RPC after a stream message. Runs
   * `done` at most once, possibly synchronously.
   */
  readonly barrier: (done: () => void) => void
  /**
   * Enqueues a message on the ordered, batched stream. Never blocks; the
   * backend flushes in order. Returns an error, and sends nothing, when the
   * message cannot go out (e.g. the connection is lost for good): the client
   * then fails the submission with it.
   */
  readonly send: (message: ClientMessage) => ConnectionLostError | UnsupportedTaskError | undefined
  /** Refuses, before anything is sent, a task this backend cannot run (checked once per call of `submit`/`map`). */
  readonly check: (task: Task.Any) => UnsupportedTaskError | undefined
  /**
   * Validates one call of `task` (its arguments with KeyRefs) once, before
   * anything is sent: an `UnsupportedTaskError` refuses it; anything else is
   * the backend's prepared form of the call, which the client hands back in
   * {@link TaskSpec} `prepared` so that `send` does not check or encode it
   * again.
   */
  readonly prepare: (task: Task.Any, args: ReadonlyArray<unknown>) => unknown
  /** Fetches values of keys in memory; a key the scheduler cannot deliver fails with `LostDataError`. */
  readonly gather: (keys: ReadonlyArray<Key>) => Effect.Effect<ReadonlyMap<Key, unknown>, SchedulerError>
  /** Places values in worker memory under the given keys, wanted by this client. */
  readonly scatter: (
    entries: ReadonlyArray<readonly [Key, unknown]>,
    options?: ScatterOptions
  ) => Effect.Effect<void, SchedulerError>
  /** What the scheduler has of each key (one entry per requested key). */
  readonly keyStatus: (keys: ReadonlyArray<Key>) => Effect.Effect<ReadonlyMap<Key, KeyStatus>, SchedulerError>
  /** Which workers hold each key (all keys when none are given). */
  readonly whoHas: (keys?: ReadonlyArray<Key>) => Effect.Effect<Record<Key, ReadonlyArray<string>>, SchedulerError>
  /** Which keys each worker holds. */
  readonly hasWhat: () => Effect.Effect<Record<string, ReadonlyArray<Key>>, SchedulerError>
  /** Bytes of each key's result (all keys when none are given). */
  readonly nbytes: (keys?: ReadonlyArray<Key>) => Effect.Effect<Record<Key, number>, SchedulerError>
  /** The workers, with what they hold. */
  readonly workers: () => Effect.Effect<ReadonlyArray<WorkerInfo>, SchedulerError>
  /** Publishes keys under a name (the dataset then wants them). */
  readonly publishDataset: (name: string, keys: ReadonlyArray<Key>, override: boolean) => Effect.Effect<void, SchedulerError>
  /** The keys of a published dataset. */
  readonly getDataset: (name: string) => Effect.Effect<Option.Option<ReadonlyArray<Key>>, SchedulerError>
  /**
   * The value of a published dataset as data (a Dask dataset published by a
   * Python client may hold plain data, not futures). Backends whose datasets
   * only hold keys leave it out.
   *
   * @since 0.2.0
   */
  readonly getDatasetValue?: ((name: string) => Effect.Effect<Option.Option<unknown>, SchedulerError>) | undefined
  /** Unpublishes a dataset (its keys are released unless wanted elsewhere). */
  readonly unpublishDataset: (name: string) => Effect.Effect<void, SchedulerError>
  /** Names of published datasets. */
  readonly listDatasets: () => Effect.Effect<ReadonlyArray<string>, SchedulerError>
  /**
   * Re-runs erred keys and what they depend on that erred (Dask's `retry`);
   * returns the keys it looked at. `TaskRetried` reports follow.
   */
  readonly retry: (keys: ReadonlyArray<Key>) => Effect.Effect<ReadonlyArray<Key>, SchedulerError>
  /**
   * Restarts the cluster (Dask's `restart`): every task is forgotten, every
   * client gets a `Restart` report, workers come back empty.
   */
  readonly restart: (timeout: Duration.Duration) => Effect.Effect<void, SchedulerError>
  /**
   * Runs an importable callable by name on each worker (Dask's `run`) or on
   * the scheduler (`run_function`); one outcome per worker (or one, keyed by
   * the scheduler's address).
   */
  readonly run: (
    callable: string,
    args: ReadonlyArray<unknown>,
    on: { readonly _tag: "Workers"; readonly workers?: ReadonlyArray<string> | undefined } | { readonly _tag: "Scheduler" }
  ) => Effect.Effect<ReadonlyMap<string, RunOutcome>, SchedulerError | UnsupportedTaskError>
  /** Variables, queues, events and locks held by the scheduler. */
  readonly coordination: Coordination
}

/**
 * What one worker (or the scheduler) answered to a `run`.
 *
 * @since 0.2.0
 * @category models
 */
export type RunOutcome =
  | { readonly _tag: "Value"; readonly value: unknown }
  | { readonly _tag: "Error"; readonly error: ErrorInfo }

/**
 * What a Variable or Queue slot is given: a key (the slot then keeps it
 * alive, through its pseudo-client `variable-<name>` / `queue-<name>`) or
 * small plain data.
 *
 * @since 0.2.0
 * @category models
 */
export type Shared =
  | { readonly _tag: "Key"; readonly key: Key }
  | { readonly _tag: "Data"; readonly value: unknown }

/**
 * What a getter takes from a Variable or Queue. A key must be acquired by the
 * client (desired) and then confirmed with a `Received` message.
 *
 * @since 0.2.0
 * @category models
 */
export type Received =
  | { readonly _tag: "Data"; readonly value: unknown }
  | { readonly _tag: "Key"; readonly key: Key; readonly token: string | undefined }

/**
 * Dask's scheduler extensions for coordination, as request/reply calls.
 * Timeouts are the scheduler's: `undefined` waits for ever; a timeout that
 * passes gives `Option.none()` / `false`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Coordination {
  /** `variable_set`: the Variable holds `value` (replacing, and later releasing, an earlier key). */
  readonly variableSet: (name: string, value: Shared) => Effect.Effect<void, SchedulerError>
  /** `variable_get`: waits until the Variable is set. */
  readonly variableGet: (name: string, timeout: Duration.Duration | undefined) => Effect.Effect<Option.Option<Received>, SchedulerError>
  /** `queue_create`: creates the Queue or takes one more client reference on it. */
  readonly queueCreate: (name: string, maxsize: number) => Effect.Effect<void, SchedulerError>
  /** `queue_put`: `false` when the Queue stayed full past the timeout. */
  readonly queuePut: (name: string, value: Shared, timeout: Duration.Duration | undefined) => Effect.Effect<boolean, SchedulerError>
  /** `queue_get` of one item: waits until there is one. */
  readonly queueGet: (name: string, timeout: Duration.Duration | undefined) => Effect.Effect<Option.Option<Received>, SchedulerError>
  /** `queue_get` with `batch`: `n` items (waiting for them), or every item there now. */
  readonly queueGetBatch: (name: string, n: number | "available") => Effect.Effect<ReadonlyArray<Received>, SchedulerError>
  /** `queue_qsize`. */
  readonly queueSize: (name: string) => Effect.Effect<number, SchedulerError>
  /** `event_wait`: `false` when the timeout passed first. */
  readonly eventWait: (name: string, timeout: Duration.Duration | undefined) => Effect.Effect<boolean, SchedulerError>
  readonly eventSet: (name: string) => Effect.Effect<void, SchedulerError>
  readonly eventClear: (name: string) => Effect.Effect<void, SchedulerError>
  readonly eventIsSet: (name: string) => Effect.Effect<boolean, SchedulerError>
  /** Acquires lock `name` for holder `id`: `false` when the timeout passed first (a zero timeout does not wait). */
  readonly lockAcquire: (name: string, id: string, timeout: Duration.Duration | undefined) => Effect.Effect<boolean, SchedulerError>
  /** Releases lock `name` held by `id`. */
  readonly lockRelease: (name: string, id: string) => Effect.Effect<void, SchedulerError>
}

/**
 * The scheduler protocol service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Scheduler extends Context.Tag("effect-dask/Scheduler")<Scheduler, {
  /** Where the scheduler is (`inproc://…`, `tcp://host:port`, `test://…`). */
  readonly address: string
  /**
   * Registers a client whose reports go to `reports` (see {@link ReportSink});
   * closing the scope closes its stream, after which no report is delivered.
   */
  readonly connect: (clientId: string, reports: ReportSink) => Effect.Effect<Session, SchedulerError, Scope.Scope>
}>() {}
