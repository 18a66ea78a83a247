/**
 * A Dask comm on a raw `node:net` socket, in either role: the listener
 * (a worker's server, which speaks its handshake first) or the connector.
 * Callback-driven and allocation-light, for a worker's hot paths: messages
 * are decoded with the shared codecs and handed to `onMessage` in order;
 * large frames are written without being copied into one buffer.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as net from "node:net"
import { DecodeBudget, defaultMaxDecodedBytes } from "./budget.js"
import { FrameReader } from "./framing.js"
import { decodeMessage, encodeMessage } from "./message.js"

/** What a comm tells its peer: no compression, pickle protocol 5. @internal */
export const HELLO = { compression: null, python: [3, 11, 2], "pickle-protocol": 5 } as const

/** @internal */
export interface CommOptions {
  readonly maxMessageBytes: number
  /** Decode budget of each message (see budget.ts). Default `defaultMaxDecodedBytes`. */
  readonly maxDecodedBytes?: number | undefined
  /** Listener side: write the handshake first. */
  readonly listener: boolean
  readonly onMessage: (message: unknown) => void
  /** Called once when the comm ends; `error` is a description, undefined for a clean EOF or local close. */
  readonly onClose?: ((error: string | undefined) => void) | undefined
}

const TWO_32 = 0x1_0000_0000

/** The prelude of one message: `u64 total | u64 n | n × u64 length`. */
const prelude = (frames: ReadonlyArray<Uint8Array>): Buffer => {
  const n = frames.length
  const out = Buffer.allocUnsafe(16 + 8 * n)
  let total = 8 + 8 * n
  for (let i = 0; i < n; i++) total += frames[i]!.byteLength
  out.writeUInt32LE(total % TWO_32, 0)
  out.writeUInt32LE(Math.floor(total / TWO_32), 4)
  out.writeUInt32LE(n, 8)
  out.writeUInt32LE(0, 12)
  for (let i = 0; i < n; i++) {
    const len = frames[i]!.byteLength
    out.writeUInt32LE(len % TWO_32, 16 + 8 * i)
    out.writeUInt32LE(Math.floor(len / TWO_32), 20 + 8 * i)
  }
  return out
}

/** Frames this small are copied into the prelude's write; larger ones are written as they are. */
const INLINE = 64 * 1024

/** @internal */
export class Comm {
  private readonly reader: FrameReader
  private handshaken = false
  private ended = false
  private helloResolve!: (hello: unknown) => void
  private helloReject!: (error: Error) => void
  /** The peer's handshake message. */
  readonly hello: Promise<unknown>
  readonly peer: string

  constructor(readonly socket: net.Socket, private readonly options: CommOptions) {
    this.reader = new FrameReader({ maxMessageBytes: options.maxMessageBytes })
    this.peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`
    this.hello = new Promise((resolve, reject) => {
      this.helloResolve = resolve
      this.helloReject = reject
    })
    this.hello.catch(() => {})
    socket.setNoDelay(true)
    socket.on("data", (chunk) => this.onData(chunk))
    socket.on("error", (error) => this.end(error.message))
    socket.on("close", () => this.end(undefined))
    if (options.listener) this.write(HELLO)
  }

  get closed(): boolean {
    return this.ended
  }

  private onData(chunk: Uint8Array): void {
    if (this.ended) return
    const pushed = this.reader.push(chunk)
    if (Either.isLeft(pushed)) return this.fail(pushed.left.message)
    const messages = pushed.right
    for (let i = 0; i < messages.length; i++) {
      // One decode budget per message, as the client's comms (budget.ts).
      const decoded = decodeMessage(messages[i]!, new DecodeBudget(this.options.maxDecodedBytes ?? defaultMaxDecodedBytes))
      if (Either.isLeft(decoded)) return this.fail(decoded.left.message)
      if (this.handshaken) {
        this.options.onMessage(decoded.right)
        if (this.ended) return
      } else {
        const hello = decoded.right
        const ok = typeof hello === "object" && hello !== null && "pickle-protocol" in hello
        if (!ok) return this.fail("the peer did not start with a Dask handshake")
        this.handshaken = true
        if (!this.options.listener) this.write(HELLO)
        this.helloResolve(hello)
      }
    }
  }

  private fail(message: string): void {
    this.end(message)
    this.socket.destroy()
  }

  private end(error: string | undefined): void {
    if (this.ended) return
    this.ended = true
    this.helloReject(new Error(error ?? "the comm closed before the handshake"))
    this.options.onClose?.(error)
  }

  /** Encodes and writes one message; a no-op after the comm ended. Throws a TypeError for an unencodable value. */
  write(message: unknown): void {
    if (this.ended) return
    const frames = encodeMessage(message)
    const head = prelude(frames)
    const socket = this.socket
    let small = head.byteLength
    let allSmall = true
    for (let i = 0; i < frames.length; i++) {
      if (frames[i]!.byteLength > INLINE) allSmall = false
      small += frames[i]!.byteLength
    }
    if (allSmall) {
      const out = Buffer.allocUnsafe(small)
      head.copy(out, 0)
      let offset = head.byteLength
      for (let i = 0; i < frames.length; i++) {
        out.set(frames[i]!, offset)
        offset += frames[i]!.byteLength
      }
      socket.write(out)
      return
    }
    socket.cork()
    socket.write(head)
    for (let i = 0; i < frames.length; i++) socket.write(frames[i]!)
    process.nextTick(() => socket.uncork())
  }

  /** Closes the socket (after pending writes). */
  close(): void {
    if (this.ended) return
    this.socket.end()
    this.end(undefined)
  }

  /** Drops the socket at once. */
  destroy(): void {
    this.socket.destroy()
    this.end(undefined)
  }
}

/**
 * Connects to `host:port` and completes the handshake.
 *
 * @internal
 */
export const connect = (
  host: string,
  port: number,
  options: Omit<CommOptions, "listener"> & { readonly timeoutMs: number }
): Promise<Comm> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host, port })
    const comm = new Comm(socket, { ...options, listener: false })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`tcp://${host}:${port}: timed out after ${options.timeoutMs} ms`))
    }, options.timeoutMs)
    comm.hello.then(
      () => {
        clearTimeout(timer)
        resolve(comm)
      },
      (error: Error) => {
        clearTimeout(timer)
        reject(new Error(`tcp://${host}:${port}: ${error.message}`))
      }
    )
  })
