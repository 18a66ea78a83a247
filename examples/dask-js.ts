/**
 * A TypeScript map-reduce on a real Dask cluster: the tasks are TypeScript
 * functions (examples/dask-js-tasks.ts), run by two Node workers; a Python
 * worker of the same cluster takes one Python step on a JS result.
 *
 *   dask-scheduler --host 127.0.0.1 --port 8786 --dashboard-address 127.0.0.1:0 &
 *   dask-worker tcp://127.0.0.1:8786 --host 127.0.0.1 --nthreads 1 --no-nanny --dashboard-address 127.0.0.1:0 &
 *   npx tsx src/cli.ts worker tcp://127.0.0.1:8786 --tasks examples/dask-js-tasks.ts &
 *   npx tsx src/cli.ts worker tcp://127.0.0.1:8786 --tasks examples/dask-js-tasks.ts &
 *   DASK_SCHEDULER_ADDRESS=tcp://127.0.0.1:8786 npx tsx examples/dask-js.ts
 *
 * (From an installed package, `npx effect-dask worker …`.) The Python worker
 * needs no flag: the client restricts its Python steps to the workers without
 * the `js` resource, and JS tasks to the Node workers.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect } from "effect"
import { Client, DaskScheduler, Future, Task } from "../src/index.js"
import { countWords, half, mergeCounts, top } from "./dask-js-tasks.js"

const TEXT = `It was the best of times, it was the worst of times, it was the age of wisdom,
it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity,
it was the season of Light, it was the season of Darkness, it was the spring of hope,
it was the winter of despair, we had everything before us, we had nothing before us`

/** A Python callable, run by the Python worker: the number of distinct words. */
const distinct = Task.python<[Record<string, number>], number>("builtins.len")

const program = Effect.gen(function*() {
  const lines = TEXT.split("\n")
  const counts = yield* Client.map(countWords, lines) // map: one JS task per line, on the Node workers
  const merged = yield* Client.submit(mergeCounts, counts) // reduce: a JS task with every count as a dependency
  const best = yield* Client.submit(top, merged, 3)
  const words = yield* Client.submit(distinct, merged) // a Python step on a JS result (a dict in Python)
  const halved = yield* Client.submit(half, words) // and back to JS

  const [ranking, n, h] = yield* Client.gather<unknown, never>([best, words, halved] as Array<Future.Future<unknown>>)
  yield* Console.log("top words:", JSON.stringify(ranking))
  yield* Console.log(`distinct words (Python's len of the JS dict): ${n}; halved in JS: ${h}`)
  const whoHas = yield* Client.whoHas([merged, words])
  yield* Console.log(`merged counts held by ${whoHas[merged.key]}; the Python result by ${whoHas[words.key]}`)
})

const main = Effect.gen(function*() {
  const address = yield* Config.string(DaskScheduler.ADDRESS_ENV).pipe(Config.withDefault("tcp://127.0.0.1:8786"))
  yield* program.pipe(
    Effect.provide(Client.layer()),
    Effect.scoped,
    Effect.provide(DaskScheduler.layer({ address }))
  )
})

NodeRuntime.runMain(main)
