/**
 * The entry of one embedded worker thread: it imports the task modules,
 * runs the tasks the scheduler assigns to it, holds their results (its own
 * heap), serves its peers' requests for dependencies over MessagePorts and
 * copies values to the main thread on gather. It decides nothing: every
 * state change is the scheduler model's, in the main thread.
 *
 * Messages (main → thread): run, stop, hold, free, gather, stats, peer;
 * (thread → main): ready, fatal, done, erred, stopped, missing, replica,
 * gathered, stats. Peers: get → value.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type { MessagePort } from "node:worker_threads"
import { parentPort, workerData } from "node:worker_threads"
import type { Key } from "../../Scheduler.js"
import type * as Task from "../../Task.js"
import { errorInfo } from "../model/scheduler.js"
import { sizeof, typeName } from "../model/sizeof.js"
import { loadPromise } from "../taskModule.js"
import type { Path, ToMain, ToThread } from "./threadProtocol.js"

const port = parentPort!
const post = (message: ToMain) => port.postMessage(message)

const data = new Map<Key, unknown>()
/** The attempt of each key assigned here and not finished or stopped. */
const current = new Map<Key, number>()
const fibers = new Map<Key, Fiber.RuntimeFiber<unknown, unknown>>()
const peers = new Map<number, MessagePort>()
let nextRequest = 0
/** Values copied here from peers (replicas made in this thread). */
let received = 0
/** Tasks that ended here (finished or erred; Dask's `executed_count`). */
let executed = 0
const requests = new Map<number, { readonly resolve: (v: unknown) => void; readonly reject: (e: unknown) => void; readonly peer: number }>()

const setAt = (root: Array<unknown>, path: Path, value: unknown): void => {
  let node: any = root
  for (let i = 0; i < path.length - 1; i++) node = node[path[i]!]
  node[path[path.length - 1]!] = value
}

const fetchFrom = (key: Key, holders: ReadonlyArray<number>): Promise<unknown> => {
  const peer = holders.find((h) => peers.has(h))
  if (peer === undefined) return Promise.reject(new Error(`no peer holds ${key}`))
  return new Promise((resolve, reject) => {
    const id = nextRequest++
    requests.set(id, { resolve, reject, peer })
    peers.get(peer)!.postMessage({ op: "get", id, key })
  })
}

const onPeer = (index: number, p: MessagePort) => (m: any) => {
  if (m.op === "get") {
    const found = data.has(m.key)
    try {
      p.postMessage({ op: "value", id: m.id, found, value: found ? data.get(m.key) : undefined })
    } catch (e) {
      p.postMessage({ op: "value", id: m.id, found: false, error: String(e) })
    }
  } else if (m.op === "value") {
    const r = requests.get(m.id)
    if (r === undefined || r.peer !== index) return
    requests.delete(m.id)
    if (m.found) r.resolve(m.value)
    else r.reject(new Error(m.error ?? "missing"))
  }
}

const finish = (key: Key, attempt: number, value: unknown) => {
  if (current.get(key) !== attempt) return
  current.delete(key)
  fibers.delete(key)
  data.set(key, value)
  executed++
  post({ op: "done", key, attempt, nbytes: sizeof(value), type: typeName(value) })
}

const fail = (key: Key, attempt: number, cause: unknown) => {
  if (current.get(key) !== attempt) return
  current.delete(key)
  fibers.delete(key)
  executed++
  post({ op: "erred", key, attempt, error: errorInfo(key, cause) })
}

