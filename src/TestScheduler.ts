/**
 * A scripted scheduler for tests: a Layer for the {@link Scheduler} tag that
 * records every client message in order and runs the same scheduler model as
 * the embedded scheduler (Dask's task states, `who_wants`, pseudo-clients,
 * datasets, forgetting), except that nothing computes by itself: a submitted
 * task stays `processing` until the test finishes or fails it. The outcomes
 * a test scripts are stimuli of that model, so they have Dask's
 * consequences: failing a key fails every dependent waiting on it, losing a
 * key in memory recomputes it (it is `processing` again), retrying an erred
 * key sends it and its dependents back to waiting. An outcome the model
 * forbids (finishing a key whose dependency is not in memory, losing a key
 * that is not in memory, …) fails with {@link ScriptError}; `force: true`
 * places a value (as a scatter would) or errs a key regardless of its state.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const test = yield* TestScheduler.TestScheduler
 *   const x = yield* Client.submit(inc, 1)
 *   const y = yield* Client.submit(inc, x) // depends on x
 *   yield* test.fail(x.key, { type: "ValueError" })
 *   // y fails too, blamed on x, as Dask's scheduler would do it
 *   const error = yield* Effect.flip(Future.result(y))
 *   assert.strictEqual(error.key, x.key)
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Data from "effect/Data"
import type { ScriptRefusal } from "./internal/testScheduler.js"
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
 * A scripted outcome the scheduler model does not allow: the key is unknown
 * (never submitted, or forgotten), or not in a state the outcome can follow
 * (finishing a key that is waiting on a dependency, losing a key that is not
 * in memory, retrying a key that has not erred).
 *
 * @since 0.2.0
 * @category errors
 */
export class ScriptError extends Data.TaggedError("ScriptError")<{
  readonly reason: "UnknownKey" | "NotAllowed"
  readonly key: Key
  readonly message: string
}> {}

/**
 * A request/reply call as the test scheduler received it.
 *
 * @since 0.2.0
 * @category models
 */
export interface RecordedCall {
  readonly clientId: string
  readonly call: "retry" | "restart" | "run" | "runOnScheduler"
  readonly args: ReadonlyArray<unknown>
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
  /** Request/reply calls that change the scheduler (`retry`, `restart`, `run`, `runOnScheduler`), in order. */
  readonly calls: Effect.Effect<ReadonlyArray<RecordedCall>>
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
  /**
   * The processing task `key` finishes with `value` (Dask's task-finished):
   * key-in-memory goes to its wanters, dependents waiting only on it become
   * processing, and dependencies nobody needs any more are released. A key
   * desired but never submitted takes the value as a scatter would. With
   * `force`, any known key takes the value that way (replacing its
   * computation). `nbytes` and `type` default to the embedded scheduler's
   * estimate of `value`.
   */
  readonly finish: (
    key: Key,
    value: unknown,
    options?: { readonly nbytes?: number; readonly type?: string; readonly force?: boolean }
  ) => Effect.Effect<void, ScriptError>
  /**
   * The processing task `key` fails (Dask's task-erred): while it has
   * retries left it is retried silently; otherwise it errs and so does every
   * dependent, blamed on `key`. `force` errs a key in any state but erred.
   */
  readonly fail: (
    key: Key,
    error: Partial<ErrorInfo> & { readonly type: string },
    options?: { readonly force?: boolean }
  ) => Effect.Effect<void, ScriptError>
  /** The value of `key` (in memory) is lost: lost-data to its wanters, and it is computed again if still needed. */
  readonly lose: (key: Key) => Effect.Effect<void, ScriptError>
  /** Retries the erred key `key` (Dask's `retry`): task-retried, and it and its dependents wait again. */
  readonly retry: (key: Key) => Effect.Effect<void, ScriptError>
  /** Cancels keys, and their dependents, for every client that wants them, as a scheduler-side cancellation. */
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
    const checked = (key: Key, f: () => ScriptRefusal | undefined): Effect.Effect<void, ScriptError> =>
      Effect.flatMap(Effect.sync(f), (refusal) =>
        refusal === undefined
          ? settle
          : Effect.fail(new ScriptError({ reason: refusal.reason, key, message: refusal.message })))
    const scheduler = Scheduler.of({ address, connect: (clientId, reports) => impl.connect(clientId, reports) })
    const control = TestScheduler.of({
      messages: Effect.sync(() => impl.recorded.slice()),
      calls: Effect.sync(() => impl.calls.slice()),
      clearMessages: Effect.sync(() => {
        impl.recorded.length = 0
      }),
      wants: (clientId) => Effect.sync(() => impl.wants(clientId)),
      pseudoWants: (name) => Effect.sync(() => impl.wants(name)),
      clients: Effect.sync(() => impl.clientIds()),
      tasks: Effect.sync(() => impl.tasks()),
      memory: Effect.sync(() => impl.memory()),
      finish: (key, value, options) => checked(key, () => impl.finish(key, value, options)),
      fail: (key, error, options) =>
        checked(key, () =>
          impl.fail(key, { type: error.type, message: error.message ?? "", traceback: error.traceback ?? "" }, options)),
      lose: (key) => checked(key, () => impl.lose(key)),
      retry: (key) => checked(key, () => impl.retry(key)),
      cancel: (keys, reason = "cancelled") => scripted(() => impl.cancel(keys, reason)),
      restart: scripted(() => impl.restart()),
      disconnect: (clientId) => scripted(() => impl.disconnect(clientId)),
      reconnect: (clientId, options) =>
        scripted(() => impl.report(clientId, { _tag: "Reconnected", restarted: options?.restarted ?? false })),
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
      report: (clientId, report) => scripted(() => impl.report(clientId, report)),
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
