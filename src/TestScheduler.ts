/**
 * A scripted scheduler for tests: a Layer for the {@link Scheduler} tag that
 * records every client message in order, keeps Dask's interest bookkeeping
 * (which keys each client wants) and reports only what the test tells it to.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const test = yield* TestScheduler.TestScheduler
 *   const f = yield* Client.submit(add, 1, 2)
 *   yield* test.finish(f.key, 3)
 *   assert.strictEqual(yield* Future.result(f), 3)
 *   assert.deepStrictEqual(yield* test.wants(client.id), new Set([f.key]))
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ConnectionLostError } from "./Errors.js"
import { TestSchedulerImpl } from "./internal/testScheduler.js"
import type { ClientMessage, ErrorInfo, Key, SchedulerReport, TaskSpec } from "./Scheduler.js"
import { Scheduler } from "./Scheduler.js"

/**
 * A client message as the test scheduler received it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recorded {
  readonly clientId: string
  readonly message: ClientMessage
}

/**
 * Control over the test scheduler. Every scripting operation waits until the
 * clients have processed the reports it sent.
 *
 * @since 0.1.0
 * @category tags
 */
export class TestScheduler extends Context.Tag("effect-dask/TestScheduler")<TestScheduler, {
  /** Every client message so far, in order. */
  readonly messages: Effect.Effect<ReadonlyArray<Recorded>>
  /** Forgets the recorded messages (interest bookkeeping is kept). */
  readonly clearMessages: Effect.Effect<void>
  /** The keys a client currently wants, as the scheduler believes. */
  readonly wants: (clientId: string) => Effect.Effect<ReadonlySet<Key>>
  /** The keys a pseudo-client ("fire-and-forget", "published-<name>") wants. */
  readonly pseudoWants: (name: string) => Effect.Effect<ReadonlySet<Key>>
  /** Connected client ids. */
  readonly clients: Effect.Effect<ReadonlyArray<string>>
  /** Tasks submitted and not forgotten. */
  readonly tasks: Effect.Effect<ReadonlyMap<Key, TaskSpec>>
  /** Keys with a value in (simulated) memory. */
  readonly memory: Effect.Effect<ReadonlySet<Key>>
  /** Stores a value for `key` and reports key-in-memory to the clients that want it. */
  readonly finish: (key: Key, value: unknown, options?: { readonly nbytes?: number; readonly type?: string }) => Effect.Effect<void>
  /** Reports task-erred for `key`. */
  readonly fail: (key: Key, error: Partial<ErrorInfo> & { readonly type: string }) => Effect.Effect<void>
  /** Drops the value and reports lost-data. */
  readonly lose: (key: Key) => Effect.Effect<void>
  /** Reports task-retried (erred → pending). */
  readonly retry: (key: Key) => Effect.Effect<void>
  /** Cancels keys for every client that wants them, as a scheduler-side cancellation. */
  readonly cancel: (keys: ReadonlyArray<Key>, reason?: string) => Effect.Effect<void>
  /** Restarts: forgets everything and reports restart to every client. */
  readonly restart: Effect.Effect<void>
  /** Simulates a dropped stream: the scheduler releases the client's keys and reports connection-lost. */
  readonly disconnect: (clientId: string) => Effect.Effect<void>
  /** Simulates the reconnection that follows (`restarted`: to a new scheduler that knows nothing of before). */
  readonly reconnect: (clientId: string, options?: { readonly restarted?: boolean }) => Effect.Effect<void>
  /**
   * Holds the channels a real backend has: from now on client messages wait
   * on the stream (in order), scatters wait as request/reply calls (in any
   * order), and reports wait on the way back (in order), until delivered.
   */
  readonly hold: Effect.Effect<void>
  /** How many items wait on each held channel. */
  readonly pending: Effect.Effect<{ readonly stream: number; readonly calls: number; readonly reports: number }>
  /**
   * Delivers one waiting item: the next stream message or report, or the
   * `index`-th waiting call (calls are not ordered). `true` when there was one.
   */
  readonly deliver: (channel: "stream" | "calls" | "reports", index?: number) => Effect.Effect<boolean>
  /** Delivers everything still waiting and stops holding. */
  readonly flush: Effect.Effect<void>
  /** Offers an arbitrary report to one client. */
  readonly report: (clientId: string, report: SchedulerReport) => Effect.Effect<void>
  /** Waits until every client has processed every report sent so far. */
  readonly settle: Effect.Effect<void>
}>() {}

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Scheduler address the clients see (default `test://scheduler`). */
  readonly address?: string | undefined
}

