/**
 * This client (effect-dask over TCP) against Dask's own Python client, in one
 * run, on the same scheduler and worker, for every Dask version available.
 *
 *   npx tsx bench/dask.ts [--versions 2022.12,2024.12] [--quick]
 *
 * Scenarios mirror bench/dask-python.py (same tasks: `operator.add(i, 1)`,
 * impure so every key is distinct; same emptiness check, made from inside
 * the scheduler and worker processes):
 *
 *   map N        map + gather of N tasks: tasks/s, and client CPU µs per task
 *                (each client first runs `--warm-maps W` untimed maps of the largest N,
 *                default 3, Python's process each map too: a Node client's JIT is still
 *                compiling through its first 20–30k tasks, so fewer would time warm-up;
 *                then `--repeat R` timed maps, default 3, and the medians are reported)
 *                (process.cpuUsage / time.process_time), default worker-saturation
 *                and, on a second scheduler, worker-saturation inf
 *   submit-loop  1,000 one-by-one submits: µs per submit call, then tasks/s until done
 *   roundtrip    one submit → result, median over 50
 *   gather       gather of 1,000 keys already in memory
 *   release      10,000 keys in memory, then release (scope close / `del`):
 *                time until the scheduler has no task and the worker no data
 *
 * The map rows also run the floor (bench/floor.ts: a bare `node:net` +
 * msgpackr client doing the same map + gather, nothing more) in the same
 * process on the same cluster, its timed maps alternating with ours (each of
 * ours, then one of the floor's), so that a shared machine's load moves both.
 *
 * Prints a table with ratios (ours / Python, ours / floor) and writes
 * bench/dask-results.json. `--map-inf-only` runs only the saturation-inf map
 * rows (the CPU-per-task figures), for repeated runs.
 *
 * Every phase (cluster start, each Python scenario, each of our scenarios,
 * each floor step, every wait for an empty cluster, cluster stop) has a
 * deadline, `--phase-timeout S` seconds (default 300): a phase that does not
 * finish in time is named on stderr and the bench exits with code 124, so a
 * run never hangs silently.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import * as Future from "../src/Future.js"
import * as Task from "../src/Task.js"
import * as Floor from "./floor.js"
import { available, type Cluster, type DaskVersion, root2024, startCluster, versions } from "../test/dask/cluster.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const quick = args.includes("--quick")
const only = args.includes("--versions") ? args[args.indexOf("--versions") + 1]!.split(",") : undefined
/** Debugging aid: `--ours-only SCENARIO:N,... [--inf]` runs only our side of those scenarios and prints raw JSON. */
const oursOnly = args.includes("--ours-only") ? args[args.indexOf("--ours-only") + 1]!.split(",") : undefined
const mapInfOnly = args.includes("--map-inf-only")
const phaseSeconds = args.includes("--phase-timeout") ? Number(args[args.indexOf("--phase-timeout") + 1]) : 300
/**
 * Untimed maps of the largest N each client runs before the map rows. Measured on
 * 2026-12-02 (2022.12, saturation inf, one process, ours and the floor alternating 10k
 * maps after one warm-up map each), µs/task: ours 49.1, 33.7, 34.7, 33.4, 32.3 and in a
 * second run 39.7, 39.0, 26.9, 25.7, 23.9; the floor 32.4, 29.5, 25.8, 27.1, 28.6 and
 * 33.1, 22.7, 22.2, 24.4, 20.7. With one warm-up map the row timed our JIT, not our client.
 */
const warmMaps = args.includes("--warm-maps") ? Math.max(1, Number(args[args.indexOf("--warm-maps") + 1])) : 3
/**
 * Timed maps per client and map row (`--repeat R`, default 3): each figure is the median of
 * R, in one run. A single 10k map's CPU varied by ±30% from one map to the next here.
 */
const repeat = args.includes("--repeat") ? Math.max(1, Number(args[args.indexOf("--repeat") + 1])) : 3

// --- phase deadlines -------------------------------------------------------------------------

/**
 * One watchdog for the whole run: `phase(name)` starts a phase and its
 * deadline (ending the previous one). The timer also keeps the process alive,
 * so a promise that never settles cannot end the run silently with code 0.
 */
