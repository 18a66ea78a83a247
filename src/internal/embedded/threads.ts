/**
 * The worker-thread executor: each embedded worker is a `worker_threads`
 * Worker with its own heap. Results stay in the thread that computed them;
 * a dependency held by another thread is copied worker-to-worker over a
 * MessagePort (structured clone: a replica, counted on both); gather copies
 * to the main thread; a released key is freed in every thread holding it.
 * A thread that dies (e.g. out of heap under `resourceLimits`) is replaced
 * and reported to the model as a lost worker; a task that is cancelled while
 * it keeps its thread busy (synchronous CPU-bound code) has its thread
 * terminated and replaced, so the slot is really free.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type { ResourceLimits } from "node:worker_threads"
import { MessageChannel, Worker } from "node:worker_threads"
import type { ThreadSnapshot } from "../../EmbeddedScheduler.js"
import { DecodeError, LostDataError, UnsupportedTaskError } from "../../Errors.js"
import type { Key } from "../../Scheduler.js"
import type * as Task from "../../Task.js"
import { KeyRef } from "../../Scheduler.js"
import type { Executor, SchedulerModel, TaskState, WorkerState } from "../model/scheduler.js"
import type { Path, ToMain, ToThread } from "./threadProtocol.js"

/** How long a thread may take to acknowledge a stop before it is taken for stuck in the task and replaced. */
const STOP_GRACE_MS = 200

/** The thread entry beside this module: `.ts` when running from sources (tsx, vitest), `.js` from dist. */
const entryUrl = (): string => {
  const here = import.meta.url
  return here.replace(/embedded\/threads\.([mc]?[jt]s)$/, "embedded/threadWorker.$1")
}

let tsxApi: string | undefined
/** tsx's ESM API (to register its loader in a thread that must import TypeScript), if installed. */
const tsxUrl = (): string | undefined => {
  if (tsxApi !== undefined) return tsxApi
  try {
    const require = createRequire(import.meta.url)
    const pkgPath = require.resolve("tsx/package.json")
    const pkg = JSON.parse(fs.readFileSync(pkgPath, "utf8")) as { exports: Record<string, any> }
    const file = pkg.exports["./esm/api"].import.default as string
    tsxApi = pathToFileURL(path.join(path.dirname(pkgPath), file)).href
  } catch {
    tsxApi = undefined
  }
  return tsxApi
}

/** CommonJS bootstrap: register tsx when the entry is TypeScript, then import the entry. */
const BOOTSTRAP = `
const { workerData, parentPort } = require("node:worker_threads");
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => parentPort.postMessage({ op: "fatal", message: String((e && e.stack) || e) }));
`

/** Prototypes of what a structured clone carries as itself (typed arrays and DataViews are told apart by `ArrayBuffer.isView`). */
const CLONEABLE = new Set<object | null>([
  null,
  Object.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  SharedArrayBuffer.prototype,
  Boolean.prototype,
  Number.prototype,
  String.prototype,
  BigInt.prototype,
  Error.prototype,
  EvalError.prototype,
  RangeError.prototype,
  ReferenceError.prototype,
  SyntaxError.prototype,
  TypeError.prototype,
  URIError.prototype
])

/** Beyond this nesting the walk stops looking (a structured clone still refuses what it cannot carry: the task errs). */
const MAX_DEPTH = 256

/**
 * The one walk over a task's arguments for the threads: it records where
 * each KeyRef stands (the thread puts the dependency's value there) when
 * `refs` is given, and returns why the first value a structured clone could
 * not carry, or would carry as something else, cannot go: a function, a
 * symbol, a promise or weak collection, an instance of a class (it would
 * arrive as a plain object, without its prototype and methods). Arrays,
 * plain objects, Maps and Sets are walked; cycles are fine.
 */
