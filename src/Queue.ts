/**
 * Dask's `Queue`: a named multi-producer, multi-consumer queue on the
 * scheduler holding futures or small plain data, shared by every client of
 * the cluster. A future put in a queue is held by the scheduler (its
 * `queue-<name>` pseudo-client wants the key) until a getter takes it; the
 * getter's future is a handle in its own scope. A Queue lives while some
 * client holds it: {@link make} takes a reference in the caller's scope, and
 * the last reference to go releases the keys still queued.
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
export interface Queue<in out A = unknown> {
  readonly name: string
  readonly clientId: string
  /** Most items it holds (0: unbounded). */
  readonly maxsize: number
  /** @internal */
  readonly _A: A
}

interface QueueImpl<A> extends Queue<A> {
  readonly client: internal.ClientImpl
}

const impl = <A>(self: Queue<A>) => self as QueueImpl<A>

const timeoutOf = (options?: { readonly timeout?: Duration.DurationInput | undefined }) =>
  options?.timeout === undefined ? undefined : Duration.decode(options.timeout)

/**
 * Creates the queue, or takes one more reference on an existing one of that
 * name, for the current client; the caller's scope releases the reference
 * (Dask's `Queue.close`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <A = unknown>(
  name?: string,
  options?: { readonly maxsize?: number | undefined }
): Effect.Effect<Queue<A>, SchedulerError | NoClientError, Scope.Scope> =>
  Effect.flatMap(internal.current, (client) => {
    const q: QueueImpl<A> = {
      name: name ?? `queue-${randomToken()}`,
      clientId: client.id,
      maxsize: options?.maxsize ?? 0,
      client,
      _A: undefined as A
    }
    return Effect.acquireRelease(
      Effect.as(client.session.coordination.queueCreate(q.name, q.maxsize), q as Queue<A>),
      () => Effect.sync(() => void client.session.send({ _tag: "QueueRelease", name: q.name }))
    )
  })

/**
 * Puts a future (the queue then holds its key) or small msgpack-able data.
 * On a full queue it waits; with `timeout`, fails with `TimeoutException`
 * when the queue stayed full.
 *
 * @since 0.2.0
 * @category operations
 */
export const put = <A>(
  self: Queue<A>,
  value: A | Future<A, any>,
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Effect.Effect<void, SchedulerError | Cause.TimeoutException> =>
  Effect.flatMap(
    impl(self).client.session.coordination.queuePut(self.name, shared(value), timeoutOf(options)),
    (ok) => ok ? Effect.void : Effect.fail(new Cause.TimeoutException(`Queue ${self.name} stayed full`))
  )

/**
 * Takes the next item, waiting for one: a future (a handle in the caller's
 * scope) or the data. With `timeout`, fails with `TimeoutException` when the
 * queue stayed empty.
 *
 * @since 0.2.0
 * @category operations
 */
export const get = <A>(
  self: Queue<A>,
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Effect.Effect<A | Future<A>, SchedulerError | ClientClosedError | Cause.TimeoutException, Scope.Scope> => {
  const client = impl(self).client
  return Effect.flatMap(client.session.coordination.queueGet(self.name, timeoutOf(options)), (received): Effect.Effect<
    A | Future<A>,
    ClientClosedError | Cause.TimeoutException,
    Scope.Scope
  > =>
    Option.isNone(received)
      ? Effect.fail(new Cause.TimeoutException(`Queue ${self.name} stayed empty`))
      : client.receive<A>(received.value, "queue", self.name) as Effect.Effect<A | Future<A>, ClientClosedError, Scope.Scope>)
}

/**
 * Takes `n` items (waiting for them), or without `n` every item queued now
 * (Dask's `get(batch=...)`).
 *
 * @since 0.2.0
 * @category operations
 */
export const getBatch = <A>(
  self: Queue<A>,
  n?: number
): Effect.Effect<Array<A | Future<A>>, SchedulerError | ClientClosedError, Scope.Scope> => {
  const client = impl(self).client
  return Effect.flatMap(
    client.session.coordination.queueGetBatch(self.name, n ?? "available"),
    (items) => Effect.forEach(items, (r) => client.receive<A>(r, "queue", self.name) as Effect.Effect<A | Future<A>, ClientClosedError, Scope.Scope>)
  )
}

/**
 * Items in the queue now (Dask's `qsize`).
 *
 * @since 0.2.0
 * @category operations
 */
export const size = <A>(self: Queue<A>): Effect.Effect<number, SchedulerError> =>
  impl(self).client.session.coordination.queueSize(self.name)
