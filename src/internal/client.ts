import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Tracer from "effect/Tracer"
import type { FutureError, SchedulerError } from "../Errors.js"
import {
  CancelledError,
  ClientClosedError,
  DecodeError,
  LostDataError,
  NoClientError,
  RemoteError
} from "../Errors.js"
import { InvalidOptionsError, UnsupportedTaskError } from "../Errors.js"
import type {
  Key,
  KeyStatus,
  Received,
  ReportSink,
  SchedulerReport,
  ScatterOptions,
  Session,
  TaskOptions,
  TaskSpec,
  WorkerInfo
} from "../Scheduler.js"
import { KeyRef } from "../Scheduler.js"
import type * as Client from "../Client.js"
import type * as Task from "../Task.js"
import * as metrics from "./metrics.js"
import { checkKeys, checkScatterOptions, taskOptions } from "./options.js"
import { KeyGen, makeKey, randomToken, tokenize, typeName } from "./tokenize.js"

/** @internal */
export const FutureTypeId: unique symbol = Symbol.for("effect-dask/Future") as any

/** @internal */
export type Status = "pending" | "finished" | "error" | "cancelled" | "lost"

/**
 * A client's connection, as `Client.status` shows it (defined in the public
 * module, so that the API reference shows its cases).
 * @internal
 */
export type ConnectionStatus = Client.ConnectionStatus

/**
 * Where a handle was acquired, when call-site tracking is on.
 * @internal
 */
export interface CallSite {
  /** The stack where the acquiring effect was built (formatted lazily; see `internal/memory.ts` for the user frame). */
  readonly stack: string
  /** Names of the enclosing spans, innermost first, joined by " < ". */
  readonly span: string | undefined
  /** Where the innermost span not opened by this library was created (Effect's span trace), when known. */
  readonly spanTrace: string | undefined
  readonly at: number
}

/**
 * The shared state of one key for one client (Dask's `FutureState`), with the
 * client's reference count on the key. Listeners are plain callbacks: waiting
 * costs nothing until someone waits, and `asCompleted` needs no fiber per key.
 * @internal
 */
export class KeyState {
  /**
   * Status code (low 3 bits), `scattering` and `unconfirmed` bits, and above
   * them the reference count: one field, keys are numerous. The count is
   * added and read arithmetically, so it stays exact past 2^26.
   */
  private bits = 0
  /**
   * Until the status is final: the listeners (undefined when nobody waits).
   * Once final: the failure, or (cancelled) the reason as text (the error is
   * built only when someone asks: errors capture stacks). One field for both,
   * as listeners fire and leave when the status becomes final.
   */
  private aux: (() => void) | Set<() => void> | FutureError | string | undefined = undefined
  type: string | undefined = undefined
  nbytes: number | undefined = undefined
  constructor(
    readonly key: Key,
    /** Milliseconds from the client's `openedAt`: a small integer, not a boxed timestamp per key. */
    readonly bornAt: number
  ) {}

  get status(): Status {
    return STATUSES[this.bits & STATUS_MASK]!
  }

  /** This client's references (handles) on the key. */
  get count(): number {
    return (this.bits - (this.bits & LOW_BITS)) / COUNT_UNIT
  }
  set count(count: number) {
    this.bits = (this.bits & LOW_BITS) + count * COUNT_UNIT
  }

  /**
   * Adds a waiter's callback, run once when the status becomes final (kept
   * as the function itself while it is the only one); false when it is
   * already there or the status is final (nothing more to wait for).
   */
  listen(listener: () => void): boolean {
    if (this.done) return false
    const listeners = this.aux as (() => void) | Set<() => void> | undefined
    if (listeners === undefined) {
      this.aux = listener
    } else if (typeof listeners === "function") {
      if (listeners === listener) return false
      this.aux = new Set([listeners, listener])
    } else {
      if (listeners.has(listener)) return false
      listeners.add(listener)
    }
    return true
  }

  unlisten(listener: () => void): void {
    if (this.done) return
    const listeners = this.aux as (() => void) | Set<() => void> | undefined
    if (listeners === listener) this.aux = undefined
    else if (typeof listeners === "object") listeners.delete(listener)
  }

  /**
   * A scatter of this key is in flight. Its release waits for the reply (a
   * release on the stream could overtake the scatter RPC), and so does a
   * graph that depends on it.
   */
  get scattering(): boolean {
    return (this.bits & SCATTERING) !== 0
  }
  set scattering(on: boolean) {
    this.setFlag(SCATTERING, on)
  }
  /**
   * Acquired by name (a desire) and not yet reported on by the scheduler: it
   * may not exist there. A graph depending on it checks first (a Dask 2022.12
   * worker crashes on a task whose dependency is the placeholder a desire of
   * an unknown key creates).
   */
  get unconfirmed(): boolean {
    return (this.bits & UNCONFIRMED) !== 0
  }
  set unconfirmed(on: boolean) {
    this.setFlag(UNCONFIRMED, on)
  }

  // Arithmetic, not `|`/`&~`: those would cut the count above 2^26 to 32 bits.
  private setFlag(flag: number, on: boolean): void {
    if (((this.bits & flag) !== 0) !== on) this.bits += on ? flag : -flag
  }

  get error(): FutureError | undefined {
    const aux = this.aux
    return this.done && typeof aux !== "string" ? aux as FutureError | undefined : undefined
  }

  /** Only a final status carries an error (or a cancel reason). */
  settle(status: Status, error?: FutureError | string): void {
    const wasDone = this.done
    const code = STATUSES.indexOf(status)
    this.bits = this.bits - (this.bits & STATUS_MASK) + code
    if (code >= FINISHED && code <= CANCELLED) {
      const listeners = wasDone ? undefined : this.aux as (() => void) | Set<() => void> | undefined
      this.aux = error
      if (typeof listeners === "function") listeners()
      else if (listeners !== undefined) for (const listener of listeners) listener()
    } else if (wasDone) this.aux = undefined
  }

  cancel(reason: string): void {
    this.settle("cancelled", reason)
  }

  /** The failure a waiter sees, if the state is not finished. */
  failure(): FutureError | undefined {
    if (!this.done) return undefined
    const cause = this.aux as FutureError | string | undefined
    if (cause !== undefined && typeof cause !== "string") return cause
    if (this.status === "cancelled") return this.aux = new CancelledError({ key: this.key, reason: cause ?? "" })
    return undefined
  }

  get done(): boolean {
    const code = this.bits & STATUS_MASK
    return code >= FINISHED && code <= CANCELLED
  }
}

/**
 * Milliseconds as a small integer while they fit (24 days): a difference of
 * two timestamps is a double to the optimizing compiler, which would box it
 * in a heap number per key.
 */
const sinceOpen = (ms: number): number => ms >= 0 && ms <= 0x3fffffff ? ms | 0 : ms

/** Status codes: the final ones (finished, error, cancelled) are consecutive. */
const STATUSES: ReadonlyArray<Status> = ["pending", "finished", "error", "cancelled", "lost"]
const FINISHED = 1
const CANCELLED = 3
const STATUS_MASK = 7
const SCATTERING = 8
const UNCONFIRMED = 16
const LOW_BITS = 31
const COUNT_UNIT = 32

const RELEASED = 1
const DETACHED = 2
const FLAG_BITS = 3
/** A handle's slot in its bag sits above the flag bits (a Smi: 2^29 handles in one scope would not fit in a heap anyway). */
const SLOT_SHIFT = 2

/**
 * An empty array already of object elements. Started as `[]` (small-integer
 * elements), an array's first push changed its elements kind, which the
 * optimized loop filling it, fed by the previous call's array, had not seen:
 * it deoptimized ("not a Smi") and was recompiled on every map (~25 ms of
 * compiler time per 10k-task map on Dask). For arrays that loops fill.
 */
const emptyObjects = <A>(): Array<A> => {
  const items: Array<A> = [undefined as A]
  items.length = 0
  return items
}

