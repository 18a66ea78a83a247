/**
 * The hot-path shapes of the protocol and the client: report delivery through
 * the inbox, one prepared form per call, fan-in dedup, impure keys.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Tracer } from "effect"
import { Client, EmbeddedScheduler, Errors, Future, Task } from "../src/index.js"
import { type ClientImpl, Inbox } from "../src/internal/client.js"
import { PreparedCall, prepareCall, updateGraph2022, updateGraph2024 } from "../src/internal/dask/graph.js"
import { KeyGen } from "../src/internal/tokenize.js"
import { DecodeBudget } from "../src/internal/wire/budget.js"
import { decodeMessage, deserialize, deserializeOr, encodeMessage, encodeMsgpack, Serialized } from "../src/internal/wire/message.js"
import { type PyObject, readPickle } from "../src/internal/wire/pickle.js"
import type { ClientMessage, SchedulerReport, Session } from "../src/Scheduler.js"
import { KeyRef, Scheduler } from "../src/Scheduler.js"
import { nullSession } from "../bench/nullScheduler.js"

const inc = Task.make("inc", (x: number) => x + 1, { python: "test_utils.inc" })
const sum = Task.make("sum", (...xs: Array<number>) => xs.reduce((a, b) => a + b, 0), { python: "builtins.sum" })
const addImpure = Task.make("add", (x: number, y: number) => x + y, { pure: false })

const inMemory = (key: string): SchedulerReport => ({ _tag: "KeyInMemory", key })

describe("Inbox", () => {
  it("processes reports in order once per microtask, a report delivered during the pass in the same pass", async () => {
    const inbox = new Inbox()
    const seen: Array<string> = []
    let depth = 0
    let maxDepth = 0
    inbox.attach((r) => {
      depth++
      maxDepth = Math.max(maxDepth, depth)
      if (r._tag === "KeyInMemory") {
        seen.push(r.key)
        // A backend answering synchronously from inside the handler (e.g. a desire sent on reconnect).
        if (r.key === "a") inbox.sink(inMemory("c"))
      }
      depth--
    })
    inbox.sink(inMemory("a"))
    inbox.sink(inMemory("b"))
    assert.deepStrictEqual(seen, [], "nothing is processed inside the backend's call")
    await Promise.resolve()
    assert.deepStrictEqual(seen, ["a", "b", "c"])
    assert.strictEqual(maxDepth, 1, "never re-entrant")
  })

  it("a defect in one report is handed to onDefect and the pass goes on", async () => {
    const inbox = new Inbox()
    const seen: Array<string> = []
    const defects: Array<unknown> = []
    inbox.onDefect = (d) => defects.push(d)
    inbox.attach((r) => {
      if (r._tag === "KeyInMemory" && r.key === "bad") throw new Error("boom")
      if (r._tag === "KeyInMemory") seen.push(r.key)
    })
    inbox.sink(inMemory("bad"))
    inbox.sink(inMemory("ok"))
    await Promise.resolve()
    assert.deepStrictEqual(seen, ["ok"])
    assert.strictEqual(defects.length, 1)
  })

  it("reports delivered before attach are processed after it; nothing after detach", async () => {
    const inbox = new Inbox()
    const seen: Array<string> = []
    inbox.sink(inMemory("early"))
    inbox.attach((r) => r._tag === "KeyInMemory" && seen.push(r.key))
    await Promise.resolve()
    inbox.detach()
    inbox.sink(inMemory("late"))
    await Promise.resolve()
    assert.deepStrictEqual(seen, ["early"])
  })
})

describe("prepared calls (Dask graph)", () => {
  it("update-graph uses the prepared form as is, for each dialect", () => {
    for (const dialect of ["2022.12", "2024.12"] as const) {
      const args = [new KeyRef("x-1"), { n: [1, 2] }]
      const prepared = prepareCall(sum, args, dialect)
      assert.instanceOf(prepared, PreparedCall)
      const spec = { key: "s-1", task: sum, args, dependencies: ["x-1"], prepared }
      if (dialect === "2022.12") {
        const message = updateGraph2022([spec], ["s-1"], "c")
        assert(message._tag === "Right")
        assert.strictEqual((message.right.tasks as Map<string, unknown>).get("s-1"), (prepared as PreparedCall).payload)
        assert.deepStrictEqual((message.right.dependencies as Map<string, unknown>).get("s-1"), ["x-1"])
        // The branch without a KeyRef is a copy (packed at the stream's flush, it must not change with the user's).
        const sent = ((prepared as PreparedCall).payload as { args: Array<unknown> }).args[1]
        assert.deepStrictEqual(sent, args[1])
        assert.notStrictEqual(sent, args[1])
      } else {
        assert(updateGraph2024([spec], ["s-1"], "c")._tag === "Right")
      }
    }
  })

  it("what is sent is what was submitted: arguments changed after prepare, before the message is packed, change nothing", () => {
    for (const dialect of ["2022.12", "2024.12"] as const) {
      const xs = [1, 2, [3]]
      const object = { a: [1], b: { c: "d" } }
      const bytes = new Uint8Array([1, 2, 3])
      const map = new Map([["k", [1]]])
      const buffer = Buffer.from([7, 8])
      const args = [xs, object, bytes, map, buffer]
      const expected = structuredClone(args)
      const prepared = prepareCall(sum, args, dialect)
      assert.instanceOf(prepared, PreparedCall)
      const spec = { key: "s-3", task: sum, args, dependencies: [], prepared }
      const op = Either.getOrThrow(dialect === "2022.12" ? updateGraph2022([spec], ["s-3"], "c") : updateGraph2024([spec], ["s-3"], "c"))
      // As the user may between submit and the stream's flush (2022.12 packs then).
      xs[0] = 100
      ;(xs[2] as Array<number>).push(4)
      object.a.push(2)
      object.b.c = "changed"
      bytes[0] = 50
      map.get("k")!.push(2)
      map.set("new", [])
      buffer[0] = 0
      const [message] = Either.getOrThrow(decodeMessage(encodeMessage([op]))) as [Record<string, unknown>]
      if (dialect === "2022.12") {
        const runSpec = (message["tasks"] as Record<string, { args: Array<unknown> }>)["s-3"]!
        assert.deepStrictEqual(runSpec.args.slice(0, 3), expected.slice(0, 3))
        assert.deepStrictEqual(runSpec.args[3], { k: [1] })
        assert.deepStrictEqual(Array.from(runSpec.args[4] as Uint8Array), [7, 8])
      } else {
        const graph = (message["graph_frames"] as Array<Uint8Array>)[0]!
        const hlg = (Either.getOrThrow(readPickle(graph)) as PyObject).args[0] as PyObject
        const task = ((hlg.args[0] as Record<string, unknown>)["ts-graph"] as Record<string, Array<unknown>>)["s-3"]!
        assert.deepStrictEqual(task.slice(1, 4), expected.slice(0, 3))
        assert.deepStrictEqual(task[4], { k: [1] })
        assert.deepStrictEqual(Array.from(task[5] as Uint8Array), [7, 8])
      }
    }
  })

  it("a call prepared for the other dialect is prepared again (and refused) at send", () => {
    const args = [{ "__Set__": 1 }]
    const prepared = prepareCall(sum, args, "2024.12")
    assert.instanceOf(prepared, PreparedCall)
    const encoded = updateGraph2022([{ key: "s-2", task: sum, args, dependencies: [], prepared }], ["s-2"], "c")
    assert(encoded._tag === "Left")
    assert.instanceOf(encoded.left, Errors.UnsupportedTaskError)
    assert.include(encoded.left.message, "__Set__")
  })

  it("prepare refuses an argument Python cannot receive", () => {
    assert.instanceOf(prepareCall(sum, [() => 1], "2022.12"), Errors.UnsupportedTaskError)
    assert.instanceOf(prepareCall(Task.python("not a callable"), [], "2024.12"), Errors.UnsupportedTaskError)
  })
})

/** A backend that records messages and refuses every update-graph, as a Dask session that gave up reconnecting. */
const refusing = (sent: Array<ClientMessage>) =>
  Layer.succeed(Scheduler, Scheduler.of({
    address: "refusing://",
    connect: (clientId) =>
      Effect.succeed({
        ...nullSession(clientId),
        send: (message) => {
          sent.push(message)
          return message._tag === "UpdateGraph" ? new Errors.ConnectionLostError({ address: "refusing://" }) : undefined
        },
        keyStatus: () => Effect.succeed(new Map())
      } satisfies Session)
  }))

