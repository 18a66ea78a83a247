/**
 * The embedded scheduler on worker threads: real parallelism, results kept
 * where computed, dependencies copied thread to thread, crashes and cancels.
 * Each test checks the scheduler's own state and what the threads really
 * hold (asked of the threads). Few threads, short tasks.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { TaskModuleError, UnsupportedTaskError } from "../src/Errors.js"
import { Client, EmbeddedScheduler, Future, Task } from "../src/index.js"
import { Scheduler } from "../src/Scheduler.js"
import { bareRun } from "./fixtures/bareThreads.js"
import * as T from "./fixtures/tasks/threads.js"

const modules = [new URL("./fixtures/tasks/threads.ts", import.meta.url)]
const threads = (workers: number, extra?: Partial<EmbeddedScheduler.Options>) =>
  Layer.provideMerge(Client.layer(), EmbeddedScheduler.layer({ workers, threads: true, modules, ...extra }))
const tick = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))
const embedded = EmbeddedScheduler.EmbeddedScheduler
const snapshot = Effect.flatMap(embedded, (e) => e.snapshot)
const threadStats = Effect.flatMap(embedded, (e) => e.threads)

/** The scheduler's view and the threads' own agree: same key count per thread, and nothing held for nobody. */
const checkHeld = Effect.gen(function*() {
  const snap = yield* snapshot
  const stats = yield* threadStats
  for (const w of snap.workers) {
    const t = stats.find((s) => s.address === w.address)!
    assert.strictEqual(t.keys, w.keys.length, `${w.address}: keys the thread holds`)
    for (const key of w.keys) {
      const ts = snap.tasks.get(key)!
      assert.isTrue(ts.whoWants.length > 0 || ts.waiters.length > 0, `${key} held for nobody`)
    }
  }
  return { snap, stats }
})

/**
 * Wall time of 8 fixed-work CPU-bound tasks on `workers` threads, and how many ran at once on
 * average: the sum of their own run times over the span from the first start to the last end
 * (1 when they ran one after another, whatever the load; near 2 on 2 threads even when other
 * processes slow both down, as long as the two threads run at the same time).
 */
const eightTasks = (workers: number, rounds: number) =>
  Effect.gen(function*() {
    // Warm up every thread (JIT, module load) before timing.
    const warm = Array.from({ length: workers * 2 }, (_, i) => i)
    yield* Client.gather(yield* Client.map(T.work, warm.map(() => 1000), warm))
    const start = performance.now()
    const tags = Array.from({ length: 8 }, (_, i) => i)
    const fs = yield* Client.map(T.timedWork, tags.map(() => rounds), tags)
    const runs = yield* Client.gather(fs)
    const wall = performance.now() - start
    const span = Math.max(...runs.map((r) => r[1])) - Math.min(...runs.map((r) => r[0]))
    const concurrency = runs.reduce((n, r) => n + (r[1] - r[0]), 0) / span
    return { wall, concurrency }
  }).pipe(Effect.scoped, Effect.provide(threads(workers)))

/**
 * The parallelism the machine offers right now, measured the same way with bare worker_threads
 * (no scheduler): wall time of 8 jobs on 2 threads over 8 jobs on 1. About 0.5 on an idle 2-core
 * machine; near 1 when other processes saturate the cores.
 */
const bareRatio = (rounds: number) =>
  Effect.promise(async () => {
    const one = await bareRun(1, rounds)
    return (await bareRun(2, rounds)) / one
  })