const emptyItems = (): Array<FutureImpl<any, any> | undefined> => emptyObjects()

/**
 * The handles one scope holds for one client; `closed` once the scope's
 * finalizer ran. An array, not a Set: a handle costs one slot, not a hash
 * entry. Each handle knows its slot (in `flags`); a release empties the slot
 * (pops it when last, as acquire-then-release does), and once empty slots
 * reach half the array one pass closes the gaps.
 * @internal
 */
export class Bag {
  closed = false
  constructor(readonly client: ClientImpl) {}
  private items = emptyItems()
  private empty = 0
  add(f: FutureImpl<any, any>): void {
    f.flags = (f.flags & FLAG_BITS) | (this.items.length << SLOT_SHIFT)
    this.items.push(f)
  }
  remove(f: FutureImpl<any, any>): void {
    const items = this.items
    const slot = f.flags >>> SLOT_SHIFT
    if (slot === items.length - 1) {
      items.pop()
      return
    }
    items[slot] = undefined
    if (++this.empty >= 32 && this.empty * 2 >= items.length) {
      let w = 0
      for (let r = 0; r < items.length; r++) {
        const g = items[r]
        if (g === undefined) continue
        g.flags = (g.flags & FLAG_BITS) | (w << SLOT_SHIFT)
        items[w++] = g
      }
      items.length = w
      this.empty = 0
    }
  }
  /** Empties the bag; returns what it held (with empty slots: callers skip them). */
  takeAll(): ReadonlyArray<FutureImpl<any, any> | undefined> {
    const items = this.items
    this.items = emptyItems()
    this.empty = 0
    return items
  }
}

/** What the GC backstop needs; it must not reference the Future itself. @internal */
interface GcHeld {
  readonly client: ClientImpl
  readonly key: Key
  readonly state: KeyState
  readonly site: CallSite | undefined
}

const gcRegistry = globalValue(
  Symbol.for("effect-dask/FutureFinalizationRegistry"),
  () => new FinalizationRegistry<GcHeld>((held) => held.client.gcRelease(held))
)

/**
 * One handle on a key. Every Future object is one reference.
 * @internal
 */
export class FutureImpl<A = unknown, E = never> {
  // On the prototype, not per handle: handles are the hot, numerous objects.
  declare readonly [FutureTypeId]: typeof FutureTypeId
  declare readonly _A: A
  declare readonly _E: E
  /** RELEASED | DETACHED bits, and above them the slot in `bag`: one field, handles are the numerous objects. */
  flags = 0
  /** The bag holding it (which knows the client), else the client: one field for both. */
  private owner: ClientImpl | Bag
  constructor(
    client: ClientImpl,
    /** Identity matters: a restart or cancel replaces the key's state, and older handles then count for nothing. */
    readonly state: KeyState,
    readonly schema: Schema.Schema<A, any> | undefined
  ) {
    this.owner = client
  }
  get client(): ClientImpl {
    const owner = this.owner
    return owner instanceof Bag ? owner.client : owner
  }
  /** The bag of the scope holding it, until released. */
  get bag(): Bag | undefined {
    const owner = this.owner
    return owner instanceof Bag ? owner : undefined
  }
  set bag(bag: Bag | undefined) {
    this.owner = bag ?? this.client
  }
  get released(): boolean {
    return (this.flags & RELEASED) !== 0
  }
  get detached(): boolean {
    return (this.flags & DETACHED) !== 0
  }
  get key(): Key {
    return this.state.key
  }
  /** Where it was acquired, when its client tracks call sites (kept beside the handle, not in it: few clients track). */
  get site(): CallSite | undefined {
    const client = this.client
    return client.live === undefined ? undefined : client.live.get(this) ?? client.detachedSites!.get(this)
  }
  get status(): Status {
    return this.state.status
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
  toJSON() {
    return { _id: "Future", key: this.key, status: this.state.status, client: this.client.id }
  }
  toString() {
    return `Future(${this.key}, ${this.state.status})`
  }
  [Symbol.for("nodejs.util.inspect.custom")]() {
    return this.toJSON()
  }
}
Object.defineProperty(FutureImpl.prototype, FutureTypeId, { value: FutureTypeId })

/** @internal */
export const isFuture = (u: unknown): u is FutureImpl<any, any> => typeof u === "object" && u !== null && FutureTypeId in u

/**
 * A task's dependencies, each key once, in first-seen order. A Set only past
 * a few entries: most tasks have none or one or two, and a fan-in of N
 * futures stays linear.
 */
class Deps {
  readonly keys: Array<Key> = []
  readonly futures: Array<FutureImpl<any, any>> = []
  private seen: Set<Key> | undefined = undefined
  add(f: FutureImpl<any, any>): void {
    const key = f.state.key
    if (this.seen !== undefined) {
      if (this.seen.has(key)) return
      this.seen.add(key)
    } else if (this.keys.length < 8) {
      if (this.keys.includes(key)) return
    } else {
      this.seen = new Set(this.keys)
      if (this.seen.has(key)) return
      this.seen.add(key)
    }
    this.keys.push(key)
    this.futures.push(f)
  }
}

const NO_KEYS: ReadonlyArray<Key> = Object.freeze([])

/** How a submission names its keys (see `prepareAll`). */
interface Naming {
  readonly prefix: string
  /** `submit(key=)`: the prefix is the key. */
  readonly single: boolean
  /** A `map` key list. */
  readonly keys: ReadonlyArray<Key> | undefined
  /** Keys from a token of the task and its arguments, else `prefix-<counter>`. */
  readonly pure: boolean
}

/** The distinct keys of the finished futures, or (with `raise`) the failure of the first that is not. */
const finishedKeys = (
  futures: ReadonlyArray<FutureImpl<any, any>>,
  errors: "raise" | "skip",
  keys: Array<Key>,
  seen: Set<Key>
): Array<Key> | FutureError => {
  for (let i = 0; i < futures.length; i++) {
    const f = futures[i]!
    const st = f.state
    if (st.status === "finished") {
      if (!seen.has(f.key)) {
        seen.add(f.key)
        keys.push(f.key)
      }
    } else if (errors === "raise") {
      return st.failure() ?? new CancelledError({ key: f.key, reason: st.status })
    }
  }
  return keys
}

/** The gathered value of each future, in order (decoded by its schema, if any); with `skip`, only finished ones. */
const collectResults = <A>(
  futures: ReadonlyArray<FutureImpl<A, any>>,
  errors: "raise" | "skip",
  values: ReadonlyMap<Key, unknown>,
  results: Array<A>
): Array<A> | FutureError => {
  for (let i = 0; i < futures.length; i++) {
    const f = futures[i]!
    if (f.state.status !== "finished" && errors === "skip") continue
    if (!values.has(f.key)) return new LostDataError({ key: f.key })
    const value = values.get(f.key)
    if (f.schema === undefined) {
      results.push(value as A)
    } else {
      const decoded = Schema.decodeUnknownEither(f.schema)(value)
      if (decoded._tag === "Left") return new DecodeError({ serializer: "schema", message: decoded.left.message })
      results.push(decoded.right)
    }
  }
  return results
}

/**
 * Replaces futures in task arguments by KeyRefs (at any depth of arrays and
 * plain objects), collecting their keys as dependencies.
 */
const replaceFutures = (value: unknown, deps: Deps, depth: number): unknown => {
  if (typeof value !== "object" || value === null || depth > 32) return value
  if (isFuture(value)) {
    deps.add(value)
    return new KeyRef(value.state.key)
  }
  if (Array.isArray(value)) {
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const r = replaceFutures(value[i], deps, depth + 1)
      if (r !== value[i]) {
        out ??= value.slice()
        out[i] = r
      }
    }
    return out ?? value
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    let out: Record<string, unknown> | undefined
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k]
      const r = replaceFutures(v, deps, depth + 1)
      if (r !== v) {
        out ??= { ...(value as Record<string, unknown>) }
        out[k] = r
      }
    }
    return out ?? value
  }
  return value
}

