/**
 * The embedded scheduler beside Dask's in-process scheduler
 * (`Client(processes=False)`, bench/dask-python-inproc.py, default settings
 * and `worker-saturation: inf`), measured in one run:
 *
 * - tasks: N trivial tasks (`a + b`, impure keys) mapped, waited, gathered and
 *   released through the Client API, until the scheduler holds nothing;
 * - chain: C dependent links, each submitted on its own (the previous handle
 *   released, as Python's `f = submit(add, f, 1)` drops it), to the last result;
 * - release: N keys in memory, then the scope holding their futures closes:
 *   time until every worker holds 0 bytes and no task is left;
 * - bookkeeping: heap growth per key held in memory, beyond the payload
 *   (needs `--expose-gc`), for the scheduler alone and with the client;
 * - threads (`threads: true`, tasks from test/fixtures/tasks/threads.ts):
 *   speedup of 8 fixed-work CPU-bound tasks on 2 threads over 1 (beside bare
 *   worker_threads doing the same work: what the machine offers right now),
 *   trivial tasks/s through the thread executor (beside the in-thread
 *   executor and Dask), and a 100 MB Float64Array dependency copied from one
 *   thread to another (MB/s, beside `structuredClone` in one thread).
 *
 * The JS side warms up first (two task cycles, two chains: V8 compiles hot
 * code after it has run a while) and reports the median of 3–5 runs; Dask's
 * script warms up with one task and runs each measure once.
 *
 * Run: `node --expose-gc --import tsx bench/embedded.ts [--n 10000] [--chain 2000] [--dask-json file]`
 * (`--dask-json` reuses a saved output of the Python script instead of running it).
 * Writes its figures under the `embedded` key of bench/results.json.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { record } from "./record.js"
import { connectQueued } from "../test/sessionReports.js"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { Client, EmbeddedScheduler, Future, Task } from "../src/index.js"
import { bareRun } from "../test/fixtures/bareThreads.js"
import * as Threaded from "../test/fixtures/tasks/threads.js"
import type { TaskSpec } from "../src/Scheduler.js"
import { KeyRef, Scheduler } from "../src/Scheduler.js"
import { SchedulerModel } from "../src/internal/model/scheduler.js"

const here = dirname(fileURLToPath(import.meta.url))
const now = () => performance.now()
const gc = (globalThis as { gc?: () => void }).gc
const heap = () => {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

const add = Task.make("add", (a: number, b: number) => a + b, { pure: false })

/** Figures from bench/dask-python-inproc.py for one configuration. */
interface DaskRun {
  readonly worker_saturation: string
  readonly tasks: { readonly tasks_per_s: number; readonly total_s: number }
  readonly chain: { readonly us_per_link: number }
  readonly release: { readonly release_to_zero_ms: number }
}

/** Options of {@link run}. */
export interface Options {
  readonly n?: number | undefined
  readonly chain?: number | undefined
  /** A saved output of bench/dask-python-inproc.py, instead of running it. */
  readonly daskJson?: string | undefined
  /** Skip Dask entirely (no ratios). */
  readonly skipDask?: boolean | undefined
  readonly write?: boolean | undefined
  /** Skip the worker-thread figures. */
  readonly skipThreads?: boolean | undefined
  /** Rounds of arithmetic per CPU-bound task in the thread speedup (default 5M). */
  readonly rounds?: number | undefined
}

type Env = Client.Client | Scheduler | EmbeddedScheduler.EmbeddedScheduler

const stats = Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.stats)

/** Polls (yielding) until the scheduler holds no task and no byte. */
const untilEmpty = Effect.gen(function*() {
  while (!isEmpty(yield* stats)) yield* Effect.yieldNow()
})
const isEmpty = (s: EmbeddedScheduler.Stats) => s.tasks === 0 && s.bytes === 0 && s.keys === 0