/**
 * Builds a test scheduler and the {@link Scheduler} service backed by it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Context.Context<Scheduler | TestScheduler>> =>
  Effect.sync(() => {
    const address = options?.address ?? "test://scheduler"
    const impl = new TestSchedulerImpl(address)
    // Clients process delivered reports in a microtask, which runs before this fiber resumes;
    // the yields then let the fibers those reports woke run.
    const settle: Effect.Effect<void> = Effect.repeatN(Effect.yieldNow(), 2)
    const scripted = (f: () => void) => Effect.zipRight(Effect.sync(f), settle)
    const scheduler = Scheduler.of({
      address,
      connect: (clientId, reports) =>
        Effect.acquireRelease(
          Effect.sync(() => impl.session(clientId, reports)),
          () =>
            Effect.sync(() => {
              const entry = impl.clients.get(clientId)
              impl.clients.delete(clientId)
              if (entry !== undefined) impl.forgetUnwanted(entry.wants)
            })
        )
    })
    const control = TestScheduler.of({
      messages: Effect.sync(() => impl.recorded.slice()),
      clearMessages: Effect.sync(() => {
        impl.recorded.length = 0
      }),
      wants: (clientId) => Effect.sync(() => new Set(impl.clients.get(clientId)?.wants ?? [])),
      pseudoWants: (name) => Effect.sync(() => new Set(impl.pseudo.get(name) ?? [])),
      clients: Effect.sync(() => Array.from(impl.clients.keys())),
      tasks: Effect.sync(() => new Map(impl.tasks)),
      memory: Effect.sync(() => new Set(impl.values.keys())),
      finish: (key, value, options) =>
        scripted(() => {
          impl.errors.delete(key)
          impl.values.set(key, { value, nbytes: options?.nbytes ?? 8, type: options?.type })
          impl.broadcast(key, { _tag: "KeyInMemory", key, type: options?.type, nbytes: options?.nbytes })
        }),
      fail: (key, error) =>
        scripted(() => {
          const info: ErrorInfo = { type: error.type, message: error.message ?? "", traceback: error.traceback ?? "" }
          impl.values.delete(key)
          impl.errors.set(key, info)
          impl.broadcast(key, { _tag: "TaskErred", key, error: info })
        }),
      lose: (key) =>
        scripted(() => {
          impl.values.delete(key)
          impl.broadcast(key, { _tag: "LostData", key })
        }),
      retry: (key) =>
        scripted(() => {
          impl.errors.delete(key)
          impl.broadcast(key, { _tag: "TaskRetried", key })
        }),
      cancel: (keys, reason = "cancelled") =>
        scripted(() => {
          for (const key of keys) {
            for (const entry of impl.wanters(key)) {
              entry.wants.delete(key)
              entry.reports({ _tag: "CancelledKeys", keys: [key], reason })
            }
          }
          impl.forgetUnwanted(keys)
        }),
      restart: scripted(() => {
        impl.placeholders.clear()
        impl.tasks.clear()
        impl.values.clear()
        impl.errors.clear()
        impl.pseudo.clear()
        impl.datasets.clear()
        for (const entry of impl.clients.values()) {
          entry.wants.clear()
          entry.reports({ _tag: "Restart" })
        }
      }),
      disconnect: (clientId) =>
        scripted(() => {
          const entry = impl.clients.get(clientId)
          if (entry === undefined) return
          const keys = Array.from(entry.wants)
          entry.wants.clear()
          impl.forgetUnwanted(keys)
          entry.reports({ _tag: "ConnectionLost", error: new ConnectionLostError({ address }) })
        }),
      reconnect: (clientId, options) =>
        scripted(() => impl.clients.get(clientId)?.reports({ _tag: "Reconnected", restarted: options?.restarted ?? false })),
      hold: Effect.sync(() => {
        impl.channels.held = true
      }),
      pending: Effect.sync(() => ({
        stream: impl.channels.stream.length,
        calls: impl.channels.calls.length,
        reports: impl.channels.reports.length
      })),
      deliver: (channel, index = 0) =>
        Effect.zipLeft(
          Effect.sync(() => {
            const queue = impl.channels[channel]
            if (queue.length === 0) return false
            const [item] = queue.splice(channel === "calls" ? Math.min(index, queue.length - 1) : 0, 1)
            if (channel === "stream") (item as { run: () => void }).run()
            else (item as () => void)()
            return true
          }),
          settle
        ),
      flush: Effect.suspend(function loop(): Effect.Effect<void> {
        const c = impl.channels
        if (c.stream.length + c.calls.length + c.reports.length === 0) {
          c.held = false
          return settle
        }
        while (c.stream.length > 0) c.stream.shift()!.run()
        while (c.calls.length > 0) c.calls.shift()!()
        while (c.reports.length > 0) c.reports.shift()!()
        return Effect.zipRight(settle, Effect.suspend(loop))
      }),
      report: (clientId, report) => scripted(() => impl.clients.get(clientId)?.reports(report)),
      settle
    })
    return Context.make(Scheduler, scheduler).pipe(Context.add(TestScheduler, control))
  })

/**
 * The test scheduler as a Layer providing both {@link Scheduler} and
 * {@link TestScheduler}. Each build is a fresh scheduler. A function taking
 * options, like the other backends' layers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Scheduler | TestScheduler> => Layer.effectContext(make(options))
