/**
 * Release then re-acquire of the same key, 200 times in a row, against real
 * Dask schedulers and workers (2022.12.1 and 2024.12.1). Scatter is a
 * request/reply call and the release goes on the stream: without per-key
 * ordering the scheduler may process the re-scatter first and then forget the
 * key the client just scattered. Each round gathers the value and checks the
 * scheduler's `who_wants` and the worker's data.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import * as Future from "../src/Future.js"
import * as Task from "../src/Task.js"
import { available, type Cluster, startCluster, versions } from "./dask/cluster.js"
import { connectQueued } from "./sessionReports.js"

const add = Task.make("add", (a: number, b: number) => a + b, { python: "operator.add" })

const ROUNDS = 200

/** How the re-acquire follows the release: at once (the release still queued), after the writer ran, after 1 ms. */
const gap = (round: number): Effect.Effect<void> =>
  round % 3 === 0
    ? Effect.void
    : round % 3 === 1
    ? Effect.repeatN(Effect.yieldNow(), 4)
    : Effect.sleep("1 millis")


/**
 * Runs `ROUNDS` rounds of: close the previous scope, `acquire` in a fresh one
 * at once, gather, check the cluster. Returns the failures (0 expected).
 */
const rounds = (
  cluster: Cluster,
  expected: unknown,
  acquire: (previous: string | undefined) => Effect.Effect<Future.Future<unknown, unknown>, unknown, Scope.Scope>,
  options: { readonly gaps: boolean }
) =>
  Effect.gen(function*() {
    const client = yield* Client.make()
    const failures: Array<string> = []
    const keys = new Set<string>()
    let scope = yield* Scope.make()
    let previous: string | undefined
    for (let round = 0; round < ROUNDS; round++) {
      yield* Scope.close(scope, Exit.void)
      if (options.gaps) yield* gap(round)
      scope = yield* Scope.make()
      const f = yield* Scope.extend(Client.withClient(acquire(previous), client), scope)
      keys.add(f.key)
      previous = f.key
      const got = yield* Effect.exit(Effect.timeout(Future.result(f), "10 seconds"))
      if (Exit.isFailure(got) || JSON.stringify(got.value) !== JSON.stringify(expected)) {
        failures.push(`round ${round}: ${f.key}: ${Exit.isFailure(got) ? String(got.cause) : JSON.stringify(got.value)}`)
        continue
      }
      const state = yield* Effect.promise(() => cluster.state())
      const task = state.tasks[f.key]
      const held = Object.values(state.workerData).some((keys) => keys.includes(f.key))
      if (task?.state !== "memory" || !task.who_wants.includes(client.id) || !held) {
        failures.push(`round ${round}: ${f.key}: scheduler ${JSON.stringify(task)}, on a worker: ${held}`)
      }
    }
    yield* Scope.close(scope, Exit.void)
    return { failures, keys: keys.size }
  }).pipe(
    Effect.scoped,
    Effect.provide(DaskScheduler.layer({ address: cluster.address }))
  )

describe.each(versions)("Dask %s: release then re-acquire of the same key", (version) => {
  const a = available(version)
  if (!a.ok) {
    it.skip(`skipped: ${a.reason}`, () => {})
    return
  }
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(version, { workers: 1, nthreads: 1 })
  }, 60_000)
  afterAll(() => cluster?.stop(), 20_000)

  it(`scatter, close the scope, scatter the same value again: ${ROUNDS} rounds, 0 lost`, async () => {
    const value = [version, "same value", 1, 2, 3]
    const { failures, keys } = await Effect.runPromise(
      rounds(cluster, value, () => Effect.map(Client.scatter([value]), (fs) => fs[0]!), { gaps: true })
    )
    console.log(`[${version}] scatter: ${failures.length} of ${ROUNDS} lost, ${keys} distinct keys`)
    assert.deepStrictEqual(failures, [])
  }, 120_000)

  it(`submit a pure task, close the scope, submit it again: ${ROUNDS} rounds, 0 lost`, async () => {
    const { failures, keys } = await Effect.runPromise(
      rounds(cluster, 42, () => Client.submit(add, 40, 2), { gaps: true })
    )
    console.log(`[${version}] submit: ${failures.length} of ${ROUNDS} lost, ${keys} distinct keys`)
    assert.deepStrictEqual(failures, [])
    assert.strictEqual(keys, 1)
  }, 120_000)

  it(`close the scope holding a scattered key and take it again with fromKey at once: ${ROUNDS} rounds, 0 lost`, async () => {
    const value = [version, "from key"]
    // The first round scatters; every later one re-acquires the previous round's key by name.
    const { failures, keys } = await Effect.runPromise(
      rounds(
        cluster,
        value,
        (previous) =>
          previous === undefined ? Effect.map(Client.scatter([value]), (fs) => fs[0]!) : Future.fromKey(previous),
        { gaps: false }
      )
    )
    console.log(`[${version}] fromKey: ${failures.length} of ${ROUNDS} lost, ${keys} distinct keys`)
    assert.deepStrictEqual(failures, [])
    assert.strictEqual(keys, 1)
  }, 120_000)

  it("a barrier passes once the scheduler processed what was sent before it; no report leaks to any client", async () => {
    const other = `Client-ts-barrier-other-${version}`
    const seen = await Effect.runPromise(
      Effect.gen(function*() {
        const watcher = yield* connectQueued(other)
        const session = yield* connectQueued(`Client-ts-barrier-${version}`)
        const key = `barrier-data-${version}`
        yield* session.scatter([[key, 1]])
        session.send({ _tag: "ReleaseKeys", keys: [key] })
        yield* Effect.async<void>((resume) => session.barrier(() => resume(Effect.void)))
        // Processed: the scheduler forgot the key before answering the barrier.
        const status = yield* session.keyStatus([key])
        yield* Effect.sleep("50 millis")
        return {
          status: status.get(key),
          reports: [...(yield* Queue.takeAll(session.reports)), ...(yield* Queue.takeAll(watcher.reports))]
            .filter((r) => r._tag !== "KeyInMemory")
        }
      }).pipe(
        Effect.scoped,
        Effect.provide(DaskScheduler.layer({ address: cluster.address })),
        Effect.timeout("10 seconds")
      )
    )
    assert.strictEqual(seen.status, "missing")
    assert.deepStrictEqual(seen.reports, [])
  }, 20_000)

  it("the cluster holds nothing of these clients afterwards", async () => {
    const deadline = performance.now() + 15_000
    let state = await cluster.state()
    while ((Object.keys(state.tasks).length > 0 || state.clients.length > 0) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
      state = await cluster.state()
    }
    assert.deepStrictEqual(state.tasks, {})
    assert.deepStrictEqual(Object.values(state.workerData).flat(), [])
  }, 20_000)
})
