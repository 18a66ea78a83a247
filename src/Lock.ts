/**
 * Dask's `Lock`: a named lock on the scheduler shared by every client. Each
 * {@link Lock} value is one holder. {@link withLock} holds it for the
 * duration of an effect, released on any exit.
 *
 * On Dask 2024.12 the lock is the scheduler's one-lease semaphore, as in
 * Dask; this client registers it without a lease timeout and does not
 * refresh leases, so a lock also taken by Python clients should be
 * registered by this client first (or with `lease-timeout: inf`).
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type { NoClientError, SchedulerError } from "./Errors.js"
import * as internal from "./internal/client.js"
import { randomToken } from "./internal/tokenize.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Lock {
  readonly name: string
  /** This holder's id. */
  readonly id: string
}

interface LockImpl extends Lock {
  readonly client: internal.ClientImpl
}

const coordination = (self: Lock) => (self as LockImpl).client.session.coordination

/**
 * A holder of lock `name` (a fresh name without one), bound to the current client.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (name?: string): Effect.Effect<Lock, NoClientError> =>
  Effect.map(internal.current, (client): Lock => ({ name: name ?? `lock-${randomToken()}`, id: randomToken(), client } as LockImpl))

/**
 * Acquires the lock: `true`, or `false` when `timeout` passed first (a zero
 * timeout does not wait, as Dask's `blocking=False`).
 *
 * @since 0.2.0
 * @category operations
 */
export const acquire = (self: Lock, options?: { readonly timeout?: Duration.DurationInput | undefined }): Effect.Effect<boolean, SchedulerError> =>
  coordination(self).lockAcquire(self.name, self.id, options?.timeout === undefined ? undefined : Duration.decode(options.timeout))

/**
 * Releases the lock held by this holder.
 *
 * @since 0.2.0
 * @category operations
 */
export const release = (self: Lock): Effect.Effect<void, SchedulerError> => coordination(self).lockRelease(self.name, self.id)

/**
 * Runs `effect` holding the lock (waiting for it), and releases it on any exit.
 *
 * @since 0.2.0
 * @category operations
 */
export const withLock: {
  (self: Lock): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SchedulerError, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, self: Lock): Effect.Effect<A, E | SchedulerError, R>
} = dual(
  2,
  <A, E, R>(effect: Effect.Effect<A, E, R>, self: Lock): Effect.Effect<A, E | SchedulerError, R> =>
    // Acquired (or not) is decided by the scheduler; a lock not acquired because the wait was interrupted holds nothing.
    Effect.acquireUseRelease(acquire(self), () => effect, () => Effect.orDie(release(self)))
)