const walkArgs = (args: ReadonlyArray<unknown>, refs: Array<readonly [Path, Key]> | undefined): string | undefined => {
  let seen: Set<object> | undefined
  const at: Array<string | number> = []
  const where = () =>
    at.length === 0
      ? ""
      : ` in argument ${at[0]}${at.length > 1 ? ` at ${at.slice(1).map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("")}` : ""}`
  const walk = (u: unknown, depth: number): string | undefined => {
    switch (typeof u) {
      case "function":
        return `a function${where()}`
      case "symbol":
        return `a symbol${where()}`
      case "object":
        break
      default:
        return undefined
    }
    if (u === null || depth > MAX_DEPTH) return undefined
    if (u instanceof KeyRef) {
      if (refs !== undefined) refs.push([at.slice(), u.key])
      return undefined
    }
    if (ArrayBuffer.isView(u)) return undefined
    const proto = Object.getPrototypeOf(u)
    if (!CLONEABLE.has(proto)) {
      const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
      return `an instance of ${typeof name === "string" && name !== "" ? name : "a class"}${where()} (a structured clone would drop its prototype)`
    }
    if ((seen ??= new Set()).has(u)) return undefined
    seen.add(u)
    if (Array.isArray(u)) {
      for (let i = 0; i < u.length; i++) {
        at.push(i)
        const r = walk(u[i], depth + 1)
        at.pop()
        if (r !== undefined) return r
      }
    } else if (u instanceof Map) {
      for (const [k, v] of u) {
        at.push(`get(${typeof k === "string" ? JSON.stringify(k) : String(k)})`)
        const r = walk(k, depth + 1) ?? walk(v, depth + 1)
        at.pop()
        if (r !== undefined) return r
      }
    } else if (u instanceof Set) {
      for (const v of u) {
        const r = walk(v, depth + 1)
        if (r !== undefined) return r
      }
    } else if (proto === Object.prototype || proto === null) {
      const record = u as Record<string, unknown>
      for (const k of Object.keys(record)) {
        at.push(k)
        const r = walk(record[k], depth + 1)
        at.pop()
        if (r !== undefined) return r
      }
    }
    return undefined
  }
  return walk(args, 0)
}

/** Why a scattered value cannot reach a thread as it is, or `undefined`. @internal */
export const refuseValue = (value: unknown): string | undefined => walkArgs([value], undefined)?.replace(" in argument 0", "")

/** Refuses, before it is sent, a call whose arguments cannot reach a thread as they are. @internal */
export const refuseArgs = (task: Task.Any, args: ReadonlyArray<unknown>, backend: string): UnsupportedTaskError | undefined => {
  const reason = walkArgs(args, undefined)
  return reason === undefined ? undefined : new UnsupportedTaskError({
    task: task.name,
    backend,
    message: `task ${task.name}: an argument cannot be sent to a worker thread: ${reason}`
  })
}

/** @internal */
export interface ThreadsOptions {
  /** Resolved task module hrefs. */
  readonly modules: ReadonlyArray<string>
  readonly resourceLimits?: ResourceLimits | undefined
}

interface Thread {
  readonly index: number
  worker: Worker
  /** Bumped when the thread is replaced: events of an old Worker are ignored. */
  generation: number
  ready: Promise<void>
  /** Stops sent and not acknowledged: key → timer. */
  readonly stopping: Map<Key, ReturnType<typeof setTimeout>>
}

/** @internal */
export class ThreadsExecutor implements Executor {
  readonly threads: Array<Thread> = []
  private nextId = 0
  private readonly replies = new Map<number, (m: ToMain) => void>()
  private closed = false
  /** Threads replaced so far (crashes and stuck cancels). */
  replaced = 0

  constructor(private readonly model: SchedulerModel, private readonly options: ThreadsOptions) {
    for (const ws of model.workers) {
      const thread: Thread = {
        index: ws.index,
        worker: undefined as unknown as Worker,
        generation: 0,
        ready: Promise.resolve(),
        stopping: new Map()
      }
      this.spawn(thread)
      this.threads.push(thread)
    }
    this.connectPeers()
  }

  /** Resolves when every thread has loaded its modules; rejects with the first thread's fatal error. */
  get ready(): Promise<void> {
    return Promise.all(this.threads.map((t) => t.ready)).then(() => undefined)
  }

