/**
 * Dask's `Event`: a named flag on the scheduler that clients (TS or Python)
 * set, clear and wait for.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { NoClientError, SchedulerError } from "./Errors.js"
import * as internal from "./internal/client.js"
import { randomToken } from "./internal/tokenize.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Event {
  readonly name: string
  readonly clientId: string
}

interface EventImpl extends Event {
  readonly client: internal.ClientImpl
}

const coordination = (self: Event) => (self as EventImpl).client.session.coordination

/**
 * An Event bound to the current client; without a name, a fresh one.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (name?: string): Effect.Effect<Event, NoClientError> =>
  Effect.map(internal.current, (client): Event => ({ name: name ?? `event-${randomToken()}`, clientId: client.id, client } as EventImpl))

/**
 * Waits until the event is set: `true`, or `false` when `timeout` passed first.
 *
 * @since 0.2.0
 * @category operations
 */
export const wait = (self: Event, options?: { readonly timeout?: Duration.DurationInput | undefined }): Effect.Effect<boolean, SchedulerError> =>
  coordination(self).eventWait(self.name, options?.timeout === undefined ? undefined : Duration.decode(options.timeout))

/**
 * Sets the event; every waiter wakes.
 *
 * @since 0.2.0
 * @category operations
 */
export const set = (self: Event): Effect.Effect<void, SchedulerError> => coordination(self).eventSet(self.name)

/**
 * Clears the event.
 *
 * @since 0.2.0
 * @category operations
 */
export const clear = (self: Event): Effect.Effect<void, SchedulerError> => coordination(self).eventClear(self.name)

/**
 * Whether the event is set now.
 *
 * @since 0.2.0
 * @category operations
 */
export const isSet = (self: Event): Effect.Effect<boolean, SchedulerError> => coordination(self).eventIsSet(self.name)
