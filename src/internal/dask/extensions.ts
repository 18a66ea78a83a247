/**
 * Dask's scheduler extensions over request/reply: Variables, Queues, Events,
 * Locks (2022.12 `lock_*`, 2024.12 a one-lease semaphore), `retry`,
 * `restart`, and `run` / `run_function` of a callable named by its import
 * path. Requests that name a key wait for the stream to flush first, so they
 * never overtake the `update-graph` that created the key.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { DecodeError, ProtocolError, RemoteError, type SchedulerError, UnsupportedTaskError } from "../../Errors.js"
import type { Coordination, Key, Received, RunOutcome, Shared } from "../../Scheduler.js"
import { checkValue, deserialize, Serialized } from "../wire/message.js"
import { pickleGlobal, PyTuple, writePickle } from "../wire/pickle.js"
import * as Rpc from "../wire/rpc.js"
import { splitCallable } from "./graph.js"
import { errorInfo, uncaughtErrorInfo } from "./taskErred.js"

const field = Rpc.field

/** What the extensions need from the session. @internal */
export interface ExtensionsContext {
  readonly pool: Rpc.Pool
  readonly clientId: string
  /** Waits until every stream op pushed so far is written. */
  readonly sync: Effect.Effect<void>
  readonly dialect: () => "2022.12" | "2024.12"
}

const seconds = (timeout: Duration.Duration | undefined): number | null =>
  timeout === undefined ? null : Duration.toSeconds(timeout)

/** A reply of the wrong shape. @internal */
export const unexpected = (op: string, reply: unknown) =>
  new ProtocolError({
    reason: "UnexpectedReply",
    message: `unexpected reply to ${op}: ${String(typeof reply === "object" ? JSON.stringify(reply)?.slice(0, 200) : reply)}`
  })

type Outcome = { readonly _tag: "Reply"; readonly reply: unknown } | { readonly _tag: "TimedOut" }

/** An exception in the scheduler's handler: a `RemoteError` with the remote type, message and traceback. */
const handlerError = (message: Record<string, unknown>, reply: unknown) => {
  const info = uncaughtErrorInfo(reply)
  return RemoteError.fromText(`<${String(message["op"])}>`, info.type, info.message, info.traceback)
}

/**
 * A request/reply call. An exception in the scheduler's handler
 * (`{status: "uncaught-error", …}`) is a `RemoteError`, not a protocol fault of the peer.
 *
 * @internal
 */
export const call = (pool: Rpc.Pool, message: Record<string, unknown>): Effect.Effect<unknown, SchedulerError> =>
  Effect.flatMap(pool.request(message), (reply) =>
    field(reply, "status") !== "uncaught-error" ? Effect.succeed(reply) : Effect.fail(handlerError(message, reply)))

/**
 * One request whose handler may time out on the scheduler: its
 * `TimeoutError` is an outcome, any other handler failure a `RemoteError`.
 */
const request = (pool: Rpc.Pool, message: Record<string, unknown>): Effect.Effect<Outcome, SchedulerError> =>
  Effect.flatMap(pool.request(message), (reply): Effect.Effect<Outcome, SchedulerError> => {
    if (field(reply, "status") !== "uncaught-error") return Effect.succeed({ _tag: "Reply", reply })
    const text = field(reply, "exception_text")
    if (typeof text === "string" && /^(asyncio\.)?TimeoutError\b/.test(text)) return Effect.succeed({ _tag: "TimedOut" })
    return Effect.fail(handlerError(message, reply))
  })

const reply = (pool: Rpc.Pool, message: Record<string, unknown>): Effect.Effect<unknown, SchedulerError> =>
  Effect.flatMap(request(pool, message), (o) =>
    o._tag === "Reply" ? Effect.succeed(o.reply) : Effect.fail(unexpected(String(message["op"]), "TimeoutError")))

const keyString = (u: unknown): Key | undefined =>
  typeof u === "string" ? u : u instanceof Uint8Array ? Buffer.from(u).toString("latin1") : undefined

/** A `{type: "Future", value: key, token?}` or `{type: "msgpack", value}` record. */
const received = (op: string, record: unknown): Either.Either<Received, ProtocolError> => {
  const type = field(record, "type")
  if (type === "msgpack") return Either.right({ _tag: "Data", value: field(record, "value") })
  if (type === "Future") {
    const key = keyString(field(record, "value"))
    const token = field(record, "token")
    if (key !== undefined) return Either.right({ _tag: "Key", key, token: typeof token === "string" ? token : undefined })
  }
  return Either.left(unexpected(op, record))
}

/** The value or key fields of a set/put; plain data is checked here, not in the encoder. */
const payload = (op: string, value: Shared): Either.Either<Record<string, unknown>, DecodeError> => {
  if (value._tag === "Key") return Either.right({ key: value.key })
  const reason = checkValue(value.value)
  return reason === undefined
    ? Either.right({ data: value.value })
    : Either.left(new DecodeError({ serializer: "msgpack", message: `${op}: the value cannot be sent: ${reason}` }))
}