const run = async (tasks: ReadonlyMap<string, Task.Any>, m: Extract<ToThread, { op: "run" }>) => {
  const { key, attempt } = m
  current.set(key, attempt)
  const task = tasks.get(m.name)
  if (task === undefined || task.run === undefined) return fail(key, attempt, new Error(`No task named ${m.name} in this worker's modules`))
  const values = new Map<Key, unknown>()
  const missing: Array<Promise<void>> = []
  for (const [dep, holders] of m.deps) {
    if (data.has(dep)) values.set(dep, data.get(dep))
    else {
      missing.push(fetchFrom(dep, holders).then((v) => {
        values.set(dep, v)
        // A replica: held here until the scheduler frees the key everywhere.
        if (!data.has(dep)) {
          data.set(dep, v)
          received++
          post({ op: "replica", key: dep })
        }
      }))
    }
  }
  if (missing.length > 0) {
    try {
      await Promise.all(missing)
    } catch (e) {
      if (current.get(key) !== attempt) return
      current.delete(key)
      return post({ op: "missing", key, attempt, message: String(e) })
    }
    if (current.get(key) !== attempt) return
  }
  const args = m.args as Array<unknown>
  for (const [path, dep] of m.refs) setAt(args, path, values.get(dep))
  let out: unknown
  try {
    out = task.run(...args)
  } catch (e) {
    return fail(key, attempt, e)
  }
  if (typeof out === "object" && out !== null) {
    if (Effect.isEffect(out)) {
      const fiber = Effect.runFork(out as Effect.Effect<unknown, unknown>)
      fibers.set(key, fiber)
      fiber.addObserver((exit) => {
        if (exit._tag === "Success") finish(key, attempt, exit.value)
        else if (!Cause.isInterruptedOnly(exit.cause)) fail(key, attempt, Cause.squash(exit.cause))
      })
      return
    }
    if (typeof (out as PromiseLike<unknown>).then === "function") {
      ;(out as PromiseLike<unknown>).then((v) => finish(key, attempt, v), (e) => fail(key, attempt, e))
      return
    }
  }
  finish(key, attempt, out)
}

const main = async () => {
  const registry = await loadPromise(workerData.modules as ReadonlyArray<string>)
  const tasks = registry.tasks
  port.on("message", (m: ToThread) => {
    switch (m.op) {
      case "run":
        void run(tasks, m)
        return
      case "stop": {
        if (current.get(m.key) === m.attempt) {
          current.delete(m.key)
          const fiber = fibers.get(m.key)
          fibers.delete(m.key)
          if (fiber !== undefined) fiber.unsafeInterruptAsFork(FiberId.none)
        }
        // Answering at all shows the thread is not stuck in the task.
        return post({ op: "stopped", key: m.key, attempt: m.attempt })
      }
      case "hold":
        data.set(m.key, m.value)
        return
      case "free":
        for (const key of m.keys) data.delete(key)
        return
      case "gather": {
        const entries: Array<readonly [Key, unknown]> = []
        const missing: Array<Key> = []
        for (const key of m.keys) {
          if (data.has(key)) entries.push([key, data.get(key)])
          else missing.push(key)
        }
        try {
          return post({ op: "gathered", id: m.id, entries, missing })
        } catch (e) {
          return post({ op: "gathered", id: m.id, entries: [], missing, error: String(e) })
        }
      }
      case "stats": {
        let bytes = 0
        for (const v of data.values()) bytes += sizeof(v)
        const gc = (globalThis as { gc?: () => void }).gc
        if (m.gc && gc !== undefined) gc()
        return post({ op: "stats", id: m.id, keys: data.size, bytes, heapUsed: process.memoryUsage().heapUsed, received, executed })
      }
      case "peer": {
        const old = peers.get(m.index)
        if (old !== undefined) old.close()
        // Requests to a replaced peer fail: the dependent is rescheduled.
        for (const [id, r] of requests) {
          if (r.peer === m.index) {
            requests.delete(id)
            r.reject(new Error("peer replaced"))
          }
        }
        peers.set(m.index, m.port)
        m.port.on("message", onPeer(m.index, m.port))
        m.port.unref()
        return
      }
    }
  })
  post({ op: "ready", tasks: Array.from(tasks.keys()) })
}

main().catch((e) => post({ op: "fatal", message: e instanceof Error ? e.message : String(e) }))
