/**
 * Dask message encoding (`distributed/protocol/core.py` `dumps` / `loads`):
 * frame_0 is msgpack; `{"__Serialized__": i}` / `{"__Pickled__": i}` point at
 * a sub-header frame followed by its data frames. Also `deserialize` for the
 * serializer families a client meets (§3.2): msgpack, pickle (through the
 * whitelist reader), dask (bytes, bytearray, simple numpy arrays) and error.
 *
 * Every decode path validates the msgpack first (no ext types, bounded
 * nesting, lengths within the input) so msgpackr never sees an extension or
 * record definition, and never throws.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { Packr, Unpackr } from "msgpackr"
import { DecodeError, ProtocolError } from "../../Errors.js"
import { BudgetExceeded, DecodeBudget, OBJECT_COST, SLOT_COST, STRING_COST } from "./budget.js"
import * as Lz4 from "./lz4.js"
import { contiguousStrides, NumpyFault, parseDtype, readArray } from "./numpy.js"
import { defineEntry, fromMap, PyGlobal, readPickle } from "./pickle.js"
import { toValue } from "./pyvalue.js"

/**
 * An opaque serialized value (sub-header + data frames), kept as received so
 * it can be decoded later or forwarded byte-for-byte.
 *
 * @internal
 */
export class Serialized {
  readonly _tag = "Serialized"
  constructor(readonly header: Record<string, unknown>, readonly frames: ReadonlyArray<Uint8Array>) {}
}

/**
 * A `{"__Pickled__": i}` value: sub-header `{"pickled-obj": <pickle>, "num-sub-frames": k}`
 * and `k` out-of-band buffers. Read it with {@link unpickle}.
 *
 * @internal
 */
export class Pickled {
  readonly _tag = "Pickled"
  constructor(readonly header: Record<string, unknown>, readonly frames: ReadonlyArray<Uint8Array>) {}
}

/**
 * Marks a value to send as a msgpack-serialized sub-frame
 * (`{"__Serialized__": i}`, sub-header `{serializer: "msgpack"}`).
 *
 * @internal
 */
export class ToSerialize {
  readonly _tag = "ToSerialize"
  constructor(readonly value: unknown) {}
}

/**
 * Marks already-pickled bytes to send as a pickle-serialized sub-frame
 * (`{"__Serialized__": i}`, sub-header `{serializer: "pickle", writeable: []}`),
 * which is how Dask ≥ 2025.4 expects `expr_ser`. The 2024.12 update-graph
 * carries its graph pickle inline instead (`graph_frames`, see graph.ts).
 *
 * @internal
 */
export class ToPickleBytes {
  readonly _tag = "ToPickleBytes"
  constructor(readonly bytes: Uint8Array, readonly header?: Record<string, unknown>) {}
}

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true })
// "auto" (number when safe, else bigint) is supported by msgpackr 2.x but missing from its typings.
const INT64_AUTO = "auto" as "number"
const unpackrObjects = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: INT64_AUTO })
const unpackrMaps = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: INT64_AUTO })

const MAX_DEPTH = 512

// ---------------------------------------------------------------------------
// msgpack validation and decoding
// ---------------------------------------------------------------------------

/**
 * Walks one msgpack value that must span exactly `bytes`, without building
 * it: refuses ext types (Python's msgpack never emits them), the unused 0xc1,
 * truncation, containers that declare more items than bytes remain, and
 * nesting deeper than `maxDepth`. Tells whether every map key is a string.
 * Charges `budget` for what decoding will build (containers, strings, bins)
 * before anything is built: a small message of millions of empty maps fails
 * here.
 */