describe("EmbeddedScheduler with threads: true (fresh layers)", () => {
  it.live("8 CPU-bound tasks on 2 threads take at most 0.6x the time on 1 (or what bare threads get on a saturated machine; retried once)", () =>
    Effect.gen(function*() {
      const rounds = 3_000_000
      // On a machine whose cores are taken by others, no executor gets 2x: then the bound is what bare
      // threads get right now (measured beside ours), plus a margin.
      // That fallback alone could not fail on a saturated machine (nothing gets faster there), so the
      // tasks also report when they ran: on 2 threads they must have run two at a time, on 1 never,
      // which holds under any load and fails for an executor that runs them one after another.
      let ratio = Infinity
      let bound = 0.6
      let bare = NaN
      let concurrency: ReadonlyArray<number> = []
      for (let attempt = 0; attempt < 2 && ratio > bound; attempt++) {
        const one = yield* eightTasks(1, rounds)
        const two = yield* eightTasks(2, rounds)
        ratio = two.wall / one.wall
        concurrency = [one.concurrency, two.concurrency]
        bare = yield* bareRatio(rounds)
        bound = Math.max(0.6, bare + 0.15)
      }
      const figures = `ratio ${ratio.toFixed(2)}, bare threads ${bare.toFixed(2)}, tasks at once ${concurrency.map((c) => c.toFixed(2)).join(" / ")}`
      assert.isAtMost(concurrency[0]!, 1.05, `1 thread: one task at a time (${figures})`)
      assert.isAtLeast(concurrency[1]!, 1.5, `2 threads: two tasks at a time (${figures})`)
      assert.isAtMost(ratio, bound, figures)
    }), 120_000)

  it.live("cancelling a running CPU-bound task frees its slot (the stuck thread is replaced)", () =>
    Effect.gen(function*() {
      // A 30 s synchronous task holds the only slot of the only thread.
      const long = yield* Client.submit(T.spin, 30_000, 1)
      while ((yield* snapshot).tasks.get(long.key)?.state !== "processing") yield* tick(5)
      yield* tick(50)
      const started = performance.now()
      yield* Future.cancel(long)
      const next = yield* Client.submit(T.inc, 41)
      assert.strictEqual(yield* Future.result(next), 42)
      // Far sooner than the long task would have ended: its thread was taken from it.
      assert.isBelow(performance.now() - started, 15_000)
      assert.isUndefined((yield* snapshot).tasks.get(long.key))
      yield* checkHeld
    }).pipe(Effect.scoped, Effect.provide(threads(1))), 60_000)

  it.live("two tasks with one name in the listed modules fail the layer at start-up", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(EmbeddedScheduler.layer({
        workers: 1,
        threads: true,
        modules: [new URL("./fixtures/tasks/math.ts", import.meta.url), "test/fixtures/tasks/dup.ts"]
      })))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const e = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        assert.instanceOf(e, TaskModuleError)
        assert.strictEqual((e as TaskModuleError).reason, "DuplicateName")
      }
    }).pipe(Effect.scoped))

})

// One pair of threads for the tests below (a thread takes a while to start under tsx); each test closes what it opens.
const shared = threads(2, { resourceLimits: { maxOldGenerationSizeMb: 48 } })

