/**
 * Dask keys as a Node worker meets them: strings (both versions), and on
 * 2024.12 also ints and tuples (msgpack arrays). Maps are indexed by a
 * canonical string id; the original key value is what goes back on the wire.
 *
 * @internal
 */

/** Canonical id of a key: the string itself, else a tagged rendering that no string key has. @internal */
export const keyId = (key: unknown): string => {
  if (typeof key === "string") return key
  return "\u0000" + render(key, 0)
}

const render = (key: unknown, depth: number): string => {
  if (Array.isArray(key) && depth < 32) return `(${key.map((k) => render(k, depth + 1)).join(",")})`
  if (typeof key === "string") return JSON.stringify(key)
  if (key instanceof Uint8Array) return `b${Buffer.from(key).toString("hex")}`
  return String(key)
}

/** Entries of a decoded map (plain object or `Map`, whose keys may be tuples). @internal */
export const entries = (u: unknown): Array<readonly [unknown, unknown]> => {
  if (u instanceof Map) return Array.from(u)
  if (typeof u === "object" && u !== null && !Array.isArray(u)) return Object.entries(u)
  return []
}

/** A decoded key list (array, or a set decoded as an array). @internal */
export const keyList = (u: unknown): Array<unknown> => (Array.isArray(u) ? u : u instanceof Set ? Array.from(u) : [])