const tasksCycle = (n: number) =>
  Effect.gen(function*() {
    const xs = Array.from({ length: n }, (_, i) => i)
    const ones = xs.map(() => 1)
    const scope = yield* Scope.make()
    const cpu0 = process.cpuUsage()
    const t0 = now()
    const fs = yield* Client.map(add, xs, ones).pipe(Scope.extend(scope))
    const t1 = now()
    yield* Client.wait(fs)
    const t2 = now()
    const values = yield* Client.gather(fs)
    const t3 = now()
    if (values[n - 1] !== n) throw new Error("wrong result")
    yield* Scope.close(scope, Exit.void)
    yield* untilEmpty
    const t4 = now()
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    return {
      n,
      submit_ms: t1 - t0,
      compute_ms: t2 - t1,
      gather_ms: t3 - t2,
      release_ms: t4 - t3,
      total_ms: t4 - t0,
      tasks_per_s: n / ((t4 - t0) / 1000),
      // CPU time of this process over the cycle: less sensitive to other load on the machine.
      cpu_ms: cpuMs,
      tasks_per_cpu_s: n / (cpuMs / 1000)
    }
  })

/** The same, one `Client.submit` per task. */
const submitCycle = (n: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const t0 = now()
    const fs: Array<Future.Future<number>> = []
    for (let i = 0; i < n; i++) fs.push(yield* Client.submit(add, i, 1).pipe(Scope.extend(scope)))
    yield* Client.wait(fs)
    const values = yield* Client.gather(fs)
    if (values[n - 1] !== n) throw new Error("wrong result")
    yield* Scope.close(scope, Exit.void)
    yield* untilEmpty
    const total = now() - t0
    return { n, total_ms: total, tasks_per_s: n / (total / 1000) }
  })

const chainRun = (links: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const t0 = now()
    let f = yield* Client.submit(add, 0, 1).pipe(Scope.extend(scope))
    for (let i = 1; i < links; i++) {
      const next = yield* Client.submit(add, f, 1).pipe(Scope.extend(scope))
      yield* Future.release(f)
      f = next
    }
    const value = yield* Future.result(f)
    const total = now() - t0
    if (value !== links) throw new Error(`wrong chain result ${value}`)
    yield* Scope.close(scope, Exit.void)
    yield* untilEmpty
    return { links, total_ms: total, us_per_link: (total * 1000) / links }
  })

const releaseRun = (n: number) =>
  Effect.gen(function*() {
    const xs = Array.from({ length: n }, (_, i) => i)
    const scope = yield* Scope.make()
    const fs = yield* Client.map(add, xs, xs).pipe(Scope.extend(scope))
    yield* Client.wait(fs)
    const before = (yield* stats).bytes
    const t0 = now()
    yield* Scope.close(scope, Exit.void)
    yield* untilEmpty
    return { n, bytes_before: before, release_to_zero_ms: now() - t0 }
  })

/**
 * The same three measures at the protocol level (`Session.send`, no Client):
 * the scheduler's own share of the end-to-end figures.
 */
