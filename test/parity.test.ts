/**
 * Dask parity on the embedded scheduler and the test scheduler: Variables,
 * Queues, Events, Locks (ports of distributed/tests/test_variable.py,
 * test_queues.py, test_events.py, test_locks.py), retry and restart (ports
 * of test_client.py), futuresOf, Client.close. Each backend's own state
 * (tasks it knows, who wants what) is checked, not only what the client
 * believes. The same cases on real Dask are in `dask-parity.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as Cause from "effect/Cause"
import {
  Client,
  EmbeddedScheduler,
  Errors,
  Event,
  Future,
  Lock,
  Queue,
  Task,
  TestScheduler,
  Variable
} from "../src/index.js"
import type { Key } from "../src/Scheduler.js"

const inc = Task.make("inc", (x: number) => x + 1, { python: "operator.neg" })

/** One backend: its layer, the keys it knows, who wants a key, and how to make a key finish. */
interface Backend {
  readonly name: string
  readonly layer: () => Layer.Layer<any>
  readonly known: Effect.Effect<ReadonlySet<Key>, never, any>
  readonly wanters: (key: Key) => Effect.Effect<ReadonlyArray<string>, never, any>
  /** Lets the backend compute (embedded) or scripts the result (test). */
  readonly finish: (key: Key, value: unknown) => Effect.Effect<void, never, any>
}

const settle = Effect.repeatN(Effect.sleep(0), 5)

const embedded: Backend = {
  name: "embedded",
  layer: () => EmbeddedScheduler.layer({ workers: 2, slots: 2 }),
  known: Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => Effect.map(e.snapshot, (s) => new Set(s.tasks.keys()))),
  wanters: (key) =>
    Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => Effect.map(e.snapshot, (s) => s.tasks.get(key)?.whoWants ?? [])),
  finish: () => settle
}

const scripted: Backend = {
  name: "test",
  layer: () => TestScheduler.layer(),
  known: Effect.flatMap(TestScheduler.TestScheduler, (t) =>
    Effect.zipWith(t.tasks, t.memory, (tasks, memory) => new Set([...tasks.keys(), ...memory]))),
  wanters: (key) =>
    Effect.flatMap(TestScheduler.TestScheduler, (t) =>
      Effect.gen(function*() {
        const out: Array<string> = []
        for (const id of yield* t.clients) if ((yield* t.wants(id)).has(key)) out.push(id)
        for (const pseudo of [`variable-x`, `queue-x`, `queue-y`, "fire-and-forget"]) {
          if ((yield* t.pseudoWants(pseudo)).has(key)) out.push(pseudo)
        }
        return out.sort()
      })),
  finish: (key, value) => Effect.orDie(Effect.flatMap(TestScheduler.TestScheduler, (t) => t.finish(key, value)))
}

const run = <A, E>(backend: Backend, body: (client: Client.Client) => Effect.Effect<A, E, any>) =>
  Effect.gen(function*() {
    const client = yield* Client.make({ id: "c" })
    return yield* Client.withClient(body(client), client)
  }).pipe(Effect.scoped, Effect.provide(backend.layer())) as Effect.Effect<A, E>

