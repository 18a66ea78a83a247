/**
 * The Node Dask worker (`effect-dask worker`) on real clusters of both
 * versions: one dask-scheduler, one Python dask-worker (started without any
 * extra flag) and two Node workers, driven by the TS client (JS tasks sent
 * per §12) and by Python clients. Every check reads the scheduler's and the
 * workers' own state (`keys` RPC, `who_has`, `processing`).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { afterAll, assert, beforeAll, it } from "vitest"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import { RemoteError } from "../src/Errors.js"
import * as Future from "../src/Future.js"
import type { Scheduler } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import { type Cluster, type ClusterState, startCluster } from "./dask/cluster.js"
import { describeDask } from "./dask/suite.js"
import * as T from "./fixtures/worker-tasks.js"

const TASKS = "test/fixtures/worker-tasks.ts"
const mul = Task.python<[number, number], number>("operator.mul")
const pyAdd = Task.python<[number, number], number>("operator.add")

const until = async <A>(probe: () => Promise<A>, ok: (a: A) => boolean, timeout = 20_000, what = "state"): Promise<A> => {
  const deadline = performance.now() + timeout
  let last = await probe()
  while (!ok(last)) {
    if (performance.now() > deadline) throw new Error(`${what} did not converge in ${timeout} ms: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 100))
    last = await probe()
  }
  return last
}

const runWith = <A, E>(
  cluster: Cluster,
  effect: Effect.Effect<A, E, Scope.Scope | Scheduler | Client.Client>
): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(Client.layer()),
      Effect.scoped,
      Effect.provide(DaskScheduler.layer({ address: cluster.address }))
    )
  )

describeDask("Node worker on Dask %s", (version) => {
  let cluster: Cluster
  let python: string
  let nodes: Array<string>
  const isNode = (w: string) => nodes.includes(w)

  beforeAll(async () => {
    cluster = await startCluster(version, {
      workers: 1,
      nodeWorkers: 2,
      node: { tasks: [TASKS], nthreads: 1 },
      // Eager assignment (no root-task queueing) so that work stealing has something to move,
      // and a short worker-ttl for the silent-worker test (never below 10 heartbeats: 5 s).
      schedulerConfig: { "distributed.scheduler.worker-saturation": "inf", "distributed.scheduler.worker-ttl": "6s" }
    })
    python = cluster.workers[0]!
    nodes = cluster.nodeWorkers.map((w) => w.address)
  }, 90_000)
  afterAll(() => cluster?.stop(), 30_000)

  const state = () => cluster.state()

  it("registers Node workers with the js resource beside an unmodified Python worker", async () => {
    const info = await cluster.py<Record<string, { resources: Record<string, number>; status: string; nthreads: number }>>(`
info = client.run_on_scheduler(lambda dask_scheduler: {a: {"resources": dict(w.resources), "status": str(w.status.name), "nthreads": w.nthreads} for a, w in dask_scheduler.workers.items()})
print(json.dumps(info))`)
    for (const n of nodes) {
      assert.deepStrictEqual(info[n]?.resources, { js: 1 })
      assert.strictEqual(info[n]?.status, "running")
    }
    assert.deepStrictEqual(info[python]?.resources, {})
  })

  it("JS tasks run only on Node workers, Python tasks only on the Python worker", async () => {
    const { js, py, whoHas } = await runWith(cluster, Effect.gen(function*() {
      const js = yield* Client.map(T.add, Array.from({ length: 12 }, (_, i) => i), Array.from({ length: 12 }, () => 1000))
      const py = yield* Client.map(pyAdd, Array.from({ length: 12 }, (_, i) => i), Array.from({ length: 12 }, () => 1))
      const values = yield* Client.gather([...js, ...py])
      assert.deepStrictEqual(values, [...Array.from({ length: 12 }, (_, i) => i + 1000), ...Array.from({ length: 12 }, (_, i) => i + 1)])
      const whoHas = yield* Client.whoHas([...js, ...py])
      return { js: js.map((f) => f.key), py: py.map((f) => f.key), whoHas }
    }))
    for (const k of js) assert.isTrue(whoHas[k]!.length > 0 && whoHas[k]!.every(isNode), `${k} on ${whoHas[k]}`)
    for (const k of py) assert.deepStrictEqual(whoHas[k], [python])
  })

  it("a JS → Python → JS chain gives the right value; values cross both ways", async () => {
    const out = await runWith(cluster, Effect.gen(function*() {
      const x = yield* Client.submit(T.add, 1, 2)
      const y = yield* Client.submit(mul, x, 4)
      const z = yield* Client.submit(T.inc, y)
      const r = yield* Client.submit(T.range, 5)
      const s = yield* Client.submit(Task.python<[ReadonlyArray<number>], number>("builtins.sum"), r)
      const d = yield* Client.submit(T.describe, { name: "node", values: [1, 2, 3] })
      const all: Array<unknown> = yield* Client.gather<unknown, never>([x, y, z, r, s, d] as Array<Future.Future<unknown>>)
      const whoHas = yield* Client.whoHas([y, z])
      return { all, whoHas, z: z.key, y: y.key }
    }))
    assert.deepStrictEqual(out.all, [3, 12, 13, [0, 1, 2, 3, 4], 10, { name: "NODE", total: 6 }])
    // Computed on the Python worker (the Node worker that ran z may hold a replica).
    assert.include(out.whoHas[out.y], python)
    assert.isTrue(out.whoHas[out.z]!.every(isNode))
  })

  it("a Python client gathers a JS result and computes on it", async () => {
    const got = await runWith(cluster, Effect.gen(function*() {
      const x = yield* Client.submit(T.describe, { name: "py", values: [4, 5] })
      const r = yield* Client.submit(T.range, 3)
      yield* Future.result(x)
      yield* Future.result(r)
      return yield* Effect.promise(() =>
        cluster.py<unknown>(`
from distributed import Future
import operator
x = Future(${JSON.stringify(x.key)}, client)
r = Future(${JSON.stringify(r.key)}, client)
# 2024.12's Future(key) no longer tells the scheduler (2022.12 does): ask for both keys.
client._send_to_scheduler({"op": "client-desires-keys", "keys": [x.key, r.key], "client": client.id})
value = x.result(timeout=20)
total = client.submit(sum, r, workers=[${JSON.stringify(python)}]).result(timeout=20)
print(json.dumps({"x": value, "type": type(r.result(timeout=20)).__name__, "total": total}))`)
      )
    }))
    assert.deepStrictEqual(got, { x: { name: "PY", total: 9 }, type: "tuple", total: 3 })
  })

  it("a JS task that throws gives a RemoteError with the JS message and stack", async () => {
    const [thrown, failed] = await runWith(cluster, Effect.gen(function*() {
      const f = yield* Client.submit(T.boom, "kaboom")
      const g = yield* Client.submit(T.failEffect, "effect failure")
      return [yield* Effect.exit(Future.result(f)), yield* Effect.exit(Future.result(g))] as const
    }))
    assert.isTrue(Exit.isFailure(thrown))
    const error = Exit.isFailure(thrown) && thrown.cause._tag === "Fail" ? thrown.cause.error : undefined
    assert.instanceOf(error, RemoteError)
    const remote = error as RemoteError
    assert.strictEqual(remote.type, "RuntimeError")
    assert.include(remote.message, "JS RangeError: kaboom")
    // The JS stack arrives as the traceback: the throwing function and the task module.
    assert.include(remote.traceback, "explode")
    assert.include(remote.traceback, "worker-tasks.ts")
    const error2 = Exit.isFailure(failed) && failed.cause._tag === "Fail" ? failed.cause.error : undefined
    assert.instanceOf(error2, RemoteError)
    assert.include((error2 as RemoteError).message, "effect failure")
  })

  it("a Python task forced onto a Node worker fails at once, naming it a JS worker; run gets an error reply", async () => {
    const out = await cluster.py<{ error: string; type: string; run: string; runPython: unknown }>(`
import operator
f = client.submit(operator.add, 1, 2, workers=[${JSON.stringify(nodes[0])}])
try:
    f.result(timeout=20)
    error, kind = "no error", ""
except Exception as e:
    error, kind = str(e), type(e).__name__
try:
    client.run(lambda: 1)
    run = "no error"
except Exception as e:
    run = str(e)
print(json.dumps({"error": error, "type": kind, "run": run, "runPython": client.run(lambda: 7, workers=[${JSON.stringify(python)}])}))`)
    assert.strictEqual(out.type, "NotImplementedError")
    assert.include(out.error, `${nodes[0]} is a JS worker`)
    assert.include(out.run, "is a JS worker")
    assert.deepStrictEqual(out.runPython, { [python]: 7 })
  })

  it("work stealing moves queued JS tasks between the two Node workers (test_steal)", async () => {
    const before = await stealCount(cluster)
    const whoHas = await runWith(cluster, Effect.gen(function*() {
      // All depend on a value held by the first Node worker: the scheduler places them
      // there for locality, and stealing moves some to the idle second one.
      const seed = yield* Client.submitWith(T.add, [0, 1], { workers: [nodes[0]!] })
      yield* Future.result(seed)
      const fs = yield* Client.map(T.slowInc, Array.from({ length: 16 }, () => 150), Array.from({ length: 16 }, () => seed))
      const values = yield* Client.gather(fs)
      assert.deepStrictEqual(values, Array.from({ length: 16 }, () => 2))
      return yield* Client.whoHas(fs)
    }))
    const counts = new Map<string, number>()
    for (const holders of Object.values(whoHas)) for (const w of holders) counts.set(w, (counts.get(w) ?? 0) + 1)
    assert.isTrue((counts.get(nodes[0]!) ?? 0) > 0 && (counts.get(nodes[1]!) ?? 0) > 0, JSON.stringify(Object.fromEntries(counts)))
    assert.strictEqual(counts.get(python), undefined)
    assert.isAbove(await stealCount(cluster), before)
  })

  it("releasing every future empties every Node worker's store and the scheduler (test_release_keys)", async () => {
    const keys = await runWith(cluster, Effect.gen(function*() {
      const fs = yield* Client.map(T.add, [1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1])
      const ys = yield* Client.map(mul, fs, [2, 2, 2, 2, 2, 2])
      const zs = yield* Client.map(T.inc, ys)
      yield* Client.gather(zs)
      const s = yield* Effect.promise(state)
      const held = nodes.flatMap((n) => s.workerData[n] ?? [])
      assert.isTrue(zs.every((z) => held.includes(z.key)), "results are held by the Node workers")
      return [...fs, ...ys, ...zs].map((f) => f.key)
    }))
    const s = await until(state, (s: ClusterState) =>
      keys.every((k) => !(k in s.tasks)) && Object.values(s.workerData).every((ks) => !ks.some((k) => keys.includes(k))), 20_000, "release")
    for (const n of nodes) assert.deepStrictEqual(s.workerData[n], [])
  })

  it("a Node worker SIGKILLed mid-task: the scheduler recomputes its keys elsewhere", async () => {
    const extra = await cluster.addNodeWorker({ tasks: [TASKS], nthreads: 1 })
    const value = await runWith(cluster, Effect.gen(function*() {
      // Unrestricted: spread over the three Node workers (a restriction to the doomed
      // worker would leave its keys nowhere to go).
      const fs = yield* Client.map(T.slowInc, Array.from({ length: 12 }, () => 5_000), Array.from({ length: 12 }, (_, i) => i))
      // Kill it once it holds a result and runs another task.
      yield* Effect.promise(() =>
        until(async () => ({ held: (await state()).workerData[extra.address] ?? [], running: await processingOn(cluster, extra.address) }),
          (s) => s.held.length > 0 && s.running.length > 0, 60_000, "work on the extra worker"))
      yield* Effect.promise(() => extra.kill("SIGKILL"))
      const values = yield* Client.gather(fs)
      const whoHas = yield* Client.whoHas(fs)
      return { values, whoHas: Object.values(whoHas).flat() }
    }))
    assert.deepStrictEqual(value.values, Array.from({ length: 12 }, (_, i) => i + 1))
    assert.isFalse(value.whoHas.includes(extra.address))
    assert.isTrue(value.whoHas.every(isNode), JSON.stringify(value.whoHas))
  }, 120_000)

  it("SIGTERM retires a Node worker gracefully: its keys move, the process exits 0 (test_close_gracefully)", async () => {
    const extra = await cluster.addNodeWorker({ tasks: [TASKS], nthreads: 1 })
    await runWith(cluster, Effect.gen(function*() {
      const fs = yield* Client.mapWith(T.add, [[1, 3, 5], [2, 4, 6]], { workers: [extra.address] })
      yield* Client.gather(fs)
      const before = yield* Client.whoHas(fs)
      for (const f of fs) assert.deepStrictEqual(before[f.key], [extra.address])
      const exit = yield* Effect.promise(() => extra.kill("SIGTERM"))
      assert.deepStrictEqual(exit, { code: 0, signal: null })
      const after = yield* Client.whoHas(fs)
      for (const f of fs) {
        assert.isTrue(after[f.key]!.length > 0 && !after[f.key]!.includes(extra.address), `${f.key}: ${after[f.key]}`)
      }
      assert.deepStrictEqual(yield* Client.gather(fs), [3, 7, 11])
    }))
  })

  it("a Node worker that stops heartbeating is removed by worker-ttl", async () => {
    const extra = await cluster.addNodeWorker({ tasks: [TASKS], nthreads: 1 })
    const workers = () => cluster.py<Array<string>>(`print(json.dumps(list(client.scheduler_info()["workers"])))`)
    assert.include(await workers(), extra.address)
    // SIGSTOP: the process is frozen with its sockets open; only the missing heartbeats tell.
    process.kill(extra.pid, "SIGSTOP")
    try {
      await until(workers, (ws) => !ws.includes(extra.address), 30_000, "worker-ttl removal")
    } finally {
      process.kill(extra.pid, "SIGCONT")
      await extra.kill("SIGKILL")
    }
  }, 90_000)

  // --- ports of distributed/tests/test_worker.py (behaviour visible from outside the worker) ---

  it("test_worker_task_data: the result is in the Node worker's data", async () => {
    const { key, held } = await runWith(cluster, Effect.gen(function*() {
      const f = yield* Client.submitWith(T.inc, [1], { workers: [nodes[0]!] })
      assert.strictEqual(yield* Future.result(f), 2)
      return { key: f.key, held: (yield* Effect.promise(state)).workerData[nodes[0]!] }
    }))
    assert.include(held, key)
  })

  it("test_identity and test_worker_with_port_zero: identity RPC, a bound port", async () => {
    const id = await cluster.py<{ type: string; id: string; nthreads: number }>(`
from distributed.core import rpc
async def f():
    async with rpc(${JSON.stringify(nodes[0])}) as r:
        return await r.identity()
print(json.dumps(client.sync(f)))`)
    assert.strictEqual(id.type, "Worker")
    assert.match(id.id, /^Worker-node-/)
    assert.strictEqual(id.nthreads, 1)
    assert.notMatch(nodes[0]!, /:0$/)
  })

  it("test_gather and test_gather_missing_keys: the gather RPC fetches from a peer; a missing key is a partial-fail", async () => {
    const out = await cluster.py<{ ok: unknown; partial: unknown; held: boolean }>(`
from distributed.core import rpc
x, y = client.scatter(["x", "y"], workers=[${JSON.stringify(python)}])
async def f():
    async with rpc(${JSON.stringify(nodes[0])}) as r:
        ok = await r.gather(who_has={x.key: [${JSON.stringify(python)}], y.key: [${JSON.stringify(python)}]})
        partial = await r.gather(who_has={x.key: [${JSON.stringify(python)}], "missing-key": [${JSON.stringify(python)}]})
        keys = await r.keys()
    return ok, partial, x.key in keys and y.key in keys
ok, partial, held = client.sync(f)
print(json.dumps({"ok": ok, "partial": {"status": partial["status"], "keys": {k: list(v) for k, v in partial["keys"].items()}}, "held": held}))`)
    assert.deepStrictEqual(out.ok, { status: "OK" })
    assert.deepStrictEqual(out.partial, { status: "partial-fail", keys: { "missing-key": [python] } })
    assert.isTrue(out.held)
  })

  it("test_inter_worker_communication and test_clean_nbytes: a dependency fetched from the other Node worker; nbytes reported", async () => {
    const out = await runWith(cluster, Effect.gen(function*() {
      const x = yield* Client.submitWith(T.range, [100], { workers: [nodes[0]!] })
      const y = yield* Client.submitWith(T.sum, [x], { workers: [nodes[1]!] })
      const value = yield* Future.result(y)
      const nbytes = yield* Client.nbytes([x, y])
      const whoHas = yield* Client.whoHas([x])
      return { value, nbytes: [nbytes[x.key], nbytes[y.key]], whoHas: whoHas[x.key] }
    }))
    assert.strictEqual(out.value, 4950)
    // msgpack sizes: 100 small ints in an array (3 + 100 bytes), and the int 4950 (3 bytes).
    assert.deepStrictEqual(out.nbytes, [103, 3])
    assert.sameMembers(out.whoHas as Array<string>, nodes)
  })

  // Skipped on 2024.12: a Node worker registers `js: nthreads`, so with one slot the 2024.12 scheduler itself holds
  // the other JS tasks (no-worker) and hands them out as the resource frees, not in priority order (seen in CI:
  // a low-priority task ran first in 1 of 5 clean runs). The worker's own ordering is then never exercised.
  it.skipIf(version === "2024.12")("test_priorities: with one slot, a higher priority task runs first", async () => {
    const order = await runWith(cluster, Effect.gen(function*() {
      // Holds the only slot while the others arrive, so the worker's own ordering decides.
      const block = yield* Client.submitWith(T.slowInc, [2_000, 0], { workers: [nodes[1]!] })
      yield* Effect.sleep("500 millis")
      // 200 ms each: results are gathered concurrently, so tasks finishing within a few ms of each
      // other (1 ms tasks did) could come back in any order, whatever order the worker ran them in.
      const low = yield* Client.mapWith(T.slowInc, [[200, 200, 200], [1, 2, 3]], { workers: [nodes[1]!], priority: -10 })
      const high = yield* Client.submitWith(T.slowInc, [200, 100], { workers: [nodes[1]!], priority: 10 })
      const done: Array<string> = []
      yield* Effect.forEach([high, ...low], (f) => Effect.tap(Future.result(f), () => Effect.sync(() => done.push(f.key))), { concurrency: "unbounded" })
      return { done, high: high.key, block: block.key }
    }))
    assert.strictEqual(order.done[0], order.high, JSON.stringify(order))
  })

  it("test_acquire_replicas and test_remove_replicas_simple: the scheduler copies keys to a Node worker and drops them again", async () => {
    const keys = await runWith(cluster, Effect.gen(function*() {
      const fs = yield* Client.mapWith(T.inc, [[1, 2, 3]], { workers: [nodes[0]!] })
      yield* Client.gather(fs)
      const keys = fs.map((f) => f.key)
      const counts = yield* Effect.promise(() =>
        cluster.py<{ acquired: Array<number>; removed: Array<number> }>(`
import time
keys = ${JSON.stringify(keys)}
def acquire(dask_scheduler, keys, worker):
    dask_scheduler.request_acquire_replicas(worker, keys, stimulus_id=f"test-{time.time()}")
def counts(dask_scheduler, keys):
    return [len(dask_scheduler.tasks[k].who_has) for k in keys]
def remove(dask_scheduler, keys, worker):
    dask_scheduler.request_remove_replicas(worker, keys, stimulus_id=f"test-{time.time()}")
client.run_on_scheduler(acquire, keys=keys, worker=${JSON.stringify(nodes[1])})
deadline = time.time() + 20
while client.run_on_scheduler(counts, keys=keys) != [2, 2, 2] and time.time() < deadline:
    time.sleep(0.05)
acquired = client.run_on_scheduler(counts, keys=keys)
client.run_on_scheduler(remove, keys=keys, worker=${JSON.stringify(nodes[1])})
print(json.dumps({"acquired": acquired, "removed": client.run_on_scheduler(counts, keys=keys)}))`)
      )
      assert.deepStrictEqual(counts, { acquired: [2, 2, 2], removed: [1, 1, 1] })
      // The Node worker confirmed with release-worker-data and dropped its copies.
      yield* Effect.promise(() => until(state, (s: ClusterState) => !keys.some((k) => (s.workerData[nodes[1]!] ?? []).includes(k)), 10_000, "replicas dropped"))
      return keys
    }))
    assert.strictEqual(keys.length, 3)
  })

  it("test_heartbeats: the scheduler keeps hearing from Node workers", async () => {
    const ages = await cluster.py<Array<number>>(`
import time
time.sleep(1.5)
def ages(dask_scheduler, workers):
    return [time.time() - dask_scheduler.workers[w].last_seen for w in workers]
print(json.dumps(client.run_on_scheduler(ages, workers=${JSON.stringify(nodes)})))`)
    for (const age of ages) assert.isBelow(age, 1.5)
  })

  it("test_pause_executor (test_worker_memory.py): above its memory limit a Node worker pauses and runs nothing", async () => {
    // 1 MB: any Node process is above 80% of that at once.
    const extra = await cluster.addNodeWorker({ tasks: [TASKS], nthreads: 1, args: ["--memory-limit", "1000000"] })
    try {
      const status = () => cluster.py<string>(`print(json.dumps(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.workers[${JSON.stringify(extra.address)}].status.name)))`)
      await until(status, (s) => s === "paused", 20_000, "paused")
      const stuck = await runWith(cluster, Effect.gen(function*() {
        const f = yield* Client.submitWith(T.inc, [1], { workers: [extra.address] })
        return yield* Effect.timeout(Future.result(f), "1500 millis").pipe(Effect.option)
      }))
      assert.strictEqual(stuck._tag, "None")
    } finally {
      await extra.kill("SIGKILL")
    }
  })

  it("a Float64Array result travels Node → Node and Node → Python", async () => {
    const out = await runWith(cluster, Effect.gen(function*() {
      const xs = yield* Client.submitWith(T.floats, [1000], { workers: [nodes[0]!] })
      const s = yield* Client.submitWith(T.floatSum, [xs], { workers: [nodes[1]!] })
      const n = yield* Client.submit(Task.python<[Float64Array], number>("builtins.len"), xs)
      return yield* Client.gather<unknown, never>([s, n] as Array<Future.Future<unknown>>)
    }))
    assert.deepStrictEqual(out, [{ kind: "Float64Array", sum: 249750 }, 8000])
  })
})

describeDask("a Node worker joining a Python-only cluster (Dask %s)", (version) => {
  let cluster: Cluster
  beforeAll(async () => {
    // Eager assignment: the scheduler would hand the idle newcomer its share of Python tasks.
    cluster = await startCluster(version, { workers: 1, schedulerConfig: { "distributed.scheduler.worker-saturation": "inf" } })
  }, 90_000)
  afterAll(() => cluster?.stop(), 30_000)

  it("the client learns of it from the scheduler's worker events, not from a poll: Python tasks stay off it", async () => {
    const python = cluster.workers[0]!
    const out = await runWith(cluster, Effect.gen(function*() {
      // Connected (and placed) while the cluster has no Node worker: nothing to keep Python tasks off.
      const before = yield* Client.map(pyAdd, [1, 2], [1, 1])
      yield* Client.gather(before)
      const node = yield* Effect.promise(() => cluster.addNodeWorker({ tasks: [TASKS], nthreads: 1 }))
      // Well inside the backstop look (10 s): only the add-worker event can have told the client.
      yield* Effect.sleep("1500 millis")
      const fs = yield* Client.map(pyAdd, Array.from({ length: 40 }, (_, i) => i), Array.from({ length: 40 }, () => 1))
      const values = yield* Client.gather(fs)
      const whoHas = yield* Client.whoHas(fs)
      const js = yield* Client.map(T.add, [1, 2, 3], [10, 10, 10])
      return { node: node.address, values, whoHas, jsValues: yield* Client.gather(js), jsWhoHas: yield* Client.whoHas(js) }
    }))
    assert.deepStrictEqual(out.values, Array.from({ length: 40 }, (_, i) => i + 1))
    for (const [key, holders] of Object.entries(out.whoHas)) assert.deepStrictEqual(holders, [python], key)
    assert.deepStrictEqual(out.jsValues, [11, 12, 13])
    for (const holders of Object.values(out.jsWhoHas)) assert.deepStrictEqual(holders, [out.node])
  }, 60_000)
})

/** Steal requests the scheduler's work-stealing extension has made so far. */
const stealCount = (cluster: Cluster) =>
  cluster.py<number>(`
def count(dask_scheduler):
    s = dask_scheduler.extensions["stealing"]
    return int(sum(s.metrics["request_count_total"].values()))
print(json.dumps(client.run_on_scheduler(count)))`)

/** Keys the scheduler has assigned to `worker` and not yet seen finish. */
const processingOn = (cluster: Cluster, worker: string) =>
  cluster.py<Array<string>>(`
def processing(dask_scheduler, worker):
    ws = dask_scheduler.workers.get(worker)
    return [] if ws is None else [str(ts.key) for ts in ws.processing]
print(json.dumps(client.run_on_scheduler(processing, worker=${JSON.stringify(worker)})))`)
