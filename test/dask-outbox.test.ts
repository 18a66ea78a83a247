import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Outbox } from "../src/internal/dask/stream.js"

describe("Dask stream outbox", () => {
  it("keeps order and merges consecutive desires / releases of one client", () => {
    const o = new Outbox()
    o.push({ op: "update-graph", tasks: {} })
    o.pushKeys("client-releases-keys", ["a"], "c1")
    o.pushKeys("client-releases-keys", ["b", "c"], "c1")
    o.pushKeys("client-desires-keys", ["d"], "c1")
    o.pushKeys("client-desires-keys", ["e"], "fire-and-forget")
    o.pushKeys("client-releases-keys", ["f"], "c1")
    assert.deepStrictEqual(o.take(), [
      { op: "update-graph", tasks: {} },
      { op: "client-releases-keys", keys: ["a", "b", "c"], client: "c1" },
      { op: "client-desires-keys", keys: ["d"], client: "c1" },
      { op: "client-desires-keys", keys: ["e"], client: "fire-and-forget" },
      { op: "client-releases-keys", keys: ["f"], client: "c1" }
    ])
    assert.strictEqual(o.size, 0)
    assert.deepStrictEqual(o.take(), [])
  })

  it("retract withdraws a key from a queued release of that client only, and nothing once taken", () => {
    const o = new Outbox()
    o.pushKeys("client-releases-keys", ["a", "b"], "c1")
    o.pushKeys("client-desires-keys", ["a"], "c1")
    o.pushKeys("client-releases-keys", ["x"], "c2")
    assert.isFalse(o.retract("x", "c1"))
    assert.isFalse(o.retract("z", "c1"))
    assert.isTrue(o.retract("a", "c1"))
    assert.isFalse(o.retract("a", "c1"))
    assert.deepStrictEqual(o.take(), [
      { op: "client-releases-keys", keys: ["b"], client: "c1" },
      { op: "client-desires-keys", keys: ["a"], client: "c1" },
      { op: "client-releases-keys", keys: ["x"], client: "c2" }
    ])
    assert.isFalse(o.retract("b", "c1"))
  })

  it("never mutates the caller's key array", () => {
    const o = new Outbox()
    const first = ["a"]
    o.pushKeys("client-releases-keys", first, "c")
    o.pushKeys("client-releases-keys", ["b"], "c")
    assert.deepStrictEqual(first, ["a"])
  })

  it("bounds keys per op and per batch, in order", () => {
    const o = new Outbox(3)
    o.pushKeys("client-releases-keys", ["a", "b"], "c")
    o.pushKeys("client-releases-keys", ["c", "d", "e", "f", "g"], "c")
    o.push({ op: "heartbeat-client" })
    const batches = []
    while (o.size > 0) batches.push(o.take())
    assert.deepStrictEqual(batches, [
      [{ op: "client-releases-keys", keys: ["a", "b", "c"], client: "c" }],
      [{ op: "client-releases-keys", keys: ["d", "e", "f"], client: "c" }],
      [{ op: "client-releases-keys", keys: ["g"], client: "c" }, { op: "heartbeat-client" }]
    ])
  })

  it.effect("sync waits until everything pushed before it was taken; clear releases it", () =>
    Effect.gen(function*() {
      const o = new Outbox(2)
      yield* o.sync // nothing pending
      o.pushKeys("client-releases-keys", ["a", "b", "c"], "c")
      const waiting = yield* Effect.fork(o.sync)
      o.take()
      o.written()
      yield* Effect.yieldNow()
      assert.isNull(waiting.unsafePoll(), "one batch of two is still queued")
      o.take()
      o.written()
      yield* Fiber.join(waiting)
      o.push({ op: "heartbeat-client" })
      const dropped = yield* Effect.fork(o.sync)
      o.clear()
      yield* Fiber.join(dropped)
      assert.strictEqual(o.size, 0)
    }))

  it.effect("nonEmpty resumes on the next push", () =>
    Effect.gen(function*() {
      const o = new Outbox()
      const waiting = yield* Effect.fork(o.nonEmpty)
      yield* Effect.yieldNow()
      assert.isNull(waiting.unsafePoll())
      o.push({ op: "heartbeat-client" })
      yield* Fiber.join(waiting)
    }))
})
