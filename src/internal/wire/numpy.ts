/**
 * numpy data in JS: one reader of dtypes, scalars and arrays, used for the
 * dask family's `numpy.ndarray` frames and for pickled numpy scalars and
 * arrays alike. Bytes in, values or a typed error out.
 *
 * What a user gets (also in the README):
 * - `b1` (bool): `boolean` (arrays: JS arrays of booleans);
 * - `i1 u1 i2 u2 i4 u4 f4 f8`: `number` (arrays: `Int8Array`, `Uint8Array`,
 *   `Int16Array`, `Uint16Array`, `Int32Array`, `Uint32Array`, `Float32Array`,
 *   `Float64Array`);
 * - `i8 u8`: scalars `number` when safe, else `bigint` (arrays:
 *   `BigInt64Array`, `BigUint64Array`);
 * - `f2`: `number` (arrays: `Float32Array`, widened);
 * - `S<n>`: `Uint8Array` (trailing NULs stripped); `U<n>`: `string` (arrays:
 *   JS arrays of those);
 * - anything else (complex, datetime64, object, structured): a DecodeError.
 *
 * An array of one dimension is a typed array; of more, nested JS arrays whose
 * innermost level (the last axis) is a typed array; of zero, the scalar. A
 * typed array is a view of the received bytes when the last axis is
 * contiguous, aligned and little-endian, else a copy. Everything built is
 * charged to the decode budget first, at its full size: a broadcast
 * (stride-0) array of 16 Mi elements costs what 16 Mi elements cost.
 *
 * @internal
 */
import { DecodeError } from "../../Errors.js"
import { type DecodeBudget, OBJECT_COST, SLOT_COST, STRING_COST } from "./budget.js"

/**
 * A decode failure inside a codec; its entry point returns the error.
 *
 * @internal
 */
export class NumpyFault {
  constructor(readonly error: DecodeError) {}
}

const fail = (message: string): never => {
  throw new NumpyFault(new DecodeError({ serializer: "numpy", message }))
}

type Kind = "b" | "i" | "u" | "f" | "S" | "U"

/**
 * A parsed simple dtype.
 *
 * @internal
 */
export interface Dtype {
  readonly text: string
  readonly kind: Kind
  /** Bytes of one element. */
  readonly itemsize: number
  /** `S`/`U`: characters; otherwise the itemsize. */
  readonly size: number
  readonly little: boolean
}

const DTYPE = /^([<>|=])?([biufUS])(\d{1,6})$/
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/**
 * Parses a dtype string (`"<f8"`, `"|S1"`, `"i8"` with an optional byte
 * order); an unsupported one fails naming it.
 *
 * @internal
 */
export const parseDtype = (text: string, byteOrder?: string): Dtype => {
  const match = DTYPE.exec(text)
  if (match === null) return fail(`numpy dtype ${JSON.stringify(text)} is not supported`)
  const order = byteOrder ?? match[1] ?? "="
  const kind = match[2] as Kind
  const size = Number(match[3])
  const itemsize = kind === "U" ? 4 * size : size
  const known = kind === "S" || kind === "U"
    ? size > 0
    : kind === "b"
    ? size === 1
    : kind === "f"
    ? size === 2 || size === 4 || size === 8
    : size === 1 || size === 2 || size === 4 || size === 8
  if (!known) return fail(`numpy dtype ${JSON.stringify(text)} is not supported`)
  const little = order === "<" || order === "|" || (order === "=" && LITTLE_ENDIAN)
  return { text, kind, itemsize, size, little }
}

const safeBig = (v: bigint): number | bigint =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v

const float16 = (bits: number): number => {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const fraction = bits & 0x3ff
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024)
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
}

/** Bytes a decoded scalar of this dtype takes in JS (beyond its slot). */
const elementCost = (dtype: Dtype): number =>
  dtype.kind === "S" ? OBJECT_COST + dtype.size : dtype.kind === "U" ? STRING_COST + 2 * dtype.size : 0

/**
 * Reads one element at `offset` (bounds checked by the caller).
 *
 * @internal
 */
export const readElement = (dtype: Dtype, view: DataView, offset: number): unknown => {
  const little = dtype.little
  switch (dtype.kind) {
    case "b":
      return view.getUint8(offset) !== 0
    case "i":
      return dtype.size === 1
        ? view.getInt8(offset)
        : dtype.size === 2
        ? view.getInt16(offset, little)
        : dtype.size === 4
        ? view.getInt32(offset, little)
        : safeBig(view.getBigInt64(offset, little))
    case "u":
      return dtype.size === 1
        ? view.getUint8(offset)
        : dtype.size === 2
        ? view.getUint16(offset, little)
        : dtype.size === 4
        ? view.getUint32(offset, little)
        : safeBig(view.getBigUint64(offset, little))
    case "f":
      return dtype.size === 2
        ? float16(view.getUint16(offset, little))
        : dtype.size === 4
        ? view.getFloat32(offset, little)
        : view.getFloat64(offset, little)
    case "S": {
      let end = dtype.size
      while (end > 0 && view.getUint8(offset + end - 1) === 0) end--
      return new Uint8Array(view.buffer, view.byteOffset + offset, end).slice()
    }
    case "U": {
      let s = ""
      for (let i = 0; i < dtype.size; i++) {
        const c = view.getUint32(offset + 4 * i, little)
        if (c === 0) break
        if (c > 0x10ffff) return fail("invalid code point in a numpy unicode value")
        s += String.fromCodePoint(c)
      }
      return s
    }
  }
}

