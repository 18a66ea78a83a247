/**
 * A `Session` on a real Dask scheduler: client messages become stream ops or
 * RPCs, stream ops become `SchedulerReport`s, and a lost stream is reported
 * and re-registered on a schedule.
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import {
  ConnectionLostError,
  DecodeError,
  LostDataError,
  type SchedulerError,
  type UnsupportedTaskError
} from "../../Errors.js"
import type {
  ClientMessage,
  Key,
  KeyStatus,
  ReportSink,
  ScatterOptions,
  SchedulerReport,
  Session,
  WorkerInfo
} from "../../Scheduler.js"
import type * as Task from "../../Task.js"
import { DecodeBudget } from "../wire/budget.js"
import type { Address, CommError, ConnectionClosedError } from "../wire/connection.js"
import * as Extensions from "./extensions.js"
import * as Graph from "./graph.js"
import { checkValue, deserialize, deserializeOr, isPlainObject, normalizeValue, NormalizedOp, sameBytes, Serialized, ToPickleBytes, ToSerialize } from "../wire/message.js"
import { pickledTypeName } from "../wire/pickle.js"
import * as Rpc from "../wire/rpc.js"
import * as Stream from "./stream.js"
import { errorInfo, gatherMissingKeys } from "./taskErred.js"
import { chooseDialect, type Dialect } from "./version.js"

/** @internal */
export interface SessionOptions {
  readonly clientId: string
  readonly address: Address
  readonly pool: Rpc.Pool
  readonly maxMessageBytes: number
  readonly maxDecodedBytes: number
  readonly requestTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
  readonly batchInterval: Duration.Duration
  readonly heartbeat: Duration.Duration
  readonly reconnect: Schedule.Schedule<unknown, unknown>
  readonly closeTimeout: Duration.Duration
}

const field = Rpc.field

const call = Extensions.call

/** Dask keys after 2023.9 may be ints or tuples; render them as Python does. */
const keyToString = (key: unknown): Key => {
  if (typeof key === "string") return key
  if (typeof key === "number" || typeof key === "bigint") return String(key)
  if (Array.isArray(key)) {
    const parts = key.map((k) => (typeof k === "string" ? `'${k}'` : keyToString(k)))
    return `(${parts.join(", ")}${parts.length === 1 ? "," : ""})`
  }
  if (key instanceof Uint8Array) return Buffer.from(key).toString("latin1")
  return String(key)
}

/** `cancelled-keys.keys` is an array, a `Set`, or an undecoded `{__Set__, as-list}` map. */
const keyList = (u: unknown): Array<Key> => {
  if (Array.isArray(u)) return u.map(keyToString)
  if (u instanceof Set) return Array.from(u, keyToString)
  const asList = field(u, "as-list")
  if (Array.isArray(asList)) return asList.map(keyToString)
  if (u instanceof Map) return Array.from(u.keys(), keyToString)
  if (typeof u === "object" && u !== null) return Object.keys(u)
  return u === undefined || u === null ? [] : [keyToString(u)]
}

/** Entries of a decoded map (object or `Map`), keys rendered as strings. */
const entries = (u: unknown): Array<readonly [Key, unknown]> => {
  if (u instanceof Map) return Array.from(u, ([k, v]) => [keyToString(k), v] as const)
  if (typeof u === "object" && u !== null && !Array.isArray(u)) return Object.entries(u)
  return []
}

const unexpected = Extensions.unexpected

/**
 * One gathered value into `into`; a value the worker could not serialize
 * (`serializer: "error"`) goes to `retry` when given. A top-level function,
 * not a closure made per gather: each new closure was compiled again.
 */
const decodeOne = (
  key: Key,
  value: unknown,
  budget: DecodeBudget,
  into: Map<Key, unknown>,
  retry: Array<Key> | undefined
): DecodeError | undefined => {
  if (!(value instanceof Serialized)) {
    into.set(key, value)
    return undefined
  }
  const decoded = deserializeOr(value, budget)
  if (!(decoded instanceof DecodeError)) {
    into.set(key, decoded)
  } else if (retry !== undefined && field(value.header, "serializer") === "error") {
    retry.push(key)
  } else {
    return decoded
  }
  return undefined
}