/**
 * The futures in a nested structure (arrays and plain objects, at any depth
 * the argument walker goes), each key once, in first-seen order.
 * @internal
 */
export const futuresOf = (value: unknown): Array<FutureImpl<any, any>> => {
  const deps = new Deps()
  replaceFutures(value, deps, 0)
  return deps.futures
}

/**
 * Waits until every future is finished, erred or cancelled (a lost key is
 * waited for, as in Dask): one suspension for the lot, not one per future.
 * @internal
 */
export const waitAll = (futures: ReadonlyArray<FutureImpl<any, any>>): Effect.Effect<void> =>
  Effect.suspend(() => {
    let first = 0
    while (first < futures.length && futures[first]!.state.done) first++
    if (first === futures.length) return Effect.void
    return Effect.async<void>((resume) => {
      let remaining = 0
      const listener = () => {
        if (--remaining === 0) resume(Effect.void)
      }
      const states = listenAll(futures, first, listener)
      remaining = states.length
      return Effect.sync(() => unlistenAll(states, listener))
    })
  })

/**
 * Adds `listener` to the state of each future from `first` on, each state
 * once (`listen` refuses a second add): an array, no Set of states. Top-level
 * functions, not loops in `waitAll`'s per-call closures: those were compiled
 * again for every wait.
 */
const listenAll = (futures: ReadonlyArray<FutureImpl<any, any>>, first: number, listener: () => void): Array<KeyState> => {
  const states: Array<KeyState> = []
  for (let i = first; i < futures.length; i++) {
    const st = futures[i]!.state
    if (st.listen(listener)) states.push(st)
  }
  return states
}

const unlistenAll = (states: ReadonlyArray<KeyState>, listener: () => void): void => {
  for (const st of states) st.unlisten(listener)
}

/**
 * Where a session delivers reports: a plain array, processed once per
 * microtask by the client, in order. Never re-entrant: a report delivered
 * while the buffer is being processed (a backend answering a message the
 * client sent from a report) is processed by the same pass. No fiber, no
 * Deferred, no Queue per report.
 * @internal
 */
export class Inbox {
  private buffer: Array<SchedulerReport> = []
  private scheduled = false
  private handler: ((report: SchedulerReport) => void) | undefined = undefined
  /** Called for a defect thrown while processing a report (the pass goes on with the next one). */
  onDefect: (defect: unknown) => void = () => {}

  /** The sink given to `Scheduler.connect`. */
  readonly sink: ReportSink = (report) => {
    this.buffer.push(report)
    if (!this.scheduled && this.handler !== undefined) this.schedule()
  }

  /** Starts processing (reports delivered before are processed first). */
  attach(handler: (report: SchedulerReport) => void): void {
    this.handler = handler
    if (this.buffer.length > 0 && !this.scheduled) this.schedule()
  }

  /** Stops processing; what is left is dropped. */
  detach(): void {
    this.handler = undefined
    this.buffer = []
  }

  private schedule(): void {
    this.scheduled = true
    queueMicrotask(this.drain)
  }

  private readonly drain = (): void => {
    // Index loop over a live array: reports appended during the pass are taken by it.
    const buffer = this.buffer
    for (let i = 0; i < buffer.length; i++) {
      const handler = this.handler
      if (handler === undefined) break
      try {
        handler(buffer[i]!)
      } catch (defect) {
        this.onDefect(defect)
      }
    }
    if (this.buffer === buffer) this.buffer = []
    this.scheduled = false
  }
}

/**
 * What one submit / map call adds to its task: an explicit key (submit) or
 * key prefix / key list (map), purity, and scheduling options.
 * @internal
 */
export interface SubmitCall {
  readonly key?: string | ReadonlyArray<string> | undefined
  readonly pure?: boolean | undefined
  readonly options?: TaskOptions | undefined
  /** A `submit`: a string key is the key itself, not a prefix. */
  readonly single?: boolean | undefined
}

/** @internal */
export interface ClientOptions {
  readonly id?: string | undefined
  readonly trackCallSites?: boolean | undefined
}

/**
 * The client: one reference count and one shared state per key, one finalizer
 * per user scope (not per handle), and the report loop.
 * @internal
 */
export class ClientImpl {
  readonly states = new Map<Key, KeyState>()
  /** Bumped by every restart (handles of an older generation hold replaced states, so they count for nothing). */
  generation = 0
  /** Callbacks run once the next `Restart` report has been processed (see {@link restart}). */
  private restartWaiters: Array<() => void> = []
  closed = false
  /** Handles acquired per user scope; the scope holds one finalizer that releases its bag. */
  private readonly bags = new WeakMap<Scope.Scope, Bag>()
  /** Live handles with call sites, when tracking is on. */
  readonly live: Map<FutureImpl<any, any>, CallSite> | undefined
  /** Call sites of detached handles, when tracking is on (weakly: the GC backstop must still collect them). */
  readonly detachedSites: WeakMap<FutureImpl<any, any>, CallSite> | undefined
  /** Live detached handles' call sites, when tracking is on: held by site, not handle, so the GC backstop can still run. */
  readonly liveDetached: Map<CallSite, Key> | undefined
  /** Effects run just before the client closes (leak reports); see `Memory.onLeaks`. */
  readonly closeHooks: Array<(client: ClientImpl) => Effect.Effect<void>> = []
  /** Call sites of handles the GC backstop released, when tracking is on (bounded). */
  readonly gcReleased: Array<{ readonly key: Key; readonly site: CallSite | undefined }> = []
  readonly openedAt: number
  /** Keys of impure submissions: a random prefix per client and a counter. */
  readonly keys = new KeyGen()
  private readonly counters: metrics.ClientCounters

  constructor(
    readonly id: string,
    readonly session: Session,
    readonly address: string,
    readonly clock: Clock.Clock,
    readonly trackCallSites: boolean
  ) {
    this.live = trackCallSites ? new Map() : undefined
    this.detachedSites = trackCallSites ? new WeakMap() : undefined
    this.liveDetached = trackCallSites ? new Map() : undefined
    if (trackCallSites) tracking.clients++
    this.openedAt = clock.unsafeCurrentTimeMillis()
    this.counters = new metrics.ClientCounters(metrics.clientLabels(id))
  }

  // ---- reference counting --------------------------------------------------

  private newHandle<A>(state: KeyState, schema: Schema.Schema<A, any> | undefined, fiber: Fiber.RuntimeFiber<any, any>, eager?: StackHolder) {
    const f = new FutureImpl<A, any>(this, state, schema)
    if (this.live !== undefined) this.live.set(f, captureSite(fiber, this.clock, eager))
    return f
  }

  /** Takes a reference on `key`, sending desire when it is the first and `desire` is set. */
  private ref(key: Key, desire: boolean): KeyState {
    let st = this.states.get(key)
    if (st === undefined) {
      if (this.releasing.size !== 0) this.reacquire(key)
      st = new KeyState(key, sinceOpen(this.clock.unsafeCurrentTimeMillis() - this.openedAt))
      this.states.set(key, st)
    }
    if (st.count === 0 && desire) {
      if (st.status === "pending") st.unconfirmed = true
      this.session.send({ _tag: "DesireKeys", keys: [key] })
      this.counters.desires.update(1)
    }
    st.count++
    return st
  }

  /**
   * Runs `body` with the bag of the caller's scope, registering the scope's
   * single finalizer first (so an interruption in between acquires nothing).
   * In a scope that is already closed, handles are released as soon as they
   * are acquired, as `acquireRelease` does.
   */
  inScope<A, E>(body: (bag: Bag, fiber: Fiber.RuntimeFiber<any, any>) => Effect.Effect<A, E>): Effect.Effect<A, E | ClientClosedError, Scope.Scope> {
    return Effect.withFiberRuntime((fiber) => this.inScopeOf(fiber, body))
  }