/**
 * A numpy scalar (`numpy.core.multiarray.scalar(dtype, bytes)`) as a JS value.
 *
 * @internal
 */
export const readScalar = (dtype: Dtype, bytes: Uint8Array, budget: DecodeBudget): unknown => {
  if (bytes.length !== dtype.itemsize) {
    return fail(`numpy scalar of dtype ${dtype.text} has ${bytes.length} bytes, ${dtype.itemsize} expected`)
  }
  budget.charge("numpy", elementCost(dtype))
  return readElement(dtype, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0)
}

type TypedArrayCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor

const typedArrayOf = (dtype: Dtype): TypedArrayCtor | undefined => {
  switch (dtype.kind) {
    case "i":
      return dtype.size === 1 ? Int8Array : dtype.size === 2 ? Int16Array : dtype.size === 4 ? Int32Array : BigInt64Array
    case "u":
      return dtype.size === 1 ? Uint8Array : dtype.size === 2 ? Uint16Array : dtype.size === 4 ? Uint32Array : BigUint64Array
    case "f":
      return dtype.size === 2 ? Float32Array : dtype.size === 4 ? Float32Array : Float64Array
    default:
      return undefined
  }
}

const MAX_DIMENSIONS = 64

/**
 * An array of `shape` and byte `strides` over `data` (strides honoured,
 * every element inside `data`), charged to `budget` at its full decoded size
 * before anything is built.
 *
 * @internal
 */
export const readArray = (
  dtype: Dtype,
  shape: ReadonlyArray<number>,
  strides: ReadonlyArray<number>,
  data: Uint8Array,
  budget: DecodeBudget
): unknown => {
  if (shape.length > MAX_DIMENSIONS) return fail("numpy array has too many dimensions")
  if (strides.length !== shape.length) return fail("numpy strides do not match the shape")
  const itemsize = dtype.itemsize
  const typed = typedArrayOf(dtype)
  const last = shape.length - 1
  // The whole cost first: nested arrays down to the last axis, then the elements.
  let count = 1
  let outer = 1
  let cost = 0
  for (let i = 0; i < shape.length; i++) {
    if (i < last) {
      outer *= shape[i]!
      cost += outer * (OBJECT_COST + SLOT_COST)
    }
    count *= shape[i]!
  }
  if (!Number.isFinite(count) || !Number.isFinite(cost)) {
    return fail(`numpy array of shape [${shape.join(", ")}] is too large`)
  }
  const perElement = typed !== undefined ? (dtype.kind === "f" && dtype.size === 2 ? 4 : itemsize) : SLOT_COST + elementCost(dtype)
  budget.charge("numpy", cost + count * perElement + (shape.length > 0 ? outer * OBJECT_COST : 0))
  let min = 0
  let max = 0
  for (let i = 0; i < shape.length; i++) {
    const extent = (shape[i]! - 1) * strides[i]!
    if (extent > 0) max += extent
    else min += extent
  }
  if (count > 0 && (min < 0 || max + itemsize > data.length)) return fail("numpy strides reach outside the data frame")
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  if (shape.length === 0) return readElement(dtype, view, 0)

  const n = shape[last]!
  const step = strides[last]!
  const leaf = (offset: number): unknown => {
    if (typed === undefined) {
      const out: Array<unknown> = new Array(n)
      for (let i = 0; i < n; i++) out[i] = readElement(dtype, view, offset + i * step)
      return out
    }
    const start = data.byteOffset + offset
    const isHalf = dtype.kind === "f" && dtype.size === 2
    if (!isHalf && step === itemsize && dtype.little === LITTLE_ENDIAN && start % itemsize === 0) {
      return new typed(data.buffer as ArrayBuffer, start, n)
    }
    const out = new typed(n) as unknown as Array<unknown>
    const little = dtype.little
    if (dtype.size === 8 && dtype.kind !== "f") {
      // readElement gives a number for safe 64-bit integers; a BigInt array needs bigint.
      for (let i = 0; i < n; i++) {
        out[i] = dtype.kind === "i" ? view.getBigInt64(offset + i * step, little) : view.getBigUint64(offset + i * step, little)
      }
    } else {
      for (let i = 0; i < n; i++) out[i] = readElement(dtype, view, offset + i * step)
    }
    return out
  }
  const build = (dim: number, offset: number): unknown => {
    if (dim === last) return leaf(offset)
    const m = shape[dim]!
    const out: Array<unknown> = new Array(m)
    for (let i = 0; i < m; i++) out[i] = build(dim + 1, offset + i * strides[dim]!)
    return out
  }
  return build(0, 0)
}

/**
 * C-order (or Fortran-order) strides of a contiguous array.
 *
 * @internal
 */
export const contiguousStrides = (shape: ReadonlyArray<number>, itemsize: number, fortran: boolean): Array<number> => {
  const strides: Array<number> = new Array(shape.length)
  let stride = itemsize
  if (fortran) {
    for (let i = 0; i < shape.length; i++) {
      strides[i] = stride
      stride *= shape[i]!
    }
  } else {
    for (let i = shape.length - 1; i >= 0; i--) {
      strides[i] = stride
      stride *= shape[i]!
    }
  }
  return strides
}