const scan = (b: Uint8Array, maxDepth: number, budget: DecodeBudget | undefined): Scanned | string | DecodeError => {
  const len = b.length
  // Accumulated locally and charged once: the per-item cost is an add and a compare.
  const limit = budget === undefined ? Infinity : budget.remaining
  let cost = 0
  const remaining: Array<number> = []
  const maps: Array<boolean> = []
  let p = 0
  let stringKeys = true
  let markerKeys = false
  let roots = 1
  while (roots > 0 || remaining.length > 0) {
    let keyPosition = false
    const top = remaining.length - 1
    if (top >= 0) {
      if (remaining[top] === 0) {
        remaining.pop()
        maps.pop()
        continue
      }
      keyPosition = maps[top]! && remaining[top]! % 2 === 0
      remaining[top]!--
    } else {
      roots--
    }
    if (p >= len) return "truncated msgpack"
    const t = b[p++]!
    let items = -1
    let isMap = false
    let skip = 0
    let isString = false
    if (t <= 0x7f || t >= 0xe0) {
      // fixint
    } else if (t <= 0x8f) {
      items = t & 0x0f
      isMap = true
    } else if (t <= 0x9f) {
      items = t & 0x0f
    } else if (t <= 0xbf) {
      skip = t & 0x1f
      isString = true
    } else {
      const avail = len - p
      switch (t) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break
        case 0xcc:
        case 0xd0:
          skip = 1
          break
        case 0xcd:
        case 0xd1:
          skip = 2
          break
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4
          break
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8
          break
        case 0xc4:
        case 0xd9:
          if (avail < 1) return "truncated msgpack"
          skip = b[p]!
          p += 1
          isString = t === 0xd9
          break
        case 0xc5:
        case 0xda:
          if (avail < 2) return "truncated msgpack"
          skip = (b[p]! << 8) | b[p + 1]!
          p += 2
          isString = t === 0xda
          break
        case 0xc6:
        case 0xdb:
          if (avail < 4) return "truncated msgpack"
          skip = readU32(b, p)
          p += 4
          isString = t === 0xdb
          break
        case 0xdc:
          if (avail < 2) return "truncated msgpack"
          items = (b[p]! << 8) | b[p + 1]!
          p += 2
          break
        case 0xdd:
          if (avail < 4) return "truncated msgpack"
          items = readU32(b, p)
          p += 4
          break
        case 0xde:
          if (avail < 2) return "truncated msgpack"
          items = (b[p]! << 8) | b[p + 1]!
          p += 2
          isMap = true
          break
        case 0xdf:
          if (avail < 4) return "truncated msgpack"
          items = readU32(b, p)
          p += 4
          isMap = true
          break
        default:
          return t === 0xc1 ? "msgpack byte 0xc1 is never used" : `msgpack extension type (0x${t.toString(16)}) is not allowed`
      }
    }
    if (keyPosition && !isString) stringKeys = false
    if (skip > len - p) return "truncated msgpack"
    // A map key starting with "__" may be a protocol marker (`__Serialized__`, `__Pickled__`, `__Set__`).
    if (keyPosition && isString && skip >= 2 && b[p] === 0x5f && b[p + 1] === 0x5f) {
      markerKeys = true
      // msgpackr's object mode renames a "__proto__" key to "__proto_": such a message goes the
      // Map way, whose conversion keeps the key as an own entry (never the prototype setter).
      if (skip === 9 && isProtoKey(b, p)) stringKeys = false
    }
    p += skip
    if (items >= 0) {
      const count = isMap ? items * 2 : items
      if (count > len - p) return "msgpack container declares more items than bytes remain"
      cost += OBJECT_COST + count * SLOT_COST
      if (cost > limit) return budget!.exceeded("msgpack", cost)
      if (items > 0) {
        if (remaining.length >= maxDepth) return `msgpack nested deeper than ${maxDepth}`
        remaining.push(count)
        maps.push(isMap)
      }
    } else if (skip > 0 && (isString || (t >= 0xc4 && t <= 0xc6))) {
      // strings and bins; fixed-size numbers cost no more than their slot
      cost += (isString ? STRING_COST : OBJECT_COST) + skip
      if (cost > limit) return budget!.exceeded("msgpack", cost)
    }
  }
  if (p !== len) return `${len - p} bytes after the msgpack value`
  if (budget !== undefined) budget.charge("msgpack", cost)
  return stringKeys ? (markerKeys ? STRING_KEYS_MARKERS : STRING_KEYS) : (markerKeys ? OTHER_KEYS_MARKERS : OTHER_KEYS)
}

/**
 * What {@link scan} learnt: whether every map key is a string, and whether
 * some map key may be a protocol marker (without one, reviving a decoded
 * message changes nothing). Constants: no allocation per scan.
 */
interface Scanned {
  readonly stringKeys: boolean
  readonly markerKeys: boolean
}

const STRING_KEYS: Scanned = { stringKeys: true, markerKeys: false }
const STRING_KEYS_MARKERS: Scanned = { stringKeys: true, markerKeys: true }
const OTHER_KEYS: Scanned = { stringKeys: false, markerKeys: false }
const OTHER_KEYS_MARKERS: Scanned = { stringKeys: false, markerKeys: true }

const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f] // "__proto__"

const isProtoKey = (b: Uint8Array, p: number): boolean => {
  for (let i = 2; i < 9; i++) if (b[p + i] !== PROTO[i]) return false
  return true
}

const readU32 = (b: Uint8Array, p: number): number => ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!)

/** Maps whose keys are all strings become plain objects; others stay `Map`s. */
const mapsToObjects = (value: unknown): unknown => {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = mapsToObjects(value[i])
    return value
  }
  if (value instanceof Map) return fromMap(value, mapsToObjects)
  return value
}

/**
 * Decodes one msgpack value (Python's settings: bin → `Uint8Array`, arrays →
 * arrays, int64 → number when safe else bigint). Maps with only string keys
 * become plain objects, any other map a `Map`. Never throws. With a
 * `budget`, what it builds is charged first; exceeding it is a DecodeError
 * (any other failure is the reason as text).
 *
 * @internal
 */
export const decodeMsgpack = (bytes: Uint8Array, budget?: DecodeBudget): Either.Either<unknown, string | DecodeError> => {
  const decoded = decodeMsgpackOr(bytes, budget)
  return decoded instanceof MsgpackFailure
    ? Either.left(decoded.reason)
    : decoded instanceof DecodeError
    ? Either.left(decoded)
    : Either.right(decoded)
}

/** Why bytes are not one msgpack value (a decoded value is never an instance of this class). */
class MsgpackFailure {
  constructor(readonly reason: string) {}
}

/**
 * {@link decodeMsgpack} for the receive path: the value, a `MsgpackFailure`,
 * or the budget's `DecodeError` (no Either per message).
 */