/**
 * Every value of a gather reply into `into` (see {@link decodeOne}); the
 * first failure. The loops are functions of their own, with nothing before or
 * after them: code that only ever ran on-stack-replaced, or before V8 gave the
 * function type feedback, has none, and V8 deoptimized there and recompiled
 * the loop on the next gathers.
 */
const decodeInto = (
  data: unknown,
  budget: DecodeBudget,
  into: Map<Key, unknown>,
  retry: Array<Key> | undefined
): DecodeError | undefined =>
  // A reply of string keys is a plain object: its keys, not an array of pairs per value.
  isPlainObject(data)
    ? decodeObject(data, Object.keys(data), budget, into, retry)
    : decodeEntries(entries(data), budget, into, retry)

const decodeObject = (
  data: Record<string, unknown>,
  keys: ReadonlyArray<string>,
  budget: DecodeBudget,
  into: Map<Key, unknown>,
  retry: Array<Key> | undefined
): DecodeError | undefined => {
  for (let i = 0; i < keys.length; i++) {
    const failed = decodeOne(keys[i]!, data[keys[i]!], budget, into, retry)
    if (failed !== undefined) return failed
  }
  return undefined
}

const decodeEntries = (
  pairs: ReadonlyArray<readonly [Key, unknown]>,
  budget: DecodeBudget,
  into: Map<Key, unknown>,
  retry: Array<Key> | undefined
): DecodeError | undefined => {
  for (let i = 0; i < pairs.length; i++) {
    const failed = decodeOne(pairs[i]![0], pairs[i]![1], budget, into, retry)
    if (failed !== undefined) return failed
  }
  return undefined
}

/** The first of `keys` that `values` lacks. */
const firstMissing = (keys: ReadonlyArray<Key>, values: ReadonlyMap<Key, unknown>): Key | undefined => {
  for (let i = 0; i < keys.length; i++) if (!values.has(keys[i]!)) return keys[i]
  return undefined
}

const versionsOf = (pool: Rpc.Pool): Effect.Effect<{ readonly reply: unknown; readonly dialect: Dialect }, SchedulerError> =>
  Effect.flatMap(call(pool, { op: "versions" }), (reply) =>
    Either.match(chooseDialect(reply), {
      onLeft: (error) => Effect.fail(error),
      onRight: (dialect) => Effect.succeed({ reply, dialect })
    }))

/**
 * A Dask task state as a {@link KeyStatus}. `released` counts as missing: a
 * wanted task with a run_spec never rests there (it moves on to waiting in
 * the same transition pass), so a released key is a placeholder that nothing
 * can compute (Dask 2022.12 creates one for a desire of an unknown key).
 */
const keyStatusOf = (state: unknown): KeyStatus => {
  switch (state) {
    case "memory":
      return "memory"
    case "erred":
      return "erred"
    case "waiting":
    case "queued":
    case "processing":
    case "no-worker":
      return "pending"
    default:
      return "missing"
  }
}

/**
 * The session looks at the scheduler's workers (for {@link Graph.Placement})
 * when the scheduler reports a worker joining or leaving, and at least this
 * often (a backstop: a worker that joined before the subscription took
 * effect, resources changed in place). Polling `identity` every second cost
 * a round trip a second per client, and the scheduler a reply listing every
 * worker.
 */
const PLACEMENT_BACKSTOP = "10 seconds"

/** The topic whose events name workers joining and leaving (both versions log them there). */
const WORKER_TOPIC = "all"

/** Actions on {@link WORKER_TOPIC} after which the workers may have changed. */
const WORKER_ACTIONS: ReadonlySet<unknown> = new Set([
  "add-worker",
  "remove-worker",
  "retire-workers",
  "restart",
  "restart-workers"
])

/** An `event` op (`{topic, event: [time, msg]}`) that may change the workers. */
const isWorkerEvent = (msg: unknown): boolean => {
  if (field(msg, "topic") !== WORKER_TOPIC) return false
  const event = field(msg, "event")
  return Array.isArray(event) && WORKER_ACTIONS.has(field(event[1], "action"))
}

/** Echo only `packages`: enough for `warning: ""` on both versions. */
const versionsEcho = (reply: unknown) => ({ packages: field(reply, "packages") ?? {} })