describe("send failures", () => {
  it.effect("an update-graph the backend cannot send fails the submit with its error and holds nothing", () => {
    const sent: Array<ClientMessage> = []
    return Effect.gen(function*() {
      const client = yield* Client.make()
      const exit = yield* Effect.exit(Effect.scoped(Client.withClient(Client.map(inc, [1, 2, 3]), client)))
      assert(exit._tag === "Failure")
      const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      assert.instanceOf(error, Errors.ConnectionLostError)
      assert.strictEqual((client as ClientImpl).states.size, 0)
      assert.deepStrictEqual(sent.map((m) => m._tag), ["UpdateGraph"], "no release for keys the scheduler never saw")
    }).pipe(Effect.scoped, Effect.provide(refusing(sent)))
  })
})

describe("fan-in", () => {
  /** Submits one task on `n` distinct finished futures and waits for it; returns the wall time of the submit alone. */
  const fanIn = (n: number) =>
    Effect.gen(function*() {
      const parts = yield* Client.map(inc, Array.from({ length: n }, (_, i) => i))
      yield* Client.wait(parts)
      const t0 = performance.now()
      const total = yield* Client.submit(sum, ...parts)
      const t = performance.now() - t0
      assert.strictEqual(yield* Future.result(total), (n * (n + 1)) / 2)
      return t
    }).pipe(Effect.scoped)

  // Not a speed test: the per-dependency cost at 50k against the cost at 500, best of a few runs
  // each, in the same test. A walk over the dependencies per dependency (the old `deps.some`)
  // makes that ratio about 100; linear work keeps it near 1 (GC and cache effects: a few).
  it.effect("a 50k-dependency submit costs per dependency about what a 500 one does", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* fanIn(500) // warm up
      let small = Infinity
      for (let i = 0; i < 7; i++) small = Math.min(small, yield* fanIn(500))
      let large = Infinity
      for (let i = 0; i < 3; i++) large = Math.min(large, yield* fanIn(50_000))
      const ratio = (large / 50_000) / (small / 500)
      assert.isBelow(ratio, 15, `per-dependency cost at 50k is ${ratio.toFixed(1)}× the cost at 500`)
    }).pipe(Effect.provide(Client.layer()), Effect.provide(EmbeddedScheduler.layer())), 120_000)

  it.effect("a future passed many times is one dependency, in first-seen order", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Client.map(inc, [1, 2])
      const xs = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a! : b!))
      const total = yield* Client.submit(sum, ...xs)
      assert.strictEqual(yield* Future.result(total), 20 * 2 + 20 * 3)
      const snap = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
      assert.deepStrictEqual(snap.tasks.get(total.key)?.dependencies, [a!.key, b!.key])
    }).pipe(Effect.scoped, Effect.provide(Client.layer()), Effect.provide(EmbeddedScheduler.layer())))
})

