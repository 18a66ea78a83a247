/**
 * Per-call submit / map / scatter options (Dask's `key`, `pure`, `retries`,
 * `priority`, `workers`, `resources`, `allow_other_workers`, `fifo_timeout`;
 * scatter's `workers`, `broadcast`, `hash`) as the protocol carries them, and
 * the typed refusal of malformed ones. Their effect on real placement and
 * order is checked against real Dask in `dask-parity.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { Client, EmbeddedScheduler, Errors, Future, Task, TestScheduler } from "../src/index.js"
import type { TaskSpec } from "../src/Scheduler.js"

const inc = Task.make("inc", (x: number) => x + 1, { python: "operator.neg" })
const flaky = (() => {
  let calls = 0
  return Task.make("flaky", (x: number) => {
    if (++calls % 3 !== 0) throw new Error(`attempt ${calls}`)
    return x
  }, { pure: false })
})()

const withTest = <A, E>(body: (test: TestScheduler.TestScheduler["Type"], client: Client.Client) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.gen(function*() {
    const test = yield* TestScheduler.TestScheduler
    const client = yield* Client.make()
    return yield* Client.withClient(body(test, client), client)
  }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer()))

const graphs = (test: TestScheduler.TestScheduler["Type"]) =>
  Effect.map(test.messages, (ms) => ms.flatMap((m) => (m.message._tag === "UpdateGraph" ? [m.message] : [])))

describe("per-call options", () => {
  it.effect("submitWith: explicit key, options recorded on the task spec", () =>
    withTest((test) =>
      Effect.gen(function*() {
        const scheduling = {
          priority: 10,
          workers: ["w1"],
          allowOtherWorkers: true,
          resources: { GPU: 1 },
          retries: 2,
          fifoTimeout: "1 second"
        } as const
        const f = yield* Client.submitWith(inc, [1], { key: "my-key", ...scheduling })
        assert.strictEqual(f.key, "my-key")
        const [g] = yield* graphs(test)
        const spec = g!.tasks[0] as TaskSpec
        assert.deepStrictEqual(spec.options, scheduling)
        assert.deepStrictEqual(g!.keys, ["my-key"])
        // No options: the spec carries none (the common call allocates nothing for them).
        const plain = yield* Client.submit(inc, 2)
        const specs = (yield* graphs(test)).flatMap((u) => u.tasks)
        assert.isUndefined(specs.find((s) => s.key === plain.key)!.options)
      })
    ))

  it.effect("pure: false gives distinct keys; pure: true shares one", () =>
    withTest(() =>
      Effect.gen(function*() {
        const a = yield* Client.submitWith(inc, [1], { pure: false })
        const b = yield* Client.submitWith(inc, [1], { pure: false })
        assert.notStrictEqual(a.key, b.key)
        const c = yield* Client.submit(inc, 1)
        const d = yield* Client.submitWith(inc, [1], { priority: 3 })
        assert.strictEqual(c.key, d.key) // options are not part of the token, as in Dask
        assert.isTrue(a.key.startsWith("inc-"))
      })
    ))

  it.effect("mapWith: a key prefix, or one explicit key per task", () =>
    withTest((test) =>
      Effect.gen(function*() {
        const xs = yield* Client.mapWith(inc, [[1, 2, 3]], { key: "pre", priority: 1 })
        assert.isTrue(xs.every((f) => f.key.startsWith("pre-")))
        assert.strictEqual(new Set(xs.map((f) => f.key)).size, 3)
        const ys = yield* Client.mapWith(inc, [[4, 5]], { key: ["k4", "k5"] })
        assert.deepStrictEqual(ys.map((f) => f.key), ["k4", "k5"])
        const [first] = yield* graphs(test)
        // One options object for the whole call.
        assert.isTrue(first!.tasks.every((s) => s.options === first!.tasks[0]!.options))
      })
    ))

  it.effect("malformed options fail with InvalidOptionsError before anything is sent", () =>
    withTest((test, client) =>
      Effect.gen(function*() {
        const bad: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, Scope.Scope>]> = [
          ["retries", Client.submitWith(inc, [1], { retries: -1 })],
          ["retries", Client.submitWith(inc, [1], { retries: 1.5 })],
          ["priority", Client.submitWith(inc, [1], { priority: Number.NaN })],
          ["workers", Client.submitWith(inc, [1], { workers: [] })],
          ["resources", Client.submitWith(inc, [1], { resources: { GPU: -1 } })],
          ["fifoTimeout", Client.submitWith(inc, [1], { fifoTimeout: "soon" as any })],
          ["key", Client.submitWith(inc, [1], { key: "" })],
          ["key", Client.mapWith(inc, [[1, 2]], { key: ["only-one"] })],
          ["key", Client.mapWith(inc, [[1, 2]], { key: ["same", "same"] })],
          ["workers", Client.scatter([1], { workers: [] })]
        ]
        for (const [option, effect] of bad) {
          const exit = yield* Effect.exit(effect)
          assert.isTrue(Exit.isFailure(exit), option)
          const error = Exit.isFailure(exit) ? (exit.cause as any).error : undefined
          assert.instanceOf(error, Errors.InvalidOptionsError, option)
          assert.strictEqual(error.option, option)
        }
        assert.strictEqual((yield* test.messages).length, 0)
        assert.strictEqual((yield* test.wants(client.id)).size, 0)
      })
    ))

  it.effect("scatter hash: false gives distinct keys for equal values", () =>
    withTest(() =>
      Effect.gen(function*() {
        const [a] = yield* Client.scatter([[1, 2]])
        const [b] = yield* Client.scatter([[1, 2]])
        assert.strictEqual(a!.key, b!.key)
        const [c] = yield* Client.scatter([[1, 2]], { hash: false })
        assert.notStrictEqual(a!.key, c!.key)
      })
    ))
})

describe("per-call options on the embedded scheduler", () => {
  const layer = Client.layer({ id: "c" }).pipe(Layer.provideMerge(EmbeddedScheduler.layer({ workers: 2, slots: 1 })))

  it.scoped("retries per call override the definition's", () =>
    Effect.gen(function*() {
      // Fails twice, then succeeds: retries 2 is enough, the definition's 0 is not.
      const f = yield* Client.submitWith(flaky, [7], { retries: 2 })
      assert.strictEqual(yield* Future.result(f), 7)
      const g = yield* Client.submit(flaky, 8)
      const exit = yield* Effect.exit(Future.result(g))
      assert.isTrue(Exit.isFailure(exit))
    }).pipe(Effect.provide(layer)))
})