/** @internal */
export const coordination = (ctx: ExtensionsContext): Coordination => {
  const { pool } = ctx
  // 2024.12 Locks are semaphores with one lease, registered once per name by this session.
  const registered = new Set<string>()

  const withPayload = (op: string, value: Shared, f: (fields: Record<string, unknown>) => Effect.Effect<boolean, SchedulerError>) =>
    Either.match(payload(op, value), {
      onLeft: (e) => Effect.fail(e),
      // A key must reach the scheduler (its update-graph) before the slot names it.
      onRight: (fields) => value._tag === "Key" ? Effect.zipRight(ctx.sync, f(fields)) : f(fields)
    })

  const register = (name: string) =>
    registered.has(name)
      ? Effect.void
      : Effect.map(
        reply(pool, { op: "semaphore_register", name, max_leases: 1, lease_timeout: null }),
        () => void registered.add(name)
      )

  return {
    variableSet: (name, value) =>
      Effect.asVoid(withPayload("variable_set", value, (fields) =>
        Effect.as(
          reply(pool, {
            op: "variable_set",
            name,
            client: ctx.clientId,
            ...fields,
            ...(ctx.dialect() === "2024.12" ? { timeout: 30 } : {})
          }),
          true
        ))),
    variableGet: (name, timeout) =>
      Effect.flatMap(request(pool, { op: "variable_get", name, client: ctx.clientId, timeout: seconds(timeout) }), (o) =>
        o._tag === "TimedOut"
          ? Effect.succeedNone
          : Either.match(received("variable_get", o.reply), { onLeft: Effect.fail, onRight: Effect.succeedSome })),
    queueCreate: (name, maxsize) => Effect.asVoid(reply(pool, { op: "queue_create", name, client: ctx.clientId, maxsize })),
    queuePut: (name, value, timeout) =>
      withPayload("queue_put", value, (fields) =>
        Effect.map(
          request(pool, { op: "queue_put", name, client: ctx.clientId, timeout: seconds(timeout), ...fields }),
          (o) => o._tag === "Reply"
        )),
    queueGet: (name, timeout) =>
      Effect.flatMap(request(pool, { op: "queue_get", name, client: ctx.clientId, timeout: seconds(timeout), batch: false }), (o) =>
        o._tag === "TimedOut"
          ? Effect.succeedNone
          : Either.match(received("queue_get", o.reply), { onLeft: Effect.fail, onRight: Effect.succeedSome })),
    queueGetBatch: (name, n) =>
      Effect.flatMap(
        reply(pool, { op: "queue_get", name, client: ctx.clientId, timeout: null, batch: n === "available" ? true : n }),
        (records): Effect.Effect<ReadonlyArray<Received>, SchedulerError> => {
          if (!Array.isArray(records)) return Effect.fail(unexpected("queue_get", records))
          const out: Array<Received> = []
          for (const r of records) {
            const item = received("queue_get", r)
            if (Either.isLeft(item)) return Effect.fail(item.left)
            out.push(item.right)
          }
          return Effect.succeed(out)
        }
      ),
    queueSize: (name) =>
      Effect.flatMap(reply(pool, { op: "queue_qsize", name, client: ctx.clientId }), (n) =>
        typeof n === "number" ? Effect.succeed(n) : Effect.fail(unexpected("queue_qsize", n))),
    eventWait: (name, timeout) =>
      Effect.flatMap(request(pool, { op: "event_wait", name, timeout: seconds(timeout) }), (o) =>
        Effect.succeed(o._tag === "Reply" && o.reply === true)),
    eventSet: (name) => Effect.asVoid(reply(pool, { op: "event_set", name })),
    eventClear: (name) => Effect.asVoid(reply(pool, { op: "event_clear", name })),
    eventIsSet: (name) => Effect.map(reply(pool, { op: "event_is_set", name }), (r) => r === true),
    lockAcquire: (name, id, timeout) =>
      ctx.dialect() === "2022.12"
        ? Effect.map(request(pool, { op: "lock_acquire", name, id, timeout: seconds(timeout) }), (o) => o._tag === "Reply" && o.reply === true)
        : Effect.zipRight(
          register(name),
          Effect.map(
            request(pool, { op: "semaphore_acquire", name, lease_id: id, timeout: seconds(timeout) }),
            (o) => o._tag === "Reply" && o.reply === true
          )
        ),
    lockRelease: (name, id) =>
      Effect.asVoid(
        ctx.dialect() === "2022.12"
          ? reply(pool, { op: "lock_release", name, id })
          : reply(pool, { op: "semaphore_release", name, lease_id: id })
      )
  }
}

