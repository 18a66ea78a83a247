/**
 * Dask's scheduler semantics, once: a port of the task-state part of Dask's
 * `SchedulerState` (`distributed/scheduler.py`, 2022.12.1) — task states and
 * transitions, `who_wants`, the `"fire-and-forget"` and `"published-<name>"`
 * pseudo-clients, datasets, forgetting, queueing on worker slots, lost
 * workers — driven by an {@link Executor} that runs tasks and holds values.
 * The embedded scheduler is this model with the in-thread or the
 * worker-thread executor; the test scheduler is this model with a scripted
 * executor whose outcomes a test dictates.
 *
 * Transitions follow Dask's table and its recommendation loop: a transition
 * returns recommendations, processed last-in first-out like Python's
 * `dict.popitem`, until none are left. Reports go to clients' queues in the
 * order Dask would send them. Everything here is synchronous and uses plain
 * `Map`s / `Set`s; the model never sees a value, only keys, holders and sizes.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type { DecodeError, LostDataError } from "../../Errors.js"
import { RemoteError } from "../../Errors.js"
import type { ErrorInfo, Key, ReportSink, SchedulerReport, TaskSpec } from "../../Scheduler.js"
import { retriesOf, type TaskOptions } from "../../Scheduler.js"
import { CoordinationModel } from "./coordination.js"
import type * as Task from "../../Task.js"
import { sizeof } from "./sizeof.js"

/**
 * What the model asks of whatever runs tasks and holds values. Every call is
 * synchronous; results come back through {@link SchedulerModel.taskFinished},
 * {@link SchedulerModel.taskErred}, {@link SchedulerModel.addReplica} and
 * {@link SchedulerModel.workerLost}.
 *
 * @internal
 */
export interface Executor {
  /** Runs `ts` (now `processing` on `ws`); report back with this `attempt`. */
  readonly start: (ts: TaskState, ws: WorkerState, attempt: number) => void
  /** Stops a started attempt (the task was released, cancelled or forgotten while running). */
  readonly stop: (ts: TaskState, ws: WorkerState, attempt: number) => void
  /** Holds a scattered value on each of `holders`. */
  readonly hold: (ts: TaskState, value: unknown, holders: ReadonlyArray<WorkerState>) => void
  /** Frees the key's value on each of `holders` (Dask's `free-keys`). */
  readonly free: (ts: TaskState, holders: ReadonlyArray<WorkerState>) => void
  /** Copies the values of keys in memory to the caller (each from `ts.worker`). */
  readonly gather: (tss: ReadonlyArray<TaskState>) => Effect.Effect<ReadonlyMap<Key, unknown>, LostDataError | DecodeError>
  /** Stops everything (the scheduler closed). */
  readonly shutdown: () => void
}

/** @internal */
export type TaskStateName = "released" | "waiting" | "queued" | "processing" | "memory" | "erred" | "forgotten"

/** @internal */
export class ClientState {
  // No `wants_what` set: a task's `whoWants` is the one record of interest (a client's keys are
  // found by a scan when it closes), which saves a hash entry per key and per client.
  /** Where this client's reports go; undefined once it is gone. */
  sink: ReportSink | undefined = undefined
  constructor(readonly id: string) {}
}

/** @internal */
export class WorkerState {
  /** Keys whose values this worker holds (Dask's `has_what`, as a count: `TaskState.worker`/`replicas` say which). */
  keys = 0
  bytes = 0
  /** Tasks assigned to this worker (Dask's `processing`), started or about to start. */
  processing = 0
  paused = false
  constructor(
    readonly index: number,
    readonly address: string,
    readonly slots: number,
    readonly memoryLimit: number | undefined
  ) {}
}

/**
 * A task's rare fields (extra copies, failures, retries, worker deaths): one
 * side object, made on the first write of a non-default value, so the common
 * task carries one slot for all of them instead of seven.
 */
class TaskExtra {
  replicas: Array<WorkerState> | undefined = undefined
  retries = 0
  exception: ErrorInfo | undefined = undefined
  blame: TaskState | undefined = undefined
  lostDependencies = false
  allowedRetries = 0
  suspicious = 0
  options: TaskOptions | undefined = undefined
}

const STATE_NAMES: ReadonlyArray<TaskStateName> = ["released", "waiting", "queued", "processing", "memory", "erred", "forgotten"]
const STATE_CODES: Readonly<Record<TaskStateName, number>> = {
  released: 0,
  waiting: 1,
  queued: 2,
  processing: 3,
  memory: 4,
  erred: 5,
  forgotten: 6
}

/**
 * A task's graph edges, in a side object made on the first edge: the tasks
 * of a flat map (the bulk of most workloads) carry one empty slot instead of
 * four. A task in a graph pays one object header (24 bytes) more.
 */
class TaskLinks {
  dependencies: Array<TaskState> | undefined = undefined
  dependents: Set<TaskState> | undefined = undefined
  waitingOn: Set<TaskState> | undefined = undefined
  waiters: Set<TaskState> | undefined = undefined
}

/** @internal */
export class TaskState {
  /**
   * The state (low 3 bits), the pending recommendation (3 bits above, 0 for
   * none) and above them the attempt: one small-integer field instead of
   * three, as tasks are the numerous objects. The attempt is added and read
   * arithmetically, so it stays exact past 2^25 (just no longer a small integer).
   */
  private bits = 0
  /** The run spec (Dask's `run_spec`); undefined for pure data and placeholders. */
  task: Task.Any | undefined = undefined
  args: ReadonlyArray<unknown> | undefined = undefined
  /** Clients wanting the key: one client inline (the common case), several in a Set, none undefined. */
  whoWants: ClientState | Set<ClientState> | undefined = undefined
  /** The worker holding the value (Dask's `who_has`); `replicas` holds extra copies (broadcast). */
  worker: WorkerState | undefined = undefined
  processingOn: WorkerState | undefined = undefined
  nbytes = -1
  type: string | undefined = undefined
  /**
   * The value itself, for an executor that keeps values in this heap (the
   * in-thread one: a slot here instead of an entry in a Map of its own).
   */
  data: unknown = undefined
  private extra: TaskExtra | undefined = undefined
  /** The graph edges, made on the first edge: a task of a flat map has none. */
  private links: TaskLinks | undefined = undefined
  constructor(readonly key: Key) {}

  private link<K extends keyof TaskLinks>(field: K, v: TaskLinks[K]): void {
    if (v !== undefined) (this.links ??= new TaskLinks())[field] = v
    else if (this.links !== undefined) this.links[field] = v
  }

