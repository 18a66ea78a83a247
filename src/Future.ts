/**
 * A `Future` is a local handle on a result that lives in a scheduler's
 * workers. Each Future object is one reference on its key: it is acquired into
 * the caller's `Scope` and released when that scope closes (or earlier, by
 * {@link release}). Futures on the same key share one state.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type { ClientClosedError, FutureError, SchedulerError } from "./Errors.js"
import { NoClientError } from "./Errors.js"
import * as internal from "./internal/client.js"
import type { Key } from "./Scheduler.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.FutureTypeId = internal.FutureTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Dask's future states. `lost` can go back to `pending` (the scheduler
 * recomputes) and on to `finished`.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "pending" | "finished" | "error" | "cancelled" | "lost"

/**
 * @since 0.1.0
 * @category models
 */
export interface Future<out A, out E = never> extends Pipeable {
  readonly [TypeId]: TypeId
  /** The scheduler key. */
  readonly key: Key
  /** The shared state's status right now. */
  readonly status: Status
  /** @internal */
  readonly _A: A
  /** @internal */
  readonly _E: E
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isFuture = (u: unknown): u is Future<unknown, unknown> => internal.isFuture(u)

const impl = <A, E>(self: Future<A, E>) => self as unknown as internal.FutureImpl<A, E>

/**
 * Waits for the future and fetches its value. A remote failure is a
 * `RemoteError` carrying text; a cancelled key a `CancelledError`.
 *
 * @since 0.1.0
 * @category getters
 */
export const result = <A, E>(self: Future<A, E>): Effect.Effect<A, E | FutureError> => {
  const f = impl(self)
  return Effect.map(f.client.gather([f], "raise"), (values) => values[0] as A)
}

/**
 * Waits until the future is finished, erred or cancelled (a lost key is
 * waited for, as in Dask).
 *
 * @since 0.1.0
 * @category getters
 */
export const wait = <A, E>(self: Future<A, E>): Effect.Effect<void> => impl(self).client.wait(impl(self))

/**
 * The status now, without waiting.
 *
 * @since 0.1.0
 * @category getters
 */
export const status = <A, E>(self: Future<A, E>): Effect.Effect<Status> => Effect.sync(() => self.status)

/**
 * Waits, then gives the failure (if any) without fetching the value.
 *
 * @since 0.1.0
 * @category getters
 */
export const exception = <A, E>(self: Future<A, E>): Effect.Effect<Option.Option<FutureError>> =>
  Effect.map(wait(self), () => {
    const st = impl(self).state
    return st.status === "finished" ? Option.none() : Option.fromNullable(st.failure())
  })

/**
 * Releases this handle now; the scope's finalizer then does nothing for it.
 * Idempotent. When it was the client's last handle on the key, the scheduler
 * is told (`client-releases-keys`).
 *
 * @since 0.1.0
 * @category lifetimes
 */
export const release = <A, E>(self: Future<A, E>): Effect.Effect<void> =>
  Effect.sync(() => impl(self).client.release(impl(self)))

/**
 * Takes another handle on the same key into the caller's scope.
 *
 * @since 0.1.0
 * @category lifetimes
 */
export const retain = <A, E>(self: Future<A, E>): Effect.Effect<Future<A, E>, ClientClosedError, Scope.Scope> => {
  const f = impl(self)
  return f.client.acquire(f.key, f.schema) as any
}

/**
 * Takes another handle on the same key that belongs to no scope: it lives
 * until {@link release}d, or until it is garbage-collected (a backstop, not a
 * lifetime to rely on).
 *
 * @since 0.1.0
 * @category lifetimes
 */
export const detach = <A, E>(self: Future<A, E>): Effect.Effect<Future<A, E>, ClientClosedError> => {
  const f = impl(self)
  return f.client.acquireDetached(f.key, f.schema) as any
}

/**
 * A handle on an existing key (computed by someone else, published, ...),
 * bound to the given client or to the current one. The scheduler is told this
 * client wants the key (`client-desires-keys`) if it did not already. Any
 * name is accepted, as Dask's `Future(key)`; until the scheduler reports on
 * the key, a graph depending on it first checks that the scheduler has it
 * (else the submit fails with `LostDataError`, reason "unknown to the
 * scheduler"). Taken again right after the last handle's release, the key
 * keeps its value if that release was still queued (it is withdrawn).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKey = <A = unknown>(
  key: Key,
  options?: { readonly client?: { readonly id: string } | undefined }
): Effect.Effect<Future<A>, NoClientError | ClientClosedError, Scope.Scope> =>
  internal.withCallerStack(Effect.withFiberRuntime((fiber) => {
    const client = (options?.client as internal.ClientImpl | undefined) ?? internal.currentOf(fiber)
    return client === undefined ? Effect.fail(new NoClientError()) : client.acquireFor<A>(fiber, key, undefined) as any
  }))

/**
 * Cancels the future's key (and its dependents) for this client. With
 * `force`, for every client.
 *
 * @since 0.1.0
 * @category lifetimes
 */
export const cancel = <A, E>(self: Future<A, E>, options?: { readonly force?: boolean }): Effect.Effect<void> =>
  impl(self).client.cancel([impl(self)], options?.force ?? false)

/**
 * Re-runs the future's key if it erred (Dask's `Future.retry`), along with
 * erred keys it depends on. This handle (and every other on the key) stays
 * and sees the new outcome.
 *
 * @since 0.2.0
 * @category lifetimes
 */
export const retry = <A, E>(self: Future<A, E>): Effect.Effect<void, SchedulerError | ClientClosedError> =>
  impl(self).client.retry([impl(self)])

/**
 * Runs `f` once the future is done (finished, erred or cancelled), in a
 * fiber of its own: Dask's `Future.add_done_callback`, as an Effect fork.
 * The fiber belongs to the caller's scope, so closing it stops waiting;
 * `f` sees the future's final status. Equivalent to
 * `Effect.forkScoped(Effect.zipRight(Future.wait(future), f(future)))`.
 *
 * @since 0.2.0
 * @category lifetimes
 */
export const onDone = <A, E, X, E2, R>(
  self: Future<A, E>,
  f: (future: Future<A, E>) => Effect.Effect<X, E2, R>
): Effect.Effect<Fiber.RuntimeFiber<X, E2>, never, R | Scope.Scope> => Effect.forkScoped(Effect.zipRight(wait(self), f(self)))
