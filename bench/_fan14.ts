import { Effect } from "effect"
import { Client, EmbeddedScheduler, Future, Task, TestScheduler } from "../src/index.js"
const inc = Task.make("inc", (x: number) => x + 1, { python: "test_utils.inc" })
const sum = Task.make("sum", (...xs: Array<number>) => xs.reduce((a, b) => a + b, 0), { python: "builtins.sum" })
const fanIn = (n: number, wait: boolean) => Effect.gen(function*() {
  const parts = yield* Client.map(inc, Array.from({ length: n }, (_, i) => i))
  if (wait) yield* Client.wait(parts)
  const t0 = performance.now()
  const total = yield* Client.submit(sum, ...parts)
  const t = performance.now() - t0
  if (wait) yield* Future.result(total)
  return t
}).pipe(Effect.scoped)
const prog = (wait: boolean) => Effect.gen(function*() {
  for (const n of [1000, 1000, 1000, 5000, 20000, 50000]) {
    let best = Infinity
    for (let r = 0; r < 3; r++) best = Math.min(best, yield* fanIn(n, wait))
    console.log(n, (best * 1000 / n).toFixed(2), "µs/dep")
  }
})
console.log("embedded")
await Effect.runPromise(prog(true).pipe(Effect.provide(Client.layer()), Effect.provide(EmbeddedScheduler.layer())))
console.log("test scheduler")
await Effect.runPromise(prog(false).pipe(Effect.provide(Client.layer()), Effect.provide(TestScheduler.layer())))