const decodeMsgpackOr = (bytes: Uint8Array, budget: DecodeBudget | undefined): unknown => {
  const small = scalarFrame(bytes)
  if (small !== NOT_SCALAR) return small
  const scanned = scan(bytes, MAX_DEPTH, budget)
  if (typeof scanned === "string") return new MsgpackFailure(scanned)
  if (scanned instanceof DecodeError) return scanned
  return unpackScanned(bytes, scanned)
}

const NOT_SCALAR: unique symbol = Symbol("NotScalar")

/** 8 bytes to read a float64 from, once: no DataView per value. */
const F64 = new DataView(new ArrayBuffer(8))

/**
 * A frame that is one scalar: a fixint, nil, a boolean, an int of 8 to 32
 * bits or a float64 (a gathered number). The scan would charge nothing for
 * it, and msgpackr's setup costs more than the value. 64-bit ints go the
 * long way (number or bigint, as msgpackr decides).
 */
const scalarFrame = (bytes: Uint8Array): unknown => {
  const b = bytes[0]!
  switch (bytes.length) {
    case 1:
      if (b <= 0x7f) return b
      if (b >= 0xe0) return b - 0x100
      if (b === 0xc0) return null
      if (b === 0xc2) return false
      if (b === 0xc3) return true
      break
    case 2:
      if (b === 0xcc) return bytes[1]!
      if (b === 0xd0) return (bytes[1]! << 24) >> 24
      break
    case 3:
      if (b === 0xcd) return (bytes[1]! << 8) | bytes[2]!
      if (b === 0xd1) return (((bytes[1]! << 8) | bytes[2]!) << 16) >> 16
      break
    case 5:
      if (b === 0xce) return readU32(bytes, 1)
      if (b === 0xd2) return readU32(bytes, 1) | 0
      break
    case 9:
      if (b === 0xcb) {
        for (let i = 0; i < 8; i++) F64.setUint8(i, bytes[i + 1]!)
        return F64.getFloat64(0)
      }
      break
  }
  return NOT_SCALAR
}

/** Bytes that passed {@link scan}, decoded the way the scan chose. */
const unpackScanned = (bytes: Uint8Array, scanned: Scanned): unknown => {
  try {
    return scanned.stringKeys ? unpackrObjects.unpack(bytes) : mapsToObjects(unpackrMaps.unpack(bytes))
  } catch (error) {
    return new MsgpackFailure(`msgpack: ${error instanceof Error ? error.message : String(error)}`)
  }
}

// ---------------------------------------------------------------------------
// decodeMessage
// ---------------------------------------------------------------------------

class MessageFault {
  constructor(readonly message: string) {}
}

/** A plain object (a decoded msgpack map of string keys, or one built in code). @internal */
export const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key)

const subFrameOffset = (marker: unknown): number | undefined =>
  marker === true ? 1 : typeof marker === "number" && Number.isInteger(marker) && marker > 0 ? marker : undefined

/** The last small sub-header decoded (its bytes copied: the frame's buffer is the peer's). */
let lastHeader: { readonly bytes: Uint8Array; readonly header: Record<string, unknown> } | undefined

/** Byte equality of two short arrays (cache checks on the receive path). @internal */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const readSubFrames = (
  frames: ReadonlyArray<Uint8Array>,
  offset: number,
  revive: boolean,
  budget: DecodeBudget | undefined
): { header: Record<string, unknown>; frames: ReadonlyArray<Uint8Array> } => {
  if (offset >= frames.length) throw new MessageFault(`sub-header frame ${offset} of ${frames.length} frames`)
  const bytes = frames[offset]!
  let header: unknown
  if (revive && lastHeader !== undefined && sameBytes(bytes, lastHeader.bytes)) {
    // A gather reply repeats one sub-header per key: decoded once, shared (headers are read,
    // never written), so it costs the budget nothing more.
    header = lastHeader.header
  } else {
    const decoded = decodeMsgpackOr(bytes, budget)
    if (decoded instanceof MsgpackFailure) throw new MessageFault(`sub-header: ${decoded.reason}`)
    if (decoded instanceof DecodeError) throw new BudgetExceeded(decoded)
    header = revive ? reviveValue(decoded, [], 0, budget) : decoded
    if (revive && bytes.length <= 256 && isPlainObject(header)) lastHeader = { bytes: bytes.slice(), header }
  }
  if (!isPlainObject(header)) throw new MessageFault("sub-header is not a map")
  const count = header["num-sub-frames"]
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
    throw new MessageFault("sub-header without a valid num-sub-frames")
  }
  if (count > frames.length - offset - 1) {
    throw new MessageFault(`sub-header at ${offset} claims ${count} frames, ${frames.length - offset - 1} follow`)
  }
  return { header, frames: frames.slice(offset + 1, offset + 1 + count) }
}

