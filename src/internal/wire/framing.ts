/**
 * Dask TCP framing (`distributed/comm/tcp.py`): one message is
 * `u64 total | u64 n | n × u64 length | frames…`, little-endian, where
 * `total = 8 + 8n + Σ length`. Pure: bytes in, frames or a typed error out.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { ProtocolError } from "../../Errors.js"

const TWO_32 = 0x1_0000_0000

/**
 * Frames one message.
 *
 * @internal
 */
export const encodeFrames = (frames: ReadonlyArray<Uint8Array>): Uint8Array => {
  const n = frames.length
  let body = 0
  for (let i = 0; i < n; i++) body += frames[i]!.length
  const prelude = 8 + 8 * n
  const out = new Uint8Array(8 + prelude + body)
  const view = new DataView(out.buffer)
  writeU64(view, 0, prelude + body)
  writeU64(view, 8, n)
  let offset = 16
  for (let i = 0; i < n; i++) {
    writeU64(view, offset, frames[i]!.length)
    offset += 8
  }
  for (let i = 0; i < n; i++) {
    out.set(frames[i]!, offset)
    offset += frames[i]!.length
  }
  return out
}

const writeU64 = (view: DataView, offset: number, value: number): void => {
  view.setUint32(offset, value % TWO_32, true)
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true)
}

/**
 * Options of a {@link FrameReader}.
 *
 * @internal
 */
export interface FrameReaderOptions {
  /** Largest accepted `total` (bytes after the first u64). Checked before anything is buffered for the message. */
  readonly maxMessageBytes: number
}

/**
 * Incremental reader: feed socket chunks, get complete messages (each as its
 * frames). Sizes are validated from the prelude before the body is
 * assembled; after an error the reader stays failed (close the comm).
 *
 * @internal
 */
export class FrameReader {
  private readonly maxMessageBytes: number
  private chunks: Array<Uint8Array> = []
  private buffered = 0
  private total = -1
  private count = -1
  private lengths: Array<number> | undefined = undefined
  private failure: ProtocolError | undefined = undefined

  constructor(options: FrameReaderOptions) {
    this.maxMessageBytes = options.maxMessageBytes
  }

  /** Bytes buffered for messages not yet complete. */
  get pendingBytes(): number {
    return this.buffered
  }

  push(chunk: Uint8Array): Either.Either<ReadonlyArray<ReadonlyArray<Uint8Array>>, ProtocolError> {
    if (this.failure !== undefined) return Either.left(this.failure)
    if (chunk.length > 0) {
      this.chunks.push(chunk)
      this.buffered += chunk.length
    }
    const messages: Array<ReadonlyArray<Uint8Array>> = []
    for (;;) {
      const step = this.step()
      if (step === undefined) break
      if (step instanceof ProtocolError) {
        this.failure = step
        this.chunks = []
        this.buffered = 0
        return Either.left(step)
      }
      messages.push(step)
    }
    return Either.right(messages)
  }

