/**
 * Memory snapshots, leak reports and metrics, checked against the schedulers'
 * real state (the test scheduler's interest bookkeeping, the embedded
 * scheduler's own snapshot) and against this file's own source lines.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, Metric, Scope } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import * as EmbeddedScheduler from "../src/EmbeddedScheduler.js"
import { Client, Future, Memory, Metrics, Task, TestScheduler } from "../src/index.js"
import type { ClientImpl } from "../src/internal/client.js"
import { withCallerStack } from "../src/internal/client.js"
import { parseFrame, userFrame } from "../src/internal/memory.js"
import { sizeof } from "../src/internal/model/sizeof.js"

const inc = Task.make("inc", (x: number) => x + 1, { python: "test_utils.inc" })
const add = Task.make("add", (x: number, y: number) => x + y, { python: "operator.add" })

const thisFile = fileURLToPath(import.meta.url)
/** The 1-based line of this file holding `marker` (so edits above it do not break the test). */
const lineOf = (marker: string): number => {
  const lines = fs.readFileSync(thisFile, "utf8").split("\n")
  const hits = lines.flatMap((l, i) => (l.includes(marker) && !l.includes("lineOf(") ? [i + 1] : []))
  assert.strictEqual(hits.length, 1, `marker ${marker} must appear once`)
  return hits[0]!
}

/** Runs `body` with a fresh test scheduler and a client (made current). */
const withClient = <A, E>(
  body: (test: TestScheduler.TestScheduler["Type"], client: Client.Client) => Effect.Effect<A, E, Scope.Scope>,
  options?: Client.Options
) =>
  Effect.gen(function*() {
    const test = yield* TestScheduler.TestScheduler
    const client = yield* Client.make(options)
    return yield* Client.withClient(body(test, client), client)
  }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer()))

const gc = () => (globalThis as any).gc() as void
const tick = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

describe("Memory.snapshot", () => {
  it.effect("matches the test scheduler's wants and memory", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const a = yield* Client.submit(inc, 1)
        const b = yield* Client.submit(add, 1, 2)
        const b2 = yield* Client.submit(add, 1, 2) // same key: refcount 2
        const c = yield* Client.submit(inc, 10)
        const [s] = yield* Client.scatter(["hello world"])
        yield* test.finish(a.key, 2, { nbytes: 100 })
        yield* test.finish(b.key, 3, { nbytes: 250 })
        yield* test.fail(c.key, { type: "ValueError" })

        const snap = yield* Memory.snapshot()
        const wants = yield* test.wants(client.id)
        const memory = yield* test.memory
        assert.deepStrictEqual(new Set(snap.keys.map((k) => k.key)), wants)
        assert.strictEqual(snap.keys.length, 4)
        const byKey = new Map(snap.keys.map((k) => [k.key, k]))
        for (const [key, info] of byKey) {
          assert.deepStrictEqual(info.workers, memory.has(key) ? ["test://scheduler/worker-0"] : [], key)
        }
        assert.strictEqual(byKey.get(a.key)!.nbytes, 100)
        assert.strictEqual(byKey.get(b.key)!.nbytes, 250)
        assert.strictEqual(byKey.get(s!.key)!.nbytes, sizeof("hello world"))
        assert.strictEqual(byKey.get(b.key)!.refcount, 2)
        assert.strictEqual(byKey.get(a.key)!.status, "finished")
        assert.strictEqual(byKey.get(c.key)!.status, "error")
        assert.deepStrictEqual(snap.states.finished, { keys: 3, bytes: 100 + 250 + sizeof("hello world") })
        assert.deepStrictEqual(snap.states.error, { keys: 1, bytes: 0 })
        assert.strictEqual(snap.totals.handles, undefined) // not tracked
        assert.isFalse(snap.tracking)
        // Per worker: the client's share equals the scheduler's total here (one client, one worker).
        assert.strictEqual(snap.workers.length, 1)
        const w = snap.workers[0]!
        assert.strictEqual(w.clientKeys, memory.size)
        assert.strictEqual(w.clientBytes, 350 + sizeof("hello world"))
        assert.strictEqual(w.bytes, 350 + sizeof("hello world"))
        assert.strictEqual(snap.totals.bytes, 350 + sizeof("hello world"))

        // After releases the snapshot follows the scheduler.
        yield* Future.release(b)
        assert.strictEqual((yield* Memory.snapshot()).keys.find((k) => k.key === b.key)!.refcount, 1)
        yield* Future.release(b2)
        yield* Future.release(a)
        const after = yield* Memory.snapshot()
        assert.deepStrictEqual(new Set(after.keys.map((k) => k.key)), yield* test.wants(client.id))
        assert.strictEqual(after.workers[0]!.clientBytes, sizeof("hello world"))
        const text = Memory.format(after)
        assert.include(text, s!.key)
        assert.notInclude(text, a.key)
      })
    ))

  it.effect("tracks each handle's call site and span", () =>
    withClient((test) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 5)
        yield* test.finish(x.key, 6)
        const y = yield* Future.retain(x) // SITE-RETAIN
        const snap = yield* Memory.snapshot()
        const info = snap.keys.find((k) => k.key === x.key)!
        assert.strictEqual(info.refcount, 2)
        assert.strictEqual(info.handles.length, 2)
        assert.strictEqual(snap.totals.handles, 2)
        const retained = info.handles[1]!
        assert.strictEqual(retained.owner, "scope")
        assert.strictEqual(retained.location?.file, thisFile)
        assert.strictEqual(retained.location?.line, lineOf("SITE-RETAIN"))
        assert.strictEqual(retained.span, "user-span")
        // submit runs under its own span, inside the user's
        assert.strictEqual(info.handles[0]!.span, "effect-dask.submit < user-span")
        yield* Future.release(y)
        assert.strictEqual((yield* Memory.snapshot()).totals.handles, 1)
      }).pipe(Effect.withSpan("user-span")), { trackCallSites: true }))
})

