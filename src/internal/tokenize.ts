import { createHash, randomBytes, randomUUID } from "node:crypto"
import { KeyRef } from "../Scheduler.js"

/**
 * A stable string for plain data, or `undefined` when `value` holds something
 * without a stable identity (functions, class instances, symbols): such
 * submissions get a random token, as Dask does for objects it cannot tokenize.
 */
const stable = (value: unknown, depth: number): string | undefined => {
  if (depth > 64) return undefined
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      return Object.is(value, -0) ? "-0" : String(value)
    case "boolean":
      return value ? "T" : "F"
    case "bigint":
      return `${value}n`
    case "undefined":
      return "u"
    case "object": {
      if (value === null) return "N"
      if (value instanceof KeyRef) return `K${JSON.stringify(value.key)}`
      if (Array.isArray(value)) {
        let out = "["
        for (const item of value) {
          const s = stable(item, depth + 1)
          if (s === undefined) return undefined
          out += s + ","
        }
        return out + "]"
      }
      if (ArrayBuffer.isView(value)) {
        return `B${value.constructor.name}:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64")}`
      }
      if (value instanceof Date) return `D${value.getTime()}`
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return undefined
      let out = "{"
      for (const k of Object.keys(value).sort()) {
        const s = stable((value as Record<string, unknown>)[k], depth + 1)
        if (s === undefined) return undefined
        out += JSON.stringify(k) + ":" + s + ","
      }
      return out + "}"
    }
    default:
      return undefined
  }
}

/** 32 hex characters: long enough that a key never equals a user's string by accident (Dask substitutes by string equality). */
export const randomToken = (): string => randomUUID().replace(/-/g, "")

/** Deterministic token of plain data (md5, as Dask's `tokenize`), random for anything else. */
export const tokenize = (value: unknown): string => {
  const s = stable(value, 0)
  return s === undefined ? randomToken() : createHash("md5").update(s).digest("hex")
}

/**
 * `prefix-token` as one flat string: a template literal would leave a V8 cons
 * string (prefix, "-", token) alive beside every key (~60 B more per key);
 * `join` writes one sequential string, for a third of the cost of a Buffer
 * round trip.
 */
export const makeKey = (prefix: string, token: string): string => [prefix, "-", token].join("")

/** Dask's `type(v).__name__` for the key prefix of a scattered value. */
export const typeName = (value: unknown): string => {
  if (value === null || value === undefined) return "NoneType"
  switch (typeof value) {
    case "string":
      return "str"
    case "number":
      return Number.isInteger(value) ? "int" : "float"
    case "boolean":
      return "bool"
    case "bigint":
      return "int"
    case "object":
      if (Array.isArray(value)) return "list"
      if (value instanceof Uint8Array) return "bytes"
      return Object.getPrototypeOf(value) === Object.prototype ? "dict" : value.constructor?.name ?? "object"
    default:
      return typeof value
  }
}

/**
 * Keys of impure calls: `name-<token>`, the token a per-generator random
 * prefix (24 hex digits) and a counter (8 hex digits), 32 hex digits in all as
 * `randomToken`'s, for the price of a string concatenation. Dask allows any
 * key for an impure task (it uses a fresh uuid4 per call).
 */
export class KeyGen {
  private prefix = ""
  private count = 0x100000000
  next(name: string): string {
    if (this.count >= 0xffffffff) {
      this.prefix = randomBytes(12).toString("hex")
      this.count = 0
    }
    const n = (this.count++).toString(16)
    // One flat string (see `makeKey`).
    return [name, "-", this.prefix, "00000000".slice(n.length), n].join("")
  }
}