  get dependencies(): Array<TaskState> | undefined {
    return this.links?.dependencies
  }
  set dependencies(v: Array<TaskState> | undefined) {
    this.link("dependencies", v)
  }
  get dependents(): Set<TaskState> | undefined {
    return this.links?.dependents
  }
  set dependents(v: Set<TaskState> | undefined) {
    this.link("dependents", v)
  }
  /** Dependencies not in memory yet (while waiting). */
  get waitingOn(): Set<TaskState> | undefined {
    return this.links?.waitingOn
  }
  set waitingOn(v: Set<TaskState> | undefined) {
    this.link("waitingOn", v)
  }
  /** Dependents waiting for this value. */
  get waiters(): Set<TaskState> | undefined {
    return this.links?.waiters
  }
  set waiters(v: Set<TaskState> | undefined) {
    this.link("waiters", v)
  }

  get state(): TaskStateName {
    return STATE_NAMES[this.bits & 7]!
  }
  set state(state: TaskStateName) {
    this.bits = this.bits - (this.bits & 7) + STATE_CODES[state]
  }
  /** Pending recommendation (its presence means the task is on the recommendation stack). */
  get rec(): TaskStateName | undefined {
    const code = (this.bits & 63) >> 3
    return code === 0 ? undefined : STATE_NAMES[code - 1]
  }
  set rec(rec: TaskStateName | undefined) {
    this.bits = this.bits - (this.bits & 56) + (rec === undefined ? 0 : (STATE_CODES[rec] + 1) << 3)
  }
  /** Bumped on every assignment to a worker and every stop: a late result with an old attempt is dropped. */
  get attempt(): number {
    return (this.bits - (this.bits & 63)) / 64
  }
  set attempt(attempt: number) {
    this.bits = (this.bits & 63) + attempt * 64
  }

  private get x(): TaskExtra {
    return this.extra ??= new TaskExtra()
  }

  /** Extra copies of the value (broadcast scatter). */
  get replicas(): Array<WorkerState> | undefined {
    return this.extra?.replicas
  }
  set replicas(v: Array<WorkerState> | undefined) {
    if (v !== undefined || this.extra !== undefined) this.x.replicas = v
  }
  /** Retries left. */
  get retries(): number {
    return this.extra?.retries ?? 0
  }
  set retries(v: number) {
    if (v !== 0 || this.extra !== undefined) this.x.retries = v
  }
  get exception(): ErrorInfo | undefined {
    return this.extra?.exception
  }
  set exception(v: ErrorInfo | undefined) {
    if (v !== undefined || this.extra !== undefined) this.x.exception = v
  }
  get blame(): TaskState | undefined {
    return this.extra?.blame
  }
  set blame(v: TaskState | undefined) {
    if (v !== undefined || this.extra !== undefined) this.x.blame = v
  }
  get lostDependencies(): boolean {
    return this.extra?.lostDependencies ?? false
  }
  set lostDependencies(v: boolean) {
    if (v || this.extra !== undefined) this.x.lostDependencies = v
  }
  /** Retries the run spec allows (the call's, else the task's); `retries` counts down from it. */
  get allowedRetries(): number {
    return this.extra?.allowedRetries ?? 0
  }
  set allowedRetries(v: number) {
    if (v !== 0 || this.extra !== undefined) this.x.allowedRetries = v
  }
  /** The call's scheduling options (`priority`, `workers`, ...), shared by the tasks of one call. */
  get options(): TaskOptions | undefined {
    return this.extra?.options
  }
  set options(v: TaskOptions | undefined) {
    if (v !== undefined || this.extra !== undefined) this.x.options = v
  }
  /** Times a worker died while running this task (Dask's `suspicious`). */
  get suspicious(): number {
    return this.extra?.suspicious ?? 0
  }
  set suspicious(v: number) {
    if (v !== 0 || this.extra !== undefined) this.x.suspicious = v
  }
}

/** @internal */
export interface ModelOptions {
  readonly workers: number
  readonly slots: number
  readonly memoryLimit: number | undefined
  readonly address: string
  /** Times a task may be running on a worker that dies before it errs with `KilledWorker` (Dask's `allowed-failures`, 3). */
  readonly allowedFailures?: number | undefined
}

const FIRE_AND_FORGET = "fire-and-forget"

const wanted = (ts: TaskState): boolean => ts.whoWants !== undefined

const wantsAdd = (ts: TaskState, cs: ClientState): void => {
  const w = ts.whoWants
  if (w === undefined) ts.whoWants = cs
  else if (w instanceof ClientState) {
    if (w !== cs) ts.whoWants = new Set([w, cs])
  } else w.add(cs)
}

const isWantedBy = (ts: TaskState, cs: ClientState): boolean => {
  const w = ts.whoWants
  return w === cs || (w !== undefined && !(w instanceof ClientState) && w.has(cs))
}

/** Removes `cs`; true when it was there. A Set left with one client collapses back to it. */
const wantsDelete = (ts: TaskState, cs: ClientState): boolean => {
  const w = ts.whoWants
  if (w === undefined) return false
  if (w instanceof ClientState) {
    if (w !== cs) return false
    ts.whoWants = undefined
    return true
  }
  if (!w.delete(cs)) return false
  if (w.size === 1) ts.whoWants = w.values().next().value
  return true
}

/** @internal */
export const wanters = (ts: TaskState): Array<ClientState> => {
  const w = ts.whoWants
  return w === undefined ? [] : w instanceof ClientState ? [w] : Array.from(w)
}

const hasWaiters = (ts: TaskState): boolean => ts.waiters !== undefined && ts.waiters.size > 0



/** @internal */
export const errorInfo = (key: Key, cause: unknown): ErrorInfo => {
  const e = RemoteError.fromUnknown(key, cause)
  // Copy the strings out: nothing refers to the thrown object afterwards.
  return { type: e.type, message: e.message, traceback: e.traceback }
}

const setRunSpec = (ts: TaskState, spec: TaskSpec): void => {
  ts.task = spec.task
  ts.args = spec.args
  ts.retries = ts.allowedRetries = retriesOf(spec)
  ts.options = spec.options
}

/** Dask's user priority: higher runs first among tasks waiting for a slot. */
const priorityOf = (ts: TaskState): number => ts.options?.priority ?? 0

/**
 * Each task wanted, keys in the same order as the specs, and either no dependencies at all or a
 * single task whose dependencies are all known (none of them the task itself).
 */
