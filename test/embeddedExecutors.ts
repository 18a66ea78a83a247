/**
 * The embedded scheduler's two executors for suites that run on both: in
 * this thread (a fresh layer per test, TestClock time) and on worker threads
 * (one layer per option set for the whole file: a thread takes seconds to
 * start under tsx; every test must leave it empty, which `clean` checks).
 * Tasks come from test/fixtures/tasks/embedded.ts, which the threads load.
 */
import { afterAll, assert } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { EmbeddedScheduler } from "../src/index.js"
import type { Scheduler } from "../src/Scheduler.js"

export const modules = [new URL("./fixtures/tasks/embedded.ts", import.meta.url)]

type Built = Context.Context<Scheduler | EmbeddedScheduler.EmbeddedScheduler>

export interface Executor {
  readonly name: "in-thread" | "threads"
  readonly threads: boolean
  /** The scheduler for `options` (threads: shared by every test of the file that asks for the same options). */
  readonly layer: (options?: EmbeddedScheduler.Options) => Layer.Layer<Scheduler | EmbeddedScheduler.EmbeddedScheduler>
  /** Lets work run until nothing changes any more (tasks blocked on a gate stay blocked). */
  readonly settle: Effect.Effect<void, never, EmbeddedScheduler.EmbeddedScheduler>
  /**
   * After a test, every scope and client closed: the scheduler knows no task and no worker holds
   * anything, and (threads) no thread holds a value, and (unless `heap` is false: it takes a GC in each
   * thread) each thread's heap is back near its baseline.
   */
  readonly clean: (heap?: boolean) => Effect.Effect<void, never, EmbeddedScheduler.EmbeddedScheduler>
}

const macrotask = Effect.promise(() => new Promise<void>((r) => setImmediate(r)))

/** In-process work: microtasks, timers at the current test time, and a real macrotask (gates resolve in one). */
const settleInThread = Effect.repeatN(Effect.zipRight(Effect.sleep(0), macrotask), 5)

const emptyScheduler = Effect.gen(function*() {
  const s = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
  assert.deepStrictEqual([...s.tasks.keys()], [], "tasks left in the scheduler")
  assert.deepStrictEqual(s.workers.map((w) => [w.keys.length, w.bytes, w.running]), s.workers.map(() => [0, 0, 0]))
})

export const inThread: Executor = {
  name: "in-thread",
  threads: false,
  layer: (options) => Layer.orDie(EmbeddedScheduler.layer({ workers: 2, slots: 4, ...options })),
  settle: settleInThread,
  clean: () => Effect.zipRight(settleInThread, emptyScheduler)
}

/**
 * A signature of progress: counts the model keeps plus the tasks the threads have run. Two equal
 * in a row, each after a round trip to every thread, and the scheduler is quiet.
 */
const progress = Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) =>
  Effect.zipWith(e.stats, e.threadsNow, (s, ts) =>
    [s.tasks, s.keys, s.bytes, s.processing, s.queued, ...ts.map((t) => t.executed)].join(",")))

const settleThreads = Effect.gen(function*() {
  let last = ""
  for (let round = 0; round < 500; round++) {
    yield* macrotask
    const now = yield* progress
    if (now === last) return
    last = now
  }
})

const scope = Effect.runSync(Scope.make())
const built = new Map<string, Promise<Built>>()
/** Heap of each thread of each layer once built (after a GC), the baseline of `clean`. */
const baselines = new Map<string, ReadonlyArray<number>>()
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

/** Heap a thread may have grown by over the file (JIT feedback, caches): far less than any value the tests hold. */
const HEAP_SLACK = 16_000_000

export const threads: Executor = {
  name: "threads",
  threads: true,
  layer: (options) => {
    const opts = { workers: 2, slots: 4, ...options, threads: true as const, modules }
    const id = JSON.stringify({ ...opts, modules: undefined })
    return Layer.effectContext(Effect.promise(() => {
      let p = built.get(id)
      if (p === undefined) {
        p = Effect.runPromise(
          Effect.tap(Layer.buildWithScope(EmbeddedScheduler.layer(opts), scope), (ctx) =>
            Effect.map(Context.get(ctx, EmbeddedScheduler.EmbeddedScheduler).threads, (ts) =>
              baselines.set(Context.get(ctx, EmbeddedScheduler.EmbeddedScheduler).address, ts.map((t) => t.heapUsed))))
        )
        built.set(id, p)
      }
      return p
    }))
  },
  settle: settleThreads,
  clean: (heap = true) =>
    Effect.gen(function*() {
      yield* settleThreads
      yield* emptyScheduler
      const e = yield* EmbeddedScheduler.EmbeddedScheduler
      const ts = yield* (heap ? e.threads : e.threadsNow)
      const base = baselines.get(e.address) ?? []
      ts.forEach((t, i) => {
        assert.deepStrictEqual([t.keys, t.bytes], [0, 0], `${t.address} still holds values`)
        if (heap) assert.isBelow(t.heapUsed - (base[i] ?? 0), HEAP_SLACK, `${t.address} heap above its baseline`)
      })
    })
}

export const executors: ReadonlyArray<Executor> = [inThread, threads]

