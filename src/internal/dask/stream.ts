/**
 * The client stream: `register-client`, then batches of ops in both
 * directions. Outgoing ops wait in an {@link Outbox} that outlives any one
 * comm; a writer fiber per comm drains it in order. An idle stream sends at
 * once; when more ops arrived while a batch was being written, the writer
 * waits `batchInterval` and sends them as one batch.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { ConnectionLostError, ProtocolError } from "../../Errors.js"
import * as Connection from "../wire/connection.js"
import { field } from "../wire/rpc.js"

/** A Dask stream op: `{op, ...fields}`. @internal */
export type Op = { readonly op: string; readonly [field: string]: unknown }

interface KeysOp {
  readonly op: "client-desires-keys" | "client-releases-keys"
  readonly keys: Array<unknown>
  readonly client: string
}

/**
 * Ordered outgoing ops. Consecutive `client-desires-keys` (or
 * `client-releases-keys`) for the same client become one op.
 *
 * @internal
 */
export class Outbox {
  private buffer: Array<Op> = []
  /** `seqs[i]`: the push count when `buffer[i]` was last added to. */
  private seqs: Array<number> = []
  private wake: (() => void) | undefined = undefined
  /** Pushes so far / pushes handed to a comm so far. */
  private pushed = 0
  private taken = 0
  private waiters: Array<{ readonly seq: number; readonly resume: () => void }> = []

  /**
   * @param chunk Most keys in one desires/releases op, and in one written
   *   batch. A release of many keys then reaches the scheduler as several
   *   reads, so its `free-keys` to the workers start while it still works
   *   through the rest.
   */
  constructor(readonly chunk: number = 10_000) {}

  get size(): number {
    return this.buffer.length
  }

  push(op: Op): void {
    this.buffer.push(op)
    this.seqs.push(++this.pushed)
    this.signal()
  }

  /** Pushes a desires/releases op, merging it into the previous one while it has room. */
  pushKeys(op: "client-desires-keys" | "client-releases-keys", keys: ReadonlyArray<unknown>, client: string): void {
    let i = 0
    const n = this.buffer.length
    const last = n > 0 ? this.buffer[n - 1] as unknown as KeysOp : undefined
    if (last !== undefined && last.op === op && last.client === client && last.keys.length < this.chunk) {
      const room = Math.min(this.chunk - last.keys.length, keys.length)
      for (; i < room; i++) last.keys.push(keys[i])
      this.seqs[n - 1] = ++this.pushed
      this.signal()
    }
    while (i < keys.length) {
      const end = Math.min(i + this.chunk, keys.length)
      this.push({ op, keys: keys.slice(i, end), client } satisfies KeysOp)
      i = end
    }
  }

  /**
   * Removes `key` from the newest queued `client-releases-keys` of `client`
   * that holds it. `true` when found: that release will never be written.
   */
  retract(key: unknown, client: string): boolean {
    for (let i = this.buffer.length - 1; i >= 0; i--) {
      const op = this.buffer[i] as unknown as KeysOp
      if (op.op !== "client-releases-keys" || op.client !== client) continue
      const at = op.keys.indexOf(key)
      if (at < 0) continue
      op.keys.splice(at, 1)
      return true
    }
    return false
  }

  /** Takes the next batch (the writer's side): everything queued, but at most `chunk` keys of desires/releases. */
  take(): Array<Op> {
    let end = 0
    let keys = 0
    while (end < this.buffer.length) {
      const op = this.buffer[end]!
      if (op.op === "client-releases-keys" || op.op === "client-desires-keys") {
        const count = (op as unknown as KeysOp).keys.length
        if (end > 0 && keys + count > this.chunk) break
        keys += count
      }
      end++
    }
    let batch: Array<Op>
    if (end === this.buffer.length) {
      batch = this.buffer
      this.buffer = []
      this.seqs = []
      this.taken = this.pushed
    } else {
      batch = this.buffer.splice(0, end)
      this.taken = this.seqs.splice(0, end)[end - 1]!
    }
    return batch
  }

  /** Drops what is queued: those ops belonged to a registration that is gone. */
  clear(): void {
    this.buffer = []
    this.seqs = []
    this.taken = this.pushed
    this.releaseWaiters()
  }

  /** Called by the writer after a batch is on the socket. */
  written(): void {
    this.releaseWaiters()
  }

