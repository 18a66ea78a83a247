/**
 * Future handle acquire+release throughput, beside its references: a plain
 * Map refcount, bare `Effect.scoped(acquireRelease)`, `RcMap.get`, and Dask's
 * Python client creating and dropping informed `Future(key)` handles. Heap
 * growth after 1M handles. Run: `node --expose-gc --import tsx bench/handles.ts`.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { Effect, Exit, RcMap, Scope } from "effect"
import { Client, Future } from "../src/index.js"
import { NullScheduler } from "./nullScheduler.js"
import { record } from "./record.js"


const now = () => performance.now()
const gc = () => (globalThis as any).gc?.()
const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const rate = (n: number, ms: number) => (n / ms) * 1000

/** acquire+release of handles inside one `Effect.scoped` block, one fiber. */
const futureHandles = (n: number, distinct: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    // Same-key runs hold one extra handle so the count never drops to 0 (no desire/release messages).
    if (!distinct) yield* Future.fromKey("same")
    const t0 = now()
    for (let i = 0; i < n; i++) {
      const f = yield* Future.fromKey(distinct ? `k-${i}` : "same")
      yield* Future.release(f)
    }
    return now() - t0
  }))

/** The same, each handle in its own `Effect.scoped` (scope closes release it). */
const futureScoped = (n: number) =>
  Effect.gen(function*() {
    const t0 = now()
    for (let i = 0; i < n; i++) {
      yield* Effect.scoped(Future.fromKey(`s-${i}`))
    }
    return now() - t0
  })

const acquireRelease = (n: number) =>
  Effect.gen(function*() {
    const counts = new Map<string, number>()
    const t0 = now()
    for (let i = 0; i < n; i++) {
      yield* Effect.scoped(Effect.acquireRelease(
        Effect.sync(() => counts.set(`k-${i}`, 1)),
        () => Effect.sync(() => counts.delete(`k-${i}`))
      ))
    }
    return now() - t0
  })

const rcMap = (n: number) =>
  Effect.gen(function*() {
    const map = yield* RcMap.make({ lookup: (key: string) => Effect.succeed(key) })
    const t0 = now()
    for (let i = 0; i < n; i++) {
      yield* Effect.scoped(RcMap.get(map, `k-${i}`))
    }
    return now() - t0
  }).pipe(Effect.scoped)

const plainMap = (n: number) => {
  const counts = new Map<string, number>()
  const t0 = now()
  for (let i = 0; i < n; i++) {
    const k = `k-${i}`
    counts.set(k, (counts.get(k) ?? 0) + 1)
    const c = counts.get(k)! - 1
    if (c === 0) counts.delete(k)
    else counts.set(k, c)
  }
  return now() - t0
}

const PYTHON = "/usr/bin/python3"
/** Dask's Python client: create and drop informed Future(key) handles on an in-process scheduler. */
const daskFutures = (n: number): number | undefined => {
  if (!existsSync(PYTHON)) return undefined
  const code = `
import time, gc, json
from distributed import Client, Future
c = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None)
n = ${n}
t0 = time.perf_counter()
for i in range(n):
    f = Future("k-%d" % i, c)
    del f
ms = (time.perf_counter() - t0) * 1000
c.close()
print(json.dumps({"ms": ms}))
`
  try {
    const out = execFileSync(PYTHON, ["-c", code], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 120_000 })
    return JSON.parse(out.trim().split("\n").pop()!).ms
  } catch {
    return undefined
  }
}

export const run = Effect.gen(function*() {
  const N = 1_000_000
  const K = 100_000
  yield* futureHandles(20_000, true) // warm-up
  yield* futureHandles(20_000, false)
  const same = yield* futureHandles(N, false)
  const distinct = yield* futureHandles(K, true)
  const scoped = yield* futureScoped(K)
  const ar = yield* acquireRelease(K)
  const rc = yield* rcMap(20_000)
  const map = plainMap(K)

  // One long-lived scope, as a server would hold: releases must not accumulate anything in it.
  const before = heap()
  const scope = yield* Scope.make()
  for (let i = 0; i < N; i++) {
    const f = yield* Future.fromKey(`h-${i % 1000}`).pipe(Scope.extend(scope))
    yield* Future.release(f)
  }
  const after = heap()
  yield* Scope.close(scope, Exit.void)

  const dask = daskFutures(20_000)
  const rows: ReadonlyArray<readonly [string, number]> = [
    ["Future acquire+release, same key (1M)", rate(N, same)],
    ["Future acquire+release, distinct keys (100k)", rate(K, distinct)],
    ["Future in its own Effect.scoped, distinct keys (100k)", rate(K, scoped)],
    ["bare Effect.scoped(acquireRelease) (100k)", rate(K, ar)],
    ["RcMap.get in Effect.scoped (20k)", rate(20_000, rc)],
    ["plain Map refcount (100k)", rate(K, map)],
    ...(dask === undefined ? [] : [["Dask Python Future(key) create+drop (20k)", rate(20_000, dask)] as const])
  ]
  console.log("\nFuture handles (ops/s, one fiber)")
  console.log("| case | ops/s | ratio vs Future distinct |")
  console.log("|---|---:|---:|")
  for (const [name, r] of rows) console.log(`| ${name} | ${Math.round(r).toLocaleString("en")} | ${(r / rate(K, distinct)).toFixed(2)} |`)
  console.log(`\nheap growth after 1M handles: ${((after - before) / 1024).toFixed(0)} KiB (${before} → ${after} bytes)`)
  return {
    sameKeyPerSec: rate(N, same),
    distinctKeysPerSec: rate(K, distinct),
    ownScopePerSec: rate(K, scoped),
    acquireReleasePerSec: rate(K, ar),
    rcMapPerSec: rate(20_000, rc),
    plainMapPerSec: rate(K, map),
    daskPythonFuturesPerSec: dask === undefined ? null : rate(20_000, dask),
    ratioDistinctVsDask: dask === undefined ? null : rate(K, distinct) / rate(20_000, dask),
    heapGrowthBytesAfter1M: after - before
  }
}).pipe(
  Effect.provide(Client.layer()),
  Effect.provide(NullScheduler)
)

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(run).then((results) => {
    record("handles", results)
    process.exit(0)
  })
}
