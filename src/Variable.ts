/**
 * Dask's `Variable`: a named, mutable slot on the scheduler that holds a
 * future or small plain data, shared by every client of the cluster (a TS
 * client and a Python client see the same Variable). A future set in a
 * Variable keeps its key alive — the scheduler's `variable-<name>`
 * pseudo-client wants it — until the Variable is overwritten or deleted, even
 * after the scope that created the future closed. A future got from a
 * Variable is a handle in the caller's scope, like any other.
 *
 * @example
 * ```ts
 * const v = yield* Variable.make("x")
 * yield* Variable.set(v, yield* Client.submit(inc, 1))   // the key outlives this scope
 * const f = yield* Variable.get(v)                        // a Future in the caller's scope
 * yield* Variable.delete(v)                               // the Variable lets go
 * ```
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ClientClosedError, NoClientError, SchedulerError } from "./Errors.js"
import type { Future } from "./Future.js"
import * as internal from "./internal/client.js"
import { shared } from "./internal/shared.js"
import { randomToken } from "./internal/tokenize.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Variable<in out A = unknown> {
  /** The name all clients share. */
  readonly name: string
  /** The client it talks through. */
  readonly clientId: string
  /** @internal */
  readonly _A: A
}

interface VariableImpl<A> extends Variable<A> {
  readonly client: internal.ClientImpl
}

const impl = <A>(self: Variable<A>) => self as VariableImpl<A>

/**
 * A Variable bound to the current client. Without a name, a fresh one
 * (`variable-<token>`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <A = unknown>(name?: string): Effect.Effect<Variable<A>, NoClientError> =>
  Effect.map(internal.current, (client) => ({
    name: name ?? `variable-${randomToken()}`,
    clientId: client.id,
    client,
    _A: undefined as A
  }) as VariableImpl<A>)

/**
 * Sets the Variable to a future (the Variable then keeps its key alive) or to
 * small msgpack-able data, replacing what it held (an earlier key is
 * released once every getter confirmed it).
 *
 * @since 0.2.0
 * @category operations
 */
export const set = <A>(self: Variable<A>, value: A | Future<A, any>): Effect.Effect<void, SchedulerError> =>
  impl(self).client.session.coordination.variableSet(self.name, shared(value))

/**
 * The Variable's value, waiting until it is set: a future (a handle in the
 * caller's scope) or the data. With `timeout`, fails with
 * `TimeoutException` when it passes first.
 *
 * @since 0.2.0
 * @category operations
 */
export const get = <A>(
  self: Variable<A>,
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Effect.Effect<A | Future<A>, SchedulerError | ClientClosedError | Cause.TimeoutException, Scope.Scope> => {
  const client = impl(self).client
  const timeout = options?.timeout === undefined ? undefined : Duration.decode(options.timeout)
  return Effect.flatMap(client.session.coordination.variableGet(self.name, timeout), (received): Effect.Effect<
    A | Future<A>,
    ClientClosedError | Cause.TimeoutException,
    Scope.Scope
  > =>
    Option.isNone(received)
      ? Effect.fail(new Cause.TimeoutException(`Variable ${self.name} was not set within ${Duration.format(timeout!)}`))
      : client.receive<A>(received.value, "variable", self.name) as Effect.Effect<A | Future<A>, ClientClosedError, Scope.Scope>)
}

/**
 * Deletes the Variable for every client (Dask's `Variable.delete`): a key it
 * held is released once every getter confirmed it.
 *
 * @since 0.2.0
 * @category operations
 */
const delete_ = <A>(self: Variable<A>): Effect.Effect<void> =>
  Effect.sync(() => void impl(self).client.session.send({ _tag: "VariableDelete", name: self.name }))

export {
  /**
   * @since 0.2.0
   * @category operations
   */
  delete_ as delete
}
