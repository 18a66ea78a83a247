/**
 * A Node.js Dask worker (worker protocol §0–§10): a TCP server for peers,
 * clients and the scheduler, a worker stream to the scheduler, heartbeats on
 * a pooled comm, and the per-key state machine of §10 with bounded
 * concurrency. JS tasks come from task modules (`TaskModule`); anything else
 * sent here fails at once with an error naming this worker as a JS worker.
 *
 * The machinery is plain callbacks and Maps (one object per key, no fiber per
 * task); `DaskWorker` wraps it in a scoped Effect.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import * as net from "node:net"
import * as os from "node:os"
import { randomUUID } from "node:crypto"
import type * as Task from "../../Task.js"
import { defaultMaxDecodedBytes } from "../wire/budget.js"
import { Comm, connect } from "../wire/comm.js"
import { parseAddress } from "../wire/connection.js"
import { RESOURCE } from "../wire/jsTask.js"
import { Serialized } from "../wire/message.js"
import { errorReport, WorkerFault } from "./errors.js"
import { Heap } from "./heap.js"
import { entries, keyId, keyList } from "./keys.js"
import { Peers } from "./peers.js"
import { DepRef, readRunSpec, type RunSpec } from "./runSpec.js"
import { type Stored, storeReceived, storeResult, typePickle, valueOf } from "./values.js"

/** @internal */
export interface WorkerConfig {
  /** `tcp://host:port` of the scheduler. */
  readonly scheduler: string
  /** Interface to listen on. */
  readonly host: string
  /** Port to listen on; 0 picks a free one. */
  readonly port: number
  readonly nthreads: number
  readonly name: string | undefined
  /** Extra resources; `js: nthreads` is always registered. */
  readonly resources: Readonly<Record<string, number>>
  /** Bytes of RSS above which the worker pauses (0: never). */
  readonly memoryLimit: number
  /** Fraction of `memoryLimit` at which the worker pauses (Dask's `worker.memory.pause`). */
  readonly pauseFraction: number
  readonly maxMessageBytes: number
  readonly connectTimeoutMs: number
  readonly tasks: (name: string) => Task.Any | undefined
  /** Lines for the operator (stderr in the CLI). */
  readonly log: (line: string) => void
}

type State = "waiting" | "ready" | "executing" | "cancelled" | "memory" | "error" | "fetch" | "flight" | "missing"

interface TaskState {
  readonly key: unknown
  readonly id: string
  state: State
  /** The scheduler asked this worker to compute it. */
  compute: boolean
  /** acquire-replicas asked for it. */
  wanted: boolean
  runId: number | undefined
  priority: ReadonlyArray<number>
  seq: number
  spec: (RunSpec & { readonly _tag: "Js" }) | undefined
  task: Task.Any | undefined
  /** Dependencies of a compute task. */
  deps: Array<TaskState>
  waitingOn: number
  /** Local compute tasks waiting on this key. */
  dependents: Set<TaskState>
  whoHas: Array<string>
  stored: Stored | undefined
  /** The run in progress: a stale completion (freed, then recomputed) compares this. */
  run: object | undefined
}

type Status = "init" | "running" | "paused" | "closing_gracefully" | "closing" | "closed"

const SLOT_STATES: Record<State, string | null> = {
  waiting: "waiting",
  ready: "ready",
  executing: "executing",
  cancelled: "cancelled",
  memory: "memory",
  error: "memory",
  fetch: "waiting",
  flight: "waiting",
  missing: "waiting"
}

const field = (u: unknown, name: string): unknown => {
  if (u instanceof Map) return u.get(name)
  if (typeof u === "object" && u !== null && !Array.isArray(u)) return (u as Record<string, unknown>)[name]
  return undefined
}

const isEffect = (u: unknown): u is Effect.Effect<unknown, unknown> => Effect.isEffect(u)
const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

/** Epoch seconds with sub-microsecond resolution (a 0 s compute duration gets a worker removed, §14). */
const now = (): number => (performance.timeOrigin + performance.now()) / 1000

/** @internal */
export class NodeWorker {
  readonly id = `Worker-node-${randomUUID()}`
  address = ""
  name = ""
  status: Status = "init"
  private server: net.Server | undefined
  private stream: Comm | undefined
  private readonly peers: Peers
  private readonly tasks = new Map<string, TaskState>()
  private readonly ready = new Heap<TaskState>()
  private executing = 0
  private seq = 0
  private outbox: Array<unknown> = []
  private flushTimer: NodeJS.Timeout | undefined
  private lastFlush = 0
  private heartbeatTimer: NodeJS.Timeout | undefined
  private keepAliveTimer: NodeJS.Timeout | undefined
  private memoryTimer: NodeJS.Timeout | undefined
  private heartbeatInterval = 0.5
  private versions: unknown = {}
  private readonly incoming = new Set<Comm>()
  private readonly fetching = new Set<string>()
  private readonly badPeers = new Set<string>()
  private closedResolve!: (reason: string) => void
  /** Resolves with the reason once the worker has shut down. */
  readonly closed: Promise<string>
  private paused = false
  private managedBytes = 0
  private computeTotal = 0
  private heartbeatsSent = 0
  private stopHeartbeat = false