const protocolRuns = (n: number, links: number) =>
  Effect.scoped(Effect.gen(function*() {
    const session = yield* connectQueued(`bench-protocol-${++protocolRun}`)
    const takeUntil = (count: number) =>
      Effect.gen(function*() {
        let got = 0
        while (got < count) got += (yield* Queue.takeBetween(session.reports, 1, count - got)).length
      })
    // tasks: one graph update of n independent tasks, their n reports, gather, release.
    const specs: Array<TaskSpec> = Array.from({ length: n }, (_, i) => ({ key: `p-${protocolRun}-${i}`, task: add, args: [i, 1], dependencies: [] }))
    const keys = specs.map((s) => s.key)
    const t0 = now()
    session.send({ _tag: "UpdateGraph", tasks: specs, keys })
    yield* takeUntil(n)
    const values = yield* session.gather(keys)
    if (values.get(keys[n - 1]!) !== n) throw new Error("wrong result")
    session.send({ _tag: "ReleaseKeys", keys })
    yield* untilEmpty
    const tasksMs = now() - t0
    // chain: each link its own update, the previous key released.
    const c0 = now()
    const link = (i: number) => `c-${protocolRun}-${i}`
    session.send({ _tag: "UpdateGraph", tasks: [{ key: link(0), task: add, args: [0, 1], dependencies: [] }], keys: [link(0)] })
    for (let i = 1; i < links; i++) {
      session.send({
        _tag: "UpdateGraph",
        tasks: [{ key: link(i), task: add, args: [new KeyRef(link(i - 1)), 1], dependencies: [link(i - 1)] }],
        keys: [link(i)]
      })
      session.send({ _tag: "ReleaseKeys", keys: [link(i - 1)] })
    }
    for (;;) {
      const r = yield* Queue.take(session.reports)
      if (r._tag === "KeyInMemory" && r.key === link(links - 1)) break
    }
    const chainMs = now() - c0
    session.send({ _tag: "ReleaseKeys", keys: [link(links - 1)] })
    yield* untilEmpty
    // release: n keys in memory, one release message, until nothing is held.
    const rkeys = keys.map((k) => `r${k}`)
    session.send({ _tag: "UpdateGraph", tasks: specs.map((s, i) => ({ ...s, key: rkeys[i]! })), keys: rkeys })
    yield* takeUntil(n)
    const r0 = now()
    session.send({ _tag: "ReleaseKeys", keys: rkeys })
    yield* untilEmpty
    const releaseMs = now() - r0
    return {
      tasks_per_s: n / (tasksMs / 1000),
      tasks_total_ms: tasksMs,
      chain_us_per_link: (chainMs * 1000) / links,
      release_to_zero_ms: releaseMs
    }
  }))
let protocolRun = 0

/** Heap growth per key in memory: the scheduler alone (protocol level), and through the client. */
const bookkeeping = (n: number) =>
  Effect.scoped(Effect.gen(function*() {
    const scheduler = yield* Scheduler
    // Scheduler alone: one UpdateGraph of n tasks, then the values stay wanted.
    const session = yield* connectQueued("bench-bookkeeping", scheduler)
    const specs: Array<TaskSpec> = Array.from({ length: n }, (_, i) => ({ key: `k-${i}`, task: add, args: [i, 1], dependencies: [] }))
    const keys = specs.map((s) => s.key)
    const h0 = heap()
    session.send({ _tag: "UpdateGraph", tasks: specs, keys })
    while ((yield* stats).keys < n) yield* Effect.yieldNow()
    // Reports queued for the session are the client's to take: drain them, and step once so the
    // fiber lets go of the taken batch, before measuring.
    yield* Queue.takeAll(session.reports)
    yield* settle
    const h1 = heap()
    const payload = (yield* stats).bytes
    session.send({ _tag: "ReleaseKeys", keys })
    yield* untilEmpty
    const schedulerOnly = (h1 - h0 - payload) / n

    // Through the client: futures held by the caller's scope.
    const xs = Array.from({ length: n }, (_, i) => i)
    const ones = xs.map(() => 1)
    const scope = yield* Scope.make()
    const c0 = heap()
    const fs = yield* Client.map(add, xs, ones).pipe(Scope.extend(scope))
    yield* Client.wait(fs)
    yield* settle
    const c1 = heap()
    yield* Scope.close(scope, Exit.void)
    yield* untilEmpty
    const withClient = (c1 - c0 - payload) / n
    return {
      n,
      payload_bytes: payload,
      scheduler_bytes_per_key: gc ? schedulerOnly : undefined,
      client_and_scheduler_bytes_per_key: gc ? withClient : undefined,
      gc_exposed: gc !== undefined
    }
  }))

const repeat = <A, E, R>(times: number, e: Effect.Effect<A, E, R>) => Effect.forEach(Array.from({ length: times }), () => e)

