/**
 * Real Dask clusters for integration tests: one `dask-scheduler` and N `dask-worker`s on
 * free 127.0.0.1 ports, for Debian's Dask 2022.12.1 (/usr/bin) or Dask 2024.12.1 (a Debian
 * trixie root run through chroot, built and cached by scripts/test.sh).
 *
 * Use it with vitest hooks so the processes go even when a test fails:
 *
 * ```ts
 * describeDask("Dask %s", (version) => { // test/dask/suite.ts: skips a version not here
 *   let cluster: Cluster
 *   beforeAll(async () => { cluster = await startCluster(version) })
 *   afterAll(() => cluster?.stop())
 *   it("…", async () => { … cluster.address … await cluster.state() … })
 * })
 * ```
 *
 * Every process is also started with a parent-death signal and killed on this process's
 * exit, so a crashed or killed test run does not leave Dask processes behind.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export type DaskVersion = "2022.12" | "2024.12"

export const versions: ReadonlyArray<DaskVersion> = ["2022.12", "2024.12"]

export interface ClusterState {
  /** Scheduler tasks by key (non-string keys as Python `str(key)`). */
  readonly tasks: Record<string, { state: string; who_wants: Array<string> }>
  /** Client ids registered at the scheduler, without the observer and "fire-and-forget". */
  readonly clients: Array<string>
  /** Keys in each worker's `data`, by worker address. */
  readonly workerData: Record<string, Array<string>>
}

export interface Cluster {
  readonly version: DaskVersion
  /** `tcp://127.0.0.1:<port>` */
  readonly address: string
  /** Worker addresses, `tcp://127.0.0.1:<port>`. */
  readonly workers: ReadonlyArray<string>
  readonly schedulerPid: number
  readonly workerPids: ReadonlyArray<number>
  /** Node workers (`effect-dask worker`), in the order started. */
  readonly nodeWorkers: ReadonlyArray<NodeWorkerProc>
  /** Starts one more Node worker and waits until it has registered. */
  readonly addNodeWorker: (options?: NodeWorkerOptions) => Promise<NodeWorkerProc>
  /**
   * Runs a Python snippet in a fresh interpreter with its own `distributed.Client`
   * (`client`, `address` and `json` are in scope). The snippet prints one JSON value, or
   * sets `result`; that value is returned. Keys the snippet creates go when it exits.
   */
  readonly py: <A = unknown>(code: string) => Promise<A>
  /** Scheduler tasks and clients (run_on_scheduler) and worker data keys (Client.run). */
  readonly state: () => Promise<ClusterState>
  /** SIGKILLs the scheduler (an abrupt loss); workers keep running until `stop`. */
  readonly killScheduler: () => Promise<void>
  /**
   * SIGKILLs the scheduler and starts a new one on the same port (a new
   * process: it knows nothing of before). Workers without a nanny do not come
   * back to it.
   */
  readonly restartScheduler: () => Promise<void>
  /** Stops every process of the cluster: SIGTERM, then SIGKILL after a grace period. */
  readonly stop: () => Promise<void>
}

export interface ClusterOptions {
  /** Number of workers (default 1). */
  readonly workers?: number
  /** Threads per worker (default 1). */
  readonly nthreads?: number
  /**
   * Dask config for the scheduler process, dotted keys, passed as `DASK_…` environment
   * variables, e.g. `{ "distributed.scheduler.worker-saturation": "inf" }`.
   */
  readonly schedulerConfig?: Record<string, string>
  /** Readiness timeout in ms (default 30 000). */
  readonly timeout?: number
  /** Python workers under a nanny, so that `restart` brings them back (default false). */
  readonly nanny?: boolean
  /** Extra arguments of the i-th Python worker, e.g. `["--resources", "GPU=1"]`. */
  readonly workerArgs?: (i: number) => ReadonlyArray<string>
  /** Node workers to start beside the Python ones (default 0). */
  readonly nodeWorkers?: number
  /** Options of those Node workers. */
  readonly node?: NodeWorkerOptions
}

export interface NodeWorkerOptions {
  /** Task modules (paths relative to the repository root, or absolute). */
  readonly tasks?: ReadonlyArray<string>
  /** Default 1. */
  readonly nthreads?: number
  readonly name?: string
  /** Extra CLI arguments. */
  readonly args?: ReadonlyArray<string>
}

