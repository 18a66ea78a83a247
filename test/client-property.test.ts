/**
 * Random interleavings of client operations across several fibers and two
 * clients, checked against a simple model after every step: the keys the
 * scheduler believes each client wants are exactly the keys that client holds
 * live handles on, counts match and are never negative, and nothing that has
 * an outcome waits. It runs against the test scheduler (with scripted
 * reports) and against the embedded scheduler (which computes for real, and
 * where worker memory must hold exactly what is wanted or still needed, and
 * nothing once every scope has closed).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Queue, Scope } from "effect"
import * as fc from "fast-check"
import { Client, EmbeddedScheduler, Future, TestScheduler } from "../src/index.js"
import type { ClientImpl, FutureImpl } from "../src/internal/client.js"
import * as Threaded from "./fixtures/tasks/threads.js"

// From a task module, so that worker threads can load them too.
const { inc, add } = Threaded
const N_ARGS = 4
const N_SCOPES = 3
const N_FIBERS = 3

type Op =
  | { readonly _tag: "submit"; readonly fiber: number; readonly arg: number; readonly scope: number }
  | { readonly _tag: "submitDep"; readonly fiber: number; readonly handle: number; readonly arg: number; readonly scope: number }
  | { readonly _tag: "fromKey"; readonly fiber: number; readonly key: number; readonly scope: number }
  | { readonly _tag: "retain"; readonly handle: number; readonly scope: number }
  | { readonly _tag: "release"; readonly handle: number }
  | { readonly _tag: "closeScope"; readonly scope: number }
  | { readonly _tag: "interrupt"; readonly fiber: number; readonly arg: number }
  | { readonly _tag: "cancel"; readonly handle: number }
  | { readonly _tag: "restart" }
  | { readonly _tag: "finish"; readonly key: number }
  | { readonly _tag: "fail"; readonly key: number }
  | { readonly _tag: "lose"; readonly key: number }
  | { readonly _tag: "schedulerCancel"; readonly key: number }

const fiberIx = fc.integer({ min: 0, max: N_FIBERS - 1 })
const argIx = fc.integer({ min: 0, max: N_ARGS - 1 })
const scopeIx = fc.integer({ min: 0, max: N_SCOPES - 1 })
const handleIx = fc.nat(200)
const keyIx = fc.integer({ min: 0, max: 2 * N_ARGS - 1 })

const clientOps = [
  { weight: 5, arbitrary: fc.record({ _tag: fc.constant("submit" as const), fiber: fiberIx, arg: argIx, scope: scopeIx }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("submitDep" as const), fiber: fiberIx, handle: handleIx, arg: argIx, scope: scopeIx }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("fromKey" as const), fiber: fiberIx, key: keyIx, scope: scopeIx }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("retain" as const), handle: handleIx, scope: scopeIx }) },
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("release" as const), handle: handleIx }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("closeScope" as const), scope: scopeIx }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("interrupt" as const), fiber: fiberIx, arg: argIx }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("cancel" as const), handle: handleIx }) }
] as const
/** What only a scripted scheduler can do. */
const scriptedOps = [
  { weight: 1, arbitrary: fc.constant({ _tag: "restart" as const }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("finish" as const), key: keyIx }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("fail" as const), key: keyIx }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("lose" as const), key: keyIx }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("schedulerCancel" as const), key: keyIx }) }
] as const
const ops = (scripted: boolean): fc.Arbitrary<ReadonlyArray<Op>> =>
  fc.array(scripted ? fc.oneof(...clientOps, ...scriptedOps) : fc.oneof(...clientOps), { minLength: 1, maxLength: 40 })

