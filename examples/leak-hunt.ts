/**
 * Leak hunting: a program that leaks worker memory on purpose, and the
 * reports that point at the leaking lines.
 *
 *   npx tsx examples/leak-hunt.ts
 *
 * Two classic leaks:
 * 1. a detached handle stored in a module-level cache and never released;
 * 2. a handle retained into a long-lived scope (here: one that outlives the
 *    client) instead of the request's own scope.
 * With `trackCallSites: true` the client records where every handle was
 * acquired; `Memory.snapshot` shows who holds what, `Memory.leakReport` lists
 * the leaks now, and `Memory.warnOnLeaks` logs them again when the client
 * closes. Add `--dashboard` to watch it at http://127.0.0.1:8787/.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { Client, Dashboard, EmbeddedScheduler, Future, Memory, Task } from "../src/index.js"

const load = Task.make("load", (i: number) => new Float64Array(25_000 * (i + 1)))
const total = Task.make("total", (xs: Float64Array) => xs.length)

/** Leak 1: a module-level cache of detached handles nobody releases. */
const cache: Array<Future.Future<Float64Array>> = []

const handleRequest = Effect.fn("handleRequest")(function*(i: number, sessionScope: Scope.Scope) {
  const block = yield* Client.submit(load, i)
  const n = yield* Client.submit(total, block)
  if (i % 2 === 0) cache.push(yield* Future.detach(block)) // leak 1: cached, never released
  if (i === 3) yield* Future.retain(block).pipe(Scope.extend(sessionScope)) // leak 2: outlives the request
  return yield* Future.result(n)
})

const program = Effect.gen(function*() {
  yield* Memory.warnOnLeaks()
  const sessionScope = yield* Scope.make()

  // Each request runs in its own scope: its futures are released when it ends, unless leaked.
  const sizes = yield* Effect.forEach([0, 1, 2, 3, 4, 5], (i) => Effect.scoped(handleRequest(i, sessionScope))).pipe(
    Dashboard.terminal({ label: "requests", interval: "200 millis", maxKeys: 0 })
  )
  console.log(`\nprocessed ${sizes.length} requests; every request scope is closed, yet worker memory is still held:\n`)
  console.log(Memory.format(yield* Memory.snapshot()))

  console.log("\nWho holds it? The leak report, now:\n")
  console.log(Memory.format(yield* Memory.leakReport({ includeScoped: true })))

  if (process.argv.includes("--dashboard")) {
    const dash = yield* Dashboard.Dashboard
    console.log(`\ndashboard at ${dash.url} (30 s)`)
    yield* Effect.sleep("30 seconds")
  }
  console.log("\nClosing the client: the report is logged again, as a warning:\n")
  // The session scope is closed only after the client: its handle shows as a leak at close.
  return sessionScope
})

const main = Effect.gen(function*() {
  const sessionScope = yield* program.pipe(
    Effect.provide(Client.layer({ trackCallSites: true })),
    Effect.provide(
      process.argv.includes("--dashboard") ? Dashboard.layer({ port: 8787 }) : Layer.succeed(Dashboard.Dashboard, {
        url: "",
        host: "",
        port: 0,
        refresh: Effect.void
      })
    ),
    Effect.provide(EmbeddedScheduler.layer({ workers: 2 }))
  )
  yield* Scope.close(sessionScope, Exit.void)
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exit(1)
})
