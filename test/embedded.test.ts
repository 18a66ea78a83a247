/**
 * The embedded scheduler driven through the Client API. The `test_*` cases
 * port Dask's scheduler-side release tests (distributed/tests/test_client.py)
 * and assert on the scheduler's real state via `EmbeddedScheduler.snapshot`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { Client, EmbeddedScheduler, Future, Task } from "../src/index.js"
import { sizeof } from "../src/internal/model/sizeof.js"
import type { Key } from "../src/Scheduler.js"

const inc = Task.make("inc", (x: number) => x + 1)
const add = Task.make("add", (a: number, b: number) => a + b)
const div = Task.make("div", (a: number, b: number) => {
  if (b === 0) throw new RangeError("division by zero")
  return a / b
})
const slowinc = Task.make("slowinc", (x: number, delay: number = 20) => Effect.as(Effect.sleep(Duration.millis(delay)), x + 1))

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

const embedded = (options?: EmbeddedScheduler.Options) =>
  Client.layer({ id: "c" }).pipe(Layer.provideMerge(EmbeddedScheduler.layer({ workers: 2, slots: 4, ...options })))

/** Lets in-process work (microtasks, timers at the current test time) run. */
const settle = Effect.repeatN(Effect.sleep(0), 5)

describe("EmbeddedScheduler via Client", () => {
  it.scoped("test_forget_simple", () =>
    Effect.gen(function*() {
      const c = yield* Client.Client
      const x = yield* Client.submit(Task.make("inc", (x: number) => x + 1, { retries: 2 }), 1)
      const y = yield* Client.submit(inc, 2)
      const z = yield* Client.submit(add, x, y)
      yield* Client.wait([x, y, z])
      let s = yield* snapshot
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
    }).pipe(Effect.provide(embedded())))

  it.scoped("test_forget_complex", () =>
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
    }).pipe(Effect.provide(embedded())))

  it.scoped("test_forget_in_flight", () =>
    Effect.gen(function*() {
      const slowadd = Task.make("slowadd", (a: number, b: number) => Effect.as(Effect.sleep("20 millis"), a + b))
      // Dask computes [ac, acab] from a delayed graph: only ac and acab are wanted.
      const inner = yield* Scope.make()
      const [a, b, c, d] = yield* Effect.forEach([0, 1, 2, 3], (i) => Client.submit(slowinc, i)).pipe(Scope.extend(inner))
      const ab = yield* Client.submit(slowadd, a!, b!).pipe(Scope.extend(inner))
      const x = yield* Client.submit(slowadd, a!, c!)
      const y = yield* Client.submit(slowadd, x, ab)
      void d
      yield* Scope.close(inner, Exit.void)
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("10 millis")
        yield* settle
      }
      const s = yield* snapshot
      assert.isTrue([...s.tasks.values()].some((t) => t.state === "processing"), "still in flight")
      yield* Future.release(y)
      const keys = yield* taskKeys
      for (const k of [y.key, ab.key, b!.key]) assert.isFalse(keys.has(k), k)
      assert.isTrue(keys.has(x.key) && keys.has(a!.key) && keys.has(c!.key))
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* Future.result(x), 1 + 3)
      // a and c were intermediates: freed once x finished.
      assert.deepStrictEqual(yield* heldKeys, keysOf(x))
    }).pipe(Effect.provide(embedded())))

  it.scoped("test_forget_errors", () =>
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
    }).pipe(Effect.provide(embedded())))

  it.scoped("test_garbage_collection_with_scatter", () =>
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
    }).pipe(Effect.provide(embedded())))

  it.scoped("test_fire_and_forget", () =>
    Effect.gen(function*() {
      const future = yield* Client.submit(slowinc, 1, 100)
      const seen: Array<number> = []
      const f = Task.make("f", (x: number) => {
        seen.push(x)
      })
      const key = yield* Effect.scoped(Effect.gen(function*() {
        const g = yield* Client.submit(f, future)
        yield* Client.fireAndForget([g])
        return g.key
      }))
      // The handle is gone; the fire-and-forget pseudo-client still wants it.
      assert.deepStrictEqual((yield* snapshot).tasks.get(key)!.whoWants, ["fire-and-forget"])
      yield* TestClock.adjust("100 millis")
      yield* settle
      assert.deepStrictEqual(seen, [2])
      assert.deepStrictEqual(yield* taskKeys, keysOf(future))
      assert.isNotEmpty((yield* snapshot).tasks.get(future.key)!.whoWants)
      assert.deepStrictEqual((yield* snapshot).clients.get("fire-and-forget"), [])
    }).pipe(Effect.provide(embedded())))

  it.scoped("test_fire_and_forget_err", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.flatMap(Client.submit(div, 1, 0), (f) => Client.fireAndForget([f])))
      yield* settle
      assert.strictEqual((yield* snapshot).tasks.size, 0)
    }).pipe(Effect.provide(embedded())))

  it.scoped("test_cancel_multi_client", () =>
    Effect.gen(function*() {
      const c = yield* Client.make({ id: "c" })
      const f = yield* Client.make({ id: "f" })
      const x = yield* Client.withClient(Client.submit(slowinc, 1), c)
      const y = yield* Client.withClient(Client.submit(slowinc, 1), f)
      assert.strictEqual(x.key, y.key)
      yield* TestClock.adjust("20 millis")
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
    }).pipe(Effect.provide(EmbeddedScheduler.layer())))

  it.scoped("test_multi_garbage_collection", () =>
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
    }).pipe(Effect.provide(EmbeddedScheduler.layer())))

  it.scoped("test_multi_client: closing a client releases only what it alone wants", () =>
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
    }).pipe(Effect.provide(EmbeddedScheduler.layer())))

  it.scoped("a paused worker takes no new work until memory is released", () =>
    Effect.gen(function*() {
      const big = Task.make("big", (n: number) => "x".repeat(n))
      const b = yield* Client.submit(big, 1000)
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
    }).pipe(Effect.provide(embedded({ workers: 1, slots: 1, memoryLimit: 1000 }))))

  it.scoped("cancelling a running Effect task interrupts its fiber", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const forever = Task.make("forever", (_: number) =>
        Deferred.succeed(started, undefined).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
        ))
      const f = yield* Client.submit(forever, 1)
      yield* Deferred.await(started)
      assert.strictEqual((yield* snapshot).inFlight, 1)
      yield* Client.cancel([f])
      yield* Deferred.await(interrupted)
      assert.strictEqual((yield* Effect.flip(Future.result(f)))._tag, "CancelledError")
      const s = yield* snapshot
      assert.strictEqual(s.tasks.size, 0)
      assert.strictEqual(s.inFlight, 0)
      assert.deepStrictEqual(s.workers.map((w) => w.running), [0, 0])
    }).pipe(Effect.provide(embedded())))

  it.scoped("a cancelled Promise task's late result is dropped", () =>
    Effect.gen(function*() {
      let resolve: (n: number) => void = () => {}
      const later = Task.make("later", (_: number) => new Promise<number>((r) => (resolve = r)))
      const f = yield* Client.submit(later, 1)
      yield* settle
      assert.strictEqual((yield* snapshot).inFlight, 1)
      yield* Client.cancel([f])
      resolve(42)
      yield* settle
      const s = yield* snapshot
      assert.strictEqual(s.tasks.size, 0)
      assert.deepStrictEqual(s.workers.map((w) => w.keys.length), [0, 0])
    }).pipe(Effect.provide(embedded())))

  it.scoped("slots bound concurrent async tasks per worker", () =>
    Effect.gen(function*() {
      const fs = yield* Client.map(slowinc, [1, 2, 3, 4, 5, 6, 7])
      yield* settle
      let s = yield* snapshot
      assert.deepStrictEqual(s.workers.map((w) => w.running), [2, 2])
      assert.strictEqual(s.queued, 3)
      yield* TestClock.adjust("20 millis")
      yield* settle
      s = yield* snapshot
      assert.deepStrictEqual(s.workers.map((w) => w.running).sort(), [1, 2])
      assert.strictEqual(s.queued, 0)
      yield* TestClock.adjust("20 millis")
      assert.deepStrictEqual(yield* Client.gather(fs), [2, 3, 4, 5, 6, 7, 8])
    }).pipe(Effect.provide(embedded({ slots: 2 }))))

  it.scoped("sync tasks run without a fiber; Promise and Effect tasks too", () =>
    Effect.gen(function*() {
      const inFiber = Task.make("inFiber", (_: number) => Option.isSome(Fiber.getCurrentFiber()))
      const promised = Task.make("promised", (x: number) => Promise.resolve(x * 2))
      const effected = Task.make("effected", (x: number) => Effect.succeed(x * 3))
      const [a, b, c] = [yield* Client.submit(inFiber, 1), yield* Client.submit(promised, 2), yield* Client.submit(effected, 3)]
      assert.deepStrictEqual(yield* Client.gather([a, b, c] as ReadonlyArray<Future.Future<unknown>>), [false, 4, 9])
    }).pipe(Effect.provide(embedded())))

  it.scoped("futures nested in arrays and objects are replaced by their values", () =>
    Effect.gen(function*() {
      const shape = Task.make("shape", (o: { readonly xs: ReadonlyArray<number>; readonly y: { readonly z: number } }) =>
        o.xs.reduce((a, b) => a + b, 0) * o.y.z)
      const [a, b] = yield* Client.scatter([2, 3])
      const z = yield* Client.submit(inc, 9)
      const r = yield* Client.submit(shape, { xs: [a!, b!, 5], y: { z } } as any)
      assert.strictEqual(yield* Future.result(r), 100)
      const s = yield* snapshot
      assert.deepStrictEqual(new Set(s.tasks.get(r.key)!.dependencies), keysOf(a!, b!, z))
    }).pipe(Effect.provide(embedded())))

  it.scoped("errors become text; retries are honoured", () =>
    Effect.gen(function*() {
      let calls = 0
      const flaky = (retries: number) =>
        Task.make("flaky", (_: number) => {
          if (++calls % 3 !== 0) throw new Error(`flake ${calls}`)
          return calls
        }, { retries, pure: false })
      const ok = yield* Client.submit(flaky(2), 1)
      assert.strictEqual(yield* Future.result(ok), 3)
      const bad = yield* Client.submit(flaky(1), 2)
      const error = yield* Effect.flip(Future.result(bad))
      assert.strictEqual(error._tag, "RemoteError")
      const info = (yield* snapshot).tasks.get(bad.key)!.error!
      assert.deepStrictEqual([info.type, info.message], ["Error", "flake 5"])
      assert.include(info.traceback, "flake 5")
      const failing = Task.make("failing", (_: number) => Effect.fail({ _tag: "Boom", message: "no" }))
      const e2 = yield* Effect.flip(Effect.flatMap(Client.submit(failing, 1), Future.result))
      assert.strictEqual(e2._tag, "RemoteError")
    }).pipe(Effect.provide(embedded())))

  it.scoped("a task without a JS implementation is refused", () =>
    Effect.gen(function*() {
      const sum = Task.python<[ReadonlyArray<number>], number>("builtins.sum")
      const error = yield* Effect.flip(Client.submit(sum, [1, 2]))
      assert.strictEqual(error._tag, "UnsupportedTaskError")
      assert.strictEqual((yield* snapshot).tasks.size, 0)
    }).pipe(Effect.provide(embedded())))

  it.scoped("datasets keep keys alive until unpublished", () =>
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
    }).pipe(Effect.provide(EmbeddedScheduler.layer())))

  it.scoped("whoHas, hasWhat, nbytes and workers report the held values", () =>
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
    }).pipe(Effect.provide(embedded())))

  it.effect("closing the layer's scope stops running tasks and clears state", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const forever = Task.make("forever", (_: number) =>
        Deferred.succeed(started, undefined).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
        ))
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(EmbeddedScheduler.layer(), scope)
      const program = Effect.gen(function*() {
        yield* Client.make({ id: "c" })
        yield* Client.submit(forever, 1)
        yield* Client.scatter([1, 2, 3])
        yield* Deferred.await(started)
      })
      const clientScope = yield* Scope.make()
      yield* program.pipe(Effect.provide(ctx), Scope.extend(clientScope))
      const embeddedScheduler = Context.get(ctx, EmbeddedScheduler.EmbeddedScheduler)
      assert.strictEqual((yield* embeddedScheduler.snapshot).tasks.size, 4)
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.await(interrupted)
      const s = yield* embeddedScheduler.snapshot
      assert.strictEqual(s.tasks.size, 0)
      assert.deepStrictEqual(s.workers.map((w) => w.bytes), [0, 0])
      yield* Scope.close(clientScope, Exit.void)
    }))
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