describe("call sites of run-time acquisitions", () => {
  it.effect("withCallerStack gives Client.submit the builder's line", () =>
    withClient(() =>
      Effect.gen(function*() {
        // Client.submit resolves the client when it runs, so its handle is made inside the runtime:
        const plain = yield* Client.submit(inc, 1)
        // the hook the public operations can wrap themselves in captures where the effect was built:
        const wrapped = yield* withCallerStack(Client.submit(inc, 2)) // SITE-CALLER
        const snap = yield* Memory.snapshot()
        const site = (key: string) => snap.keys.find((k) => k.key === key)!.handles[0]!
        assert.strictEqual(site(wrapped.key).location?.line, lineOf("SITE-CALLER"))
        const p = site(plain.key).location
        // either unknown (the runtime's stack), or — once Client.ts wraps its operations — this file
        assert.isTrue(p === undefined || p.file === thisFile, JSON.stringify(p))
        assert.strictEqual(site(plain.key).span, "effect-dask.submit")
      }), { trackCallSites: true }))
})

describe("Memory.leakReport", () => {
  it.effect("names the file and line of a detached handle never released", () =>
    withClient((_test, client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(inc, 1)
        const kept: Array<Future.Future<number>> = []
        kept.push(yield* Future.detach(x)) // LEAK-DETACH-1
        const report = yield* Memory.leakReport()
        assert.strictEqual(report.handles.length, 1)
        const h = report.handles[0]!
        assert.strictEqual(h.key, x.key)
        assert.strictEqual(h.owner, "detached")
        assert.strictEqual(h.location?.file, thisFile)
        assert.strictEqual(h.location?.line, lineOf("LEAK-DETACH-1"))
        assert.strictEqual(h.status, "pending")
        const text = Memory.format(report)
        assert.include(text, `test/memory.test.ts:${lineOf("LEAK-DETACH-1")}:`)
        // the scoped submit handle is not a leak on demand, but is listed with includeScoped
        assert.strictEqual((yield* Memory.leakReport({ includeScoped: true })).handles.length, 2)
        yield* Future.release(kept[0]!)
        assert.isFalse(Memory.hasLeaks(yield* Memory.leakReport()))
        assert.strictEqual((client as ClientImpl).liveDetached!.size, 0)
      }), { trackCallSites: true }))

  it.effect("at close lists handles in scopes still open and detached ones, via Effect.logWarning", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") logs.push(String(Array.isArray(message) ? message[0] : message))
      })
      const reports: Array<Memory.LeakReport> = []
      const longLived = yield* Scope.make()
      yield* Effect.gen(function*() {
        const client = yield* Client.make({ trackCallSites: true })
        yield* Memory.warnOnLeaks(client)
        yield* Memory.onLeaks((r) => Effect.sync(() => reports.push(r)), { client })
        yield* Client.withClient(client)(Effect.gen(function*() {
          const x = yield* Client.submit(inc, 1)
          yield* Future.retain(x).pipe(Scope.extend(longLived)) // LEAK-SCOPE
          yield* Effect.scoped(Future.retain(x)) // closed at once: not a leak
          yield* Future.detach(x) // LEAK-DETACH-2
        }))
      }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer()), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.strictEqual(reports.length, 1)
      const r = reports[0]!
      assert.isTrue(r.atClose)
      // the submit handle (its scope closed with the client's) is not listed: only the two leaks
      const lines = r.handles.map((h) => `${h.owner}:${h.location?.line}`).sort()
      assert.deepStrictEqual(lines, [`detached:${lineOf("LEAK-DETACH-2")}`, `scope:${lineOf("LEAK-SCOPE")}`])
      assert.strictEqual(logs.length, 1)
      assert.include(logs[0]!, `test/memory.test.ts:${lineOf("LEAK-SCOPE")}:`)
      assert.include(logs[0]!, `test/memory.test.ts:${lineOf("LEAK-DETACH-2")}:`)
      yield* Scope.close(longLived, Exit.void)
    }))

  it.effect("no report when nothing leaks", () =>
    Effect.gen(function*() {
      const reports: Array<Memory.LeakReport> = []
      yield* Effect.gen(function*() {
        const client = yield* Client.make({ trackCallSites: true })
        yield* Memory.onLeaks((r) => Effect.sync(() => reports.push(r)), { client })
        yield* Client.withClient(client)(Effect.scoped(Effect.gen(function*() {
          const x = yield* Client.submit(inc, 1)
          const d = yield* Future.detach(x)
          yield* Future.release(d)
        })))
      }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer()))
      assert.strictEqual(reports.length, 0)
    }))

  it.effect("lists handles only the GC backstop released, with their call site", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        let key = ""
        yield* Effect.scoped(Effect.gen(function*() {
          const x = yield* Client.submit(inc, 41)
          key = x.key
          yield* Future.detach(x) // LEAK-GC
        }))
        assert.strictEqual((yield* Memory.leakReport()).handles.length, 1)
        for (let i = 0; i < 50 && (yield* test.wants(client.id)).has(key); i++) {
          gc()
          yield* tick(10)
        }
        assert.isFalse((yield* test.wants(client.id)).has(key), "tracking must not keep a detached handle alive")
        const report = yield* Memory.leakReport()
        assert.strictEqual(report.handles.length, 0)
        assert.strictEqual(report.gcReleased.length, 1)
        assert.strictEqual(report.gcReleased[0]!.key, key)
        assert.strictEqual(report.gcReleased[0]!.location?.line, lineOf("LEAK-GC"))
        assert.include(Memory.format(report), "released by the GC backstop")
        assert.strictEqual((yield* Metrics.values()).gcReleases, 1)
      }), { trackCallSites: true }))

  it.effect("without tracking the report at close still names the keys held", () =>
    Effect.gen(function*() {
      const reports: Array<Memory.LeakReport> = []
      let key = ""
      const longLived = yield* Scope.make()
      yield* Effect.gen(function*() {
        const client = yield* Client.make()
        yield* Memory.onLeaks((r) => Effect.sync(() => reports.push(r)), { client })
        const x = yield* Client.withClient(Client.submit(inc, 3), client).pipe(Scope.extend(longLived))
        key = x.key
      }).pipe(Effect.scoped, Effect.provide(TestScheduler.layer()))
      assert.strictEqual(reports.length, 1)
      assert.isFalse(reports[0]!.tracking)
      assert.deepStrictEqual(reports[0]!.untracked, [{ key, refcount: 1 }])
      assert.include(Memory.format(reports[0]!), "trackCallSites")
      yield* Scope.close(longLived, Exit.void)
    }))
})

