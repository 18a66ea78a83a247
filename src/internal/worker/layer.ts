/**
 * The Effect face of the Node worker: options checked, task modules loaded,
 * the worker started in a scope and closed with it (gracefully: the
 * scheduler moves its keys elsewhere first).
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as v8 from "node:v8"
import type { DaskWorker, Options } from "../../DaskWorker.js"
import { DaskWorkerError, type TaskModuleError } from "../../Errors.js"
import * as TaskModule from "../../TaskModule.js"
import { parseAddress } from "../wire/connection.js"
import { NodeWorker } from "./worker.js"

/** @internal */
export const DaskWorkerTag = Context.GenericTag<DaskWorker>("effect-dask/DaskWorker")

const optionsError = (message: string) => new DaskWorkerError({ reason: "Options", message })

/** Bytes from a byte count or a fraction (0, 1] of V8's heap limit. @internal */
export const memoryLimitBytes = (limit: number | undefined): Either.Either<number, DaskWorkerError> => {
  if (limit === undefined || limit === 0) return Either.right(0)
  if (!Number.isFinite(limit) || limit < 0) return Either.left(optionsError(`memoryLimit must be a byte count or a fraction in (0, 1], got ${limit}`))
  if (limit <= 1) return Either.right(Math.floor(limit * v8.getHeapStatistics().heap_size_limit))
  return Either.right(Math.floor(limit))
}

/** @internal */
export const start = (options: Options): Effect.Effect<NodeWorker, DaskWorkerError | TaskModuleError, Scope.Scope> =>
  Effect.gen(function*() {
    const address = parseAddress(options.scheduler)
    if (Either.isLeft(address)) return yield* Effect.fail(optionsError(address.left))
    const nthreads = options.nthreads ?? 1
    if (!Number.isInteger(nthreads) || nthreads < 1) return yield* Effect.fail(optionsError(`nthreads must be a positive integer, got ${nthreads}`))
    for (const [name, amount] of Object.entries(options.resources ?? {})) {
      if (typeof amount !== "number" || !(amount >= 0)) return yield* Effect.fail(optionsError(`resource ${name} must be a non-negative number`))
    }
    const memoryLimit = yield* memoryLimitBytes(options.memoryLimit)
    const registry = yield* TaskModule.load(options.modules ?? [])
    const worker = new NodeWorker({
      scheduler: address.right.url,
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      nthreads,
      name: options.name,
      resources: options.resources ?? {},
      memoryLimit,
      pauseFraction: options.pauseFraction ?? 0.8,
      maxMessageBytes: options.maxMessageBytes ?? 512 * 1024 * 1024,
      connectTimeoutMs: 10_000,
      tasks: (name) => registry.tasks.get(name),
      log: options.log ?? (() => {})
    })
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => worker.start(),
        catch: (cause) =>
          new DaskWorkerError({
            reason: cause instanceof Error && /listen|EADDR/i.test(cause.message) ? "Listen" : "Register",
            message: `the Node worker could not join ${address.right.url}: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      }),
      () => Effect.promise(() => worker.close(true))
    )
    return worker
  })

/** @internal */
export const make = (options: Options): Effect.Effect<DaskWorker, DaskWorkerError | TaskModuleError, Scope.Scope> =>
  Effect.map(start(options), (worker) => ({
    address: worker.address,
    name: worker.name,
    keys: Effect.sync(() => worker.keys()),
    closed: Effect.promise(() => worker.closed),
    retire: Effect.promise(() => worker.close(true)).pipe(Effect.asVoid)
  }))

/** @internal */
export const layer = (options: Options): Layer.Layer<DaskWorker, DaskWorkerError | TaskModuleError> =>
  Layer.scoped(DaskWorkerTag, make(options))