layer(shared, { excludeTestServices: true, timeout: 120_000 })("EmbeddedScheduler with threads: true (one layer)", (it) => {
    it.effect("a dependency on another thread's result is copied there and counted on both while replicated", () =>
      Effect.gen(function*() {
        const n = 100_000
        // Two independent tasks run on the two threads at once; the sum needs both, so one is copied.
        const [a, b] = yield* Client.map(T.floats, [n, n], [1, 2])
        yield* Future.wait(a!)
        yield* Future.wait(b!)
        const placed = yield* snapshot
        const ha = placed.tasks.get(a!.key)!.workers
        const hb = placed.tasks.get(b!.key)!.workers
        assert.strictEqual(ha.length, 1)
        assert.strictEqual(hb.length, 1)
        assert.notDeepEqual(ha, hb, "the two inputs on different threads")
        const s = yield* Client.submit(T.sum2, a!, b!)
        const expected = 3 * (n * (n - 1)) / 2
        assert.strictEqual(yield* Future.result(s), expected)
        const { snap, stats } = yield* checkHeld
        const on = snap.tasks.get(s.key)!.workers[0]!
        const moved = [a!, b!].find((f) => !placed.tasks.get(f.key)!.workers.includes(on))!
        const replicated = snap.tasks.get(moved.key)!
        assert.strictEqual(replicated.workers.length, 2, "a replica on the summing thread")
        // Counted on both: each thread's bytes include the replicated array, in the scheduler and in the thread.
        for (const w of snap.workers) {
          assert.include(w.keys, moved.key)
          assert.isAtLeast(w.bytes, replicated.nbytes)
          assert.isAtLeast(stats.find((t) => t.address === w.address)!.bytes, n * 8)
        }
        // The copy is a copy: the gathered arrays are intact in the main thread.
        const [ga, gb] = yield* Client.gather([a!, b!])
        assert.strictEqual(ga!.length, n)
        assert.strictEqual(gb![n - 1], (n - 1) * 2)
        // Released keys are freed in every thread that holds them.
        yield* Future.release(s)
        yield* Future.release(a!)
        yield* Future.release(b!)
        yield* tick(10)
        const after = yield* threadStats
        assert.deepStrictEqual(after.map((t) => [t.keys, t.bytes]), [[0, 0], [0, 0]])
      }).pipe(Effect.scoped))

    it.effect("a dependent runs where its dependencies' bytes are (Dask's decide_worker): no copy of the big one", () =>
      Effect.gen(function*() {
        const before = yield* threadStats
        // One task per thread (both idle: the first to the first thread); the big result is on the second.
        const [small, big] = yield* Client.map(T.floats, [10, 1_000_000], [1, 2])
        yield* Future.wait(small!)
        yield* Future.wait(big!)
        const placed = yield* snapshot
        const onBig = placed.tasks.get(big!.key)!.workers
        assert.strictEqual(onBig.length, 1)
        assert.notDeepEqual(placed.tasks.get(small!.key)!.workers, onBig)
        // Both threads idle: by occupancy alone this would go to the first thread and copy 8 MB there.
        const t = yield* Client.submit(T.total, big!)
        assert.strictEqual(yield* Future.result(t), 1_000_000 * 999_999)
        assert.deepStrictEqual((yield* snapshot).tasks.get(t.key)!.workers, onBig)
        // Two dependencies on two threads: it runs by the 8 MB one, and only the 80 bytes are copied.
        const s = yield* Client.submit(T.sum2, small!, big!)
        assert.strictEqual(yield* Future.result(s), 45 + 1_000_000 * 999_999)
        const { snap, stats } = yield* checkHeld
        assert.deepStrictEqual(snap.tasks.get(s.key)!.workers, onBig)
        assert.deepStrictEqual(snap.tasks.get(big!.key)!.workers, onBig, "the big result was never copied")
        assert.strictEqual(snap.tasks.get(small!.key)!.workers.length, 2, "the small one was")
        const copies = stats.map((x, i) => x.received - before[i]!.received)
        assert.deepStrictEqual(copies, snap.workers.map((w) => (w.address === onBig[0] ? 1 : 0)))
      }).pipe(Effect.scoped))

    it.effect("a thread that runs out of heap is replaced; the keys it held are recomputed", () =>
      Effect.gen(function*() {
        const runs = new Int32Array(new SharedArrayBuffer(4))
        const crashes = new Int32Array(new SharedArrayBuffer(4))
        const k = yield* Client.submit(T.counted, runs, 7)
        assert.strictEqual(yield* Future.result(k), 7)
        const holder = (yield* snapshot).tasks.get(k.key)!.workers[0]
        // With both threads idle the next task goes to the first one: the holder of k.
        assert.strictEqual(holder, (yield* snapshot).workers[0]!.address)
        const c = yield* Client.submit(T.crashOnce, crashes, 5)
        assert.strictEqual(yield* Future.result(c), 5, "the crashed task ran again elsewhere")
        assert.strictEqual(Atomics.load(crashes, 0), 2)
        // k's only copy died with the thread: it was recomputed (the client wants it).
        const [again] = yield* Client.gather([k])
        assert.strictEqual(again, 7)
        assert.strictEqual(Atomics.load(runs, 0), 2, "k computed twice")
        yield* checkHeld
      }).pipe(Effect.scoped))

    it.effect("a task that throws errs with its message; an Effect task and a dependency chain compute", () =>
      Effect.gen(function*() {
        const bad = yield* Client.submit(T.boom, "no luck")
        const error = yield* Effect.flip(Future.result(bad))
        assert.strictEqual(error._tag, "RemoteError")
        assert.include((error as { message: string }).message, "no luck")
        const x = yield* Client.submit(T.inc, 1)
        const y = yield* Client.submit(T.double, x)
        const z = yield* Client.submit(T.add, y, x)
        assert.strictEqual(yield* Future.result(z), 6)
        const [s] = yield* Client.scatter([40])
        assert.strictEqual(yield* Future.result(yield* Client.submit(T.add, s!, 2)), 42)
        yield* checkHeld
      }).pipe(Effect.scoped))

    it.effect("a task no listed module defines is refused before anything is sent", () =>
      Effect.gen(function*() {
        const stranger = Task.make("stranger", (x: number) => x)
        const error = yield* Effect.flip(Client.submit(stranger, 1))
        assert.instanceOf(error, UnsupportedTaskError)
        assert.strictEqual((yield* snapshot).tasks.size, 0)
      }).pipe(Effect.scoped))

    it.effect("arguments a structured clone cannot carry are refused before anything is sent (UnsupportedTaskError)", () =>
      Effect.gen(function*() {
        class Point {
          constructor(readonly x: number) {}
          norm() {
            return Math.abs(this.x)
          }
        }
        const refusals = [
          [[() => 1], "a function in argument 0"],
          [[{ deep: [1, { f: Symbol("s") }] }], "a symbol in argument 0 at .deep[1].f"],
          [[new Map([["p", new Point(1)]])], "an instance of Point in argument 0 at .get(\"p\")"],
          [[Promise.resolve(1)], "an instance of Promise"]
        ] as const
        for (const [args, expected] of refusals) {
          const error = yield* Effect.flip(Client.submit(T.inc as Task.Task<any, number>, ...(args as unknown as [number])))
          assert.instanceOf(error, UnsupportedTaskError)
          assert.include((error as UnsupportedTaskError).message, expected)
        }
        // One bad call refuses the whole map; the futures of the good ones are not made.
        const error = yield* Effect.flip(Client.map(T.inc as Task.Task<any, number>, [1, 2, () => 3] as ReadonlyArray<any>))
        assert.instanceOf(error, UnsupportedTaskError)
        // A graph sent without the client's prepare (protocol level) is refused by send itself.
        const session = yield* (yield* Scheduler).connect("protocol", () => {})
        const refused = session.send({
          _tag: "UpdateGraph",
          tasks: [{ key: "x", task: T.inc, args: [new WeakMap()], dependencies: [] }],
          keys: ["x"]
        })
        assert.instanceOf(refused, UnsupportedTaskError)
        assert.strictEqual((yield* snapshot).tasks.size, 0, "nothing reached the scheduler")
        // A scattered value is refused the same way, as a typed error, before anything is held.
        const scatterError = yield* Effect.flip(Client.scatter([1, { f: () => 2 }] as ReadonlyArray<unknown>))
        assert.strictEqual(scatterError._tag, "DecodeError")
        assert.include((scatterError as { message: string }).message, "a function at .f")
        assert.strictEqual((yield* snapshot).tasks.size, 0, "no scattered key is held")
        // Cycles, Maps, Sets, Dates, typed arrays and nested futures go.
        const cyclic: Record<string, unknown> = { n: 1 }
        cyclic.self = cyclic
        const [x] = yield* Client.scatter([41])
        const ok = yield* Client.submit(T.countAll as Task.Task<any, number>, [cyclic, new Map([[1, new Set([new Date(0)])]]), new Float64Array(2), { x }])
        assert.strictEqual(yield* Future.result(ok), 41 + 4)
        yield* checkHeld
      }).pipe(Effect.scoped))

    it.effect("after every scope closes no thread holds anything, and a thread's heap is back to its baseline", () =>
      Effect.gen(function*() {
        const base = yield* threadStats
        const scope = yield* Scope.make()
        const big = yield* Client.submit(T.floats, 4_000_000, 1).pipe(Scope.extend(scope)) // 32 MB
        yield* Future.wait(big)
        const during = yield* threadStats
        const holder = during.findIndex((t) => t.keys === 1)
        assert.isAtLeast(during[holder]!.bytes, 32_000_000)
        yield* Scope.close(scope, Exit.void)
        yield* tick(10)
        const after = yield* threadStats
        for (let i = 0; i < after.length; i++) {
          assert.strictEqual(after[i]!.keys, 0)
          assert.strictEqual(after[i]!.bytes, 0)
          assert.isBelow(after[i]!.heapUsed - base[i]!.heapUsed, 8_000_000, `${after[i]!.address} heap`)
        }
        const snap = yield* snapshot
        assert.strictEqual(snap.tasks.size, 0)
        assert.strictEqual(snap.workers.reduce((n, w) => n + w.bytes, 0), 0)
      }).pipe(Effect.scoped))
})