describe("call-site parsing", () => {
  it("finds the first frame outside the library and node_modules", () => {
    const lib = fileURLToPath(new URL("../src/internal/client.ts", import.meta.url))
    const stack = [
      "Error",
      `    at stackHere (${lib}:10:5)`,
      `    at ClientImpl.acquire (file://${lib}:20:7)`,
      "    at Generator.next (<anonymous>)",
      "    at file:///home/u/app/src%20x/main.ts?v=123:42:17",
      "    at node:internal/process/task_queues:95:5"
    ].join("\n")
    assert.deepStrictEqual(userFrame(stack), { file: "/home/u/app/src x/main.ts", line: 42, column: 17, function: undefined })
    // captured while an effect ran: the first outside frame is the runtime, so no user frame
    const runtime = [
      "Error",
      `    at newHandle (${lib}:1:1)`,
      "    at FiberRuntime.runLoop (file:///x/node_modules/effect/src/internal/fiberRuntime.ts:1384:34)",
      "    at main (/x/app.ts:3:3)"
    ].join("\n")
    assert.strictEqual(userFrame(runtime), undefined)
    assert.deepStrictEqual(parseFrame("    at async Object.run (/a/b.ts:1:2)"), { file: "/a/b.ts", line: 1, column: 2, function: "Object.run" })
    assert.deepStrictEqual(parseFrame("    at new Foo (C:\\a\\b.ts:3:4)")?.line, 3)
    assert.strictEqual(parseFrame("    at Generator.next (<anonymous>)"), undefined)
  })
})