/** The run with the median `by`, with every run's figure alongside. */
const median = <A extends object>(runs: ReadonlyArray<A>, by: (a: A) => number): A & { readonly runs: ReadonlyArray<number> } => {
  const sorted = [...runs].sort((a, b) => by(a) - by(b))
  return { ...sorted[Math.floor(sorted.length / 2)]!, runs: runs.map(by) }
}

const settle = Effect.repeatN(Effect.yieldNow(), 3)

const runDask = (options: Options, n: number, links: number): { readonly default: DaskRun; readonly saturation_inf: DaskRun } | undefined => {
  if (options.skipDask) return undefined
  if (options.daskJson !== undefined) return JSON.parse(readFileSync(options.daskJson, "utf8"))
  const out = execFileSync("/usr/bin/python3", [join(here, "dask-python-inproc.py"), "--n", String(n), "--chain", String(links)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    maxBuffer: 1 << 24
  })
  return JSON.parse(out)
}

const threadModules = [new URL("../test/fixtures/tasks/threads.ts", import.meta.url)]
const threadsLayer = (workers: number, slots?: number) =>
  Client.layer({ id: "bench-threads" }).pipe(
    Layer.provideMerge(EmbeddedScheduler.layer({ workers, slots, threads: true, modules: threadModules }))
  )

/** Wall time of 8 `work(rounds)` tasks on `workers` threads (after a warm-up). */
const cpuRun = (workers: number, rounds: number) =>
  Effect.gen(function*() {
    const warm = [0, 1, 2, 3]
    yield* Client.gather(yield* Client.map(Threaded.work, warm.map(() => 1000), warm))
    const tags = [0, 1, 2, 3, 4, 5, 6, 7]
    const t0 = now()
    yield* Client.gather(yield* Client.map(Threaded.work, tags.map(() => rounds), tags))
    return now() - t0
  }).pipe(Effect.scoped, Effect.provide(threadsLayer(workers)))

/** Trivial tasks through the thread executor: map + gather + release of `n` adds. */
const threadTasks = (n: number) =>
  Effect.gen(function*() {
    const xs = Array.from({ length: n }, (_, i) => i)
    yield* Effect.scoped(Effect.flatMap(Client.map(Threaded.add, xs, xs), Client.gather)) // warm-up
    const t0 = now()
    yield* Effect.scoped(Effect.flatMap(Client.map(Threaded.add, xs, xs), Client.gather))
    return n / ((now() - t0) / 1000)
  }).pipe(Effect.provide(threadsLayer(2)))

/**
 * What data locality saves: 8 results of 8 MB each (pinned alternately: 4 per thread), then a
 * dependent of each (`total`) and of each pair i, i + 2 (`sum2`: both on one thread), with the
 * model's locality on or off (each run twice, alternately; the second is reported): values
 * copied between threads (the threads' own count) and the dependents' wall time; and trivial
 * dependent tasks/s (2000 `inc` of computed values: the cost of the choice itself). With 1 slot
 * per thread most dependents wait for a slot, and a waiting task goes to the first slot that frees
 * (the model queues every task without a free slot, where Dask would assign it to the holder).
 */