let phaseTimer: NodeJS.Timeout | undefined
const phase = (name: string, seconds = phaseSeconds): void => {
  clearTimeout(phaseTimer)
  phaseTimer = setTimeout(() => {
    console.error(`bench/dask.ts: phase "${name}" did not finish within ${seconds} s; giving up (exit 124)`)
    // cluster.ts and the `children` handler below kill every process started, on exit.
    process.exit(124)
  }, seconds * 1000)
}
const endPhases = () => clearTimeout(phaseTimer)

const N = quick
  ? { mapSmall: 1_000, mapLarge: 2_000, submitLoop: 200, roundtrip: 20, gather: 1_000, release: 2_000 }
  : { mapSmall: 1_000, mapLarge: 10_000, submitLoop: 1_000, roundtrip: 50, gather: 1_000, release: 10_000 }

const add = Task.python<[number, number], number>("operator.add", { pure: false })

// --- running Python in the cluster's environment --------------------------------------------

/** argv running the cluster's interpreter with `pyArgs` (through chroot for 2024.12). */
const python = (version: DaskVersion, pyArgs: ReadonlyArray<string>): Array<string> => {
  if (version === "2022.12") return ["/usr/bin/python3", ...pyArgs]
  const root = root2024()
  return fs.existsSync(path.join(root, "proc", "self", "stat"))
    ? ["/usr/sbin/chroot", root, "/usr/bin/python3", ...pyArgs]
    : ["/usr/bin/unshare", "--mount", "/bin/sh", "-c", "mount -t proc proc \"$0/proc\" && exec /usr/sbin/chroot \"$0\" /usr/bin/python3 \"$@\"", root, ...pyArgs]
}

const pyEnv = (version: DaskVersion): NodeJS.ProcessEnv => ({
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  HOME: version === "2022.12" ? (process.env.HOME ?? "/root") : "/root"
})

const children = new Set<ChildProcess>()
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL")
})

const spawnPython = (version: DaskVersion, program: string, argv: ReadonlyArray<string>) => {
  const cmd = python(version, ["-", ...argv])
  const child = spawn(cmd[0]!, cmd.slice(1), { env: pyEnv(version), stdio: ["pipe", "pipe", "pipe"] })
  children.add(child)
  child.once("exit", () => children.delete(child))
  child.stdin!.write(program)
  return child
}

/** Runs one scenario of bench/dask-python.py; resolves with its JSON. */
const pythonScenario = (version: DaskVersion, address: string, scenario: string, n: number): Promise<any> =>
  new Promise((resolve, reject) => {
    const child = spawnPython(version, fs.readFileSync(path.join(here, "dask-python.py"), "utf8"), [
      address,
      scenario,
      "--n",
      String(n),
      "--warm-maps",
      String(warmMaps),
      "--repeat",
      String(repeat)
    ])
    child.stdin!.end()
    let out = ""
    let err = ""
    child.stdout!.on("data", (d) => (out += d))
    child.stderr!.on("data", (d) => (err += d))
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`dask-python.py ${scenario} failed (${code}):\n${err.slice(-3000)}`))
      try {
        resolve(JSON.parse(out))
      } catch {
        reject(new Error(`dask-python.py ${scenario} printed no JSON: ${out}\n${err.slice(-2000)}`))
      }
    })
  })

/**
 * Waits for an empty cluster from inside the scheduler and worker processes,
 * like dask-python.py's `wait_empty`: a Python process that is connected
 * beforehand and starts polling when told (one line on stdin).
 */
const WATCHER = `
import sys, json, asyncio, time
from distributed import Client

async def _scheduler_empty(dask_scheduler, timeout):
    deadline = time.monotonic() + timeout
    while dask_scheduler.tasks and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return len(dask_scheduler.tasks)

async def _worker_empty(dask_worker, timeout):
    deadline = time.monotonic() + timeout
    while len(dask_worker.data) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return len(dask_worker.data)

client = Client(sys.argv[1], timeout=30, set_as_default=False)
client.run_on_scheduler(_scheduler_empty, timeout=1)
client.run(_worker_empty, timeout=1)
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    left = client.run_on_scheduler(_scheduler_empty, timeout=60)
    t1 = time.perf_counter()
    data = client.run(_worker_empty, timeout=60)
    t2 = time.perf_counter()
    print(json.dumps({"tasks": left, "data": sum(data.values()), "scheduler_ms": (t1 - t0) * 1e3, "worker_ms": (t2 - t1) * 1e3}), flush=True)
client.close()
`