  private inScopeOf<A, E>(
    fiber: Fiber.RuntimeFiber<any, any>,
    body: (bag: Bag, fiber: Fiber.RuntimeFiber<any, any>) => Effect.Effect<A, E>
  ): Effect.Effect<A, E | ClientClosedError> {
    if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }))
    const context = fiber.getFiberRef(FiberRef.currentContext)
    const open = this.openBag(context)
    if (open !== undefined) return body(open, fiber)
    const scope = Context.unsafeGet(context, Scope.Scope) as Scope.Scope
    const closed = this.bags.get(scope)
    if (closed !== undefined) return this.releasingAfter(closed, body(closed, fiber))
    const fresh = new Bag(this)
    this.bags.set(scope, fresh)
    return Effect.flatMap(
      Scope.addFinalizer(scope, Effect.sync(() => this.releaseBag(fresh))),
      (): Effect.Effect<A, E | ClientClosedError> =>
        this.closed
          ? Effect.fail(new ClientClosedError({ clientId: this.id }))
          : fresh.closed
          ? this.releasingAfter(fresh, body(fresh, fiber))
          : body(fresh, fiber)
    )
  }

  /**
   * The context of the last scope handles were taken in, and that scope's
   * open bag: a loop taking handles in one scope (one context object) skips
   * the scope and bag lookups. Cleared when the bag closes (a closed scope's
   * context is not kept) and when the client closes.
   */
  private lastContext: Context.Context<never> | undefined = undefined
  private lastBag: Bag | undefined = undefined

  /** The open bag of the context's scope, if it has one (remembered as the last scope). */
  private openBag(context: Context.Context<never>): Bag | undefined {
    if (context === this.lastContext) return this.lastBag
    const bag = this.bags.get(Context.unsafeGet(context, Scope.Scope) as Scope.Scope)
    if (bag === undefined || bag.closed) return undefined
    this.lastContext = context
    this.lastBag = bag
    return bag
  }

  /**
   * A handle on `key` in the fiber's scope. The hot path (scope already seen,
   * open) is a Map update and one allocation, no closure.
   */
  acquireFor<A>(
    fiber: Fiber.RuntimeFiber<any, any>,
    key: Key,
    schema: Schema.Schema<A, any> | undefined,
    eager?: StackHolder
  ): Effect.Effect<FutureImpl<A, any>, ClientClosedError> {
    if (!this.closed) {
      const bag = this.openBag(fiber.getFiberRef(FiberRef.currentContext))
      if (bag !== undefined) return Effect.succeed(this.take(fiber, key, schema, bag, eager))
    }
    return this.inScopeOf(fiber, (bag, fiber) => Effect.succeed(this.take(fiber, key, schema, bag, eager)))
  }

  private take<A>(fiber: Fiber.RuntimeFiber<any, any>, key: Key, schema: Schema.Schema<A, any> | undefined, bag: Bag, eager?: StackHolder): FutureImpl<A, any> {
    const f = this.newHandle(this.ref(key, true), schema, fiber, eager)
    f.bag = bag
    bag.add(f)
    return f
  }

  private releasingAfter<A, E>(bag: Bag, effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.ensuring(effect, Effect.sync(() => this.releaseBag(bag)))
  }

  /** A handle on `key` in the caller's scope. */
  acquire<A>(key: Key, schema?: Schema.Schema<A, any>): Effect.Effect<FutureImpl<A, any>, ClientClosedError, Scope.Scope> {
    // Called where the user builds the effect (Future.retain): that stack has their frame.
    const eager = this.live !== undefined ? stackHere() : undefined
    return Effect.withFiberRuntime((fiber) => this.acquireFor(fiber, key, schema, eager))
  }

  /** A handle owned by no scope: released by `release` or, failing that, by the GC backstop. */
  acquireDetached<A>(key: Key, schema: Schema.Schema<A, any> | undefined): Effect.Effect<FutureImpl<A, any>, ClientClosedError> {
    const eager = this.live !== undefined ? stackHere() : undefined
    return Effect.withFiberRuntime((fiber) => {
      if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }))
      const st = this.ref(key, true)
      const f = this.newHandle(st, schema, fiber, eager)
      f.flags |= DETACHED
      const site = this.live?.get(f)
      if (site !== undefined) {
        this.live!.delete(f)
        this.detachedSites!.set(f, site)
        this.liveDetached!.set(site, key)
      }
      gcRegistry.register(f, { client: this, key, state: st, site }, f)
      return Effect.succeed(f)
    })
  }

  /** Does this handle still count (client open, and its state is still the key's: restart and cancel replace it)? */
  private counts(f: FutureImpl<any, any>): boolean {
    return !this.closed && this.states.get(f.key) === f.state
  }

  /** Releases one handle; idempotent. Keys reaching zero go to `out`, or are released at once. */
  release(f: FutureImpl<any, any>, out?: Array<Key>): void {
    if (f.released) return
    f.flags |= RELEASED
    if (f.bag !== undefined) {
      f.bag.remove(f)
      f.bag = undefined
    } else if (f.detached) {
      gcRegistry.unregister(f)
      const site = this.detachedSites?.get(f)
      if (site !== undefined) this.liveDetached!.delete(site)
    }
    this.live?.delete(f)
    if (this.counts(f)) this.decrement(f.state, out)
  }

  private decrement(st: KeyState, out?: Array<Key>): void {
    st.count--
    if (st.count > 0) return
    if (st.count < 0) {
      // Guarded by `released` and `counts`: reaching here is a bug, not a user error.
      throw new Cause.IllegalArgumentException(`effect-dask: negative reference count for ${st.key}`)
    }
    this.states.delete(st.key)
    st.cancel("released")
    // The scatter's reply sends it: sent now, it could reach the scheduler before the scatter does.
    if (st.scattering) return
    if (out !== undefined) out.push(st.key)
    else this.sendRelease([st.key])
  }

  private sendRelease(keys: ReadonlyArray<Key>): void {
    if (keys.length === 0) return
    this.session.send({ _tag: "ReleaseKeys", keys })
    this.counters.releases.update(keys.length)
    const round = this.releaseRound
    if (this.barrierOut) this.lateRelease = true
    else if (!this.closed) {
      this.requestBarrier()
      // A session that processes messages as they are sent passes the barrier at once: nothing to remember.
      if (!this.barrierOut) return
    }
    for (let i = 0; i < keys.length; i++) this.releasing.set(keys[i]!, round)
  }

  // ---- per-key ordering across channels ------------------------------------
  //
  // The stream is ordered: a desire or graph sent after a release reaches the
  // scheduler after it. A scatter is a request/reply call on another channel,
  // so a scatter sent after a release could be processed first (the scheduler
  // then forgets the key the client just scattered). Each released key is
  // remembered until a barrier proves the scheduler processed its release.
  // Re-acquiring it meanwhile first withdraws the release if it is still
  // queued; a scatter whose release is already on the wire takes a fresh key
  // (waiting for the barrier would not be enough: the scheduler's `free-keys`
  // to the worker and its scatter to the worker travel on different comms).

  /** Keys whose release went to the session and is not yet known to be processed → the barrier round covering it. */
  private readonly releasing = new Map<Key, number>()
  private releaseRound = 0
  /** One barrier at a time; it covers releases of rounds up to `barrierRound`. */
  private barrierOut = false
  private barrierRound = 0
  /** A release was sent while the barrier was out (it is not covered by it). */
  private lateRelease = false
  private readonly onBarrier = () => this.barrierDone()

  private requestBarrier(): void {
    this.barrierOut = true
    this.barrierRound = this.releaseRound++
    this.session.barrier(this.onBarrier)
  }

  private barrierDone(): void {
    this.barrierOut = false
    if (!this.lateRelease) {
      // Clearing allocates a fresh table even when empty.
      if (this.releasing.size > 0) this.releasing.clear()
      return
    }
    this.lateRelease = false
    const round = this.barrierRound
    for (const [key, r] of this.releasing) if (r <= round) this.releasing.delete(key)
    if (this.releasing.size > 0 && !this.closed) this.requestBarrier()
  }

  /** A key is acquired again while its release may be pending: withdraw the release if it is still queued. */
  private reacquire(key: Key): void {
    if (this.releasing.has(key) && this.session.retract(key)) this.releasing.delete(key)
  }

  /**
   * The key a scatter of a value hashed to `key` uses: `key`, unless this
   * client's release of it may not have been processed yet and cannot be
   * withdrawn (then a fresh key of the same type).
   */
  private scatterKey(key: Key): Key {
    if (this.releasing.size === 0 || this.states.has(key) || !this.releasing.has(key)) return key
    if (this.session.retract(key)) {
      this.releasing.delete(key)
      return key
    }
    return makeKey(key.slice(0, key.lastIndexOf("-")), randomToken())
  }

  /** The scope finalizer: releases every handle of the bag in one message. */
  releaseBag(bag: Bag): void {
    bag.closed = true
    if (bag === this.lastBag) this.forgetLastScope()
    const out = this.releaseHandles(bag.takeAll(), emptyObjects())
    if (!this.closed) this.sendRelease(out)
  }

  private forgetLastScope(): void {
    this.lastContext = undefined
    this.lastBag = undefined
  }

  /** The loop of `releaseBag`, on its own (see `submitIn`): the keys whose last handle went. */
  private releaseHandles(handles: ReadonlyArray<FutureImpl<any, any> | undefined>, out: Array<Key>): Array<Key> {
    for (let i = 0; i < handles.length; i++) {
      const f = handles[i]
      if (f === undefined) continue
      f.bag = undefined
      this.release(f, out)
    }
    return out
  }

  /** Called by the FinalizationRegistry for a detached handle that was never released. */
  gcRelease(held: GcHeld): void {
    this.counters.gcReleases.update(1)
    if (held.site !== undefined) this.liveDetached?.delete(held.site)
    if (this.live !== undefined && this.gcReleased.length < 10_000) {
      this.gcReleased.push({ key: held.key, site: held.site })
    }
    if (!this.closed && this.states.get(held.key) === held.state) {
      this.decrement(held.state)
    }
  }

  /** Drops a key's state without telling the scheduler (it already let go): its handles become stale. */
  private detachKey(key: Key, reason: string): void {
    const st = this.states.get(key)
    if (st === undefined) return
    this.states.delete(key)
    st.count = 0
    st.cancel(reason)
  }

  // ---- reports ---------------------------------------------------------------

  onReport(report: SchedulerReport): void {
    if (this.closed) return
    switch (report._tag) {
      case "KeyInMemory": {
        const st = this.states.get(report.key)
        if (st === undefined) return
        st.unconfirmed = false
        st.type = report.type
        if (report.nbytes !== undefined) st.nbytes = report.nbytes
        st.settle("finished")
        return
      }
      case "TaskErred": {
        const st = this.states.get(report.key)
        if (st === undefined) return
        st.unconfirmed = false
        this.counters.errors.update(1)
        const { message, traceback, type } = report.error
        st.settle("error", RemoteError.fromText(report.key, type, message, traceback))
        return
      }
      case "CancelledKeys": {
        for (const key of report.keys) this.detachKey(key, report.reason)
        return
      }
      case "LostData": {
        const st = this.states.get(report.key)
        if (st !== undefined) {
          st.unconfirmed = false
          st.settle("lost")
        }
        return
      }
      case "TaskRetried": {
        const st = this.states.get(report.key)
        if (st !== undefined) st.settle("pending")
        return
      }
      case "Restart": {
        this.generation++
        for (const key of Array.from(this.states.keys())) {
          this.detachKey(key, "scheduler restarted")
        }
        const waiters = this.restartWaiters
        this.restartWaiters = []
        for (const w of waiters) w()
        return
      }
      case "ConnectionLost": {
        // Pending futures fail; finished (and erred) ones keep their outcome until the
        // reconnect tells what the scheduler still has.
        const held = (this.heldAtLoss ??= new Set())
        for (const st of this.states.values()) {
          held.add(st)
          if (!st.done) st.settle("error", report.error)
        }
        this.setStatus(
          report.final === true
            ? { _tag: "closed", address: this.address, cause: report.error }
            : { _tag: "reconnecting", address: this.address, cause: report.error }
        )
        return
      }
      case "Reconnected": {
        this.setStatus({ _tag: "running", address: this.address })
        const held = this.heldAtLoss
        this.heldAtLoss = undefined
        if (held === undefined) return
        // Still held (not released or replaced while disconnected).
        const states = Array.from(held).filter((st) => this.states.get(st.key) === st)
        if (states.length === 0) return
        if (report.restarted) return this.recover(states, undefined)
        this.fork(Effect.matchEffect(this.session.keyStatus(states.map((st) => st.key)), {
          // The stream is gone again: the next Reconnected checks these (they are still held).
          onFailure: () =>
            Effect.sync(() => {
              const again = (this.heldAtLoss ??= new Set())
              for (const st of states) again.add(st)
            }),
          onSuccess: (statuses) => Effect.sync(() => this.recover(states, statuses))
        }))
        return
      }
    }
  }


  // ---- connection status and recovery -----------------------------------------

  /** The connection status, for `Client.status` (set by `make`). */
  status: SubscriptionRef.SubscriptionRef<ConnectionStatus> | undefined = undefined
  /** Runs background work (reconnect recovery) in the client's scope (set by `make`). */
  fork: (effect: Effect.Effect<void>) => void = (effect) => void Effect.runFork(effect)
  /** States held when the connection was lost, to check against the scheduler once reconnected. */
  private heldAtLoss: Set<KeyState> | undefined = undefined

  private setStatus(status: ConnectionStatus): void {
    if (this.status !== undefined) Effect.runSync(SubscriptionRef.set(this.status, status))
  }

  /**
   * After a reconnect: the scheduler released this client's keys when the
   * old stream broke. Keys it still has (wanted by others, published, or
   * recomputing) are desired again and report their state; the others are
   * lost (`statuses` undefined: the scheduler restarted, it has nothing) and
   * are not desired again, so no empty placeholder is pinned for them.
   */
  private recover(states: ReadonlyArray<KeyState>, statuses: ReadonlyMap<Key, KeyStatus> | undefined): void {
    if (this.closed) return
    const desired: Array<Key> = []
    for (const st of states) {
      if (this.states.get(st.key) !== st) continue
      const status = statuses?.get(st.key) ?? "missing"
      if (status !== "missing") {
        desired.push(st.key)
        continue
      }
      // A pending future already failed with ConnectionLostError; a finished one is lost now.
      if (st.status === "finished" || st.status === "lost") {
        st.settle(
          "error",
          new LostDataError({
            key: st.key,
            reason: statuses === undefined ? "scheduler restarted" : "released by the scheduler when the connection was lost"
          })
        )
      }
    }
    if (desired.length > 0) {
      this.session.send({ _tag: "DesireKeys", keys: desired })
      this.counters.desires.update(desired.length)
    }
  }

  // ---- close -----------------------------------------------------------------

  /** Releases every key in one message, cancels all futures, says goodbye. The session scope is closed by the caller. */
  close(): void {
    if (this.closed) return
    const keys = Array.from(this.states.keys())
    this.sendRelease(keys)
    this.session.send({ _tag: "Close" })
    this.closed = true
    this.forgetLastScope()
    for (const st of this.states.values()) {
      st.count = 0
      st.cancel("client closed")
    }
    this.states.clear()
    this.setStatus({ _tag: "closed", address: this.address })
    if (this.live !== undefined) tracking.clients--
    unregisterClient(this)
  }

  // ---- submission --------------------------------------------------------------

  submitMany<A>(
    task: Task.Any,
    argLists: ReadonlyArray<ReadonlyArray<unknown>>,
    call?: SubmitCall
  ): Effect.Effect<
    Array<FutureImpl<A, any>>,
    UnsupportedTaskError | CancelledError | InvalidOptionsError | ClientClosedError | SchedulerError,
    Scope.Scope
  > {
    return this.inScope((bag, fiber) => this.submitIn<A>(task, argLists, call, bag, fiber))
  }

  /**
   * `submitMany` in the caller's scope. Methods, not closures made per call:
   * each new closure got its own optimized code, so every 10k-task map
   * compiled its loops again (twice, with on-stack replacement: ~25 ms). Each
   * loop is a method of its own, its inputs passed in, with nothing before or
   * after it: code that only ever ran on-stack-replaced, or before V8 gave the
   * function type feedback (a function called once per map gets it during its
   * first loop), has none, and V8 deoptimized there and recompiled the whole
   * function on the next maps.
   */
  private submitIn<A>(
    task: Task.Any,
    argLists: ReadonlyArray<ReadonlyArray<unknown>>,
    call: SubmitCall | undefined,
    bag: Bag,
    fiber: Fiber.RuntimeFiber<any, any>
  ): Effect.Effect<Array<FutureImpl<A, any>>, UnsupportedTaskError | CancelledError | InvalidOptionsError | SchedulerError> {
    const unsupported = this.session.check(task)
    if (unsupported !== undefined) return Effect.fail(unsupported)
    const options = taskOptions(call?.options)
    if (options instanceof InvalidOptionsError) return Effect.fail(options)
    const badKeys = checkKeys(call?.key, argLists.length, call?.single ?? false)
    if (badKeys !== undefined) return Effect.fail(badKeys)
    const explicit = call?.key
    const pure = call?.pure ?? task.pure
    const naming: Naming = typeof explicit === "string"
      ? { prefix: explicit, single: call?.single === true, keys: undefined, pure }
      : { prefix: task.name, single: false, keys: explicit, pure }
    const n = argLists.length
    // Compute every key (and the backend's prepared form) before taking any reference, so a bad argument leaks nothing.
    const keys: Array<Key> = new Array(n)
    const args: Array<ReadonlyArray<unknown>> = new Array(n)
    const dependencies: Array<ReadonlyArray<Key>> = new Array(n)
    const prepared: Array<unknown> = new Array(n)
    const stop = this.prepareAll(task, argLists, naming, keys, args, dependencies, prepared)
    if (stop instanceof FutureImpl) return this.afterDependency(stop, () => this.submitIn<A>(task, argLists, call, bag, fiber))
    if (stop !== undefined) return Effect.fail(stop)
    const specs: Array<TaskSpec> = emptyObjects()
    const wanted: Array<Key> = emptyObjects()
    const out: Array<FutureImpl<A, any>> = new Array(n)
    this.acquireAll(task, options, keys, args, dependencies, prepared, specs, wanted, bag, fiber, out)
    if (specs.length > 0) {
      const failed = this.session.send({ _tag: "UpdateGraph", tasks: specs, keys: wanted })
      if (failed !== undefined) {
        this.unsubmit(out, bag)
        return Effect.fail(failed)
      }
    }
    return Effect.succeed(out)
  }

  /**
   * Keys, arguments, dependencies and prepared forms of a submission; a
   * refusal, or the dependency to wait for when the scheduler may not have it
   * yet (a scatter under way, or a key acquired by name, unconfirmed).
   */
  private prepareAll(
    task: Task.Any,
    argLists: ReadonlyArray<ReadonlyArray<unknown>>,
    naming: Naming,
    keys: Array<Key>,
    args: Array<ReadonlyArray<unknown>>,
    dependencies: Array<ReadonlyArray<Key>>,
    prepared: Array<unknown>
  ): UnsupportedTaskError | CancelledError | FutureImpl<any, any> | undefined {
    // One Deps until a task has some: most tasks of a map have none.
    let deps = new Deps()
    for (let i = 0; i < keys.length; i++) {
      if (deps.keys.length > 0) deps = new Deps()
      const a = replaceFutures(argLists[i], deps, 0) as ReadonlyArray<unknown>
      for (let j = 0; j < deps.futures.length; j++) {
        const dep = deps.futures[j]!
        // As Dask: a cancelled (or released) future cannot be a dependency.
        if (dep.state.status === "cancelled") return dep.state.failure() as CancelledError
        // A future of a client on another scheduler names a key this one never had (it would wait, or be "lost").
        if (dep.client !== this && dep.client.address !== this.address) {
          return new UnsupportedTaskError({
            task: task.name,
            backend: this.address,
            message:
              `argument future ${dep.state.key} belongs to a client of ${dep.client.address}, not of ${this.address}: gather its value and pass that instead`
          })
        }
        // A graph on the stream could reach the scheduler before the scatter RPC that creates its dependency.
        if (dep.state.scattering || dep.state.unconfirmed) return dep
      }
      const p = this.session.prepare(task, a)
      if (p instanceof UnsupportedTaskError) return p
      // As Dask: an explicit key as is (`submit(key=)`, a `map` key list), else `prefix-<token>`.
      keys[i] = naming.single
        ? naming.prefix
        : naming.keys !== undefined
        ? naming.keys[i]!
        : naming.pure
        ? makeKey(naming.prefix, tokenize([task.name, task.python ?? null, a]))
        : this.keys.next(naming.prefix)
      args[i] = a
      dependencies[i] = deps.keys.length > 0 ? deps.keys : NO_KEYS
      prepared[i] = p
    }
    return undefined
  }

  /** Waits for the dependency that blocked a submission (its scatter, or its confirmation), then submits `again`. */
  private afterDependency<A, E>(dep: FutureImpl<any, any>, again: () => Effect.Effect<A, E>): Effect.Effect<A, E | SchedulerError> {
    return dep.state.scattering
      ? Effect.zipRight(waitAll([dep]), Effect.suspend(again))
      : this.confirmThen(dep.state, again)
  }

  /** One reference and one handle per task; the specs of keys new to this client. */
  private acquireAll<A>(
    task: Task.Any,
    options: TaskOptions | undefined,
    keys: ReadonlyArray<Key>,
    args: ReadonlyArray<ReadonlyArray<unknown>>,
    dependencies: ReadonlyArray<ReadonlyArray<Key>>,
    prepared: ReadonlyArray<unknown>,
    specs: Array<TaskSpec>,
    wanted: Array<Key>,
    bag: Bag,
    fiber: Fiber.RuntimeFiber<any, any>,
    out: Array<FutureImpl<A, any>>
  ): void {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const existing = this.states.get(key)
      const st = this.ref(key, false)
      if (existing === undefined) {
        const spec: { -readonly [K in keyof TaskSpec]: TaskSpec[K] } = { key, task, args: args[i]!, dependencies: dependencies[i]! }
        if (prepared[i] !== undefined) spec.prepared = prepared[i]
        if (options !== undefined) spec.options = options
        specs.push(spec)
        wanted.push(key)
      }
      const f = this.newHandle<A>(st, task.result, fiber)
      f.bag = bag
      bag.add(f)
      out[i] = f
    }
  }

  /**
   * A dependency acquired by name that the scheduler never reported on: ask
   * whether it has it before sending a graph on it. Missing fails the
   * submission with `LostDataError` ("unknown to the scheduler"); nothing is
   * sent, so no worker is ever asked to run a task on a key nobody computes.
   */
  private confirmThen<A, E>(st: KeyState, next: () => Effect.Effect<A, E>): Effect.Effect<A, E | SchedulerError> {
    return Effect.flatMap(this.session.keyStatus([st.key]), (statuses): Effect.Effect<A, E | SchedulerError> => {
      if ((statuses.get(st.key) ?? "missing") === "missing") {
        return Effect.fail(new LostDataError({ key: st.key, reason: "unknown to the scheduler" }))
      }
      st.unconfirmed = false
      return Effect.suspend(next)
    })
  }

  /** Takes back the handles of a submission the backend could not send: the scheduler never saw its new keys. */
  private unsubmit(handles: ReadonlyArray<FutureImpl<any, any>>, bag: Bag): void {
    for (const f of handles) {
      f.flags |= RELEASED
      bag.remove(f)
      f.bag = undefined
      this.live?.delete(f)
      const st = f.state
      if (this.states.get(st.key) !== st) continue
      if (--st.count === 0) {
        this.states.delete(st.key)
        st.cancel("not sent")
      }
    }
  }

  scatter<A>(values: ReadonlyArray<A>, options?: ScatterOptions & { readonly hash?: boolean | undefined }): Effect.Effect<Array<FutureImpl<A, any>>, SchedulerError | InvalidOptionsError | ClientClosedError, Scope.Scope> {
    const refused = checkScatterOptions(options)
    if (refused !== undefined) return Effect.fail(refused)
    return Effect.uninterruptible(this.inScope((bag, fiber) => {
      const entries: Array<readonly [Key, unknown]> = []
      const scattered: Array<KeyState> = []
      const out: Array<FutureImpl<A, any>> = new Array(values.length)
      for (let i = 0; i < values.length; i++) {
        const value = values[i]
        const key = options?.hash === false
          ? makeKey(typeName(value), randomToken())
          : this.scatterKey(makeKey(typeName(value), tokenize(value)))
        const existing = this.states.get(key)
        // Scatter itself makes the scheduler want the key: no desire message.
        const st = this.ref(key, false)
        // A key only acquired by name may be one the scheduler no longer has (its release of an
        // earlier handle got there first): the value goes anyway.
        if (existing === undefined || (existing.unconfirmed && !existing.scattering)) {
          entries.push([key, value])
          st.scattering = true
          scattered.push(st)
        }
        const f = this.newHandle<A>(st, undefined, fiber)
        f.bag = bag
        bag.add(f)
        out[i] = f
      }
      if (entries.length === 0) return Effect.succeed(out)
      return Effect.matchEffect(this.session.scatter(entries, options), {
        onFailure: (error) => {
          this.scatterDone(scattered, error)
          return Effect.fail(error)
        },
        onSuccess: () => {
          this.scatterDone(scattered, undefined)
          return Effect.succeed(out)
        }
      })
    }))
  }

  /** A scatter's reply came: release what was released meanwhile (now, after the scatter), settle the rest. */
  private scatterDone(scattered: ReadonlyArray<KeyState>, error: SchedulerError | undefined): void {
    let late: Array<Key> | undefined
    for (const st of scattered) {
      st.scattering = false
      const now = this.states.get(st.key)
      // Re-acquired meanwhile: the new state holds the scheduler's interest, so no release.
      if (now !== st) {
        if (now === undefined) (late ??= []).push(st.key)
      } else if (error !== undefined) st.settle("error", error)
      else {
        st.unconfirmed = false
        if (st.status === "pending") st.settle("finished")
      }
    }
    if (late !== undefined && !this.closed) this.sendRelease(late)
  }

  // ---- waiting and results ---------------------------------------------------------

  /** Waits until the state is finished, erred or cancelled (lost waits for recomputation, as in Dask). */
  wait(f: FutureImpl<any, any>): Effect.Effect<void> {
    return waitAll([f])
  }

  gather<A>(
    futures: ReadonlyArray<FutureImpl<A, any>>,
    errors: "raise" | "skip"
  ): Effect.Effect<Array<A>, FutureError> {
    return Effect.flatMap(waitAll(futures), () => this.gatherDone(futures, errors))
  }

  /**
   * `gather` once every future is done. A method, not a closure made per call
   * (a new closure gets its own optimized code, so each 10k-key gather
   * compiled its loops again); the loops are top-level functions, so that no
   * code runs after them in on-stack-replaced code without type feedback.
   */
  private gatherDone<A>(futures: ReadonlyArray<FutureImpl<A, any>>, errors: "raise" | "skip"): Effect.Effect<Array<A>, FutureError> {
    // Containers made here, not before the loops: see `submitIn`.
    const keys = finishedKeys(futures, errors, emptyObjects(), new Set())
    if (!Array.isArray(keys)) return Effect.fail(keys)
    if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }))
    if (keys.length === 0) return Effect.succeed([])
    return Effect.flatMap(this.session.gather(keys), (values) => {
      const results = collectResults(futures, errors, values, [])
      return Array.isArray(results) ? Effect.succeed(results) : Effect.fail(results)
    })
  }

  cancel(futures: ReadonlyArray<FutureImpl<any, any>>, force: boolean): Effect.Effect<void> {
    return Effect.sync(() => {
      if (this.closed) return
      const keys: Array<Key> = []
      for (const f of futures) {
        // A released handle is inert: it cannot cancel what other handles still hold.
        if (!f.released && this.counts(f) && !keys.includes(f.key)) keys.push(f.key)
      }
      if (keys.length === 0) return
      this.session.send({ _tag: "Cancel", keys, force })
      // As Dask's Client._cancel: the key leaves the client; its handles become stale.
      for (const key of keys) this.detachKey(key, "cancelled")
    })
  }

  /** Single use, as Dask's `as_completed`: the stream lets go of the input so that emitted futures can be collected. */
  asCompleted<A, E>(futures: ReadonlyArray<FutureImpl<A, E>>): Stream.Stream<FutureImpl<A, E>> {
    let input: ReadonlyArray<FutureImpl<A, E>> | undefined = futures
    return Stream.unwrapScoped(Effect.gen(this, function*() {
      const pending = input ?? []
      input = undefined
      const queue = yield* Queue.unbounded<FutureImpl<A, E>>()
      // Listeners not yet fired. A fired listener leaves this map (and the state's set), so only
      // the queue holds its future, and the stream drops it once emitted.
      const waiting = new Map<() => void, KeyState>()
      for (const f of pending) {
        const st = f.state
        if (st.done) {
          queue.unsafeOffer(f)
          continue
        }
        const listener = () => {
          waiting.delete(listener)
          queue.unsafeOffer(f)
        }
        st.listen(listener)
        waiting.set(listener, st)
      }
      yield* Effect.addFinalizer(() => Effect.sync(() => {
        for (const [listener, st] of waiting) st.unlisten(listener)
      }))
      return Stream.take(Stream.fromQueue(queue), pending.length)
    }))
  }

  // ---- Dask's scheduler extensions -----------------------------------------------

  /**
   * A handle on a key taken from a Variable or Queue, in the caller's scope:
   * desired first, then confirmed to the slot, in the same body so that no
   * release of the handle (a closed scope) can come between the two.
   */
  receive<A>(received: Received, kind: "variable" | "queue", name: string): Effect.Effect<FutureImpl<A, any> | A, ClientClosedError, Scope.Scope> {
    if (received._tag === "Data") return Effect.succeed(received.value as A)
    const { key, token } = received
    return this.inScope((bag, fiber) => {
      const f = this.take<A>(fiber, key, undefined, bag)
      this.session.send({ _tag: "Received", kind, name, key, token })
      return Effect.succeed(f)
    })
  }

  /**
   * Re-runs erred keys; the handles stay. As Dask's `Client._retry`, the
   * keys the scheduler retried go back to pending when the reply comes,
   * unless a newer outcome already arrived (then the report stream decides).
   */
  retry(futures: ReadonlyArray<FutureImpl<any, any>>): Effect.Effect<void, SchedulerError | ClientClosedError> {
    if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }))
    const keys: Array<Key> = []
    for (const f of futures) if (this.counts(f) && !keys.includes(f.key)) keys.push(f.key)
    return Effect.suspend(() => {
      // Each erred state's error before the call: a different one later means the stream moved on.
      const before = new Map<Key, FutureError | undefined>()
      for (const st of this.states.values()) if (st.status === "error") before.set(st.key, st.error)
      return Effect.map(this.session.retry(keys), (seen) => {
        for (const key of seen) {
          const st = this.states.get(key)
          if (st !== undefined && st.status === "error" && before.has(key) && before.get(key) === st.error) st.settle("pending")
        }
      })
    })
  }

  /**
   * Restarts the cluster and returns once this client has processed the
   * scheduler's `Restart` report: every handle taken before is then stale
   * (releases nothing), and new work runs on the fresh workers.
   */
  restart(timeout: Duration.Duration): Effect.Effect<void, SchedulerError | ClientClosedError> {
    if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }))
    return Effect.suspend(() => {
      const before = this.generation
      const restarted = Effect.async<void>((resume) => {
        if (this.generation !== before) return resume(Effect.void)
        const w = () => resume(Effect.void)
        this.restartWaiters.push(w)
        return Effect.sync(() => {
          this.restartWaiters = this.restartWaiters.filter((x) => x !== w)
        })
      })
      return Effect.zipRight(this.session.restart(timeout), restarted)
    })
  }

  // ---- queries --------------------------------------------------------------------

  whoHas(keys?: ReadonlyArray<Key>) {
    return this.session.whoHas(keys)
  }
  hasWhat() {
    return this.session.hasWhat()
  }
  nbytes(keys?: ReadonlyArray<Key>) {
    return this.session.nbytes(keys)
  }
  workers(): Effect.Effect<ReadonlyArray<WorkerInfo>, SchedulerError> {
    return this.session.workers()
  }
  fireAndForget(futures: ReadonlyArray<FutureImpl<any, any>>): Effect.Effect<void> {
    return Effect.sync(() => {
      if (futures.length > 0) this.session.send({ _tag: "DesireKeys", keys: futures.map((f) => f.key), client: "fire-and-forget" })
    })
  }
}