const reviveValue = (
  value: unknown,
  frames: ReadonlyArray<Uint8Array>,
  depth: number,
  budget: DecodeBudget | undefined
): unknown => {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return value
  if (depth > MAX_DEPTH) throw new MessageFault("message nested too deeply")
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveValue(value[i], frames, depth + 1, budget)
    return value
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>()
    for (const [k, v] of value) out.set(reviveValue(k, frames, depth + 1, budget), reviveValue(v, frames, depth + 1, budget))
    return out
  }
  const object = value as Record<string, unknown>
  if (hasOwn(object, "__Serialized__")) {
    const offset = subFrameOffset(object["__Serialized__"])
    if (offset !== undefined) {
      const sub = readSubFrames(frames, offset, true, budget)
      return new Serialized(sub.header, sub.frames)
    }
    // The in-band form `{"__Serialized__": <falsy>, "data": [header, frames]}`.
    const data = object["data"]
    if (Array.isArray(data) && data.length === 2 && isPlainObject(data[0]) && Array.isArray(data[1]) && data[1].every((f) => f instanceof Uint8Array)) {
      return new Serialized(reviveValue(data[0], [], depth + 1, budget) as Record<string, unknown>, data[1] as Array<Uint8Array>)
    }
    throw new MessageFault("malformed __Serialized__ marker")
  }
  if (hasOwn(object, "__Pickled__")) {
    const offset = subFrameOffset(object["__Pickled__"])
    if (offset !== undefined) {
      const sub = readSubFrames(frames, offset, false, budget)
      if (!(sub.header["pickled-obj"] instanceof Uint8Array)) throw new MessageFault("__Pickled__ sub-header without pickled-obj")
      return new Pickled(sub.header, sub.frames)
    }
  }
  if (hasOwn(object, "__Set__")) {
    const list = object["as-list"]
    if (!Array.isArray(list)) throw new MessageFault("__Set__ without an as-list array")
    return reviveValue(list, frames, depth + 1, budget)
  }
  for (const key of Object.keys(object)) object[key] = reviveValue(object[key], frames, depth + 1, budget)
  return object
}

/**
 * Decodes one message from its frames: frame_0 as msgpack, `__Serialized__`
 * markers into {@link Serialized} (sub-frame indices bounds-checked),
 * `__Pickled__` into {@link Pickled}, `__Set__` maps into arrays. With a
 * `budget`, frame_0 and the sub-headers are charged to it; exceeding it is a
 * `DecodeError` (the framing is intact: the comm may carry on), anything
 * malformed a `ProtocolError`.
 *
 * @internal
 */
export const decodeMessage = (
  frames: ReadonlyArray<Uint8Array>,
  budget?: DecodeBudget
): Either.Either<unknown, ProtocolError | DecodeError> => {
  const decoded = decodeMessageOr(frames, budget)
  return decoded instanceof ProtocolError || decoded instanceof DecodeError ? Either.left(decoded) : Either.right(decoded)
}

/**
 * {@link decodeMessage} for the receive path: the message, or a
 * `ProtocolError` / `DecodeError` (a decoded message is never one), without
 * an Either per message.
 *
 * @internal
 */
export const decodeMessageOr = (frames: ReadonlyArray<Uint8Array>, budget?: DecodeBudget): unknown => {
  if (frames.length === 0) return malformedMessage("message without frames")
  const bytes = frames[0]!
  const small = scalarFrame(bytes)
  if (small !== NOT_SCALAR) return small
  const scanned = scan(bytes, MAX_DEPTH, budget)
  if (typeof scanned === "string") return malformedMessage(scanned)
  if (scanned instanceof DecodeError) return scanned
  const root = unpackScanned(bytes, scanned)
  if (root instanceof MsgpackFailure) return malformedMessage(root.reason)
  // Most stream batches (key-in-memory and the like) hold no marker: nothing to revive.
  if (!scanned.markerKeys) return root
  try {
    return reviveValue(root, frames, 0, budget)
  } catch (error) {
    if (error instanceof BudgetExceeded) return error.error
    return malformedMessage(error instanceof MessageFault ? error.message : String(error))
  }
}

const malformedMessage = (message: string) => new ProtocolError({ reason: "MalformedMessage", message })

// ---------------------------------------------------------------------------
// encodeMessage
// ---------------------------------------------------------------------------

const UINT32_MAX = 0xffff_ffff
const INT32_MIN = -0x8000_0000
const INT64_MIN = -(2n ** 63n)
const UINT64_MAX = 2n ** 64n - 1n

/** A safe integer beyond 32 bits: msgpackr would write it as float64, so `normalize` sends it as a bigint. */
const widensToBigInt = (n: number): boolean => Number.isInteger(n) && (n > UINT32_MAX || n < INT32_MIN) && Number.isSafeInteger(n)

/**
 * Whether `value` is a leaf `normalize` returns unchanged and never refuses
 * (a string, boolean, null, or a number it does not widen): an argument list
 * of such leaves is sent as it is, without a walk.
 *
 * @internal
 */
export const isPlainLeaf = (value: unknown): boolean => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true
    case "number":
      return !widensToBigInt(value)
    default:
      return value === null
  }
}

/** Refusal of a value, with its path filled in while the error unwinds (no cost on success). */
class UnsendableError extends TypeError {
  readonly path: Array<string> = []
  constructor(readonly reason: string) {
    super(reason)
  }
  describe(root: string): string {
    return `${root}${this.path.join("")}: ${this.reason}`
  }
}

const at = (error: unknown, step: string): never => {
  if (error instanceof UnsendableError) error.path.unshift(step)
  throw error
}

/** Walker flags: `undefined` refused (user values); containers copied (a snapshot the caller owns). */
const STRICT = 1
const OWN = 2

