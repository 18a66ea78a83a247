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
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import * as Future from "../src/Future.js"
import * as Task from "../src/Task.js"
import { available, type Cluster, type DaskVersion, startCluster, until, versions } from "./dask/cluster.js"
import { describeDask } from "./dask/suite.js"
import { tcpProxy } from "./dask/proxy.js"
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

/** One cluster per describe block (the reconnect block restarts its scheduler). */
const sharedCluster = (version: DaskVersion): () => Cluster => {
  let cluster: Cluster | undefined
  beforeAll(async () => {
    cluster = await startCluster(version, { workers: 1, nthreads: 1 })
  }, 60_000)
  afterAll(() => cluster?.stop(), 20_000)
  return () => cluster!
}

describeDask("Dask %s: release then re-acquire of the same key", (version) => {
  const current = sharedCluster(version)
  let cluster: Cluster
  beforeAll(() => {
    cluster = current()
  })

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

  it("an exception in a scheduler handler is a RemoteError with its type, message and traceback", async () => {
    const error = await Effect.runPromise(
      Effect.gen(function*() {
        const client = yield* Client.make()
        return yield* Effect.flip(Client.withClient(Client.scatter([1], { workers: ["tcp://127.0.0.1:9"] }), client))
      }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: cluster.address })), Effect.timeout("20 seconds"))
    )
    assert.strictEqual(error._tag, "RemoteError", String(error))
    if (error._tag === "RemoteError") {
      assert.strictEqual(error.key, "<scatter>")
      assert.notStrictEqual(error.type, "")
      assert.notStrictEqual(error.message, "")
      assert.include(error.traceback, "scatter")
    }
  }, 30_000)

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

/** Waits until the client's status has gone through `reconnecting` and is `running` again. */
const reconnected = (client: Client.Client) =>
  Effect.flatMap(Client.withClient(Client.status, client), (ref) =>
    ref.changes.pipe(
      Stream.dropWhile((s) => s._tag !== "reconnecting"),
      Stream.dropWhile((s) => s._tag !== "running"),
      Stream.runHead
    ))

const fast = { reconnect: Schedule.spaced("100 millis") }

