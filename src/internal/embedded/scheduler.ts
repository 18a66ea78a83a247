/**
 * The embedded scheduler: the scheduler model with an in-process executor
 * (this thread, or worker threads), the `Scheduler` protocol over it, and
 * read access to its state.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as EmbeddedScheduler from "../../EmbeddedScheduler.js"
import { TaskModuleError, UnsupportedTaskError } from "../../Errors.js"
import type { Key, ReportSink, Session } from "../../Scheduler.js"
import type * as Task from "../../Task.js"
import type { TaskState } from "../model/scheduler.js"
import { SchedulerModel, wanters } from "../model/scheduler.js"
import * as ModelSession from "../model/session.js"
import * as TaskModule from "../taskModule.js"
import { InThreadExecutor } from "./inThread.js"
import { refuseArgs, refuseValue, ThreadsExecutor } from "./threads.js"

let counter = 0

/** @internal */
export interface Embedded {
  readonly model: SchedulerModel
  readonly address: string
  readonly check: (task: Task.Any) => UnsupportedTaskError | undefined
  /** With threads: also refuses arguments a structured clone cannot carry (before anything is sent). */
  readonly prepare?: ModelSession.SessionOptions["prepare"]
  /** With threads: refuses a scattered value a structured clone cannot carry. */
  readonly refuseValue?: ModelSession.SessionOptions["refuseValue"]
  readonly threads?: ThreadsExecutor | undefined
}

const checkInThread = (task: Task.Any): UnsupportedTaskError | undefined =>
  task.run === undefined
    ? new UnsupportedTaskError({
      task: task.name,
      backend: "embedded",
      message: `Task ${task.name} has no JS implementation (python: ${task.python ?? "none"}); the embedded scheduler runs only JS tasks`
    })
    : undefined

/** @internal */
export const make = (
  options: EmbeddedScheduler.Options | undefined
): Effect.Effect<Embedded, TaskModuleError, Scope.Scope> =>
  Effect.gen(function*() {
    const address = options?.address ?? `inproc://embedded-${++counter}`
    const threads = options?.threads === true
    const model = new SchedulerModel({
      address,
      workers: Math.max(1, options?.workers ?? 2),
      // A thread runs one synchronous task at a time: one slot each unless told otherwise.
      slots: Math.max(1, options?.slots ?? (threads ? 1 : 4)),
      memoryLimit: options?.memoryLimit
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => model.shutdown()))
    if (!threads) {
      model.executor = new InThreadExecutor(model, yield* Effect.runtime<never>(), options?.budget ?? 4096)
      return { model, address, check: checkInThread }
    }
    // The registry here refuses, before sending, a task no module defines (and finds duplicate names at start-up).
    const registry = yield* TaskModule.load(options?.modules ?? [])
    const executor = new ThreadsExecutor(model, { modules: registry.modules, resourceLimits: options?.resourceLimits })
    model.executor = executor
    yield* Effect.tryPromise({
      try: () => executor.ready,
      catch: (e) =>
        new TaskModuleError({
          reason: "Import",
          module: registry.modules.join(", "),
          message: `A worker thread could not start: ${e instanceof Error ? e.message : String(e)}`,
          cause: e
        })
    })
    const backend = "embedded (worker threads)"
    const check = (task: Task.Any) => checkInThread(task) ?? TaskModule.check(registry, task, backend)
    return {
      model,
      address,
      check,
      prepare: (task, args) => check(task) ?? refuseArgs(task, args, backend) ?? ModelSession.CHECKED,
      refuseValue,
      threads: executor
    }
  })

/** @internal */
export const connect = (
  embedded: Embedded,
  clientId: string,
  sink: ReportSink
): Effect.Effect<Session, never, Scope.Scope> => ModelSession.connect(embedded.model, clientId, sink, {
  check: embedded.check,
  prepare: embedded.prepare,
  refuseValue: embedded.refuseValue
})

/** @internal */
export const snapshot = (model: SchedulerModel): EmbeddedScheduler.Snapshot => {
  const keysOf = (set: Iterable<TaskState> | undefined): Array<Key> =>
    set === undefined ? [] : Array.from(set, (ts) => ts.key)
  const tasks = new Map<Key, EmbeddedScheduler.TaskSnapshot>()
  for (const [key, ts] of model.tasks) {
    tasks.set(key, {
      key,
      state: ts.state,
      whoWants: wanters(ts).map((cs) => cs.id),
      dependencies: keysOf(ts.dependencies),
      dependents: keysOf(ts.dependents),
      waiters: keysOf(ts.waiters),
      waitingOn: keysOf(ts.waitingOn),
      workers: ModelSession.holders(model, ts),
      processingOn: ts.processingOn?.address,
      nbytes: ts.nbytes,
      type: ts.type,
      retries: ts.retries,
      error: ts.blame?.exception,
      erredBecauseOf: ts.blame?.key
    })
  }
  const clients = new Map<string, ReadonlyArray<Key>>()
  const wants = new Map<string, Array<Key>>()
  for (const cs of model.clients.values()) wants.set(cs.id, [])
  for (const [key, ts] of model.tasks) for (const cs of wanters(ts)) wants.get(cs.id)?.push(key)
  for (const [id, keys] of wants) clients.set(id, keys)
  const held = ModelSession.hasWhat(model)
  return {
    address: model.options.address,
    tasks,
    clients,
    workers: model.workers.map((ws) => ({
      address: ws.address,
      keys: held.get(ws.address) ?? [],
      bytes: ws.bytes,
      memoryLimit: ws.memoryLimit,
      slots: ws.slots,
      running: ws.processing,
      paused: ws.paused
    })),
    queued: model.queuedCount,
    inFlight: model.executor instanceof InThreadExecutor ? model.executor.inFlight.size : stats(model).processing,
    datasets: new Map(model.datasets)
  }
}

/** @internal */
export const stats = (model: SchedulerModel): EmbeddedScheduler.Stats => {
  let keys = 0
  let bytes = 0
  let processing = 0
  for (const ws of model.workers) {
    keys += ws.keys
    bytes += ws.bytes
    processing += ws.processing
  }
  return { tasks: model.tasks.size, keys, bytes, processing, queued: model.queuedCount }
}
