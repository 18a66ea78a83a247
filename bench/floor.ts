/**
 * The floor of the Dask benchmark: the least a Node client can do for
 * map + gather of N trivial tasks — `node:net`, msgpackr and the protocol,
 * nothing else (no Effect, no futures, no reference counting, no validation,
 * no reconnect). bench/dask.ts runs it in the same process and on the same
 * cluster as our client, so our figures read as ours / floor.
 *
 * What it does is what our client does on the wire for `map` + `gather`:
 * handshake, `register-client` on a stream comm, one `update-graph` of N
 * `operator.add(i, 1)` tasks (2022.12 run_specs, or the 2024.12 pickled graph
 * written with the same pickle writer our client uses), `key-in-memory`
 * counted from the stream, one `gather` RPC with `serializers: ["msgpack"]` on
 * a second comm, then `client-releases-keys` and `close-client`. It reads its
 * sockets as our client does (`onread` into slabs, src/internal/wire/reads.ts):
 * on `data` events it paid about 4 µs more per task, and a floor that our client
 * beats on reads alone would not be one.
 */
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import { Packr, Unpackr } from "msgpackr"
import { pickleGraph } from "../src/internal/dask/graph.js"
import { PyGlobal, pickleGlobal, PyTuple } from "../src/internal/wire/pickle.js"
import { slabReads } from "../src/internal/wire/reads.js"

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

/** One comm: framed messages in, a callback per decoded message (frames kept for sub-frames). */
class Comm {
  private chunks: Array<Buffer> = []
  private size = 0
  private waiting: Array<(frames: Array<Buffer>) => void> = []
  private inbox: Array<Array<Buffer>> = []
  onMessage: ((frames: Array<Buffer>) => void) | undefined = undefined
  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true)
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.size += chunk.length
    this.parse()
  }

  /** Reads the way our client does (`onread` into slabs, src/internal/wire/reads.ts): only the rest differs. */
  static open(host: string, port: number): Promise<Comm> {
    return new Promise((resolve, reject) => {
      let comm: Comm | undefined
      const socket = net.connect({ port, host, onread: slabReads((chunk) => comm!.push(chunk as Buffer)) }, () => resolve(comm!))
      comm = new Comm(socket)
      socket.once("error", reject)
    })
  }

  /** Frame lengths of the message being received, read once from its prelude. */
  private lengths: Array<number> | undefined = undefined
  private end = 0

  /**
   * Splits complete messages off the buffer. The size is taken from the
   * prelude's frame lengths, not from the leading u64: 2024.12 declares there
   * only the bytes up to the first uncompressed buffer (`distributed/comm/tcp.py`
   * `_add_frames_header`), and a gather reply of msgpack values is such buffers.
   * Trusting the u64 left the rest of the reply in the buffer, read as the
   * next message's garbage length: the next gather waited forever.
   *
   * The prelude is read once per message and chunks are joined once it is
   * complete: re-reading 20k frame lengths (as BigInts) and re-joining the
   * buffer at every chunk of a gather reply made the floor quadratic in it.
   */
  private parse(): void {
    for (;;) {
      if (this.lengths === undefined) {
        if (this.size < 16) return
        const head = this.join()
        const n = u64(head, 8)
        if (this.size < 16 + 8 * n) return
        const lengths: Array<number> = new Array(n)
        let end = 16 + 8 * n
        for (let i = 0; i < n; i++) end += lengths[i] = u64(head, 16 + 8 * i)
        this.lengths = lengths
        this.end = end
      }
      if (this.size < this.end) return
      const buf = this.join()
      const lengths = this.lengths
      const frames: Array<Buffer> = new Array(lengths.length)
      let offset = 16 + 8 * lengths.length
      for (let i = 0; i < lengths.length; i++) {
        frames[i] = buf.subarray(offset, offset + lengths[i]!)
        offset += lengths[i]!
      }
      const rest = buf.subarray(this.end)
      this.chunks = rest.length > 0 ? [rest] : []
      this.size = rest.length
      this.lengths = undefined
      const waiter = this.waiting.shift()
      if (waiter !== undefined) waiter(frames)
      else if (this.onMessage !== undefined) this.onMessage(frames)
      else this.inbox.push(frames)
    }
  }

  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)]
    return this.chunks[0]!
  }

  /** The next message (when no `onMessage` is set). */
  read(): Promise<Array<Buffer>> {
    const ready = this.inbox.shift()
    return ready !== undefined ? Promise.resolve(ready) : new Promise((resolve) => this.waiting.push(resolve))
  }

  write(body: unknown): void {
    const frame = packr.pack(body)
    const head = Buffer.alloc(24)
    head.writeBigUInt64LE(BigInt(16 + frame.length), 0)
    head.writeBigUInt64LE(1n, 8)
    head.writeBigUInt64LE(BigInt(frame.length), 16)
    this.socket.write(Buffer.concat([head, frame]))
  }

  async handshake(): Promise<void> {
    await this.read()
    this.write({ compression: null, python: [3, 11, 2], "pickle-protocol": 5 })
  }

  close(): void {
    this.socket.destroy()
  }
}

