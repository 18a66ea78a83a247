/**
 * LZ4 block codec for Dask's `"lz4"` frame compression (python-lz4
 * `lz4.block.compress(data)` with the default `store_size=True`: a 4-byte
 * little-endian uncompressed size, then one raw LZ4 block).
 *
 * Why no npm package: the candidates were `lz4` (compiles with node-gyp at
 * install time), `lz4js` (pure JS, last release 0.2.0, unmaintained),
 * `lz4-napi` (native prebuilt per-platform binaries) and `lz4-wasm-nodejs`
 * (a WASM build). Dask only needs block *decompression* of untrusted frames,
 * and we must check the declared size against our bound before allocating
 * and bounds-check every copy; the packages either allocate the declared size
 * themselves or run native code on hostile input. The decoder is ~40 lines of
 * plain TypeScript, has no install step, runs wherever Node 20 runs, and is
 * fuzzed with the other codecs. A small greedy compressor is included so
 * tests can round-trip; Dask clients never compress (they advertise
 * `compression: null`).
 *
 * @internal
 */
import * as Either from "effect/Either"
import { DecodeError } from "../../Errors.js"
import { BudgetExceeded, type DecodeBudget } from "./budget.js"

const MIN_MATCH = 4

/**
 * Decodes one raw LZ4 block into `dst`. Returns the number of bytes written,
 * or a reason when the block is malformed or does not fit.
 *
 * @internal
 */
export const decodeBlock = (src: Uint8Array, dst: Uint8Array): number | string => {
  const srcEnd = src.length
  const dstEnd = dst.length
  let s = 0
  let d = 0
  while (s < srcEnd) {
    const token = src[s++]!
    let literals = token >>> 4
    if (literals === 15) {
      let b: number
      do {
        if (s >= srcEnd) return "truncated literal length"
        b = src[s++]!
        literals += b
      } while (b === 255)
    }
    if (literals > srcEnd - s) return "literals run past the input"
    if (literals > dstEnd - d) return "literals run past the declared size"
    if (literals < 32) {
      for (let i = 0; i < literals; i++) dst[d++] = src[s++]!
    } else {
      dst.set(src.subarray(s, s + literals), d)
      s += literals
      d += literals
    }
    if (s === srcEnd) break // the last sequence has literals only
    if (srcEnd - s < 2) return "truncated match offset"
    const offset = src[s]! | (src[s + 1]! << 8)
    s += 2
    if (offset === 0 || offset > d) return "match offset outside the output"
    let length = token & 15
    if (length === 15) {
      let b: number
      do {
        if (s >= srcEnd) return "truncated match length"
        b = src[s++]!
        length += b
      } while (b === 255)
    }
    length += MIN_MATCH
    if (length > dstEnd - d) return "match runs past the declared size"
    // Overlapping matches repeat a period of `offset` bytes: copy in chunks
    // that never overlap, doubling as the copied run grows.
    const from = d - offset
    while (length > 0) {
      const n = Math.min(length, d - from)
      dst.copyWithin(d, from, from + n)
      d += n
      length -= n
    }
  }
  return d
}

/**
 * Decompresses python-lz4's size-prefixed block format. The declared size is
 * checked against `maxBytes` (a number, or a message's decode budget, which
 * is then charged) before anything is allocated, and the block must produce
 * exactly that many bytes.
 *
 * @internal
 */
export const decompress = (data: Uint8Array, maxBytes: number | DecodeBudget): Either.Either<Uint8Array, DecodeError> => {
  if (data.length < 4) return Either.left(lz4Error("frame shorter than its 4-byte size prefix"))
  const size = (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0
  if (size > 0x7fffffff) return Either.left(lz4Error(`declared size ${size} is negative as a C int`))
  if (typeof maxBytes === "number") {
    if (size > maxBytes) return Either.left(lz4Error(`declared size ${size} exceeds the bound of ${maxBytes} bytes`))
  } else {
    try {
      maxBytes.charge("lz4", size)
    } catch (error) {
      if (error instanceof BudgetExceeded) return Either.left(error.error)
      throw error
    }
  }
  const out = new Uint8Array(size)
  const written = decodeBlock(data.subarray(4), out)
  if (typeof written === "string") return Either.left(lz4Error(written))
  if (written !== size) return Either.left(lz4Error(`block decoded to ${written} bytes, ${size} declared`))
  return Either.right(out)
}

const lz4Error = (message: string) => new DecodeError({ serializer: "lz4", message })

const HASH_LOG = 16
const MFLIMIT = 12 // the last match must start at least 12 bytes before the end
const LAST_LITERALS = 5 // the last 5 bytes are always literals
const MAX_OFFSET = 65535

const writeLength = (out: Array<number>, n: number): void => {
  while (n >= 255) {
    out.push(255)
    n -= 255
  }
  out.push(n)
}

/**
 * Compresses into one raw LZ4 block (greedy, 4-byte hash). Follows the block
 * format's end-of-block rules so reference decoders accept it.
 *
 * @internal
 */
export const encodeBlock = (src: Uint8Array): Uint8Array => {
  const out: Array<number> = []
  const table = new Int32Array(1 << HASH_LOG).fill(-1)
  const len = src.length
  const matchLimit = len - MFLIMIT
  let anchor = 0
  let i = 0
  const read32 = (p: number) => (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0
  const emit = (literalEnd: number, matchLength: number, offset: number) => {
    const literals = literalEnd - anchor
    const tokenIndex = out.length
    out.push(0)
    let token = (literals >= 15 ? 15 : literals) << 4
    if (literals >= 15) writeLength(out, literals - 15)
    for (let k = anchor; k < literalEnd; k++) out.push(src[k]!)
    if (matchLength > 0) {
      out.push(offset & 0xff, offset >>> 8)
      const m = matchLength - MIN_MATCH
      token |= m >= 15 ? 15 : m
      if (m >= 15) writeLength(out, m - 15)
    }
    out[tokenIndex] = token
  }
  while (i < matchLimit) {
    const sequence = read32(i)
    const h = Math.imul(sequence, 2654435761) >>> (32 - HASH_LOG)
    const candidate = table[h]!
    table[h] = i
    if (candidate >= 0 && i - candidate <= MAX_OFFSET && read32(candidate) === sequence) {
      let m = MIN_MATCH
      const maxMatch = len - LAST_LITERALS - i
      while (m < maxMatch && src[candidate + m] === src[i + m]) m++
      emit(i, m, i - candidate)
      i += m
      anchor = i
    } else {
      i++
    }
  }
  emit(len, 0, 0)
  return Uint8Array.from(out)
}

/**
 * Compresses into python-lz4's size-prefixed block format.
 *
 * @internal
 */
export const compress = (data: Uint8Array): Uint8Array => {
  const block = encodeBlock(data)
  const out = new Uint8Array(4 + block.length)
  new DataView(out.buffer).setUint32(0, data.length, true)
  out.set(block, 4)
  return out
}