/** The watcher as `python3 -c`, so stdin stays free for the "go" lines. */
const watcher = async (version: DaskVersion, address: string) => {
  const argv = python(version, ["-c", WATCHER, address])
  const proc = spawn(argv[0]!, argv.slice(1), { env: pyEnv(version), stdio: ["pipe", "pipe", "pipe"] })
  children.add(proc)
  proc.once("exit", () => children.delete(proc))
  let buffer = ""
  const lines: Array<string> = []
  let notify: (() => void) | undefined
  proc.stdout!.on("data", (d) => {
    buffer += d
    let nl: number
    while ((nl = buffer.indexOf("\n")) >= 0) {
      lines.push(buffer.slice(0, nl))
      buffer = buffer.slice(nl + 1)
      notify?.()
    }
  })
  let err = ""
  proc.stderr!.on("data", (d) => (err += d))
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      // One exit listener per wait, removed once the line came (a run waits many times).
      const exited = () => reject(new Error(`watcher exited:\n${err.slice(-2000)}`))
      const check = () => {
        if (lines.length > 0) {
          notify = undefined
          proc.off("exit", exited)
          resolve(lines.shift()!)
        }
      }
      notify = check
      proc.once("exit", exited)
      check()
    })
  const ready = await nextLine()
  if (ready !== "ready") throw new Error(`watcher: ${ready}`)
  return {
    /** Starts polling now; resolves when the cluster is empty. */
    waitEmpty: async () => {
      proc.stdin!.write("go\n")
      const result = JSON.parse(await nextLine()) as { tasks: number; data: number; scheduler_ms: number; worker_ms: number }
      if (result.tasks !== 0 || result.data !== 0) throw new Error(`cluster not empty: ${JSON.stringify(result)}`)
      return result
    },
    close: () => {
      proc.stdin!.end()
      proc.kill("SIGTERM")
    }
  }
}

// --- our side --------------------------------------------------------------------------------

const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const cpuMicros = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** The largest map of the scenarios (0 without one): the size of each client's untimed warm-up map. */
const warmMapSize = (scenarios: ReadonlyArray<string>): number =>
  Math.max(0, ...scenarios.filter((s) => s.startsWith("map:")).map((s) => Number(s.slice(4))))

const range = (n: number) => Array.from({ length: n }, (_, i) => i)
const ones = (n: number) => new Array<number>(n).fill(1)

type Watcher = Awaited<ReturnType<typeof watcher>>