/**
 * Registers a client and returns its `Session`. Fails with
 * `UnsupportedVersionError` before registering when the scheduler's version
 * cannot be driven.
 *
 * @internal
 */
export const make = (options: SessionOptions, sink: ReportSink): Effect.Effect<Session, SchedulerError, Scope.Scope> =>
  Effect.gen(function*() {
    const { address, clientId, pool } = options
    const initial = yield* versionsOf(pool)
    let dialect = initial.dialect

    // Cleared when the session closes: nothing is delivered after that.
    let deliver: ReportSink | undefined = sink
    // Wakes the placement refresh (see PLACEMENT_BACKSTOP).
    const placementWake = yield* Queue.sliding<void>(1)
    const outbox = new Stream.Outbox()
    // Watchers, reconnects and cancel RPCs; interrupted first when the session closes.
    const fibers = yield* FiberSet.make<unknown, unknown>()
    const runFork = yield* FiberSet.runtime(fibers)<never>()

    let current: { readonly stream: Stream.Stream; readonly scope: Scope.CloseableScope } | undefined
    let closing = false
    let closeSent = false
    let gaveUp = false
    const lostForGood = new ConnectionLostError({ address: address.url, cause: "gave up reconnecting" })

    // --- scheduler → client -------------------------------------------------
    const typeNames = new Map<string, string>()
    // Results of one map share their type: the last one is compared byte by byte, no string per report.
    let lastType: { readonly bytes: Uint8Array; readonly name: string } | undefined
    const typeName = (bytes: unknown): string | undefined => {
      if (!(bytes instanceof Uint8Array)) return undefined
      if (lastType !== undefined && sameBytes(bytes, lastType.bytes)) return lastType.name
      const name = typeNameOf(bytes)
      if (bytes.length <= 256) lastType = { bytes: bytes.slice(), name }
      return name
    }
    const typeNameOf = (bytes: Uint8Array): string => {
      const id = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")
      let name = typeNames.get(id)
      if (name === undefined) {
        name = pickledTypeName(bytes) ?? "unknown"
        if (typeNames.size < 1024) typeNames.set(id, name)
      }
      return name
    }

    const offer = (report: SchedulerReport) => {
      if (deliver !== undefined) deliver(report)
    }

    // --- barriers -----------------------------------------------------------
    // `report-key` of a key the scheduler never has: the scheduler answers it
    // on this client's stream with `cancelled-key` (2022.12; sent to every
    // client) or `cancelled-keys` (2024.12; to this client only), after
    // processing every op before it (both versions handle a client's stream
    // in order). The key names this client, so other clients' barriers pass
    // through as unknown keys.
    const barrierPrefix = `effect-dask-barrier-${clientId}-`
    const barriers = new Map<string, () => void>()
    let barrierSeq = 0
    const barrier = (done: () => void): void => {
      if (closeSent || gaveUp) return done()
      const key = barrierPrefix + String(++barrierSeq)
      barriers.set(key, done)
      outbox.push({ op: "report-key", key })
    }
    const barrierEffect: Effect.Effect<void> = Effect.async<void>((resume) => barrier(() => resume(Effect.void)))
    /** A registration is gone: whatever it carried was processed or dropped with it. */
    const passAllBarriers = () => {
      if (barriers.size === 0) return
      const waiting = Array.from(barriers.values())
      barriers.clear()
      for (const done of waiting) done()
    }
    /** True when `key` answers a barrier (ours, passed now, or another client's). */
    const barrierKey = (key: Key): boolean => {
      if (!key.startsWith("effect-dask-barrier-")) return false
      const done = barriers.get(key)
      if (done !== undefined) {
        barriers.delete(key)
        done()
      }
      return true
    }

    const onOp = (msg: unknown) => {
      switch (field(msg, "op")) {
        case "key-in-memory": {
          const type = typeName(field(msg, "type"))
          offer({ _tag: "KeyInMemory", key: keyToString(field(msg, "key")), type })
          return
        }
        case "task-erred": {
          offer({
            _tag: "TaskErred",
            key: keyToString(field(msg, "key")),
            error: errorInfo(field(msg, "exception"), field(msg, "traceback"))
          })
          return
        }
        case "cancelled-key": {
          const key = keyToString(field(msg, "key"))
          if (barrierKey(key)) return
          offer({ _tag: "CancelledKeys", keys: [key], reason: "cancelled by the scheduler" })
          return
        }
        case "cancelled-keys": {
          const reason = field(msg, "reason")
          const keys = keyList(field(msg, "keys")).filter((key) => !barrierKey(key))
          if (keys.length === 0) return
          offer({
            _tag: "CancelledKeys",
            keys,
            reason: typeof reason === "string" ? reason : "cancelled by the scheduler"
          })
          return
        }
        case "lost-data": {
          offer({ _tag: "LostData", key: keyToString(field(msg, "key")) })
          return
        }
        case "task-retried": {
          offer({ _tag: "TaskRetried", key: keyToString(field(msg, "key")) })
          return
        }
        case "restart": {
          offer({ _tag: "Restart" })
          return
        }
        case "event": {
          if (isWorkerEvent(msg)) Queue.unsafeOffer(placementWake, undefined)
          return
        }
        // `stream-closed`: the comm ends right after; `closed` handles it.
        default:
          return
      }
    }

    // As a Python client closing: its subscriptions go first.
    const unsubscribe = () => outbox.push({ op: "unsubscribe-topic", topic: WORKER_TOPIC, client: clientId })

    // --- the stream, its loss and its return -------------------------------
    const streamOptions = (versions: unknown): Stream.StreamOptions => ({
      clientId,
      versions: versionsEcho(versions),
      maxMessageBytes: options.maxMessageBytes,
      maxDecodedBytes: options.maxDecodedBytes,
      requestTimeout: options.requestTimeout,
      connectTimeout: options.connectTimeout,
      batchInterval: options.batchInterval,
      heartbeat: options.heartbeat,
      onOp
    })

    // Stream comms live in their own scopes, closed here (on loss) or by the
    // session's finalizer after `close-client` went out.
    const open = (versions: unknown): Effect.Effect<void, CommError> =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const stream = yield* Stream.register(address, outbox, streamOptions(versions)).pipe(
          Scope.extend(scope),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        if (closing) return yield* Scope.close(scope, Exit.void)
        current = { stream, scope }
        // Workers joining and leaving, for the placement (a registration starts with no subscription).
        outbox.push({ op: "subscribe-topic", topic: WORKER_TOPIC, client: clientId })
        runFork(Deferred.await(stream.connection.closed).pipe(
          Effect.catchAll((error) => onLost(error, scope))
        ))
      })

    const onLost = (error: ConnectionClosedError, scope: Scope.CloseableScope) =>
      Effect.gen(function*() {
        if (current?.scope === scope) current = undefined
        yield* Scope.close(scope, Exit.void)
        if (closing || closeSent) return
        outbox.clear()
        passAllBarriers()
        offer({
          _tag: "ConnectionLost",
          error: error instanceof ConnectionLostError
            ? error
            : new ConnectionLostError({ address: address.url, cause: error })
        })
        yield* reconnect
      })

    const reconnect: Effect.Effect<void> = Effect.gen(function*() {
      const attempt = Effect.gen(function*() {
        const next = yield* versionsOf(pool)
        // The scheduler may have come back as another version: encode for it from now on.
        dialect = next.dialect
        const id = yield* schedulerId
        yield* open(next.reply)
        return id
      })
      const id = yield* attempt.pipe(
        Effect.retry(options.reconnect),
        Effect.catchAll(() => Effect.succeed(undefined))
      )
      if (id !== undefined && !closing) {
        // Another process at the same address (or one we could not identify) holds nothing of before.
        const restarted = id === "" || id !== identity
        identity = id
        Queue.unsafeOffer(placementWake, undefined)
        offer({ _tag: "Reconnected", restarted })
      }
      // The schedule gave up: nothing will carry queued messages any more.
      if (id === undefined && !closing) {
        gaveUp = true
        outbox.clear()
        passAllBarriers()
        // Fails what was submitted while reconnecting; later submissions fail in `send`.
        offer({ _tag: "ConnectionLost", error: lostForGood, final: true })
      }
    })

    // The scheduler's own id (`identity`): after a reconnect, tells a restarted scheduler from the same one.
    const schedulerId: Effect.Effect<string, SchedulerError> = Effect.map(call(pool, { op: "identity" }), (reply) => {
      const id = field(reply, "id")
      return typeof id === "string" ? id : ""
    })
    let identity = yield* schedulerId
    yield* open(initial.reply)

    // Which workers are Node workers (resource `js`): Python tasks then stay off them
    // (§12.3 of the worker notes). Looked at again when the scheduler reports a worker joining or
    // leaving, and every PLACEMENT_BACKSTOP; a graph sent in between uses the last look (a Node
    // worker fails a stray Python task at once).
    let placement: Graph.Placement = Graph.NO_PLACEMENT
    const refreshPlacement = Rpc.call(pool, { op: "identity" }).pipe(
      Effect.map((reply) => {
        placement = Graph.placementOf(reply, placement)
      }),
      Effect.ignore
    )
    yield* refreshPlacement
    runFork(Effect.forever(Effect.zipRight(
      Effect.ignore(Effect.timeout(Queue.take(placementWake), PLACEMENT_BACKSTOP)),
      refreshPlacement
    )))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        yield* FiberSet.clear(fibers)
        const c = current
        current = undefined
        if (c !== undefined) {
          if (!closeSent) {
            closeSent = true
            unsubscribe()
            yield* Stream.close(c.stream, outbox, options.closeTimeout)
          } else {
            yield* Deferred.await(c.stream.connection.closed).pipe(Effect.timeout(options.closeTimeout), Effect.ignore)
          }
          yield* Scope.close(c.scope, Exit.void)
        }
        passAllBarriers()
        deliver = undefined
      })
    )

    // --- client → scheduler -------------------------------------------------
    const send = (message: ClientMessage): ConnectionLostError | UnsupportedTaskError | undefined => {
      if (closeSent) return undefined
      if (gaveUp) return message._tag === "UpdateGraph" ? lostForGood : undefined
      switch (message._tag) {
        case "UpdateGraph": {
          // Prepared by `prepare` for the current dialect: no second validation. Only a spec
          // prepared for another dialect (the scheduler came back as another version) is
          // encoded again here, and may be refused.
          const encoded = dialect.graph === "2022.12"
            ? Graph.updateGraph2022(message.tasks, message.keys, clientId, placement)
            : Graph.updateGraph2024(message.tasks, message.keys, clientId, placement)
          if (Either.isLeft(encoded)) return encoded.left
          const op = encoded.right
          // 2022.12 run_specs hold only values `prepareCall` normalized, and dependencies and keys
          // are key strings: unless a pickled task (a sub-frame) is among them, the op goes whole,
          // packed without a walk. Only its other fields (scheduling options: user numbers, for
          // 64-bit integers) are walked, here.
          if (dialect.graph === "2022.12" && !Graph.hasPickledRunSpec(op)) {
            const { dependencies, keys, tasks, ...fields } = op
            const normalized = normalizeValue(fields)
            if (typeof normalized !== "string") {
              const whole = { ...(normalized.value as Record<string, unknown>), tasks, dependencies, keys }
              outbox.push(new NormalizedOp("update-graph", whole) as unknown as Stream.Op)
              return undefined
            }
          }
          outbox.push(op as Stream.Op)
          return undefined
        }
        case "DesireKeys":
          outbox.pushKeys("client-desires-keys", message.keys, message.client ?? clientId)
          return undefined
        case "ReleaseKeys":
          outbox.pushKeys("client-releases-keys", message.keys, clientId)
          return undefined
        case "Cancel": {
          if (dialect.cancel === "stream") {
            outbox.push({ op: "cancel-keys", keys: message.keys.slice(), client: clientId, force: message.force })
          } else {
            // The RPC must not overtake the update-graph that created the keys: written is not
            // enough (the scheduler reads the stream and the RPC comm concurrently), processed is.
            const keys = message.keys.slice()
            runFork(Effect.zipRight(
              barrierEffect,
              Effect.ignore(call(pool, { op: "cancel", keys, client: clientId, force: message.force }))
            ))
          }
          return undefined
        }
        case "Heartbeat":
          outbox.push({ op: "heartbeat-client" })
          return undefined
        case "Close": {
          closeSent = true
          unsubscribe()
          outbox.push({ op: "close-client" })
          outbox.push({ op: "close-stream" })
          return undefined
        }
        case "Received":
          outbox.push(Extensions.receivedOp(dialect.graph, message))
          return undefined
        case "VariableDelete":
          outbox.push({ op: "variable_delete", name: message.name, client: clientId })
          return undefined
        case "QueueRelease":
          outbox.push({ op: "queue_release", name: message.name, client: clientId })
          return undefined
      }
    }

    // --- request/reply ------------------------------------------------------
    const decodeAll = (
      data: unknown,
      into: Map<Key, unknown>,
      retry: Array<Key> | undefined
    ): Effect.Effect<void, DecodeError> => {
      // One budget for the values of one reply.
      const failed = decodeInto(data, new DecodeBudget(options.maxDecodedBytes), into, retry)
      return failed === undefined ? Effect.void : Effect.fail(failed)
    }

    const gatherWith = (
      keys: ReadonlyArray<Key>,
      serializers: ReadonlyArray<string>
    ): Effect.Effect<unknown, SchedulerError> =>
      Effect.flatMap(call(pool, { op: "gather", keys, serializers }), (reply): Effect.Effect<unknown, SchedulerError> => {
        const missing = gatherMissingKeys(reply)
        if (missing !== undefined) return Effect.fail(new LostDataError({ key: missing[0] ?? keys[0] ?? "" }))
        if (field(reply, "status") !== "OK") return Effect.fail(unexpected("gather", reply))
        return Effect.succeed<unknown>(field(reply, "data"))
      })

    const gather = (keys: ReadonlyArray<Key>): Effect.Effect<ReadonlyMap<Key, unknown>, SchedulerError> =>
      Effect.gen(function*() {
        const out = new Map<Key, unknown>()
        if (keys.length === 0) return out
        const retry: Array<Key> = []
        yield* decodeAll(yield* gatherWith(keys, ["msgpack"]), out, retry)
        if (retry.length > 0) {
          // msgpack could not carry these values: ask for pickle, read by the whitelist reader.
          yield* decodeAll(yield* gatherWith(retry, ["dask", "pickle"]), out, undefined)
        }
        const missing = firstMissing(keys, out)
        if (missing !== undefined) return yield* Effect.fail(new LostDataError({ key: missing }))
        return out
      })

    const scatter = (
      values: ReadonlyArray<readonly [Key, unknown]>,
      scatterOptions?: ScatterOptions
    ): Effect.Effect<void, SchedulerError> => {
      if (values.length === 0) return Effect.void
      const data: Record<string, ToSerialize> = {}
      for (const [key, value] of values) {
        // Refused here rather than failing inside the connection's encoder.
        const reason = checkValue(value)
        if (reason !== undefined) {
          return Effect.fail(new DecodeError({ serializer: "msgpack", message: `cannot scatter ${key}: ${reason}` }))
        }
        data[key] = new ToSerialize(value)
      }
      const message: Record<string, unknown> = {
        op: "scatter",
        data,
        client: clientId,
        broadcast: scatterOptions?.broadcast ?? false,
        timeout: 10
      }
      if (scatterOptions?.workers !== undefined) message.workers = scatterOptions.workers.slice()
      return Effect.flatMap(call(pool, message), (reply) =>
        Array.isArray(reply) ? Effect.void : Effect.fail(unexpected("scatter", reply)))
    }

    const stringArrays = (u: unknown): Record<string, ReadonlyArray<string>> => {
      const out: Record<string, ReadonlyArray<string>> = {}
      for (const [k, v] of entries(u)) out[k] = Array.isArray(v) ? v.map(keyToString) : []
      return out
    }

    const whoHas = (keys?: ReadonlyArray<Key>) =>
      Effect.map(call(pool, keys === undefined ? { op: "who_has" } : { op: "who_has", keys }), stringArrays)

    // `get_task_status`: the scheduler's state of each key (both versions), read on a pool comm.
    const keyStatus = (keys: ReadonlyArray<Key>): Effect.Effect<ReadonlyMap<Key, KeyStatus>, SchedulerError> =>
      keys.length === 0
        ? Effect.succeed(new Map())
        : Effect.map(call(pool, { op: "get_task_status", keys: keys.slice() }), (reply) => {
          const states = new Map(entries(reply))
          const out = new Map<Key, KeyStatus>()
          for (const key of keys) out.set(key, keyStatusOf(states.get(key)))
          return out
        })

    const hasWhat = () => Effect.map(call(pool, { op: "has_what" }), stringArrays)

    const nbytes = (keys?: ReadonlyArray<Key>) =>
      Effect.map(call(pool, { op: "nbytes", summary: false }), (reply) => {
        const all: Record<Key, number> = {}
        for (const [k, v] of entries(reply)) if (typeof v === "number") all[k] = v
        if (keys === undefined) return all
        const out: Record<Key, number> = {}
        for (const k of keys) if (k in all) out[k] = all[k]!
        return out
      })

    const workers = (): Effect.Effect<ReadonlyArray<WorkerInfo>, SchedulerError> =>
      Effect.map(
        Effect.all([call(pool, { op: "identity" }), hasWhat(), nbytes()], { concurrency: 3 }),
        ([identity, held, sizes]) =>
          entries(field(identity, "workers")).map(([address, info]): WorkerInfo => {
            const keys = held[address] ?? []
            let bytes = 0
            for (const k of keys) bytes += sizes[k] ?? 0
            const nthreads = field(info, "nthreads")
            const memoryLimit = field(info, "memory_limit")
            return {
              address,
              nthreads: typeof nthreads === "number" ? nthreads : 0,
              bytes,
              keys: keys.length,
              memoryLimit: typeof memoryLimit === "number" && memoryLimit > 0 ? memoryLimit : undefined
            }
          })
      )

    const publishDataset = (name: string, keys: ReadonlyArray<Key>, override: boolean) =>
      Effect.flatMap(
        call(pool, {
          op: "publish_put",
          keys: keys.slice(),
          name,
          // Futures, as a Python client publishes them: it reads them back as Futures.
          data: new ToPickleBytes(Graph.pickleFutures(keys, dialect.graph, address.url)),
          override,
          client: clientId
        }),
        (reply) =>
          field(reply, "status") === "OK"
            ? Effect.void
            : Effect.fail(unexpected("publish_put", reply))
      )

    const getDataset = (name: string) =>
      Effect.map(call(pool, { op: "publish_get", name, client: clientId }), (reply) =>
        reply === null || reply === undefined
          ? Option.none<ReadonlyArray<Key>>()
          : Option.some<ReadonlyArray<Key>>(keyList(field(reply, "keys"))))

    // A dataset published by a Python client may hold plain data rather than futures.
    const getDatasetValue = (name: string) =>
      Effect.flatMap(call(pool, { op: "publish_get", name, client: clientId }), (reply) => {
        if (reply === null || reply === undefined) return Effect.succeed(Option.none<unknown>())
        const data = field(reply, "data")
        if (!(data instanceof Serialized)) return Effect.succeed(Option.some<unknown>(data))
        return Either.match(deserialize(data, { budget: new DecodeBudget(options.maxDecodedBytes) }), {
          onLeft: (error) => Effect.fail(error),
          onRight: (value) => Effect.succeed(Option.some(value))
        })
      })

    const unpublishDataset = (name: string) => Effect.asVoid(call(pool, { op: "publish_delete", name }))

    const listDatasets = () =>
      Effect.map(call(pool, { op: "publish_list" }), (reply) =>
        Array.isArray(reply) ? reply.map((n) => String(n)) : [])

    const prepare = (task: Task.Any, args: ReadonlyArray<unknown>): unknown => Graph.prepareCall(task, args, dialect.graph)

    const extensions: Extensions.ExtensionsContext = { pool, clientId, sync: outbox.sync, dialect: () => dialect.graph }

    return {
      clientId,
      send,
      retract: (key) => outbox.retract(key, clientId),
      barrier,
      keyStatus,
      check: Graph.checkTask,
      prepare,
      gather,
      scatter,
      whoHas,
      hasWhat,
      nbytes,
      workers,
      publishDataset,
      getDataset,
      getDatasetValue,
      unpublishDataset,
      listDatasets,
      retry: (keys) => Extensions.retry(extensions, keys),
      restart: (timeout) => Extensions.restart(extensions, timeout),
      run: (callable, args, on) => Extensions.run(extensions, callable, args, on),
      coordination: Extensions.coordination(extensions)
    } satisfies Session
  })