  private step(): ReadonlyArray<Uint8Array> | ProtocolError | undefined {
    if (this.total < 0) {
      if (this.buffered < 8) return undefined
      const total = this.readU64(0)
      if (total > this.maxMessageBytes) {
        return new ProtocolError({
          reason: "FrameTooLarge",
          message: `message of ${describe(total)} bytes exceeds the bound of ${this.maxMessageBytes} bytes`
        })
      }
      if (total < 16) return malformed(`total length ${total} cannot hold a frame count and one frame length`)
      this.total = total
    }
    if (this.count < 0) {
      if (this.buffered < 16) return undefined
      const count = this.readU64(8)
      // Every message carries at least frame_0 (the msgpack body).
      if (count < 1 || count > (this.total - 8) / 8) {
        return malformed(`frame count ${describe(count)} does not fit a message of ${this.total} bytes`)
      }
      this.count = count
    }
    if (this.lengths === undefined) {
      const preludeEnd = 16 + 8 * this.count
      if (this.buffered < preludeEnd) return undefined
      const raw = this.copyOut(16, 8 * this.count)
      const lengths: Array<number> = new Array(this.count)
      // The declared length covers the prelude and every frame (2022.12), or only the
      // frames before the first uncompressed buffer (2024.12, distributed/comm/tcp.py
      // `_add_frames_header`), the rest following as the prelude lists them. Either way
      // it ends on a frame boundary; the prelude gives the real size.
      const prelude = 8 + 8 * this.count
      let boundary = this.total === prelude
      let sum = 0
      for (let i = 0; i < this.count; i++) {
        const length = u64(raw, 8 * i)
        sum += length
        lengths[i] = length
        if (prelude + sum === this.total) boundary = true
        if (prelude + sum > this.maxMessageBytes) {
          return boundary
            ? new ProtocolError({
              reason: "FrameTooLarge",
              message: `message of more than ${this.maxMessageBytes} bytes (by its frame lengths) exceeds the bound`
            })
            : malformed(`frame lengths exceed the ${this.total} bytes declared`)
        }
      }
      if (!boundary) return malformed(`declared length ${this.total} does not end on a frame boundary (frames sum to ${sum})`)
      this.total = prelude + sum
      this.lengths = lengths
    }
    const size = 8 + this.total
    if (this.buffered < size) return undefined
    const message = this.consume(size)
    const frames: Array<Uint8Array> = new Array(this.count)
    let offset = 16 + 8 * this.count
    for (let i = 0; i < this.count; i++) {
      const length = this.lengths[i]!
      frames[i] = message.subarray(offset, offset + length)
      offset += length
    }
    this.total = -1
    this.count = -1
    this.lengths = undefined
    return frames
  }

  private readU64(offset: number): number {
    const first = this.chunks[0]!
    // The usual case reads in place: no copy, no DataView per message.
    return offset + 8 <= first.length ? u64(first, offset) : u64(this.copyOut(offset, 8), 0)
  }

  /** Copies `length` bytes at `offset` of the buffered input, across chunks. */
  private copyOut(offset: number, length: number): Uint8Array {
    const first = this.chunks[0]!
    if (offset + length <= first.length) return first.subarray(offset, offset + length)
    const out = new Uint8Array(length)
    let written = 0
    let skip = offset
    for (const chunk of this.chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length
        continue
      }
      const n = Math.min(chunk.length - skip, length - written)
      out.set(chunk.subarray(skip, skip + n), written)
      written += n
      skip = 0
      if (written === length) break
    }
    return out
  }

  /** Removes `size` bytes from the front of the buffer; no copy when one chunk holds them. */
  private consume(size: number): Uint8Array {
    const first = this.chunks[0]!
    let out: Uint8Array
    if (first.length >= size) {
      out = first.subarray(0, size)
      if (first.length === size) this.chunks.shift()
      else this.chunks[0] = first.subarray(size)
    } else {
      out = new Uint8Array(size)
      let written = 0
      while (written < size) {
        const chunk = this.chunks[0]!
        const n = Math.min(chunk.length, size - written)
        out.set(chunk.subarray(0, n), written)
        written += n
        if (n === chunk.length) this.chunks.shift()
        else this.chunks[0] = chunk.subarray(n)
      }
    }
    this.buffered -= size
    return out
  }
}

/** A little-endian u64 as a number; values of 2^53 and above come back as `Infinity` (always over any bound). */
const u64 = (b: Uint8Array, offset: number): number => {
  const lo = (b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16)) + b[offset + 3]! * 0x100_0000
  const hi = (b[offset + 4]! | (b[offset + 5]! << 8) | (b[offset + 6]! << 16)) + b[offset + 7]! * 0x100_0000
  return hi >= 0x20_0000 ? Infinity : hi * TWO_32 + lo
}

const describe = (n: number): string => (n === Infinity ? "≥ 2^53" : String(n))

const malformed = (message: string) => new ProtocolError({ reason: "MalformedFrame", message })
