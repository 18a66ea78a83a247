/**
 * Node workers (`effect-dask worker`) against Python workers, in one run, on
 * the same scheduler, for every Dask version available:
 *
 *   npx tsx bench/dask-worker.ts [--versions 2022.12,2024.12] [--tasks 10000] [--rounds 3]
 *                                [--mb 100] [--rss-tasks 100000]
 *
 * One cluster per version: a dask-scheduler (worker-saturation inf), two
 * Python workers and two Node workers, all `--nthreads 1`.
 *
 *   trivial    N tasks through the 2 Node workers (JS `inc`, resource js) and
 *              through the 2 Python workers (`operator.neg`, restricted to them
 *              by the client's placement rule), rounds alternating: tasks/s
 *              from submit until all are done, and worker CPU µs per task
 *              (utime+stime of the two worker processes, /proc)
 *   transfer   a `--mb` MB Float64Array made by a JS task on one Node worker,
 *              consumed by a JS task on the other (Node→Node) and by a Python
 *              task (Node→Python); beside it `bytes(n)` made on one Python
 *              worker and consumed on the other (Python→Python): MB/s of the
 *              consuming task's fetch + run
 *   rss        Node worker RSS before and after `--rss-tasks` trivial tasks,
 *              all released (in batches of 10,000)
 *
 * Prints a table per version with min / median / max, and records the raw
 * figures under "dask-worker" in bench/results.json.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import * as Future from "../src/Future.js"
import * as Task from "../src/Task.js"
import { available, type Cluster, type DaskVersion, startCluster, versions } from "../test/dask/cluster.js"
import { record } from "./record.js"
import * as T from "./dask-worker-tasks.js"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number): number =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback
const only = args.includes("--versions") ? args[args.indexOf("--versions") + 1]!.split(",") : undefined
const N = flag("--tasks", 10_000)
const ROUNDS = flag("--rounds", 3)
const MB = flag("--mb", 100)
const RSS_TASKS = flag("--rss-tasks", 100_000)

const neg = Task.python<[number], number>("operator.neg", { pure: false })
const pyBytes = Task.python<[number], Uint8Array>("builtins.bytes", { pure: false })
const pyLen = Task.python<[unknown], number>("builtins.len", { pure: false })

const clockTicks = 100 // USER_HZ on Linux
const cpuSeconds = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}
const rssBytes = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return m === null ? NaN : Number(m[1]) * 1024
}

const stats = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! }
}
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
const mmm = (xs: ReadonlyArray<number>, digits = 0) => {
  const s = stats(xs)
  return `${fmt(s.min, digits)} / ${fmt(s.median, digits)} / ${fmt(s.max, digits)}`
}

const run = <A, E>(cluster: Cluster, effect: Effect.Effect<A, E, any>): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(Client.layer()),
      Effect.scoped,
      Effect.provide(DaskScheduler.layer({ address: cluster.address }))
    ) as Effect.Effect<A, E, never>
  )

/** One batch of trivial tasks: seconds until all are done, CPU seconds the given workers spent. */
const trivial = (cluster: Cluster, kind: "node" | "python", n: number, pids: ReadonlyArray<number>) =>
  run(cluster, Effect.gen(function*() {
    const xs = Array.from({ length: n }, (_, i) => i)
    const cpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0)
    const t0 = performance.now()
    const fs = kind === "node" ? yield* Client.map(T.inc, xs) : yield* Client.map(neg, xs)
    yield* Client.wait(fs)
    const seconds = (performance.now() - t0) / 1000
    const cpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - cpu0
    const sample = yield* Future.result(fs[n - 1]!)
    if (sample !== (kind === "node" ? n : -(n - 1))) throw new Error(`wrong result ${String(sample)}`)
    return { seconds, cpu }
  }))

/** Seconds for a task on `to` that consumes a `bytes`-sized value made on `from`. */
const transfer = (cluster: Cluster, produce: "node" | "python", consume: "node" | "python", from: string, to: string, bytes: number) =>
  run(cluster, Effect.gen(function*() {
    const value = produce === "node"
      ? yield* Client.submitWith(T.floats, [bytes / 8], { workers: [from] })
      : yield* Client.submitWith(pyBytes, [bytes], { workers: [from] })
    yield* Client.wait([value])
    const t0 = performance.now()
    const used = consume === "node"
      ? yield* Client.submitWith(T.byteLength, [value], { workers: [to] })
      : yield* Client.submitWith(pyLen, [value], { workers: [to] })
    const length = yield* Future.result(used)
    const seconds = (performance.now() - t0) / 1000
    const expected = consume === "node" ? bytes : produce === "node" ? bytes : bytes
    if (length !== expected) throw new Error(`${produce}→${consume}: length ${String(length)}, expected ${expected}`)
    return seconds
  }))

interface VersionResult {
  readonly version: DaskVersion
  readonly trivial: { readonly node: Array<{ seconds: number; cpu: number }>; readonly python: Array<{ seconds: number; cpu: number }> }
  readonly transfer: Record<string, Array<number>>
  readonly rss: { readonly before: number; readonly after: number; readonly peak: number; readonly tasks: number }
}