  constructor(readonly config: WorkerConfig) {
    this.peers = new Peers({ maxMessageBytes: config.maxMessageBytes, connectTimeoutMs: config.connectTimeoutMs })
    this.closed = new Promise((resolve) => {
      this.closedResolve = resolve
    })
  }

  // --- lifecycle -----------------------------------------------------------

  /** Listens, registers with the scheduler and starts heartbeating. */
  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(this.config.port, this.config.host, () => {
        server.off("error", reject)
        resolve()
      })
    })
    const port = (server.address() as net.AddressInfo).port
    const host = this.config.host === "0.0.0.0" || this.config.host === "::" ? os.hostname() : this.config.host
    this.address = `tcp://${host.includes(":") ? `[${host}]` : host}:${port}`
    this.name = this.config.name ?? this.address
    try {
      await this.register()
    } catch (error) {
      await this.shutdown("registration failed", false)
      throw error
    }
  }

  private async register(): Promise<void> {
    const scheduler = this.config.scheduler
    // Echo the scheduler's own packages: no version-mismatch warning for anyone (§2).
    const versions = await this.peers.request(scheduler, { op: "versions" }, { timeoutMs: this.config.connectTimeoutMs })
    this.versions = {
      host: { node: process.version, platform: process.platform, arch: process.arch, worker: "effect-dask" },
      packages: field(versions, "packages") ?? {}
    }
    const parsed = parseAddress(scheduler)
    if (Either.isLeft(parsed)) throw new Error(parsed.left)
    let registered: (reply: unknown) => void = () => {}
    const reply = new Promise<unknown>((resolve) => {
      registered = resolve
    })
    let first = true
    const stream = await connect(parsed.right.host, parsed.right.port, {
      maxMessageBytes: this.config.maxMessageBytes,
      timeoutMs: this.config.connectTimeoutMs,
      onMessage: (message) => {
        if (first) {
          first = false
          registered(message)
          return
        }
        this.onBatch(message)
      },
      onClose: (error) => {
        if (this.status !== "closing" && this.status !== "closed") {
          this.config.log(`scheduler stream closed${error !== undefined ? `: ${error}` : ""}`)
          void this.shutdown("scheduler-stream-closed", false)
        }
      }
    })
    this.stream = stream
    const t = now()
    stream.write({
      op: "register-worker",
      reply: false,
      address: this.address,
      status: "running",
      server_id: this.id,
      nthreads: this.config.nthreads,
      name: this.name,
      now: t,
      resources: { ...this.config.resources, [RESOURCE]: this.config.nthreads },
      memory_limit: this.config.memoryLimit,
      local_directory: "",
      services: {},
      nanny: null,
      pid: process.pid,
      versions: this.versions,
      metrics: this.metrics(),
      extra: {},
      stimulus_id: `worker-connect-${t}`
    })
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no reply to register-worker from ${scheduler}`)), this.config.connectTimeoutMs).unref()
    )
    const answer = await Promise.race([reply, timeout])
    if (field(answer, "status") !== "OK") {
      const message = field(answer, "message")
      throw new Error(`the scheduler refused this worker: ${typeof message === "string" ? message : JSON.stringify(field(answer, "status"))}`)
    }
    this.setInterval(field(answer, "heartbeat-interval"))
    this.status = "running"
    this.config.log(`registered to ${scheduler} as ${this.address} (name ${this.name}, nthreads ${this.config.nthreads})`)
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.heartbeatInterval * 1000)
    this.keepAliveTimer = setInterval(() => this.send({ op: "keep-alive" }), 60_000)
    this.keepAliveTimer.unref()
    if (this.config.memoryLimit > 0) {
      this.memoryTimer = setInterval(() => this.checkMemory(), 100)
      this.memoryTimer.unref()
    }
  }

  private setInterval(u: unknown): void {
    if (typeof u === "number" && Number.isFinite(u) && u > 0) this.heartbeatInterval = Math.min(u, 60)
  }

  /** Stops heartbeating while staying connected (tests of the scheduler's worker-ttl). */
  silence(): void {
    this.stopHeartbeat = true
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer)
  }

  private heartbeat(): void {
    if (this.status === "closing" || this.status === "closed" || this.stopHeartbeat) return
    const executing: Record<string, number> = {}
    this.heartbeatsSent++
    this.peers.request(this.config.scheduler, {
      op: "heartbeat_worker",
      address: this.address,
      now: now(),
      metrics: this.metrics(),
      executing,
      extensions: {}
    }, { timeoutMs: 30_000 }).then(
      (reply) => {
        if (field(reply, "status") === "missing") {
          this.config.log("the scheduler no longer knows this worker; closing")
          void this.shutdown("scheduler-missing", false)
          return
        }
        this.setInterval(field(reply, "heartbeat-interval"))
      },
      (error: Error) => {
        if (this.status !== "closing" && this.status !== "closed") this.config.log(`heartbeat failed: ${error.message}`)
      }
    ).finally(() => {
      if (this.status !== "closing" && this.status !== "closed" && !this.stopHeartbeat) {
        this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.heartbeatInterval * 1000)
      }
    })
  }

  private metrics(): Record<string, unknown> {
    const memory = process.memoryUsage.rss()
    let executing = 0
    let memoryCount = 0
    for (const ts of this.tasks.values()) {
      if (ts.state === "executing") executing++
      else if (ts.state === "memory") memoryCount++
    }
    return {
      task_counts: { executing, memory: memoryCount },
      bandwidth: { total: 100_000_000, workers: {}, types: {} },
      digests_total_since_heartbeat: {},
      managed_bytes: this.managedBytes,
      spilled_bytes: { memory: 0, disk: 0 },
      transfer: {
        incoming_bytes: 0,
        incoming_count: 0,
        incoming_count_total: 0,
        outgoing_bytes: 0,
        outgoing_count: 0,
        outgoing_count_total: 0
      },
      event_loop_interval: 0.02,
      cpu: 0,
      memory,
      time: now(),
      host_net_io: { read_bps: 0, write_bps: 0 },
      num_fds: 0
    }
  }

  private checkMemory(): void {
    if (this.status !== "running" && this.status !== "paused") return
    const rss = process.memoryUsage.rss()
    const threshold = this.config.memoryLimit * this.config.pauseFraction
    if (!this.paused && rss > threshold) {
      this.paused = true
      this.status = "paused"
      this.config.log(`paused: process memory ${rss} B above ${Math.round(threshold)} B`)
      this.send({ op: "worker-status-change", status: "paused", stimulus_id: `worker-status-change-${now()}` })
    } else if (this.paused && rss <= threshold) {
      this.paused = false
      this.status = "running"
      this.config.log(`resumed: process memory ${rss} B`)
      this.send({ op: "worker-status-change", status: "running", stimulus_id: `worker-status-change-${now()}` })
      this.pump()
    }
  }

  /**
   * Leaves the cluster. `graceful`: tell the scheduler to retire this worker
   * first (it moves the keys held here to other workers), then close.
   */
  async close(graceful: boolean): Promise<string> {
    if (this.status === "closed" || this.status === "closing") return this.closed
    if (graceful && this.stream !== undefined && !this.stream.closed) {
      try {
        await this.peers.request(this.config.scheduler, {
          op: "retire_workers",
          workers: [this.address],
          close_workers: true,
          remove: true,
          stimulus_id: `retire-workers-${now()}`
        }, { timeoutMs: 60_000 })
        // The scheduler answers after it sent `close`; give it a moment to arrive.
        await Promise.race([this.closed, new Promise((r) => setTimeout(r, 2_000).unref())])
      } catch (error) {
        this.config.log(`retire failed: ${(error as Error).message}`)
      }
    }
    return this.shutdown("worker-close", true)
  }

  private async shutdown(reason: string, tellScheduler: boolean): Promise<string> {
    if (this.status === "closed" || this.status === "closing") return this.closed
    const wasRunning = this.status !== "init"
    this.status = "closing"
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer)
    if (this.keepAliveTimer !== undefined) clearInterval(this.keepAliveTimer)
    if (this.memoryTimer !== undefined) clearInterval(this.memoryTimer)
    const stream = this.stream
    if (stream !== undefined && !stream.closed && wasRunning && tellScheduler) {
      this.outbox.push({ op: "worker-status-change", status: "closing", stimulus_id: `worker-close-${now()}` })
      this.outbox.push({ op: "close-stream" })
      this.flush()
    }
    stream?.close()
    for (const comm of this.incoming) comm.destroy()
    this.incoming.clear()
    this.peers.close()
    await new Promise<void>((resolve) => (this.server !== undefined ? this.server.close(() => resolve()) : resolve()))
    this.tasks.clear()
    this.ready.clear()
    this.managedBytes = 0
    this.status = "closed"
    this.config.log(`closed (${reason})`)
    this.closedResolve(reason)
    return reason
  }

  // --- the stream ----------------------------------------------------------

  private send(op: Record<string, unknown>): void {
    if (this.stream === undefined || this.stream.closed) return
    this.outbox.push(op)
    if (this.flushTimer !== undefined) return
    const wait = Math.max(0, this.lastFlush + 2 - performance.now())
    this.flushTimer = setTimeout(() => this.flush(), wait)
  }

  private flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    this.lastFlush = performance.now()
    if (this.outbox.length === 0 || this.stream === undefined) return
    const batch = this.outbox
    this.outbox = []
    try {
      this.stream.write(batch)
    } catch (error) {
      this.config.log(`could not encode a stream batch: ${(error as Error).message}`)
    }
  }

  private onBatch(message: unknown): void {
    const ops = Array.isArray(message) ? message : [message]
    for (const op of ops) {
      if (op === "OK") return // ends the batch (Server.handle_stream)
      try {
        this.onOp(op)
      } catch (error) {
        this.config.log(`failed to handle ${String(field(op, "op"))}: ${(error as Error).stack ?? String(error)}`)
      }
    }
  }

  private onOp(msg: unknown): void {
    const stimulus = field(msg, "stimulus_id")
    const stimulusId = typeof stimulus === "string" ? stimulus : `${String(field(msg, "op"))}-${now()}`
    switch (field(msg, "op")) {
      case "compute-task":
        return this.computeTask(msg, stimulusId)
      case "free-keys":
        return this.freeKeys(keyList(field(msg, "keys")), stimulusId)
      case "remove-replicas":
        return this.removeReplicas(keyList(field(msg, "keys")), stimulusId)
      case "acquire-replicas":
        return this.acquireReplicas(field(msg, "who_has"), stimulusId)
      case "steal-request":
        return this.stealRequest(field(msg, "key"), stimulusId)
      case "worker-status-change": {
        const status = field(msg, "status")
        if (status === "closing_gracefully" || status === "running" || status === "paused") {
          if (status === "running" && this.paused) return
          this.status = status
          this.send({ op: "worker-status-change", status, stimulus_id: stimulusId })
          if (status === "running") this.pump()
        }
        return
      }
      case "refresh-who-has":
        return this.refreshWhoHas(field(msg, "who_has"))
      case "remove-worker": {
        const worker = field(msg, "worker")
        if (typeof worker === "string") this.peerGone(worker)
        return
      }
      case "close":
        void this.shutdown(String(field(msg, "reason") ?? "scheduler-close"), true)
        return
      case "close-stream":
        this.stream?.close()
        return
      case "cancel-compute":
        // Never sent by 2022.12 or 2024.12 (§4); a running JS task cannot be interrupted anyway.
        return
      default:
        this.config.log(`ignored stream op ${JSON.stringify(field(msg, "op"))}`)
    }
  }

  // --- the state machine (§10) ---------------------------------------------

  private newState(key: unknown, id: string): TaskState {
    const ts: TaskState = {
      key,
      id,
      state: "fetch",
      compute: false,
      wanted: false,
      runId: undefined,
      priority: [],
      seq: this.seq++,
      spec: undefined,
      task: undefined,
      deps: [],
      waitingOn: 0,
      dependents: new Set(),
      whoHas: [],
      stored: undefined,
      run: undefined
    }
    this.tasks.set(id, ts)
    return ts
  }

  private computeTask(msg: unknown, stimulusId: string): void {
    const key = field(msg, "key")
    const id = keyId(key)
    const runIdField = field(msg, "run_id")
    const runId = typeof runIdField === "number" ? runIdField : undefined
    const priorityField = field(msg, "priority")
    const priority = Array.isArray(priorityField) ? priorityField.map(Number) : []
    let ts = this.tasks.get(id)
    if (ts !== undefined) {
      switch (ts.state) {
        case "memory":
          ts.compute = true
          ts.runId = runId
          this.sendFinished(ts, now() - 1e-6, now(), stimulusId)
          return
        case "executing":
        case "waiting":
        case "ready":
          ts.runId = runId
          ts.compute = true
          return
        case "cancelled":
          // Freed while running, asked again: the run in progress now counts (Python's `resumed`).
          ts.state = "executing"
          ts.runId = runId
          ts.compute = true
          return
        case "flight":
          // Arrives by transfer; reported as finished when it does.
          ts.compute = true
          ts.runId = runId
          ts.priority = priority
          break
        case "error":
          this.forget(ts)
          ts = undefined
          break
        default:
          break
      }
    }
    const spec = readRunSpec(msg)
    if (spec._tag !== "Js") {
      const t = now()
      const why = spec._tag === "Foreign"
        ? `${this.address} is a JS worker (effect-dask Node worker): it runs only JS tasks and cannot run the Python callable ${spec.callable}. Restrict Python tasks to Python workers (workers= or resources=)`
        : `${this.address} is a JS worker (effect-dask Node worker) and could not read this task: ${spec.message}`
      if (ts !== undefined) this.forget(ts)
      this.sendErred(key, runId, errorReport(new WorkerFault(why), spec._tag === "Foreign" ? "NotImplementedError" : "ValueError"), t, stimulusId)
      return
    }
    const task = this.config.tasks(spec.name)
    if (task === undefined || task.run === undefined) {
      if (ts !== undefined) this.forget(ts)
      this.sendErred(
        key,
        runId,
        errorReport(new WorkerFault(`no JS task named "${spec.name}" in the task modules of worker ${this.address}`), "RuntimeError"),
        now(),
        stimulusId
      )
      return
    }
    if (ts === undefined) ts = this.newState(key, id)
    ts.compute = true
    ts.runId = runId
    ts.priority = priority
    ts.spec = spec
    ts.task = task
    if (ts.state === "flight") return
    ts.whoHas = []
    ts.deps = []
    ts.waitingOn = 0
    for (const [depKey, holders] of entries(field(msg, "who_has"))) {
      const depId = keyId(depKey)
      let dep = this.tasks.get(depId)
      if (dep === undefined) {
        dep = this.newState(depKey, depId)
        dep.state = "fetch"
      }
      if (dep.state === "fetch" || dep.state === "missing") {
        dep.whoHas = keyList(holders).filter((a): a is string => typeof a === "string" && a !== this.address)
        if (dep.state === "missing" && dep.whoHas.length > 0) dep.state = "fetch"
      }
      ts.deps.push(dep)
      dep.dependents.add(ts)
      if (dep.state !== "memory") ts.waitingOn++
    }
    if (ts.waitingOn === 0) {
      ts.state = "ready"
      this.ready.push(ts)
      this.pump()
    } else {
      ts.state = "waiting"
      for (const dep of ts.deps) {
        if (dep.state === "missing") this.send({ op: "request-refresh-who-has", keys: [dep.key], stimulus_id: stimulusId })
      }
      this.fetch()
    }
  }

  /** Drops a key: its data, its place as a dependency, its dependencies' links. */
  private forget(ts: TaskState): void {
    if (this.tasks.get(ts.id) === ts) this.tasks.delete(ts.id)
    if (ts.stored !== undefined) {
      this.managedBytes -= ts.stored.nbytes
      ts.stored = undefined
    }
    ts.run = undefined
    this.releaseDeps(ts)
    ts.state = "fetch"
    ts.compute = false
  }

  private releaseDeps(ts: TaskState): void {
    const deps = ts.deps
    ts.deps = []
    ts.waitingOn = 0
    for (const dep of deps) {
      dep.dependents.delete(ts)
      if (dep.dependents.size === 0 && !dep.compute && !dep.wanted && dep.state !== "memory" && this.tasks.get(dep.id) === dep) {
        // A dependency nobody here needs any more: stop fetching it.
        this.tasks.delete(dep.id)
      }
    }
  }

  private freeKeys(keys: ReadonlyArray<unknown>, stimulusId: string): void {
    for (const key of keys) {
      const ts = this.tasks.get(keyId(key))
      if (ts === undefined) continue
      if (ts.state === "executing") {
        ts.state = "cancelled"
        ts.compute = false
        continue
      }
      if (ts.state === "cancelled") continue
      const hadData = ts.state === "memory"
      ts.compute = false
      ts.wanted = false
      if (ts.dependents.size > 0 && !hadData) continue // still a dependency of a local task
      this.forget(ts)
      if (hadData) this.send({ op: "release-worker-data", key: ts.key, stimulus_id: stimulusId })
    }
  }

  private neededHere(ts: TaskState): boolean {
    for (const d of ts.dependents) {
      if (d.state === "waiting" || d.state === "ready" || d.state === "executing") return true
    }
    return false
  }

  private removeReplicas(keys: ReadonlyArray<unknown>, stimulusId: string): void {
    const refused: Array<unknown> = []
    for (const key of keys) {
      const ts = this.tasks.get(keyId(key))
      if (ts === undefined || ts.state !== "memory") continue
      if (this.neededHere(ts)) {
        refused.push(ts.key)
        continue
      }
      this.forget(ts)
      this.send({ op: "release-worker-data", key: ts.key, stimulus_id: stimulusId })
    }
    if (refused.length > 0) this.send({ op: "add-keys", keys: refused, stimulus_id: stimulusId })
  }

  private acquireReplicas(whoHas: unknown, _stimulusId: string): void {
    for (const [key, holders] of entries(whoHas)) {
      const id = keyId(key)
      let ts = this.tasks.get(id)
      if (ts !== undefined && (ts.state === "memory" || ts.state === "flight")) continue
      if (ts === undefined) ts = this.newState(key, id)
      if (ts.state === "fetch" || ts.state === "missing") {
        ts.state = "fetch"
        ts.wanted = true
        ts.whoHas = keyList(holders).filter((a): a is string => typeof a === "string" && a !== this.address)
      }
    }
    this.fetch()
  }

  private stealRequest(key: unknown, stimulusId: string): void {
    const ts = this.tasks.get(keyId(key))
    const state = ts === undefined ? null : ts.compute || ts.state === "cancelled" ? SLOT_STATES[ts.state] : null
    this.send({ op: "steal-response", key, state, stimulus_id: stimulusId })
    if (ts === undefined || state === null) return
    if (ts.state === "waiting" || ts.state === "ready") {
      this.forget(ts)
    } else if (ts.state === "fetch" || ts.state === "flight" || ts.state === "missing") {
      ts.compute = false
      ts.spec = undefined
      if (ts.dependents.size === 0 && !ts.wanted && ts.state !== "flight") this.tasks.delete(ts.id)
    }
  }

  private refreshWhoHas(whoHas: unknown): void {
    for (const [key, holders] of entries(whoHas)) {
      const ts = this.tasks.get(keyId(key))
      if (ts === undefined || (ts.state !== "fetch" && ts.state !== "missing")) continue
      ts.whoHas = keyList(holders).filter((a): a is string => typeof a === "string" && a !== this.address)
      if (ts.whoHas.length > 0) ts.state = "fetch"
    }
    this.fetch()
  }

  private peerGone(address: string): void {
    this.peers.forget(address)
    for (const ts of this.tasks.values()) {
      if (ts.state === "fetch" || ts.state === "missing") ts.whoHas = ts.whoHas.filter((a) => a !== address)
    }
  }

  // --- fetching dependencies (§7.2) ----------------------------------------

  private fetch(): void {
    if (this.status === "closing" || this.status === "closed") return
    const byPeer = new Map<string, Array<TaskState>>()
    const missing: Array<TaskState> = []
    for (const ts of this.tasks.values()) {
      if (ts.state !== "fetch") continue
      const peer = ts.whoHas.find((a) => !this.badPeers.has(a)) ?? ts.whoHas[0]
      if (peer === undefined) {
        missing.push(ts)
        continue
      }
      if (this.fetching.has(peer)) continue
      let list = byPeer.get(peer)
      if (list === undefined) byPeer.set(peer, list = [])
      list.push(ts)
    }
    if (missing.length > 0) {
      for (const ts of missing) ts.state = "missing"
      this.send({ op: "request-refresh-who-has", keys: missing.map((t) => t.key), stimulus_id: `find-missing-${now()}` })
    }
    for (const [peer, list] of byPeer) this.gatherFrom(peer, list)
  }

  private gatherFrom(peer: string, list: Array<TaskState>): void {
    this.fetching.add(peer)
    for (const ts of list) ts.state = "flight"
    const stimulusId = `gather-dep-success-${now()}`
    this.peers.request(peer, { op: "get_data", keys: list.map((t) => t.key), who: this.address }, { ack: true, timeoutMs: 300_000 })
      .then(
        (reply) => {
          this.badPeers.delete(peer)
          const status = field(reply, "status")
          const data = new Map<string, unknown>(entries(field(reply, "data")).map(([k, v]) => [keyId(k), v]))
          const got: Array<unknown> = []
          for (const ts of list) {
            if (this.tasks.get(ts.id) !== ts || ts.state !== "flight") continue
            const value = data.get(ts.id)
            if (status === "OK" && value instanceof Serialized) {
              this.storeFetched(ts, storeReceived(value), stimulusId)
              if (!ts.compute) got.push(ts.key)
            } else {
              ts.whoHas = ts.whoHas.filter((a) => a !== peer || status === "busy")
              this.flightFailed(ts)
            }
          }
          if (got.length > 0) this.send({ op: "add-keys", keys: got, stimulus_id: stimulusId })
        },
        (error: Error) => {
          this.config.log(`get_data from ${peer} failed: ${error.message}`)
          this.badPeers.add(peer)
          for (const ts of list) {
            if (this.tasks.get(ts.id) !== ts || ts.state !== "flight") continue
            ts.whoHas = ts.whoHas.filter((a) => a !== peer)
            this.flightFailed(ts)
          }
        }
      )
      .finally(() => {
        this.fetching.delete(peer)
        this.fetch()
      })
  }

  private flightFailed(ts: TaskState): void {
    // Try the other holders; with none left, `fetch` asks the scheduler (request-refresh-who-has).
    ts.state = "fetch"
    if (ts.dependents.size === 0 && !ts.wanted && !ts.compute) this.tasks.delete(ts.id)
  }

  private storeFetched(ts: TaskState, stored: Stored, stimulusId: string): void {
    ts.stored = stored
    ts.state = "memory"
    this.managedBytes += stored.nbytes
    if (ts.compute) this.sendFinished(ts, now() - 1e-6, now(), stimulusId)
    this.depArrived(ts)
  }

  private depArrived(ts: TaskState): void {
    for (const d of ts.dependents) {
      if (d.state !== "waiting") continue
      d.waitingOn--
      if (d.waitingOn <= 0) {
        d.state = "ready"
        this.ready.push(d)
      }
    }
    this.pump()
  }

  // --- execution -------------------------------------------------------------

  private pump(): void {
    while (this.executing < this.config.nthreads && this.ready.size > 0 && this.status !== "paused" && !this.paused) {
      const ts = this.ready.pop()!
      if (ts.state !== "ready" || this.tasks.get(ts.id) !== ts) continue
      this.execute(ts)
    }
  }

  private argsOf(ts: TaskState): Either.Either<Array<unknown>, string> {
    const values = new Map<string, unknown>()
    for (const dep of ts.deps) {
      if (dep.stored === undefined) return Either.left(`dependency ${keyId(dep.key)} is not in memory`)
      const value = valueOf(dep.stored, defaultMaxDecodedBytes)
      if (Either.isLeft(value)) return Either.left(`dependency ${keyId(dep.key)} could not be decoded: ${value.left.message}`)
      values.set(dep.id, value.right)
    }
    const substitute = (u: unknown, depth: number): unknown => {
      if (depth > 256) return u
      if (typeof u === "string") return values.has(u) ? values.get(u) : u
      if (u instanceof DepRef) {
        const id = keyId(u.key)
        return values.has(id) ? values.get(id) : u
      }
      if (Array.isArray(u)) return u.map((x) => substitute(x, depth + 1))
      if (u instanceof Map) {
        const out = new Map<unknown, unknown>()
        for (const [k, v] of u) out.set(k, substitute(v, depth + 1))
        return out
      }
      if (typeof u === "object" && u !== null && !(u instanceof Uint8Array) && !ArrayBuffer.isView(u)) {
        const out: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(u)) {
          Object.defineProperty(out, k, { value: substitute(v, depth + 1), enumerable: true, writable: true, configurable: true })
        }
        return out
      }
      return u
    }
    return Either.right(ts.spec!.args.map((a) => substitute(a, 0)))
  }

  private execute(ts: TaskState): void {
    ts.state = "executing"
    this.executing++
    const run = {}
    ts.run = run
    const start = now()
    const args = this.argsOf(ts)
    const finish = (exit: Exit.Exit<unknown, unknown>) => {
      this.executing--
      const stop = Math.max(now(), start + 1e-6)
      this.computeTotal += stop - start
      if (ts.run === run) {
        ts.run = undefined
        if (ts.state === "cancelled") {
          this.forget(ts)
        } else if (ts.state === "executing" && this.tasks.get(ts.id) === ts) {
          this.completed(ts, exit, start, stop)
        }
      }
      this.pump()
    }
    if (Either.isLeft(args)) {
      finish(Exit.fail(new Error(args.left)))
      return
    }
    let result: unknown
    try {
      result = ts.task!.run!(...args.right)
    } catch (error) {
      queueMicrotask(() => finish(Exit.die(error)))
      return
    }
    if (isEffect(result)) {
      Effect.runPromiseExit(result).then(finish)
    } else if (isThenable(result)) {
      Promise.resolve(result).then((v) => finish(Exit.succeed(v)), (e) => finish(Exit.die(e)))
    } else {
      // Report from a fresh task, as an async result would be: lets a burst of sync tasks batch.
      queueMicrotask(() => finish(Exit.succeed(result)))
    }
  }

  private completed(ts: TaskState, exit: Exit.Exit<unknown, unknown>, start: number, stop: number): void {
    const stimulusId = `task-finished-${stop}`
    if (Exit.isSuccess(exit)) {
      const stored = storeResult(exit.value)
      if (Either.isRight(stored)) {
        ts.stored = stored.right
        ts.state = "memory"
        this.managedBytes += stored.right.nbytes
        this.releaseDeps(ts)
        this.sendFinished(ts, start, stop, stimulusId)
        this.depArrived(ts)
        return
      }
      ts.state = "error"
      this.releaseDeps(ts)
      this.sendErred(ts.key, ts.runId, errorReport(new TypeError(`the result of JS task "${ts.spec!.name}" cannot be sent to Dask: ${stored.left}`)), start, `task-erred-${stop}`, stop)
      return
    }
    const cause = exit.cause
    const failure = Cause.isFailType(cause) ? cause.error : Cause.isDieType(cause) ? cause.defect : Cause.squash(cause)
    ts.state = "error"
    this.releaseDeps(ts)
    this.sendErred(ts.key, ts.runId, errorReport(failure), start, `task-erred-${stop}`, stop)
  }

  private sendFinished(ts: TaskState, start: number, stop: number, stimulusId: string): void {
    const stored = ts.stored!
    const msg: Record<string, unknown> = {
      op: "task-finished",
      status: "OK",
      key: ts.key,
      nbytes: stored.nbytes,
      type: typePickle(stored.typename === "object" ? "object" : stored.typename),
      typename: stored.typename,
      metadata: {},
      thread: 0,
      startstops: [{ action: "compute", start, stop: Math.max(stop, start + 1e-6) }],
      stimulus_id: stimulusId
    }
    if (ts.runId !== undefined) msg.run_id = ts.runId
    this.send(msg)
  }

  private sendErred(
    key: unknown,
    runId: number | undefined,
    report: ReturnType<typeof errorReport>,
    start: number,
    stimulusId: string,
    stop = start + 1e-6
  ): void {
    const msg: Record<string, unknown> = {
      op: "task-erred",
      status: "error",
      key,
      exception: report.exception,
      traceback: report.traceback,
      exception_text: report.exception_text,
      traceback_text: report.traceback_text,
      thread: 0,
      startstops: [{ action: "compute", start, stop: Math.max(stop, start + 1e-6) }],
      stimulus_id: stimulusId
    }
    if (runId !== undefined) msg.run_id = runId
    this.send(msg)
  }

  // --- the server (§7, §8) ---------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.status === "closing" || this.status === "closed") {
      socket.destroy()
      return
    }
    const comm: Comm = new Comm(socket, {
      maxMessageBytes: this.config.maxMessageBytes,
      listener: true,
      onMessage: (message) => this.onRequest(comm, message),
      onClose: () => this.incoming.delete(comm)
    })
    this.incoming.add(comm)
  }

  private onRequest(comm: Comm, message: unknown): void {
    if (typeof message === "string") return // get_data's "OK" acknowledgement
    const op = field(message, "op")
    const wantsReply = field(message, "reply") !== false
    const answer = (reply: unknown) => {
      if (!wantsReply) return
      try {
        comm.write(reply)
      } catch (error) {
        comm.write(this.errorReply(error))
      }
    }
    switch (op) {
      case "get_data":
        return answer(this.getData(keyList(field(message, "keys"))))
      case "update_data":
        return answer(this.updateData(field(message, "data"), field(message, "report") === true))
      case "gather":
        void this.gatherRpc(field(message, "who_has")).then(answer)
        return
      case "free_keys":
        this.freeKeys(keyList(field(message, "keys")), String(field(message, "stimulus_id") ?? `free-keys-${now()}`))
        return answer(null)
      case "keys":
        return answer(this.keys())
      case "versions":
        return answer(this.versions)
      case "identity":
        return answer({
          type: "Worker",
          id: this.id,
          scheduler: this.config.scheduler,
          nthreads: this.config.nthreads,
          memory_limit: this.config.memoryLimit
        })
      case "ping":
        return answer("pong")
      case "close":
        comm.close()
        return
      case "terminate":
        answer("OK")
        void this.close(false)
        return
      default:
        // `run`, plugins, actors, profiling…: they assume a Python worker. A well-formed
        // error keeps Client.run & co. working for the Python workers of the same cluster.
        return answer(this.errorReply(
          new Error(`${this.address} is a JS worker (effect-dask Node worker) and does not support the ${JSON.stringify(op)} operation, which needs a Python worker`),
          op === "run" ? "error" : "uncaught-error"
        ))
    }
  }

  private errorReply(error: unknown, status: "error" | "uncaught-error" = "uncaught-error"): Record<string, unknown> {
    const report = errorReport(new WorkerFault(error instanceof Error ? error.message : String(error)), "RuntimeError")
    return {
      status,
      exception: report.exception,
      traceback: null,
      exception_text: report.exception_text,
      traceback_text: ""
    }
  }

  private getData(keys: ReadonlyArray<unknown>): Record<string, unknown> {
    const data = new Map<unknown, unknown>()
    for (const key of keys) {
      const ts = this.tasks.get(keyId(key))
      if (ts?.stored !== undefined) data.set(ts.key, ts.stored.serialized)
    }
    return { status: "OK", data }
  }

  private updateData(data: unknown, report: boolean): Record<string, unknown> {
    const nbytes = new Map<unknown, number>()
    const stimulusId = `update-data-${now()}`
    const added: Array<unknown> = []
    for (const [key, value] of entries(data)) {
      const id = keyId(key)
      let ts = this.tasks.get(id)
      const stored = value instanceof Serialized
        ? storeReceived(value)
        : (() => {
          const r = storeResult(value)
          return Either.isRight(r) ? r.right : undefined
        })()
      if (stored === undefined) continue
      if (ts === undefined) ts = this.newState(key, id)
      if (ts.stored !== undefined) this.managedBytes -= ts.stored.nbytes
      ts.stored = stored
      ts.state = "memory"
      this.managedBytes += stored.nbytes
      nbytes.set(key, stored.nbytes)
      added.push(key)
      this.depArrived(ts)
    }
    if (report && added.length > 0) this.send({ op: "add-keys", keys: added, stimulus_id: stimulusId })
    return { nbytes, status: "OK" }
  }

  private async gatherRpc(whoHas: unknown): Promise<Record<string, unknown>> {
    const wanted = entries(whoHas)
    const failed: Array<unknown> = []
    const holdersOf = new Map<unknown, Array<unknown>>()
    const byPeer = new Map<string, Array<unknown>>()
    for (const [key, holders] of wanted) {
      if (this.tasks.get(keyId(key))?.state === "memory") continue
      holdersOf.set(key, keyList(holders))
      const peer = keyList(holders).find((a): a is string => typeof a === "string" && a !== this.address)
      if (peer === undefined) {
        failed.push(key)
        continue
      }
      let list = byPeer.get(peer)
      if (list === undefined) byPeer.set(peer, list = [])
      list.push(key)
    }
    await Promise.all(Array.from(byPeer, async ([peer, keys]) => {
      try {
        const reply = await this.peers.request(peer, { op: "get_data", keys, who: this.address }, { ack: true, timeoutMs: 300_000 })
        const data = new Map(entries(field(reply, "data")).map(([k, v]) => [keyId(k), v] as const))
        for (const key of keys) {
          const value = data.get(keyId(key))
          if (!(value instanceof Serialized)) {
            failed.push(key)
            continue
          }
          this.updateData(new Map([[key, value]]), false)
        }
      } catch {
        failed.push(...keys)
      }
    }))
    // As Python's Worker.gather: the keys not gathered, with the holders that were tried.
    return failed.length === 0
      ? { status: "OK" }
      : { status: "partial-fail", keys: new Map(failed.map((k) => [k, holdersOf.get(k) ?? []] as const)) }
  }

  /** Keys held in memory (the `keys` RPC, as Python's `Worker.keys`). */
  keys(): Array<unknown> {
    const out: Array<unknown> = []
    for (const ts of this.tasks.values()) if (ts.stored !== undefined) out.push(ts.key)
    return out
  }

  /** Per-key states, for tests and diagnostics. */
  snapshot(): { readonly tasks: Record<string, string>; readonly executing: number; readonly managedBytes: number } {
    const tasks: Record<string, string> = {}
    for (const ts of this.tasks.values()) tasks[ts.id] = ts.state
    return { tasks, executing: this.executing, managedBytes: this.managedBytes }
  }
}