  /** Waits until everything pushed before this call has been written (or dropped). */
  readonly sync: Effect.Effect<void> = Effect.suspend(() => {
    const seq = this.pushed
    if (this.taken >= seq) return Effect.void
    return Effect.async<void>((resume) => {
      const waiter = { seq, resume: () => resume(Effect.void) }
      this.waiters.push(waiter)
      return Effect.sync(() => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) this.waiters.splice(i, 1)
      })
    })
  })

  /** Resumes when there is something to write. */
  readonly nonEmpty: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.buffer.length > 0) return resume(Effect.void)
    this.wake = () => resume(Effect.void)
    return Effect.sync(() => {
      this.wake = undefined
    })
  })

  private signal(): void {
    const wake = this.wake
    if (wake !== undefined) {
      this.wake = undefined
      wake()
    }
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) return
    const done = this.taken
    const keep: typeof this.waiters = []
    for (const w of this.waiters) {
      if (w.seq <= done) w.resume()
      else keep.push(w)
    }
    this.waiters = keep
  }
}

/** @internal */
export interface StreamOptions {
  readonly clientId: string
  /** The scheduler's `versions` reply, echoed so it prints no version warning. */
  readonly versions: unknown
  readonly maxMessageBytes: number
  readonly maxDecodedBytes: number
  readonly connectTimeout: Duration.Duration
  readonly requestTimeout: Duration.Duration
  readonly batchInterval: Duration.Duration
  readonly heartbeat: Duration.Duration
  /** Every op the scheduler sends after `stream-start`, in order. */
  readonly onOp: (op: unknown) => void
}

/** @internal */
export interface Stream {
  readonly connection: Connection.Connection
  /** Warning text from `stream-start` (version mismatches). */
  readonly warning: string
}

/**
 * Opens a comm, registers the client and starts its writer and heartbeat
 * fibers (both end with the scope).
 *
 * @internal
 */
export const register = (
  address: Connection.Address,
  outbox: Outbox,
  options: StreamOptions
): Effect.Effect<Stream, Connection.CommError, Scope.Scope> =>
  Effect.gen(function*() {
    const started = yield* Deferred.make<unknown, ProtocolError>()
    let registered = false
    const onMessage = (message: unknown) => {
      const ops = Array.isArray(message) ? message : [message]
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]
        if (registered) {
          options.onOp(op)
        } else if (field(op, "op") === "stream-start") {
          registered = true
          Deferred.unsafeDone(started, Effect.succeed(op))
        } else {
          Deferred.unsafeDone(
            started,
            Effect.fail(
              new ProtocolError({ reason: "UnexpectedReply", message: "register-client was not answered with stream-start" })
            )
          )
        }
      }
    }
    const connection = yield* Connection.connect(address, {
      maxMessageBytes: options.maxMessageBytes,
      maxDecodedBytes: options.maxDecodedBytes,
      connectTimeout: options.connectTimeout,
      // A half message on the stream is a stall; nothing else is awaited on it.
      requestTimeout: options.requestTimeout,
      name: "the stream",
      onMessage
    })
    yield* connection.write({
      op: "register-client",
      client: options.clientId,
      reply: false,
      versions: options.versions
    })
    const start = yield* Deferred.await(started).pipe(
      Effect.raceFirst(Deferred.await(connection.closed)),
      Effect.timeoutFail({
        duration: options.connectTimeout,
        onTimeout: () => new ConnectionLostError({ address: address.url, cause: "timed out waiting for stream-start" })
      })
    )
    const error = field(start, "error")
    if (typeof error === "string" && error !== "") {
      return yield* Effect.fail(new ProtocolError({ reason: "Handshake", message: `register-client refused: ${error}` }))
    }

    // The writer: an idle stream flushes at once; under load, batches.
    const batchMillis = Duration.toMillis(options.batchInterval)
    yield* Effect.forkScoped(Effect.forever(
      Effect.zipRight(
        outbox.nonEmpty,
        Effect.suspend(() => {
          const batch = outbox.take()
          return Effect.flatMap(
            // An op that cannot be encoded is a defect of ours: log it, keep the stream.
            Effect.catchAllDefect(connection.write(batch), (defect) =>
              Effect.logError("effect-dask: dropped a stream batch that could not be encoded", defect)),
            () => {
              outbox.written()
              return outbox.size > 0 && batchMillis > 0 ? Effect.sleep(batchMillis) : Effect.void
            }
          )
        })
      )
    ).pipe(Effect.ignore))

    yield* Effect.forkScoped(Effect.forever(
      Effect.zipRight(Effect.sleep(options.heartbeat), Effect.sync(() => outbox.push({ op: "heartbeat-client" })))
    ))

    const warning = field(start, "warning")
    return { connection, warning: typeof warning === "string" ? warning : "" }
  })

/**
 * Queues `close-client` + `close-stream` and waits (bounded) for the
 * scheduler to end the stream, which it does after processing both.
 *
 * @internal
 */
export const close = (stream: Stream, outbox: Outbox, timeout: Duration.Duration): Effect.Effect<void> => {
  outbox.push({ op: "close-client" })
  outbox.push({ op: "close-stream" })
  return Deferred.await(stream.connection.closed).pipe(
    Effect.ignore,
    Effect.timeout(timeout),
    Effect.ignore
  )
}