/** What a backend lets the test observe. */
interface Backend {
  readonly name: string
  readonly layer: Layer.Layer<any>
  readonly scripted: boolean
  /** The keys the scheduler believes `clientId` wants. */
  readonly wants: (clientId: string) => Effect.Effect<ReadonlySet<string>, never, any>
  /** Waits until reports and any computation triggered so far have run. */
  readonly settle: Effect.Effect<void, never, any>
  /** The scheduler's dependents of each key right now (the model's cancel cascade follows the real graph). */
  readonly dependents: Effect.Effect<ReadonlyMap<string, ReadonlyArray<string>>, never, any>
  /** Checks the scheduler's own memory invariants (after each step, and at the end with `final`). */
  readonly check: (final: boolean) => Effect.Effect<void, never, any>
}

const testBackend: Backend = {
  name: "test scheduler",
  layer: TestScheduler.layer(),
  scripted: true,
  wants: (id) => Effect.flatMap(TestScheduler.TestScheduler, (t) => t.wants(id)),
  settle: Effect.flatMap(TestScheduler.TestScheduler, (t) => t.settle),
  dependents: Effect.map(Effect.flatMap(TestScheduler.TestScheduler, (t) => t.tasks), (tasks) => {
    const out = new Map<string, Array<string>>()
    for (const spec of tasks.values()) {
      for (const dep of spec.dependencies) out.set(dep, [...(out.get(dep) ?? []), spec.key])
    }
    return out
  }),
  check: () => Effect.void
}

const embeddedBackend: Backend = {
  name: "embedded scheduler",
  layer: EmbeddedScheduler.layer({ workers: 2, slots: 2 }),
  scripted: false,
  wants: (id) =>
    Effect.map(
      Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot),
      (snap) => new Set(snap.clients.get(id) ?? [])
    ),
  settle: Effect.repeatN(Effect.yieldNow(), 4),
  dependents: Effect.map(
    Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot),
    (snap) => new Map(Array.from(snap.tasks.values(), (ts) => [ts.key, ts.dependents] as const))
  ),
  check: (final) =>
    Effect.gen(function*() {
      const snap = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
      // Worker memory holds exactly what someone wants or a waiting dependent still needs.
      for (const w of snap.workers) {
        for (const key of w.keys) {
          const ts = snap.tasks.get(key)
          assert.isDefined(ts, `${key} in memory but unknown`)
          assert.isTrue(ts!.whoWants.length > 0 || ts!.waiters.length > 0, `${key} held for nobody`)
        }
      }
      if (final) {
        assert.strictEqual(snap.workers.reduce((n, w) => n + w.bytes, 0), 0, "bytes held after every scope closed")
        assert.strictEqual(snap.tasks.size, 0, "tasks left after every scope closed")
      }
    })
}

/** The embedded scheduler on two worker threads; one layer for every run (a thread is slow to start). */
const threadsBackend = (layer: Layer.Layer<any>): Backend => ({
  ...embeddedBackend,
  name: "embedded scheduler, worker threads",
  layer,
  // Results come back from other threads: give them real time.
  settle: Effect.promise(() => new Promise((r) => setTimeout(r, 2))),
  check: (final) =>
    Effect.gen(function*() {
      yield* embeddedBackend.check(final)
      if (!final) return
      // What the threads themselves hold: nothing once everything is released (frees are in flight briefly).
      let held = -1
      for (let i = 0; i < 50 && held !== 0; i++) {
        const stats = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.threads)
        held = stats.reduce((n, t) => n + t.keys + t.bytes, 0)
        if (held !== 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
      }
      assert.strictEqual(held, 0, "values left in worker threads after every scope closed")
    })
})

interface Handle {
  readonly future: FutureImpl<any, any>
  readonly client: number
  readonly key: string
  readonly scope: Scope.CloseableScope
  readonly epoch: number
  released: boolean
}

/** Fiber `i` runs with client `i % 2` as its current client. */
const clientOfFiber = (fiber: number) => fiber % 2

