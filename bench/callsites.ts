/**
 * Cost of call-site tracking (`Client.make({ trackCallSites: true })`) on the
 * handle hot paths, on and off side by side in one run, against a scheduler
 * that drops every message (so the client alone is measured). Also: the cost
 * a span on `Future.release` would add, and the cost of reading call sites
 * back (`Memory.snapshot` / `Memory.leakReport` over many live handles).
 *
 *   npx tsx bench/callsites.ts [--n 20000] [--rounds 5]
 */
import { Effect } from "effect"
import { pathToFileURL } from "node:url"
import { Client, Future, Memory, Task } from "../src/index.js"
import { NullScheduler } from "./nullScheduler.js"
import { record } from "./record.js"


const inc = Task.make("inc", (x: number) => x + 1, { pure: false })

export interface Options {
  readonly n?: number | undefined
  readonly rounds?: number | undefined
  readonly print?: boolean | undefined
}

export interface Row {
  readonly operation: string
  readonly off_ns: number
  readonly on_ns: number
  readonly ratio: number
}

const median = (xs: ReadonlyArray<number>) => {
  const s = xs.slice().sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** ns per iteration of `op` run `n` times in one fiber. */
const time = <E>(n: number, op: (i: number) => Effect.Effect<unknown, E>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) yield* op(i)
    return ((performance.now() - t0) * 1e6) / n
  })

type Op = (f: Future.Future<unknown>) => (i: number) => Effect.Effect<unknown, unknown>

const ops: ReadonlyArray<readonly [string, Op]> = [
  ["Future.retain + scope close", (f) => () => Effect.scoped(Future.retain(f))],
  ["Future.detach + Future.release", (f) => () => Effect.flatMap(Future.detach(f), Future.release)],
  ["Client.submit + scope close", () => (i) => Effect.scoped(Client.submit(inc, i))],
  ["100 × retain in one scope, then close (per handle)", (f) => () =>
    Effect.scoped(Effect.gen(function*() {
      for (let j = 0; j < 100; j++) yield* Future.retain(f)
    }))]
]

/** Runs the comparison; prints a table unless `print: false`. */
export const run = async (options: Options = {}) => {
  const n = options.n ?? 20_000
  const rounds = options.rounds ?? 5
  const results = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const off = yield* Client.make({ id: "bench-off" })
    const on = yield* Client.make({ id: "bench-on", trackCallSites: true })
    const fOff = yield* Client.withClient(Future.fromKey("base"), off)
    const fOn = yield* Client.withClient(Future.fromKey("base"), on)
    const samples = new Map<string, { off: Array<number>; on: Array<number> }>()
    for (let r = 0; r <= rounds; r++) {
      for (const [name, op] of ops) {
        const count = name.startsWith("100") ? Math.max(1, Math.floor(n / 100)) : n
        const per = name.startsWith("100") ? 100 : 1
        // Alternate which mode goes first, so neither always runs on a warmer heap.
        const order = r % 2 === 0 ? ["off", "on"] as const : ["on", "off"] as const
        for (const mode of order) {
          const client = mode === "off" ? off : on
          const f = mode === "off" ? fOff : fOn
          const ns = (yield* Client.withClient(time(count, op(f)), client)) / per
          if (r === 0) continue // warm-up round
          let s = samples.get(name)
          if (s === undefined) samples.set(name, s = { off: [], on: [] })
          s[mode].push(ns)
        }
      }
    }
    const rows: Array<Row> = Array.from(samples, ([operation, s]) => {
      const o = median(s.off)
      const t = median(s.on)
      return { operation, off_ns: o, on_ns: t, ratio: t / o }
    })

    // A span on Future.release (tracking off): the release alone, with and without a span around it.
    const spanSamples = { plain: [] as Array<number>, span: [] as Array<number> }
    const releaseOnly = (withSpan: boolean) =>
      Effect.gen(function*() {
        const hs: Array<Future.Future<unknown>> = []
        for (let i = 0; i < n; i++) hs.push(yield* Future.detach(fOff))
        const t0 = performance.now()
        for (const h of hs) yield* (withSpan ? Effect.withSpan(Future.release(h), "effect-dask.release") : Future.release(h))
        return ((performance.now() - t0) * 1e6) / n
      })
    for (let r = 0; r <= rounds; r++) {
      const a = yield* Client.withClient(releaseOnly(false), off)
      const b = yield* Client.withClient(releaseOnly(true), off)
      if (r > 0) {
        spanSamples.plain.push(a)
        spanSamples.span.push(b)
      }
    }
    const span = { plain_ns: median(spanSamples.plain), span_ns: median(spanSamples.span) }

    // Reading call sites back: snapshot and leak report over many live handles.
    const live = Math.min(n, 10_000)
    const readBack = yield* Client.withClient(on)(Effect.scoped(Effect.gen(function*() {
      for (let i = 0; i < live; i++) yield* Future.retain(fOn)
      const t0 = performance.now()
      const snap = yield* Memory.snapshot()
      const t1 = performance.now()
      const report = yield* Memory.leakReport({ includeScoped: true })
      const t2 = performance.now()
      yield* Memory.snapshot()
      const t3 = performance.now()
      const located = snap.keys.flatMap((k) => k.handles).filter((h) => h.location !== undefined).length
      return { handles: live, snapshot_ms: t1 - t0, leak_report_ms: t2 - t1, snapshot_again_ms: t3 - t2, located, reported: report.handles.length }
    })))
    return { rows, span, readBack }
  })).pipe(Effect.provide(NullScheduler)))

  const out = { date: new Date().toISOString(), node: process.version, n, rounds, ...results }
  if (options.print !== false) {
    const fmt = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 0 })
    const table: Array<ReadonlyArray<string>> = [["operation (ns/op, median)", "tracking off", "tracking on", "ratio on/off"]]
    for (const r of out.rows) table.push([r.operation, fmt(r.off_ns), fmt(r.on_ns), r.ratio.toFixed(2)])
    table.push([
      "Future.release alone (tracking off): no span vs span",
      fmt(out.span.plain_ns),
      fmt(out.span.span_ns),
      (out.span.span_ns / out.span.plain_ns).toFixed(2)
    ])
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
    console.log(`call-site tracking, n=${n}, ${rounds} rounds, node ${process.version}`)
    for (const [i, row] of table.entries()) {
      console.log(row.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  "))
      if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "))
    }
    const rb = out.readBack
    console.log(
      `\nreading back ${rb.handles} live handles: Memory.snapshot ${rb.snapshot_ms.toFixed(1)} ms ` +
        `(${rb.located} with a user frame; stacks formatted once), Memory.leakReport ${rb.leak_report_ms.toFixed(1)} ms, ` +
        `Memory.snapshot again ${rb.snapshot_again_ms.toFixed(1)} ms`
    )
  }
  return out
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name)
    return i < 0 ? undefined : Number(process.argv[i + 1])
  }
  record("callsites", await run({ n: arg("--n"), rounds: arg("--rounds") }))
}