/**
 * The one value walker of the encoder. Returns the value msgpackr writes the
 * way Python's msgpack reads it: safe integers beyond 32 bits become bigint
 * (msgpackr would write float64), `Map`s keep arbitrary keys. Copy on write:
 * a branch that needs no change is returned as is, so checking or encoding
 * ordinary values allocates nothing — unless `OWN`, which copies every
 * container and byte array (the caller keeps the result while the user may
 * change the original).
 *
 * With `frames` (a message being encoded), the wrappers ({@link Serialized},
 * {@link Pickled}, {@link ToSerialize}, {@link ToPickleBytes}) become
 * `{"__Serialized__"|"__Pickled__": i}` markers with their sub-frames
 * appended. Without `frames` (a user value), those are refused like any
 * class instance.
 *
 * Refuses (UnsendableError, a TypeError, its path filled in as it unwinds)
 * what msgpack cannot carry faithfully.
 */
const walk = (value: unknown, flags: number, frames: Array<Uint8Array> | undefined, depth: number): unknown => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return widensToBigInt(value) ? BigInt(value) : value
    case "bigint":
      if (value < INT64_MIN || value > UINT64_MAX) throw new UnsendableError(`integer ${value} does not fit 64 bits`)
      return value
    case "undefined":
      if ((flags & STRICT) !== 0) throw new UnsendableError("undefined has no Python equivalent (use null)")
      return undefined
    case "object":
      break
    default:
      throw new UnsendableError(`a ${typeof value} cannot be sent`)
  }
  if (value === null) return value
  // `new Uint8Array(value)` copies (a Buffer's `slice` would share the memory).
  if (value instanceof Uint8Array) return (flags & OWN) !== 0 ? new Uint8Array(value) : value
  if (depth > MAX_DEPTH) throw new UnsendableError(`nested deeper than ${MAX_DEPTH} (or cyclic)`)
  if (Array.isArray(value)) {
    let out: Array<unknown> | undefined = (flags & OWN) !== 0 ? new Array(value.length) : undefined
    for (let i = 0; i < value.length; i++) {
      const item = value[i]
      let r: unknown
      try {
        r = walk(item, flags, frames, depth + 1)
      } catch (error) {
        at(error, `[${i}]`)
      }
      if (out !== undefined) out[i] = r
      else if (r !== item) {
        out = value.slice()
        out[i] = r
      }
    }
    return out ?? value
  }
  if (value instanceof Map) {
    let changed = (flags & OWN) !== 0
    const pairs: Array<readonly [unknown, unknown]> = []
    for (const [k, v] of value) {
      if (typeof k === "object" && k !== null) throw new UnsendableError("Map keys must be strings or numbers")
      let nk: unknown
      let nv: unknown
      try {
        nk = walk(k, flags | STRICT, undefined, depth + 1)
        nv = walk(v, flags, frames, depth + 1)
      } catch (error) {
        at(error, `.${String(k)}`)
      }
      if (nk !== k || nv !== v) changed = true
      pairs.push([nk, nv])
    }
    return changed ? new Map(pairs) : value
  }
  if (isPlainObject(value)) {
    const own = (flags & OWN) !== 0
    let out: Record<string, unknown> | undefined = own ? {} : undefined
    for (const key of Object.keys(value)) {
      const item = value[key]
      let r: unknown
      try {
        r = walk(item, flags, frames, depth + 1)
      } catch (error) {
        at(error, `.${key}`)
      }
      // defineEntry: a "__proto__" key stays an own key.
      if (own) defineEntry(out!, key, r)
      else if (r !== item) {
        if (out === undefined) {
          out = {}
          for (const k of Object.keys(value)) defineEntry(out, k, value[k])
        }
        out[key] = r
      }
    }
    return out ?? value
  }
  if (frames !== undefined) {
    if (value instanceof Serialized || value instanceof Pickled) {
      const offset = frames.length
      const header = { ...value.header, "num-sub-frames": value.frames.length }
      frames.push(packr.pack(walkAt(header, 0, "sub-header")), ...value.frames)
      return value instanceof Serialized ? { "__Serialized__": offset } : { "__Pickled__": offset }
    }
    if (value instanceof ToSerialize) {
      const offset = frames.length
      const frame = packr.pack(walkAt(value.value, STRICT, "value"))
      frames.push(packr.pack({ serializer: "msgpack", "num-sub-frames": 1 }), frame)
      return { "__Serialized__": offset }
    }
    if (value instanceof ToPickleBytes) {
      const offset = frames.length
      const header = { serializer: "pickle", writeable: [], ...value.header, "num-sub-frames": 1 }
      frames.push(packr.pack(walkAt(header, 0, "sub-header")), value.bytes)
      return { "__Serialized__": offset }
    }
  }
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? "object"
  throw new UnsendableError(
    `a ${name} cannot be sent (only null, booleans, numbers, bigints, strings, Uint8Array, arrays, plain objects and Maps)`
  )
}

/**
 * A list of ops (a stream batch): a {@link NormalizedOp} is taken as it is,
 * the others are walked. Out of `walk` on purpose: pre-normalized fields of
 * an `update-graph` reaching `walk` once per map were a branch its optimized
 * code had no feedback for, and each map deoptimized and recompiled it
 * (measured 7–11 ms of compiler time per 10k-task map).
 */
const walkBatch = (ops: ReadonlyArray<unknown>, frames: Array<Uint8Array>): Array<unknown> => {
  const out: Array<unknown> = new Array(ops.length)
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    if (op instanceof NormalizedOp) {
      out[i] = op.value
      continue
    }
    try {
      out[i] = walk(op, 0, frames, 1)
    } catch (error) {
      at(error, `[${i}]`)
    }
  }
  return out
}

