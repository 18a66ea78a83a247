/**
 * The test scheduler: the scheduler model with a scripted executor. Tasks
 * assigned to its one worker stay `processing` until a test finishes or
 * fails them; finish / fail / lose / retry / cancel / restart are stimuli
 * of the real model, so a failed key fails its dependents, a lost key is
 * recomputed, and so on, exactly as the embedded scheduler (and Dask) would.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { ConnectionLostError, LostDataError } from "../Errors.js"
import type { ClientMessage, ErrorInfo, Key, ReportSink, SchedulerReport, Session, TaskSpec } from "../Scheduler.js"
import type { Executor, TaskState, WorkerState } from "./model/scheduler.js"
import { ClientState, SchedulerModel } from "./model/scheduler.js"
import * as ModelSession from "./model/session.js"
import { sizeof, typeName } from "./model/sizeof.js"

/** @internal */
export interface Recorded {
  readonly clientId: string
  readonly message: ClientMessage
}

/** A client message waiting on the held stream. */
interface StreamItem {
  readonly clientId: string
  message: ClientMessage
  readonly run: () => void
}

/**
 * The channels of a real backend, when a test holds them: the client→
 * scheduler stream (in order), request/reply calls (each on its own comm, in
 * any order relative to the stream and to each other) and the scheduler→
 * client stream of reports (in order). Unheld, everything is delivered at
 * once.
 * @internal
 */
export class Channels {
  held = false
  readonly stream: Array<StreamItem> = []
  readonly calls: Array<() => void> = []
  readonly reports: Array<() => void> = []
}

/** Why a scripted outcome was refused. @internal */
export type ScriptRefusal = { readonly reason: "UnknownKey" | "NotAllowed"; readonly message: string }

class ScriptedExecutor implements Executor {
  readonly values = new Map<Key, unknown>()
  start(): void {}
  stop(): void {}
  hold(ts: TaskState, value: unknown): void {
    this.values.set(ts.key, value)
  }
  free(ts: TaskState): void {
    this.values.delete(ts.key)
  }
  gather(tss: ReadonlyArray<TaskState>) {
    const out = new Map<Key, unknown>()
    for (const ts of tss) {
      if (!this.values.has(ts.key)) return Effect.fail(new LostDataError({ key: ts.key }))
      out.set(ts.key, this.values.get(ts.key))
    }
    return Effect.succeed(out as ReadonlyMap<Key, unknown>)
  }
  shutdown(): void {
    this.values.clear()
  }
}

/** A request/reply call as the test scheduler received it. @internal */
export interface RecordedCall {
  readonly clientId: string
  readonly call: "retry" | "restart" | "run" | "runOnScheduler"
  readonly args: ReadonlyArray<unknown>
}

/** @internal */
export class TestSchedulerImpl {
  readonly recorded: Array<Recorded> = []
  /** Request/reply calls that change the scheduler (retry, restart, run), in order. */
  readonly calls: Array<RecordedCall> = []
  readonly model: SchedulerModel
  readonly executor = new ScriptedExecutor()
  readonly channels = new Channels()
  /** Who cancels on the scheduler's own behalf (never registered as a client). */
  private readonly scheduler = new ClientState("scheduler")

  constructor(readonly address: string) {
    // One worker whose slots never run out: every ready task is `processing`, waiting for its script.
    this.model = new SchedulerModel({ address, workers: 1, slots: Number.MAX_SAFE_INTEGER, memoryLimit: undefined })
    this.model.executor = this.executor
  }

  get worker(): WorkerState {
    return this.model.workers[0]!
  }

  connect(clientId: string, sink: ReportSink): Effect.Effect<Session, never, Scope.Scope> {
    const channels = this.channels
    const reports: ReportSink = (report) => {
      if (channels.held) channels.reports.push(() => sink(report))
      else sink(report)
    }
    const base = ModelSession.connect(this.model, clientId, reports, {
      check: () => undefined,
      onMessage: (id, message) => this.recorded.push({ clientId: id, message }),
      onCall: (id, call, args) => this.calls.push({ clientId: id, call, args })
    })
    // The model's session, with the channels a real backend has when the test holds them.
    return Effect.map(base, (session): Session => ({
      ...session,
      send: (message) => {
        if (!channels.held) return session.send(message)
        const item: StreamItem = { clientId, message, run: () => session.send(item.message) }
        channels.stream.push(item)
        return undefined
      },
      retract: (key) => {
        for (let i = channels.stream.length - 1; i >= 0; i--) {
          const item = channels.stream[i]!
          if (item.clientId !== clientId || item.message._tag !== "ReleaseKeys") continue
          const keys = item.message.keys
          if (!keys.includes(key)) continue
          item.message = { _tag: "ReleaseKeys", keys: keys.filter((k) => k !== key) }
          return true
        }
        return false
      },
      barrier: (done) => {
        if (!channels.held) return done()
        // Processed in stream order; the answer comes back on the report stream.
        channels.stream.push({ clientId, message: { _tag: "Heartbeat" }, run: () => channels.reports.push(done) })
      },
      scatter: (entries, options) =>
        channels.held
          ? Effect.async<void>((resume) => {
            channels.calls.push(() => {
              Effect.runSync(session.scatter(entries, options))
              resume(Effect.void)
            })
          })
          : session.scatter(entries, options)
    }))
  }

