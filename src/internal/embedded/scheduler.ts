/**
 * The embedded scheduler's services: the `Scheduler` protocol over the
 * in-process state machine, and read access to that state.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as EmbeddedScheduler from "../../EmbeddedScheduler.js"
import { LostDataError, ProtocolError, UnsupportedTaskError } from "../../Errors.js"
import type { ClientMessage, Key, KeyStatus, ReportSink, Session, WorkerInfo } from "../../Scheduler.js"
import type * as Task from "../../Task.js"
import type { ClientState, TaskState } from "./state.js"
import { SchedulerState, wanters } from "./state.js"

let counter = 0

/** @internal */
export const make = (
  options: EmbeddedScheduler.Options | undefined
): Effect.Effect<{ readonly state: SchedulerState; readonly address: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const address = options?.address ?? `inproc://embedded-${++counter}`
    const runtime = yield* Effect.runtime<never>()
    const state = new SchedulerState({
      address,
      workers: Math.max(1, options?.workers ?? 2),
      slots: Math.max(1, options?.slots ?? 4),
      memoryLimit: options?.memoryLimit,
      budget: options?.budget ?? 4096
    }, runtime)
    yield* Effect.addFinalizer(() => Effect.sync(() => state.shutdown()))
    return { state, address }
  })

const check = (task: Task.Any): UnsupportedTaskError | undefined =>
  task.run === undefined
    ? new UnsupportedTaskError({
      task: task.name,
      backend: "embedded",
      message: `Task ${task.name} has no JS implementation (python: ${task.python ?? "none"}); the embedded scheduler runs only JS tasks`
    })
    : undefined

const dispatch = (state: SchedulerState, cs: ClientState, message: ClientMessage): undefined => {
  if (state.closed || cs.sink === undefined) return
  switch (message._tag) {
    case "UpdateGraph":
      state.updateGraph(cs, message.tasks, message.keys)
      return
    case "DesireKeys":
      if (message.client === undefined) state.desireKeys(cs, message.keys)
      else state.desire(message.client, message.keys)
      return
    case "ReleaseKeys":
      state.releaseKeys(cs, message.keys)
      return
    case "Cancel":
      state.cancel(cs, message.keys, message.force)
      return
    case "Close":
      state.removeClient(cs)
      return
    case "Heartbeat":
      return
  }
}

const workerInfo = (state: SchedulerState): Array<WorkerInfo> =>
  state.workers.map((ws) => ({
    address: ws.address,
    nthreads: ws.slots,
    bytes: ws.bytes,
    keys: ws.data.size,
    memoryLimit: ws.memoryLimit
  }))

const holders = (ts: TaskState | undefined): Array<string> => {
  if (ts === undefined || ts.worker === undefined) return []
  const out = [ts.worker.address]
  if (ts.replicas !== undefined) for (const ws of ts.replicas) out.push(ws.address)
  return out
}

/** @internal */
export const connect = (state: SchedulerState, clientId: string, sink: ReportSink): Effect.Effect<Session, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const cs = state.clientState(clientId)
      cs.sink = sink
      return makeSession(state, cs)
    }),
    () =>
      Effect.sync(() => {
        const cs = state.clients.get(clientId)
        if (cs !== undefined && cs.sink === sink) state.removeClient(cs)
      })
  )

/** Nothing to encode in process: a JS task runs on its arguments as given. */
const prepare = (task: Task.Any): UnsupportedTaskError | undefined => check(task)