/** {@link walk} of a value on its own (no sub-frames), a refusal as a TypeError naming `root`. */
const walkAt = (value: unknown, flags: number, root: string): unknown => {
  try {
    return walk(value, flags, undefined, 0)
  } catch (error) {
    throw error instanceof UnsendableError ? new TypeError(error.describe(root)) : error
  }
}

/**
 * Why `value` cannot be sent as msgpack faithfully, or `undefined` when it can.
 * Use before wrapping user values in {@link ToSerialize}.
 *
 * @internal
 */
export const checkValue = (value: unknown): string | undefined => {
  try {
    walk(value, STRICT, undefined, 0)
    return undefined
  } catch (error) {
    return error instanceof UnsendableError ? error.describe("value") : String(error)
  }
}

/**
 * Packs one value with Python-compatible msgpack settings (the value is
 * normalized first; throws a TypeError for values that cannot be sent).
 *
 * @internal
 */
export const encodeMsgpack = (value: unknown): Uint8Array => packr.pack(walkAt(value, 0, "value"))

/**
 * A value in its msgpack form, from {@link normalizeValue}; as a whole
 * stream op, a {@link NormalizedOp}.
 *
 * @internal
 */
export class Normalized {
  constructor(readonly value: unknown) {}
}

/**
 * A whole stream op whose every field is already in its msgpack form: an
 * item of a batch given to `encodeMessage`, packed without any walk. Carries
 * `op` for the outbox, which reads it.
 *
 * @internal
 */
export class NormalizedOp extends Normalized {
  constructor(readonly op: string, value: Record<string, unknown>) {
    super(value)
  }
}

/**
 * The value in the form msgpack carries faithfully (see `walk`), or why it
 * cannot be sent. The result owns its containers and byte arrays (a copy):
 * it is packed later, when the stream flushes, and must be what the caller
 * had now, whatever the user does to the original meanwhile.
 *
 * @internal
 */
export const normalizeValue = (value: unknown): Normalized | string => {
  try {
    return new Normalized(walk(value, STRICT | OWN, undefined, 0))
  } catch (error) {
    return error instanceof UnsendableError ? error.describe("value") : String(error)
  }
}

/**
 * Encodes a message into frames: frame_0 (msgpack) followed by the sub-frames
 * of every {@link Serialized}, {@link Pickled}, {@link ToSerialize} and
 * {@link ToPickleBytes} in it, in the order met. Throws a TypeError only for
 * values that have no msgpack form (a defect: check user values with
 * {@link checkValue} first).
 *
 * @internal
 */
export const encodeMessage = (message: unknown): Array<Uint8Array> => {
  const frames: Array<Uint8Array> = [new Uint8Array(0)]
  let body: unknown
  try {
    body = Array.isArray(message) ? walkBatch(message, frames) : walk(message, 0, frames, 0)
  } catch (error) {
    throw error instanceof UnsendableError ? new TypeError(error.describe("message")) : error
  }
  frames[0] = packr.pack(body)
  return frames
}

// ---------------------------------------------------------------------------
// deserialize
// ---------------------------------------------------------------------------

/**
 * Bounds of {@link deserialize}.
 *
 * @internal
 */
export interface DeserializeOptions {
  /**
   * The decode budget of the message this value came in, shared by every
   * value of that message. Default: a fresh budget of `maxBytes`.
   */
  readonly budget?: DecodeBudget | undefined
  /** Limit of a fresh budget when none is given. Default `defaultMaxDecodedBytes`. */
  readonly maxBytes?: number | undefined
  /**
   * Pickles stay the reader's inert descriptors instead of plain values (for
   * readers of pickled exceptions). Default false.
   */
  readonly descriptors?: boolean | undefined
}

class DeserializeFault {
  constructor(readonly error: DecodeError) {}
}

const decodeFail = (serializer: string, message: string): never => {
  throw new DeserializeFault(new DecodeError({ serializer, message }))
}

const unwrap = <A>(either: Either.Either<A, DecodeError>): A => {
  if (Either.isLeft(either)) throw new DeserializeFault(either.left)
  return either.right
}

const concat = (frames: ReadonlyArray<Uint8Array>, budget: DecodeBudget, codec: string): Uint8Array => {
  if (frames.length === 1) return frames[0]!
  let size = 0
  for (const f of frames) size += f.length
  budget.charge(codec, size)
  const out = new Uint8Array(size)
  let offset = 0
  for (const f of frames) {
    out.set(f, offset)
    offset += f.length
  }
  return out
}

const serializerName = (header: Record<string, unknown>): string =>
  typeof header["serializer"] === "string" ? header["serializer"] : "unknown"

const intArray = (u: unknown, what: string, serializer: string): Array<number> => {
  if (!Array.isArray(u) || !u.every((n) => typeof n === "number" && Number.isInteger(n) && n >= 0)) {
    decodeFail(serializer, `${what} is not an array of non-negative integers`)
  }
  return u as Array<number>
}

/**
 * Decodes a {@link Serialized} value into a JS value (§3.2): decompression
 * (lz4; any other codec is a DecodeError naming it), merging of split frames,
 * collections, and the serializer families msgpack, pickle (the whitelist
 * reader, then plain values; any other Python object is a DecodeError naming
 * its type), dask (`bytes`, `bytearray`, `numpy.ndarray` → typed arrays, see
 * numpy.ts) and error (its text as the DecodeError's message). Everything it
 * builds is charged to the message's decode budget. Never throws.
 *
 * @internal
 */