// ---- call sites (only when tracking is on) ----------------------------------------------

/** A captured, not yet formatted, stack: V8 formats it (with source maps) on first read of `stack`. */
interface StackHolder {
  stack?: string
}

const stackHere = (): StackHolder => {
  const holder: StackHolder = {}
  Error.captureStackTrace(holder, stackHere)
  return holder
}

/** How many open clients track call sites: when none, `withCallerStack` costs one comparison. */
const tracking = globalValue(Symbol.for("effect-dask/callSiteTracking"), () => ({ clients: 0 }))

/** Whether any open client tracks call sites. @internal */
export const tracksCallSites = (): boolean => tracking.clients > 0

/** A stack captured where a public operation was built, for handles made when it runs. @internal */
export const callerStack = globalValue(
  Symbol.for("effect-dask/callerStack"),
  () => FiberRef.unsafeMake<StackHolder | undefined>(undefined)
)

/**
 * Captures the builder's stack for operations whose handles are made at run
 * time (the client is resolved then): call it where the effect is built.
 * Free when no open client tracks call sites.
 * @internal
 */
export const withCallerStack = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  tracking.clients === 0 ? effect : Effect.locally(effect, callerStack, stackHere())

/** Effect's own record of where each span was created (`internal/cause.ts`), shared through its global store. */
const spanToTrace = globalValue("effect/Tracer/spanToTrace", () => new WeakMap<Tracer.Span, () => string | undefined>())