export interface NodeWorkerProc {
  readonly address: string
  readonly pid: number
  readonly name: string
  /** Output so far (stdout and stderr). */
  readonly output: () => string
  /** Sends a signal; resolves when the process has exited. */
  readonly kill: (signal: NodeJS.Signals) => Promise<{ code: number | null; signal: string | null }>
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

let nodeWorkerCount = 0

const startNodeWorker = async (address: string, options: NodeWorkerOptions, timeout: number): Promise<{ proc: Proc; info: NodeWorkerProc }> => {
  const name = options.name ?? `node-${process.pid}-${++nodeWorkerCount}`
  const argv = [
    ...(setpriv ? [setpriv, "--pdeathsig", "KILL"] : []),
    process.execPath,
    "--import",
    "tsx",
    path.join(repoRoot, "src", "cli.ts"),
    "worker",
    address,
    "--nthreads",
    String(options.nthreads ?? 1),
    "--name",
    name,
    ...(options.tasks ?? []).flatMap((t) => ["--tasks", path.resolve(repoRoot, t)]),
    ...(options.args ?? [])
  ]
  const proc = start(`effect-dask worker ${name}`, argv, { ...process.env, NODE_OPTIONS: "" })
  let timer: NodeJS.Timeout | undefined
  try {
    const m = await Promise.race([
      waitFor(proc, /Start worker at:\s+(tcp:\/\/\S+)/),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready after ${timeout} ms`)), timeout)
      })
    ])
    const info: NodeWorkerProc = {
      address: m[1]!,
      pid: proc.child.pid!,
      name,
      output: proc.output,
      kill: async (signal) => {
        if (isRunning(proc)) proc.child.kill(signal)
        await proc.exited
        return { code: proc.child.exitCode, signal: proc.child.signalCode }
      }
    }
    return { proc, info }
  } catch (e) {
    await terminate(proc, 0)
    throw new Error(`Node worker failed to start: ${(e as Error).message}\n${tail(proc)}`)
  } finally {
    clearTimeout(timer)
  }
}

// --- where things are ------------------------------------------------------------------

const cacheHome = () => process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache")

/** Keep in sync with scripts/test.sh. `EFFECT_DASK_ROOT_2024` overrides it. */
export const root2024 = (): string =>
  process.env.EFFECT_DASK_ROOT_2024 || path.join(cacheHome(), "effect-dask", "trixie-dask-2024.12")

const stateScript = fs.readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "state.py"),
  "utf8"
)

const installedDistributed = (sitePackages: string): string | undefined => {
  try {
    for (const name of fs.readdirSync(sitePackages)) {
      const m = /^distributed-(\d+\.\d+\.\d+)/.exec(name)
      if (m) return m[1]
    }
  } catch {
    // not there
  }
  return undefined
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0
const exists = (p: string) => fs.existsSync(p)
const procMounted = (root: string) => exists(path.join(root, "proc", "self", "stat"))
const setpriv = exists("/usr/bin/setpriv") ? "/usr/bin/setpriv" : undefined
const unshare = exists("/usr/bin/unshare") ? "/usr/bin/unshare" : undefined

const setupHint = "run `npm test` as root on Debian (scripts/test.sh installs and builds it)"

/** Whether a version can run here; the reason says what is missing. */
export const available = (version: DaskVersion): { ok: true } | { ok: false; reason: string } => {
  if (version === "2022.12") {
    for (const f of ["/usr/bin/dask-scheduler", "/usr/bin/dask-worker", "/usr/bin/python3"]) {
      if (!exists(f)) return { ok: false, reason: `${f} not found; ${setupHint}` }
    }
    const v = installedDistributed("/usr/lib/python3/dist-packages")
    if (!v?.startsWith("2022.12.")) {
      return { ok: false, reason: `Debian's distributed is ${v ?? "missing"}, not 2022.12.x` }
    }
    return { ok: true }
  }
  const root = root2024()
  if (!exists(path.join(root, "usr/bin/dask-scheduler"))) {
    return { ok: false, reason: `no Dask 2024.12 root at ${root}; ${setupHint}` }
  }
  if (!isRoot()) return { ok: false, reason: "Dask 2024.12 runs through chroot, which needs root" }
  const v = installedDistributed(path.join(root, "usr/lib/python3/dist-packages"))
  if (!v?.startsWith("2024.12.")) {
    return { ok: false, reason: `the root at ${root} has distributed ${v ?? "missing"}, not 2024.12.x` }
  }
  if (!procMounted(root) && unshare === undefined) {
    return { ok: false, reason: `/proc is not mounted in ${root} and unshare is missing; ${setupHint}` }
  }
  return { ok: true }
}

// --- processes ---------------------------------------------------------------------------

const live = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
})

