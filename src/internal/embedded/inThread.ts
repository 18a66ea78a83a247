/**
 * The in-thread executor: every embedded worker is this JS thread. Values
 * live in one heap, each in its task's `data` slot (no Map of their own:
 * workers share them); synchronous tasks run inline in batches of
 * `budget` per macrotask, Promise- and Effect-returning ones run
 * concurrently up to each worker's slots.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import { LostDataError } from "../../Errors.js"
import type { Key } from "../../Scheduler.js"
import { KeyRef } from "../../Scheduler.js"
import type { Executor, SchedulerModel, TaskState } from "../model/scheduler.js"
import { errorInfo } from "../model/scheduler.js"
import { sizeof, typeName } from "../model/sizeof.js"

const scheduleMacrotask: (f: () => void) => void = typeof setImmediate === "function"
  ? (f) => setImmediate(f)
  : (f) => setTimeout(f, 0)

const isPlainObject = (u: object): u is Record<string, unknown> => {
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** @internal */
/** Stands for a value that is `undefined` in a `data` slot, where `undefined` means no value. */
const UNDEFINED = Symbol("effect-dask/undefined")

const put = (ts: TaskState, value: unknown): void => {
  ts.data = value === undefined ? UNDEFINED : value
}
const valueOf = (data: unknown): unknown => data === UNDEFINED ? undefined : data

export class InThreadExecutor implements Executor {
  /** Assigned, not started yet, FIFO, with the attempt they were assigned for. */
  private runnable: Array<TaskState> = []
  private attempts: Array<number> = []
  private runnableHead = 0
  private drainScheduled = false
  /** Promise and Effect tasks in flight (the fiber, for Effect ones). */
  readonly inFlight = new Map<TaskState, Fiber.RuntimeFiber<unknown, unknown> | undefined>()
  private closed = false
  private readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
  private readonly drainBound = () => this.drain()

  constructor(
    private readonly model: SchedulerModel,
    runtime: Runtime.Runtime<never>,
    private readonly budget: number
  ) {
    this.runFork = Runtime.runFork(runtime)
  }

  start(ts: TaskState, _ws: unknown, attempt: number): void {
    this.runnable.push(ts)
    this.attempts.push(attempt)
    if (this.drainScheduled || this.closed) return
    this.drainScheduled = true
    queueMicrotask(this.drainBound)
  }

  stop(ts: TaskState): void {
    if (!this.inFlight.has(ts)) return
    const fiber = this.inFlight.get(ts)
    this.inFlight.delete(ts)
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(FiberId.none)
  }

  hold(ts: TaskState, value: unknown): void {
    put(ts, value)
  }

  free(ts: TaskState): void {
    ts.data = undefined
  }

  gather(tss: ReadonlyArray<TaskState>): Effect.Effect<ReadonlyMap<Key, unknown>, LostDataError> {
    const out = new Map<Key, unknown>()
    for (let i = 0; i < tss.length; i++) {
      const ts = tss[i]!
      if (ts.data === undefined) return Effect.fail(new LostDataError({ key: ts.key }))
      out.set(ts.key, valueOf(ts.data))
    }
    return Effect.succeed(out)
  }

  shutdown(): void {
    this.closed = true
    for (const fiber of this.inFlight.values()) if (fiber !== undefined) fiber.unsafeInterruptAsFork(FiberId.none)
    this.inFlight.clear()
    for (const ts of this.model.tasks.values()) ts.data = undefined
    this.runnable = []
    this.attempts = []
    this.runnableHead = 0
  }

  /** Starts assigned tasks; sync tasks run here, inline, up to `budget` per slice. */
  private drain(): void {
    this.drainScheduled = false
    let budget = this.budget
    const model = this.model
    while (this.runnableHead < this.runnable.length && !this.closed) {
      if (budget-- <= 0) {
        this.drainScheduled = true
        scheduleMacrotask(this.drainBound)
        return
      }
      const i = this.runnableHead++
      const ts = this.runnable[i]!
      const attempt = this.attempts[i]!
      if (model.isCurrent(ts, attempt)) this.run(ts, attempt)
    }
    this.runnable.length = 0
    this.attempts.length = 0
    this.runnableHead = 0
  }

  private run(ts: TaskState, attempt: number): void {
    const run = ts.task!.run!
    const args = ts.dependencies === undefined ? ts.args! : this.substitute(ts.args!)
    let out: unknown
    try {
      out = run(...args)
    } catch (e) {
      this.model.taskErred(ts, attempt, errorInfo(ts.key, e))
      return
    }
    if (typeof out === "object" && out !== null) {
      if (Effect.isEffect(out)) {
        const fiber = this.runFork(out as Effect.Effect<unknown, unknown>)
        this.inFlight.set(ts, fiber)
        fiber.addObserver((exit) => {
          if (this.inFlight.get(ts) !== fiber) return
          this.inFlight.delete(ts)
          if (exit._tag === "Success") this.finish(ts, attempt, exit.value)
          else if (!Cause.isInterruptedOnly(exit.cause)) {
            this.model.taskErred(ts, attempt, errorInfo(ts.key, Cause.squash(exit.cause)))
          }
        })
        return
      }
      if (typeof (out as PromiseLike<unknown>).then === "function") {
        this.inFlight.set(ts, undefined)
        ;(out as PromiseLike<unknown>).then(
          (value) => {
            if (this.settled(ts, attempt)) this.finish(ts, attempt, value)
          },
          (e) => {
            if (this.settled(ts, attempt)) this.model.taskErred(ts, attempt, errorInfo(ts.key, e))
          }
        )
        return
      }
    }
    this.finish(ts, attempt, out)
  }

  /** A promise settled: true when its attempt is still the one wanted. */
  private settled(ts: TaskState, attempt: number): boolean {
    if (!this.model.isCurrent(ts, attempt)) return false
    this.inFlight.delete(ts)
    return true
  }

  private finish(ts: TaskState, attempt: number, value: unknown): void {
    if (!this.model.isCurrent(ts, attempt)) return
    put(ts, value)
    this.model.taskFinished(ts, attempt, sizeof(value), typeName(value))
  }

  /** Replaces KeyRefs, at any depth of arrays and plain objects, by their values. */
  private substitute(args: ReadonlyArray<unknown>): Array<unknown> {
    const out = new Array<unknown>(args.length)
    for (let i = 0; i < args.length; i++) out[i] = this.substituteValue(args[i])
    return out
  }

  private substituteValue(u: unknown): unknown {
    if (typeof u !== "object" || u === null) return u
    if (u instanceof KeyRef) return valueOf(this.model.tasks.get(u.key)?.data)
    if (Array.isArray(u)) return this.substitute(u)
    if (isPlainObject(u)) {
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(u)) out[k] = this.substituteValue(u[k])
      return out
    }
    return u
  }
}