describe.each(versions.filter((v) => available(v).ok))("Dask %s: reconnect that recovers", (version) => {
  const current = sharedCluster(version)
  let cluster: Cluster
  beforeAll(() => {
    cluster = current()
  })

  it("fromKey of a key the scheduler never had + submit: LostDataError, nothing sent, the worker survives and computes", async () => {
    const out = await Effect.runPromise(
      Effect.gen(function*() {
        const client = yield* Client.make()
        return yield* Client.withClient(
          Effect.gen(function*() {
            const unknown = yield* Future.fromKey<number>(`never-computed-${version}`)
            const refused = yield* Effect.flip(Client.submit(add, unknown, 1))
            const after = yield* Effect.flatMap(Client.submit(add, 20, 22), Future.result)
            return { refused, after, clientId: client.id }
          }),
          client
        )
      }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: cluster.address })), Effect.timeout("20 seconds"))
    )
    assert.strictEqual(out.refused._tag, "LostDataError")
    if (out.refused._tag === "LostDataError") assert.strictEqual(out.refused.reason, "unknown to the scheduler")
    assert.strictEqual(out.after, 42)
    // The worker process is alive and registered.
    process.kill(cluster.workerPids[0]!, 0)
    const state = await cluster.state()
    assert.deepStrictEqual(Object.keys(state.workerData), [...cluster.workers])
    assert.isFalse(Object.values(state.tasks).some((t) => t.who_wants.includes(out.clientId)))
  }, 30_000)

  it("drop the stream, not the scheduler: finished futures someone else keeps gather after the reconnect; the rest are lost, not re-desired", async () => {
    const proxy = await tcpProxy(cluster.address)
    try {
      const out = await Effect.runPromise(
        Effect.gen(function*() {
          const viaProxy = yield* Layer.build(DaskScheduler.layer({ address: proxy.address, ...fast }))
          const direct = yield* Layer.build(DaskScheduler.layer({ address: cluster.address }))
          const client = yield* Client.make().pipe(Effect.provide(viaProxy))
          const keeper = yield* Client.make().pipe(Effect.provide(direct))
          const [kept, computed, alone] = yield* Client.withClient(
            Effect.gen(function*() {
              const [kept] = yield* Client.scatter([[version, "kept"]])
              const computed = yield* Client.submit(add, 40, 2)
              const [alone] = yield* Client.scatter([[version, "alone"]])
              yield* Future.wait(computed)
              return [kept!, computed, alone!] as const
            }),
            client
          )
          // Another client keeps two of them at the scheduler while the stream is down.
          yield* Client.withClient(Effect.all([Future.fromKey(kept.key), Future.fromKey(computed.key)]), keeper)
          yield* Effect.promise(() => until(cluster, (s) => s.tasks[computed.key]?.who_wants.includes(keeper.id) ?? false))
          const back = yield* Effect.fork(reconnected(client))
          proxy.dropAll()
          yield* back
          yield* Effect.promise(() => until(cluster, (s) => s.tasks[kept.key]?.who_wants.includes(client.id) ?? false))
          const values = yield* Client.withClient(Client.gather<unknown, never>([kept, computed]), client)
          const lost = yield* Effect.flip(Future.result(alone))
          const state = yield* Effect.promise(() => cluster.state())
          return { values, lost, statuses: [kept.status, computed.status], state, clientId: client.id, keys: [kept.key, computed.key, alone.key] }
        }).pipe(Effect.scoped, Effect.timeout("30 seconds"))
      )
      assert.deepStrictEqual(out.values, [[version, "kept"], 42])
      assert.strictEqual(out.lost._tag, "LostDataError")
      if (out.lost._tag === "LostDataError") {
        assert.strictEqual(out.lost.reason, "released by the scheduler when the connection was lost")
      }
      const wanted = Object.entries(out.state.tasks).filter(([, t]) => t.who_wants.includes(out.clientId)).map(([k]) => k)
      assert.deepStrictEqual(wanted.sort(), [out.keys[0]!, out.keys[1]!].sort())
      assert.isUndefined(out.state.tasks[out.keys[2]!], "the lost key is not pinned as an empty task")
    } finally {
      await proxy.close()
    }
  }, 40_000)

  // Last: it replaces this suite's scheduler.
  it("kill and restart the scheduler: held futures fail with LostDataError (scheduler restarted); the new scheduler wants nothing for the client", async () => {
    const out = await Effect.runPromise(
      Effect.gen(function*() {
        const client = yield* Client.make()
        const [x, y] = yield* Client.withClient(
          Effect.gen(function*() {
            const [x] = yield* Client.scatter([[version, "before restart"]])
            const y = yield* Client.submit(add, 1, 2)
            yield* Future.wait(y)
            return [x!, y] as const
          }),
          client
        )
        const back = yield* Effect.fork(reconnected(client))
        yield* Effect.promise(() => cluster.restartScheduler())
        yield* back
        const errors = yield* Effect.all([Effect.flip(Future.result(x)), Effect.flip(Future.result(y))])
        const state = yield* Effect.promise(() => until(cluster, (s) => s.clients.includes(client.id)))
        return { errors, state, clientId: client.id }
      }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: cluster.address, ...fast })), Effect.timeout("30 seconds"))
    )
    for (const error of out.errors) {
      assert.strictEqual(error._tag, "LostDataError")
      if (error._tag === "LostDataError") assert.strictEqual(error.reason, "scheduler restarted")
    }
    assert.deepStrictEqual(
      Object.entries(out.state.tasks).filter(([, t]) => t.who_wants.includes(out.clientId)),
      []
    )
  }, 40_000)
})