/** argv running `cmd` from this version's installation (chroot for 2024.12). */
const command = (version: DaskVersion, cmd: ReadonlyArray<string>): Array<string> => {
  const base = version === "2022.12"
    ? [...cmd]
    : (() => {
      const root = root2024()
      // /proc is mounted by scripts/test.sh; otherwise mount it in a private mount namespace
      // of this process only (unshare and chroot exec, so the PID stays the Python one).
      return procMounted(root)
        ? ["/usr/sbin/chroot", root, ...cmd]
        : [unshare!, "--mount", "/bin/sh", "-c", "mount -t proc proc \"$0/proc\" && exec /usr/sbin/chroot \"$0\" \"$@\"", root, ...cmd]
    })()
  // Killed with the test process even when that one is SIGKILLed.
  return setpriv ? [setpriv, "--pdeathsig", "KILL", ...base] : base
}

const environment = (version: DaskVersion, config: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C.UTF-8",
    HOME: version === "2022.12" ? os.homedir() : "/root",
    TMPDIR: version === "2022.12" ? os.tmpdir() : "/tmp"
  }
  for (const [key, value] of Object.entries(config)) {
    env["DASK_" + key.split(".").map((part) => part.replace(/-/g, "_").toUpperCase()).join("__")] = value
  }
  return env
}

interface Proc {
  readonly child: ChildProcess
  readonly name: string
  readonly output: () => string
  readonly exited: Promise<void>
  readonly onOutput: (f: (text: string) => void) => void
}

const maxOutput = 64 * 1024

const start = (name: string, argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Proc => {
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] })
  live.add(child)
  // A write to a process that died is reported through `exited`, not as an uncaught EPIPE.
  child.stdin!.on("error", () => {})
  let output = ""
  const listeners: Array<(text: string) => void> = []
  const append = (chunk: Buffer) => {
    output += chunk.toString("utf8")
    if (output.length > maxOutput) output = output.slice(-maxOutput)
    for (const f of listeners) f(output)
  }
  child.stdout!.on("data", append)
  child.stderr!.on("data", append)
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.once("error", (e) => {
      output += `\n[spawn error: ${e.message}]`
      resolve()
    })
  }).then(() => {
    live.delete(child)
  })
  return { child, name, output: () => output, exited, onOutput: (f) => listeners.push(f) }
}

const isRunning = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null

const terminate = async (p: Proc, graceMs: number): Promise<void> => {
  if (!isRunning(p)) return p.exited
  p.child.kill("SIGTERM")
  const timer = setTimeout(() => {
    if (isRunning(p)) p.child.kill("SIGKILL")
  }, graceMs)
  await p.exited
  clearTimeout(timer)
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const tail = (p: Proc) => `--- ${p.name} (pid ${p.child.pid}) ---\n${p.output().slice(-4000)}`

/** Resolves with the first match of `pattern` in the process output; rejects if it exits. */
const waitFor = (p: Proc, pattern: RegExp): Promise<RegExpExecArray> =>
  new Promise((resolve, reject) => {
    let done = false
    const check = (text: string) => {
      if (done) return
      const m = pattern.exec(text)
      if (m) {
        done = true
        resolve(m)
      }
    }
    p.onOutput(check)
    check(p.output())
    void p.exited.then(() => {
      if (!done) {
        done = true
        reject(new Error(`${p.name} exited (code ${p.child.exitCode}, signal ${p.child.signalCode})`))
      }
    })
  })

// --- the observer (test/dask/state.py) ---------------------------------------------------

interface Observer {
  readonly request: (cmd: string) => Promise<unknown>
  readonly proc: Proc
  /** Resolves once its Client is connected. */
  readonly ready: Promise<void>
}

const startObserver = (version: DaskVersion, address: string): Observer => {
  const proc = start(
    `state observer (${version})`,
    command(version, ["/usr/bin/python3", "-c", stateScript, "serve", address]),
    environment(version)
  )
  const pending = new Map<number, { resolve: (a: unknown) => void; reject: (e: Error) => void }>()
  let nextId = 1
  let buffer = ""
  let onReady: (() => void) | undefined
  const failAll = (why: string) => {
    for (const p of pending.values()) p.reject(new Error(`${why}\n${tail(proc)}`))
    pending.clear()
  }
  proc.child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8")
    let nl: number
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      const reply = JSON.parse(line) as { id: number; ok: boolean; value?: unknown; error?: string }
      if (reply.id === 0) {
        onReady?.()
        continue
      }
      const p = pending.get(reply.id)
      pending.delete(reply.id)
      if (reply.ok) p?.resolve(reply.value)
      else p?.reject(new Error(`state observer: ${reply.error}`))
    }
  })
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    void proc.exited.then(() => {
      failAll("state observer exited")
      reject(new Error(`state observer exited before it was ready\n${tail(proc)}`))
    })
  })
  return {
    proc,
    ready,
    request: (cmd) =>
      new Promise((resolve, reject) => {
        if (!isRunning(proc)) return reject(new Error(`state observer is not running\n${tail(proc)}`))
        const id = nextId++
        pending.set(id, { resolve, reject })
        proc.child.stdin!.write(JSON.stringify({ id, cmd }) + "\n")
      })
  }
}

