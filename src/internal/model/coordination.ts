/**
 * Dask's coordination extensions as one in-process model (`VariableExtension`,
 * `QueueExtension`, `EventExtension`, `LockExtension` of distributed), shared
 * by the embedded and the test scheduler. A key held by a Variable or Queue
 * is wanted by the pseudo-client `variable-<name>` / `queue-<name>`, through
 * the scheduler's own desire/release, exactly as Dask does it; the getter's
 * confirmation (`Received`) lets the slot go only after the getter desired
 * the key.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ProtocolError, type SchedulerError } from "../../Errors.js"
import type { Coordination, Key, Received, Shared } from "../../Scheduler.js"

/** The scheduler primitives the model drives. @internal */
export interface Interest {
  /** `client_desires_keys` on behalf of a pseudo-client. */
  readonly desire: (client: string, keys: ReadonlyArray<Key>) => void
  /** `client_releases_keys` on behalf of a pseudo-client. */
  readonly release: (client: string, keys: ReadonlyArray<Key>) => void
  /** `remove_client` of a pseudo-client. */
  readonly remove: (client: string) => void
}

/** Wakes waiters; each waiter re-checks its condition (they are cheap, and rare). */
class Signal {
  private waiters = new Set<() => void>()
  notify(): void {
    const ws = this.waiters
    this.waiters = new Set()
    for (const w of ws) w()
  }
  get wait(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const w = () => resume(Effect.void)
      this.waiters.add(w)
      return Effect.sync(() => void this.waiters.delete(w))
    })
  }
}

/** Retries `attempt` after each signal until it gives a value; `none` when the timeout passes first. */
const waitUntil = <A>(
  signal: Signal,
  attempt: () => A | undefined,
  timeout: Duration.Duration | undefined
): Effect.Effect<Option.Option<A>> => {
  const loop: Effect.Effect<A> = Effect.suspend(() => {
    const a = attempt()
    return a !== undefined ? Effect.succeed(a) : Effect.zipRight(signal.wait, loop)
  })
  if (timeout === undefined) return Effect.asSome(loop)
  return Effect.suspend(() => {
    const a = attempt()
    if (a !== undefined) return Effect.succeedSome(a)
    return Duration.isZero(timeout) ? Effect.succeedNone : Effect.timeoutOption(loop, timeout)
  })
}

interface QueueState {
  readonly items: Array<Shared>
  readonly maxsize: number
  refs: number
}

const missing = (what: string, name: string) =>
  new ProtocolError({ reason: "UnexpectedReply", message: `no ${what} named ${JSON.stringify(name)}` })

/** @internal */
export class CoordinationModel {
  readonly variables = new Map<string, Shared>()
  /** Tokens handed out by `variableGet` and not yet confirmed, per variable and key. */
  private readonly tokens = new Map<string, Map<Key, Set<string>>>()
  /** Keys a variable let go of (overwritten or deleted) but still owes to unconfirmed getters. */
  private readonly owed = new Map<string, Set<Key>>()
  readonly queues = new Map<string, QueueState>()
  /** Items of each key handed out by a queue and not yet confirmed, or still in it. */
  private readonly queueKeys = new Map<string, Map<Key, number>>()
  readonly events = new Map<string, boolean>()
  readonly locks = new Map<string, string>()
  private readonly changed = new Signal()
  private nextToken = 0

  constructor(private readonly interest: Interest) {}

  // ---- variables ---------------------------------------------------------

  private releaseVariableKey(name: string, key: Key): void {
    const pending = this.tokens.get(name)?.get(key)
    if (pending !== undefined && pending.size > 0) {
      let owed = this.owed.get(name)
      if (owed === undefined) this.owed.set(name, owed = new Set())
      owed.add(key)
      return
    }
    this.tokens.get(name)?.delete(key)
    this.interest.release(`variable-${name}`, [key])
  }

  variableSet(name: string, value: Shared): void {
    if (value._tag === "Key") this.interest.desire(`variable-${name}`, [value.key])
    const old = this.variables.get(name)
    this.variables.set(name, value)
    if (old?._tag === "Key" && (value._tag !== "Key" || value.key !== old.key)) this.releaseVariableKey(name, old.key)
    this.changed.notify()
  }

