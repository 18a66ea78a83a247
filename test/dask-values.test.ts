/**
 * Values from real Dask clusters (2022.12.1 and 2024.12.1) gather as plain JS
 * values or typed errors, never as descriptors; an argument equal to a
 * dependency's key stays a string on every backend; datasets cross between a
 * TS and a Python client both ways.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, it } from "vitest"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import * as EmbeddedScheduler from "../src/EmbeddedScheduler.js"
import { DecodeError } from "../src/Errors.js"
import * as Future from "../src/Future.js"
import type { Scheduler } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import { type Cluster, root2024, startCluster } from "./dask/cluster.js"
import { describeDask } from "./dask/suite.js"

const concat = Task.make("concat", (a: string, b: string) => a + b, { python: "operator.add" })
const numpySum = Task.python<[ReadonlyArray<number>], number>("numpy.sum")
const datetime = Task.python<[number, number, number, number, number, number, number], Date>("datetime.datetime")
const date = Task.python<[number, number, number], Date>("datetime.date")
const timedelta = Task.python<[number, number, number], number>("datetime.timedelta")
const decimal = Task.python<[string], string>("decimal.Decimal")
const complex = Task.python<[number, number], { re: number; im: number }>("builtins.complex")
const fraction = Task.python<[number, number], unknown>("fractions.Fraction")

const run = <A, E>(
  layer: ReturnType<typeof DaskScheduler.layer>,
  effect: Effect.Effect<A, E, Scope.Scope | Scheduler>
): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const client = yield* Client.make()
      return yield* Client.withClient(effect, client)
    }).pipe(Effect.scoped, Effect.provide(layer)) as Effect.Effect<A, E>
  )

/** `add(f, f.key)`: the second argument is a string that equals the dependency's key. */
const keyCollision = Effect.gen(function*() {
  const f = yield* Client.submit(concat, "ab", "c")
  const g = yield* Client.submit(concat, f, f.key)
  return { key: f.key, value: yield* Future.result(g) }
})

it("embedded: add(f, f.key) is the value followed by the key", async () => {
  const { key, value } = await run(EmbeddedScheduler.layer() as never, keyCollision)
  assert.strictEqual(value, "abc" + key)
})

const hasNumpy = (version: "2022.12" | "2024.12"): boolean =>
  fs.existsSync(
    version === "2022.12"
      ? "/usr/lib/python3/dist-packages/numpy"
      : path.join(root2024(), "usr/lib/python3/dist-packages/numpy")
  )

describeDask("Dask %s values", (version) => {
  let cluster: Cluster
  let layer: ReturnType<typeof DaskScheduler.layer>
  beforeAll(async () => {
    cluster = await startCluster(version, { workers: 1, nthreads: 2 })
    layer = DaskScheduler.layer({ address: cluster.address })
  }, 60_000)
  afterAll(() => cluster?.stop(), 20_000)

  it("add(f, f.key) gives the value followed by the key, as on the embedded scheduler", async () => {
    const { key, value } = await run(layer, keyCollision)
    assert.strictEqual(value, "abc" + key)
  })

  it.skipIf(!hasNumpy(version))("numpy.sum of a list gathers as a JS number (numpy installed)", async () => {
    const value = await run(layer, Effect.flatMap(Client.submit(numpySum, [1, 2, 3, 4]), Future.result))
    assert.strictEqual(value, 10)
    assert.strictEqual(typeof value, "number")
  })

  it("datetime, date, timedelta, Decimal and complex gather as documented; Fraction is a DecodeError naming it", async () => {
    const out = await run(
      layer,
      Effect.gen(function*() {
        const [dt, d, td, dec, c] = yield* Effect.all([
          Client.submit(datetime, 2024, 2, 29, 13, 14, 15, 678_901),
          Client.submit(date, 1999, 12, 31),
          Client.submit(timedelta, 1, 2, 3_500),
          Client.submit(decimal, "1234.5678901234567890"),
          Client.submit(complex, 1.5, -2)
        ])
        const values = yield* Client.gather([dt!, d!, td!, dec!, c!] as Array<Future.Future<unknown>>)
        const f = yield* Client.submit(fraction, 1, 3)
        const bad = yield* Effect.exit(Future.result(f))
        return { values, bad }
      })
    )
    const [dt, d, td, dec, c] = out.values as [Date, Date, number, string, { re: number; im: number }]
    assert.instanceOf(dt, Date)
    assert.strictEqual(dt.toISOString(), "2024-02-29T13:14:15.678Z") // naive: UTC; µs truncated to ms
    assert.instanceOf(d, Date)
    assert.strictEqual(d.toISOString(), "1999-12-31T00:00:00.000Z")
    assert.strictEqual(td, 86_400_000 + 2_000 + 3.5)
    assert.strictEqual(dec, "1234.5678901234567890")
    assert.deepStrictEqual(c, { re: 1.5, im: -2 })
    assert.isTrue(Exit.isFailure(out.bad))
    const error = Exit.isFailure(out.bad) && out.bad.cause._tag === "Fail" ? out.bad.cause.error : undefined
    assert.instanceOf(error, DecodeError)
    assert.include((error as DecodeError).message, "fractions.Fraction")
  })

  it("a Python client reads a TS-published dataset of futures as Futures", async () => {
    const name = `ts-futures-${version}`
    await run(
      layer,
      Effect.gen(function*() {
        const fs = yield* Client.map(concat, ["x", "y"], ["1", "2"])
        yield* Client.publishDataset(name, fs)
        const seen = yield* Effect.promise(() =>
          cluster.py<{ types: Array<string>; keys: Array<string>; values: Array<string> }>(`
ds = client.get_dataset(${JSON.stringify(name)})
result = {"types": [type(f).__name__ for f in ds], "keys": [f.key for f in ds], "values": client.gather(ds)}
`)
        )
        assert.deepStrictEqual(seen.types, ["Future", "Future"])
        assert.deepStrictEqual(seen.keys, fs.map((f) => f.key))
        assert.deepStrictEqual(seen.values, ["x1", "y2"])
        // our own client reads it back as futures too
        const back = yield* Client.getDataset(name)
        assert.deepStrictEqual(Option.getOrThrow(back).map((f) => f.key), fs.map((f) => f.key))
        yield* Client.unpublishDataset(name)
      })
    )
  })

  it("a TS client reads a Python-published dataset of plain data", async () => {
    const name = `py-plain-${version}`
    await cluster.py(`
client.publish_dataset(**{${JSON.stringify(name)}: {"a": 1, "b": [1, 2.5, "three"]}})
result = True
`)
    const value = await run(
      layer,
      Effect.gen(function*() {
        const v = yield* Client.getDatasetValue(name)
        yield* Client.unpublishDataset(name)
        return v
      })
    )
    assert.deepStrictEqual(Option.getOrThrow(value), { a: 1, b: [1, 2.5, "three"] })
  })
})
