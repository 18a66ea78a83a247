import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Option, Schema, Scope, Stream } from "effect"
import { Client, EmbeddedScheduler, Errors, Future, Task, TestScheduler } from "../src/index.js"
import type { ClientImpl } from "../src/internal/client.js"

const inc = Task.make("inc", (x: number) => x + 1, { python: "test_utils.inc" })
const add = Task.make("add", (x: number, y: number) => x + y, { python: "operator.add" })
const slow = Task.make("slow", (x: number) => x, { pure: false })

/** Runs `body` with a fresh test scheduler and a client made current for it. */
const withClient = <A, E>(
  body: (test: TestScheduler.TestScheduler["Type"], client: Client.Client) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    const test = yield* TestScheduler.TestScheduler
    const client = yield* Client.make()
    return yield* Client.withClient(body(test, client), client)
  }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer()))

/** The client's reference count per key (Dask's `c.refcount`). */
const refcount = (client: Client.Client) =>
  new Map(Array.from((client as ClientImpl).states, ([k, st]) => [k, st.count]))

const tags = (test: TestScheduler.TestScheduler["Type"]) =>
  Effect.map(test.messages, (ms) => ms.map((m) => m.message._tag))

describe("Client (ports of distributed/tests/test_client.py)", () => {
  it.effect("README: the test scheduler fails the dependents of a failed key", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(add, 1, 2)
        const y = yield* Client.submit(add, x, 10) // waits on x
        yield* test.fail(x.key, { type: "ValueError", message: "bad input" })
        const error = yield* Effect.flip(Future.result(y))
        assert.strictEqual(error._tag, "RemoteError")
        assert.strictEqual((error as { message: string }).message, "bad input")
        // Finishing a task whose dependency is not in memory is refused, unless forced.
        const z = yield* Client.submit(inc, 5)
        const w = yield* Client.submit(inc, z)
        const refused = yield* Effect.flip(test.finish(w.key, 7))
        assert.strictEqual(refused._tag, "ScriptError")
        assert.strictEqual(refused.reason, "NotAllowed")
        yield* test.finish(w.key, 7, { force: true })
        assert.strictEqual(yield* Future.result(w), 7)
      })
    ))

  it.effect("test_Future_release", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(add, 1, 1)
        yield* test.finish(x.key, 2)
        assert.strictEqual(yield* Future.result(x), 2)
        yield* Future.release(x)
        yield* Future.release(x) // idempotent
        assert.strictEqual(refcount(client).size, 0)
        assert.strictEqual((yield* test.wants(client.id)).size, 0)
        const releases = (yield* test.messages).filter((m) => m.message._tag === "ReleaseKeys")
        assert.deepStrictEqual(releases.map((m) => m.message), [{ _tag: "ReleaseKeys", keys: [x.key] }])
        assert.strictEqual(x.status, "cancelled")
      })
    ))

  it.effect("test_garbage_collection", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        const y = yield* Client.submit(inc, 1)
        assert.strictEqual(x.key, y.key)
        assert.strictEqual(refcount(client).get(x.key), 2)
        yield* Future.release(x)
        assert.strictEqual(refcount(client).get(x.key), 1)

        const z = yield* Client.submit(inc, y)
        const graphs = (yield* test.messages).filter((m) => m.message._tag === "UpdateGraph")
        assert.strictEqual(graphs.length, 2) // the second inc(1) shared the key: no new graph
        const zGraph = graphs[1]!.message
        assert(zGraph._tag === "UpdateGraph")
        assert.deepStrictEqual(zGraph.tasks[0]!.dependencies, [y.key])

        yield* Future.release(y)
        assert.isFalse(refcount(client).has(y.key))
        assert.isFalse((yield* test.wants(client.id)).has(y.key))
        // z still needs y: y is computed (no client wants it), then z, and y is released.
        yield* test.finish(y.key, 2)
        yield* test.finish(z.key, 3)
        assert.isFalse((yield* test.memory).has(y.key))
        assert.strictEqual(yield* Future.result(z), 3)
      })
    ))

  it.effect("test_multi_garbage_collection", () =>
    Effect.gen(function*() {
      const test = yield* TestScheduler.TestScheduler
      const c = yield* Client.make()
      const f = yield* Client.make()
      const x = yield* Client.withClient(Client.submit(inc, 1), c)
      const y = yield* Client.withClient(Client.submit(inc, 2), f)
      const y2 = yield* Client.withClient(Client.submit(inc, 2), c)
      assert.strictEqual(y.key, y2.key)
      yield* test.finish(x.key, 2)
      yield* test.finish(y.key, 3)
      yield* Client.wait([x, y])

      yield* Future.release(x)
      assert.deepStrictEqual(yield* test.wants(c.id), new Set([y.key]))
      assert.deepStrictEqual(yield* test.wants(f.id), new Set([y.key]))
      assert.isFalse((yield* test.memory).has(x.key))

      yield* Future.release(y)
      assert.isTrue((yield* test.memory).has(y.key))
      assert.deepStrictEqual(yield* test.wants(c.id), new Set([y.key]))
      assert.strictEqual((yield* test.wants(f.id)).size, 0)

      yield* Future.release(y2)
      assert.strictEqual((yield* test.memory).size, 0)
      assert.strictEqual((yield* test.tasks).size, 0)
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))

  it.effect("test_recompute_released_key", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 100)
        yield* test.finish(x.key, 101)
        const result1 = yield* Future.result(x)
        const key = x.key
        yield* Future.release(x)
        assert.isFalse(refcount(client).has(key))
        assert.isFalse((yield* test.tasks).has(key))

        const x2 = yield* Client.submit(inc, 100)
        assert.strictEqual(x2.key, key)
        assert.isTrue(refcount(client).has(key))
        assert.deepStrictEqual(yield* tags(test), ["UpdateGraph", "ReleaseKeys", "UpdateGraph"])
        yield* test.finish(key, 101)
        assert.strictEqual(yield* Future.result(x2), result1)
      })
    ))

  it.effect("test_Client_clears_references_after_restart", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        assert.isTrue(refcount(client).has(x.key))
        yield* test.restart
        assert.strictEqual(refcount(client).size, 0)
        assert.strictEqual(x.status, "cancelled")
        yield* test.clearMessages
        yield* Future.release(x) // old generation: releases nothing
        assert.strictEqual((yield* test.messages).length, 0)
        const error = yield* Effect.flip(Future.result(x))
        assert.strictEqual(error._tag, "CancelledError")
      })
    ))

  it.effect("test_as_current_is_task_local", () =>
    Effect.gen(function*() {
      const c1 = yield* Client.make()
      const c2 = yield* Client.make()
      const bothInside = yield* Deferred.make<void>()
      const inside = { n: 0 }
      const run = (client: Client.Client) =>
        Client.withClient(
          Effect.gen(function*() {
            if (++inside.n === 2) yield* Deferred.succeed(bothInside, undefined)
            yield* Deferred.await(bothInside)
            return yield* Client.current
          }),
          client
        )
      const [r1, r2] = yield* Effect.all([run(c1), run(c2)], { concurrency: 2 })
      assert.strictEqual(r1, c1)
      assert.strictEqual(r2, c2)
      // Outside both, the newest open client wins.
      assert.strictEqual(yield* Client.current, c2)
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))

  it.effect("test_futures_of_cancelled_raises", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        yield* Client.cancel([x])
        assert.strictEqual((yield* Effect.flip(Future.result(x)))._tag, "CancelledError")
        assert.strictEqual((yield* Effect.flip(Client.submit(inc, x)))._tag, "CancelledError")
        assert.strictEqual((yield* Effect.flip(Client.submit(add, 1, x)))._tag, "CancelledError")
        assert.strictEqual((yield* Effect.flip(Client.map(add, [1], [x])))._tag, "CancelledError")
        assert.deepStrictEqual(yield* tags(test), ["UpdateGraph", "Cancel"])
        assert.strictEqual((yield* test.tasks).size, 0)
      })
    ))

  it.effect("cancel over futures of two clients cancels each on its own client", () =>
    Effect.gen(function*() {
      const c1 = yield* Client.make()
      const c2 = yield* Client.make()
      const x1 = yield* Client.withClient(Client.submit(inc, 10), c1)
      const x2 = yield* Client.withClient(Client.submit(inc, 20), c2)
      yield* Client.cancel([x1, x2])
      assert.strictEqual((yield* Effect.flip(Future.result(x1)))._tag, "CancelledError")
      assert.strictEqual((yield* Effect.flip(Future.result(x2)))._tag, "CancelledError")
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))

  it.effect("a future of a client on another scheduler is refused as a dependency, before anything is sent", () =>
    Effect.gen(function*() {
      const test = yield* TestScheduler.TestScheduler
      const onTest = yield* Client.make()
      const foreign = yield* Effect.gen(function*() {
        const c = yield* Client.make()
        const f = yield* Client.withClient(Client.submit(inc, 1), c)
        assert.strictEqual(yield* Future.result(f), 2)
        const error = yield* Effect.flip(Client.withClient(Client.submit(add, f, 1), onTest))
        assert(error._tag === "UnsupportedTaskError")
        assert.include(error.message, f.key)
        assert.include(error.message, "inproc://")
        assert.include(error.message, "test://scheduler")
        return f
      }).pipe(Effect.provide(EmbeddedScheduler.layer()))
      assert.strictEqual(foreign.status, "finished")
      // The test scheduler saw no graph and holds nothing for the refused call.
      assert.deepStrictEqual(yield* tags(test), [])
      assert.strictEqual((yield* test.wants(onTest.id)).size, 0)
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))

  it.effect("test_cancel_before_known_to_scheduler", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const f = yield* Client.submit(inc, 1)
        yield* Client.cancel([f])
        const error = yield* Effect.flip(Future.result(f))
        assert(error._tag === "CancelledError")
        assert.strictEqual(error.key, f.key)
        const messages = yield* test.messages
        assert.deepStrictEqual(messages[1]!.message, { _tag: "Cancel", keys: [f.key], force: false })
        assert.strictEqual((yield* test.wants(client.id)).size, 0)
      })
    ))

  it.effect("test_close", () =>
    Effect.gen(function*() {
      const test = yield* TestScheduler.TestScheduler
      const scope = yield* Scope.make()
      const c = yield* Client.make().pipe(Scope.extend(scope))
      const future = yield* Client.withClient(Client.submit(inc, 1), c).pipe(Scope.extend(scope))
      yield* test.finish(future.key, 2)
      yield* Future.wait(future)
      assert.include(yield* test.clients, c.id)
      yield* Scope.close(scope, Exit.void)
      assert.notInclude(yield* test.clients, c.id)
      assert.strictEqual((yield* test.tasks).size, 0)
      const last = (yield* test.messages).slice(-2).map((m) => m.message)
      assert.deepStrictEqual(last, [{ _tag: "ReleaseKeys", keys: [future.key] }, { _tag: "Close" }])
      assert.isTrue(c.closed)
      assert.strictEqual(future.status, "cancelled")
      const error = yield* Effect.flip(Client.withClient(Client.submit(inc, 2), c).pipe(Effect.scoped))
      assert.strictEqual(error._tag, "ClientClosedError")
    }).pipe(Effect.provide(TestScheduler.layer())))
})