const runSnippet = async <A>(version: DaskVersion, address: string, code: string): Promise<A> => {
  const proc = start(
    `py snippet (${version})`,
    command(version, ["/usr/bin/python3", "-c", stateScript, "py", address]),
    environment(version)
  )
  let stdout = ""
  proc.child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8")
  })
  proc.child.stdin!.end(code)
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), 60_000)
  await proc.exited
  clearTimeout(timer)
  if (proc.child.exitCode !== 0) {
    throw new Error(`py snippet failed (code ${proc.child.exitCode}, signal ${proc.child.signalCode})\n${tail(proc)}`)
  }
  try {
    return JSON.parse(stdout) as A
  } catch {
    throw new Error(`py snippet did not print one JSON value: ${JSON.stringify(stdout)}\n${tail(proc)}`)
  }
}

/**
 * Runs a Python script file with this version's interpreter (inside the root for 2024.12,
 * which cannot see the repository: the file goes in on stdin) and returns its stdout.
 * For bench/dask-python*.py: `runPython("2024.12", "bench/dask-python.py", [address, "all"])`.
 */
export const runPython = async (
  version: DaskVersion,
  file: string,
  args: ReadonlyArray<string> = [],
  options: { readonly timeout?: number; readonly config?: Record<string, string> } = {}
): Promise<string> => {
  const a = available(version)
  if (!a.ok) throw new Error(`Dask ${version} is not available: ${a.reason}`)
  const proc = start(
    `python ${path.basename(file)} (${version})`,
    command(version, ["/usr/bin/python3", "-", ...args]),
    environment(version, options.config)
  )
  let stdout = ""
  proc.child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8")
  })
  proc.child.stdin!.end(fs.readFileSync(file))
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), options.timeout ?? 600_000)
  await proc.exited
  clearTimeout(timer)
  if (proc.child.exitCode !== 0) {
    throw new Error(`${proc.name} failed (code ${proc.child.exitCode}, signal ${proc.child.signalCode})\n${tail(proc)}`)
  }
  return stdout
}

// --- the cluster -------------------------------------------------------------------------

