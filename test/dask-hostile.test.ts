/**
 * The Dask backend against a hostile peer: a Node TCP server in this process
 * that speaks Dask framing and answers each request the way a broken or
 * malicious scheduler would. Each case ends in a typed error within the
 * configured bound: a `DecodeError` within the decode budget (the process's
 * RSS staying under twice the budget), or a `RequestTimeoutError` within the
 * request timeout.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as net from "node:net"
import { afterEach, assert, describe, it } from "vitest"
import * as DaskScheduler from "../src/DaskScheduler.js"
import { DecodeError, RequestTimeoutError } from "../src/Errors.js"
import { Scheduler, type Session } from "../src/Scheduler.js"
import { encodeFrames, FrameReader } from "../src/internal/wire/framing.js"
import * as Lz4 from "../src/internal/wire/lz4.js"
import { decodeMessage, encodeMessage, Serialized } from "../src/internal/wire/message.js"
import { PyGlobal, PyObject, writePickle } from "../src/internal/wire/pickle.js"

const MiB = 1024 * 1024

/** What the peer does with one request (`undefined`: never answer). */
type Handler = (request: Record<string, unknown>, socket: net.Socket) => void

const frame = (message: unknown): Uint8Array => encodeFrames(encodeMessage(message))

const write = (socket: net.Socket, bytes: Uint8Array) => {
  if (!socket.destroyed) socket.write(bytes)
}

/** Writes `bytes` lazily in 1 MiB pieces with backpressure, so the peer does not hold the whole message. */
const writeLazily = async (socket: net.Socket, size: number, piece: (offset: number, length: number) => Uint8Array) => {
  for (let offset = 0; offset < size && !socket.destroyed; offset += MiB) {
    const ok = socket.write(piece(offset, Math.min(MiB, size - offset)))
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off("drain", done).off("close", done)
          resolve()
        }
        socket.on("drain", done).on("close", done)
      })
    }
  }
}

interface Peer {
  readonly address: string
  readonly requests: Array<string>
  readonly close: () => Promise<void>
}

const peers: Array<Peer> = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()))
})

/**
 * A Dask-speaking peer: handshake first (the listening side speaks first),
 * `versions` and `register-client` answered as 2022.12.1 unless `handlers`
 * says otherwise.
 */
const startPeer = (handlers: Record<string, Handler | undefined>): Promise<Peer> =>
  new Promise((resolve) => {
    const sockets = new Set<net.Socket>()
    const requests: Array<string> = []
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => {})
      write(socket, frame({ compression: null, python: [3, 11, 2], "pickle-protocol": 5 }))
      const reader = new FrameReader({ maxMessageBytes: 64 * MiB })
      let hello = false
      socket.on("data", (chunk) => {
        const pushed = reader.push(new Uint8Array(chunk))
        if (Either.isLeft(pushed)) return socket.destroy()
        for (const frames of pushed.right) {
          const decoded = decodeMessage(frames)
          if (Either.isLeft(decoded)) return socket.destroy()
          if (!hello) {
            hello = true
            continue
          }
          const ops = Array.isArray(decoded.right) ? decoded.right : [decoded.right]
          for (const op of ops as Array<Record<string, unknown>>) {
            const name = String(op.op)
            requests.push(name)
            if (name in handlers) {
              handlers[name]?.(op, socket)
            } else if (name === "versions") {
              write(socket, frame({ packages: { distributed: "2022.12.1", python: "3.11.2" } }))
            } else if (name === "identity") {
              write(socket, frame({ type: "Scheduler", id: "Scheduler-hostile", workers: {} }))
            } else if (name === "register-client") {
              write(socket, frame([{ op: "stream-start" }]))
            } else if (name === "close-stream") {
              socket.end()
            }
          }
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      const peer: Peer = {
        address: `tcp://127.0.0.1:${port}`,
        requests,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          })
      }
      peers.push(peer)
      resolve(peer)
    })
  })

const options = (peer: Peer, extra?: DaskScheduler.Options): DaskScheduler.Options => ({
  address: peer.address,
  connectTimeout: "2 seconds",
  reconnect: undefined,
  ...extra
})