const benchVersion = async (version: DaskVersion): Promise<VersionResult> => {
  const cluster = await startCluster(version, {
    workers: 2,
    nthreads: 1,
    nodeWorkers: 2,
    node: { tasks: ["bench/dask-worker-tasks.ts"], nthreads: 1 },
    schedulerConfig: { "distributed.scheduler.worker-saturation": "inf" },
    timeout: 60_000
  })
  try {
    const nodePids = cluster.nodeWorkers.map((w) => w.pid)
    const pyPids = cluster.workerPids
    const [pyA, pyB] = cluster.workers
    const [nodeA, nodeB] = cluster.nodeWorkers.map((w) => w.address)
    // Warm-up (module loading, JIT, pooled comms) for both kinds.
    await trivial(cluster, "node", 500, nodePids)
    await trivial(cluster, "python", 500, pyPids)
    const result: VersionResult = {
      version,
      trivial: { node: [], python: [] },
      transfer: { "Node→Node": [], "Node→Python": [], "Python→Python": [] },
      rss: { before: 0, after: 0, peak: 0, tasks: RSS_TASKS }
    }
    for (let r = 0; r < ROUNDS; r++) {
      result.trivial.node.push(await trivial(cluster, "node", N, nodePids))
      result.trivial.python.push(await trivial(cluster, "python", N, pyPids))
    }
    const bytes = MB * 1_000_000 - ((MB * 1_000_000) % 8)
    for (let r = 0; r < ROUNDS; r++) {
      result.transfer["Node→Node"]!.push(await transfer(cluster, "node", "node", nodeA!, nodeB!, bytes))
      result.transfer["Node→Python"]!.push(await transfer(cluster, "node", "python", nodeA!, pyA!, bytes))
      result.transfer["Python→Python"]!.push(await transfer(cluster, "python", "python", pyA!, pyB!, bytes))
    }
    const before = Math.max(...nodePids.map(rssBytes))
    let peak = before
    for (let done = 0; done < RSS_TASKS; done += 10_000) {
      await trivial(cluster, "node", Math.min(10_000, RSS_TASKS - done), nodePids)
      peak = Math.max(peak, ...nodePids.map(rssBytes))
    }
    // Released with the batches' scopes; give the scheduler's free-keys a moment.
    await new Promise((r) => setTimeout(r, 2_000))
    const state = await cluster.state()
    const left = cluster.nodeWorkers.reduce((a, w) => a + (state.workerData[w.address]?.length ?? 0), 0)
    if (left !== 0) throw new Error(`${left} keys left on the Node workers after release`)
    return { ...result, rss: { before, after: Math.max(...nodePids.map(rssBytes)), peak, tasks: RSS_TASKS } }
  } finally {
    await cluster.stop()
  }
}

const print = (r: VersionResult) => {
  const rate = (xs: ReadonlyArray<{ seconds: number }>) => xs.map((x) => N / x.seconds)
  const cpu = (xs: ReadonlyArray<{ cpu: number }>) => xs.map((x) => (x.cpu / N) * 1e6)
  const nodeRate = stats(rate(r.trivial.node)).median
  const pyRate = stats(rate(r.trivial.python)).median
  const nodeCpu = stats(cpu(r.trivial.node)).median
  const pyCpu = stats(cpu(r.trivial.python)).median
  console.log(`\nDask ${r.version}: ${N.toLocaleString("en-US")} trivial tasks, 2 workers × nthreads 1 each kind, ${ROUNDS} rounds (min / median / max)`)
  console.log(`  ${"".padEnd(26)}${"tasks/s".padEnd(28)}worker CPU µs/task`)
  console.log(`  ${"2 Node workers".padEnd(26)}${mmm(rate(r.trivial.node)).padEnd(28)}${mmm(cpu(r.trivial.node))}`)
  console.log(`  ${"2 Python workers".padEnd(26)}${mmm(rate(r.trivial.python)).padEnd(28)}${mmm(cpu(r.trivial.python))}`)
  console.log(`  ${"Node / Python (medians)".padEnd(26)}${`${fmt(nodeRate / pyRate, 2)}×`.padEnd(28)}${fmt(nodeCpu / pyCpu, 2)}×`)
  console.log(`  ${MB} MB dependency, MB/s of fetch + consuming task:`)
  for (const [path, seconds] of Object.entries(r.transfer)) {
    console.log(`    ${path.padEnd(24)}${mmm(seconds.map((s) => MB / s))}`)
  }
  console.log(`  Node worker RSS: ${fmt(r.rss.before / 2 ** 20)} MiB before, ${fmt(r.rss.peak / 2 ** 20)} MiB peak, ${fmt(r.rss.after / 2 ** 20)} MiB after ${r.rss.tasks.toLocaleString("en-US")} tasks released`)
}

const main = async () => {
  const results: Array<VersionResult> = []
  for (const version of versions) {
    if (only !== undefined && !only.includes(version)) continue
    const a = available(version)
    if (!a.ok) {
      console.log(`Dask ${version}: skipped (${a.reason})`)
      continue
    }
    const r = await benchVersion(version)
    print(r)
    results.push(r)
  }
  record("dask-worker", { tasks: N, rounds: ROUNDS, mb: MB, results })
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