describe("impure keys", () => {
  it("are name-<32 hex>, distinct, with a prefix per generator", () => {
    const a = new KeyGen()
    const b = new KeyGen()
    const ka = Array.from({ length: 1000 }, () => a.next("add"))
    const kb = b.next("add")
    for (const k of ka) assert.match(k, /^add-[0-9a-f]{32}$/)
    assert.strictEqual(new Set(ka).size, 1000)
    assert.notStrictEqual(ka[0]!.slice(4, 28), kb.slice(4, 28))
  })

  it.effect("two impure calls with equal arguments get distinct keys", () =>
    Effect.gen(function*() {
      const [x, y] = yield* Client.map(addImpure, [1, 1], [2, 2])
      assert.notStrictEqual(x!.key, y!.key)
    }).pipe(Effect.scoped, Effect.provide(Client.layer()), Effect.provide(EmbeddedScheduler.layer())))
})

describe("spans", () => {
  it.effect("with a tracer installed, submit and map make their spans", () =>
    Effect.gen(function*() {
      const base = yield* Effect.tracer
      const names: Array<string> = []
      const recording = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          names.push(name)
          return base.span(name, parent, context, links, startTime, kind, options)
        },
        context: base.context
      })
      yield* Effect.withTracer(Client.submit(inc, 2), recording)
      yield* Effect.withTracer(Client.map(inc, [3]), recording)
      assert.deepStrictEqual(names, ["effect-dask.submit", "effect-dask.map"])
    }).pipe(Effect.scoped, Effect.provide(Client.layer()), Effect.provide(EmbeddedScheduler.layer())))
})