/** `after` runs after each of our timed maps (the floor's map of the same size, interleaved). */
const ours = (cluster: Cluster, w: Watcher, scenarios: ReadonlyArray<string>, after?: (n: number) => Promise<void>) =>
  Effect.gen(function*() {
    yield* Client.make() // becomes the current client of this program
    const inScope = <A, E>(f: (scope: Scope.CloseableScope) => Effect.Effect<A, E, Scope.Scope>) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const out = yield* f(scope).pipe(Scope.extend(scope))
        return { out, scope }
      })
    const mark = (name: string) => Effect.sync(() => phase(`${cluster.version} effect-dask ${name}`))
    const closeAndWait = (scope: Scope.CloseableScope, label: string) =>
      Effect.zipRight(
        Effect.zipRight(Scope.close(scope, Exit.void), mark(`${label} release → empty`)),
        Effect.promise(() => w.waitEmpty())
      )

    const results: Record<string, unknown> = {}
    // Warm-up, as the Python side does (one task); with map rows, `warmMaps` untimed maps of
    // the largest N, as the floor and each Python map process do: a cold JIT is still compiling
    // through the first 20–30k tasks (see `warmMaps`).
    yield* mark("warm-up")
    {
      const { scope } = yield* inScope(() => Effect.flatMap(Client.submit(add, 0, 1), Future.result))
      yield* closeAndWait(scope, "warm-up")
      const warm = warmMapSize(scenarios)
      for (let i = 0; warm > 0 && i < warmMaps; i++) {
        const { scope: mapScope } = yield* inScope(() => Effect.flatMap(Client.map(add, range(warm), ones(warm)), (fs) => Client.gather(fs)))
        yield* closeAndWait(mapScope, `warm-up map:${warm}`)
      }
    }
    for (const scenario of scenarios) {
      const [name, nText] = scenario.split(":") as [string, string | undefined]
      const n = Number(nText)
      yield* mark(scenario)
      if (name === "map") {
        const walls: Array<number> = []
        const cpus: Array<number> = []
        for (let r = 0; r < repeat; r++) {
          const t0 = performance.now()
          const c0 = cpuMicros()
          const { out: values, scope } = yield* inScope(() =>
            Effect.flatMap(Client.map(add, range(n), ones(n)), (fs) => Client.gather(fs))
          )
          walls.push((performance.now() - t0) / 1000)
          cpus.push((cpuMicros() - c0) / 1e6)
          if (values[n - 1] !== n) throw new Error("wrong map result")
          yield* closeAndWait(scope, scenario)
          if (after !== undefined) yield* Effect.promise(() => after(n))
        }
        results[scenario] = mapResult(n, walls, cpus)
      } else if (name === "submit-loop") {
        const t0 = performance.now()
        const { out: futures, scope } = yield* inScope(() =>
          Effect.gen(function*() {
            const fs = []
            for (let i = 0; i < n; i++) fs.push(yield* Client.submit(add, i, 1))
            return fs
          })
        )
        const submitted = (performance.now() - t0) / 1000
        yield* Client.wait(futures)
        const done = (performance.now() - t0) / 1000
        yield* closeAndWait(scope, scenario)
        results[scenario] = { n, submit_us_each: submitted / n * 1e6, all_done_s: done, tasks_per_s: n / done }
      } else if (name === "roundtrip") {
        const times: Array<number> = []
        for (let i = 0; i < n; i++) {
          const t0 = performance.now()
          yield* Effect.scoped(Effect.flatMap(Client.submit(add, i, 1), Future.result))
          times.push(performance.now() - t0)
        }
        yield* Effect.promise(() => w.waitEmpty())
        results[scenario] = { n, median_ms: median(times), min_ms: Math.min(...times) }
      } else if (name === "gather") {
        const { out: futures, scope } = yield* inScope(() => Client.map(add, range(n), ones(n)))
        yield* Client.wait(futures)
        const t0 = performance.now()
        const values = yield* Client.gather(futures)
        const wall = performance.now() - t0
        if (values.length !== n) throw new Error("wrong gather result")
        yield* closeAndWait(scope, scenario)
        results[scenario] = { n, gather_ms: wall }
      } else if (name === "release") {
        const { out: futures, scope } = yield* inScope(() => Client.map(add, range(n), ones(n)))
        yield* Client.wait(futures)
        const t0 = performance.now()
        yield* Scope.close(scope, Exit.void)
        const split = yield* Effect.promise(() => w.waitEmpty())
        results[scenario] = {
          n,
          release_to_empty_ms: performance.now() - t0,
          // From "go" to an empty scheduler, then on to empty workers: where the time goes.
          scheduler_empty_ms: split.scheduler_ms,
          then_worker_empty_ms: split.worker_ms
        }
      }
    }
    return results
  }).pipe(
    Effect.scoped,
    Effect.provide(DaskScheduler.layer({ address: cluster.address })),
    Effect.runPromise
  )

const theirs = async (version: DaskVersion, cluster: Cluster, scenarios: ReadonlyArray<string>) => {
  const results: Record<string, any> = {}
  for (const scenario of scenarios) {
    const [name, n] = scenario.split(":") as [string, string]
    phase(`${version} python ${scenario}`)
    results[scenario] = await pythonScenario(version, cluster.address, name, Number(n))
  }
  return results
}

type MapResult = { n: number; wall_s: number; cpu_s: number; tasks_per_s: number; walls_s: Array<number>; cpus_s: Array<number> }

