/**
 * A scheduler that accepts and drops everything: benchmarks that use it
 * measure the client alone.
 */
import { Effect, Layer, Option, Queue } from "effect"
import { Scheduler } from "../src/Scheduler.js"

export const NullScheduler = Layer.succeed(
  Scheduler,
  Scheduler.of({
    address: "null://",
    connect: (clientId) =>
      Effect.map(Queue.unbounded<any>(), (reports) => ({
        clientId,
        send: () => {},
        reports,
        check: () => undefined,
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
      }))
  })
)
