/**
 * The embedded scheduler driven through the Client API, on both executors
 * (in this thread and on worker threads). The `test_*` cases port Dask's
 * scheduler-side release tests (distributed/tests/test_client.py) and assert
 * on the scheduler's real state via `EmbeddedScheduler.snapshot`; after each
 * test, with every scope and client closed, `clean` checks that nothing is
 * left, in the scheduler and (threads) in every thread's own memory.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { Client, EmbeddedScheduler, Future, Task } from "../src/index.js"
import { sizeof } from "../src/internal/model/sizeof.js"
import type { Key, Scheduler } from "../src/Scheduler.js"
import { type Executor, executors } from "./embeddedExecutors.js"
import * as T from "./fixtures/tasks/embedded.js"

const { add, div, inc } = T

const snapshot = Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
const taskKeys = Effect.map(snapshot, (s) => new Set(s.tasks.keys()))
const keysOf = (...fs: ReadonlyArray<{ readonly key: Key }>) => new Set(fs.map((f) => f.key))
const heldKeys = Effect.map(snapshot, (s) => new Set(s.workers.flatMap((w) => w.keys)))

/** Bytes each worker reports equal the estimated sizes of the values it holds. */
const assertBytesConsistent = Effect.gen(function*() {
  const s = yield* snapshot
  for (const w of s.workers) {
    const expected = w.keys.reduce((n, k) => n + s.tasks.get(k)!.nbytes, 0)
    assert.strictEqual(w.bytes, expected, w.address)
  }
})

/** Polls a shared cell until it is not 0 (a task in some thread set it). */
const until = (cell: Int32Array, i = 0) => Effect.promise(() => T.opened(cell, i))

type Env = Client.Client | Scheduler | EmbeddedScheduler.EmbeddedScheduler | Scope.Scope