export const deserialize = (value: Serialized, options?: DeserializeOptions): Either.Either<unknown, DecodeError> => {
  try {
    const budget = options?.budget ?? new DecodeBudget(options?.maxBytes)
    const header = value.header
    let frames: ReadonlyArray<Uint8Array> = value.frames
    if (hasOwn(header, "compression") && header["compression"] != null) {
      const compression = header["compression"]
      if (!Array.isArray(compression) || compression.length !== frames.length) {
        decodeFail(serializerName(header), "compression does not list one codec per frame")
      }
      frames = frames.map((frame, i) => {
        const codec = (compression as Array<unknown>)[i]
        if (codec === null || codec === undefined) return frame
        if (codec === "lz4") return unwrap(Lz4.decompress(frame, budget))
        return decodeFail(
          typeof codec === "string" ? codec : "unknown",
          `frames compressed with ${JSON.stringify(codec)} cannot be decompressed (supported: lz4)`
        )
      })
    }
    if (hasOwn(header, "split-num-sub-frames")) {
      const counts = intArray(header["split-num-sub-frames"], "split-num-sub-frames", serializerName(header))
      const offsets = intArray(header["split-offsets"], "split-offsets", serializerName(header))
      if (counts.length !== offsets.length) decodeFail(serializerName(header), "split-num-sub-frames and split-offsets differ in length")
      const merged: Array<Uint8Array> = []
      for (let i = 0; i < counts.length; i++) {
        const start = offsets[i]!
        const n = counts[i]!
        if (start + n > frames.length) decodeFail(serializerName(header), "split frames out of range")
        merged.push(concat(frames.slice(start, start + n), budget, serializerName(header)))
      }
      frames = merged
    }
    return Either.right(deserializeFrames(header, frames, budget, options?.descriptors === true, 0))
  } catch (error) {
    if (error instanceof DeserializeFault || error instanceof BudgetExceeded || error instanceof NumpyFault) {
      return Either.left(error.error)
    }
    return Either.left(new DecodeError({ serializer: serializerName(value.header), message: `unexpected failure: ${String(error)}` }))
  }
}

/**
 * {@link deserialize} for many values of one reply (a gather): the value or
 * its `DecodeError`, without an Either per value. A single uncompressed
 * msgpack frame (how a worker sends plain data) is decoded straight away,
 * with the same checks and charges.
 *
 * @internal
 */
export const deserializeOr = (value: Serialized, budget: DecodeBudget): unknown => {
  const header = value.header
  if (value.frames.length === 1 && (header === lastPlainHeader || isPlainMsgpack(header))) {
    // The values of a gather reply share one decoded sub-header (see `readSubFrames`): checked once.
    lastPlainHeader = header
    const decoded = decodeMsgpackOr(value.frames[0]!, budget)
    return decoded instanceof MsgpackFailure ? new DecodeError({ serializer: "msgpack", message: decoded.reason }) : decoded
  }
  const decoded = deserialize(value, { budget })
  return Either.isRight(decoded) ? decoded.right : decoded.left
}

/** The last header {@link isPlainMsgpack} accepted (headers are never written once decoded). */
let lastPlainHeader: Record<string, unknown> | undefined

/** A header of one uncompressed, unsplit msgpack frame: how a worker sends plain data. */
const isPlainMsgpack = (header: Record<string, unknown>): boolean => {
  const compression = header["compression"]
  return header["serializer"] === "msgpack" &&
    // Dask lists one codec per frame: `[null]` is uncompressed.
    (compression == null || (Array.isArray(compression) && compression.length === 1 && compression[0] == null)) &&
    // and splits it into `[1]` frame at `[0]`: the frame as is.
    (!hasOwn(header, "split-num-sub-frames") || (isOne(header["split-num-sub-frames"], 1) && isOne(header["split-offsets"], 0))) &&
    !header["is-collection"]
}

const isOne = (u: unknown, n: number): boolean => Array.isArray(u) && u.length === 1 && u[0] === n

const COLLECTION_TYPES = new Set(["list", "tuple", "set", "dict"])