const isFlat = (specs: ReadonlyArray<TaskSpec>, keys: ReadonlyArray<Key>, tasks: ReadonlyMap<Key, TaskState>): boolean => {
  if (specs.length !== keys.length) return false
  if (specs.length === 1) {
    const spec = specs[0]!
    if (spec.key !== keys[0]) return false
    const deps = spec.dependencies
    for (let j = 0; j < deps.length; j++) {
      const dts = tasks.get(deps[j]!)
      if (dts === undefined || dts.key === spec.key) return false
    }
    return true
  }
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!
    if (spec.dependencies.length > 0 || spec.key !== keys[i]) return false
  }
  return true
}

/** @internal */
export class SchedulerModel {
  readonly tasks = new Map<Key, TaskState>()
  readonly clients = new Map<string, ClientState>()
  readonly workers: Array<WorkerState>
  readonly datasets = new Map<string, ReadonlyArray<Key>>()
  /** Variables, queues, events and locks; their keys are wanted through pseudo-clients of this model. */
  readonly coordination = new CoordinationModel({
    desire: (client, keys) => this.desire(client, keys),
    release: (client, keys) => this.releaseKeys(this.clientState(client), keys),
    remove: (client) => {
      const cs = this.clients.get(client)
      if (cs !== undefined) this.removeClient(cs)
    }
  })
  readonly fireAndForget: ClientState
  /** Recommendation stack (see `TaskState.rec`). */
  private readonly recs: Array<TaskState> = []
  /** Ready tasks with no free slot (Dask's `queued`), FIFO; stale entries are skipped. */
  private queue: Array<TaskState> = []
  private queueHead = 0
  queuedCount = 0
  private scatterNext = 0
  closed = false
  /** Set once, right after construction (the executor usually needs the model). */
  executor: Executor = nullExecutor
  /** The `locality` of models made from now on (bench/embedded.ts turns it off to measure the copies it saves). */
  static locality = true
  /** Place tasks by where their dependencies are (Dask's rule); off only to measure what it saves. */
  locality = SchedulerModel.locality

  constructor(readonly options: ModelOptions) {
    this.workers = Array.from(
      { length: options.workers },
      (_, i) => new WorkerState(i, `${options.address}/worker-${i}`, options.slots, options.memoryLimit)
    )
    this.fireAndForget = new ClientState(FIRE_AND_FORGET)
    this.clients.set(FIRE_AND_FORGET, this.fireAndForget)
  }

  // ---------------------------------------------------------------------------
  // reports

  send(cs: ClientState, report: SchedulerReport): void {
    if (cs.sink !== undefined) cs.sink(report)
  }

  /** Dask's `report(msg, ts, client)`: every client wanting the key, plus `client`. */
  private report(ts: TaskState, report: SchedulerReport, client?: ClientState): void {
    const w = ts.whoWants
    if (w instanceof ClientState) {
      if (w !== client) this.send(w, report)
    } else if (w !== undefined) {
      for (const cs of w) if (cs !== client) this.send(cs, report)
    }
    if (client !== undefined) this.send(client, report)
  }

  private taskReport(ts: TaskState): SchedulerReport | undefined {
    switch (ts.state) {
      case "memory":
        return { _tag: "KeyInMemory", key: ts.key, type: ts.type, nbytes: ts.nbytes }
      case "erred":
        return { _tag: "TaskErred", key: ts.key, error: ts.blame!.exception! }
      case "forgotten":
        return { _tag: "CancelledKeys", keys: [ts.key], reason: "forgotten" }
      default:
        return undefined
    }
  }

  /** Dask's `report_on_key(ts=ts, client=client)`. */
  private reportOnKey(ts: TaskState, client?: ClientState): void {
    if (ts.whoWants === undefined && client === undefined) return
    const report = this.taskReport(ts)
    if (report !== undefined) this.report(ts, report, client)
  }

  // ---------------------------------------------------------------------------
  // recommendations

  private recommend(ts: TaskState, finish: TaskStateName): void {
    if (ts.rec === undefined) this.recs.push(ts)
    ts.rec = finish
  }

  /** Dask's `transitions`: processes recommendations until none are left. */
  private flush(): void {
    const recs = this.recs
    while (recs.length > 0) {
      const ts = recs.pop()!
      const finish = ts.rec!
      ts.rec = undefined
      this.transition(ts, finish)
    }
  }

  private transition(ts: TaskState, finish: TaskStateName): void {
    const start = ts.state
    if (start === finish || start === "forgotten") return
    if (this.direct(ts, start, finish)) return
    if (start === "released" || finish === "released") {
      throw new Error(`Impossible transition from ${start} to ${finish} for ${ts.key}`)
    }
    // Through released, as Dask: the first leg may redirect the second.
    this.direct(ts, start, "released")
    const next = ts.rec ?? finish
    if (!this.direct(ts, "released", next)) {
      throw new Error(`Impossible transition from released to ${next} for ${ts.key}`)
    }
  }

  private direct(ts: TaskState, start: TaskStateName, finish: TaskStateName): boolean {
    switch (start) {
      case "released":
        switch (finish) {
          case "waiting":
            this.releasedWaiting(ts)
            return true
          case "forgotten":
            this.toForgotten(ts)
            return true
          case "erred":
            this.releasedErred(ts)
            return true
        }
        return false
      case "waiting":
        switch (finish) {
          case "processing":
            this.waitingProcessing(ts)
            return true
          case "released":
            this.waitingReleased(ts)
            return true
        }
        return false
      case "queued":
        switch (finish) {
          case "processing":
            this.queuedProcessing(ts)
            return true
          case "released":
            this.queuedCount--
            this.propagateReleased(ts)
            return true
        }
        return false
      case "processing":
        if (finish === "released") {
          this.exitProcessing(ts, true)
          this.propagateReleased(ts)
          return true
        }
        return false
      case "memory":
        switch (finish) {
          case "released":
            this.memoryReleased(ts)
            return true
          case "forgotten":
            this.toForgotten(ts)
            return true
        }
        return false
      case "erred":
        if (finish === "released") {
          this.erredReleased(ts)
          return true
        }
        return false
      default:
        return false
    }
  }

  // ---------------------------------------------------------------------------
  // transitions

