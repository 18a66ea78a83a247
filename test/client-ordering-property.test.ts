/**
 * Release → re-acquire of the same key while the test scheduler holds its
 * channels as a real backend has them: client messages wait on the stream (in
 * order), scatters wait as request/reply calls (delivered in any order
 * relative to the stream and to each other), reports wait on the way back.
 * Random interleavings of scatter / submit / fromKey / retain / release /
 * scope close with random deliveries; at checkpoints (everything delivered)
 * the scheduler wants exactly the keys of live handles, and every live handle
 * on a scattered key still has its value in memory.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as fc from "fast-check"
import { Client, Future, Task, TestScheduler } from "../src/index.js"
import type { ClientImpl, FutureImpl } from "../src/internal/client.js"

const inc = Task.make("inc", (x: number) => x + 1)
const VALUES = ["a", "b"] as const
const N_SCOPES = 3

type Op =
  | { readonly _tag: "scatter"; readonly value: number; readonly scope: number }
  | { readonly _tag: "submit"; readonly arg: number; readonly scope: number }
  | { readonly _tag: "fromKey"; readonly key: number; readonly scope: number }
  | { readonly _tag: "retain"; readonly handle: number; readonly scope: number }
  | { readonly _tag: "release"; readonly handle: number }
  | { readonly _tag: "closeScope"; readonly scope: number }
  | { readonly _tag: "deliver"; readonly channel: "stream" | "calls" | "reports"; readonly index: number }
  | { readonly _tag: "checkpoint" }

const scopeIx = fc.integer({ min: 0, max: N_SCOPES - 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("scatter" as const), value: fc.integer({ min: 0, max: VALUES.length - 1 }), scope: scopeIx }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("submit" as const), arg: fc.integer({ min: 0, max: 1 }), scope: scopeIx }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("fromKey" as const), key: fc.nat(8), scope: scopeIx }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("retain" as const), handle: fc.nat(100), scope: scopeIx }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("release" as const), handle: fc.nat(100) }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("closeScope" as const), scope: scopeIx }) },
  {
    weight: 8,
    arbitrary: fc.record({
      _tag: fc.constant("deliver" as const),
      channel: fc.constantFrom("stream" as const, "calls" as const, "reports" as const),
      index: fc.nat(3)
    })
  },
  { weight: 1, arbitrary: fc.constant({ _tag: "checkpoint" as const }) }
)

interface Handle {
  readonly future: FutureImpl<any, any>
  readonly scope: Scope.CloseableScope
  readonly scattered: boolean
  released: boolean
}

const run = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const test = yield* TestScheduler.TestScheduler
    const client = (yield* Client.make()) as unknown as ClientImpl
    const scopes: Array<Scope.CloseableScope> = yield* Effect.forEach(Array.from({ length: N_SCOPES }), () => Scope.make())
    const handles: Array<Handle> = []
    const keys: Array<string> = []
    // Scatters wait for their call to be delivered: each runs in its own fiber.
    const inFlight: Array<Fiber.RuntimeFiber<void>> = []
    const track = (future: FutureImpl<any, any>, scope: Scope.CloseableScope, scattered: boolean) => {
      handles.push({ future, scope, scattered, released: false })
      if (!keys.includes(future.key)) keys.push(future.key)
    }
    const pick = (i: number) => handles[i % Math.max(handles.length, 1)]

    const checkpoint = (label: string) =>
      Effect.gen(function*() {
        // Deliver everything, let the scatters finish, deliver what they caused.
        yield* test.flush
        for (const f of inFlight.splice(0)) yield* Fiber.join(f)
        yield* test.flush
        const live = handles.filter((h) => !h.released)
        const wanted = new Set(live.map((h) => h.future.key))
        assert.deepStrictEqual(yield* test.wants(client.id), wanted, `wants == live handles ${label}`)
        const memory = yield* test.memory
        for (const h of live) {
          if (h.scattered) assert.isTrue(memory.has(h.future.key), `${h.future.key} kept while a handle lives ${label}`)
        }
        for (const [key, st] of client.states) {
          assert.strictEqual(st.count, live.filter((h) => h.future.key === key).length, `count of ${key} ${label}`)
        }
        yield* test.hold
      })

    yield* test.hold
    for (const [i, o] of ops.entries()) {
      switch (o._tag) {
        case "scatter": {
          const scope = scopes[o.scope]!
          inFlight.push(yield* Effect.fork(
            Effect.map(Client.withClient(Client.scatter([VALUES[o.value]!]), client as any).pipe(Scope.extend(scope)), (fs) => {
              // A scope closed while the scatter waited has released the handle already.
              track(fs[0] as any, scope, true)
              if ((fs[0] as any).released) handles[handles.length - 1]!.released = true
            }).pipe(Effect.orDie)
          ))
          yield* Effect.yieldNow()
          break
        }
        case "submit": {
          const scope = scopes[o.scope]!
          const f = yield* Client.withClient(Client.submit(inc, o.arg), client as any).pipe(Scope.extend(scope))
          track(f as any, scope, false)
          break
        }
        case "fromKey": {
          if (keys.length === 0) break
          const scope = scopes[o.scope]!
          const f = yield* Future.fromKey(keys[o.key % keys.length]!, { client }).pipe(Scope.extend(scope))
          track(f as any, scope, false)
          break
        }
        case "retain": {
          const h = pick(o.handle)
          if (h === undefined || h.released) break
          const scope = scopes[o.scope]!
          track((yield* Future.retain(h.future).pipe(Scope.extend(scope))) as any, scope, h.scattered)
          break
        }
        case "release": {
          const h = pick(o.handle)
          if (h === undefined) break
          yield* Future.release(h.future)
          h.released = true
          break
        }
        case "closeScope": {
          const scope = scopes[o.scope]!
          yield* Scope.close(scope, Exit.void)
          for (const h of handles) if (h.scope === scope) h.released = true
          scopes[o.scope] = yield* Scope.make()
          break
        }
        case "deliver": {
          yield* test.deliver(o.channel, o.index)
          break
        }
        case "checkpoint": {
          yield* checkpoint(`at step ${i}`)
          break
        }
      }
    }
    yield* checkpoint("at the end")
    for (const scope of scopes) yield* Scope.close(scope, Exit.void)
    yield* test.flush
    assert.strictEqual((yield* test.wants(client.id)).size, 0, "nothing wanted once every scope closed")
  }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer()))

describe("Per-key ordering across channels (property)", () => {
  it.effect("release → re-acquire with delayed, reordered delivery: wants == live handles, scattered values kept", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => Effect.runPromise(run(ops))),
        { numRuns: 500 }
      )
    ))
})
