/**
 * The `Scheduler` service for a real Dask scheduler: resolves the address,
 * owns the RPC pool, and registers one stream per connected client.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Scheduler } from "../../Scheduler.js"
import { defaultMaxDecodedBytes } from "../wire/budget.js"
import { type Address, parseAddress } from "../wire/connection.js"
import * as Rpc from "../wire/rpc.js"
import * as Session from "./session.js"
import type { Options } from "../../DaskScheduler.js"


/** @internal */
export const ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"

/** @internal */
export const defaultReconnect: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis", 2).pipe(
  Schedule.union(Schedule.spaced("5 seconds"))
)

const addressConfig = (given: string | undefined): Config.Config<Address> => {
  const raw = given === undefined ? Config.string(ADDRESS_ENV) : Config.succeed(given)
  return Config.mapOrFail(raw, (text) =>
    Either.mapLeft(parseAddress(text), (message) =>
      ConfigError.InvalidData(given === undefined ? [ADDRESS_ENV] : ["address"], message)))
}

/** @internal */
export const make = (
  options: Options = {}
): Effect.Effect<Scheduler["Type"], ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const address = yield* addressConfig(options.address)
    const maxMessageBytes = options.maxMessageBytes ?? 256 * 1024 * 1024
    const maxDecodedBytes = options.maxDecodedBytes ?? defaultMaxDecodedBytes
    const connectTimeout = Duration.decode(options.connectTimeout ?? "10 seconds")
    const requestTimeout = Duration.decode(options.requestTimeout ?? "30 seconds")
    const pool = yield* Rpc.makePool(address, {
      size: Math.max(1, options.poolSize ?? 4),
      maxMessageBytes,
      maxDecodedBytes,
      connectTimeout,
      requestTimeout
    })
    const sessionOptions = {
      address,
      pool,
      maxMessageBytes,
      maxDecodedBytes,
      connectTimeout,
      requestTimeout,
      batchInterval: Duration.decode(options.batchInterval ?? "2 millis"),
      heartbeat: Duration.decode(options.heartbeat ?? "5 seconds"),
      reconnect: options.reconnect ?? defaultReconnect,
      closeTimeout: Duration.seconds(5)
    }
    return Scheduler.of({
      address: address.url,
      connect: (clientId, reports) => Session.make({ ...sessionOptions, clientId }, reports)
    })
  })

/** @internal */
export const layer = (options?: Options): Layer.Layer<Scheduler, ConfigError.ConfigError> =>
  Layer.scoped(Scheduler, make(options))
