/**
 * Fan-in: one task on N distinct futures (all finished), the submit call
 * alone timed, best of a few runs per N: µs per dependency, and that cost
 * against the cost at 1k (linear work keeps the ratio near 1; a walk over
 * the dependencies per dependency makes it grow with N). Through the client,
 * on the embedded scheduler and on the test scheduler (client and protocol
 * only).
 *
 *   npx tsx bench/fanin.ts
 */
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { Client, EmbeddedScheduler, Future, Task, TestScheduler } from "../src/index.js"
import type { Scheduler } from "../src/Scheduler.js"

const inc = Task.make("inc", (x: number) => x + 1, { python: "test_utils.inc" })
const sum = Task.make("sum", (...xs: Array<number>) => xs.reduce((a, b) => a + b, 0), { python: "builtins.sum" })
const SIZES = [1_000, 5_000, 20_000, 50_000]

const fanIn = (n: number, wait: boolean) =>
  Effect.gen(function*() {
    const parts = yield* Client.map(inc, Array.from({ length: n }, (_, i) => i))
    if (wait) yield* Client.wait(parts)
    const t0 = performance.now()
    const total = yield* Client.submit(sum, ...parts)
    const t = performance.now() - t0
    if (wait && (yield* Future.result(total)) !== (n * (n + 1)) / 2) throw new Error("wrong sum")
    return t
  }).pipe(Effect.scoped)

const perDep = (wait: boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 3; i++) yield* fanIn(1_000, wait) // warm up
    const out: Array<number> = []
    for (const n of SIZES) {
      let best = Infinity
      for (let r = 0; r < 5; r++) best = Math.min(best, yield* fanIn(n, wait))
      out.push((best * 1000) / n)
    }
    return out
  })

const rows: Array<[string, Array<number>]> = []
for (const [name, layer, wait] of [
  ["embedded", EmbeddedScheduler.layer(), true],
  ["test scheduler", TestScheduler.layer(), false]
] as ReadonlyArray<readonly [string, Layer.Layer<Scheduler>, boolean]>) {
  rows.push([name, await Effect.runPromise(perDep(wait).pipe(Effect.provide(Client.layer()), Effect.provide(layer)))])
}
console.log(`\nFan-in: µs per dependency of one submit (best of 5), and / the cost at 1k`)
console.log(`| backend | ${SIZES.map((n) => `${n / 1000}k deps`).join(" | ")} | 20k / 1k | aim |`)
console.log(`|---|${SIZES.map(() => "---:").join("|")}|---:|---|`)
for (const [name, us] of rows) {
  console.log(`| ${name} | ${us.map((u) => u.toFixed(2)).join(" | ")} | ${(us[2]! / us[0]!).toFixed(2)}× | ≤ 3× |`)
}
