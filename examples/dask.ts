/**
 * A small pipeline on a real Dask cluster:
 *
 *   dask-scheduler --host 127.0.0.1 --port 8786 --dashboard-address 127.0.0.1:0 &
 *   dask-worker tcp://127.0.0.1:8786 --host 127.0.0.1 --no-nanny --dashboard-address 127.0.0.1:0 &
 *   DASK_SCHEDULER_ADDRESS=tcp://127.0.0.1:8786 npx tsx examples/dask.ts
 *
 * The tasks carry both a JS implementation and the Python callable that does
 * the same, so without DASK_SCHEDULER_ADDRESS the very same program runs on the
 * embedded scheduler.
 */
import { Config, Console, Effect, Layer, Option } from "effect"
import { NodeRuntime } from "@effect/platform-node"
import { Client, DaskScheduler, EmbeddedScheduler, Future, Task } from "../src/index.js"

const mul = Task.make("mul", (a: number, b: number) => a * b, { python: "operator.mul" })
const total = Task.make("total", (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0), { python: "builtins.sum" })
const divide = Task.make("divide", (a: number, b: number) => {
  if (b === 0) throw new RangeError("division by zero")
  return a / b
}, { python: "operator.truediv" })

const held = Effect.map(Client.hasWhat, (byWorker) => Object.values(byWorker).reduce((n, keys) => n + keys.length, 0))

const program = Effect.gen(function*() {
  const client = yield* Client.current
  yield* Console.log(`client ${client.id} on ${client.address}`)
  const result = yield* Effect.scoped(Effect.gen(function*() {
    const xs = yield* Client.scatter(Array.from({ length: 20 }, (_, i) => i + 1))
    const squares = yield* Client.map(mul, xs, xs)
    const sum = yield* Client.submit(total, squares) // a list of futures: each one is a dependency
    const value = yield* Future.result(sum)
    yield* Console.log(`sum of squares 1..20 = ${value}; keys held on workers: ${yield* held}`)

    const bad = yield* Client.submit(divide, 1, 0)
    const error = yield* Effect.flip(Future.result(bad))
    yield* Console.log(`a failing task is a typed error: ${error._tag} ${"type" in error ? error.type : ""}: ${error.message}`)
    return value
  }))
  // The scope closed: every key was released; the scheduler forgets them and the workers free them.
  for (let i = 0; i < 50 && (yield* held) > 0; i++) yield* Effect.sleep("100 millis")
  yield* Console.log(`after the scope closed, keys held on workers: ${yield* held}`)
  return result
})

const scheduler = Layer.unwrapEffect(
  Effect.map(Config.option(Config.string(DaskScheduler.ADDRESS_ENV)), (address) =>
    Option.isSome(address)
      ? DaskScheduler.layer({ address: address.value })
      : EmbeddedScheduler.layer())
)

program.pipe(
  Effect.provide(Client.layer()),
  Effect.provide(scheduler),
  NodeRuntime.runMain
)
