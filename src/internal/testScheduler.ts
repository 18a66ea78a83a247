import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { LostDataError } from "../Errors.js"
import type { ClientMessage, ErrorInfo, Key, KeyStatus, ReportSink, SchedulerReport, Session, TaskSpec } from "../Scheduler.js"
import type * as Task from "../Task.js"

/** @internal */
export interface Recorded {
  readonly clientId: string
  readonly message: ClientMessage
}

interface ClientEntry {
  readonly wants: Set<Key>
  readonly reports: ReportSink
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

/**
 * A scripted scheduler: it keeps Dask's interest bookkeeping (who wants what)
 * and reports what a test tells it to. Nothing runs by itself.
 * @internal
 */
export class TestSchedulerImpl {
  readonly recorded: Array<Recorded> = []
  readonly clients = new Map<string, ClientEntry>()
  /** Pseudo-clients ("fire-and-forget", "published-<name>") and their wants. */
  readonly pseudo = new Map<string, Set<Key>>()
  readonly tasks = new Map<Key, TaskSpec>()
  readonly values = new Map<Key, { readonly value: unknown; readonly nbytes: number; readonly type: string | undefined }>()
  readonly errors = new Map<Key, ErrorInfo>()
  readonly datasets = new Map<string, ReadonlyArray<Key>>()
  /** Keys desired before anything computed them: Dask makes a placeholder task (known, never run). */
  readonly placeholders = new Set<Key>()

  readonly channels = new Channels()

  constructor(readonly address: string) {}

  wanters(key: Key): Array<ClientEntry> {
    const out: Array<ClientEntry> = []
    for (const entry of this.clients.values()) if (entry.wants.has(key)) out.push(entry)
    return out
  }

  isWanted(key: Key): boolean {
    for (const entry of this.clients.values()) if (entry.wants.has(key)) return true
    for (const wants of this.pseudo.values()) if (wants.has(key)) return true
    return false
  }

  /** As Dask: a key has a task state while it is computed, held, erred, or wanted by anyone. */
  known(key: Key): boolean {
    return this.tasks.has(key) || this.values.has(key) || this.errors.has(key) || this.placeholders.has(key) ||
      this.isWanted(key)
  }

  /** Forgets keys nobody wants, as Dask's scheduler does. */
  forgetUnwanted(keys: Iterable<Key>): void {
    for (const key of keys) {
      if (!this.isWanted(key)) {
        this.placeholders.delete(key)
        this.tasks.delete(key)
        this.values.delete(key)
        this.errors.delete(key)
      }
    }
  }

  /**
   * Dask's `_cancel_key`: when this client is the only one that wants the key
   * (or `force`), its dependents are cancelled first and the wanters are told;
   * then the key is released for this client (every wanter with `force`).
   * Unlike Dask, a dependent that others want too is left alone: Dask drops
   * this client's interest in it without telling the client, whose future
   * then never completes.
   */
  cancelKey(key: Key, entry: ClientEntry, force: boolean, top = true): void {
    const wanters = this.wanters(key)
    if (wanters.length === 0) return
    const sole = force || (wanters.length === 1 && wanters[0] === entry)
    if (!sole && !top) return
    if (sole) {
      for (const spec of Array.from(this.tasks.values())) {
        if (spec.dependencies.includes(key)) this.cancelKey(spec.key, entry, force, false)
      }
      for (const w of wanters) w.reports({ _tag: "CancelledKeys", keys: [key], reason: "cancelled" })
    }
    for (const w of force ? wanters : [entry]) w.wants.delete(key)
    this.forgetUnwanted([key])
  }

  /** Reports the current outcome of `key` to one client, if it has one. */
  reportState(entry: ClientEntry, key: Key): void {
    const value = this.values.get(key)
    if (value !== undefined) {
      entry.reports({ _tag: "KeyInMemory", key, type: value.type, nbytes: value.nbytes })
      return
    }
    const error = this.errors.get(key)
    if (error !== undefined) entry.reports({ _tag: "TaskErred", key, error })
  }

  handle(clientId: string, entry: ClientEntry, message: ClientMessage): void {
    this.recorded.push({ clientId, message })
    switch (message._tag) {
      case "UpdateGraph": {
        const cancelled: Array<Key> = []
        for (const spec of message.tasks) {
          // As Dask: a dependency the scheduler does not know cancels the dependent.
          if (spec.dependencies.some((d) => !this.known(d) && !message.tasks.some((t) => t.key === d))) {
            cancelled.push(spec.key)
            continue
          }
          if (!this.known(spec.key)) this.tasks.set(spec.key, spec)
        }
        for (const key of message.keys) {
          if (cancelled.includes(key)) continue
          entry.wants.add(key)
          this.reportState(entry, key)
        }
        if (cancelled.length > 0) {
          entry.reports({ _tag: "CancelledKeys", keys: cancelled, reason: "unknown dependency" })
        }
        return
      }
      case "DesireKeys": {
        const target = message.client
        if (target !== undefined && target !== clientId) {
          let wants = this.pseudo.get(target)
          if (wants === undefined) this.pseudo.set(target, wants = new Set())
          for (const key of message.keys) wants.add(key)
          return
        }
        for (const key of message.keys) {
          if (!this.known(key)) this.placeholders.add(key)
          entry.wants.add(key)
          this.reportState(entry, key)
        }
        return
      }
      case "ReleaseKeys": {
        for (const key of message.keys) entry.wants.delete(key)
        this.forgetUnwanted(message.keys)
        return
      }
      case "Cancel": {
        for (const key of message.keys) this.cancelKey(key, entry, message.force)
        return
      }
      case "Heartbeat":
        return
      case "Close": {
        const keys = Array.from(entry.wants)
        entry.wants.clear()
        this.forgetUnwanted(keys)
        return
      }
    }
  }

