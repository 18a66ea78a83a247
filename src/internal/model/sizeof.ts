/**
 * Estimated bytes a JS value holds, the embedded scheduler's analogue of
 * Dask's `dask.sizeof`: cheap, deterministic, and close enough to drive
 * per-worker memory accounting and pausing. It is an estimate of V8 heap
 * use, not an exact measurement (V8 does not expose one per object):
 *
 * - number 8, boolean 4, null/undefined 0, symbol 16, bigint 16 + 8 per 64 bits;
 * - string 12 + 2 bytes per character (V8 stores Latin-1 strings in 1 byte per
 *   character, so this over-estimates them: the safe side for a memory limit);
 * - ArrayBuffer / typed array / DataView / Buffer: 64 + `byteLength` (the
 *   payload dominates; views of one buffer are counted once per buffer);
 * - array: 16 + 8 per slot + elements; plain object: 24 + 8 per property +
 *   keys + values; Map / Set: 32 + 16 per entry + entries; Date 24; function 64;
 * - like Dask's `sizeof` for lists, large collections (over 64 entries) are
 *   sampled (64 evenly spaced entries) and extrapolated, and nesting deeper
 *   than 16 levels counts a flat 64 bytes: the cost stays O(1) per value.
 *
 * Shared sub-objects and cycles are counted once.
 *
 * @internal
 */

const SAMPLE = 64
const MAX_DEPTH = 16
const OPAQUE = 64

/** @internal */
export const sizeof = (value: unknown): number => inner(value, new Set(), 0)

const bigintSize = (value: bigint): number => {
  const bits = (value < 0n ? -value : value).toString(16).length * 4
  return 16 + 8 * Math.ceil(bits / 64)
}

const inner = (value: unknown, seen: Set<object>, depth: number): number => {
  switch (typeof value) {
    case "number":
      return 8
    case "string":
      return 12 + 2 * value.length
    case "boolean":
      return 4
    case "undefined":
      return 0
    case "symbol":
      return 16
    case "bigint":
      return bigintSize(value)
    case "function":
      return OPAQUE
    default:
      return value === null || value === undefined ? 0 : objectSize(value as object, seen, depth)
  }
}

const objectSize = (value: object, seen: Set<object>, depth: number): number => {
  if (seen.has(value)) return 0
  seen.add(value)
  if (depth >= MAX_DEPTH) return OPAQUE
  const next = depth + 1
  if (Array.isArray(value)) {
    return 16 + 8 * value.length + sampled(value.length, (i) => inner(value[i], seen, next))
  }
  if (ArrayBuffer.isView(value)) {
    if (seen.has(value.buffer)) return 64
    seen.add(value.buffer)
    return 64 + value.buffer.byteLength
  }
  if (value instanceof ArrayBuffer) return 64 + value.byteLength
  if (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer) return 64 + value.byteLength
  if (value instanceof Map) {
    const entries = Array.from(sampleIterable(value.entries(), value.size))
    let total = 0
    for (const [k, v] of entries) total += inner(k, seen, next) + inner(v, seen, next)
    return 32 + 16 * value.size + extrapolate(total, entries.length, value.size)
  }
  if (value instanceof Set) {
    const entries = Array.from(sampleIterable(value.values(), value.size))
    let total = 0
    for (const v of entries) total += inner(v, seen, next)
    return 32 + 16 * value.size + extrapolate(total, entries.length, value.size)
  }
  if (value instanceof Date) return 24
  const keys = Object.keys(value)
  const record = value as Record<string, unknown>
  return 24 + 8 * keys.length + sampled(keys.length, (i) => {
    const k = keys[i]!
    return 12 + 2 * k.length + inner(record[k], seen, next)
  })
}

/** Sums `size(i)` over all indices, or over an even sample extrapolated to `length`. */
const sampled = (length: number, size: (i: number) => number): number => {
  if (length <= SAMPLE) {
    let total = 0
    for (let i = 0; i < length; i++) total += size(i)
    return total
  }
  const step = length / SAMPLE
  let total = 0
  for (let j = 0; j < SAMPLE; j++) total += size(Math.floor(j * step))
  return extrapolate(total, SAMPLE, length)
}

const extrapolate = (total: number, counted: number, length: number): number =>
  counted === 0 || counted === length ? total : Math.round((total / counted) * length)

function* sampleIterable<A>(iterable: IterableIterator<A>, size: number): Generator<A> {
  // Iterators cannot seek: the first SAMPLE entries stand for the rest.
  let i = 0
  for (const a of iterable) {
    if (i++ >= SAMPLE && size > SAMPLE) return
    yield a
  }
}

/** A value's type name for reports (Dask's `typename`): the constructor's name, or `typeof`. @internal */
export const typeName = (value: unknown): string => {
  if (value === null) return "null"
  const t = typeof value
  if (t !== "object") return t
  const ctor = (value as { constructor?: { name?: unknown } }).constructor
  return ctor !== undefined && typeof ctor.name === "string" ? ctor.name : "Object"
}