/** `retry` of erred keys. @internal */
export const retry = (ctx: ExtensionsContext, keys: ReadonlyArray<Key>): Effect.Effect<ReadonlyArray<Key>, SchedulerError> =>
  keys.length === 0
    ? Effect.succeed([])
    : Effect.zipRight(
      ctx.sync,
      Effect.map(reply(ctx.pool, { op: "retry", keys: keys.slice(), client: ctx.clientId }), (seen) =>
        Array.isArray(seen) ? seen.flatMap((k) => keyString(k) ?? []) : keys)
    )

/** `restart`: the stream gets `restart` before the reply. @internal */
export const restart = (ctx: ExtensionsContext, timeout: Duration.Duration): Effect.Effect<void, SchedulerError> =>
  Effect.flatMap(Effect.clock, (clock) =>
    Effect.asVoid(reply(ctx.pool, {
      op: "restart",
      timeout: Duration.toSeconds(timeout),
      wait_for_workers: true,
      ...(ctx.dialect() === "2024.12" ? { stimulus_id: `client-restart-${clock.unsafeCurrentTimeMillis() / 1000}` } : {})
    })))

/** One `run` answer: `{status: "OK", result}`, `error_message(e)`, or a pickled comm error (bytes). */
const outcome = (resp: unknown): Either.Either<RunOutcome, DecodeError> => {
  if (resp instanceof Uint8Array) {
    return Either.right({ _tag: "Error", error: { type: "CommError", message: "the worker could not be reached", traceback: "" } })
  }
  const status = field(resp, "status")
  if (status === "OK") {
    const result = field(resp, "result")
    if (!(result instanceof Serialized)) return Either.right({ _tag: "Value", value: result })
    return Either.map(deserialize(result), (value): RunOutcome => ({ _tag: "Value", value }))
  }
  return Either.right({ _tag: "Error", error: errorInfo(field(resp, "exception"), field(resp, "traceback")) })
}

/**
 * `run` on workers (`broadcast`) or on the scheduler (`run_function`) of the
 * callable at `callable` (`module.attr`, pickled as a global reference, never
 * as code). Arguments are pickled scalars, lists, tuples and dicts.
 *
 * @internal
 */
export const run = (
  ctx: ExtensionsContext,
  callable: string,
  args: ReadonlyArray<unknown>,
  on: { readonly _tag: "Workers"; readonly workers?: ReadonlyArray<string> | undefined } | { readonly _tag: "Scheduler" }
): Effect.Effect<ReadonlyMap<string, RunOutcome>, SchedulerError | UnsupportedTaskError> => {
  const parts = splitCallable(callable)
  if (parts === undefined) {
    return Effect.fail(new UnsupportedTaskError({ task: callable, backend: "dask", message: `"${callable}" is not an importable name of the form module.attr` }))
  }
  let pickledArgs: Uint8Array
  try {
    pickledArgs = writePickle(new PyTuple(args.slice()))
  } catch (e) {
    return Effect.fail(new UnsupportedTaskError({ task: callable, backend: "dask", message: `the arguments cannot be pickled: ${String(e)}` }))
  }
  const fields = { function: pickleGlobal(parts[0], parts[1]), args: pickledArgs, kwargs: writePickle(new Map()), wait: true }
  if (on._tag === "Scheduler") {
    return Effect.flatMap(reply(ctx.pool, { op: "run_function", ...fields }), (resp) =>
      Either.match(outcome(resp), {
        onLeft: Effect.fail,
        onRight: (o) => Effect.succeed(new Map([[ctx.pool.address.url, o]]))
      }))
  }
  const message: Record<string, unknown> = { op: "broadcast", msg: { op: "run", ...fields }, on_error: "return_pickle", nanny: false }
  if (on.workers !== undefined) message["workers"] = on.workers.slice()
  return Effect.flatMap(reply(ctx.pool, message), (resps): Effect.Effect<ReadonlyMap<string, RunOutcome>, SchedulerError> => {
    const out = new Map<string, RunOutcome>()
    const entries = resps instanceof Map ? Array.from(resps) : typeof resps === "object" && resps !== null ? Object.entries(resps) : undefined
    if (entries === undefined) return Effect.fail(unexpected("broadcast", resps))
    for (const [worker, resp] of entries) {
      const o = outcome(resp)
      if (Either.isLeft(o)) return Effect.fail(o.left)
      out.set(String(worker), o.right)
    }
    return Effect.succeed(out)
  })
}

/** The stream op confirming a key taken from a Variable or Queue, per dialect. @internal */
export const receivedOp = (
  dialect: "2022.12" | "2024.12",
  message: { readonly kind: "variable" | "queue"; readonly name: string; readonly key: Key; readonly token: string | undefined }
): Record<string, unknown> & { readonly op: string } =>
  message.kind === "queue"
    ? { op: "queue-future-release", name: message.name, key: message.key }
    : {
      op: dialect === "2022.12" ? "variable-future-release" : "variable-future-received-confirm",
      name: message.name,
      key: message.key,
      token: message.token
    }
