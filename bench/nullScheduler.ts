/**
 * A scheduler that accepts and drops everything: benchmarks that use it
 * measure the client alone.
 */
import { Effect, Layer, Option } from "effect"
import { Scheduler } from "../src/Scheduler.js"

export const NullScheduler = Layer.succeed(
  Scheduler,
  Scheduler.of({
    address: "null://",
    connect: (clientId) =>
      Effect.succeed({
        clientId,
        send: () => undefined,
        retract: () => false,
        barrier: (done: () => void) => done(),
        keyStatus: (keys: ReadonlyArray<string>) => Effect.succeed(new Map(keys.map((k) => [k, "missing" as const]))),
        check: () => undefined,
        prepare: () => undefined,
        gather: () => Effect.succeed(new Map()),
        scatter: () => Effect.void,
        whoHas: () => Effect.succeed({}),
        hasWhat: () => Effect.succeed({}),
        nbytes: () => Effect.succeed({}),
        workers: () => Effect.succeed([]),
        publishDataset: () => Effect.void,
        getDataset: () => Effect.succeed(Option.none()),
        unpublishDataset: () => Effect.void,
        listDatasets: () => Effect.succeed([])
      })
  })
)