  /** Connected clients (those with a report queue), not pseudo-clients. */
  clientIds(): Array<string> {
    const out: Array<string> = []
    for (const cs of this.model.clients.values()) if (cs.sink !== undefined) out.push(cs.id)
    return out
  }

  wants(clientId: string): Set<Key> {
    const cs = this.model.clients.get(clientId)
    return new Set(cs === undefined ? [] : this.model.wantsWhat(cs).map((ts) => ts.key))
  }

  tasks(): Map<Key, TaskSpec> {
    const out = new Map<Key, TaskSpec>()
    for (const [key, ts] of this.model.tasks) {
      if (ts.task === undefined) continue
      out.set(key, { key, task: ts.task, args: ts.args!, dependencies: ts.dependencies?.map((d) => d.key) ?? [] })
    }
    return out
  }

  memory(): Set<Key> {
    const out = new Set<Key>()
    for (const [key, ts] of this.model.tasks) if (ts.state === "memory") out.add(key)
    return out
  }

  private known(key: Key): TaskState | ScriptRefusal {
    const ts = this.model.tasks.get(key)
    return ts ?? { reason: "UnknownKey", message: `The scheduler does not know ${key}` }
  }

  finish(
    key: Key,
    value: unknown,
    options?: { readonly nbytes?: number | undefined; readonly type?: string | undefined; readonly force?: boolean | undefined }
  ): ScriptRefusal | undefined {
    const ts = this.known(key)
    if (!("key" in ts)) return ts
    if (ts.state === "processing") {
      this.executor.values.set(key, value)
      this.model.taskFinished(ts, ts.attempt, options?.nbytes ?? sizeof(value), options?.type ?? typeName(value))
      return
    }
    // A key that was never submitted (desired first) gets its value as a scatter would; so does any key when forced.
    if ((ts.state === "released" && ts.task === undefined) || options?.force === true) {
      this.model.putData(undefined, key, value)
      if (options?.nbytes !== undefined) this.resize(ts, options.nbytes)
      return
    }
    return {
      reason: "NotAllowed",
      message: `Cannot finish ${key}: it is ${ts.state}` + (ts.state === "waiting"
        ? ` (on ${Array.from(ts.waitingOn ?? [], (d) => d.key).join(", ")})`
        : "") + "; only a processing task finishes (pass force: true to place the value regardless, as a scatter would)"
    }
  }

  private resize(ts: TaskState, nbytes: number): void {
    for (const ws of this.model.holders(ts)) ws.bytes += nbytes - ts.nbytes
    ts.nbytes = nbytes
  }

  fail(key: Key, error: ErrorInfo, options?: { readonly force?: boolean | undefined }): ScriptRefusal | undefined {
    const ts = this.known(key)
    if (!("key" in ts)) return ts
    if (ts.state === "processing") {
      this.model.taskErred(ts, ts.attempt, error)
      return
    }
    if (options?.force === true && ts.state !== "erred") {
      this.model.forceErred(ts, error)
      return
    }
    return {
      reason: "NotAllowed",
      message: `Cannot fail ${key}: it is ${ts.state}; only a processing task fails (pass force: true to err it regardless)`
    }
  }

  lose(key: Key): ScriptRefusal | undefined {
    const ts = this.known(key)
    if (!("key" in ts)) return ts
    if (ts.state !== "memory") return { reason: "NotAllowed", message: `Cannot lose ${key}: it is ${ts.state}, not in memory` }
    this.model.loseData(ts)
    return
  }

  retry(key: Key): ScriptRefusal | undefined {
    const ts = this.known(key)
    if (!("key" in ts)) return ts
    if (ts.state !== "erred") return { reason: "NotAllowed", message: `Cannot retry ${key}: it is ${ts.state}, not erred` }
    this.model.retry([key])
    return
  }

  /** A scheduler-side cancellation: every wanter of the keys (and of their dependents) is told. */
  cancel(keys: ReadonlyArray<Key>, reason: string): void {
    this.model.cancel(this.scheduler, keys, true, reason)
  }

  restart(): void {
    this.model.restart()
  }

  disconnect(clientId: string): void {
    const cs = this.model.clients.get(clientId)
    if (cs === undefined || cs.sink === undefined) return
    this.model.releaseKeys(cs, this.model.wantsWhat(cs).map((ts) => ts.key))
    this.model.send(cs, { _tag: "ConnectionLost", error: new ConnectionLostError({ address: this.address }) })
  }

  report(clientId: string, report: SchedulerReport): void {
    const cs = this.model.clients.get(clientId)
    if (cs !== undefined) this.model.send(cs, report)
  }
}