const deserializeFrames = (
  header: Record<string, unknown>,
  frames: ReadonlyArray<Uint8Array>,
  budget: DecodeBudget,
  descriptors: boolean,
  depth: number
): unknown => {
  if (depth > 32) decodeFail(serializerName(header), "collections nested too deeply")
  if (hasOwn(header, "is-collection") && header["is-collection"]) {
    const type = header["type-serialized"]
    const headers = header["sub-headers"]
    const lengths = intArray(header["frame-lengths"], "frame-lengths", "collection")
    if (typeof type !== "string" || !COLLECTION_TYPES.has(type)) decodeFail("collection", `collection type ${String(type)} is not supported`)
    if (!Array.isArray(headers) || headers.length !== lengths.length) decodeFail("collection", "sub-headers and frame-lengths differ")
    budget.charge("collection", OBJECT_COST + 2 * SLOT_COST * lengths.length)
    const items: Array<unknown> = []
    const keys: Array<unknown> = []
    let start = 0
    for (let i = 0; i < lengths.length; i++) {
      const sub = (headers as Array<unknown>)[i]
      if (!isPlainObject(sub)) decodeFail("collection", "sub-header is not a map")
      const end = start + lengths[i]!
      if (end > frames.length) decodeFail("collection", "frame-lengths exceed the frames")
      const { key, ...rest } = sub as Record<string, unknown>
      keys.push(key)
      items.push(deserializeFrames(rest, frames.slice(start, end), budget, descriptors, depth + 1))
      start = end
    }
    if (type === "dict") {
      if (keys.every((k) => typeof k === "string")) {
        const object: Record<string, unknown> = {}
        keys.forEach((k, i) => defineEntry(object, k as string, items[i]))
        return object
      }
      return new Map(keys.map((k, i) => [k, items[i]] as const))
    }
    return type === "set" ? new Set(items) : items
  }
  const serializer = header["serializer"]
  switch (serializer) {
    case "msgpack": {
      const decoded = decodeMsgpack(concat(frames, budget, "msgpack"), budget)
      if (Either.isLeft(decoded)) {
        if (decoded.left instanceof DecodeError) throw new DeserializeFault(decoded.left)
        return decodeFail("msgpack", decoded.left)
      }
      return decoded.right
    }
    case "pickle": {
      if (frames.length === 0) return decodeFail("pickle", "no pickle frame")
      const read = unwrap(readPickle(frames[0]!, frames.slice(1), { budget }))
      return descriptors ? read : unwrap(toValue(read, budget))
    }
    case "dask":
      return deserializeDask(header, frames, budget)
    case "error": {
      const text = frames.map((f) => new TextDecoder().decode(f)).join("\n")
      return decodeFail("error", text.length > 0 ? text : "the sender could not serialize the value")
    }
    default:
      return decodeFail(
        typeof serializer === "string" ? serializer : "unknown",
        typeof serializer === "string" ? `serializer ${JSON.stringify(serializer)} is not supported` : "sub-header has no serializer"
      )
  }
}

/** `dask.utils.typename` of the dask family's type: `type`, else the pickled class in `type-serialized`. */
const daskTypeName = (header: Record<string, unknown>): string | undefined => {
  if (typeof header["type"] === "string") return header["type"]
  const pickled = header["type-serialized"]
  if (pickled instanceof Uint8Array) {
    const cls = readPickle(pickled)
    if (Either.isRight(cls) && cls.right instanceof PyGlobal) {
      return cls.right.module === "builtins" ? cls.right.name : cls.right.qualifiedName
    }
  }
  return undefined
}

const deserializeDask = (header: Record<string, unknown>, frames: ReadonlyArray<Uint8Array>, budget: DecodeBudget): unknown => {
  const type = daskTypeName(header)
  switch (type) {
    case "bytes":
      return concat(frames, budget, "dask")
    case "bytearray": {
      const joined = concat(frames, budget, "dask")
      budget.charge("dask", joined.length)
      return joined.slice()
    }
    case "numpy.ndarray": {
      const sub = header["sub-header"]
      if (!isPlainObject(sub)) return decodeFail("dask", "numpy.ndarray without a sub-header")
      return decodeNdarray(sub, frames, budget)
    }
    default:
      return decodeFail("dask", `dask-serialized type ${type === undefined ? "(unnamed)" : JSON.stringify(type)} is not supported`)
  }
}

/** The dask family's numpy array (`distributed/protocol/numpy.py` `serialize_numpy_ndarray`). */
const decodeNdarray = (sub: Record<string, unknown>, frames: ReadonlyArray<Uint8Array>, budget: DecodeBudget): unknown => {
  if (sub["pickle"]) return decodeFail("numpy", "numpy arrays of Python objects are pickled; not supported")
  const dtype = sub["dtype"]
  if (!Array.isArray(dtype) || dtype.length !== 2 || dtype[0] !== 0 || typeof dtype[1] !== "string") {
    return decodeFail("numpy", "numpy dtype is structured or malformed; not supported")
  }
  const parsed = parseDtype(dtype[1])
  if (frames.length !== 1) return decodeFail("numpy", "numpy array must have exactly one frame")
  const shape = intArray(Array.isArray(sub["broadcast_to"]) ? sub["broadcast_to"] : sub["shape"], "numpy shape", "numpy")
  const strides = sub["strides"]
  if (strides === undefined || strides === null) {
    return readArray(parsed, shape, contiguousStrides(shape, parsed.itemsize, false), frames[0]!, budget)
  }
  if (!Array.isArray(strides) || strides.length !== shape.length || !strides.every((s) => typeof s === "number" && Number.isInteger(s))) {
    return decodeFail("numpy", "numpy strides do not match the shape")
  }
  return readArray(parsed, shape, strides as Array<number>, frames[0]!, budget)
}

/**
 * Reads a {@link Pickled} value with the whitelist reader, as inert
 * descriptors (for readers of pickled exceptions).
 *
 * @internal
 */
export const unpickle = (value: Pickled, budget?: DecodeBudget): Either.Either<unknown, DecodeError> => {
  const pickled = value.header["pickled-obj"]
  if (!(pickled instanceof Uint8Array)) {
    return Either.left(new DecodeError({ serializer: "pickle", message: "__Pickled__ without pickled-obj" }))
  }
  return readPickle(pickled, value.frames, { budget })
}