  /** Starts a Worker for `thread`; events of a Worker the thread no longer has are ignored. */
  private spawn(thread: Thread): void {
    const entry = entryUrl()
    const tsx = /\.[mc]?ts$/.test(entry) ? tsxUrl() : undefined
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { entry, tsx, modules: this.options.modules },
      ...(this.options.resourceLimits !== undefined ? { resourceLimits: this.options.resourceLimits } : {})
    })
    thread.worker = worker
    thread.ready = new Promise<void>((resolve, reject) => {
      worker.on("message", (m: ToMain) => {
        if (thread.worker !== worker) return
        if (m.op === "ready") resolve()
        else if (m.op === "fatal") reject(new Error(m.message))
        else this.onMessage(thread, m)
      })
      const died = (why: unknown) => {
        if (thread.worker !== worker) return
        reject(why)
        if (!this.closed) this.replace(thread)
      }
      worker.on("error", died)
      worker.on("exit", (code) => died(new Error(`worker thread exited with code ${code}`)))
    })
    thread.ready.catch(() => {})
  }

  private connectPeers(only?: Thread): void {
    for (let i = 0; i < this.threads.length; i++) {
      for (let j = i + 1; j < this.threads.length; j++) {
        const a = this.threads[i]!
        const b = this.threads[j]!
        if (only !== undefined && a !== only && b !== only) continue
        const { port1, port2 } = new MessageChannel()
        a.worker.postMessage({ op: "peer", index: b.index, port: port1 } satisfies ToThread, [port1])
        b.worker.postMessage({ op: "peer", index: a.index, port: port2 } satisfies ToThread, [port2])
      }
    }
  }

  private post(index: number, message: ToThread): void {
    this.threads[index]!.worker.postMessage(message)
  }

  /** The thread died or is stuck: terminate it, start a fresh one in its place, tell the model it lost a worker. */
  private replace(thread: Thread): void {
    if (this.closed) return
    const old = thread.worker
    for (const timer of thread.stopping.values()) clearTimeout(timer)
    thread.stopping.clear()
    thread.generation++
    this.spawn(thread)
    void old.terminate()
    this.replaced++
    this.connectPeers(thread)
    // Outside whatever transition asked for the stop.
    queueMicrotask(() => this.model.workerLost(this.model.workers[thread.index]!))
  }

  private onMessage(thread: Thread, m: ToMain): void {
    const model = this.model
    const ws = model.workers[thread.index]!
    switch (m.op) {
      case "done": {
        const ts = model.tasks.get(m.key)
        if (ts === undefined || !model.isCurrent(ts, m.attempt)) {
          // Not wanted any more: the thread holds a value nobody will free.
          if (ts === undefined || !model.isHeldBy(ts, ws)) this.post(thread.index, { op: "free", keys: [m.key] })
          return
        }
        model.taskFinished(ts, m.attempt, m.nbytes, m.type)
        return
      }
      case "erred": {
        const ts = model.tasks.get(m.key)
        if (ts !== undefined) model.taskErred(ts, m.attempt, m.error)
        return
      }
      case "missing": {
        const ts = model.tasks.get(m.key)
        if (ts !== undefined) model.reschedule(ts, m.attempt)
        return
      }
      case "replica": {
        const ts = model.tasks.get(m.key)
        if (ts === undefined || !model.addReplica(ts, ws)) this.post(thread.index, { op: "free", keys: [m.key] })
        return
      }
      case "stopped": {
        const timer = thread.stopping.get(m.key)
        if (timer !== undefined) clearTimeout(timer)
        thread.stopping.delete(m.key)
        return
      }
      case "gathered":
      case "stats": {
        const reply = this.replies.get(m.id)
        this.replies.delete(m.id)
        if (reply !== undefined) reply(m)
        return
      }
    }
  }

  start(ts: TaskState, ws: WorkerState, attempt: number): void {
    const model = this.model
    const args: ReadonlyArray<unknown> = ts.args!
    const refs: Array<readonly [Path, Key]> = []
    const deps: Array<readonly [Key, ReadonlyArray<number>]> = []
    if (ts.dependencies !== undefined) {
      // KeyRefs arrive as plain objects; the thread overwrites each with its dependency's value.
      walkArgs(args, refs)
      for (const dts of ts.dependencies) deps.push([dts.key, model.holders(dts).map((h) => h.index)])
    }
    try {
      this.post(ws.index, { op: "run", key: ts.key, attempt, name: ts.task!.name, args, refs, deps })
    } catch (e) {
      // Arguments a structured clone cannot carry (a function, a class instance with private state, ...).
      queueMicrotask(() => model.taskErred(ts, attempt, { type: "DataCloneError", message: String(e), traceback: "" }))
    }
  }

  stop(ts: TaskState, ws: WorkerState, attempt: number): void {
    const thread = this.threads[ws.index]!
    this.post(ws.index, { op: "stop", key: ts.key, attempt })
    const prior = thread.stopping.get(ts.key)
    if (prior !== undefined) clearTimeout(prior)
    const generation = thread.generation
    const timer = setTimeout(() => {
      thread.stopping.delete(ts.key)
      if (thread.generation === generation && !this.closed) this.replace(thread)
    }, STOP_GRACE_MS)
    timer.unref?.()
    thread.stopping.set(ts.key, timer)
  }

  hold(ts: TaskState, value: unknown, holders: ReadonlyArray<WorkerState>): void {
    for (const ws of holders) this.post(ws.index, { op: "hold", key: ts.key, value })
  }

  free(ts: TaskState, holders: ReadonlyArray<WorkerState>): void {
    for (const ws of holders) this.post(ws.index, { op: "free", keys: [ts.key] })
  }

  private request<A extends ToMain>(index: number, make: (id: number) => ToThread): Effect.Effect<A> {
    return Effect.async<A>((resume) => {
      const id = this.nextId++
      this.replies.set(id, (m) => resume(Effect.succeed(m as A)))
      this.post(index, make(id))
      return Effect.sync(() => this.replies.delete(id))
    })
  }

  gather(tss: ReadonlyArray<TaskState>): Effect.Effect<ReadonlyMap<Key, unknown>, LostDataError | DecodeError> {
    const byThread = new Map<number, Array<Key>>()
    for (const ts of tss) {
      const i = ts.worker!.index
      let keys = byThread.get(i)
      if (keys === undefined) byThread.set(i, keys = [])
      keys.push(ts.key)
    }
    return Effect.map(
      Effect.forEach(
        byThread,
        ([index, keys]) =>
          Effect.flatMap(
            this.request<Extract<ToMain, { op: "gathered" }>>(index, (id) => ({ op: "gather", id, keys })),
            (reply): Effect.Effect<ReadonlyArray<readonly [Key, unknown]>, LostDataError | DecodeError> =>
              reply.error !== undefined
                ? Effect.fail(new DecodeError({ serializer: "structured-clone", message: reply.error }))
                : reply.missing.length > 0
                ? Effect.fail(new LostDataError({ key: reply.missing[0]! }))
                : Effect.succeed(reply.entries as ReadonlyArray<readonly [Key, unknown]>)
          ),
        { concurrency: "unbounded" }
      ),
      (parts) => {
        const out = new Map<Key, unknown>()
        for (const entries of parts) for (const [k, v] of entries) out.set(k, v)
        return out as ReadonlyMap<Key, unknown>
      }
    )
  }

  /** What each thread really holds (and its heap), asked of the threads themselves. */
  stats(gc: boolean): Effect.Effect<ReadonlyArray<ThreadSnapshot>> {
    return Effect.forEach(this.threads, (t) =>
      Effect.map(
        this.request<Extract<ToMain, { op: "stats" }>>(t.index, (id) => ({ op: "stats", id, gc })),
        (m) => ({ address: this.model.workers[t.index]!.address, keys: m.keys, bytes: m.bytes, heapUsed: m.heapUsed, received: m.received, executed: m.executed })
      ), { concurrency: "unbounded" })
  }

  shutdown(): void {
    this.closed = true
    for (const t of this.threads) {
      for (const timer of t.stopping.values()) clearTimeout(timer)
      t.stopping.clear()
      void t.worker.terminate()
    }
    this.replies.clear()
  }
}
