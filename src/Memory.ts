/**
 * Who holds what, and where it was acquired: the answer to "memory is not
 * released and I cannot see who still holds the key" (Ray's `ray memory`).
 *
 * {@link snapshot} lists every key a client holds with its reference count,
 * state, size and the workers holding it; with `Client.make({ trackCallSites:
 * true })` also each live handle's acquisition site (the first stack frame in
 * your code) and the Effect span it was acquired under. {@link leakReport}
 * lists the handles that outlive their purpose: detached handles never
 * released, handles the GC backstop had to release, and — at client close —
 * handles whose scope is still open. {@link format} renders either as text.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, Memory } from "effect-dask"
 *
 * const program = Effect.gen(function*() {
 *   yield* Memory.warnOnLeaks() // logs the leak report when the client closes
 *   // ... submit, gather ...
 *   console.log(Memory.format(yield* Memory.snapshot()))
 * }).pipe(Effect.provide(Client.layer({ trackCallSites: true })))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Client } from "./Client.js"
import type { NoClientError, SchedulerError } from "./Errors.js"
import type { Status } from "./Future.js"
import * as client_ from "./internal/client.js"
import * as internal from "./internal/memory.js"
import type { Key } from "./Scheduler.js"

/**
 * A source position.
 *
 * @since 0.1.0
 * @category models
 */
export interface Location {
  /** Absolute path (file URLs are converted). */
  readonly file: string
  readonly line: number
  readonly column: number
  /** The function name V8 reported, if any. */
  readonly function: string | undefined
}

/**
 * Who owns a handle: a `Scope` (released when it closes) or nobody
 * (`Future.detach`: released by `Future.release`, else by the GC backstop).
 *
 * @since 0.1.0
 * @category models
 */
export type Owner = "scope" | "detached"

/**
 * One live handle (one reference) on a key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle {
  readonly key: Key
  readonly owner: Owner
  /** The first frame of your code where the acquiring effect was built; `undefined` when not tracked or not found. */
  readonly location: Location | undefined
  /** The enclosing spans' names, innermost first, joined by `" < "`. */
  readonly span: string | undefined
  /** Where the innermost span not opened by effect-dask was created (e.g. an `Effect.fn`), when known. */
  readonly spanLocation: Location | undefined
  /** Clock time of the acquisition (ms); `undefined` when not tracked. */
  readonly acquiredAt: number | undefined
  /** Milliseconds since the acquisition. */
  readonly age: number | undefined
}

/**
 * One key a client holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyInfo {
  readonly key: Key
  /** The client's handles on the key (Dask's `refcount`). */
  readonly refcount: number
  /** The client's view of the key's state. */
  readonly status: Status
  readonly type: string | undefined
  /** Bytes of the result, as the scheduler accounts them; `undefined` until computed. */
  readonly nbytes: number | undefined
  /** Workers holding the value (from the scheduler's `who_has`). */
  readonly workers: ReadonlyArray<string>
  /** Milliseconds since the client first took the key. */
  readonly age: number
  /** Live handles with call sites (empty when tracking is off). */
  readonly handles: ReadonlyArray<Handle>
}

/**
 * One worker's memory.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerMemory {
  readonly address: string
  readonly nthreads: number
  /** Bytes the worker holds for everyone. */
  readonly bytes: number
  /** Keys the worker holds for everyone. */
  readonly keys: number
  readonly memoryLimit: number | undefined
  /** Bytes of this client's keys on the worker. */
  readonly clientBytes: number
  /** This client's keys on the worker. */
  readonly clientKeys: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly _tag: "Snapshot"
  readonly clientId: string
  readonly address: string
  /** Clock time (ms). */
  readonly takenAt: number
  /** Whether the client tracks call sites. */
  readonly tracking: boolean
  readonly keys: ReadonlyArray<KeyInfo>
  readonly workers: ReadonlyArray<WorkerMemory>
  /** Keys and bytes per client-side state. */
  readonly states: Readonly<Record<Status, { readonly keys: number; readonly bytes: number }>>
  readonly totals: {
    readonly keys: number
    /** Live handles; `undefined` when tracking is off. */
    readonly handles: number | undefined
    /** Bytes of the client's keys that some worker holds. */
    readonly bytes: number
  }
}