describe("receive path", () => {
  it("a sub-header repeated per key is decoded once and shared; a different one is decoded on its own", () => {
    const header = encodeMsgpack({ serializer: "msgpack", "num-sub-frames": 1 })
    const other = encodeMsgpack({ serializer: "msgpack", compression: [null], "num-sub-frames": 1 })
    const frames = [
      encodeMsgpack({ status: "OK", data: { a: { "__Serialized__": 1 }, b: { "__Serialized__": 3 }, c: { "__Serialized__": 5 } } }),
      header,
      encodeMsgpack(1),
      header.slice(),
      encodeMsgpack(2),
      other,
      encodeMsgpack(3)
    ]
    const decoded = decodeMessage(frames)
    assert(decoded._tag === "Right")
    const data = (decoded.right as { data: Record<string, Serialized> }).data
    assert.strictEqual(data.a!.header, data.b!.header)
    assert.deepStrictEqual(data.c!.header, { serializer: "msgpack", compression: [null], "num-sub-frames": 1 })
    assert.deepStrictEqual(["a", "b", "c"].map((k) => deserialize(data[k]!)), [1, 2, 3].map((v) => Either.right(v)))
  })

  it("deserializeOr gives deserialize's value or error and charges the budget the same", () => {
    const headers = [
      { serializer: "msgpack", "num-sub-frames": 1 },
      { serializer: "msgpack", compression: [null], "num-sub-frames": 1 },
      { serializer: "msgpack", compression: null, "num-sub-frames": 1 },
      { serializer: "msgpack", compression: ["zstd"], "num-sub-frames": 1 },
      // what a Dask worker sends
      { serializer: "msgpack", "split-num-sub-frames": [1], "split-offsets": [0], compression: [null], "num-sub-frames": 1 },
      { serializer: "msgpack", "split-num-sub-frames": [1], "split-offsets": [1], "num-sub-frames": 1 },
      { serializer: "msgpack", "split-num-sub-frames": [2], "split-offsets": [0], "num-sub-frames": 1 },
      { serializer: "pickle", "num-sub-frames": 1 }
    ]
    const frames = [
      ...[0, 1, 127, -1, -32, -33, 128, null, true, false, "s", "x".repeat(300), [1, [2]], { a: 1 }, 2 ** 40, 1.5].map((v) => encodeMsgpack(v)),
      new Uint8Array([0xc1]),
      new Uint8Array([0x92, 0x01]),
      new Uint8Array([0x80]),
      new Uint8Array([0x90, 0x00])
    ]
    for (const header of headers) {
      for (const frame of frames) {
        for (const limit of [1_000_000, 100, 0]) {
          const value = new Serialized(header, [frame])
          const a = new DecodeBudget(limit)
          const b = new DecodeBudget(limit)
          const fast = deserializeOr(value, a)
          const slow = deserialize(value, { budget: b })
          assert.deepStrictEqual(fast, Either.isRight(slow) ? slow.right : slow.left, `${JSON.stringify(header)} ${Buffer.from(frame).toString("hex").slice(0, 20)} ${limit}`)
          assert.strictEqual(a.used, b.used)
          assert.isAtMost(a.used, limit)
        }
      }
    }
  })

  it("a marker key at any depth is still revived; a message without one is returned as decoded", () => {
    const set = { "__Set__": true, "as-list": [1, 2] }
    const nested = encodeMsgpack([{ op: "a", deep: { x: [[{ y: set }]] } }, { op: "b", key: "k" }])
    const decoded = decodeMessage([nested])
    assert(decoded._tag === "Right")
    assert.deepStrictEqual(decoded.right, [{ op: "a", deep: { x: [[{ y: [1, 2] }]] } }, { op: "b", key: "k" }])
    // under a map with non-string keys
    const mixed = decodeMessage([encodeMsgpack(new Map<unknown, unknown>([[1, { s: set }]]))])
    assert(mixed._tag === "Right")
    assert.deepStrictEqual(mixed.right, new Map([[1, { s: [1, 2] }]]))
    // keys that only start like a marker stay as they are
    const plain = decodeMessage([encodeMsgpack([{ op: "key-in-memory", key: "k", "_x": 1, "__": { "__a": null } }])])
    assert(plain._tag === "Right")
    assert.deepStrictEqual(plain.right, [{ op: "key-in-memory", key: "k", "_x": 1, "__": { "__a": null } }])
  })
})