describe("Client lifetimes", () => {
  it.effect("a scope releases all its handles in one message", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const futures = yield* Effect.scoped(Effect.gen(function*() {
          const fs = yield* Client.map(inc, [1, 2, 3, 4])
          assert.strictEqual((yield* test.wants(client.id)).size, 4)
          return fs
        }))
        assert.strictEqual((yield* test.wants(client.id)).size, 0)
        const releases = (yield* test.messages).filter((m) => m.message._tag === "ReleaseKeys")
        assert.strictEqual(releases.length, 1)
        assert.deepStrictEqual(new Set((releases[0]!.message as any).keys), new Set(futures.map((f) => f.key)))
      })
    ))

  it.effect("retain takes a second handle into another scope", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const outer = yield* Scope.make()
        const kept = yield* Effect.scoped(Effect.gen(function*() {
          const x = yield* Client.submit(inc, 5)
          return yield* Future.retain(x).pipe(Scope.extend(outer))
        }))
        assert.deepStrictEqual(yield* test.wants(client.id), new Set([kept.key]))
        yield* Scope.close(outer, Exit.void)
        assert.strictEqual((yield* test.wants(client.id)).size, 0)
      })
    ))

  it.effect("fromKey desires once, binds to the current client", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const a = yield* Future.fromKey("shared-key")
        const b = yield* Future.fromKey("shared-key", { client })
        assert.deepStrictEqual((yield* test.messages).map((m) => m.message), [{ _tag: "DesireKeys", keys: ["shared-key"] }])
        yield* Future.release(a)
        assert.isTrue((yield* test.wants(client.id)).has("shared-key"))
        yield* Future.release(b)
        assert.isFalse((yield* test.wants(client.id)).has("shared-key"))
      })
    ))

  it.effect("NoClientError when no client is open", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Future.fromKey("k")))
      assert.strictEqual(error._tag, "NoClientError")
    }))

  it.effect("an interrupted result() still releases its handle", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<string>()
        const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const x = yield* Client.submit(slow, 1)
          yield* Deferred.succeed(started, x.key)
          return yield* Future.result(x)
        })))
        const key = yield* Deferred.await(started)
        assert.isTrue((yield* test.wants(client.id)).has(key))
        yield* Fiber.interrupt(fiber)
        assert.isFalse((yield* test.wants(client.id)).has(key))
        assert.strictEqual(refcount(client).size, 0)
      })
    ))

  it.effect("closing a scope while submits are in flight leaks nothing", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        for (let round = 0; round < 20; round++) {
          const scope = yield* Scope.make()
          const fiber = yield* Effect.fork(
            Effect.forEach([1, 2, 3, 4, 5], (i) => Effect.zipRight(Effect.yieldNow(), Client.submit(slow, i)))
              .pipe(Scope.extend(scope))
          )
          for (let i = 0; i < round % 6; i++) yield* Effect.yieldNow()
          yield* Scope.close(scope, Exit.void)
          yield* Fiber.await(fiber)
          // Anything acquired after the close is released at once (closed scope).
          assert.strictEqual((yield* test.wants(client.id)).size, 0)
          assert.strictEqual(refcount(client).size, 0)
        }
      })
    ))

  it.effect("handles go to the scope of the fiber's context, also after that scope closes and between two scopes", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const a = yield* Scope.make()
        const b = yield* Scope.make()
        // Alternating contexts: each handle lands in its own scope's bag, not in the last one used.
        for (let i = 0; i < 3; i++) {
          yield* Future.fromKey(`a-${i}`).pipe(Scope.extend(a))
          yield* Future.fromKey(`b-${i}`).pipe(Scope.extend(b))
        }
        yield* Scope.close(a, Exit.void)
        assert.deepStrictEqual([...(yield* test.wants(client.id))].sort(), ["b-0", "b-1", "b-2"])
        // One context throughout: handles taken after its scope closed are released at once.
        const c = yield* Scope.make()
        yield* Effect.gen(function*() {
          yield* Future.fromKey("c-0")
          yield* Future.fromKey("c-1")
          yield* Scope.close(c, Exit.void)
          yield* Future.fromKey("c-2")
          assert.isFalse((yield* test.wants(client.id)).has("c-2"))
        }).pipe(Scope.extend(c))
        assert.deepStrictEqual([...(yield* test.wants(client.id))].sort(), ["b-0", "b-1", "b-2"])
        yield* Scope.close(b, Exit.void)
        assert.strictEqual((yield* test.wants(client.id)).size, 0)
        assert.strictEqual(refcount(client).size, 0)
      })
    ))

  it.effect("the GC backstop releases a detached handle that escaped every scope", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const gc = (globalThis as any).gc as (() => void) | undefined
        assert.isDefined(gc, "run with --expose-gc")
        let key = ""
        yield* Effect.scoped(Effect.gen(function*() {
          const x = yield* Client.submit(inc, 41)
          key = x.key
          yield* Future.detach(x) // dropped on purpose: only the GC can release it
        }))
        assert.isTrue((yield* test.wants(client.id)).has(key))
        for (let i = 0; i < 50 && (yield* test.wants(client.id)).has(key); i++) {
          gc!()
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
        }
        assert.isFalse((yield* test.wants(client.id)).has(key))
        assert.strictEqual(refcount(client).size, 0)
      })
    ))

  it.effect("a released detached handle is not released again by the GC", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 7)
        const d = yield* Future.detach(x)
        yield* Future.release(d)
        assert.strictEqual(refcount(client).get(x.key), 1)
        const gc = (globalThis as any).gc as () => void
        gc()
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
        assert.strictEqual(refcount(client).get(x.key), 1)
        assert.isTrue((yield* test.wants(client.id)).has(x.key))
      })
    ))
})