class Site implements CallSite {
  constructor(
    private readonly holder: StackHolder,
    readonly span: string | undefined,
    private readonly trace: (() => string | undefined) | undefined,
    readonly at: number
  ) {}
  get stack(): string {
    return this.holder.stack ?? ""
  }
  get spanTrace(): string | undefined {
    return this.trace?.()
  }
}

const captureSite = (fiber: Fiber.RuntimeFiber<any, any>, clock: Clock.Clock, eager: StackHolder | undefined): CallSite => {
  const holder = fiber.getFiberRef(callerStack) ?? eager ?? stackHere()
  const parent = Context.getOption(fiber.getFiberRef(FiberRef.currentContext), Tracer.ParentSpan)
  let names: string | undefined
  let trace: (() => string | undefined) | undefined
  let span: Tracer.AnySpan | undefined = Option.isSome(parent) ? parent.value : undefined
  for (let depth = 0; span !== undefined && span._tag === "Span" && depth < 8; depth++) {
    names = names === undefined ? span.name : `${names} < ${span.name}`
    if (trace === undefined && !span.name.startsWith("effect-dask.")) trace = spanToTrace.get(span)
    span = Option.getOrUndefined(span.parent)
  }
  return new Site(holder, names, trace, clock.unsafeCurrentTimeMillis())
}