  variableGet(name: string, timeout: Duration.Duration | undefined): Effect.Effect<Option.Option<Received>> {
    return waitUntil(this.changed, (): Received | undefined => {
      const v = this.variables.get(name)
      if (v === undefined) return undefined
      if (v._tag === "Data") return v
      const token = `t${++this.nextToken}`
      let byKey = this.tokens.get(name)
      if (byKey === undefined) this.tokens.set(name, byKey = new Map())
      let set = byKey.get(v.key)
      if (set === undefined) byKey.set(v.key, set = new Set())
      set.add(token)
      return { _tag: "Key", key: v.key, token }
    }, timeout)
  }

  /** The getter now desires `key`: the variable may let go of it. */
  variableReceived(name: string, key: Key, token: string | undefined): void {
    const set = this.tokens.get(name)?.get(key)
    if (set === undefined || token === undefined || !set.delete(token) || set.size > 0) return
    const owed = this.owed.get(name)
    if (owed?.delete(key) === true) {
      this.tokens.get(name)?.delete(key)
      this.interest.release(`variable-${name}`, [key])
    }
  }

  variableDelete(name: string): void {
    const old = this.variables.get(name)
    this.variables.delete(name)
    if (old?._tag === "Key") this.releaseVariableKey(name, old.key)
    // Dask removes the pseudo-client once the key is let go; here it keeps what is still owed.
    if ((this.owed.get(name)?.size ?? 0) === 0) {
      this.owed.delete(name)
      this.tokens.delete(name)
      this.interest.remove(`variable-${name}`)
    }
  }

  // ---- queues ------------------------------------------------------------

  queueCreate(name: string, maxsize: number): void {
    const q = this.queues.get(name)
    if (q === undefined) this.queues.set(name, { items: [], maxsize, refs: 1 })
    else q.refs++
  }

  queuePut(name: string, value: Shared, timeout: Duration.Duration | undefined): Effect.Effect<boolean, SchedulerError> {
    return Effect.suspend(() => {
      if (!this.queues.has(name)) return Effect.fail(missing("queue", name))
      return Effect.map(
        waitUntil(this.changed, () => {
          const q = this.queues.get(name)
          if (q === undefined) return false // released while waiting
          if (q.maxsize > 0 && q.items.length >= q.maxsize) return undefined
          if (value._tag === "Key") {
            let counts = this.queueKeys.get(name)
            if (counts === undefined) this.queueKeys.set(name, counts = new Map())
            counts.set(value.key, (counts.get(value.key) ?? 0) + 1)
            this.interest.desire(`queue-${name}`, [value.key])
          }
          q.items.push(value)
          this.changed.notify()
          return true
        }, timeout),
        (put) => Option.getOrElse(put, () => false)
      )
    })
  }

  private take(name: string): Received | undefined {
    const q = this.queues.get(name)
    const item = q?.items.shift()
    if (item === undefined) return undefined
    this.changed.notify()
    return item._tag === "Key" ? { _tag: "Key", key: item.key, token: undefined } : item
  }

  queueGet(name: string, timeout: Duration.Duration | undefined): Effect.Effect<Option.Option<Received>, SchedulerError> {
    return Effect.suspend(() =>
      this.queues.has(name) ? waitUntil(this.changed, () => this.take(name), timeout) : Effect.fail(missing("queue", name))
    )
  }

  queueGetBatch(name: string, n: number | "available"): Effect.Effect<ReadonlyArray<Received>, SchedulerError> {
    return Effect.suspend(() => {
      const q = this.queues.get(name)
      if (q === undefined) return Effect.fail(missing("queue", name))
      if (n === "available") {
        const out: Array<Received> = []
        for (let r = this.take(name); r !== undefined; r = this.take(name)) out.push(r)
        return Effect.succeed(out)
      }
      return Effect.forEach(Array.from({ length: n }), () => Effect.map(waitUntil(this.changed, () => this.take(name), undefined), Option.getOrThrow))
    })
  }

  queueSize(name: string): Effect.Effect<number, SchedulerError> {
    return Effect.suspend(() => {
      const q = this.queues.get(name)
      return q === undefined ? Effect.fail(missing("queue", name)) : Effect.succeed(q.items.length)
    })
  }

