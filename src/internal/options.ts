/**
 * Per-call options: validated once per call, before any key is computed or
 * anything is sent, so a bad option leaks nothing.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { InvalidOptionsError } from "../Errors.js"
import type { ScatterOptions, TaskOptions } from "../Scheduler.js"

const invalid = (option: string, message: string) => new InvalidOptionsError({ option, message })

const isStringList = (u: unknown): u is ReadonlyArray<string> =>
  Array.isArray(u) && u.every((w) => typeof w === "string" && w.length > 0)

/**
 * The scheduling part of `options` as the protocol carries it (`undefined`
 * when nothing is set, so the common call allocates nothing), or the error.
 *
 * @internal
 */
export const taskOptions = (options: TaskOptions | undefined): TaskOptions | undefined | InvalidOptionsError => {
  if (options === undefined) return undefined
  const { allowOtherWorkers, fifoTimeout, priority, resources, retries, workers } = options
  if (retries !== undefined && !(Number.isSafeInteger(retries) && retries >= 0)) {
    return invalid("retries", `retries must be a non-negative integer, got ${String(retries)}`)
  }
  if (priority !== undefined && !Number.isSafeInteger(priority)) {
    return invalid("priority", `priority must be an integer, got ${String(priority)}`)
  }
  if (workers !== undefined && (!isStringList(workers) || workers.length === 0)) {
    return invalid("workers", "workers must be a non-empty list of worker addresses or host names")
  }
  if (resources !== undefined) {
    if (typeof resources !== "object" || resources === null || Array.isArray(resources)) {
      return invalid("resources", "resources must be a record of resource name to amount")
    }
    for (const [name, amount] of Object.entries(resources)) {
      if (name.length === 0 || typeof amount !== "number" || !Number.isFinite(amount) || amount < 0) {
        return invalid("resources", `resource ${JSON.stringify(name)} needs a finite, non-negative amount, got ${String(amount)}`)
      }
    }
  }
  if (allowOtherWorkers !== undefined && typeof allowOtherWorkers !== "boolean") {
    return invalid("allowOtherWorkers", "allowOtherWorkers must be a boolean")
  }
  if (fifoTimeout !== undefined) {
    const decoded = Duration.decodeUnknown(fifoTimeout)
    if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) {
      return invalid("fifoTimeout", `fifoTimeout must be a finite duration, got ${String(fifoTimeout)}`)
    }
  }
  if (
    retries === undefined && priority === undefined && workers === undefined && resources === undefined &&
    allowOtherWorkers === undefined && fifoTimeout === undefined
  ) return undefined
  // A copy: the caller may mutate their object after the call; the specs must not change with it.
  return {
    ...(retries !== undefined ? { retries } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(workers !== undefined ? { workers: workers.slice() } : {}),
    ...(resources !== undefined ? { resources: { ...resources } } : {}),
    ...(allowOtherWorkers !== undefined ? { allowOtherWorkers } : {}),
    ...(fifoTimeout !== undefined ? { fifoTimeout } : {})
  }
}

/**
 * `fifo_timeout` in seconds, as Dask's wire takes it.
 *
 * @internal
 */
export const fifoTimeoutSeconds = (options: TaskOptions | undefined): number | undefined =>
  options?.fifoTimeout === undefined ? undefined : Duration.toSeconds(Duration.decode(options.fifoTimeout))

/**
 * Checks an explicit key or key list for `n` tasks: `undefined` when fine.
 *
 * @internal
 */
export const checkKeys = (key: string | ReadonlyArray<string> | undefined, n: number, single: boolean): InvalidOptionsError | undefined => {
  if (key === undefined) return undefined
  if (typeof key === "string") return key.length === 0 ? invalid("key", "key must be a non-empty string") : undefined
  if (single) return invalid("key", "submit takes one key (a string)")
  if (!isStringList(key)) return invalid("key", "key must be a prefix or a list of non-empty strings")
  if (key.length !== n) return invalid("key", `${key.length} keys given for ${n} tasks`)
  if (new Set(key).size !== key.length) return invalid("key", "the key list repeats a key")
  return undefined
}

/**
 * Checks scatter's options: `undefined` when fine.
 *
 * @internal
 */
export const checkScatterOptions = (
  options: (ScatterOptions & { readonly hash?: boolean | undefined }) | undefined
): InvalidOptionsError | undefined => {
  if (options === undefined) return undefined
  if (options.workers !== undefined && (!isStringList(options.workers) || options.workers.length === 0)) {
    return invalid("workers", "workers must be a non-empty list of worker addresses or host names")
  }
  if (options.broadcast !== undefined && typeof options.broadcast !== "boolean") {
    return invalid("broadcast", "broadcast must be a boolean")
  }
  if (options.hash !== undefined && typeof options.hash !== "boolean") return invalid("hash", "hash must be a boolean")
  return undefined
}