/** Connects a session to the peer and runs `f` with it. */
const withSession = <A, E>(
  peer: Peer,
  f: (session: Session) => Effect.Effect<A, E>,
  extra?: DaskScheduler.Options
): Promise<Exit.Exit<A, unknown>> =>
  Effect.runPromiseExit(
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const session = yield* scheduler.connect("client-hostile", () => {})
      return yield* f(session)
    }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer(options(peer, extra))))
  )

const failure = (exit: Exit.Exit<unknown, unknown>): unknown => {
  assert.isTrue(Exit.isFailure(exit), `expected a failure, got ${JSON.stringify(exit)}`)
  const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
  assert.isDefined(error, `expected a typed failure, got ${String(Exit.isFailure(exit) ? exit.cause : exit)}`)
  return error
}

const gatherReply = (data: Record<string, unknown>) => frame({ status: "OK", data })

// --- memory --------------------------------------------------------------------------------

/** Peak RSS growth while `run` runs: the process's peak RSS after it minus the RSS before. */
const measurePeak = async <A>(run: () => Promise<A>): Promise<{ readonly result: A; readonly growth: number }> => {
  ;(globalThis as { gc?: () => void }).gc?.()
  const before = process.memoryUsage().rss
  const result = await run()
  // Conservative: if an earlier peak of the process was higher, this overstates the growth.
  const peakAfter = process.resourceUsage().maxRSS * 1024
  return { result, growth: Math.max(0, peakAfter - before) }
}

const report: Array<string> = []
afterEach(() => {
  if (report.length > 0) console.log(report.splice(0).join("\n"))
})

