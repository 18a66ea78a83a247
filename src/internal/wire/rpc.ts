/**
 * Request/reply calls over a small pool of comms. Dask replies carry no
 * request id, so each comm has at most one request in flight; a comm whose
 * request was interrupted or failed is closed rather than reused (a late reply
 * would otherwise answer the next request). Every reply has a deadline (the
 * connection's watchdog, `requestTimeout`); a reply over its decode budget
 * fails that request with a `DecodeError` and leaves the comm in the pool.
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type DecodeError, ProtocolError } from "../../Errors.js"
import * as Connection from "./connection.js"

interface PooledComm {
  readonly scope: Scope.CloseableScope
  connection: Connection.Connection | undefined
  pending: Deferred.Deferred<unknown, RequestError> | undefined
  broken: boolean
}

/** Why a request failed. @internal */
export type RequestError = Connection.CommError | DecodeError

/** @internal */
export interface Pool {
  readonly address: Connection.Address
  /** Sends `{op, ...fields, reply: true}` and waits for the reply. */
  readonly request: (message: Record<string, unknown>) => Effect.Effect<unknown, RequestError>
}

/** @internal */
export interface PoolOptions {
  readonly size: number
  readonly maxMessageBytes: number
  readonly maxDecodedBytes: number
  readonly connectTimeout: Duration.Duration
  readonly requestTimeout: Duration.Duration
}

/**
 * A pool of at most `size` comms to one address, closed with the scope.
 *
 * @internal
 */
export const makePool = (
  address: Connection.Address,
  options: PoolOptions
): Effect.Effect<Pool, never, Scope.Scope> =>
  Effect.gen(function*() {
    const poolScope = yield* Effect.scope
    const permits = yield* Effect.makeSemaphore(options.size)
    const idle: Array<PooledComm> = []

    const open: Effect.Effect<PooledComm, Connection.CommError> = Effect.gen(function*() {
      const scope = yield* Scope.fork(poolScope, { _tag: "Sequential" })
      const comm: PooledComm = { scope, connection: undefined, pending: undefined, broken: false }
      const settle = (exit: Exit.Exit<unknown, RequestError>) => {
        const pending = comm.pending
        comm.pending = undefined
        comm.connection?.expect(undefined)
        if (pending === undefined) {
          comm.broken = true
          return
        }
        Deferred.unsafeDone(pending, exit)
      }
      const connection = yield* Connection.connect(address, {
        maxMessageBytes: options.maxMessageBytes,
        maxDecodedBytes: options.maxDecodedBytes,
        connectTimeout: options.connectTimeout,
        requestTimeout: options.requestTimeout,
        name: "a request",
        onMessage: (message) => settle(Exit.succeed(message)),
        // The reply was read whole (framing intact): fail this request, keep the comm.
        onDecodeError: (error) => settle(Exit.fail(error))
      }).pipe(
        Scope.extend(scope),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      comm.connection = connection
      // When the comm ends, fail whatever is waiting on it and forget it.
      yield* Deferred.await(connection.closed).pipe(
        Effect.catchAll((error) =>
          Effect.sync(() => {
            comm.broken = true
            const pending = comm.pending
            comm.pending = undefined
            if (pending !== undefined) Deferred.unsafeDone(pending, Exit.fail(error))
            const i = idle.indexOf(comm)
            if (i >= 0) idle.splice(i, 1)
          })
        ),
        Effect.forkIn(scope)
      )
      return comm
    })

    const use = (comm: PooledComm, message: Record<string, unknown>) =>
      Effect.gen(function*() {
        const reply = yield* Deferred.make<unknown, RequestError>()
        comm.pending = reply
        comm.connection!.expect(typeof message.op === "string" ? message.op : "a request")
        yield* comm.connection!.write(message)
        return yield* Deferred.await(reply)
      })

    const request = (message: Record<string, unknown>) =>
      permits.withPermits(1)(
        Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            let comm = idle.pop()
            while (comm !== undefined && comm.broken) {
              yield* Scope.close(comm.scope, Exit.void)
              comm = idle.pop()
            }
            if (comm === undefined) comm = yield* restore(open)
            const c = comm
            return yield* restore(use(c, message)).pipe(
              Effect.onExit((exit) =>
                Exit.isSuccess(exit) && !c.broken
                  ? Effect.sync(() => idle.push(c))
                  : Scope.close(c.scope, Exit.void)
              )
            )
          })
        )
      )

    return { address, request }
  })

/**
 * Sends a request and turns a handler failure on the server
 * (`{status: "uncaught-error", exception_text}`) into a typed error.
 *
 * @internal
 */
export const call = (
  pool: Pool,
  message: Record<string, unknown>
): Effect.Effect<unknown, RequestError | ProtocolError> =>
  Effect.flatMap(pool.request(message), (reply) => {
    const status = field(reply, "status")
    if (status === "uncaught-error") {
      const text = field(reply, "exception_text")
      return Effect.fail(
        new ProtocolError({
          reason: "UnexpectedReply",
          message: `${String(message.op)} failed on the scheduler: ${typeof text === "string" ? text : "unknown error"}`
        })
      )
    }
    return Effect.succeed(reply)
  })

/** Reads a field of a decoded map (plain object or `Map`). @internal */
export const field = (u: unknown, name: string): unknown => {
  if (u instanceof Map) return u.get(name)
  if (typeof u === "object" && u !== null && !Array.isArray(u)) return (u as Record<string, unknown>)[name]
  return undefined
}