describe("Client states and errors", () => {
  it.effect("remote errors are text, bounded", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        yield* test.fail(x.key, { type: "ZeroDivisionError", message: "division by zero", traceback: "x".repeat(1_000_000) })
        const error = yield* Effect.flip(Future.result(x))
        assert(error._tag === "RemoteError")
        assert.strictEqual(error.type, "ZeroDivisionError")
        assert.strictEqual(error.message, "division by zero")
        assert.isBelow(error.traceback.length, 20_000)
        assert.isTrue(Errors.RemoteError.is(error))
        const exc = yield* Future.exception(x)
        assert.isTrue(Option.isSome(exc))
      })
    ))

  it.effect("lost → pending → finished", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        yield* test.finish(x.key, 2)
        assert.strictEqual(x.status, "finished")
        yield* test.lose(x.key)
        assert.strictEqual(x.status, "lost")
        const waiting = yield* Effect.fork(Future.result(x))
        yield* Effect.yieldNow()
        assert.isNull(waiting.unsafePoll())
        yield* test.finish(x.key, 2)
        assert.strictEqual(yield* Fiber.join(waiting), 2)
      })
    ))

  it.effect("task-retried moves an erred future back to pending", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        yield* test.fail(x.key, { type: "ValueError" })
        assert.strictEqual(x.status, "error")
        yield* test.retry(x.key)
        assert.strictEqual(x.status, "pending")
      })
    ))

  it.effect("connection loss fails pending futures, keeps finished ones; reconnect re-desires only what the scheduler still has", () =>
    Effect.gen(function*() {
      const test = yield* TestScheduler.TestScheduler
      const client = yield* Client.make()
      // Another client keeps `kept` alive at the scheduler across the loss; nobody keeps `gone`.
      const other = yield* Client.make()
      const [kept, gone, pending] = yield* Client.withClient(
        Effect.all([Client.submit(inc, 1), Client.submit(inc, 2), Client.submit(inc, 3)]),
        client
      )
      yield* Client.withClient(Future.fromKey(kept.key), other)
      yield* test.finish(kept.key, 2)
      yield* test.finish(gone.key, 3)
      const waiting = yield* Effect.fork(Future.result(pending))
      yield* test.disconnect(client.id)
      assert.strictEqual((yield* Effect.flip(Fiber.join(waiting)))._tag, "ConnectionLostError")
      assert.strictEqual(kept.status, "finished")
      assert.strictEqual(gone.status, "finished")
      assert.strictEqual((yield* test.wants(client.id)).size, 0)
      yield* test.reconnect(client.id)
      yield* test.settle
      // Only what still exists is wanted again; the rest is lost, not pinned as an empty task.
      assert.deepStrictEqual(yield* test.wants(client.id), new Set([kept.key]))
      assert.strictEqual(yield* Client.withClient(Future.result(kept), client), 2)
      const lost = yield* Effect.flip(Future.result(gone))
      assert(lost._tag === "LostDataError")
      assert.strictEqual(lost.reason, "released by the scheduler when the connection was lost")
      assert.strictEqual(lost.message, `key ${gone.key} was lost: released by the scheduler when the connection was lost`)
      assert.strictEqual((yield* Effect.flip(Future.result(pending)))._tag, "ConnectionLostError")
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))

  it.effect("reconnect to a restarted scheduler: held futures are lost (scheduler restarted), nothing is desired", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const [x] = yield* Client.scatter([41])
        assert.strictEqual(x!.status, "finished")
        // A new scheduler process: no restart report, it just knows nothing.
        yield* test.disconnect(client.id)
        yield* test.clearMessages
        yield* test.reconnect(client.id, { restarted: true })
        const lost = yield* Effect.flip(Future.result(x!))
        assert(lost._tag === "LostDataError")
        assert.strictEqual(lost.reason, "scheduler restarted")
        assert.strictEqual((yield* test.wants(client.id)).size, 0)
        assert.deepStrictEqual(yield* tags(test), [])
      })
    ))

  it.effect("Client.status: running, reconnecting with the cause, running again, closed", () =>
    Effect.gen(function*() {
      const test = yield* TestScheduler.TestScheduler
      const seen: Array<Client.ConnectionStatus> = []
      const scope = yield* Scope.make()
      const client = yield* Client.make().pipe(Scope.extend(scope))
      const ref = yield* Client.withClient(Client.status, client)
      const watcher = yield* Effect.fork(Stream.runForEach(ref.changes, (s) => Effect.sync(() => seen.push(s))))
      yield* Effect.yieldNow()
      yield* test.disconnect(client.id)
      yield* test.reconnect(client.id)
      yield* Scope.close(scope, Exit.void)
      yield* Effect.repeatN(Effect.yieldNow(), 4)
      yield* Fiber.interrupt(watcher)
      assert.deepStrictEqual(seen.map((s) => s._tag), ["running", "reconnecting", "running", "closed"])
      assert.isTrue(seen.every((s) => s.address === "test://scheduler"))
      const reconnecting = seen[1]!
      assert(reconnecting._tag === "reconnecting")
      assert.strictEqual(reconnecting.cause._tag, "ConnectionLostError")
    }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer())))

  it.effect("a graph on a fromKey key the scheduler never had fails with LostDataError before anything is sent", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const unknown = yield* Future.fromKey("never-computed-0123")
        yield* test.clearMessages
        const error = yield* Effect.flip(Client.submit(add, unknown as Future.Future<number>, 1))
        assert(error._tag === "LostDataError")
        assert.strictEqual(error.key, "never-computed-0123")
        assert.strictEqual(error.reason, "unknown to the scheduler")
        assert.deepStrictEqual(yield* tags(test), [])
        // A key the scheduler has passes the check, once.
        const [x] = yield* Client.scatter([5])
        const byName = yield* Future.fromKey(x!.key)
        const y = yield* Client.submit(add, byName as Future.Future<number>, 1)
        assert.deepStrictEqual((yield* test.tasks).get(y.key)?.dependencies, [x!.key])
      })
    ))

  it("CancelledError and LostDataError carry a human message beside their fields", () => {
    const c = new Errors.CancelledError({ key: "x-1", reason: "released by the client" })
    assert.strictEqual(c.message, "key x-1 was cancelled: released by the client")
    assert.strictEqual(c.reason, "released by the client")
    const l = new Errors.LostDataError({ key: "y-2", reason: "worker lost" })
    assert.strictEqual(l.message, "key y-2 was lost: worker lost")
    assert.strictEqual(new Errors.LostDataError({ key: "z" }).reason, "not on any worker")
  })

  it.effect("scheduler-side cancellation detaches the key", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        yield* test.cancel([x.key], "unknown dependency")
        const error = yield* Effect.flip(Future.result(x))
        assert(error._tag === "CancelledError")
        assert.strictEqual(error.reason, "unknown dependency")
        assert.strictEqual(refcount(client).size, 0)
        const again = yield* Future.fromKey(x.key)
        assert.isTrue((yield* test.wants(client.id)).has(again.key))
      })
    ))

  it.effect("gather with errors: skip leaves failed futures out", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const [a, b, c] = yield* Client.map(inc, [1, 2, 3])
        yield* test.finish(a!.key, 2)
        yield* test.fail(b!.key, { type: "ValueError" })
        yield* test.finish(c!.key, 4)
        assert.deepStrictEqual(yield* Client.gather([a!, b!, c!], { errors: "skip" }), [2, 4])
        assert.strictEqual((yield* Effect.flip(Client.gather([a!, b!, c!])))._tag, "RemoteError")
      })
    ))

  it.effect("results are validated by the task's Schema", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const parse = Task.make("parse", (s: string) => Number(s), { result: Schema.Number })
        const good = yield* Client.submit(parse, "1")
        const bad = yield* Client.submit(parse, "2")
        yield* test.finish(good.key, 1)
        yield* test.finish(bad.key, "not a number")
        assert.strictEqual(yield* Future.result(good), 1)
        const error = yield* Effect.flip(Future.result(bad))
        assert(error._tag === "DecodeError")
        assert.strictEqual(error.serializer, "schema")
      })
    ))

  it.effect("asCompleted emits in completion order", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const fs = yield* Client.map(inc, [1, 2, 3])
        const collected = yield* Effect.fork(Stream.runCollect(Client.asCompleted(fs)))
        yield* test.finish(fs[2]!.key, 4)
        yield* test.fail(fs[0]!.key, { type: "ValueError" })
        yield* test.finish(fs[1]!.key, 3)
        const order = Chunk.toReadonlyArray(yield* Fiber.join(collected)).map((f) => f.key)
        assert.deepStrictEqual(order, [fs[2]!.key, fs[0]!.key, fs[1]!.key])
      })
    ))

  it.effect("asCompleted keeps no reference to a future it has emitted", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const gc = (globalThis as any).gc as () => void
        let fs: Array<Future.Future<number>> | undefined = yield* Client.map(inc, [10, 20, 30])
        const first = new WeakRef(fs[0]!)
        const [firstKey, secondKey, thirdKey] = fs.map((f) => f.key)
        const pull = yield* Stream.toPull(Client.asCompleted(fs))
        fs = undefined
        // Take an emission, check it, release it: the caller keeps nothing of it.
        const next = (key: string) =>
          Effect.flatMap(pull, (chunk) => {
            assert.strictEqual(Chunk.unsafeHead(chunk).key, key)
            return Future.release(Chunk.unsafeHead(chunk))
          })
        yield* test.finish(firstKey!, 11)
        yield* next(firstKey!)
        // Effect's channel holds the latest chunk until the next pull, so look after the second one.
        yield* test.finish(secondKey!, 21)
        yield* next(secondKey!)
        let collected = false
        for (let i = 0; i < 20 && !collected; i++) {
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
          gc()
          collected = first.deref() === undefined
        }
        // The stream is still open, waiting for the third future, yet the first is gone.
        assert.isTrue(collected, "the emitted future was collected while the stream was open")
        yield* test.finish(thirdKey!, 31)
        yield* next(thirdKey!)
      })
    ))

  it.effect("scatter: keys by value, wanted by the client, finished", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const [a, b, a2] = yield* Client.scatter([1, 2, 1])
        assert.strictEqual(a!.key, a2!.key)
        assert.match(a!.key, /^int-[0-9a-f]{32}$/)
        assert.strictEqual(a!.status, "finished")
        assert.deepStrictEqual(yield* test.wants(client.id), new Set([a!.key, b!.key]))
        assert.deepStrictEqual(yield* Client.gather([a!, b!]), [1, 2])
        const sum = yield* Client.submit(add, a!, b!)
        const graph = (yield* test.messages).find((m) => m.message._tag === "UpdateGraph")!.message
        assert(graph._tag === "UpdateGraph")
        assert.deepStrictEqual(graph.tasks[0]!.dependencies, [a!.key, b!.key])
        assert.strictEqual(sum.status, "pending")
      })
    ))

  it.effect("fireAndForget and datasets keep keys without handles", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        yield* Client.fireAndForget([x])
        assert.deepStrictEqual(yield* test.pseudoWants("fire-and-forget"), new Set([x.key]))
        const y = yield* Client.submit(inc, 2)
        yield* Client.publishDataset("ds", [y])
        assert.deepStrictEqual(yield* Client.listDatasets, ["ds"])
        const got = yield* Client.getDataset("ds")
        assert.deepStrictEqual(Option.getOrThrow(got).map((f) => f.key), [y.key])
        yield* Client.unpublishDataset("ds")
        assert.strictEqual((yield* test.pseudoWants("published-ds")).size, 0)
      })
    ))

  it.effect("pure tasks share keys; impure tasks never do", () =>
    withClient(() =>
      Effect.gen(function*() {
        const a = yield* Client.submit(add, 1, 2)
        const b = yield* Client.submit(add, 1, 2)
        const c = yield* Client.submit(add, 2, 1)
        assert.strictEqual(a.key, b.key)
        assert.notStrictEqual(a.key, c.key)
        assert.match(a.key, /^add-[0-9a-f]{32}$/)
        const s1 = yield* Client.submit(slow, 1)
        const s2 = yield* Client.submit(slow, 1)
        assert.notStrictEqual(s1.key, s2.key)
      })
    ))
})