describe.each([embedded, scripted])("parity on the $name scheduler", (backend) => {
  it.live("test_variable: a key held only by a Variable survives its scope; delete forgets it", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const x = yield* Variable.make<number>("x")
        const xx = yield* Variable.make<number>("x")
        const key = yield* Effect.scoped(Effect.gen(function*() {
          const future = yield* Client.submit(inc, 1)
          yield* backend.finish(future.key, 2)
          yield* Variable.set(x, future)
          const future2 = yield* Variable.get(xx)
          assert.isTrue(Future.isFuture(future2))
          assert.strictEqual((future2 as Future.Future<number>).key, future.key)
          return future.key
        }))
        yield* settle
        // Both handles are gone; the Variable's pseudo-client still wants the key.
        assert.isTrue((yield* backend.known).has(key))
        assert.deepStrictEqual(yield* backend.wanters(key), ["variable-x"])
        yield* Variable.delete(x)
        yield* settle
        assert.isFalse((yield* backend.known).has(key))
      })
    ))

  it.live("test_delete_unset_variable: deleting an unset Variable is harmless", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const v = yield* Variable.make()
        yield* Variable.delete(v)
        yield* settle
        const exit = yield* Effect.exit(Variable.get(v, { timeout: "10 millis" }).pipe(Effect.scoped))
        assert.isTrue(Exit.isFailure(exit) && Cause.isTimeoutException(Cause.squash(exit.cause)))
      })
    ))

  it.live("test_variables_do_not_leak_client: delete removes the Variable's pseudo-client", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const x = yield* Variable.make("x")
        const key = yield* Effect.scoped(Effect.gen(function*() {
          const future = yield* Client.submit(inc, 1)
          yield* backend.finish(future.key, 2)
          yield* Variable.set(x, future)
          return future.key
        }))
        yield* Variable.delete(x)
        yield* settle
        assert.deepStrictEqual(yield* backend.wanters(key), [])
        if (backend === embedded) {
          const s = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
          assert.isFalse(s.clients.has("variable-x"))
        }
      })
    ))

  it.live("Variable holds data; set replaces a key and releases the old one", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const x = yield* Variable.make<unknown>("x")
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const f = yield* Client.submit(inc, 10)
          yield* backend.finish(f.key, 11)
          yield* Variable.set(x, f)
          return f.key
        }))
        yield* Variable.set(x, { n: 1, s: "hello" })
        yield* settle
        assert.isFalse((yield* backend.known).has(first))
        assert.deepStrictEqual(yield* Effect.scoped(Variable.get(x)), { n: 1, s: "hello" })
      })
    ))

  it.live("test_queue: queued keys are held until taken; a getter's handle is scoped", () =>
    run(backend, (client) =>
      Effect.gen(function*() {
        const x = yield* Queue.make<number>("x")
        const y = yield* Queue.make<number>("y")
        const xx = yield* Queue.make<number>("x")
        const key = yield* Effect.scoped(Effect.gen(function*() {
          const future = yield* Client.submit(inc, 1)
          yield* backend.finish(future.key, 2)
          yield* Queue.put(x, future)
          yield* Queue.put(y, future)
          const future2 = yield* Queue.get(xx)
          assert.strictEqual((future2 as Future.Future<number>).key, future.key)
          const timedOut = yield* Effect.exit(Queue.get(x, { timeout: "20 millis" }))
          assert.isTrue(Exit.isFailure(timedOut) && Cause.isTimeoutException(Cause.squash(timedOut.cause)))
          return future.key
        }))
        yield* settle
        assert.isTrue((yield* backend.known).has(key)) // still in y
        assert.deepStrictEqual(yield* backend.wanters(key), ["queue-y"])
        yield* Effect.scoped(Effect.gen(function*() {
          const burned = yield* Queue.get(y)
          assert.strictEqual((burned as Future.Future<number>).key, key)
          yield* settle
          assert.deepStrictEqual(yield* backend.wanters(key), [client.id])
        }))
        yield* settle
        assert.isFalse((yield* backend.known).has(key))
      })
    ).pipe(Effect.scoped))

  it.live("test_queue_with_data", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const x = yield* Queue.make("x")
        const xx = yield* Queue.make("x")
        yield* Queue.put(x, [1, "hello"])
        assert.deepStrictEqual(yield* Queue.get(xx), [1, "hello"])
        assert.strictEqual(yield* Queue.size(x), 0)
        const timedOut = yield* Effect.exit(Queue.get(x, { timeout: "20 millis" }))
        assert.isTrue(Exit.isFailure(timedOut))
        yield* Queue.put(x, 1)
        yield* Queue.put(x, 2)
        assert.deepStrictEqual(yield* Queue.getBatch(x), [1, 2])
      }).pipe(Effect.scoped)
    ))

  it.live("the last reference to a Queue releases the keys still in it", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const key = yield* Effect.scoped(Effect.gen(function*() {
          const q = yield* Queue.make("x")
          const f = yield* Client.submit(inc, 5)
          yield* backend.finish(f.key, 6)
          yield* Queue.put(q, f)
          return f.key
        }))
        yield* settle
        assert.isFalse((yield* backend.known).has(key))
      })
    ))

  it.live("Event: wait, set, clear, is_set", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const e = yield* Event.make("e")
        assert.isFalse(yield* Event.isSet(e))
        assert.isFalse(yield* Event.wait(e, { timeout: "10 millis" }))
        const waiter = yield* Effect.fork(Event.wait(e))
        yield* Event.set(e)
        assert.isTrue(yield* Effect.flatMap(Effect.succeed(waiter), (f) => f.await.pipe(Effect.flatMap((x) => x))))
        assert.isTrue(yield* Event.isSet(e))
        yield* Event.clear(e)
        assert.isFalse(yield* Event.isSet(e))
      })
    ))

  it.live("Lock: one holder at a time; withLock releases on exit", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const a = yield* Lock.make("l")
        const b = yield* Lock.make("l")
        assert.isTrue(yield* Lock.acquire(a))
        assert.isFalse(yield* Lock.acquire(b, { timeout: 0 }))
        assert.isFalse(yield* Lock.acquire(b, { timeout: "10 millis" }))
        yield* Lock.release(a)
        assert.isTrue(yield* Lock.acquire(b, { timeout: 0 }))
        yield* Lock.release(b)
        const exit = yield* Effect.exit(Lock.withLock(Effect.fail("boom"), a))
        assert.isTrue(Exit.isFailure(exit))
        assert.isTrue(yield* Lock.acquire(b, { timeout: 0 })) // released by withLock
      })
    ))

  it.live("futuresOf finds futures in nested arrays and objects, each key once", () =>
    run(backend, () =>
      Effect.gen(function*() {
        const [a, b] = yield* Client.map(inc, [1, 2])
        const found = Client.futuresOf({ xs: [a, [b, a]], meta: { n: 1, f: b }, s: "a" })
        assert.deepStrictEqual(found.map((f) => f.key), [a!.key, b!.key])
      }).pipe(Effect.scoped)
    ))

  it.live("Client.close releases everything at once; later calls fail with ClientClosedError", () =>
    Effect.gen(function*() {
      const client = yield* Client.make({ id: "c" })
      const f = yield* Client.withClient(Client.submit(inc, 1), client)
      yield* backend.finish(f.key, 2)
      yield* Client.close(client)
      yield* Client.close(client) // idempotent
      yield* settle
      assert.deepStrictEqual(yield* backend.wanters(f.key), [])
      const exit = yield* Effect.exit(Client.withClient(Client.submit(inc, 3), client))
      assert.isTrue(Exit.isFailure(exit) && Cause.squash(exit.cause) instanceof Errors.ClientClosedError)
    }).pipe(Effect.scoped, Effect.provide(backend.layer())))
})

