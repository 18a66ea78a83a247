/**
 * Values held by a Node worker, as Python peers and clients read them
 * (worker protocol §7.3). A JS result is stored as a `Serialized` that
 * Python decodes with its own readers:
 *
 * - a top-level typed array (Float64Array, Int32Array, …) or Uint8Array:
 *   the `dask` family `bytes` (one raw frame, no copy), with the element type
 *   in a header field Python ignores, so a Node peer gets the typed array back;
 * - anything else: msgpack (arrays → tuples, plain objects → dicts, Map →
 *   dict, bigint within 64 bits → int, nested Uint8Array → bytes,
 *   `undefined` → None).
 *
 * Values from Python peers decode with the client's safe readers
 * (`deserialize`: msgpack, whitelist pickle, dask bytes/numpy) under a byte
 * budget. `nbytes` is the size of what is held.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type { DecodeError } from "../../Errors.js"
import { DecodeBudget } from "../wire/budget.js"
import { deserialize, encodeMsgpack, Serialized } from "../wire/message.js"
import { pickleGlobal } from "../wire/pickle.js"

/** A value in the worker's store: its wire form, its size, and (lazily) its JS value. */
export interface Stored {
  readonly serialized: Serialized
  readonly nbytes: number
  /** `typename` of `task-finished`. */
  readonly typename: string
  /** Decoded value; `undefined` until first needed (values from peers). */
  value: unknown
  decoded: boolean
}

const typePickles = new Map<string, Uint8Array>()
/** The pickle of `builtins.<name>` (`task-finished.type`), cached. @internal */
export const typePickle = (name: string): Uint8Array | null => {
  if (name === "NoneType") return null
  let bytes = typePickles.get(name)
  if (bytes === undefined) {
    bytes = pickleGlobal("builtins", name)
    typePickles.set(name, bytes)
  }
  return bytes
}

const TYPED_ARRAYS = {
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array
} as const
type TypedName = keyof typeof TYPED_ARRAYS

/** Header field carrying a typed array's element type (Python's `deserialize` ignores unknown header keys). */
const TYPED_FIELD = "effect-dask-typed"

const BYTES_HEADER = (typed: string | undefined): Record<string, unknown> => ({
  serializer: "dask",
  type: "bytes",
  "type-serialized": typePickle("bytes"),
  "sub-header": {},
  ...(typed !== undefined ? { [TYPED_FIELD]: typed } : {})
})

/** Python's type name of what msgpack makes of a JS value. */
const pythonTypeName = (value: unknown): string => {
  switch (typeof value) {
    case "number":
      return Number.isInteger(value) ? "int" : "float"
    case "bigint":
      return "int"
    case "string":
      return "str"
    case "boolean":
      return "bool"
    case "undefined":
      return "NoneType"
    default:
      if (value === null) return "NoneType"
      if (value instanceof Uint8Array) return "bytes"
      if (Array.isArray(value)) return "tuple"
      return "dict"
  }
}

/**
 * Stores a JS result: its Python-readable wire form. Fails (with a reason)
 * for values msgpack cannot carry (functions, class instances, …).
 *
 * @internal
 */
export const storeResult = (value: unknown): Either.Either<Stored, string> => {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    const typed = value instanceof Uint8Array ? undefined : (value.constructor.name as TypedName)
    return Either.right({
      serialized: new Serialized(BYTES_HEADER(typed), [bytes]),
      nbytes: bytes.byteLength,
      typename: "bytes",
      value,
      decoded: true
    })
  }
  try {
    const frame = encodeMsgpack(value)
    return Either.right({
      serialized: new Serialized({ serializer: "msgpack" }, [frame]),
      nbytes: frame.byteLength,
      typename: pythonTypeName(value),
      value: value === undefined ? null : value,
      decoded: true
    })
  } catch (error) {
    return Either.left(error instanceof Error ? error.message : String(error))
  }
}

const frameBytes = (s: Serialized): number => {
  let n = 0
  for (const f of s.frames) n += f.byteLength
  return n
}

/**
 * Stores a value received from a peer or a client (`get_data`, `update_data`)
 * as received: served byte for byte, decoded only when a JS task needs it.
 *
 * @internal
 */
export const storeReceived = (serialized: Serialized, nbytes?: number): Stored => ({
  serialized,
  nbytes: typeof nbytes === "number" && Number.isFinite(nbytes) && nbytes >= 0 ? nbytes : frameBytes(serialized),
  typename: "object",
  value: undefined,
  decoded: false
})

/**
 * The JS value of a stored entry, decoded on first use with the client's safe
 * readers and a decode budget of `maxBytes` (budget.ts).
 *
 * @internal
 */
export const valueOf = (stored: Stored, maxBytes: number): Either.Either<unknown, DecodeError> => {
  if (stored.decoded) return Either.right(stored.value)
  const header = stored.serialized.header
  const typed = header[TYPED_FIELD]
  const decoded = deserialize(stored.serialized, { budget: new DecodeBudget(maxBytes) })
  if (Either.isLeft(decoded)) return decoded
  let value = decoded.right
  if (typeof typed === "string" && Object.prototype.hasOwnProperty.call(TYPED_ARRAYS, typed) && value instanceof Uint8Array) {
    const Ctor = TYPED_ARRAYS[typed as TypedName]
    let bytes = value
    // A typed view needs an aligned offset: copy when the frame is not aligned.
    if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT !== 0 || bytes.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
      if (bytes.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) return Either.right(bytes)
      bytes = bytes.slice()
    }
    value = new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT)
  }
  stored.value = value
  stored.decoded = true
  return Either.right(value)
}
