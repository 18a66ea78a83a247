/**
 * A scheduler that accepts and drops everything: benchmarks that use it
 * measure the client alone.
 */
import { Effect, Layer, Option } from "effect"
import { CoordinationModel } from "../src/internal/model/coordination.js"
import { Scheduler, type Session } from "../src/Scheduler.js"

/** A session that drops every message and answers every request with nothing. */
export const nullSession = (clientId: string): Session => ({
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
  listDatasets: () => Effect.succeed([]),
  retry: () => Effect.succeed([]),
  restart: () => Effect.void,
  run: () => Effect.succeed(new Map()),
  coordination: new CoordinationModel({ desire: () => {}, release: () => {}, remove: () => {} }).coordination
})

export const NullScheduler = Layer.succeed(
  Scheduler,
  Scheduler.of({
    address: "null://",
    connect: (clientId) => Effect.succeed(nullSession(clientId))
  })
)