describe("hostile peer: decode budget", () => {
  it("a gather reply of two stride-0 numpy |S1 arrays of 16 Mi elements is a DecodeError within the budget", async () => {
    const budget = 64 * MiB
    const numpy = new Serialized(
      {
        serializer: "dask",
        type: "numpy.ndarray",
        "sub-header": { dtype: [0, "|S1"], shape: [16 * MiB], strides: [0], writeable: [false] }
      },
      [new Uint8Array([0x41])]
    )
    const peer = await startPeer({
      gather: (request, socket) => {
        const keys = request.keys as Array<string>
        // the second request (after the failure) gets a small, valid reply: the comm carries on
        if (keys[0] === "ok") return write(socket, gatherReply({ ok: new Serialized({ serializer: "msgpack" }, [encodeMessage(7)[0]!]) }))
        write(socket, gatherReply({ a: numpy, b: numpy }))
      }
    })
    const wire = frame({ status: "OK", data: { a: numpy, b: numpy } }).length
    const { result: exit, growth } = await measurePeak(() =>
      withSession(peer, (session) =>
        Effect.gen(function*() {
          const first = yield* Effect.either(session.gather(["a", "b"]))
          const second = yield* session.gather(["ok"])
          return { first, second }
        }), { maxDecodedBytes: budget })
    )
    assert.isTrue(Exit.isSuccess(exit), String(exit))
    const { first, second } = (exit as Exit.Success<{ first: Either.Either<unknown, unknown>; second: ReadonlyMap<string, unknown> }, never>).value
    assert.isTrue(Either.isLeft(first))
    const error = (first as Either.Left<unknown, unknown>).left
    assert.instanceOf(error, DecodeError)
    assert.strictEqual((error as DecodeError).serializer, "numpy")
    assert.include((error as DecodeError).message, String(budget))
    assert.strictEqual(second.get("ok"), 7)
    // one comm did both: the over-budget reply did not close it
    assert.strictEqual(peer.requests.filter((r) => r === "versions").length, 1)
    assert.isBelow(growth, 2 * budget)
    report.push(`numpy stride-0: ${wire} bytes on the wire, RSS growth ${(growth / MiB).toFixed(1)} MiB, budget ${budget / MiB} MiB`)
  })

  it("four lz4 blocks of 250 MiB each (~4 MB on the wire) are a DecodeError within the budget", async () => {
    const budget = 64 * MiB
    const size = 250 * MiB
    // One literal, one match of (size - 6) bytes at offset 1, then the 5 closing literals.
    const matchLength = size - 6
    const extra = matchLength - 4 - 15
    const block = new Uint8Array(1 + 1 + 2 + Math.floor(extra / 255) + 1 + 1 + 5)
    let p = 0
    block[p++] = 0x1f // 1 literal, match length 15+
    block[p++] = 0x41
    block[p++] = 1 // offset 1
    block[p++] = 0
    let rest = extra
    while (rest >= 255) {
      block[p++] = 255
      rest -= 255
    }
    block[p++] = rest
    block[p++] = 0x50 // 5 literals, no match
    block.fill(0x41, p, p + 5)
    const compressed = new Uint8Array(4 + block.length)
    new DataView(compressed.buffer).setUint32(0, size, true)
    compressed.set(block, 4)
    const bomb = new Serialized(
      { serializer: "dask", type: "bytes", "sub-header": {}, compression: ["lz4", "lz4", "lz4", "lz4"] },
      [compressed, compressed, compressed, compressed]
    )
    const peer = await startPeer({ gather: (_, socket) => write(socket, gatherReply({ x: bomb })) })
    const { result: exit, growth } = await measurePeak(() =>
      withSession(peer, (session) => session.gather(["x"]), { maxDecodedBytes: budget })
    )
    const error = failure(exit)
    assert.instanceOf(error, DecodeError)
    assert.strictEqual((error as DecodeError).serializer, "lz4")
    assert.include((error as DecodeError).message, String(budget))
    assert.isBelow(growth, 2 * budget)
    report.push(`lz4 bomb: ${4 * compressed.length} bytes on the wire, RSS growth ${(growth / MiB).toFixed(1)} MiB, budget ${budget / MiB} MiB`)
    // The bomb is valid lz4: a generous budget decodes one block to the declared size. Checked
    // after the measurement, whose peak RSS would otherwise be this decode's 250 MiB (whenever
    // the collector had given them back before the measurement started).
    assert.strictEqual(Either.getOrThrow(Lz4.decompress(compressed, size)).length, size)
  })

  it("a 60 MB msgpack array of 60 M empty maps is a DecodeError within the budget, fast", async () => {
    const budget = 128 * MiB
    const count = 60_000_000
    // frame_0 = array32 header + 60 M × fixmap(0); sent lazily in 1 MiB pieces
    const body = 5 + count
    const prelude = new Uint8Array(24)
    const view = new DataView(prelude.buffer)
    view.setUint32(0, 8 + 8 + body, true)
    view.setUint32(8, 1, true)
    view.setUint32(16, body, true)
    const header = new Uint8Array([0xdd, (count >>> 24) & 255, (count >>> 16) & 255, (count >>> 8) & 255, count & 255])
    const peer = await startPeer({
      gather: (_, socket) => {
        write(socket, prelude)
        write(socket, header)
        const piece = new Uint8Array(MiB).fill(0x80) // one buffer, written again and again
        void writeLazily(socket, count, (_, length) => piece.subarray(0, length))
      }
    })
    const started = performance.now()
    const { result: exit, growth } = await measurePeak(() =>
      withSession(peer, (session) => session.gather(["x"]), { maxDecodedBytes: budget, maxMessageBytes: 256 * MiB })
    )
    const elapsed = performance.now() - started
    const error = failure(exit)
    assert.instanceOf(error, DecodeError)
    assert.strictEqual((error as DecodeError).serializer, "msgpack")
    assert.include((error as DecodeError).message, String(budget))
    assert.isBelow(growth, 2 * budget)
    report.push(`msgpack 60 M maps: ${body} bytes, RSS growth ${(growth / MiB).toFixed(1)} MiB, budget ${budget / MiB} MiB, ${elapsed.toFixed(0)} ms`)
  })

  it("a crafted builtins.eval REDUCE in a pickled result is a DecodeError naming the type", async () => {
    const evil = writePickle(new PyObject(new PyGlobal("builtins", "eval"), ["__import__('os').system('true')"]))
    const peer = await startPeer({
      gather: (_, socket) => write(socket, gatherReply({ x: new Serialized({ serializer: "pickle" }, [evil]) }))
    })
    const error = failure(await withSession(peer, (session) => session.gather(["x"])))
    assert.instanceOf(error, DecodeError)
    assert.strictEqual((error as DecodeError).serializer, "pickle")
    assert.include((error as DecodeError).message, "builtins.eval")
  })
})