describe("Metrics", () => {
  it.effect("counters after a known sequence are exact", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const a = yield* Client.submit(inc, 1) // update-graph: no desire
        yield* Effect.scoped(Effect.gen(function*() {
          const b = yield* Client.submit(inc, 2)
          yield* Future.fromKey("published-x") // desire 1
          yield* Future.fromKey("published-x") // same key: no second desire
          yield* test.fail(b.key, { type: "ZeroDivisionError" }) // error 1
        })) // releases b and published-x in one message: 2
        yield* Future.release(a) // release 3
        const b2 = yield* Future.fromKey(a.key) // desire 2
        yield* test.fail(b2.key, { type: "ValueError" }, { force: true }) // error 2 (b2 was never submitted: forced)
        assert.deepStrictEqual(yield* Metrics.values(), { desires: 2, releases: 3, gcReleases: 0, errors: 2 })
        const raw = yield* Metric.value(Metrics.releases.pipe(Metric.taggedWithLabels(Metrics.labels(client))))
        assert.strictEqual(raw.count, 3)
      })
    ))

  it.effect("memory gauges per worker follow snapshots", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const worker = "test://scheduler/worker-0"
        const gauge = (m: Metric.Metric.Gauge<number>) =>
          Effect.map(Metric.value(m.pipe(Metric.taggedWithLabels(Metrics.workerLabels(client, worker)))), (s) => s.value)
        const a = yield* Client.submit(inc, 1)
        const b = yield* Client.submit(inc, 2)
        yield* test.finish(a.key, 2, { nbytes: 1000 })
        yield* test.finish(b.key, 3, { nbytes: 24 })
        yield* Memory.snapshot()
        assert.strictEqual(yield* gauge(Metrics.keysHeld), 2)
        assert.strictEqual(yield* gauge(Metrics.bytesHeld), 1024)
        yield* Future.release(a)
        yield* Future.release(b)
        yield* Memory.snapshot()
        assert.strictEqual(yield* gauge(Metrics.keysHeld), 0)
        assert.strictEqual(yield* gauge(Metrics.bytesHeld), 0)
      })
    ))
})

describe("Metrics.layer", () => {
  it.live("polls the memory gauges of open clients", () =>
    withClient((test, client) =>
      Effect.gen(function*() {
        const a = yield* Client.submit(inc, 1)
        yield* test.finish(a.key, 2, { nbytes: 4096 })
        const gauge = Metric.value(Metrics.bytesHeld.pipe(Metric.taggedWithLabels(Metrics.workerLabels(client, "test://scheduler/worker-0"))))
        yield* Effect.gen(function*() {
          for (let i = 0; i < 100 && (yield* gauge).value !== 4096; i++) yield* Effect.sleep("10 millis")
        }).pipe(Effect.provide(Metrics.layer({ interval: "10 millis" })))
        assert.strictEqual((yield* gauge).value, 4096)
      })
    ))
})

describe("Memory.snapshot on the embedded scheduler", () => {
  const Embedded = EmbeddedScheduler.layer({ workers: 2 })
  it.effect("matches the scheduler's own snapshot", () =>
    Effect.gen(function*() {
      const client = yield* Client.make({ trackCallSites: true })
      yield* Client.withClient(client)(Effect.gen(function*() {
        const xs = yield* Client.map(inc, [1, 2, 3, 4, 5, 6])
        const [big] = yield* Client.scatter([new Float64Array(1000)])
        const total = yield* Client.submit(add, xs[0]!, xs[1]!)
        yield* Client.wait([...xs, big!, total])
        yield* Future.release(xs[5]!)

        const mine = yield* Memory.snapshot()
        const theirs = yield* Effect.flatMap(EmbeddedScheduler.EmbeddedScheduler, (e) => e.snapshot)
        const wanted = new Set(theirs.clients.get(client.id) ?? [])
        assert.deepStrictEqual(new Set(mine.keys.map((k) => k.key)), wanted)
        for (const k of mine.keys) {
          const ts = theirs.tasks.get(k.key)!
          assert.deepStrictEqual([...k.workers].sort(), [...ts.workers].sort(), k.key)
          assert.strictEqual(k.nbytes, ts.nbytes, k.key)
          assert.strictEqual(k.status, "finished")
        }
        assert.isAbove(mine.keys.find((k) => k.key === big!.key)!.nbytes!, 8000)
        assert.strictEqual(mine.workers.length, 2)
        for (const w of mine.workers) {
          const ws = theirs.workers.find((x) => x.address === w.address)!
          assert.strictEqual(w.bytes, ws.bytes)
          assert.strictEqual(w.keys, ws.keys.length)
          const own = ws.keys.filter((key) => wanted.has(key))
          assert.strictEqual(w.clientKeys, own.length)
          assert.strictEqual(w.clientBytes, own.reduce((n, key) => n + theirs.tasks.get(key)!.nbytes, 0))
        }
        assert.strictEqual(mine.totals.handles, 7)
      }))
    }).pipe(Effect.scoped, Effect.provide(Layer.fresh(Embedded))))
})