const localityRun = (locality: boolean, slots: number) =>
  Effect.gen(function*() {
    const threadsNow = Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.threadsNow)
    const copies = Effect.map(threadsNow, (ts) => ts.reduce((n, t) => n + t.received, 0))
    const addresses = (yield* Client.workers).map((w) => w.address)
    const xs = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) =>
      Client.submitWith(Threaded.floats, [1_000_000, i + 1], { workers: [addresses[i % 2]!] }))
    yield* Client.wait(xs)
    const c0 = yield* copies
    const t0 = now()
    const totals = yield* Client.map(Threaded.total, xs)
    const sums = yield* Client.map(Threaded.sum2, xs.slice(0, -2), xs.slice(2))
    yield* Client.wait([...totals, ...sums])
    const dependents_ms = now() - t0
    const big_copies = (yield* copies) - c0
    const small = yield* Client.map(Threaded.add, Array.from({ length: 2000 }, (_, i) => i), Array.from({ length: 2000 }, () => 1))
    yield* Client.wait(small)
    yield* Effect.scoped(Effect.flatMap(Client.map(Threaded.inc, small), Client.gather)) // warm-up
    const t1 = now()
    yield* Effect.scoped(Effect.flatMap(Client.map(Threaded.inc, small), Client.gather))
    const dependent_tasks_per_s = 2000 / ((now() - t1) / 1000)
    return { locality, slots, big_copies, dependents_ms, dependent_tasks_per_s }
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.unwrapEffect(Effect.sync(() => {
      SchedulerModel.locality = locality
      return threadsLayer(2, slots)
    }))),
    Effect.ensuring(Effect.sync(() => (SchedulerModel.locality = true)))
  )

/** A 100 MB Float64Array made on one thread, needed by a task on the other: the copy's MB/s. */
const transferRun = (mb: number) =>
  Effect.gen(function*() {
    const a = yield* Client.submit(Threaded.floats, (mb * 1e6) / 8, 1)
    yield* Future.wait(a)
    // Occupy the holder's only slot so that the dependent goes to the other thread (and must copy `a`).
    // An Effect task that sleeps: the holder's event loop stays free to serve the copy (a thread busy in
    // synchronous code cannot answer its peers until the code returns).
    const block = yield* Client.submit(Threaded.nap, 5000)
    yield* Effect.sleep(50)
    const t0 = now()
    const len = yield* Client.submit(Threaded.length, a)
    yield* Future.result(len)
    const ms = now() - t0
    const snap = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
    const copies = snap.tasks.get(a.key)?.workers.length ?? 0
    yield* Future.cancel(block)
    return { mb, ms, mb_per_s: mb / (ms / 1000), copies }
  }).pipe(Effect.scoped, Effect.provide(threadsLayer(2)))

const cloneRun = (mb: number) => {
  const xs = new Float64Array((mb * 1e6) / 8).fill(1)
  structuredClone(xs)
  const t0 = now()
  structuredClone(xs)
  const ms = now() - t0
  return { mb, ms, mb_per_s: mb / (ms / 1000) }
}

/** The worker-thread figures (see the header). */
const threadsBench = async (rounds: number) => {
  const one = await Effect.runPromise(cpuRun(1, rounds))
  const two = await Effect.runPromise(cpuRun(2, rounds))
  const bareOne = await bareRun(1, rounds)
  const bareTwo = await bareRun(2, rounds)
  const trivial = await Effect.runPromise(threadTasks(2000))
  const pair = async (slots: number) => {
    await Effect.runPromise(localityRun(true, slots))
    await Effect.runPromise(localityRun(false, slots))
    return { on: await Effect.runPromise(localityRun(true, slots)), off: await Effect.runPromise(localityRun(false, slots)) }
  }
  const locality = { slots_1: await pair(1), slots_4: await pair(4) }
  const transfer = await Effect.runPromise(transferRun(100))
  const clone = cloneRun(100)
  return {
    cpu: { tasks: 8, rounds, one_thread_ms: one, two_threads_ms: two, speedup: one / two, bare_speedup: bareOne / bareTwo },
    trivial_tasks_per_s: trivial,
    locality,
    transfer,
    structured_clone: clone
  }
}

/**
 * Runs the comparison; prints a table and (unless `write: false`) writes bench/results.json.
 */