/** Starts a scheduler and workers and waits until every worker has registered. */
export const startCluster = async (version: DaskVersion, options: ClusterOptions = {}): Promise<Cluster> => {
  const a = available(version)
  if (!a.ok) throw new Error(`Dask ${version} is not available: ${a.reason}`)
  const nWorkers = options.workers ?? 1
  const nthreads = options.nthreads ?? 1
  const timeout = options.timeout ?? 30_000
  const port = await freePort()
  const address = `tcp://127.0.0.1:${port}`

  const startScheduler = () => start(
    `dask-scheduler ${version}`,
    command(version, [
      "/usr/bin/dask-scheduler",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--no-dashboard",
      // Even without the dashboard, the HTTP server (/health, /metrics) starts, on all
      // interfaces unless told otherwise.
      "--dashboard-address",
      "127.0.0.1:0"
    ]),
    environment(version, options.schedulerConfig)
  )
  let scheduler = startScheduler()
  // Workers start at once: they retry connecting until the scheduler listens, which
  // overlaps the two interpreters' start-up.
  const workerProcs = Array.from({ length: nWorkers }, (_, i) =>
    start(
      `dask-worker ${i} ${version}`,
      command(version, [
        "/usr/bin/dask-worker",
        address,
        "--nthreads",
        String(nthreads),
        "--no-dashboard",
        options.nanny === true ? "--nanny" : "--no-nanny",
        "--host",
        "127.0.0.1",
        "--dashboard-address",
        "127.0.0.1:0",
        ...(options.workerArgs?.(i) ?? [])
      ]),
      environment(version)
    ))
  const all = [scheduler, ...workerProcs]
  const stopAll = (graceMs: number) => Promise.all(all.map((p) => terminate(p, graceMs))).then(() => undefined)

  let workers: Array<string>
  let timer: NodeJS.Timeout | undefined
  try {
    const ready = Promise.all([
      waitFor(scheduler, /Scheduler at:\s+(tcp:\/\/\S+)/),
      ...workerProcs.map((w) =>
        waitFor(w, /Start worker at:\s+(tcp:\/\/\S+)/).then(async (m) => {
          await waitFor(w, /Registered to:/)
          return m[1]!
        })
      )
    ])
    ready.catch(() => {}) // after a timeout it may still reject, when stopAll ends the processes
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not ready after ${timeout} ms`)), timeout)
    })
    const [, ...addresses] = await Promise.race([ready, timedOut])
    workers = addresses as Array<string>
  } catch (e) {
    await stopAll(0)
    throw new Error(
      `Dask ${version} cluster failed to start: ${(e as Error).message}\n${all.map(tail).join("\n")}`
    )
  } finally {
    clearTimeout(timer)
  }

  const nodeProcs: Array<Proc> = []
  const nodeInfos: Array<NodeWorkerProc> = []
  const addNodeWorker = async (o?: NodeWorkerOptions) => {
    const { proc, info } = await startNodeWorker(address, { ...options.node, ...o }, timeout)
    nodeProcs.push(proc)
    nodeInfos.push(info)
    return info
  }
  try {
    await Promise.all(Array.from({ length: options.nodeWorkers ?? 0 }, () => addNodeWorker()))
  } catch (e) {
    await Promise.all([...all, ...nodeProcs].map((p) => terminate(p, 0)))
    throw e
  }

  // Started on first use, then kept: a state query is then a few ms, not an interpreter start.
  let observer: Observer | undefined
  const getObserver = async () => {
    if (observer === undefined || !isRunning(observer.proc)) observer = startObserver(version, address)
    const o = observer
    await o.ready
    return o
  }
  const stopObserver = async () => {
    const o = observer
    observer = undefined
    if (o) await terminate(o.proc, 2_000)
  }

  return {
    version,
    address,
    workers,
    schedulerPid: scheduler.child.pid!,
    workerPids: workerProcs.map((w) => w.child.pid!),
    nodeWorkers: nodeInfos,
    addNodeWorker,
    py: (code) => runSnippet(version, address, code),
    state: async () => (await (await getObserver()).request("state")) as ClusterState,
    killScheduler: async () => {
      await stopObserver()
      if (isRunning(scheduler)) scheduler.child.kill("SIGKILL")
      await scheduler.exited
    },
    restartScheduler: async () => {
      await stopObserver()
      if (isRunning(scheduler)) scheduler.child.kill("SIGKILL")
      await scheduler.exited
      scheduler = startScheduler()
      all.push(scheduler)
      await waitFor(scheduler, /Scheduler at:\s+(tcp:\/\/\S+)/)
    },
    stop: async () => {
      // Workers first: a worker told to close while its scheduler is closing too can wait
      // seconds for it; closing before the scheduler takes ~0.1 s.
      await Promise.all([stopObserver(), ...[...workerProcs, ...nodeProcs].map((w) => terminate(w, 3_000))])
      await terminate(scheduler, 3_000)
    }
  }
}

/** Polls the cluster's real state until `ok` holds, failing with the last state after `timeout` ms. */
export const until = async (cluster: Cluster, ok: (s: ClusterState) => boolean, timeout = 15_000): Promise<ClusterState> => {
  const deadline = performance.now() + timeout
  let state = await cluster.state()
  while (!ok(state)) {
    if (performance.now() > deadline) {
      throw new Error(`cluster state did not converge in ${timeout} ms: ${JSON.stringify(state)}`)
    }
    await new Promise((r) => setTimeout(r, 100))
    state = await cluster.state()
  }
  return state
}