const mapResult = (n: number, walls: Array<number>, cpus: Array<number>): MapResult => {
  const wall = median(walls)
  return { n, wall_s: wall, cpu_s: median(cpus), tasks_per_s: n / wall, walls_s: walls, cpus_s: cpus }
}

/**
 * The floor client, connected and warmed up (`warmMaps` untimed maps of the largest N, as
 * ours and Python have). Its timed maps run one at a time, each right after one of ours
 * (see `ours`' `after`): a change in the machine's load then moves both, not the ratio.
 */
const floorRunner = async (version: DaskVersion, cluster: Cluster, w: Watcher, scenarios: ReadonlyArray<string>) => {
  const timed = new Map<number, { walls: Array<number>; cpus: Array<number> }>()
  phase(`${version} floor connect`)
  const client = await Floor.connect(cluster.address, version)
  const step = (n: number) => (stage: string) => phase(`${version} floor map:${n} ${stage}`)
  const warm = Math.max(100, warmMapSize(scenarios))
  try {
    for (let i = 0; i < warmMaps; i++) {
      await client.map(warm, step(warm))
      phase(`${version} floor map:${warm} release → empty`)
      await w.waitEmpty()
    }
  } catch (error) {
    client.close()
    throw error
  }
  return {
    /** One timed map of `n` (a `map:N` scenario). */
    map: async (n: number) => {
      const r = await client.map(n, step(n))
      phase(`${version} floor map:${n} release → empty`)
      await w.waitEmpty()
      let t = timed.get(n)
      if (t === undefined) timed.set(n, t = { walls: [], cpus: [] })
      t.walls.push(r.wall_s)
      t.cpus.push(r.cpu_s)
    },
    results: (): Record<string, MapResult> =>
      Object.fromEntries(Array.from(timed, ([n, t]) => [`map:${n}`, mapResult(n, t.walls, t.cpus)])),
    close: () => client.close()
  }
}

// --- the run ---------------------------------------------------------------------------------

interface Row {
  readonly version: string
  readonly figure: string
  readonly ours: number
  readonly python: number
  /** The bare node:net client's figure (map rows). */
  readonly floor?: number | undefined
  readonly better: "higher" | "lower"
  readonly aim?: string
}

const rows: Array<Row> = []
const raw: Record<string, unknown> = {}

