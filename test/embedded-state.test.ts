/**
 * The embedded scheduler's state machine, driven at the protocol level
 * (`Session.send`), as Dask's own scheduler tests drive `Scheduler` directly.
 * `validate` ports the checks of Dask's `validate_state`; the property test
 * runs random sequences of submissions, releases, cancels, scatters,
 * fire-and-forget and datasets against it. Every suite runs on both
 * executors (in this thread, on worker threads); after each test nothing may
 * be left in the scheduler or in any thread (`clean`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import type * as Task from "../src/Task.js"
import { EmbeddedScheduler } from "../src/index.js"
import type { Key, SchedulerReport, Session, TaskSpec } from "../src/Scheduler.js"
import { KeyRef, Scheduler } from "../src/Scheduler.js"
import { type Executor, executors } from "./embeddedExecutors.js"
import * as T from "./fixtures/tasks/embedded.js"
import { connectQueued, type QueuedSession } from "./sessionReports.js"

const { div, inc } = T

const ref = (key: Key) => new KeyRef(key)
const spec = (key: Key, task: Task.Any, ...args: Array<unknown>): TaskSpec => ({
  key,
  task,
  args,
  dependencies: args.flatMap((a) => (a instanceof KeyRef ? [a.key] : []))
})

const snapshot = Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
const connect = (id: string) => connectQueued(id)
const drainReports = (s: QueuedSession) => Effect.map(Queue.takeAll(s.reports), (c) => Array.from(c))

/** Dask's `validate_state`, on a snapshot. Also checks that nothing is kept that Dask would free. */
const validate = (s: EmbeddedScheduler.Snapshot): void => {
  const held = new Map<Key, Array<string>>()
  for (const w of s.workers) {
    let bytes = 0
    for (const k of w.keys) {
      const ts = s.tasks.get(k)
      assert.isDefined(ts, `${w.address} holds unknown ${k}`)
      assert.strictEqual(ts!.state, "memory", `${k} held but ${ts!.state}`)
      bytes += ts!.nbytes
      held.set(k, [...(held.get(k) ?? []), w.address])
    }
    assert.strictEqual(w.bytes, bytes, `${w.address} bytes`)
    if (w.memoryLimit === undefined) assert.isFalse(w.paused)
  }
  for (const [key, ts] of s.tasks) {
    for (const d of ts.dependencies) assert.include(s.tasks.get(d)?.dependents ?? [], key, `${d} → ${key}`)
    for (const d of ts.dependents) assert.include(s.tasks.get(d)?.dependencies ?? [], key, `${key} → ${d}`)
    for (const d of ts.waitingOn) assert.include(ts.dependencies, d)
    for (const d of ts.waiters) assert.include(ts.dependents, d)
    assert.deepStrictEqual(new Set(ts.workers), new Set(held.get(key) ?? []), `${key} who_has`)
    for (const c of ts.whoWants) assert.include(s.clients.get(c) ?? [], key, `${c} wants ${key}`)
    switch (ts.state) {
      case "memory":
        assert.isNotEmpty(ts.workers, key)
        // Dask frees a value nobody wants and no waiting dependent needs.
        assert.isTrue(ts.whoWants.length > 0 || ts.waiters.length > 0, `${key} kept in memory for nobody`)
        break
      case "waiting":
        assert.isNotEmpty(ts.waitingOn, `${key} waiting on nothing`)
        for (const d of ts.dependencies) {
          assert.strictEqual(s.tasks.get(d)!.state === "memory", !ts.waitingOn.includes(d), `${key} waiting_on ${d}`)
        }
        break
      case "processing":
        assert.isDefined(ts.processingOn)
        for (const d of ts.dependencies) assert.strictEqual(s.tasks.get(d)!.state, "memory", `${key} running without ${d}`)
        break
      case "erred":
        assert.isDefined(ts.error, key)
        break
    }
    if (ts.state !== "processing") assert.isUndefined(ts.processingOn, key)
    if (ts.state !== "memory") assert.isEmpty(ts.workers, key)
    // A task no client wants and no dependent needs is forgotten at once.
    assert.isTrue(ts.whoWants.length > 0 || ts.dependents.length > 0, `${key} kept for nobody`)
  }
  for (const [c, keys] of s.clients) {
    for (const k of keys) assert.include(s.tasks.get(k)?.whoWants ?? [], c, `${k} wanted by ${c}`)
  }
  const running = s.workers.reduce((n, w) => n + w.running, 0)
  assert.strictEqual(running, [...s.tasks.values()].filter((t) => t.state === "processing").length)
}