  status(key: Key): KeyStatus {
    if (this.values.has(key)) return "memory"
    if (this.errors.has(key)) return "erred"
    if (this.tasks.has(key)) return "pending"
    return "missing"
  }

  session(clientId: string, sink: ReportSink): Session {
    const channels = this.channels
    const reports: ReportSink = (report) => {
      if (channels.held) channels.reports.push(() => sink(report))
      else sink(report)
    }
    const entry: ClientEntry = { wants: new Set(), reports }
    this.clients.set(clientId, entry)
    const values = this.values
    const scatterNow = (entries: ReadonlyArray<readonly [Key, unknown]>) => {
      for (const [key, value] of entries) {
        this.values.set(key, { value, nbytes: sizeOf(value), type: typeof value })
        entry.wants.add(key)
        entry.reports({ _tag: "KeyInMemory", key })
      }
    }
    return {
      clientId,
      send: (message) => {
        if (!channels.held) {
          this.handle(clientId, entry, message)
          return undefined
        }
        const item: StreamItem = { clientId, message, run: () => this.handle(clientId, entry, item.message) }
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
      keyStatus: (keys) => Effect.sync(() => new Map(keys.map((key) => [key, this.status(key)] as const))),
      check: (_task: Task.Any) => undefined,
      prepare: (_task: Task.Any, _args: ReadonlyArray<unknown>) => undefined,
      gather: (keys) =>
        Effect.suspend(() => {
          const out = new Map<Key, unknown>()
          for (const key of keys) {
            const v = values.get(key)
            if (v === undefined) return Effect.fail(new LostDataError({ key }))
            out.set(key, v.value)
          }
          return Effect.succeed(out)
        }),
      scatter: (entries) =>
        channels.held
          ? Effect.async<void>((resume) => {
            channels.calls.push(() => {
              scatterNow(entries)
              resume(Effect.void)
            })
          })
          : Effect.sync(() => scatterNow(entries)),
      whoHas: (keys) =>
        Effect.sync(() => {
          const out: Record<Key, ReadonlyArray<string>> = {}
          for (const key of keys ?? values.keys()) out[key] = values.has(key) ? [this.worker] : []
          return out
        }),
      hasWhat: () => Effect.sync(() => ({ [this.worker]: Array.from(values.keys()) })),
      nbytes: (keys) =>
        Effect.sync(() => {
          const out: Record<Key, number> = {}
          for (const key of keys ?? values.keys()) {
            const v = values.get(key)
            if (v !== undefined) out[key] = v.nbytes
          }
          return out
        }),
      workers: () =>
        Effect.sync(() => {
          let bytes = 0
          for (const v of values.values()) bytes += v.nbytes
          return [{ address: this.worker, nthreads: 1, bytes, keys: values.size, memoryLimit: undefined }]
        }),
      publishDataset: (name, keys, override) =>
        Effect.sync(() => {
          if (this.datasets.has(name) && !override) return
          this.datasets.set(name, keys)
          this.pseudo.set(`published-${name}`, new Set(keys))
        }),
      getDataset: (name) => Effect.sync(() => Option.fromNullable(this.datasets.get(name))),
      unpublishDataset: (name) =>
        Effect.sync(() => {
          const keys = this.datasets.get(name) ?? []
          this.datasets.delete(name)
          this.pseudo.get(`published-${name}`)?.clear()
          this.forgetUnwanted(keys)
        }),
      listDatasets: () => Effect.sync(() => Array.from(this.datasets.keys()))
    }
  }

  get worker() {
    return `${this.address}/worker-0`
  }

  /** Offers a report to every client that wants `key`. */
  broadcast(key: Key, report: SchedulerReport): void {
    for (const entry of this.wanters(key)) entry.reports(report)
  }
}

/** msgpack-ish size estimate: enough for tests that look at bytes. */
const sizeOf = (value: unknown): number => {
  if (typeof value === "string") return value.length
  if (value instanceof Uint8Array) return value.byteLength
  if (typeof value === "number") return 8
  try {
    return JSON.stringify(value)?.length ?? 8
  } catch {
    return 8
  }
}

/** @internal */
export { sizeOf }