export const run = async (options: Options = {}) => {
  const n = options.n ?? 10_000
  const links = options.chain ?? 2_000
  const dask = runDask(options, n, links)

  const layer = Client.layer({ id: "bench" }).pipe(Layer.provideMerge(EmbeddedScheduler.layer({ workers: 2, slots: 4 })))
  const embedded = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const ctx = yield* Layer.build(layer)
    const go = <A, E>(e: Effect.Effect<A, E, Env>) => Effect.provide(e, ctx as Context.Context<Env>)
    // Warm-up (V8's JIT), then repeated runs; the run with the median total is reported.
    yield* go(tasksCycle(n))
    yield* go(tasksCycle(n))
    yield* go(chainRun(links))
    yield* go(chainRun(links))
    const tasks = median(yield* repeat(5, go(tasksCycle(n))), (r) => r.total_ms)
    const submit = median(yield* repeat(3, go(submitCycle(n))), (r) => r.total_ms)
    const chain = median(yield* repeat(5, go(chainRun(links))), (r) => r.total_ms)
    const release = median(yield* repeat(3, go(releaseRun(n))), (r) => r.release_to_zero_ms)
    const protocol = median(yield* repeat(5, go(protocolRuns(n, links))), (r) => r.tasks_total_ms)
    const memory = yield* go(bookkeeping(n))
    return { tasks, submit, chain, release, protocol, memory }
  })))
  const threads = options.skipThreads ? undefined : await threadsBench(options.rounds ?? 5_000_000)

  const best = dask === undefined ? undefined : {
    tasks_per_s: Math.max(dask.default.tasks.tasks_per_s, dask.saturation_inf.tasks.tasks_per_s),
    us_per_link: Math.min(dask.default.chain.us_per_link, dask.saturation_inf.chain.us_per_link),
    release_to_zero_ms: Math.min(dask.default.release.release_to_zero_ms, dask.saturation_inf.release.release_to_zero_ms)
  }
  const ratios = best === undefined ? undefined : {
    tasks_per_s_ratio_vs_dask_best: embedded.tasks.tasks_per_s / best.tasks_per_s,
    tasks_per_s_ratio_vs_dask_default: embedded.tasks.tasks_per_s / dask!.default.tasks.tasks_per_s,
    chain_speedup_ratio_vs_dask_best: best.us_per_link / embedded.chain.us_per_link,
    release_time_ratio_vs_dask_best: embedded.release.release_to_zero_ms / best.release_to_zero_ms
  }
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    n,
    chain_links: links,
    embedded: { workers: 2, slots: 4, ...embedded },
    threads,
    dask,
    dask_best: best,
    ratios,
    aims: {
      tasks_per_s_ratio_vs_dask_best: ">= 50",
      us_per_link: "<= 50",
      release_time_ratio_vs_dask_best: "< 0.01",
      bookkeeping_bytes_per_key: "<= 500"
    }
  }

  const fmt = (x: number | undefined, digits = 1) => x === undefined ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: digits })
  const rows: Array<[string, string, string, string, string]> = [
    ["measure", "embedded", "dask default", "dask sat=inf", "ratio vs dask best"],
    [`tasks/s (${n} map+wait+gather+release)`, fmt(embedded.tasks.tasks_per_s, 0), fmt(dask?.default.tasks.tasks_per_s, 0), fmt(dask?.saturation_inf.tasks.tasks_per_s, 0), ratios ? `${fmt(ratios.tasks_per_s_ratio_vs_dask_best)}× faster` : "–"],
    [`  same, per CPU-second of this process`, fmt(embedded.tasks.tasks_per_cpu_s, 0), "", "", ""],
    [`tasks/s (${n} × submit)`, fmt(embedded.submit.tasks_per_s, 0), "", "", ""],
    [`µs per chain link (${links})`, fmt(embedded.chain.us_per_link, 2), fmt(dask?.default.chain.us_per_link, 0), fmt(dask?.saturation_inf.chain.us_per_link, 0), ratios ? `${fmt(ratios.chain_speedup_ratio_vs_dask_best)}× faster` : "–"],
    [`ms release ${n} keys → 0 bytes`, fmt(embedded.release.release_to_zero_ms, 2), fmt(dask?.default.release.release_to_zero_ms, 0), fmt(dask?.saturation_inf.release.release_to_zero_ms, 0), ratios ? `${fmt(ratios.release_time_ratio_vs_dask_best * 100, 3)}% of Dask's time` : "–"],
    ["  scheduler alone (protocol level): tasks/s", fmt(embedded.protocol.tasks_per_s, 0), "", "", ""],
    ["  scheduler alone: µs per chain link", fmt(embedded.protocol.chain_us_per_link, 2), "", "", ""],
    ["  scheduler alone: ms release → 0 bytes", fmt(embedded.protocol.release_to_zero_ms, 2), "", "", ""],
    ...(threads === undefined ? [] : [
      [`threads: 8 CPU-bound tasks, 1 → 2 threads speedup`, `${fmt(threads.cpu.speedup, 2)}×`, "", "", `bare threads ${fmt(threads.cpu.bare_speedup, 2)}×`],
      [`  ms on 1 thread / on 2 threads`, `${fmt(threads.cpu.one_thread_ms, 0)} / ${fmt(threads.cpu.two_threads_ms, 0)}`, "", "", ""],
      [`threads: trivial tasks/s (2000 map+gather)`, fmt(threads.trivial_tasks_per_s, 0), fmt(dask?.default.tasks.tasks_per_s, 0), fmt(dask?.saturation_inf.tasks.tasks_per_s, 0), `in-thread ${fmt(embedded.tasks.tasks_per_s, 0)}`],
      ...(["slots_1", "slots_4"] as const).flatMap((k) => {
        const l = threads.locality[k]
        return [
          [`threads (${l.on.slots} slot/thread): 8 MB results copied for 14 dependents, locality on / off`, `${l.on.big_copies} / ${l.off.big_copies}`, "", "", ""],
          [`  ms for those dependents, on / off`, `${fmt(l.on.dependents_ms, 0)} / ${fmt(l.off.dependents_ms, 0)}`, "", "", ""],
          [`  dependent trivial tasks/s (2000 inc), on / off`, `${fmt(l.on.dependent_tasks_per_s, 0)} / ${fmt(l.off.dependent_tasks_per_s, 0)}`, "", "", ""]
        ] as Array<[string, string, string, string, string]>
      }),
      [`threads: 100 MB Float64Array thread→thread MB/s`, fmt(threads.transfer.mb_per_s, 0), "", "", `structuredClone ${fmt(threads.structured_clone.mb_per_s, 0)}`]
    ] as Array<[string, string, string, string, string]>),
    ["bookkeeping B/key: scheduler", fmt(embedded.memory.scheduler_bytes_per_key, 0), "", "", ""],
    ["bookkeeping B/key: client+scheduler", fmt(embedded.memory.client_and_scheduler_bytes_per_key, 0), "", "", ""]
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const r of rows) console.log(r.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  "))
  console.log(`phases (ms): submit ${fmt(embedded.tasks.submit_ms)}, compute ${fmt(embedded.tasks.compute_ms)}, gather ${fmt(embedded.tasks.gather_ms)}, release ${fmt(embedded.tasks.release_ms)}`)
  if (!embedded.memory.gc_exposed) console.log("(bookkeeping needs: node --expose-gc --import tsx bench/embedded.ts)")

  // Other benches share the file: ours is its "embedded" entry.
  if (options.write !== false) record("embedded", results)
  return results
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name)
    return i < 0 ? undefined : process.argv[i + 1]
  }
  await run({
    n: arg("--n") === undefined ? undefined : Number(arg("--n")),
    chain: arg("--chain") === undefined ? undefined : Number(arg("--chain")),
    daskJson: arg("--dask-json"),
    skipDask: process.argv.includes("--skip-dask"),
    skipThreads: process.argv.includes("--skip-threads"),
    rounds: arg("--rounds") === undefined ? undefined : Number(arg("--rounds"))
  })
}