const run = (backend: Backend, ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const test = backend.scripted ? yield* TestScheduler.TestScheduler : undefined
    const clientScope = yield* Scope.make()
    const clients = [yield* Client.make().pipe(Scope.extend(clientScope)), yield* Client.make().pipe(Scope.extend(clientScope))] as const
    // Each worker fiber executes the commands sent to it, with its own current client.
    const inboxes = yield* Effect.forEach(Array.from({ length: N_FIBERS }), () => Queue.unbounded<Effect.Effect<void, unknown>>())
    for (let i = 0; i < N_FIBERS; i++) {
      yield* Effect.forkScoped(Client.withClient(
        Effect.forever(Effect.flatMap(Queue.take(inboxes[i]!), (cmd) => Effect.ignore(cmd))),
        clients[clientOfFiber(i)]!
      ))
    }
    const onFiber = <A>(i: number, effect: Effect.Effect<A, unknown>) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<A, unknown>()
        yield* Queue.offer(inboxes[i]!, Effect.exit(effect).pipe(Effect.flatMap((exit) => Deferred.done(done, exit))))
        return yield* Effect.either(Deferred.await(done))
      })

    const scopes: Array<Scope.CloseableScope> = yield* Effect.forEach(Array.from({ length: N_SCOPES }), () => Scope.make())
    const handles: Array<Handle> = []
    // Epoch per client and key: bumped when the client's state for the key is dropped (cancel, restart).
    const epochs = [new Map<string, number>(), new Map<string, number>()]
    const epochOf = (client: number, key: string) => epochs[client]!.get(key) ?? 0
    const bump = (client: number, key: string) => epochs[client]!.set(key, epochOf(client, key) + 1)
    const live = (h: Handle) => !h.released && epochOf(h.client, h.key) === h.epoch
    let dependents: ReadonlyMap<string, ReadonlyArray<string>> = new Map()
    const modelWants = (c: number) => {
      const out = new Set<string>()
      for (const h of handles) if (h.client === c && live(h)) out.add(h.key)
      return out
    }
    const wantedBy = (key: string) => [0, 1].filter((c) => modelWants(c).has(key))
    /** The model of `_cancel_key(key, client, force=False)`, as our schedulers do it. */
    const cancelKey = (key: string, c: number, top: boolean): void => {
      const who = wantedBy(key)
      if (who.length === 0) {
        if (top) bump(c, key)
        return
      }
      const sole = who.length === 1 && who[0] === c
      if (sole) {
        for (const d of dependents.get(key) ?? []) cancelKey(d, c, false)
        bump(c, key)
      } else if (top) {
        bump(c, key) // the client drops its own state for the key it cancelled
      }
      // A dependent others want too is left alone (see TestSchedulerImpl.cancelKey).
    }
    const keys: Array<string> = []
    // The dependencies each computed key was submitted with (the scheduler drops a forgotten one from its task).
    const submittedDeps = new Map<string, ReadonlyArray<string>>()
    const keyName = (i: number) => keys[i % Math.max(keys.length, 1)] ?? `k${i}`

    const track = (future: FutureImpl<any, any>, client: number, scope: Scope.CloseableScope) => {
      handles.push({ future, client, key: future.key, scope, epoch: epochOf(client, future.key), released: false })
      if (!keys.includes(future.key)) keys.push(future.key)
    }

    for (const op of ops) {
      switch (op._tag) {
        case "submit": {
          const scope = scopes[op.scope]!
          const r = yield* onFiber(op.fiber, Client.submit(inc, op.arg).pipe(Scope.extend(scope)))
          if (r._tag === "Right") track(r.right as any, clientOfFiber(op.fiber), scope)
          break
        }
        case "submitDep": {
          const dep = handles[op.handle % Math.max(handles.length, 1)]
          if (dep === undefined) break
          const scope = scopes[op.scope]!
          const r = yield* onFiber(op.fiber, Client.submit(add, dep.future as any, op.arg).pipe(Scope.extend(scope)))
          if (r._tag === "Right") {
            track(r.right as unknown as FutureImpl<any, any>, clientOfFiber(op.fiber), scope)
            submittedDeps.set(r.right.key, [dep.key])
          } else if ((r.left as { _tag?: string })._tag === "LostDataError") {
            // A dependency taken by name that the scheduler does not have is refused before anything is sent.
            assert.strictEqual((r.left as { reason?: string }).reason, "unknown to the scheduler")
            assert.strictEqual(dep.future.status, "pending")
          } else {
            // Otherwise only a cancelled (released or stale) dependency is refused.
            assert.strictEqual(dep.future.status, "cancelled")
          }
          break
        }
        case "fromKey": {
          const scope = scopes[op.scope]!
          const r = yield* onFiber(op.fiber, Future.fromKey(keyName(op.key)).pipe(Scope.extend(scope)))
          if (r._tag === "Right") track(r.right as any, clientOfFiber(op.fiber), scope)
          break
        }
        case "retain": {
          const h = handles[op.handle % Math.max(handles.length, 1)]
          if (h === undefined) break
          const scope = scopes[op.scope]!
          const f = yield* Future.retain(h.future).pipe(Scope.extend(scope))
          track(f as any, h.client, scope)
          break
        }
        case "release": {
          const h = handles[op.handle % Math.max(handles.length, 1)]
          if (h === undefined) break
          yield* Future.release(h.future)
          h.released = true
          break
        }
        case "closeScope": {
          const scope = scopes[op.scope]!
          yield* Scope.close(scope, Exit.void)
          for (const h of handles) if (h.scope === scope) h.released = true
          scopes[op.scope] = yield* Scope.make()
          break
        }
        case "interrupt": {
          const started = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(Client.withClient(
            Effect.scoped(Effect.gen(function*() {
              const f = yield* Client.submit(inc, op.arg)
              yield* Deferred.succeed(started, undefined)
              return yield* Future.result(f)
            })),
            clients[clientOfFiber(op.fiber)]!
          ))
          yield* Deferred.await(started)
          yield* Fiber.interrupt(fiber)
          break
        }
        case "cancel": {
          const h = handles[op.handle % Math.max(handles.length, 1)]
          if (h === undefined) break
          const wasLive = live(h)
          dependents = yield* backend.dependents
          yield* Future.cancel(h.future)
          if (wasLive) cancelKey(h.key, h.client, true)
          break
        }
        case "restart": {
          yield* test!.restart
          for (const h of handles) if (live(h)) bump(h.client, h.key)
          break
        }
        case "finish":
        case "fail":
        case "lose":
        case "schedulerCancel": {
          const key = keyName(op.key)
          if (op._tag === "schedulerCancel") {
            // A scheduler-side cancel (force) of a wanted key cascades to its wanted dependents, for every
            // client (Dask's `_cancel_key` stops at a key nobody wants).
            dependents = yield* backend.dependents
            const cascade = new Set<string>()
            const walk = (k: string) => {
              if (cascade.has(k) || wantedBy(k).length === 0) return
              cascade.add(k)
              for (const d of dependents.get(k) ?? []) walk(d)
            }
            walk(key)
            const affected = Array.from(cascade, (k) => [k, wantedBy(k)] as const)
            yield* test!.cancel([key])
            for (const [k, who] of affected) for (const c of who) bump(c, k)
            break
          }
          // Lost pure data (a value placed without a task) cannot be recomputed: Dask forgets it, tells its
          // wanters, and forgets with it every dependent not finished or erred (`_propagate_forgotten`).
          const spec = (yield* test!.tasks).get(key)
          const pureData = spec === undefined
          // So is a computed key one of whose dependencies was forgotten (Dask's `has_lost_dependencies`).
          const lostDependencies = spec !== undefined &&
            (submittedDeps.get(key) ?? []).some((d) => !spec.dependencies.includes(d))
          dependents = yield* backend.dependents
          const forgotten: Array<readonly [string, ReadonlyArray<number>]> = []
          const done = (k: string) =>
            handles.some((h) => live(h) && h.key === k && (h.future.status === "finished" || h.future.status === "error"))
          const forget = (k: string, top: boolean) => {
            if (forgotten.some(([f]) => f === k) || (!top && done(k))) return
            forgotten.push([k, wantedBy(k)])
            for (const d of dependents.get(k) ?? []) forget(d, false)
          }
          if (op._tag === "lose" && (pureData || lostDependencies)) forget(key, true)
          // An outcome the model forbids in the key's present state is refused (ScriptError), and changes nothing.
          const outcome = yield* Effect.either(
            op._tag === "finish"
              ? test!.finish(key, 1)
              : op._tag === "fail"
              ? test!.fail(key, { type: "ValueError" })
              : test!.lose(key)
          )
          if (outcome._tag === "Left") {
            assert.strictEqual(outcome.left._tag, "ScriptError")
            break
          }
          for (const [k, who] of forgotten) for (const c of who) bump(c, k)
          if (op._tag === "finish" || op._tag === "fail") {
            // Nothing with an outcome waits: every live handle on the key resolves now.
            for (const h of handles) {
              if (!live(h) || h.key !== key) continue
              assert.include(["finished", "error"], h.future.status, `status of ${key} after ${op._tag}`)
              const fiber = yield* Effect.fork(Future.wait(h.future))
              for (let i = 0; i < 5 && fiber.unsafePoll() === null; i++) yield* Effect.yieldNow()
              assert.isNotNull(fiber.unsafePoll(), `wait on ${key} after ${op._tag}`)
            }
          }
          break
        }
      }
      yield* backend.settle

      for (let c = 0; c < 2; c++) {
        const client = clients[c] as unknown as ClientImpl
        const expected = new Map<string, number>()
        for (const h of handles) if (h.client === c && live(h)) expected.set(h.key, (expected.get(h.key) ?? 0) + 1)
        const wants = yield* backend.wants(client.id)
        assert.deepStrictEqual(new Set(wants), modelWants(c), `wants of client ${c} after ${JSON.stringify(op)}`)
        assert.deepStrictEqual(
          new Map(Array.from(client.states, ([k, st]) => [k, st.count])),
          expected,
          `counts of client ${c} after ${JSON.stringify(op)}`
        )
        for (const h of handles) {
          if (h.client === c && !h.released && !live(h)) assert.strictEqual(h.future.status, "cancelled")
        }
      }
      yield* backend.check(false)
    }
    for (const scope of scopes) yield* Scope.close(scope, Exit.void)
    yield* backend.settle
    for (const client of clients) assert.strictEqual((yield* backend.wants(client.id)).size, 0)
    yield* Scope.close(clientScope, Exit.void)
    yield* backend.settle
    yield* backend.check(true)
  }).pipe(Effect.scoped, Effect.provide(Layer.fresh(backend.layer)))

const modules = [new URL("./fixtures/tasks/threads.ts", import.meta.url)]

describe("Client reference counting (property)", () => {
  for (const backend of [testBackend, embeddedBackend]) {
    it.effect(`scheduler wants == live handles, across fibers and clients (${backend.name})`, () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(ops(backend.scripted), (ops) => Effect.runPromise(run(backend, ops) as Effect.Effect<void>)),
          { numRuns: 1000 }
        )
      ), 300_000) // 1000 runs: well under a minute alone, more on a machine shared by several suites
  }
  it.effect("scheduler wants == live handles, across fibers and clients (embedded scheduler, worker threads)", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(EmbeddedScheduler.layer({ workers: 2, slots: 2, threads: true, modules }))
      const backend = threadsBackend(Layer.succeedContext(context))
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(ops(false), (ops) => Effect.runPromise(run(backend, ops) as Effect.Effect<void>)),
          { numRuns: 60 }
        )
      )
    }).pipe(Effect.scoped), 300_000)
})