/**
 * A handle in a leak report, with its key's state.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeakedHandle extends Handle {
  readonly status: Status | undefined
  readonly nbytes: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LeakReport {
  readonly _tag: "LeakReport"
  readonly clientId: string
  readonly address: string
  readonly takenAt: number
  /** Made as the client closed: every live handle is listed, scoped ones included. */
  readonly atClose: boolean
  /** Lists handles in open scopes too (always at close; on demand with `includeScoped`). */
  readonly includesScoped: boolean
  readonly tracking: boolean
  /** Handles still alive: detached ones never released (and at close, those in scopes still open). */
  readonly handles: ReadonlyArray<LeakedHandle>
  /** Handles nobody released: the GC backstop did (tracked clients keep the last 10 000). */
  readonly gcReleased: ReadonlyArray<Handle>
  /** Without tracking (at close, or on demand with `includeScoped`): keys still referenced, with their counts. */
  readonly untracked: ReadonlyArray<{ readonly key: Key; readonly refcount: number }>
}

/**
 * What the client (the current one, or the given one) holds: keys with
 * refcount, state, size, workers and age; live handles with call sites when
 * tracking is on; totals per worker and per state. Asks the scheduler
 * (`who_has`, `nbytes`, workers), so it works on every backend. Also sets the
 * `effect_dask_keys_held` / `effect_dask_bytes_held` gauges.
 *
 * @since 0.1.0
 * @category memory
 */
export const snapshot = (client?: Client): Effect.Effect<Snapshot, SchedulerError | NoClientError> =>
  Effect.flatMap(internal.resolve(client), internal.snapshotOf)

/**
 * Handles that outlive their purpose, with call sites: detached handles never
 * released and handles the GC backstop released; with `includeScoped`, also
 * handles in scopes still open (what the report at close lists). Local only:
 * no scheduler round trip.
 *
 * @since 0.1.0
 * @category leaks
 */
export const leakReport = (
  options?: { readonly client?: Client | undefined; readonly includeScoped?: boolean | undefined }
): Effect.Effect<LeakReport, NoClientError> =>
  Effect.flatMap(internal.resolve(options?.client), (c) => internal.leakReport(c, { includeScoped: options?.includeScoped ?? false }))

/**
 * Whether a report lists anything.
 *
 * @since 0.1.0
 * @category leaks
 */
export const hasLeaks = (report: LeakReport): boolean => internal.hasLeaks(report)

/**
 * Runs `f` with the leak report when the client closes, if it lists anything
 * (every handle still alive then, scoped or detached; handles the GC
 * released). Runs just before the client releases its keys.
 *
 * @since 0.1.0
 * @category leaks
 */
export const onLeaks = (
  f: (report: LeakReport) => Effect.Effect<void>,
  options?: { readonly client?: Client | undefined }
): Effect.Effect<void, NoClientError> => Effect.flatMap(internal.resolve(options?.client), (c) => internal.onLeaks(c, f))

/**
 * Logs the leak report (`Effect.logWarning`, rendered by {@link format}) when
 * the client closes, if it lists anything.
 *
 * @since 0.1.0
 * @category leaks
 */
export const warnOnLeaks = (client?: Client): Effect.Effect<void, NoClientError> =>
  onLeaks((report) => Effect.logWarning(internal.formatLeaks(report)), { client })

/**
 * {@link warnOnLeaks} for the provided `Client` service.
 *
 * @since 0.1.0
 * @category leaks
 */
export const layerLeakWarnings: Layer.Layer<never, never, Client> = Layer.effectDiscard(
  Effect.flatMap(client_.ClientTag, (c) => internal.onLeaks(c, (report) => Effect.logWarning(internal.formatLeaks(report))))
)

/**
 * A snapshot or a leak report as a text table, like `ray memory`; call sites
 * print as `file:line:column`, relative to the working directory.
 *
 * @since 0.1.0
 * @category rendering
 */
export const format = (self: Snapshot | LeakReport): string =>
  self._tag === "Snapshot" ? internal.formatSnapshot(self) : internal.formatLeaks(self)

/**
 * `1.5 KiB`-style byte counts.
 *
 * @since 0.1.0
 * @category rendering
 */
export const formatBytes = (bytes: number | undefined): string => internal.formatBytes(bytes)

/**
 * A location as `file:line:column`, relative to the working directory.
 *
 * @since 0.1.0
 * @category rendering
 */
export const formatLocation = (location: Location | undefined): string => internal.formatLocation(location)