// ---- current client and registry ----------------------------------------------------

/** @internal */
export const currentClient = globalValue(
  Symbol.for("effect-dask/currentClient"),
  () => FiberRef.unsafeMake<ClientImpl | undefined>(undefined)
)

/** Live clients, newest last, held only weakly. */
const registry = globalValue(Symbol.for("effect-dask/clientRegistry"), () => ({ clients: [] as Array<WeakRef<ClientImpl>> }))

const registerClient = (client: ClientImpl) => {
  registry.clients.push(new WeakRef(client))
}

const unregisterClient = (client: ClientImpl) => {
  registry.clients = registry.clients.filter((ref) => {
    const c = ref.deref()
    return c !== undefined && c !== client && !c.closed
  })
}

/** The newest open client, pruning closed and collected ones. @internal */
export const newestClient = (): ClientImpl | undefined => {
  const clients = registry.clients
  for (let i = clients.length - 1; i >= 0; i--) {
    const c = clients[i]!.deref()
    if (c !== undefined && !c.closed) {
      if (i !== clients.length - 1) clients.length = i + 1
      return c
    }
  }
  clients.length = 0
  return undefined
}

/** Every open client in the registry (for diagnostics). @internal */
export const openClients = (): Array<ClientImpl> => {
  const out: Array<ClientImpl> = []
  for (const ref of registry.clients) {
    const c = ref.deref()
    if (c !== undefined && !c.closed) out.push(c)
  }
  return out
}