describe("hostile peer: deadlines", () => {
  const timeout = 400

  const timed = async (run: () => Promise<Exit.Exit<unknown, unknown>>) => {
    const started = performance.now()
    const exit = await run()
    return { error: failure(exit), elapsed: performance.now() - started }
  }

  it("a peer that never answers versions: RequestTimeoutError naming the address and versions", async () => {
    const peer = await startPeer({ versions: undefined })
    const { error, elapsed } = await timed(() =>
      withSession(peer, () => Effect.void, { requestTimeout: Duration.millis(timeout) })
    )
    assert.instanceOf(error, RequestTimeoutError)
    const e = error as RequestTimeoutError
    assert.strictEqual(e.address, peer.address)
    assert.strictEqual(e.request, "versions")
    assert.strictEqual(e.reason, "NoReply")
    assert.include(e.message, "versions")
    assert.isAtLeast(elapsed, timeout)
    assert.isBelow(elapsed, timeout * 10)
    report.push(`versions never answered: RequestTimeoutError after ${elapsed.toFixed(0)} ms (timeout ${timeout} ms)`)
  })

  it("a peer that stalls a gather: RequestTimeoutError naming gather", async () => {
    const peer = await startPeer({ gather: undefined })
    const { error, elapsed } = await timed(() =>
      withSession(peer, (session) => session.gather(["x"]), { requestTimeout: Duration.millis(timeout) })
    )
    assert.instanceOf(error, RequestTimeoutError)
    assert.strictEqual((error as RequestTimeoutError).request, "gather")
    assert.isAtLeast(elapsed, timeout)
    assert.isBelow(elapsed, timeout * 10)
    report.push(`gather stalled: RequestTimeoutError after ${elapsed.toFixed(0)} ms (timeout ${timeout} ms)`)
  })

  it("half a frame: RequestTimeoutError (StalledFrame)", async () => {
    const peer = await startPeer({
      gather: (_, socket) => {
        const whole = gatherReply({ x: 1 })
        write(socket, whole.subarray(0, Math.floor(whole.length / 2)))
      }
    })
    const { error, elapsed } = await timed(() =>
      withSession(peer, (session) => session.gather(["x"]), { requestTimeout: Duration.millis(timeout) })
    )
    assert.instanceOf(error, RequestTimeoutError)
    assert.strictEqual((error as RequestTimeoutError).reason, "StalledFrame")
    assert.strictEqual((error as RequestTimeoutError).request, "gather")
    assert.isBelow(elapsed, timeout * 10)
    report.push(`half a frame: RequestTimeoutError after ${elapsed.toFixed(0)} ms (timeout ${timeout} ms)`)
  })

  it("a large reply that keeps arriving slowly is not stalled", async () => {
    // 8 pieces, one every timeout/2: the whole reply takes 2× the timeout and still arrives.
    const whole = gatherReply({ x: new Serialized({ serializer: "msgpack" }, [encodeMessage("y".repeat(4096))[0]!]) })
    const peer = await startPeer({
      gather: (_, socket) => {
        const pieces = 8
        const n = Math.ceil(whole.length / pieces)
        let i = 0
        const next = () => {
          if (i >= pieces || socket.destroyed) return
          write(socket, whole.subarray(i * n, (i + 1) * n))
          i++
          setTimeout(next, timeout / 2)
        }
        next()
      }
    })
    const exit = await withSession(peer, (session) => session.gather(["x"]), { requestTimeout: Duration.millis(timeout) })
    assert.isTrue(Exit.isSuccess(exit), String(exit))
    assert.strictEqual((exit as Exit.Success<ReadonlyMap<string, unknown>, never>).value.get("x"), "y".repeat(4096))
  })

  it("a listener that never speaks (as a TLS one waits for a ClientHello): the error says the scheduler may require tls://", async () => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((s) => {
      sockets.add(s)
      s.on("error", () => {})
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const address = `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`
    peers.push({
      address,
      requests: [],
      close: () =>
        new Promise((done) => {
          for (const s of sockets) s.destroy()
          server.close(() => done())
        })
    })
    const exit = await Effect.runPromiseExit(
      Effect.gen(function*() {
        const scheduler = yield* Scheduler
        return yield* scheduler.connect("client-tls", () => {})
      }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address, connectTimeout: "300 millis", reconnect: undefined })))
    )
    const error = failure(exit) as { cause?: unknown; message: string }
    assert.include(String(error.cause), "the scheduler may require tls://")
  })
})