  /** The getter now desires `key`: the queue lets go of one item of it. */
  queueReceived(name: string, key: Key): void {
    const counts = this.queueKeys.get(name)
    const n = counts?.get(key)
    if (counts === undefined || n === undefined) return
    if (n > 1) return void counts.set(key, n - 1)
    counts.delete(key)
    this.interest.release(`queue-${name}`, [key])
  }

  queueRelease(name: string): void {
    const q = this.queues.get(name)
    if (q === undefined || --q.refs > 0) return
    this.queues.delete(name)
    const keys: Array<Key> = []
    for (const item of q.items) if (item._tag === "Key") keys.push(item.key)
    if (keys.length > 0) this.interest.release(`queue-${name}`, keys)
    this.changed.notify()
  }

  // ---- events and locks --------------------------------------------------

  eventWait(name: string, timeout: Duration.Duration | undefined): Effect.Effect<boolean> {
    return Effect.map(waitUntil(this.changed, () => (this.events.get(name) === true ? true : undefined), timeout), Option.isSome)
  }

  eventSet(name: string): void {
    this.events.set(name, true)
    this.changed.notify()
  }

  eventClear(name: string): void {
    this.events.delete(name)
  }

  lockAcquire(name: string, id: string, timeout: Duration.Duration | undefined): Effect.Effect<boolean> {
    return Effect.map(
      waitUntil(this.changed, () => {
        const holder = this.locks.get(name)
        if (holder !== undefined && holder !== id) return undefined
        this.locks.set(name, id)
        return true
      }, timeout),
      Option.isSome
    )
  }

  lockRelease(name: string, id: string): Effect.Effect<void, SchedulerError> {
    return Effect.suspend(() => {
      if (this.locks.get(name) !== id) {
        return Effect.fail(new ProtocolError({ reason: "UnexpectedReply", message: `lock ${JSON.stringify(name)} is not held by this holder` }))
      }
      this.locks.delete(name)
      this.changed.notify()
      return Effect.void
    })
  }

  /** Everything goes (the scheduler restarted or closed); waiters stay waiting, as on a fresh scheduler. */
  clear(): void {
    this.variables.clear()
    this.tokens.clear()
    this.owed.clear()
    this.queues.clear()
    this.queueKeys.clear()
    this.events.clear()
    this.locks.clear()
  }

  /** The protocol's request/reply side over this model. */
  get coordination(): Coordination {
    return {
      variableSet: (name, value) => Effect.sync(() => this.variableSet(name, value)),
      variableGet: (name, timeout) => this.variableGet(name, timeout),
      queueCreate: (name, maxsize) => Effect.sync(() => this.queueCreate(name, maxsize)),
      queuePut: (name, value, timeout) => this.queuePut(name, value, timeout),
      queueGet: (name, timeout) => this.queueGet(name, timeout),
      queueGetBatch: (name, n) => this.queueGetBatch(name, n),
      queueSize: (name) => this.queueSize(name),
      eventWait: (name, timeout) => this.eventWait(name, timeout),
      eventSet: (name) => Effect.sync(() => this.eventSet(name)),
      eventClear: (name) => Effect.sync(() => this.eventClear(name)),
      eventIsSet: (name) => Effect.sync(() => this.events.get(name) === true),
      lockAcquire: (name, id, timeout) => this.lockAcquire(name, id, timeout),
      lockRelease: (name, id) => this.lockRelease(name, id)
    }
  }

  /** The stream side: a getter's confirmation, a variable's deletion, a queue's release. */
  handle(message: { readonly _tag: "Received"; readonly kind: "variable" | "queue"; readonly name: string; readonly key: Key; readonly token: string | undefined } | { readonly _tag: "VariableDelete"; readonly name: string } | { readonly _tag: "QueueRelease"; readonly name: string }): void {
    switch (message._tag) {
      case "Received":
        return message.kind === "variable"
          ? this.variableReceived(message.name, message.key, message.token)
          : this.queueReceived(message.name, message.key)
      case "VariableDelete":
        return this.variableDelete(message.name)
      case "QueueRelease":
        return this.queueRelease(message.name)
    }
  }
}
