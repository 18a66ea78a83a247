/**
 * A client's `Session` over the scheduler model: message dispatch, the
 * request/reply calls (gather, scatter, who_has, has_what, nbytes, workers,
 * datasets), written once for every backend built on the model.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { DecodeError, LostDataError, ProtocolError, UnsupportedTaskError } from "../../Errors.js"
import type { ClientMessage, Key, KeyStatus, ReportSink, Session, TaskSpec, WorkerInfo } from "../../Scheduler.js"
import type * as Task from "../../Task.js"
import type { ClientState, SchedulerModel, TaskState } from "./scheduler.js"

/** What differs between backends on the model. @internal */
export interface SessionOptions {
  readonly check: (task: Task.Any) => UnsupportedTaskError | undefined
  /**
   * The per-call check (see `Session.prepare`; it includes `check`): what it
   * accepts it returns as {@link CHECKED} (in process there is nothing to
   * encode), and `send` checks every task of a graph that was not (a graph
   * sent without the client's `prepare`).
   */
  readonly prepare?: ((task: Task.Any, args: ReadonlyArray<unknown>) => UnsupportedTaskError | typeof CHECKED) | undefined
  /** Why a value cannot be scattered as it is (the threads: what a structured clone cannot carry). */
  readonly refuseValue?: ((value: unknown) => string | undefined) | undefined
  /** Sees every client message first (the test scheduler records them). */
  readonly onMessage?: ((clientId: string, message: ClientMessage) => void) | undefined
  /** Sees every retry / restart / run call first (the test scheduler records them). */
  readonly onCall?: ((clientId: string, call: "retry" | "restart" | "run" | "runOnScheduler", args: ReadonlyArray<unknown>) => void) | undefined
  /** `Session.run`; without it, `run` fails with `UnsupportedTaskError` (nothing here runs Python). */
  readonly run?: Session["run"] | undefined
}

/** A call `SessionOptions.prepare` accepted (the client hands it back as `TaskSpec.prepared`). @internal */
export const CHECKED: unique symbol = Symbol.for("effect-dask/model/checked")

/** The first task of a graph that `prepare` refuses, checking only those it has not seen. */
const refused = (
  prepare: NonNullable<SessionOptions["prepare"]>,
  tasks: ReadonlyArray<TaskSpec>
): UnsupportedTaskError | undefined => {
  for (let i = 0; i < tasks.length; i++) {
    const spec = tasks[i]!
    if (spec.prepared === CHECKED) continue
    const p = prepare(spec.task, spec.args)
    if (p !== CHECKED) return p
  }
  return undefined
}

/** @internal */
export const dispatch = (model: SchedulerModel, cs: ClientState, message: ClientMessage): undefined => {
  if (model.closed || cs.sink === undefined) return
  switch (message._tag) {
    case "UpdateGraph":
      model.updateGraph(cs, message.tasks, message.keys)
      return
    case "DesireKeys":
      if (message.client === undefined) model.desireKeys(cs, message.keys)
      else model.desire(message.client, message.keys)
      return
    case "ReleaseKeys":
      model.releaseKeys(cs, message.keys)
      return
    case "Cancel":
      model.cancel(cs, message.keys, message.force)
      return
    case "Close":
      model.removeClient(cs)
      return
    case "Heartbeat":
      return
    case "Received":
    case "VariableDelete":
    case "QueueRelease":
      model.coordination.handle(message)
      return
  }
}

/** What the scheduler has of a key (`Session.keyStatus`). @internal */
export const keyStatus = (ts: TaskState | undefined): KeyStatus =>
  ts === undefined || ts.state === "forgotten" || ts.state === "released"
    ? "missing"
    : ts.state === "memory"
    ? "memory"
    : ts.state === "erred"
    ? "erred"
    : "pending"

/** @internal */
export const holders = (model: SchedulerModel, ts: TaskState | undefined): Array<string> =>
  ts === undefined ? [] : model.holders(ts).map((ws) => ws.address)

/** Dask's `has_what`, from the tasks' holders. @internal */
export const hasWhat = (model: SchedulerModel): Map<string, Array<Key>> => {
  const out = new Map<string, Array<Key>>()
  for (const ws of model.workers) out.set(ws.address, [])
  for (const [key, ts] of model.tasks) {
    if (ts.worker === undefined) continue
    for (const ws of model.holders(ts)) out.get(ws.address)!.push(key)
  }
  return out
}

/** @internal */
export const workerInfo = (model: SchedulerModel): Array<WorkerInfo> =>
  model.workers.map((ws) => ({
    address: ws.address,
    nthreads: ws.slots,
    bytes: ws.bytes,
    keys: ws.keys,
    memoryLimit: ws.memoryLimit
  }))