/** The `Client` service tag (typed publicly in Client.ts). @internal */
export const ClientTag = Context.GenericTag<ClientImpl>("effect-dask/Client")

/** The fiber's client (`withClient`), else the provided `Client` service, else the newest open client. @internal */
export const currentOf = (fiber: Fiber.RuntimeFiber<any, any>): ClientImpl | undefined => {
  const c = fiber.getFiberRef(currentClient)
  if (c !== undefined) return c
  // getOrElse, not getOption: no Option per handle taken.
  return Context.getOrElse(fiber.getFiberRef(FiberRef.currentContext), ClientTag, newestClient)
}

/** @internal */
export const current: Effect.Effect<ClientImpl, NoClientError> = Effect.withFiberRuntime((fiber) => {
  const c = currentOf(fiber)
  return c === undefined ? Effect.fail(new NoClientError()) : Effect.succeed(c)
})

/** @internal */
export const make = (
  session: Session,
  inbox: Inbox,
  address: string,
  options: ClientOptions & { readonly clientId: string }
): Effect.Effect<ClientImpl, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const client = new ClientImpl(options.clientId, session, address, clock, options.trackCallSites ?? false)
    client.status = yield* SubscriptionRef.make<ConnectionStatus>({ _tag: "running", address })
    // Made before the close finalizer below, so it still runs what close starts; interrupted after.
    const fibers = yield* FiberSet.make<void, never>()
    const run = yield* FiberSet.runtime(fibers)<never>()
    client.fork = (effect) => void run(effect)
    registerClient(client)
    // A defect while processing a report is logged, as the report fiber's death was before; later reports still count.
    inbox.onDefect = (defect) => Runtime.runFork(runtime)(Effect.logError("effect-dask: report processing failed", Cause.die(defect)))
    // Finalizers run in reverse: stop processing reports last so nothing is processed after close.
    yield* Effect.addFinalizer(() => Effect.sync(() => {
      client.close()
      inbox.detach()
    }))
    // Runs before the close above (finalizers run in reverse): leak reports still see the live handles.
    yield* Effect.addFinalizer(() => Effect.forEach(client.closeHooks, (hook) => hook(client), { discard: true }))
    inbox.attach((report) => client.onReport(report))
    return client
  })

/** @internal */
export const defaultClientId = () => `Client-ts-${randomToken()}`