const validated = Effect.map(snapshot, (s) => {
  validate(s)
  return s
})

describe.each(executors)("EmbeddedScheduler state (protocol level, $name)", (ex: Executor) => {
  const settle = ex.settle
  /** Runs `body` on `ex`'s scheduler; once its scope (and so every session) is closed, nothing may be left. */
  const scoped = <E>(body: Effect.Effect<void, E, Scheduler | EmbeddedScheduler.EmbeddedScheduler | Scope.Scope>, heap = true) =>
    Effect.zipRight(Effect.scoped(body), ex.clean(heap)).pipe(Effect.provide(ex.layer()))
  const test = <E>(name: string, body: () => Effect.Effect<void, E, Scheduler | EmbeddedScheduler.EmbeddedScheduler | Scope.Scope>) =>
    it.scoped(name, () => scoped(body()), 60_000)
  test("test_forget_simple", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      c.send({
        _tag: "UpdateGraph",
        tasks: [{ ...spec("x", inc, 1), options: { retries: 2 } }, spec("y", inc, 2), spec("z", T.add, ref("x"), ref("y"))],
        keys: ["x", "y", "z"]
      })
      yield* settle
      let s = yield* validated
      assert.deepStrictEqual([...s.tasks.keys()].sort(), ["x", "y", "z"])
      assert.deepStrictEqual(s.tasks.get("z")!.state, "memory")
      c.send({ _tag: "ReleaseKeys", keys: ["x"] })
      assert.isTrue((yield* validated).tasks.has("x"))
      c.send({ _tag: "ReleaseKeys", keys: ["z"] })
      s = yield* validated
      assert.deepStrictEqual([...s.tasks.keys()], ["y"])
      assert.deepStrictEqual(s.tasks.get("y")!.dependents, [])
      c.send({ _tag: "ReleaseKeys", keys: ["y"] })
      s = yield* validated
      assert.strictEqual(s.tasks.size, 0)
      assert.deepStrictEqual(s.workers.map((w) => w.bytes), [0, 0])
    }))

  test("test_forget_in_flight", () =>
    Effect.gen(function*() {
      const e = yield* connect("e")
      // Gate 0 holds a..d, gate 1 the sums: the test decides what is in flight.
      const gate = T.cells(2)
      const slowinc = (key: Key, x: number) => spec(key, T.gatedInc, gate, 0, x)
      const slowadd = (key: Key, a: Key, b: Key) => spec(key, T.gatedAdd, gate, 1, ref(a), ref(b))
      // One graph; only ac and acab are wanted (Dask's `e.compute([ac, acab])`), so cd is never created.
      e.send({
        _tag: "UpdateGraph",
        tasks: [
          slowinc("a", 0),
          slowinc("b", 1),
          slowinc("c", 2),
          slowinc("d", 3),
          slowadd("ab", "a", "b"),
          slowadd("cd", "c", "d"),
          slowadd("ac", "a", "c"),
          slowadd("acab", "ac", "ab")
        ],
        keys: ["ac", "acab"]
      })
      let s = yield* validated
      assert.deepStrictEqual([...s.tasks.keys()].sort(), ["a", "ab", "ac", "acab", "b", "c"])
      T.open(gate, 0)
      yield* settle
      s = yield* validated
      assert.deepStrictEqual(["ab", "ac", "acab"].map((k) => s.tasks.get(k)!.state), ["processing", "processing", "waiting"])
      e.send({ _tag: "ReleaseKeys", keys: ["acab"] })
      s = yield* validated
      for (const k of ["acab", "ab", "b"]) assert.isFalse(s.tasks.has(k), k)
      assert.deepStrictEqual([...s.tasks.keys()].sort(), ["a", "ac", "c"])
      T.open(gate, 1)
      yield* settle
      s = yield* validated
      assert.deepStrictEqual([...s.tasks.keys()].sort(), ["a", "ac", "c"])
      assert.deepStrictEqual(s.workers.flatMap((w) => w.keys), ["ac"])
      assert.strictEqual((yield* e.gather(["ac"])).get("ac"), 4)
    }))

  test("test_forget_errors", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      c.send({ _tag: "UpdateGraph", tasks: [spec("x", div, 1, 0), spec("y", inc, ref("x"))], keys: ["x", "y"] })
      yield* settle
      // Submitted after x erred: z errs at once, blamed on x.
      c.send({ _tag: "UpdateGraph", tasks: [spec("z", inc, ref("y"))], keys: ["z"] })
      let s = yield* validated
      for (const k of ["x", "y", "z"]) assert.strictEqual(s.tasks.get(k)!.erredBecauseOf, "x")
      // As Dask's update_graph: z errs in the transitions, then every touched task in memory/erred is
      // reported to the submitting client again (z, and its dependency y).
      const reports = yield* drainReports(c)
      assert.deepStrictEqual(reports.map((r) => r._tag === "TaskErred" ? r.key : r._tag), ["x", "y", "z", "z", "y"])
      c.send({ _tag: "ReleaseKeys", keys: ["z"] })
      c.send({ _tag: "ReleaseKeys", keys: ["x"] })
      s = yield* validated
      assert.deepStrictEqual([...s.tasks.keys()].sort(), ["x", "y"])
      assert.deepStrictEqual(s.tasks.get("x")!.whoWants, [])
      c.send({ _tag: "ReleaseKeys", keys: ["y"] })
      assert.strictEqual((yield* validated).tasks.size, 0)
    }))

  test("desiring a key in memory or erred reports it at once (client_desires_keys)", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      const f = yield* connect("f")
      c.send({ _tag: "UpdateGraph", tasks: [spec("x", inc, 1), spec("bad", div, 1, 0)], keys: ["x", "bad"] })
      yield* settle
      yield* drainReports(c)
      f.send({ _tag: "DesireKeys", keys: ["x", "bad"] })
      const reports = yield* drainReports(f)
      assert.deepStrictEqual(reports.map((r) => r._tag), ["KeyInMemory", "TaskErred"])
      assert.deepStrictEqual((yield* validated).tasks.get("x")!.whoWants, ["c", "f"])
      // An unknown key becomes a placeholder the client wants (for publish/unpickled futures).
      f.send({ _tag: "DesireKeys", keys: ["nothing-yet"] })
      assert.strictEqual((yield* validated).tasks.get("nothing-yet")!.state, "released")
      f.send({ _tag: "ReleaseKeys", keys: ["nothing-yet"] })
      assert.isFalse((yield* validated).tasks.has("nothing-yet"))
    }))

  test("a dependency on unknown data cancels the dependent (update_graph)", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      c.send({ _tag: "UpdateGraph", tasks: [spec("y", inc, ref("lost")), spec("z", inc, ref("y")), spec("ok", inc, 1)], keys: ["z", "ok"] })
      yield* settle
      const reports = yield* drainReports(c)
      const cancelled = reports.flatMap((r) => r._tag === "CancelledKeys" ? r.keys : [])
      assert.deepStrictEqual(cancelled.sort(), ["y", "z"])
      assert.deepStrictEqual([...(yield* validated).tasks.keys()], ["ok"])
    }))

  test("Close releases everything the client wants; reports stop", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      const f = yield* connect("f")
      c.send({ _tag: "UpdateGraph", tasks: [spec("x", inc, 1), spec("y", inc, 2)], keys: ["x", "y"] })
      f.send({ _tag: "DesireKeys", keys: ["y"] })
      yield* settle
      c.send({ _tag: "Close" })
      const s = yield* validated
      assert.deepStrictEqual([...s.tasks.keys()], ["y"])
      assert.isFalse(s.clients.has("c"))
      c.send({ _tag: "UpdateGraph", tasks: [spec("w", inc, 3)], keys: ["w"] })
      assert.isFalse((yield* validated).tasks.has("w"))
    }))

  test("Cancel with force cancels for every client; dependents are cancelled too", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      const f = yield* connect("f")
      // A gate never opened: x stays in flight until cancelled.
      const gate = T.cells()
      c.send({ _tag: "UpdateGraph", tasks: [spec("x", T.gatedInc, gate, 0, 1), spec("y", T.gatedInc, gate, 0, ref("x"))], keys: ["x", "y"] })
      f.send({ _tag: "DesireKeys", keys: ["x"] })
      yield* settle
      // Not forced: f also wants x, so c only drops its interest and nothing is cancelled.
      c.send({ _tag: "Cancel", keys: ["x"], force: false })
      assert.deepStrictEqual((yield* validated).tasks.get("x")!.whoWants, ["f"])
      assert.deepStrictEqual((yield* drainReports(c)).filter((r) => r._tag === "CancelledKeys"), [])
      c.send({ _tag: "DesireKeys", keys: ["x"] })
      c.send({ _tag: "Cancel", keys: ["x"], force: true })
      const s = yield* validated
      assert.strictEqual(s.tasks.size, 0)
      assert.strictEqual(s.inFlight, 0)
      const cancelledFor = (r: ReadonlyArray<SchedulerReport>) => r.flatMap((x) => x._tag === "CancelledKeys" ? x.keys : [])
      assert.deepStrictEqual(cancelledFor(yield* drainReports(c)), ["y", "x"])
      assert.deepStrictEqual(cancelledFor(yield* drainReports(f)), ["x"])
    }))

  test("intermediate values are freed as soon as their last dependent finishes", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      const tasks = [spec("k0", inc, 0)]
      for (let i = 1; i < 50; i++) tasks.push(spec(`k${i}`, inc, ref(`k${i - 1}`)))
      c.send({ _tag: "UpdateGraph", tasks, keys: ["k49"] })
      yield* settle
      const s = yield* validated
      assert.deepStrictEqual(s.workers.flatMap((w) => w.keys), ["k49"])
      assert.strictEqual(s.tasks.size, 50)
      assert.strictEqual(s.tasks.get("k10")!.state, "released")
      assert.strictEqual((yield* c.gather(["k49"])).get("k49"), 50)
      const lost = yield* Effect.flip(c.gather(["k10"]))
      assert.strictEqual(lost._tag, "LostDataError")
      c.send({ _tag: "ReleaseKeys", keys: ["k49"] })
      assert.strictEqual((yield* validated).tasks.size, 0)
    }))

  // In this thread only: what it tests is the model's recursion (the executor does not matter), and
  // 20 000 round trips to a thread would only slow the suite.
  if (!ex.threads) test("long chains are computed, cancelled and forgotten without deep recursion", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      const n = 20_000
      const chain = (prefix: string) => {
        const tasks = [spec(`${prefix}0`, inc, 0)]
        for (let i = 1; i < n; i++) tasks.push(spec(`${prefix}${i}`, inc, ref(`${prefix}${i - 1}`)))
        return tasks
      }
      c.send({ _tag: "UpdateGraph", tasks: chain("a"), keys: [`a${n - 1}`] })
      yield* settle
      assert.strictEqual((yield* c.gather([`a${n - 1}`])).get(`a${n - 1}`), n)
      c.send({ _tag: "ReleaseKeys", keys: [`a${n - 1}`] })
      assert.strictEqual((yield* snapshot).tasks.size, 0)
      // Every link wanted; cancelling the root cancels all of them, deepest first.
      const tasks = chain("b")
      c.send({ _tag: "UpdateGraph", tasks, keys: tasks.map((t) => t.key) })
      yield* drainReports(c)
      c.send({ _tag: "Cancel", keys: ["b0"], force: false })
      const cancelled = (yield* drainReports(c)).flatMap((r) => r._tag === "CancelledKeys" ? r.keys : [])
      assert.strictEqual(cancelled.length, n)
      assert.deepStrictEqual([cancelled[0], cancelled[n - 1]], [`b${n - 1}`, "b0"])
      assert.strictEqual((yield* snapshot).tasks.size, 0)
    }))

  test("scattering over a running key replaces the computation and wakes its dependents", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      const gate = T.cells()
      c.send({ _tag: "UpdateGraph", tasks: [spec("x", T.gatedInc, gate, 0, 1), spec("y", inc, ref("x"))], keys: ["x", "y"] })
      yield* settle
      assert.strictEqual((yield* validated).tasks.get("x")!.state, "processing")
      yield* c.scatter([["x", 100]])
      let s = yield* validated
      assert.strictEqual(s.tasks.get("x")!.state, "memory")
      assert.isUndefined(s.tasks.get("x")!.processingOn, "the computation is abandoned")
      yield* settle
      s = yield* validated
      assert.deepStrictEqual([s.tasks.get("x")!.state, s.tasks.get("y")!.state], ["memory", "memory"])
      const values = yield* c.gather(["x", "y"])
      assert.deepStrictEqual([values.get("x"), values.get("y")], [100, 101])
      // The abandoned run finishing later changes nothing.
      T.open(gate)
      yield* settle
      assert.strictEqual((yield* c.gather(["x"])).get("x"), 100)
    }))

  test("fire-and-forget: released once computed; a key already finished stays wanted (as Dask)", () =>
    Effect.gen(function*() {
      const c = yield* connect("c")
      const gate = T.cells()
      c.send({ _tag: "UpdateGraph", tasks: [spec("x", T.gatedInc, gate, 0, 1), spec("done", inc, 1)], keys: ["x", "done"] })
      yield* settle
      c.send({ _tag: "DesireKeys", keys: ["x", "done"], client: "fire-and-forget" })
      c.send({ _tag: "ReleaseKeys", keys: ["x", "done"] })
      let s = yield* validated
      assert.deepStrictEqual(s.clients.get("fire-and-forget"), ["x", "done"])
      T.open(gate)
      yield* settle
      s = yield* validated
      // x was computed, then freed (its only wanter was the pseudo-client)...
      assert.isFalse(s.tasks.has("x"))
      // ...but Dask releases the pseudo-client's interest only on a transition to memory/erred,
      // so a key that had already finished is kept.
      assert.deepStrictEqual(s.clients.get("fire-and-forget"), ["done"])
      assert.strictEqual(s.tasks.get("done")!.state, "memory")
      // Only a forced cancel lets go of it (for every client, pseudo-clients too).
      c.send({ _tag: "Cancel", keys: ["done"], force: true })
      assert.strictEqual((yield* validated).tasks.size, 0)
    }))

  it.scoped.prop(
    "random interest sequences keep Dask's invariants and free everything at the end",
    [FastCheck.array(
      FastCheck.tuple(
        FastCheck.constantFrom("submit", "submitAlone", "release", "desire", "cancel", "scatter", "faf", "publish", "unpublish", "close"),
        FastCheck.nat(1),
        FastCheck.nat(9),
        FastCheck.boolean(),
        FastCheck.boolean()
      ),
      { maxLength: 40 }
    )],
    ([ops]) =>
      Effect.gen(function*() {
        // A fixed DAG over k0..k7 (ki depends on lower keys); k3 fails; s0..s1 are scattered data.
        const deps: Record<Key, ReadonlyArray<Key>> = {
          k0: [],
          k1: ["k0"],
          k2: ["k0", "s0"],
          k3: ["k1"],
          k4: ["k2", "k1"],
          k5: ["k3"],
          k6: ["k4", "s1"],
          k7: ["k6", "k5"]
        }
        const specOf = (k: Key) => spec(k, (k === "k3" ? T.fail : T.node) as Task.Any, ...deps[k]!.map(ref))
        const closure = (k: Key, out = new Set<Key>()): Set<Key> => {
          if (out.has(k) || k.startsWith("s")) return out
          out.add(k)
          for (const d of deps[k]!) closure(d, out)
          return out
        }
        const value = (k: Key): number => k === "s0" ? 10 : k === "s1" ? 20 : 1 + deps[k]!.reduce((a, d) => a + value(d), 0)
        const fails = (k: Key): boolean => closure(k).has("k3")

        const scheduler = yield* Scheduler
        const sessions: Array<Session | undefined> = [undefined, undefined]
        const session = function*(i: number) {
          return sessions[i] ??= yield* scheduler.connect(`client-${i}`, () => {})
        }
        // Clients desire and publish keys they hold futures for: finished ones. (Desiring a released
        // intermediate does not recompute it, in Dask as here.)
        const present = () =>
          Effect.map(snapshot, (s) => [...s.tasks.values()].filter((t) => t.state === "memory" || t.state === "erred").map((t) => t.key))
        for (const [op, who, n, flag, flush] of ops) {
          const s = yield* session(who)
          const k = n < 8 ? `k${n}` : `s${n - 8}`
          switch (op) {
            case "submit":
              if (k.startsWith("k")) s.send({ _tag: "UpdateGraph", tasks: [...closure(k)].map(specOf), keys: [k] })
              else yield* s.scatter([[k, value(k)]])
              break
            case "submitAlone":
              if (k.startsWith("k")) s.send({ _tag: "UpdateGraph", tasks: [specOf(k)], keys: [k] })
              break
            case "scatter": {
              const known = (yield* snapshot).tasks.get(k)
              if (k.startsWith("s") && known === undefined) yield* s.scatter([[k, value(k)]], { broadcast: flag })
              break
            }
            case "release":
              s.send({ _tag: "ReleaseKeys", keys: [k] })
              break
            case "desire": {
              const keys = yield* present()
              if (keys.length > 0) s.send({ _tag: "DesireKeys", keys: [keys[n % keys.length]!] })
              break
            }
            case "cancel":
              s.send({ _tag: "Cancel", keys: [k], force: flag })
              break
            case "faf": {
              // Only unfinished known keys: as in Dask, an unknown key would stay a placeholder
              // forever, and a finished one stays wanted by the pseudo-client (see the test below).
              const keys = [...(yield* snapshot).tasks.values()]
                .filter((t) => t.whoWants.length > 0 && t.state !== "memory" && t.state !== "erred").map((t) => t.key)
              if (keys.length > 0) s.send({ _tag: "DesireKeys", keys: [keys[n % keys.length]!], client: "fire-and-forget" })
              break
            }
            case "publish": {
              const keys = yield* present()
              if (keys.length > 0) yield* s.publishDataset(`d${n % 2}`, [keys[n % keys.length]!], true)
              break
            }
            case "unpublish":
              yield* s.unpublishDataset(`d${n % 2}`)
              break
            case "close":
              s.send({ _tag: "Close" })
              sessions[who] = undefined
              break
          }
          yield* validated
          if (flush) yield* settle
        }
        yield* settle
        const s = yield* validated
        // Quiescent: everything wanted is computed (or erred because of k3), and nothing else is held.
        for (const [key, t] of s.tasks) {
          if (t.whoWants.length === 0) continue
          if (key.startsWith("k")) assert.strictEqual(t.state, fails(key) ? "erred" : "memory", key)
          else assert.strictEqual(t.state, "memory", key)
          if (t.state === "memory") {
            const c = sessions.find((x) => x !== undefined) ?? (yield* session(0))
            assert.strictEqual((yield* c.gather([key])).get(key), value(key), key)
          }
        }
        // The pseudo-client lets go of a key when it reaches memory or errs itself; as in Dask, a key
        // erred because of a dependency (released → erred) stays wanted.
        const faf = s.clients.get("fire-and-forget")!
        for (const key of faf) assert.strictEqual(s.tasks.get(key)!.state, "erred", key)
        for (const name of yield* (yield* session(0)).listDatasets()) yield* (yield* session(0)).unpublishDataset(name)
        for (let i = 0; i < 2; i++) {
          const c = sessions[i]
          if (c !== undefined) c.send({ _tag: "Close" })
        }
        const end = yield* validated
        // Only what pseudo-clients still want (and its dependencies) is left, and no values held for
        // nobody. As Dask's publish_put, republishing a name with override does not release the keys
        // it replaced: the "published-<name>" pseudo-client keeps wanting them.
        const kept = new Set<Key>()
        const pseudo = [...end.clients].filter(([id]) => id === "fire-and-forget" || id.startsWith("published-"))
        for (const key of pseudo.flatMap(([, keys]) => keys)) for (const k of closure(key)) kept.add(k)
        for (const key of pseudo.flatMap(([, keys]) => keys)) kept.add(key)
        for (const key of end.tasks.keys()) assert.isTrue(kept.has(key), key)
        for (const w of end.workers) for (const k of w.keys) assert.isNotEmpty(end.tasks.get(k)!.whoWants, k)
        if (pseudo.every(([, keys]) => keys.length === 0)) {
          assert.strictEqual(end.tasks.size, 0)
          assert.deepStrictEqual(end.workers.map((w) => [w.keys.length, w.bytes]), [[0, 0], [0, 0]])
        }
        assert.isTrue(Option.isNone(yield* (yield* session(0)).getDataset("d0")))
        // What pseudo-clients still want goes too (a forced cancel), so that `clean` can check that nothing else is left.
        const left = [...end.tasks.keys()]
        if (left.length > 0) (yield* scheduler.connect("cleaner", () => {})).send({ _tag: "Cancel", keys: left, force: true })
        // Keys and bytes in every thread after each run; no heap check per run (a GC in each thread costs more than the run).
      }).pipe((run) => scoped(run, false)),
    // Fewer runs on threads: each settle is a round trip to every thread.
    { fastCheck: { numRuns: ex.threads ? 100 : 150 } }
  )
})
