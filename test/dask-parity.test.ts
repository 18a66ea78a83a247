/**
 * Dask parity against real clusters (2022.12.1 and 2024.12.1; two workers
 * under nannies, the second with `GPU=1`), checked on the cluster's own
 * state: Variables and Queues (ports of distributed/tests/test_variable.py and
 * test_queues.py) keeping keys alive through their pseudo-clients, a future
 * exchanged with a Python client through one Variable and one Queue, per-call
 * `workers` / `resources` / `priority` changing placement and order, `retry`
 * and `restart` (ports of test_client.py), `run` / `runOnScheduler`.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { afterAll, assert, beforeAll, it } from "vitest"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import { RemoteError } from "../src/Errors.js"
import * as Event from "../src/Event.js"
import * as Future from "../src/Future.js"
import * as Lock from "../src/Lock.js"
import * as Queue from "../src/Queue.js"
import type { Scheduler } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import * as Variable from "../src/Variable.js"
import { randomToken } from "../src/internal/tokenize.js"
import { type Cluster, type ClusterState, startCluster, until } from "./dask/cluster.js"
import { describeDask } from "./dask/suite.js"

const add = Task.python<[number, number], number>("operator.add")
const truediv = Task.python<[number, number], number>("operator.truediv")
const listdir = Task.python<[string], Array<string>>("os.listdir", { pure: false })
const len = Task.python<[unknown], number>("builtins.len")
const sleep = Task.python<[number], null>("time.sleep", { pure: false })
const now = Task.python<[], number>("time.time", { pure: false })

const runWith = <A, E>(cluster: Cluster, effect: (client: Client.Client) => Effect.Effect<A, E, Scope.Scope | Scheduler>) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const client = yield* Client.make()
      return yield* Client.withClient(effect(client), client)
    }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: cluster.address })))
  )

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)
const wants = (s: ClusterState, key: string) => s.tasks[key]?.who_wants ?? []
const unique = (prefix: string) => `${prefix}-${randomToken().slice(0, 12)}`

describeDask("Dask %s parity (real cluster)", (version) => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(version, {
      workers: 2,
      nthreads: 1,
      nanny: true,
      workerArgs: (i) => (i === 1 ? ["--resources", "GPU=1"] : [])
    })
  }, 90_000)
  afterAll(() => cluster?.stop(), 30_000)

  it("test_variable: a key held only by a Variable survives its scope and is forgotten on delete", async () => {
    const name = unique("x")
    const key = await runWith(cluster, () =>
      Effect.gen(function*() {
        const x = yield* Variable.make<number>(name)
        const xx = yield* Variable.make<number>(name)
        const key = yield* Effect.scoped(Effect.gen(function*() {
          const future = yield* Client.submit(add, 1, 1)
          yield* Variable.set(x, future)
          const future2 = (yield* Variable.get(xx)) as Future.Future<number>
          assert.strictEqual(future2.key, future.key)
          assert.strictEqual(yield* Future.result(future2), 2)
          return future.key
        }))
        // Both handles are gone: only the Variable's pseudo-client wants the key.
        const s = yield* promise(() => until(cluster, (s) => wants(s, key).join() === `variable-${name}`))
        assert.strictEqual(s.tasks[key]!.state, "memory")
        yield* Variable.delete(x)
        yield* promise(() => until(cluster, (s) => !(key in s.tasks)))
        return key
      }))
    const s = await cluster.state()
    assert.isFalse(Object.values(s.workerData).flat().includes(key))
  }, 60_000)

  it("test_delete_unset_variable and test_variables_do_not_leak_client", async () => {
    const name = unique("v")
    await runWith(cluster, (client) =>
      Effect.gen(function*() {
        // Deleting a Variable never set does not break the stream.
        yield* Variable.delete(yield* Variable.make(unique("unset")))
        const v = yield* Variable.make(name)
        const key = yield* Effect.scoped(Effect.gen(function*() {
          const f = yield* Client.submit(add, 2, 3)
          yield* Variable.set(v, f)
          return f.key
        }))
        yield* promise(() => until(cluster, (s) => s.clients.includes(`variable-${name}`)))
        yield* Variable.delete(v)
        const s = yield* promise(() => until(cluster, (s) => !s.clients.includes(`variable-${name}`) && !(key in s.tasks)))
        assert.deepStrictEqual(s.clients, [client.id])
        // The stream is fine: new work runs.
        assert.strictEqual(yield* Future.result(yield* Client.submit(add, 5, 5)), 10)
      }))
  }, 60_000)

  it("test_queue and test_queue_with_data: queued keys are held until taken", async () => {
    const [qx, qy] = [unique("qx"), unique("qy")]
    await runWith(cluster, (client) =>
      Effect.gen(function*() {
        const x = yield* Queue.make<unknown>(qx)
        const y = yield* Queue.make<unknown>(qy)
        const xx = yield* Queue.make<unknown>(qx)
        const key = yield* Effect.scoped(Effect.gen(function*() {
          const future = yield* Client.submit(add, 10, 1)
          yield* Queue.put(x, future)
          yield* Queue.put(y, future)
          const future2 = (yield* Queue.get(xx)) as Future.Future<unknown>
          assert.strictEqual(future2.key, future.key)
          const timedOut = yield* Effect.exit(Queue.get(x, { timeout: "100 millis" }))
          assert.isTrue(Exit.isFailure(timedOut))
          return future.key
        }))
        yield* promise(() => until(cluster, (s) => wants(s, key).join() === `queue-${qy}`))
        yield* Effect.scoped(Effect.gen(function*() {
          const burned = (yield* Queue.get(y)) as Future.Future<unknown>
          assert.strictEqual(yield* Future.result(burned), 11)
          yield* promise(() => until(cluster, (s) => wants(s, key).join() === client.id))
        }))
        yield* promise(() => until(cluster, (s) => !(key in s.tasks)))
        // test_queue_with_data
        yield* Queue.put(x, [1, "hello"])
        assert.deepStrictEqual(yield* Queue.get(xx), [1, "hello"])
        yield* Queue.put(x, 1)
        yield* Queue.put(x, 2)
        assert.strictEqual(yield* Queue.size(x), 2)
        assert.deepStrictEqual(yield* Queue.getBatch(x), [1, 2])
      }))
  }, 60_000)

  it("a TS client and a Python client exchange futures through one Variable and one Queue; a key goes only when both let go", async () => {
    const [v, q, q2, got, release] = ["v", "q", "q2", "got", "release"].map(unique)
    const pyKey = unique("py-h")
    const py = `
import operator
from distributed import Event, Queue, Variable
f = Variable(${JSON.stringify(v)}, client=client).get(timeout=60)
g = Queue(${JSON.stringify(q)}, client=client).get(timeout=60)
h = client.submit(operator.add, 40, 2, key=${JSON.stringify(pyKey)})
Queue(${JSON.stringify(q2)}, client=client).put(h)
Event(${JSON.stringify(got)}, client=client).set()
Event(${JSON.stringify(release)}, client=client).wait(timeout=60)
result = {"id": client.id, "f": f.key, "g": g.key, "fv": f.result(), "gv": g.result()}
`
    await runWith(cluster, (client) =>
      Effect.gen(function*() {
        const variable = yield* Variable.make<number>(v)
        const queue = yield* Queue.make<number>(q)
        const back = yield* Queue.make<number>(q2)
        const [fKey, gKey] = yield* Effect.scoped(Effect.gen(function*() {
          const f = yield* Client.submit(add, 1, 2)
          const g = yield* Client.submit(add, 3, 4)
          yield* Client.wait([f, g])
          yield* Variable.set(variable, f)
          yield* Queue.put(queue, g)
          return [f.key, g.key] as const
        }))
        // This client let go: the Variable and the Queue hold the keys.
        yield* promise(() =>
          until(cluster, (s) => wants(s, fKey).join() === `variable-${v}` && wants(s, gKey).join() === `queue-${q}`))
        const python = cluster.py<{ id: string; f: string; g: string; fv: number; gv: number }>(py)
        python.catch(() => {})
        assert.isTrue(yield* Event.wait(yield* Event.make(got), { timeout: "60 seconds" }))
        // The Python client holds f (from the Variable) and g (from the Queue); the Variable goes.
        yield* Variable.delete(variable)
        const h = (yield* Queue.get(back)) as Future.Future<number>
        assert.strictEqual(h.key, pyKey)
        const held = yield* promise(() =>
          until(cluster, (s) =>
            wants(s, fKey).length === 1 && !wants(s, fKey)[0]!.startsWith("variable-") &&
            wants(s, gKey).length === 1 && !wants(s, gKey)[0]!.startsWith("queue-") &&
            wants(s, pyKey).length === 2 && wants(s, pyKey).includes(client.id)))
        const pyId = wants(held, fKey)[0]!
        assert.deepStrictEqual(wants(held, gKey), [pyId])
        assert.strictEqual(held.tasks[fKey]!.state, "memory")
        yield* Event.set(yield* Event.make(release))
        const out = yield* promise(() => python)
        assert.deepStrictEqual([out.id, out.f, out.g, out.fv, out.gv], [pyId, fKey, gKey, 3, 7])
        // The Python client closed: f and g are forgotten; h stays, this client holds it.
        yield* promise(() => until(cluster, (s) => !(fKey in s.tasks) && !(gKey in s.tasks) && wants(s, pyKey).join() === client.id))
        assert.strictEqual(yield* Future.result(h), 42)
        yield* Future.release(h)
        yield* promise(() => until(cluster, (s) => !(pyKey in s.tasks)))
      }))
  }, 90_000)

  it("Lock and Event on the scheduler", async () => {
    const name = unique("lock")
    await runWith(cluster, () =>
      Effect.gen(function*() {
        const a = yield* Lock.make(name)
        const b = yield* Lock.make(name)
        assert.isTrue(yield* Lock.acquire(a))
        assert.isFalse(yield* Lock.acquire(b, { timeout: "100 millis" }))
        yield* Lock.release(a)
        assert.isTrue(yield* Lock.acquire(b, { timeout: "5 seconds" }))
        yield* Lock.release(b)
        const e = yield* Event.make(unique("event"))
        assert.isFalse(yield* Event.isSet(e))
        assert.isFalse(yield* Event.wait(e, { timeout: "100 millis" }))
        yield* Event.set(e)
        assert.isTrue(yield* Event.wait(e))
        yield* Event.clear(e)
        assert.isFalse(yield* Event.isSet(e))
      }))
  }, 60_000)

  it("workers and resources place tasks; priority orders them (the workers' own records)", async () => {
    const [w0, w1] = cluster.workers as [string, string]
    await runWith(cluster, () =>
      Effect.gen(function*() {
        const onW1 = yield* Client.mapWith(add, [[1, 2, 3, 4], [100, 100, 100, 100]], { workers: [w1] })
        const gpu = yield* Client.mapWith(add, [[5, 6, 7, 8], [200, 200, 200, 200]], { resources: { GPU: 1 } })
        yield* Client.wait([...onW1, ...gpu])
        const s = yield* promise(() => cluster.state())
        for (const f of [...onW1, ...gpu]) {
          assert.include(s.workerData[w1]!, f.key)
          assert.notInclude(s.workerData[w0]!, f.key)
        }
        // One worker, busy: what waits for it runs in priority order, whatever the submission order.
        const blocker = yield* Client.submitWith(sleep, [1], { workers: [w0] })
        const low: Array<Future.Future<number>> = []
        const high: Array<Future.Future<number>> = []
        for (let i = 0; i < 4; i++) low.push(yield* Client.submitWith(now, [], { workers: [w0], priority: -10 }))
        for (let i = 0; i < 4; i++) high.push(yield* Client.submitWith(now, [], { workers: [w0], priority: 10 }))
        yield* Future.wait(blocker)
        const lows = yield* Client.gather(low)
        const highs = yield* Client.gather(high)
        assert.isTrue(Math.max(...highs) <= Math.min(...lows), `high ${highs} / low ${lows}`)
      }).pipe(Effect.scoped))
  }, 60_000)

  it("test_retry: an erred key with a fixed dependency succeeds and keeps its handles", async () => {
    const w0 = cluster.workers[0]!
    await runWith(cluster, () =>
      Effect.gen(function*() {
        // A directory on w0 only (inside its own filesystem, chroot included), made by run.
        const made = yield* Client.run("tempfile.mkdtemp", [], { workers: [w0] })
        const dir = Either.getOrThrow(made.get(w0)!) as string
        const missing = `${dir}/fixture`
        const x = yield* Client.submitWith(listdir, [missing], { workers: [w0] })
        const y = yield* Client.submit(len, x)
        const failed = yield* Effect.exit(Future.result(y))
        assert.isTrue(Exit.isFailure(failed))
        assert.strictEqual(x.status, "error")
        // The fix: the directory the dependency lists now exists.
        yield* Client.run("os.mkdir", [missing], { workers: [w0] })
        yield* Future.retry(y)
        assert.strictEqual(yield* Future.result(y), 0)
        assert.deepStrictEqual(yield* Future.result(x), []) // the same handles
        const s = yield* promise(() => cluster.state())
        assert.strictEqual(s.tasks[y.key]!.state, "memory")
        assert.strictEqual(s.tasks[x.key]!.state, "memory")
        yield* Client.run("shutil.rmtree", [dir], { workers: [w0] })
      }).pipe(Effect.scoped))
  }, 60_000)

  it("run and runOnScheduler: decoded values per worker, typed errors", async () => {
    await runWith(cluster, () =>
      Effect.gen(function*() {
        const pids = yield* Client.run("os.getpid")
        const s = yield* promise(() => cluster.state())
        assert.deepStrictEqual(Array.from(pids.keys()).sort(), Object.keys(s.workerData).sort())
        for (const r of pids.values()) assert.isTrue(Either.isRight(r) && typeof r.right === "number")
        const bad = yield* Client.run("math.sqrt", [-1])
        for (const r of bad.values()) {
          assert.isTrue(Either.isLeft(r))
          if (Either.isLeft(r)) {
            assert.instanceOf(r.left, RemoteError)
            assert.strictEqual(r.left.type, "ValueError")
          }
        }
        assert.strictEqual(yield* Client.runOnScheduler("operator.add", [2, 3]), 5)
        const failed = yield* Effect.exit(Client.runOnScheduler("math.sqrt", [-1]))
        assert.isTrue(Exit.isFailure(failed))
      }))
  }, 60_000)

  // Last: it restarts the workers (their addresses change).
  it("test_restart: the cluster is cleared, old handles release nothing, new work runs", async () => {
    await runWith(cluster, (client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(add, 1, 1)
        const y = yield* Client.submit(add, x, 1)
        const z = yield* Client.submit(truediv, 1, 0)
        assert.strictEqual(yield* Future.result(y), 3)
        yield* Future.wait(z)
        yield* Client.restart()
        for (const f of [x, y, z]) assert.strictEqual(f.status, "cancelled")
        const cleared = yield* promise(() => cluster.state())
        assert.deepStrictEqual(cleared.tasks, {})
        assert.deepStrictEqual(Object.values(cleared.workerData).flat(), [])
        assert.strictEqual(Object.keys(cleared.workerData).length, 2)
        // Same key again: the old handle's release must not take it from the new one.
        const x2 = yield* Client.submit(add, 1, 1)
        assert.strictEqual(x2.key, x.key)
        yield* Future.release(x)
        yield* Future.release(y)
        assert.strictEqual(yield* Future.result(x2), 2)
        const s = yield* promise(() => until(cluster, (s) => s.tasks[x2.key]?.state === "memory"))
        assert.deepStrictEqual(wants(s, x2.key), [client.id])
        assert.isFalse(y.key in s.tasks)
      }).pipe(Effect.scoped))
  }, 120_000)
})
