/**
 * Socket reads straight into slabs, through `net.connect`'s `onread`: no
 * Readable stream machinery per read (no push, `data` event or next-tick
 * per chunk; about 5 µs less CPU per read, and a Dask stream under load is
 * thousands of small reads). Each read lands in the free rest of the current
 * slab. A chunk once handed out is never written again (decoded values may
 * keep views of its bytes, as of any socket chunk); a slab with less than
 * `READ_MIN` bytes left is replaced by a new one.
 *
 * @internal
 */
import type * as Net from "node:net"

const SLAB = 64 * 1024
const READ_MIN = 16 * 1024

/** The `onread` option of a socket whose chunks go to `onChunk`, in order. @internal */
export const slabReads = (onChunk: (chunk: Uint8Array) => void): Net.OnReadOpts => {
  let slab = Buffer.allocUnsafe(SLAB)
  let used = 0
  return {
    // Called once for the first read, then after each callback: the region the next read fills.
    buffer: () => {
      if (SLAB - used < READ_MIN) {
        slab = Buffer.allocUnsafe(SLAB)
        used = 0
      }
      return slab.subarray(used)
    },
    callback: (bytes, buffer) => {
      used += bytes
      onChunk(buffer.subarray(0, bytes))
      return true
    }
  }
}