const run = async (version: DaskVersion) => {
  const defaultScenarios = [
    `map:${N.mapSmall}`,
    `map:${N.mapLarge}`,
    `submit-loop:${N.submitLoop}`,
    `roundtrip:${N.roundtrip}`,
    `gather:${N.gather}`,
    `release:${N.release}`
  ]
  const infScenarios = [`map:${N.mapSmall}`, `map:${N.mapLarge}`]
  const out: Record<string, any> = {}
  const configs = [
    ["default", {}, defaultScenarios],
    ["inf", { "distributed.scheduler.worker-saturation": "inf" }, infScenarios]
  ] as const
  for (const [label, config, scenarios] of mapInfOnly ? configs.slice(1) : configs) {
    phase(`${version} ${label} cluster start`)
    const cluster = await startCluster(version, { workers: 1, nthreads: 1, schedulerConfig: config })
    phase(`${version} ${label} watcher start`)
    const w = await watcher(version, cluster.address)
    try {
      console.error(`[${version} ${label}] python ...`)
      const py = await theirs(version, cluster, scenarios)
      console.error(`[${version} ${label}] effect-dask and floor, maps alternating ...`)
      const fl = await floorRunner(version, cluster, w, scenarios)
      try {
        const ts = await ours(cluster, w, scenarios, fl.map)
        out[label] = { python: py, ours: ts, floor: fl.results() }
      } finally {
        fl.close()
      }
    } finally {
      w.close()
      phase(`${version} ${label} cluster stop`)
      await cluster.stop()
    }
  }
  raw[version] = out
  const d = out.default
  const i = out.inf
  for (const n of [N.mapSmall, N.mapLarge]) {
    const m = `map:${n}`
    if (d !== undefined) {
      rows.push({ version, figure: `map+gather ${n} tasks/s (default)`, ours: d.ours[m].tasks_per_s, python: d.python[m].tasks_per_s, floor: d.floor[m].tasks_per_s, better: "higher", aim: "≥ 1×" })
    }
    rows.push({ version, figure: `map+gather ${n} tasks/s (saturation inf)`, ours: i.ours[m].tasks_per_s, python: i.python[m].tasks_per_s, floor: i.floor[m].tasks_per_s, better: "higher", aim: "≥ 1.2×" })
    if (d !== undefined) {
      rows.push({ version, figure: `client CPU µs/task, map ${n} (default)`, ours: d.ours[m].cpu_s / n * 1e6, python: d.python[m].cpu_s / n * 1e6, floor: d.floor[m].cpu_s / n * 1e6, better: "lower" })
    }
    rows.push({ version, figure: `client CPU µs/task, map ${n} (saturation inf)`, ours: i.ours[m].cpu_s / n * 1e6, python: i.python[m].cpu_s / n * 1e6, floor: i.floor[m].cpu_s / n * 1e6, better: "lower", aim: "≤ 0.5× python, ≤ 1.3× floor" })
  }
  if (d === undefined) return
  rows.push({ version, figure: `submit loop µs/submit (${N.submitLoop})`, ours: d.ours[`submit-loop:${N.submitLoop}`].submit_us_each, python: d.python[`submit-loop:${N.submitLoop}`].submit_us_each, better: "lower" })
  rows.push({ version, figure: `submit loop tasks/s until done`, ours: d.ours[`submit-loop:${N.submitLoop}`].tasks_per_s, python: d.python[`submit-loop:${N.submitLoop}`].tasks_per_s, better: "higher" })
  rows.push({ version, figure: `round trip median ms (${N.roundtrip})`, ours: d.ours[`roundtrip:${N.roundtrip}`].median_ms, python: d.python[`roundtrip:${N.roundtrip}`].median_ms, better: "lower", aim: "≤ 0.6×" })
  rows.push({ version, figure: `gather ${N.gather} keys ms`, ours: d.ours[`gather:${N.gather}`].gather_ms, python: d.python[`gather:${N.gather}`].gather_ms, better: "lower" })
  rows.push({ version, figure: `release ${N.release} keys → empty ms`, ours: d.ours[`release:${N.release}`].release_to_empty_ms, python: d.python[`release:${N.release}`].release_to_empty_ms, better: "lower", aim: "≤ 0.5×" })
}

const main = async () => {
  if (oursOnly !== undefined) {
    const version = (only?.[0] ?? "2022.12") as DaskVersion
    const schedulerConfig = args.includes("--inf") ? { "distributed.scheduler.worker-saturation": "inf" } : {}
    phase(`${version} cluster start`)
    const cluster = await startCluster(version, { workers: 1, nthreads: 1, schedulerConfig })
    phase(`${version} watcher start`)
    const w = await watcher(version, cluster.address)
    try {
      console.log(JSON.stringify(await ours(cluster, w, oursOnly), null, 1))
    } finally {
      w.close()
      phase(`${version} cluster stop`)
      await cluster.stop()
    }
    endPhases()
    process.exit(0)
  }
  const chosen = versions.filter((v) => only === undefined || only.includes(v))
  for (const version of chosen) {
    const a = available(version)
    if (!a.ok) {
      console.log(`Dask ${version}: skipped (${a.reason})`)
      continue
    }
    await run(version)
  }
  endPhases()
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
  const header = ["dask", "figure", "effect-dask", "python", "floor", "ours/python", "ours/floor", "aim"]
  const table = rows.map((r) => [
    r.version,
    r.figure,
    fmt(r.ours),
    fmt(r.python),
    r.floor === undefined ? "" : fmt(r.floor),
    (r.ours / r.python).toFixed(2),
    r.floor === undefined ? "" : (r.ours / r.floor).toFixed(2),
    r.aim ?? ""
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  console.log(line(header))
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const t of table) console.log(line(t))
  fs.writeFileSync(
    path.join(here, "dask-results.json"),
    JSON.stringify({ quick, rows: rows.map((r) => ({ ...r, ratio: r.ours / r.python, ratio_floor: r.floor === undefined ? undefined : r.ours / r.floor })), raw }, null, 2) + "\n"
  )
  process.exit(0)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