describe("retry and restart on the embedded scheduler (ports of test_client.py)", () => {
  const layer = EmbeddedScheduler.layer({ workers: 2, slots: 2 })

  it.live("test_retry: an erred key with a fixed dependency succeeds and keeps its handles", () => {
    let fixed = false
    const flag = Task.make("flag", (x: number) => {
      if (!fixed) throw new Error("not yet")
      return x
    })
    return Effect.gen(function*() {
      const client = yield* Client.make({ id: "c" })
      yield* Client.withClient(Effect.gen(function*() {
        const x = yield* Client.submit(flag, 100)
        const y = yield* Client.submit(inc, x)
        const exit = yield* Effect.exit(Future.result(y))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(x.status, "error")
        fixed = true
        yield* Future.retry(y)
        assert.strictEqual(yield* Future.result(y), 101)
        assert.strictEqual(yield* Future.result(x), 100) // the same handles, not new ones
        const s = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
        assert.strictEqual(s.tasks.get(y.key)!.state, "memory")
      }), client)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("test_restart: the cluster forgets everything; old handles release nothing; new work runs", () => {
    const div = Task.make("div", (a: number, b: number) => {
      if (b === 0) throw new RangeError("division by zero")
      return a / b
    })
    return Effect.gen(function*() {
      const client = yield* Client.make({ id: "c" })
      const other = yield* Client.make({ id: "other" })
      yield* Client.withClient(Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        const y = yield* Client.submit(inc, x)
        const z = yield* Client.submit(div, 1, 0)
        yield* Future.result(y)
        yield* Future.wait(z)
        yield* Client.restart()
        for (const f of [x, y, z]) assert.strictEqual(f.status, "cancelled")
        const s = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
        assert.strictEqual(s.tasks.size, 0)
        assert.isTrue(s.workers.every((w) => w.keys.length === 0))
        // New work with the same keys runs; releasing the old handles sends nothing that would hurt it.
        const x2 = yield* Client.submit(inc, 1)
        assert.strictEqual(x2.key, x.key)
        yield* Future.release(x)
        assert.strictEqual(yield* Future.result(x2), 2)
        const after = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
        assert.deepStrictEqual(after.tasks.get(x2.key)!.whoWants, ["c"])
      }), client)
      assert.isFalse(other.closed)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("workers restricts placement; priority orders tasks waiting for a slot", () => {
    const order: Array<string> = []
    const opens: Array<() => void> = []
    const gate = Task.make("gate", () => new Promise<number>((resolve) => opens.push(() => resolve(0))), { pure: false })
    const mark = Task.make("mark", (tag: string) => {
      order.push(tag)
      return tag
    }, { pure: false })
    return Effect.gen(function*() {
      const client = yield* Client.make({ id: "c" })
      yield* Client.withClient(Effect.gen(function*() {
        const e = yield* EmbeddedScheduler.EmbeddedScheduler
        const [w0, w1] = (yield* e.snapshot).workers.map((w) => w.address) as [string, string]
        const placed = yield* Client.mapWith(inc, [[1, 2, 3, 4]], { workers: [w1] })
        yield* Client.wait(placed)
        const s = yield* e.snapshot
        for (const f of placed) assert.deepStrictEqual(s.tasks.get(f.key)!.workers, [w1])
        // Both slots of w0 busy; what waits for it runs by priority, then in submission order.
        const gates = [yield* Client.submitWith(gate, [], { workers: [w0] }), yield* Client.submitWith(gate, [], { workers: [w0] })]
        yield* settle
        for (const tag of ["low-1", "low-2"]) yield* Client.submitWith(mark, [tag], { workers: [w0], priority: -1 })
        for (const tag of ["mid-1", "mid-2"]) yield* Client.submitWith(mark, [tag], { workers: [w0] })
        for (const tag of ["high-1", "high-2"]) yield* Client.submitWith(mark, [tag], { workers: [w0], priority: 5 })
        // A task free to go anywhere is not held up behind them: w1 is free.
        const free = yield* Client.submit(inc, 99)
        assert.strictEqual(yield* Future.result(free), 100)
        assert.deepStrictEqual(order, [])
        assert.strictEqual(opens.length, 2)
        for (const open of opens) open()
        yield* Client.wait(gates)
        yield* Effect.repeatN(settle, 20)
        assert.deepStrictEqual(order, ["high-1", "high-2", "mid-1", "mid-2", "low-1", "low-2"])
      }), client)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("run names a Python callable: the embedded scheduler refuses it", () =>
    Effect.gen(function*() {
      const client = yield* Client.make()
      const exit = yield* Effect.exit(Client.withClient(Client.run("os.getpid"), client))
      assert.isTrue(Exit.isFailure(exit) && Cause.squash(exit.cause) instanceof Errors.UnsupportedTaskError)
    }).pipe(Effect.scoped, Effect.provide(layer)))
})

describe("retry and restart on the test scheduler (recorded)", () => {
  it.live("retry and restart are recorded; retry keeps the handle", () =>
    Effect.gen(function*() {
      const test = yield* TestScheduler.TestScheduler
      const client = yield* Client.make({ id: "c" })
      yield* Client.withClient(Effect.gen(function*() {
        const f = yield* Client.submit(inc, 1)
        yield* test.fail(f.key, { type: "ValueError" })
        yield* Client.retry([f])
        yield* test.settle
        assert.strictEqual(f.status, "pending")
        yield* test.finish(f.key, 2)
        assert.strictEqual(yield* Future.result(f), 2)
        yield* Client.restart()
        assert.strictEqual(f.status, "cancelled")
        yield* Future.release(f)
        const calls = yield* test.calls
        assert.deepStrictEqual(calls.map((c) => [c.call, c.args]), [["retry", [f.key]], ["restart", []]])
        // The stale handle's release sent nothing.
        assert.isFalse((yield* test.messages).some((m) => m.message._tag === "ReleaseKeys"))
      }), client)
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))

  it.live("Variable get of a key the scheduler holds desires it, then confirms", () =>
    Effect.gen(function*() {
      const test = yield* TestScheduler.TestScheduler
      const client = yield* Client.make({ id: "c" })
      yield* Client.withClient(Effect.gen(function*() {
        const v = yield* Variable.make("x")
        const f = yield* Client.submit(inc, 1)
        yield* Variable.set(v, f)
        yield* test.clearMessages
        yield* Effect.scoped(Variable.get(v))
        const tags = (yield* test.messages).map((m) => m.message._tag)
        // The getter's own handle shares the key it already holds: no second desire; the confirm follows.
        assert.deepStrictEqual(tags, ["Received"])
      }), client)
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))
})