/** Registers a client on the model; closing the scope removes it (Dask's `remove_client`). @internal */
export const connect = (
  model: SchedulerModel,
  clientId: string,
  sink: ReportSink,
  options: SessionOptions
): Effect.Effect<Session, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const cs = model.clientState(clientId)
      cs.sink = sink
      return make(model, cs, options)
    }),
    () =>
      Effect.sync(() => {
        const cs = model.clients.get(clientId)
        if (cs !== undefined && cs.sink === sink) model.removeClient(cs)
      })
  )

const make = (model: SchedulerModel, cs: ClientState, options: SessionOptions): Session => {
  const refuseValue = options.refuseValue
  const onMessage = options.onMessage
  const check = options.check
  const prepare = options.prepare
  return {
    clientId: cs.id,
    check,
    prepare: prepare ?? ((task) => check(task)),
    send: prepare !== undefined
      ? (message) => {
        if (message._tag === "UpdateGraph") {
          const error = refused(prepare, message.tasks)
          if (error !== undefined) return error
        }
        onMessage?.(cs.id, message)
        return dispatch(model, cs, message)
      }
      : onMessage === undefined
      ? (message) => dispatch(model, cs, message)
      : (message) => {
        onMessage(cs.id, message)
        return dispatch(model, cs, message)
      },
    // Messages are processed as they are sent: nothing is ever queued, every barrier is already passed.
    retract: () => false,
    barrier: (done) => done(),
    keyStatus: (keys) =>
      Effect.sync(() => {
        const out = new Map<Key, KeyStatus>()
        for (const key of keys) out.set(key, keyStatus(model.tasks.get(key)))
        return out as ReadonlyMap<Key, KeyStatus>
      }),
    gather: (keys) =>
      Effect.suspend(() => {
        const tss: Array<TaskState> = []
        for (const key of keys) {
          const ts = model.tasks.get(key)
          if (ts === undefined || ts.state !== "memory" || ts.worker === undefined) {
            return Effect.fail(new LostDataError({ key }))
          }
          tss.push(ts)
        }
        return model.executor.gather(tss)
      }),
    scatter: (entries, options) =>
      Effect.suspend(() => {
        if (refuseValue !== undefined) {
          // Refused as the Dask backend refuses what it cannot encode: before anything is held.
          for (const [key, value] of entries) {
            const reason = refuseValue(value)
            if (reason !== undefined) {
              return Effect.fail(new DecodeError({ serializer: "structured-clone", message: `cannot scatter ${key}: ${reason}` }))
            }
          }
        }
        if (!model.closed) model.scatter(cs, entries, model.scatterTargets(options?.workers), options?.broadcast === true)
        return Effect.void
      }),
    whoHas: (keys) =>
      Effect.sync(() => {
        const out: Record<Key, ReadonlyArray<string>> = {}
        if (keys === undefined) {
          for (const [key, ts] of model.tasks) if (ts.worker !== undefined) out[key] = holders(model, ts)
        } else {
          for (const key of keys) out[key] = holders(model, model.tasks.get(key))
        }
        return out
      }),
    hasWhat: () => Effect.sync(() => Object.fromEntries(hasWhat(model))),
    nbytes: (keys) =>
      Effect.sync(() => {
        const out: Record<Key, number> = {}
        const add = (key: Key, ts: TaskState | undefined) => {
          if (ts !== undefined && ts.nbytes >= 0 && ts.worker !== undefined) out[key] = ts.nbytes
        }
        if (keys === undefined) for (const [key, ts] of model.tasks) add(key, ts)
        else for (const key of keys) add(key, model.tasks.get(key))
        return out
      }),
    workers: () => Effect.sync(() => workerInfo(model)),
    publishDataset: (name, keys, override) =>
      Effect.suspend(() =>
        model.publish(name, keys, override)
          ? Effect.void
          : Effect.fail(new ProtocolError({ reason: "UnexpectedReply", message: `Dataset ${name} already exists` }))
      ),
    getDataset: (name) => Effect.sync(() => Option.fromNullable(model.datasets.get(name))),
    unpublishDataset: (name) => Effect.sync(() => model.unpublish(name)),
    listDatasets: () => Effect.sync(() => model.listDatasets()),
    retry: (keys) =>
      Effect.sync(() => {
        options.onCall?.(cs.id, "retry", keys.slice())
        return model.retry(keys)
      }),
    restart: () =>
      Effect.sync(() => {
        options.onCall?.(cs.id, "restart", [])
        model.restart()
      }),
    run: (callable, args, on) =>
      Effect.suspend(() => {
        options.onCall?.(cs.id, on._tag === "Scheduler" ? "runOnScheduler" : "run", [callable, ...args])
        return options.run !== undefined
          ? options.run(callable, args, on)
          : Effect.fail(
            new UnsupportedTaskError({
              task: callable,
              backend: model.options.address,
              message: `run names a Python callable (${callable}); this scheduler runs only JS`
            })
          )
      }),
    coordination: model.coordination.coordination
  }
}
