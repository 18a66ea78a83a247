/**
 * The main job (`npm start`): a small pipeline on the embedded scheduler.
 *
 * 64 chunks of samples are scattered to two workers, summarised in parallel
 * (count, mean, variance per chunk), and the summaries are merged along a
 * binary tree. Each level of the tree lives in its own scope, so its
 * intermediate results are released as soon as the next level has been
 * submitted; the scheduler keeps them exactly as long as a dependent still
 * needs them. A memory table shows bytes held per worker at the peak and
 * after every scope has closed.
 */
import { Console, Effect } from "effect"
import { NodeRuntime } from "@effect/platform-node"
import { Client, EmbeddedScheduler, Future, Task } from "../src/index.js"

interface Summary {
  readonly n: number
  readonly mean: number
  readonly m2: number
}

/** Welford summary of one chunk. */
const summarise = Task.make("summarise", (xs: Float64Array): Summary => {
  let n = 0
  let mean = 0
  let m2 = 0
  for (const x of xs) {
    n++
    const d = x - mean
    mean += d / n
    m2 += d * (x - mean)
  }
  return { n, mean, m2 }
})

/** Chan et al.'s parallel merge of two summaries. */
const merge = Task.make("merge", (a: Summary, b: Summary): Summary => {
  const n = a.n + b.n
  const d = b.mean - a.mean
  return { n, mean: a.mean + (d * b.n) / n, m2: a.m2 + b.m2 + (d * d * a.n * b.n) / n }
})

/** A deterministic chunk of samples (xorshift), so every run prints the same statistics. */
const chunk = (seed: number, size: number): Float64Array => {
  const out = new Float64Array(size)
  let s = seed * 2654435761 >>> 0 || 1
  for (let i = 0; i < size; i++) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    out[i] = ((s >>> 0) / 4294967296) * 10
  }
  return out
}

const memoryTable = (title: string) =>
  Effect.gen(function*() {
    const workers = yield* Client.workers
    yield* Console.log(`\n${title}`)
    yield* Console.log("| worker | keys | bytes |")
    yield* Console.log("|---|---:|---:|")
    for (const w of workers) yield* Console.log(`| ${w.address} | ${w.keys} | ${w.bytes.toLocaleString("en")} |`)
    return workers.reduce((sum, w) => sum + w.bytes, 0)
  })

/** Merges one level of the tree inside its own scope; the level's inputs are released when it closes. */
const reduceLevel = (level: ReadonlyArray<Future.Future<Summary>>, depth: number): Effect.Effect<Future.Future<Summary>, unknown> =>
  level.length === 1
    ? Future.detach(level[0]!) // hand the root out of the scope; released below
    : Effect.scoped(Effect.gen(function*() {
      const next: Array<Future.Future<Summary>> = []
      for (let i = 0; i < level.length; i += 2) {
        next.push(i + 1 < level.length ? yield* Client.submit(merge, level[i]!, level[i + 1]!) : yield* Future.retain(level[i]!))
      }
      yield* Console.log(`level ${depth}: ${level.length} → ${next.length} futures`)
      return yield* reduceLevel(next, depth + 1)
    }))

const program = Effect.gen(function*() {
  const started = performance.now()
  const root = yield* Effect.scoped(Effect.gen(function*() {
    const inputs = yield* Client.scatter(Array.from({ length: 64 }, (_, i) => chunk(i + 1, 20_000)))
    yield* Console.log(`scattered ${inputs.length} chunks of 20,000 samples`)
    const summaries = yield* Client.map(summarise, inputs)
    yield* Client.wait(summaries)
    yield* Console.log(`summarised ${summaries.length} chunks`)
    yield* memoryTable("Memory at the peak (inputs and summaries held)")
    return yield* reduceLevel(summaries, 1)
  }))
  const total = yield* Future.result(root)
  yield* Future.release(root)
  const sd = Math.sqrt(total.m2 / (total.n - 1))
  yield* Console.log(`\nresult: n=${total.n} mean=${total.mean.toFixed(4)} sd=${sd.toFixed(4)}`)
  const left = yield* memoryTable("Memory after every scope closed")
  yield* Console.log(`\n${left === 0 ? "all remote memory released" : `LEAK: ${left} bytes still held`} in ${(performance.now() - started).toFixed(0)} ms`)
  if (left !== 0) return yield* Effect.fail(new Error("remote memory was not released"))
})

program.pipe(
  Effect.provide(Client.layer()),
  Effect.provide(EmbeddedScheduler.layer({ workers: 2, slots: 4 })),
  Effect.scoped,
  NodeRuntime.runMain
)