describe.each(executors)("EmbeddedScheduler via Client ($name)", (ex: Executor) => {
  const settle = ex.settle
  /**
   * A test on `ex`'s scheduler for `options`, with a client "c" (unless `client: false`: the test
   * makes its own); once its scope is closed, nothing may be left anywhere.
   */
  const test = (
    name: string,
    body: () => Effect.Effect<void, any, Env>,
    options?: { readonly scheduler?: EmbeddedScheduler.Options; readonly client?: boolean }
  ) =>
    it.scoped(name, () =>
      Effect.gen(function*() {
        yield* Effect.scoped(
          options?.client === false
            ? (body() as Effect.Effect<void, any, Exclude<Env, Client.Client>>)
            : Effect.provide(body(), Client.layer({ id: "c" }))
        )
        yield* ex.clean()
      }).pipe(Effect.provide(ex.layer(options?.scheduler))), 60_000)

  test("test_forget_simple", () =>
    Effect.gen(function*() {
      const c = yield* Client.Client
      const x = yield* Client.submitWith(inc, [1], { retries: 2 })
      const y = yield* Client.submit(inc, 2)
      const z = yield* Client.submit(add, x, y)
      yield* Client.wait([x, y, z])
      let s = yield* snapshot
      assert.strictEqual(s.tasks.get(x.key)!.retries, 2)
      assert.deepStrictEqual(s.tasks.get(x.key)!.waitingOn, [])
      assert.deepStrictEqual(s.tasks.get(y.key)!.waitingOn, [])
      assert.deepStrictEqual(new Set(s.tasks.keys()), keysOf(x, y, z))
      assert.deepStrictEqual(s.tasks.get(z.key)!.whoWants, [c.id])

      yield* Future.release(x)
      assert.isTrue((yield* taskKeys).has(x.key))
      yield* Future.release(z)
      s = yield* snapshot
      assert.isFalse(s.tasks.has(x.key))
      assert.isFalse(s.tasks.has(z.key))
      assert.deepStrictEqual(s.tasks.get(y.key)!.dependents, [])

      yield* Future.release(y)
      s = yield* snapshot
      assert.strictEqual(s.tasks.size, 0)
      assert.deepStrictEqual(s.workers.map((w) => [w.keys.length, w.bytes]), [[0, 0], [0, 0]])
    }))

  test("test_forget_complex", () =>
    Effect.gen(function*() {
      const [a, b, c, d] = yield* Client.scatter([0, 1, 2, 3])
      const ab = yield* Client.submit(add, a!, b!)
      const cd = yield* Client.submit(add, c!, d!)
      const ac = yield* Client.submit(add, a!, c!)
      const acab = yield* Client.submit(add, ac, ab)
      yield* Client.wait([a!, b!, c!, d!, ab, ac, cd, acab])
      assert.deepStrictEqual(yield* Client.gather([ab, cd, ac, acab]), [1, 5, 2, 3])
      assert.deepStrictEqual(yield* taskKeys, keysOf(ab, ac, cd, acab, a!, b!, c!, d!))
      yield* assertBytesConsistent

      yield* Future.release(ab)
      assert.deepStrictEqual(yield* taskKeys, keysOf(ab, ac, cd, acab, a!, b!, c!, d!))
      // ab has a dependent, so it is released (value freed), not forgotten.
      assert.strictEqual((yield* snapshot).tasks.get(ab.key)!.state, "released")
      assert.isFalse((yield* heldKeys).has(ab.key))

      yield* Future.release(b!)
      assert.deepStrictEqual(yield* taskKeys, keysOf(ac, cd, acab, a!, c!, d!))

      yield* Future.release(acab)
      assert.deepStrictEqual(yield* taskKeys, keysOf(ac, cd, a!, c!, d!))
      assert.isFalse((yield* taskKeys).has(b!.key))
      assert.isFalse((yield* heldKeys).has(b!.key))

      yield* Future.release(ac)
      assert.deepStrictEqual(yield* taskKeys, keysOf(cd, a!, c!, d!))
      assert.deepStrictEqual(yield* heldKeys, keysOf(cd, a!, c!, d!))
      yield* assertBytesConsistent
    }))

  test("test_forget_in_flight", () =>
    Effect.gen(function*() {
      // Gate 0 holds a..d, gate 1 the sums: the test decides what is in flight.
      const gate = T.cells(2)
      // Dask computes [ac, acab] from a delayed graph: only ac and acab are wanted.
      const inner = yield* Scope.make()
      const [a, b, c, d] = yield* Effect.forEach([0, 1, 2, 3], (i) => Client.submit(T.gatedInc, gate, 0, i)).pipe(Scope.extend(inner))
      const ab = yield* Client.submit(T.gatedAdd, gate, 1, a!, b!).pipe(Scope.extend(inner))
      const x = yield* Client.submit(T.gatedAdd, gate, 1, a!, c!)
      const y = yield* Client.submit(T.gatedAdd, gate, 1, x, ab)
      void d
      yield* Scope.close(inner, Exit.void)
      T.open(gate, 0)
      yield* settle
      const s = yield* snapshot
      assert.deepStrictEqual([s.tasks.get(x.key)!.state, s.tasks.get(ab.key)!.state], ["processing", "processing"], "in flight")
      yield* Future.release(y)
      const keys = yield* taskKeys
      for (const k of [y.key, ab.key, b!.key]) assert.isFalse(keys.has(k), k)
      assert.isTrue(keys.has(x.key) && keys.has(a!.key) && keys.has(c!.key))
      T.open(gate, 1)
      assert.strictEqual(yield* Future.result(x), 1 + 3)
      // a and c were intermediates: freed once x finished.
      assert.deepStrictEqual(yield* heldKeys, keysOf(x))
    }))

  test("test_forget_errors", () =>
    Effect.gen(function*() {
      const x = yield* Client.submit(div, 1, 0)
      const y = yield* Client.submit(inc, x)
      const z = yield* Client.submit(inc, y)
      yield* Client.wait([y])
      let s = yield* snapshot
      assert.strictEqual(s.tasks.get(x.key)!.error?.type, "RangeError")
      assert.strictEqual(s.tasks.get(x.key)!.erredBecauseOf, x.key)
      assert.strictEqual(s.tasks.get(y.key)!.erredBecauseOf, x.key)
      assert.strictEqual(s.tasks.get(z.key)!.erredBecauseOf, x.key)

      yield* Future.release(z)
      s = yield* snapshot
      assert.isDefined(s.tasks.get(x.key)!.error)
      assert.strictEqual(s.tasks.get(y.key)!.erredBecauseOf, x.key)
      assert.isFalse(s.tasks.has(z.key))

      yield* Future.release(x)
      s = yield* snapshot
      assert.isDefined(s.tasks.get(x.key)!.error)
      assert.strictEqual(s.tasks.get(y.key)!.erredBecauseOf, x.key)
      assert.isFalse(s.tasks.has(z.key))

      yield* Future.release(y)
      assert.strictEqual((yield* snapshot).tasks.size, 0)
    }))

  test("test_garbage_collection_with_scatter", () =>
    Effect.gen(function*() {
      const c = yield* Client.Client
      const [future] = yield* Client.scatter([1])
      assert.strictEqual(yield* Future.status(future!), "finished")
      assert.deepStrictEqual((yield* snapshot).tasks.get(future!.key)!.whoWants, [c.id])
      const key = future!.key
      assert.isTrue((yield* heldKeys).has(key))
      yield* Future.release(future!)
      assert.isFalse((yield* taskKeys).has(key))
      assert.isFalse((yield* heldKeys).has(key))
    }))

  test("test_fire_and_forget", () =>
    Effect.gen(function*() {
      const gate = T.cells()
      const seen = T.cells()
      const future = yield* Client.submit(T.gatedInc, gate, 0, 1)
      const key = yield* Effect.scoped(Effect.gen(function*() {
        const g = yield* Client.submit(T.record, seen, future)
        yield* Client.fireAndForget([g])
        return g.key
      }))
      // The handle is gone; the fire-and-forget pseudo-client still wants it.
      assert.deepStrictEqual((yield* snapshot).tasks.get(key)!.whoWants, ["fire-and-forget"])
      T.open(gate)
      yield* until(seen)
      yield* settle
      assert.strictEqual(Atomics.load(seen, 0), 2)
      assert.deepStrictEqual(yield* taskKeys, keysOf(future))
      assert.isNotEmpty((yield* snapshot).tasks.get(future.key)!.whoWants)
      assert.deepStrictEqual((yield* snapshot).clients.get("fire-and-forget"), [])
    }))

  test("test_fire_and_forget_err", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.flatMap(Client.submit(div, 1, 0), (f) => Client.fireAndForget([f])))
      yield* settle
      assert.strictEqual((yield* snapshot).tasks.size, 0)
    }))

  test("test_cancel_multi_client", () =>
    Effect.gen(function*() {
      const gate = T.cells()
      const c = yield* Client.make({ id: "c" })
      const f = yield* Client.make({ id: "f" })
      const x = yield* Client.withClient(Client.submit(T.gatedInc, gate, 0, 1), c)
      const y = yield* Client.withClient(Client.submit(T.gatedInc, gate, 0, 1), f)
      assert.strictEqual(x.key, y.key)
      T.open(gate)
      yield* Client.wait([x, y])

      yield* Client.withClient(Client.cancel([x]), c)
      yield* settle
      assert.strictEqual(yield* Future.status(x), "cancelled")
      assert.notStrictEqual(yield* Future.status(y), "cancelled")
      assert.strictEqual(yield* Future.result(y), 2)
      const error = yield* Effect.flip(Future.result(x))
      assert.strictEqual(error._tag, "CancelledError")
      const s = yield* snapshot
      assert.deepStrictEqual(s.tasks.get(y.key)!.whoWants, ["f"])
      assert.deepStrictEqual(s.clients.get("c"), [])
    }), { client: false })

  test("test_multi_garbage_collection", () =>
    Effect.gen(function*() {
      const c = yield* Client.make({ id: "c" })
      const f = yield* Client.make({ id: "f" })
      const x = yield* Client.withClient(Client.submit(inc, 1), c)
      const y = yield* Client.withClient(Client.submit(inc, 2), f)
      const y2 = yield* Client.withClient(Client.submit(inc, 2), c)
      assert.strictEqual(y.key, y2.key)
      yield* Client.wait([x, y])

      yield* Future.release(x)
      assert.isFalse((yield* heldKeys).has(x.key))
      let s = yield* snapshot
      assert.deepStrictEqual(s.clients.get("c"), [y.key])
      assert.deepStrictEqual(s.clients.get("f"), [y.key])

      yield* Future.release(y)
      s = yield* snapshot
      assert.isTrue((yield* heldKeys).has(y.key))
      assert.deepStrictEqual(s.clients.get("c"), [y.key])
      assert.deepStrictEqual(s.clients.get("f"), [])

      yield* Future.release(y2)
      assert.isFalse((yield* heldKeys).has(y.key))
      assert.strictEqual((yield* snapshot).tasks.size, 0)
    }), { client: false })

  test("test_multi_client: closing a client releases only what it alone wants", () =>
    Effect.gen(function*() {
      const f = yield* Client.make({ id: "f" })
      const cScope = yield* Scope.make()
      const c = yield* Client.make({ id: "c" }).pipe(Scope.extend(cScope))
      const x = yield* Client.withClient(Client.submit(inc, 1), c).pipe(Scope.extend(cScope))
      const y = yield* Client.withClient(Client.submit(inc, 2), f)
      const y2 = yield* Client.withClient(Client.submit(inc, 2), c).pipe(Scope.extend(cScope))
      assert.strictEqual(y.key, y2.key)
      yield* Client.wait([x, y])
      let s = yield* snapshot
      assert.deepStrictEqual(new Set(s.clients.get("c")), keysOf(x, y))
      assert.deepStrictEqual(s.clients.get("f"), [y.key])
      yield* Scope.close(cScope, Exit.void)
      s = yield* snapshot
      assert.isFalse(s.clients.has("c"))
      assert.deepStrictEqual(s.tasks.get(y.key)!.whoWants, ["f"])
      assert.isFalse(s.tasks.has(x.key))
    }), { client: false })

  test("a paused worker takes no new work until memory is released", () =>
    Effect.gen(function*() {
      const b = yield* Client.submit(T.big, 1000)
      yield* Client.wait([b])
      let s = yield* snapshot
      assert.strictEqual(s.workers[0]!.bytes, 12 + 2 * 1000)
      assert.isTrue(s.workers[0]!.paused)
      const x = yield* Client.submit(inc, 1)
      yield* settle
      s = yield* snapshot
      assert.strictEqual(s.tasks.get(x.key)!.state, "queued")
      assert.strictEqual(s.queued, 1)
      assert.strictEqual(yield* Future.status(x), "pending")
      yield* Future.release(b)
      assert.strictEqual(yield* Future.result(x), 2)
      s = yield* snapshot
      assert.isFalse(s.workers[0]!.paused)
      assert.strictEqual(s.workers[0]!.bytes, 8)
    }), { scheduler: { workers: 1, slots: 1, memoryLimit: 1000 } })

  test("cancelling a running Effect task interrupts its fiber", () =>
    Effect.gen(function*() {
      const flags = T.cells(2)
      const f = yield* Client.submit(T.forever, flags)
      yield* until(flags, 0)
      yield* settle
      assert.strictEqual((yield* snapshot).inFlight, 1)
      yield* Client.cancel([f])
      yield* until(flags, 1)
      assert.strictEqual((yield* Effect.flip(Future.result(f)))._tag, "CancelledError")
      const s = yield* snapshot
      assert.strictEqual(s.tasks.size, 0)
      assert.strictEqual(s.inFlight, 0)
      assert.deepStrictEqual(s.workers.map((w) => w.running), [0, 0])
    }))

  test("a cancelled Promise task's late result is dropped", () =>
    Effect.gen(function*() {
      const gate = T.cells()
      const f = yield* Client.submit(T.later, gate, 42)
      yield* settle
      assert.strictEqual((yield* snapshot).inFlight, 1)
      yield* Client.cancel([f])
      T.open(gate)
      yield* settle
      const s = yield* snapshot
      assert.strictEqual(s.tasks.size, 0)
      assert.deepStrictEqual(s.workers.map((w) => w.keys.length), [0, 0])
    }))

  test("slots bound concurrent async tasks per worker", () =>
    Effect.gen(function*() {
      // 4 slots on each of 2 workers: 8 run, 3 wait; one gate per task.
      const n = 11
      const gates = T.cells(n)
      const fs = yield* Client.map(T.gatedInc, Array.from({ length: n }, () => gates), Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => i + 1))
      yield* settle
      let s = yield* snapshot
      assert.deepStrictEqual(s.workers.map((w) => w.running), [4, 4])
      assert.strictEqual(s.queued, 3)
      for (let i = 0; i < 8; i++) T.open(gates, i)
      yield* Client.wait(fs.slice(0, 8))
      yield* settle
      s = yield* snapshot
      assert.strictEqual(s.workers.reduce((n, w) => n + w.running, 0), 3)
      assert.strictEqual(s.queued, 0)
      for (let i = 8; i < n; i++) T.open(gates, i)
      assert.deepStrictEqual(yield* Client.gather(fs), Array.from({ length: n }, (_, i) => i + 2))
    }))

  test("sync tasks run without a fiber; Promise and Effect tasks too", () =>
    Effect.gen(function*() {
      const [a, b, c] = [yield* Client.submit(T.inFiber, 1), yield* Client.submit(T.promised, 2), yield* Client.submit(T.effected, 3)]
      assert.deepStrictEqual(yield* Client.gather([a, b, c] as ReadonlyArray<Future.Future<unknown>>), [false, 4, 9])
    }))

  test("futures nested in arrays and objects are replaced by their values", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Client.scatter([2, 3])
      const z = yield* Client.submit(inc, 9)
      const r = yield* Client.submit(T.shape, { xs: [a!, b!, 5], y: { z } } as any)
      assert.strictEqual(yield* Future.result(r), 100)
      const s = yield* snapshot
      assert.deepStrictEqual(new Set(s.tasks.get(r.key)!.dependencies), keysOf(a!, b!, z))
    }))

  test("errors become text; retries are honoured", () =>
    Effect.gen(function*() {
      const calls = T.cells()
      const ok = yield* Client.submitWith(T.flaky, [calls, 1], { retries: 2 })
      assert.strictEqual(yield* Future.result(ok), 3)
      const bad = yield* Client.submitWith(T.flaky, [calls, 2], { retries: 1 })
      const error = yield* Effect.flip(Future.result(bad))
      assert.strictEqual(error._tag, "RemoteError")
      const info = (yield* snapshot).tasks.get(bad.key)!.error!
      assert.deepStrictEqual([info.type, info.message], ["Error", "flake 5"])
      assert.include(info.traceback, "flake 5")
      const e2 = yield* Effect.flip(Effect.flatMap(Client.submit(T.failing, 1), Future.result))
      assert.strictEqual(e2._tag, "RemoteError")
    }))

  test("a task without a JS implementation is refused", () =>
    Effect.gen(function*() {
      const sum = Task.python<[ReadonlyArray<number>], number>("builtins.sum")
      const error = yield* Effect.flip(Client.submit(sum, [1, 2]))
      assert.strictEqual(error._tag, "UnsupportedTaskError")
      assert.strictEqual((yield* snapshot).tasks.size, 0)
    }))

  test("datasets keep keys alive until unpublished", () =>
    Effect.gen(function*() {
      const c = yield* Client.make({ id: "c" })
      const f = yield* Client.make({ id: "f" })
      const key = yield* Effect.scoped(Effect.gen(function*() {
        const x = yield* Client.withClient(Client.submit(inc, 41), c)
        yield* Client.wait([x])
        yield* Client.withClient(Client.publishDataset("answer", [x]), c)
        return x.key
      }))
      assert.deepStrictEqual((yield* snapshot).tasks.get(key)!.whoWants, ["published-answer"])
      assert.deepStrictEqual(yield* Client.withClient(Client.listDatasets, f), ["answer"])
      const got = yield* Effect.scoped(Effect.gen(function*() {
        const fs = yield* Client.withClient(Client.getDataset("answer"), f)
        return yield* Client.gather(Option.getOrThrow(fs))
      }))
      assert.deepStrictEqual(got, [42])
      yield* Client.withClient(Client.unpublishDataset("answer"), f)
      assert.strictEqual((yield* snapshot).tasks.size, 0)
      assert.isTrue(Option.isNone(yield* Client.withClient(Client.getDataset("answer"), f)))
    }), { client: false })

  test("whoHas, hasWhat, nbytes and workers report the held values", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Client.scatter(["hello", new Float64Array(16)])
      const who = yield* Client.whoHas([a!, b!])
      assert.strictEqual(who[a!.key]!.length, 1)
      assert.notDeepEqual(who[a!.key], who[b!.key])
      const what = yield* Client.hasWhat
      assert.deepStrictEqual(new Set(Object.values(what).flat()), keysOf(a!, b!))
      assert.deepStrictEqual(yield* Client.nbytes([a!, b!]), { [a!.key]: 22, [b!.key]: 64 + 128 })
      const ws = yield* Client.workers
      assert.strictEqual(ws.reduce((n, w) => n + w.bytes, 0), 22 + 192)
      assert.deepStrictEqual(ws.map((w) => w.nthreads), [4, 4])
    }))

  // In this thread only: the test builds and closes a layer of its own (on threads a fresh layer costs
  // seconds, and closing it terminates the threads, which are then not there to be asked).
  if (!ex.threads) {
    it.effect("closing the layer's scope stops running tasks and clears state", () =>
      Effect.gen(function*() {
        const flags = T.cells(2)
        const scope = yield* Scope.make()
        const ctx = yield* Layer.buildWithScope(ex.layer(), scope)
        const program = Effect.gen(function*() {
          yield* Client.make({ id: "c" })
          yield* Client.submit(T.forever, flags)
          yield* Client.scatter([1, 2, 3])
          yield* until(flags, 0)
        })
        const clientScope = yield* Scope.make()
        yield* program.pipe(Effect.provide(ctx), Scope.extend(clientScope))
        const embeddedScheduler = Context.get(ctx, EmbeddedScheduler.EmbeddedScheduler)
        assert.strictEqual((yield* embeddedScheduler.snapshot).tasks.size, 4)
        yield* Scope.close(scope, Exit.void)
        yield* until(flags, 1)
        const s = yield* embeddedScheduler.snapshot
        assert.strictEqual(s.tasks.size, 0)
        assert.deepStrictEqual(s.workers.map((w) => w.bytes), [0, 0])
        yield* Scope.close(clientScope, Exit.void)
      }))
  }
})

describe("sizeof", () => {
  it("estimates JS values", () => {
    assert.strictEqual(sizeof(1), 8)
    assert.strictEqual(sizeof(null), 0)
    assert.strictEqual(sizeof("abc"), 18)
    assert.strictEqual(sizeof(new Uint8Array(1000)), 1064)
    // Two views of one buffer count it once.
    const buf = new ArrayBuffer(100)
    assert.strictEqual(sizeof([new Uint8Array(buf), new Uint16Array(buf)]), 16 + 16 + 164 + 64)
    assert.strictEqual(sizeof({ a: 1 }), 24 + 8 + 14 + 8)
    assert.strictEqual(sizeof([1, 2, 3]), 16 + 24 + 24)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.strictEqual(sizeof(cyclic), 24 + 8 + 20)
    // Large collections are sampled: the estimate scales with the payload.
    const big = Array.from({ length: 10_000 }, (_, i) => "s".repeat(i % 10))
    const exact = 16 + 8 * 10_000 + big.reduce((n, s) => n + 12 + 2 * s.length, 0)
    assert.approximately(sizeof(big), exact, exact * 0.05)
    assert.isAbove(sizeof(new Map([[1, "x".repeat(1000)]])), 2000)
  })
})