const makeSession = (state: SchedulerState, cs: ClientState): Session => ({
  clientId: cs.id,
  check,
  prepare,
  send: (message) => dispatch(state, cs, message),
  // Messages are processed as they are sent: nothing is ever queued, every barrier is already passed.
  retract: () => false,
  barrier: (done) => done(),
  keyStatus: (keys) =>
    Effect.sync(() => {
      const out = new Map<Key, KeyStatus>()
      for (const key of keys) {
        const ts = state.tasks.get(key)
        out.set(
          key,
          ts === undefined || ts.state === "forgotten" || ts.state === "released"
            ? "missing"
            : ts.state === "memory"
            ? "memory"
            : ts.state === "erred"
            ? "erred"
            : "pending"
        )
      }
      return out as ReadonlyMap<Key, KeyStatus>
    }),
  gather: (keys) =>
    Effect.suspend(() => {
      const out = new Map<Key, unknown>()
      for (const key of keys) {
        const ts = state.tasks.get(key)
        if (ts === undefined || ts.state !== "memory" || ts.worker === undefined) {
          return Effect.fail(new LostDataError({ key }))
        }
        out.set(key, ts.worker.data.get(key))
      }
      return Effect.succeed(out as ReadonlyMap<Key, unknown>)
    }),
  scatter: (entries, options) =>
    Effect.sync(() => {
      if (state.closed) return
      const targets = state.scatterTargets(options?.workers)
      state.scatter(cs, entries, targets, options?.broadcast === true)
    }),
  whoHas: (keys) =>
    Effect.sync(() => {
      const out: Record<Key, ReadonlyArray<string>> = {}
      if (keys === undefined) {
        for (const [key, ts] of state.tasks) if (ts.worker !== undefined) out[key] = holders(ts)
      } else {
        for (const key of keys) out[key] = holders(state.tasks.get(key))
      }
      return out
    }),
  hasWhat: () =>
    Effect.sync(() => {
      const out: Record<string, ReadonlyArray<Key>> = {}
      for (const ws of state.workers) out[ws.address] = Array.from(ws.data.keys())
      return out
    }),
  nbytes: (keys) =>
    Effect.sync(() => {
      const out: Record<Key, number> = {}
      const add = (key: Key, ts: TaskState | undefined) => {
        if (ts !== undefined && ts.nbytes >= 0 && ts.worker !== undefined) out[key] = ts.nbytes
      }
      if (keys === undefined) for (const [key, ts] of state.tasks) add(key, ts)
      else for (const key of keys) add(key, state.tasks.get(key))
      return out
    }),
  workers: () => Effect.sync(() => workerInfo(state)),
  publishDataset: (name, keys, override) =>
    Effect.suspend(() => {
      if (!override && state.datasets.has(name)) {
        return Effect.fail(
          new ProtocolError({ reason: "UnexpectedReply", message: `Dataset ${name} already exists` })
        )
      }
      state.publish(name, keys)
      return Effect.void
    }),
  getDataset: (name) => Effect.sync(() => Option.fromNullable(state.datasets.get(name))),
  unpublishDataset: (name) => Effect.sync(() => state.unpublish(name)),
  listDatasets: () => Effect.sync(() => Array.from(state.datasets.keys()).sort())
})

/** @internal */
export const snapshot = (state: SchedulerState): EmbeddedScheduler.Snapshot => {
  const keysOf = (set: Iterable<TaskState> | undefined): Array<Key> =>
    set === undefined ? [] : Array.from(set, (ts) => ts.key)
  const tasks = new Map<Key, EmbeddedScheduler.TaskSnapshot>()
  for (const [key, ts] of state.tasks) {
    tasks.set(key, {
      key,
      state: ts.state,
      whoWants: wanters(ts).map((cs) => cs.id),
      dependencies: keysOf(ts.dependencies),
      dependents: keysOf(ts.dependents),
      waiters: keysOf(ts.waiters),
      waitingOn: keysOf(ts.waitingOn),
      workers: holders(ts),
      processingOn: ts.processingOn?.address,
      nbytes: ts.nbytes,
      type: ts.type,
      retries: ts.retries,
      error: ts.blame?.exception,
      erredBecauseOf: ts.blame?.key
    })
  }
  const clients = new Map<string, ReadonlyArray<Key>>()
  const wants = new Map<ClientState, Array<Key>>()
  for (const cs of state.clients.values()) wants.set(cs, [])
  for (const [key, ts] of state.tasks) for (const cs of wanters(ts)) wants.get(cs)?.push(key)
  for (const [cs, keys] of wants) clients.set(cs.id, keys)
  return {
    address: state.options.address,
    tasks,
    clients,
    workers: state.workers.map((ws) => ({
      address: ws.address,
      keys: Array.from(ws.data.keys()),
      bytes: ws.bytes,
      memoryLimit: ws.memoryLimit,
      slots: ws.slots,
      running: ws.processing,
      paused: ws.paused
    })),
    queued: state.queuedCount,
    inFlight: state.inFlight.size,
    datasets: new Map(state.datasets)
  }
}

/** @internal */
export const stats = (state: SchedulerState): EmbeddedScheduler.Stats => {
  let keys = 0
  let bytes = 0
  let processing = 0
  for (const ws of state.workers) {
    keys += ws.data.size
    bytes += ws.bytes
    processing += ws.processing
  }
  return { tasks: state.tasks.size, keys, bytes, processing, queued: state.queuedCount }
}