  private releasedWaiting(ts: TaskState): void {
    // A placeholder (desired, never submitted or scattered) cannot be computed: it stays released.
    if (ts.task === undefined) return
    if (ts.lostDependencies) {
      this.recommend(ts, "forgotten")
      return
    }
    ts.state = "waiting"
    const deps = ts.dependencies
    if (deps !== undefined) {
      for (let i = 0; i < deps.length; i++) {
        const dts = deps[i]!
        if (dts.worker === undefined) (ts.waitingOn ??= new Set()).add(dts)
        if (dts.state === "released" && dts.task !== undefined) {
          this.recommend(dts, "waiting")
        } else {
          ;(dts.waiters ??= new Set()).add(ts)
        }
      }
    }
    ts.waiters = undefined
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) {
        if (dts.state === "waiting") (ts.waiters ??= new Set()).add(dts)
      }
    }
    if (ts.waitingOn === undefined || ts.waitingOn.size === 0) this.recommend(ts, "processing")
  }

  /**
   * Where `ts` runs: a worker with a free slot, among the task's `workers`
   * when it names some (Dask's worker restrictions; with `allowOtherWorkers`,
   * any worker when none of those is free or known). A task with
   * dependencies goes, as Dask's `decide_worker` and `worker_objective`, to a
   * worker holding some of them if one is free, the one that would need the
   * fewest bytes copied to it, then the least busy, then the one holding the
   * fewest bytes; without dependencies, to the least busy (first on ties).
   */
  private decideWorker(ts?: TaskState, unrestricted = false): WorkerState | undefined {
    const allowed = unrestricted ? undefined : ts?.options?.workers
    const deps = this.locality ? ts?.dependencies : undefined
    let best: WorkerState | undefined
    // For `best`, with dependencies: whether it holds any, and the bytes it would need copied.
    let bestHolds = false
    let bestMissing = 0
    const workers = this.workers
    for (let i = 0; i < workers.length; i++) {
      const ws = workers[i]!
      if (ws.paused || ws.processing >= ws.slots) continue
      if (allowed !== undefined && !allowed.includes(ws.address)) continue
      if (deps === undefined) {
        if (best === undefined || ws.processing < best.processing) best = ws
        continue
      }
      let holds = false
      let missing = 0
      for (let j = 0; j < deps.length; j++) {
        const dts = deps[j]!
        if (this.isHeldBy(dts, ws)) holds = true
        else if (dts.nbytes > 0) missing += dts.nbytes
      }
      if (
        best === undefined ||
        (holds !== bestHolds
          ? holds
          : missing !== bestMissing
          ? missing < bestMissing
          : ws.processing * best.slots !== best.processing * ws.slots
          ? ws.processing * best.slots < best.processing * ws.slots
          : ws.bytes < best.bytes)
      ) {
        best = ws
        bestHolds = holds
        bestMissing = missing
      }
    }
    if (best === undefined && allowed !== undefined && ts!.options!.allowOtherWorkers === true) {
      return this.decideWorker(ts, true)
    }
    return best
  }

  private waitingProcessing(ts: TaskState): void {
    const ws = this.decideWorker(ts)
    if (ws === undefined) {
      ts.state = "queued"
      this.queuedCount++
      this.enqueue(ts)
    } else {
      this.addToProcessing(ts, ws)
    }
  }

  /** FIFO among equal priorities; a higher priority goes before lower ones (the default 0 appends). */
  private enqueue(ts: TaskState): void {
    const queue = this.queue
    const p = priorityOf(ts)
    if (queue.length === this.queueHead || priorityOf(queue[queue.length - 1]!) >= p) {
      queue.push(ts)
      return
    }
    let lo = this.queueHead
    let hi = queue.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (priorityOf(queue[mid]!) >= p) lo = mid + 1
      else hi = mid
    }
    queue.splice(lo, 0, ts)
  }

  private queuedProcessing(ts: TaskState): void {
    const ws = this.decideWorker(ts)
    if (ws !== undefined) {
      this.queuedCount--
      this.addToProcessing(ts, ws)
    }
  }

  private addToProcessing(ts: TaskState, ws: WorkerState): void {
    ts.state = "processing"
    ts.processingOn = ws
    ws.processing++
    this.executor.start(ts, ws, ++ts.attempt)
  }

  /** Dask's `_exit_processing_common`; `cancel` also stops the running attempt (worker `free-keys`). */
  private exitProcessing(ts: TaskState, cancel: boolean): void {
    const ws = ts.processingOn
    ts.processingOn = undefined
    if (ws === undefined) return
    ws.processing--
    if (cancel) this.executor.stop(ts, ws, ts.attempt++)
  }

  private waitingReleased(ts: TaskState): void {
    const deps = ts.dependencies
    if (deps !== undefined) {
      for (let i = 0; i < deps.length; i++) {
        const dts = deps[i]!
        if (dts.waiters !== undefined && dts.waiters.delete(ts)) {
          if (dts.waiters.size === 0 && !wanted(dts)) this.recommend(dts, "released")
        }
      }
    }
    ts.waitingOn = undefined
    ts.state = "released"
    if (ts.lostDependencies) {
      this.recommend(ts, "forgotten")
    } else if (ts.blame === undefined && (wanted(ts) || hasWaiters(ts))) {
      this.recommend(ts, "waiting")
    } else {
      ts.waiters = undefined
    }
  }

  private propagateReleased(ts: TaskState): void {
    ts.state = "released"
    if (ts.lostDependencies) {
      this.recommend(ts, "forgotten")
    } else if (hasWaiters(ts) || wanted(ts)) {
      this.recommend(ts, "waiting")
    }
    if (ts.rec !== "waiting") {
      const deps = ts.dependencies
      if (deps !== undefined) {
        for (let i = 0; i < deps.length; i++) {
          const dts = deps[i]!
          if (dts.state !== "released" && dts.waiters !== undefined) {
            dts.waiters.delete(ts)
            if (dts.waiters.size === 0 && !wanted(dts)) this.recommend(dts, "released")
          }
        }
      }
      ts.waiters = undefined
    }
  }

  /** A processing task produced its value (Dask's `transition_processing_memory`). */
  private processingMemory(ts: TaskState, nbytes: number, type: string | undefined): void {
    const ws = ts.processingOn!
    ts.nbytes = nbytes
    ts.type = type
    this.exitProcessing(ts, false)
    this.addToMemory(ts, ws)
  }

  private countReplica(ts: TaskState, ws: WorkerState): void {
    ws.keys++
    ws.bytes += ts.nbytes
    if (ts.worker === undefined) ts.worker = ws
    else (ts.replicas ??= []).push(ws)
    if (ws.memoryLimit !== undefined && ws.bytes > ws.memoryLimit) ws.paused = true
  }

  /** Every worker holding the value. */
  holders(ts: TaskState): Array<WorkerState> {
    if (ts.worker === undefined) return []
    return ts.replicas === undefined ? [ts.worker] : [ts.worker, ...ts.replicas]
  }

  isHeldBy(ts: TaskState, ws: WorkerState): boolean {
    return ts.worker === ws || (ts.replicas !== undefined && ts.replicas.includes(ws))
  }

  /** Frees the value everywhere (Dask's `free-keys` to every holder). */
  private removeReplicas(ts: TaskState): void {
    if (ts.worker === undefined) return
    const holders = this.holders(ts)
    for (let i = 0; i < holders.length; i++) this.uncount(ts, holders[i]!)
    ts.worker = undefined
    ts.replicas = undefined
    this.executor.free(ts, holders)
  }

  private uncount(ts: TaskState, ws: WorkerState): void {
    ws.keys--
    ws.bytes -= ts.nbytes
    if (ws.keys === 0) ws.bytes = 0
    if (ws.paused && (ws.memoryLimit === undefined || ws.bytes <= ws.memoryLimit)) ws.paused = false
  }

  private addToMemory(ts: TaskState, ws: WorkerState): void {
    this.countReplica(ts, ws)
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) {
        const s = dts.waitingOn
        if (s !== undefined && s.delete(ts) && s.size === 0) this.recommend(dts, "processing")
      }
    }
    this.stopWaitingOnDependencies(ts)
    ts.state = "memory"
    if (!hasWaiters(ts) && !wanted(ts)) {
      this.recommend(ts, "released")
    } else {
      this.report(ts, { _tag: "KeyInMemory", key: ts.key, type: ts.type, nbytes: ts.nbytes })
    }
    if (isWantedBy(ts, this.fireAndForget)) this.releaseKeysFor(this.fireAndForget, [ts.key])
  }

  private memoryReleased(ts: TaskState): void {
    this.removeReplicas(ts)
    ts.state = "released"
    for (const cs of wanters(ts)) this.send(cs, { _tag: "LostData", key: ts.key })
    if (ts.task === undefined || ts.lostDependencies) {
      this.recommend(ts, "forgotten")
    } else if (wanted(ts) || hasWaiters(ts)) {
      this.recommend(ts, "waiting")
    }
    if (ts.waiters !== undefined) {
      for (const dts of ts.waiters) {
        if (dts.state === "processing" || dts.state === "queued") this.recommend(dts, "waiting")
        else if (dts.state === "waiting") (dts.waitingOn ??= new Set()).add(ts)
      }
    }
  }

  private processingErred(ts: TaskState, error: ErrorInfo): void {
    this.exitProcessing(ts, false)
    ts.exception = error
    ts.blame = ts
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) {
        dts.blame = ts
        this.recommend(dts, "erred")
      }
    }
    this.stopWaitingOnDependencies(ts)
    ts.waiters = undefined
    ts.state = "erred"
    this.report(ts, { _tag: "TaskErred", key: ts.key, error })
    if (isWantedBy(ts, this.fireAndForget)) this.releaseKeysFor(this.fireAndForget, [ts.key])
  }

  private releasedErred(ts: TaskState): void {
    const failing = ts.blame!
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) {
        dts.blame = failing
        if (dts.worker === undefined) this.recommend(dts, "erred")
      }
    }
    this.report(ts, { _tag: "TaskErred", key: ts.key, error: failing.exception! })
    ts.state = "erred"
  }

  private erredReleased(ts: TaskState): void {
    ts.exception = undefined
    ts.blame = undefined
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) if (dts.state === "erred") this.recommend(dts, "waiting")
    }
    this.report(ts, { _tag: "TaskRetried", key: ts.key })
    ts.state = "released"
  }

  /** `released → forgotten` and `memory → forgotten`. */
  private toForgotten(ts: TaskState): void {
    this.propagateForgotten(ts)
    this.reportOnKey(ts)
    this.removeKey(ts)
  }

  private propagateForgotten(ts: TaskState): void {
    ts.state = "forgotten"
    if (ts.dependents !== undefined) {
      for (const dts of ts.dependents) {
        dts.lostDependencies = true
        const deps = dts.dependencies!
        deps.splice(deps.indexOf(ts), 1)
        if (dts.waitingOn !== undefined) dts.waitingOn.delete(ts)
        if (dts.state !== "memory" && dts.state !== "erred") this.recommend(dts, "forgotten")
      }
      ts.dependents = undefined
    }
    ts.waiters = undefined
    const deps = ts.dependencies
    if (deps !== undefined) {
      for (let i = 0; i < deps.length; i++) {
        const dts = deps[i]!
        dts.dependents!.delete(ts)
        if (dts.waiters !== undefined) dts.waiters.delete(ts)
        if (dts.dependents!.size === 0 && !wanted(dts)) this.recommend(dts, "forgotten")
      }
      ts.dependencies = undefined
    }
    ts.waitingOn = undefined
    this.removeReplicas(ts)
  }

  private removeKey(ts: TaskState): void {
    this.tasks.delete(ts.key)
    ts.whoWants = undefined
    ts.processingOn = undefined
    ts.blame = undefined
    ts.exception = undefined
    ts.task = undefined
    ts.args = undefined
  }

  // ---------------------------------------------------------------------------
  // stimuli (each ends with `flush` and `fillSlots`)

  private newTask(key: Key): TaskState {
    const ts = new TaskState(key)
    this.tasks.set(key, ts)
    return ts
  }

  /** Dask's `update_graph`. */
  updateGraph(cs: ClientState, specs: ReadonlyArray<TaskSpec>, keys: ReadonlyArray<Key>): void {
    if (isFlat(specs, keys, this.tasks)) return this.updateFlat(cs, specs, keys)
    const n = specs.length
    const tasks = this.tasks
    let index: Map<Key, number> | undefined
    if (n > 1) {
      index = new Map()
      for (let i = 0; i < n; i++) index.set(specs[i]!.key, i)
    }
    let removed: Set<Key> | undefined
    const lookup = (key: Key): TaskSpec | undefined => {
      if (removed !== undefined && removed.has(key)) return undefined
      if (index !== undefined) {
        const i = index.get(key)
        return i === undefined ? undefined : specs[i]
      }
      return n === 1 && specs[0]!.key === key ? specs[0] : undefined
    }

    // Tasks depending on data the scheduler does not know are cancelled.
    let changed = true
    while (changed) {
      changed = false
      for (let i = 0; i < n; i++) {
        const spec = specs[i]!
        if (removed !== undefined && removed.has(spec.key)) continue
        const deps = spec.dependencies
        for (let j = 0; j < deps.length; j++) {
          const dep = deps[j]!
          if (!tasks.has(dep) && lookup(dep) === undefined) {
            ;(removed ??= new Set()).add(spec.key)
            changed = true
            const known = tasks.get(spec.key)
            const report: SchedulerReport = { _tag: "CancelledKeys", keys: [spec.key], reason: `unknown dependency ${dep}` }
            if (known !== undefined) this.report(known, report, cs)
            else this.send(cs, report)
            this.releaseKeysFor(cs, [spec.key])
            break
          }
        }
      }
    }

    // Get or create task states, walking from the wanted keys; finished tasks are not resubmitted.
    const touched: Array<TaskState> = []
    const seen = new Set<Key>()
    const stack: Array<Key> = []
    const wantedKeys: Array<Key> = []
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (removed === undefined || !removed.has(key)) wantedKeys.push(key)
    }
    for (let i = wantedKeys.length - 1; i >= 0; i--) stack.push(wantedKeys[i]!)
    while (stack.length > 0) {
      const key = stack.pop()!
      if (seen.has(key)) continue
      seen.add(key)
      let ts = tasks.get(key)
      let spec = lookup(key)
      if (ts === undefined) {
        ts = this.newTask(key)
      } else if (ts.state === "memory" || ts.state === "erred") {
        spec = undefined
      }
      if (spec !== undefined && ts.task === undefined && ts.state === "released") setRunSpec(ts, spec)
      touched.push(ts)
      if (spec !== undefined) {
        const deps = spec.dependencies
        for (let j = deps.length - 1; j >= 0; j--) stack.push(deps[j]!)
      }
    }

    this.desireKeys(cs, wantedKeys)

    for (let i = 0; i < touched.length; i++) {
      const ts = touched[i]!
      if (ts.dependencies !== undefined) continue
      if (ts.state === "memory" || ts.state === "erred") continue
      const spec = lookup(ts.key)
      if (spec === undefined || spec.dependencies.length === 0) continue
      const deps: Array<TaskState> = []
      for (const dep of spec.dependencies) {
        const dts = tasks.get(dep)!
        deps.push(dts)
        ;(dts.dependents ??= new Set()).add(ts)
      }
      ts.dependencies = deps
    }

    // The stack pops the last push first: push in reverse so the walk's order runs first.
    for (let i = touched.length - 1; i >= 0; i--) {
      const ts = touched[i]!
      if (ts.state === "released" && ts.task !== undefined) this.recommend(ts, "waiting")
    }
    for (let i = 0; i < touched.length; i++) this.inheritBlame(touched[i]!)
    this.finishUpdate(cs, touched)
  }

  /**
   * `update_graph` for the common batches, without the general walk: independent tasks, each
   * wanted, in order (`map`), or one task whose dependencies are all known (`submit`).
   */
  private updateFlat(cs: ClientState, specs: ReadonlyArray<TaskSpec>, keys: ReadonlyArray<Key>): void {
    const n = specs.length
    const touched: Array<TaskState> = new Array(n)
    for (let i = 0; i < n; i++) {
      const spec = specs[i]!
      let ts = this.tasks.get(spec.key)
      if (ts === undefined) {
        ts = this.newTask(spec.key)
        setRunSpec(ts, spec)
      } else if (ts.state === "memory" || ts.state === "erred") {
        touched[i] = ts
        continue
      } else if (ts.task === undefined && ts.state === "released") {
        setRunSpec(ts, spec)
      }
      touched[i] = ts
      const deps = spec.dependencies
      if (deps.length === 0) continue
      // As Dask's walk, the dependencies are touched too (reported below if finished).
      const dtss: Array<TaskState> = []
      for (let j = 0; j < deps.length; j++) {
        const dts = this.tasks.get(deps[j]!)!
        dtss.push(dts)
        touched.push(dts)
      }
      if (ts.dependencies === undefined) {
        ts.dependencies = dtss
        for (let j = 0; j < dtss.length; j++) (dtss[j]!.dependents ??= new Set()).add(ts)
      }
    }
    this.desireKeys(cs, keys)
    for (let i = n - 1; i >= 0; i--) {
      const ts = touched[i]!
      if (ts.state === "released" && ts.task !== undefined) this.recommend(ts, "waiting")
    }
    for (let i = 0; i < n; i++) {
      const ts = touched[i]!
      if (ts.state !== "memory" && ts.state !== "erred") this.inheritBlame(ts)
    }
    this.finishUpdate(cs, touched)
  }

  /** A finished (or erred) task no longer needs its dependencies: release those nobody else needs. */
  private stopWaitingOnDependencies(ts: TaskState): void {
    const deps = ts.dependencies
    if (deps === undefined) return
    for (let i = 0; i < deps.length; i++) {
      const dts = deps[i]!
      if (dts.waiters !== undefined) dts.waiters.delete(ts)
      if (!hasWaiters(dts) && !wanted(dts)) this.recommend(dts, "released")
    }
  }

  /** As Dask's `update_graph`: a task with an erred dependency errs, blamed on the same task. */
  private inheritBlame(ts: TaskState): void {
    const deps = ts.dependencies
    if (deps === undefined) return
    for (let j = 0; j < deps.length; j++) {
      const blame = deps[j]!.blame
      if (blame !== undefined) {
        ts.blame = blame
        this.recommend(ts, "erred")
        return
      }
    }
  }

  private finishUpdate(cs: ClientState, touched: ReadonlyArray<TaskState>): void {
    this.flush()
    for (let i = 0; i < touched.length; i++) {
      const ts = touched[i]!
      if (ts.state === "memory" || ts.state === "erred") this.reportOnKey(ts, cs)
    }
    this.fillSlots()
  }

  /** Dask's `client_desires_keys` (creates placeholders for unknown keys). */
  desireKeys(cs: ClientState, keys: ReadonlyArray<Key>): void {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const ts = this.tasks.get(key) ?? this.newTask(key)
      wantsAdd(ts, cs)
      if (ts.state === "memory" || ts.state === "erred") this.reportOnKey(ts, cs)
    }
  }

  /** `client-desires-keys` on behalf of a (pseudo-)client. */
  desire(clientId: string, keys: ReadonlyArray<Key>): void {
    this.desireKeys(this.clientState(clientId), keys)
  }

  clientState(clientId: string): ClientState {
    let cs = this.clients.get(clientId)
    if (cs === undefined) {
      cs = new ClientState(clientId)
      this.clients.set(clientId, cs)
    }
    return cs
  }

  /** Dask's `_client_releases_keys` (recommendations only). */
  private releaseKeysFor(cs: ClientState, keys: Iterable<Key>): void {
    for (const key of keys) {
      const ts = this.tasks.get(key)
      if (ts === undefined || !wantsDelete(ts, cs)) continue
      if (ts.whoWants === undefined) {
        if (ts.dependents === undefined || ts.dependents.size === 0) this.recommend(ts, "forgotten")
        else if (ts.state !== "erred" && !hasWaiters(ts)) this.recommend(ts, "released")
      }
    }
  }

  /** Dask's `client_releases_keys`. */
  releaseKeys(cs: ClientState, keys: Iterable<Key>): void {
    this.releaseKeysFor(cs, keys)
    this.flush()
    this.fillSlots()
  }

  /** Dask's `ClientState.wants_what`, by a scan. */
  wantsWhat(cs: ClientState): Array<TaskState> {
    const out: Array<TaskState> = []
    for (const ts of this.tasks.values()) if (isWantedBy(ts, cs)) out.push(ts)
    return out
  }

  /** Dask's `remove_client`: releases whatever the client wants. */
  removeClient(cs: ClientState): void {
    this.releaseKeys(cs, this.wantsWhat(cs).map((ts) => ts.key))
    cs.sink = undefined
    if (this.clients.get(cs.id) === cs) this.clients.delete(cs.id)
  }

  /** Dask's `_cancel_key`, without the one-second wait (our stream is ordered). */
  cancel(cs: ClientState, keys: ReadonlyArray<Key>, force: boolean, reason = "cancelled"): void {
    for (const key of keys) this.cancelKey(key, cs, force, reason)
    this.fillSlots()
  }

  /** Dask's recursive `_cancel_key`, with an explicit stack: dependents first, then the key. */
  private cancelKey(key: Key, cs: ClientState, force: boolean, reason: string): void {
    // A frame is a key to expand, or (sole !== undefined) a key whose dependents are done.
    const stack: Array<{ readonly key: Key; readonly sole?: boolean }> = [{ key }]
    while (stack.length > 0) {
      const frame = stack.pop()!
      const ts = this.tasks.get(frame.key)
      if (ts === undefined || !wanted(ts)) continue
      if (frame.sole === undefined) {
        const sole = force || ts.whoWants === cs
        stack.push({ key: frame.key, sole })
        if (sole && ts.dependents !== undefined) {
          const dependents = Array.from(ts.dependents)
          for (let i = dependents.length - 1; i >= 0; i--) stack.push({ key: dependents[i]!.key })
        }
        continue
      }
      // Unlike Dask, a dependent others want too keeps this client's interest: Dask drops it
      // without a report, and the client's future on it would never complete.
      if (!frame.sole && frame.key !== key) continue
      if (frame.sole) this.report(ts, { _tag: "CancelledKeys", keys: [ts.key], reason })
      const clients = force ? wanters(ts) : [cs]
      for (const c of clients) this.releaseKeys(c, [ts.key])
    }
  }

  /** Dask's `update_data` after a scatter: the values are in memory on the chosen workers. */
  scatter(cs: ClientState | undefined, entries: ReadonlyArray<readonly [Key, unknown]>, targets: ReadonlyArray<WorkerState>, broadcast: boolean): void {
    const keys: Array<Key> = []
    for (const [key, value] of entries) {
      let ts = this.tasks.get(key)
      if (ts === undefined) {
        ts = this.newTask(key)
      } else if (ts.state !== "released" && ts.state !== "memory") {
        // The scattered value replaces the computation: drop the run spec so releasing does not requeue it.
        ts.task = undefined
        ts.args = undefined
        this.transition(ts, "released")
        this.flush()
      }
      if (ts.state === "memory") this.removeReplicas(ts)
      ts.nbytes = sizeof(value)
      // As Dask's update_data: a scattered value has no type, and its key-in-memory report names none.
      ts.type = undefined
      const holders = broadcast ? targets : [targets[this.scatterNext++ % targets.length]!]
      for (let i = 0; i < holders.length; i++) this.countReplica(ts, holders[i]!)
      this.executor.hold(ts, value, holders)
      ts.state = "memory"
      // Unlike Dask's update_data, wake tasks that were waiting on this key.
      if (ts.dependents !== undefined) {
        for (const dts of ts.dependents) {
          const s = dts.waitingOn
          if (s !== undefined && s.delete(ts) && s.size === 0 && dts.state === "waiting") this.recommend(dts, "processing")
        }
      }
      this.report(ts, { _tag: "KeyInMemory", key })
      keys.push(key)
    }
    if (cs !== undefined) this.desireKeys(cs, keys)
    this.flush()
    this.fillSlots()
  }

  /** Workers a scatter may use: the requested ones, else the running (unpaused) ones, else all. */
  scatterTargets(addresses: ReadonlyArray<string> | undefined): Array<WorkerState> {
    if (addresses !== undefined && addresses.length > 0) {
      const set = new Set(addresses)
      const chosen = this.workers.filter((ws) => set.has(ws.address))
      if (chosen.length > 0) return chosen
    }
    const running = this.workers.filter((ws) => !ws.paused)
    return running.length > 0 ? running : this.workers
  }

  /** Dask's `publish_put`: false (nothing changed) when the name exists and `override` is not set. */
  publish(name: string, keys: ReadonlyArray<Key>, override: boolean): boolean {
    if (!override && this.datasets.has(name)) return false
    this.desire(`published-${name}`, keys)
    this.datasets.set(name, keys)
    this.fillSlots()
    return true
  }

  /** Dask's `publish_list`: names sorted. */
  listDatasets(): Array<string> {
    return Array.from(this.datasets.keys()).sort()
  }

  unpublish(name: string): void {
    const keys = this.datasets.get(name) ?? []
    this.datasets.delete(name)
    // Dask keeps the pseudo-client registered, with nothing wanted.
    this.releaseKeys(this.clientState(`published-${name}`), keys)
  }

  // ---------------------------------------------------------------------------
  // workers: slots and execution

  /** Moves queued tasks onto free slots (Dask's `stimulus_queue_slots_maybe_opened`). */
  private fillSlots(): void {
    // Tasks whose restricted workers are busy are passed over (kept in order) for this pass.
    let passed: Array<TaskState> | undefined
    while (this.queuedCount > (passed?.length ?? 0)) {
      if (this.decideWorker() === undefined) break
      let ts: TaskState | undefined
      while (this.queueHead < this.queue.length) {
        const next = this.queue[this.queueHead++]!
        if (next.state === "queued") {
          ts = next
          break
        }
      }
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead)
        this.queueHead = 0
      }
      if (ts === undefined) break
      if (ts.options?.workers !== undefined && this.decideWorker(ts) === undefined) {
        ;(passed ??= []).push(ts)
        continue
      }
      this.transition(ts, "processing")
      this.flush()
    }
    if (passed !== undefined) {
      // Back at the head, in their order: they keep their place for the next pass.
      this.queue.splice(this.queueHead, 0, ...passed)
    }
  }

  // ---------------------------------------------------------------------------
  // stimuli from the executor

  /** Whether a result of `attempt` would be taken (an executor stores the value only then). */
  isCurrent(ts: TaskState, attempt: number): boolean {
    return ts.attempt === attempt && ts.state === "processing" && !this.closed
  }

  /** Dask's `stimulus_task_finished`: a result of an older attempt, or of a task no longer processing, is dropped. */
  taskFinished(ts: TaskState, attempt: number, nbytes: number, type: string | undefined): void {
    if (!this.isCurrent(ts, attempt)) return
    this.processingMemory(ts, nbytes, type)
    this.flush()
    this.fillSlots()
  }

  /** Dask's `stimulus_task_erred`: retried while retries are left, else erred (and its dependents with it). */
  taskErred(ts: TaskState, attempt: number, error: ErrorInfo): void {
    if (!this.isCurrent(ts, attempt)) return
    if (ts.retries > 0) {
      ts.retries--
      this.transition(ts, "waiting")
    } else {
      this.processingErred(ts, error)
    }
    this.flush()
    this.fillSlots()
  }

  /**
   * A worker copied a dependency it fetched from another (Dask's `add-keys`): one more replica.
   * False when the key is no longer in memory (the copy is then the executor's to free).
   */
  addReplica(ts: TaskState, ws: WorkerState): boolean {
    if (ts.state !== "memory") return false
    if (!this.isHeldBy(ts, ws)) this.countReplica(ts, ws)
    return true
  }

  /** The running attempt could not start (a dependency vanished with its worker): back to waiting. */
  reschedule(ts: TaskState, attempt: number): void {
    if (!this.isCurrent(ts, attempt)) return
    this.transition(ts, "released")
    this.flush()
    this.fillSlots()
  }

  /**
   * Dask's `remove_worker` for a worker that died and was replaced by a fresh
   * one at the same place: what it held is gone (keys with no other replica
   * are released, so recomputed if still needed), what it ran is rescheduled,
   * and a task that was running on `allowedFailures + 1` dying workers errs
   * with `KilledWorker`.
   */
  workerLost(ws: WorkerState): void {
    if (this.closed) return
    const allowed = this.options.allowedFailures ?? 3
    for (const ts of this.tasks.values()) {
      if (ts.processingOn === ws) {
        ts.processingOn = undefined
        ws.processing--
        ts.attempt++
        ts.suspicious++
        if (ts.suspicious > allowed) {
          this.processingErred(ts, {
            type: "KilledWorker",
            message: `Attempted to run task ${ts.key} on ${ts.suspicious} different workers, but all those workers died while running it`,
            traceback: ""
          })
        } else {
          ts.state = "released"
          this.recommend(ts, "waiting")
        }
      } else if (this.isHeldBy(ts, ws)) {
        this.uncount(ts, ws)
        if (ts.worker === ws) {
          ts.worker = ts.replicas?.shift()
          if (ts.replicas?.length === 0) ts.replicas = undefined
        } else {
          ts.replicas!.splice(ts.replicas!.indexOf(ws), 1)
          if (ts.replicas!.length === 0) ts.replicas = undefined
        }
        if (ts.worker === undefined) this.recommend(ts, "released")
      }
    }
    ws.keys = 0
    ws.bytes = 0
    ws.paused = false
    this.flush()
    this.fillSlots()
  }

  // ---------------------------------------------------------------------------
  // stimuli from a script (the test scheduler) and from restart

  /**
   * Dask's `stimulus_retry`: the erred roots of `keys` go back to waiting
   * (their dependents follow). Returns the erred keys it looked at.
   */
  retry(keys: ReadonlyArray<Key>): Array<Key> {
    const stack = Array.from(keys)
    const seen = new Set<Key>()
    const roots: Array<TaskState> = []
    const retried: Array<Key> = []
    while (stack.length > 0) {
      const key = stack.pop()!
      if (seen.has(key)) continue
      seen.add(key)
      const ts = this.tasks.get(key)
      if (ts === undefined || ts.state !== "erred") continue
      retried.push(key)
      const erred = ts.dependencies?.filter((dts) => dts.state === "erred") ?? []
      if (erred.length > 0) for (const dts of erred) stack.push(dts.key)
      else roots.push(ts)
    }
    for (const ts of roots) {
      ts.retries = ts.allowedRetries
      this.recommend(ts, "waiting")
    }
    this.flush()
    this.fillSlots()
    return retried
  }

  /** A key in memory loses its value everywhere (its workers dropped it): released, then recomputed if needed. */
  loseData(ts: TaskState): void {
    if (ts.state !== "memory") return
    this.transition(ts, "released")
    this.flush()
    this.fillSlots()
  }

  /** A held value arrives for a key without computing it (Dask's `update_data`), replacing any computation. */
  putData(cs: ClientState | undefined, key: Key, value: unknown): void {
    this.scatter(cs, [[key, value]], this.scatterTargets(undefined), false)
  }

  /** Marks a task erred with `error` whatever its state (a forced outcome; dependents err with it). */
  forceErred(ts: TaskState, error: ErrorInfo): void {
    if (ts.state === "erred" || ts.state === "forgotten") return
    if (ts.state === "memory") this.transition(ts, "released")
    if (ts.state !== "released") {
      ts.task = undefined
      this.transition(ts, "released")
    }
    this.flush()
    ts.exception = error
    ts.blame = ts
    this.transition(ts, "erred")
    this.flush()
    this.fillSlots()
  }

  /** Dask's `restart`: every task is stopped and forgotten, every client told. Dataset names stay (their keys are gone). */
  restart(): void {
    for (const ts of this.tasks.values()) {
      if (ts.processingOn !== undefined) this.exitProcessing(ts, true)
      this.removeReplicas(ts)
      ts.state = "forgotten"
    }
    this.tasks.clear()
    this.resetQueues()
    for (const cs of this.clients.values()) this.send(cs, { _tag: "Restart" })
  }

  private resetQueues(): void {
    this.queue = []
    this.queueHead = 0
    this.queuedCount = 0
    this.recs.length = 0
  }

  // ---------------------------------------------------------------------------
  // lifetime

  /** Stops every running task and clears all state (the layer's scope closed). */
  shutdown(): void {
    if (this.closed) return
    this.closed = true
    this.executor.shutdown()
    for (const ws of this.workers) {
      ws.keys = 0
      ws.bytes = 0
      ws.processing = 0
      ws.paused = false
    }
    this.tasks.clear()
    this.datasets.clear()
    this.coordination.clear()
    this.resetQueues()
  }
}

const nullExecutor: Executor = {
  start: () => {},
  stop: () => {},
  hold: () => {},
  free: () => {},
  gather: () => {
    throw new Error("no executor")
  },
  shutdown: () => {}
}