/** A little-endian u64 that fits a double (frame counts and lengths do). */
const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 2 ** 32

const ADD = pickleGlobal("operator", "add")
const ADD_GLOBAL = new PyGlobal("operator", "add")

/** The `update-graph` op of `n` tasks `add(i, 1)`, keys `prefix-i`. */
const updateGraph = (version: "2022.12" | "2024.12", keys: Array<string>, clientId: string) => {
  if (version === "2022.12") {
    const tasks: Record<string, unknown> = {}
    for (let i = 0; i < keys.length; i++) tasks[keys[i]!] = { function: ADD, args: [i, 1] }
    return { op: "update-graph", tasks, dependencies: {}, keys, client: clientId }
  }
  const layer = new Map<string, unknown>()
  for (let i = 0; i < keys.length; i++) layer.set(keys[i]!, new PyTuple([ADD_GLOBAL, i, 1]))
  return {
    op: "update-graph",
    graph_header: { serializer: "pickle", writeable: [] },
    graph_frames: [pickleGraph(new Map([["floor-graph", layer]]))],
    keys: { "__Set__": true, "as-list": keys },
    span_metadata: null,
    internal_priority: null,
    submitting_task: null
  }
}

/** A connected floor client: stream and RPC comm. */
export interface Floor {
  /**
   * map + gather of `n` tasks, then release; resolves with wall and CPU seconds.
   * `stage` is told each step as it starts (for the caller's deadlines).
   */
  readonly map: (n: number, stage?: (name: string) => void) => Promise<{ readonly wall_s: number; readonly cpu_s: number }>
  readonly close: () => void
}

const cpuMicros = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

export const connect = async (address: string, version: "2022.12" | "2024.12"): Promise<Floor> => {
  const [host, port] = address.replace("tcp://", "").split(":") as [string, string]
  const clientId = `Client-floor-${randomBytes(8).toString("hex")}`
  const stream = await Comm.open(host, Number(port))
  await stream.handshake()
  stream.write({ op: "register-client", client: clientId, reply: false, versions: {} })
  await stream.read() // [stream-start]
  const rpc = await Comm.open(host, Number(port))
  await rpc.handshake()

  let pending: Set<string> | undefined
  let done: (() => void) | undefined
  stream.onMessage = (frames) => {
    const batch = unpackr.unpack(frames[0]!) as Array<Record<string, unknown>>
    if (pending === undefined) return
    for (const msg of batch) {
      if (msg.op === "key-in-memory" && pending.delete(msg.key as string) && pending.size === 0) done?.()
    }
  }

  let run = 0
  const map = async (n: number, stage: (name: string) => void = () => {}) => {
    const t0 = performance.now()
    const c0 = cpuMicros()
    const prefix = `add-${randomBytes(8).toString("hex")}-${run++}-`
    const keys: Array<string> = new Array(n)
    for (let i = 0; i < n; i++) keys[i] = prefix + i
    pending = new Set(keys)
    const finished = new Promise<void>((resolve) => (done = resolve))
    stage("update-graph → key-in-memory")
    stream.write([updateGraph(version, keys, clientId)])
    await finished
    pending = undefined
    stage("gather")
    rpc.write({ op: "gather", keys, serializers: ["msgpack"], reply: true })
    const frames = await rpc.read()
    const reply = unpackr.unpack(frames[0]!) as { status: string; data: Record<string, { __Serialized__: number }> }
    if (reply.status !== "OK") throw new Error(`floor gather: ${reply.status}`)
    let last: unknown
    for (const key of keys) {
      const at = reply.data[key]!.__Serialized__
      last = unpackr.unpack(frames[at + 1]!)
    }
    const wall = (performance.now() - t0) / 1000
    const cpu = (cpuMicros() - c0) / 1e6
    if (last !== n) throw new Error(`floor: wrong result ${String(last)}`)
    stream.write([{ op: "client-releases-keys", keys, client: clientId }])
    return { wall_s: wall, cpu_s: cpu }
  }

  return {
    map,
    close: () => {
      stream.write([{ op: "close-client" }, { op: "close-stream" }])
      setTimeout(() => {
        stream.close()
        rpc.close()
      }, 50)
    }
  }
}
