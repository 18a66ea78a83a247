/**
 * Request/reply to other Dask servers (the scheduler's RPC, peer workers'
 * `get_data`) over pooled comms, one request in flight per comm (Dask
 * replies carry no id). A comm that failed or timed out is dropped, never
 * reused.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { Comm, connect } from "../wire/comm.js"
import { parseAddress } from "../wire/connection.js"

interface Pending {
  resolve: (reply: unknown) => void
  reject: (error: Error) => void
}

interface Pooled {
  readonly comm: Comm
  pending: Pending | undefined
}

/** @internal */
export interface RequestOptions {
  /** Write the string `"OK"` after the reply (`get_data`'s acknowledgement). */
  readonly ack?: boolean | undefined
  readonly timeoutMs?: number | undefined
}

/** @internal */
export class Peers {
  private readonly idle = new Map<string, Array<Pooled>>()
  private readonly all = new Set<Pooled>()
  private closed = false

  constructor(private readonly options: { readonly maxMessageBytes: number; readonly connectTimeoutMs: number }) {}

  private async open(address: string): Promise<Pooled> {
    const parsed = parseAddress(address)
    if (Either.isLeft(parsed)) throw new Error(parsed.left)
    const holder: { pooled?: Pooled } = {}
    const comm = await connect(parsed.right.host, parsed.right.port, {
      maxMessageBytes: this.options.maxMessageBytes,
      timeoutMs: this.options.connectTimeoutMs,
      onMessage: (message) => {
        const pooled = holder.pooled
        const pending = pooled?.pending
        if (pooled === undefined || pending === undefined) {
          // A message nobody asked for: the comm is out of step, drop it.
          pooled?.comm.destroy()
          return
        }
        pooled.pending = undefined
        pending.resolve(message)
      },
      onClose: (error) => {
        const pooled = holder.pooled
        if (pooled === undefined) return
        this.all.delete(pooled)
        const list = this.idle.get(address)
        if (list !== undefined) {
          const i = list.indexOf(pooled)
          if (i >= 0) list.splice(i, 1)
        }
        const pending = pooled.pending
        pooled.pending = undefined
        pending?.reject(new Error(`${address}: comm closed${error !== undefined ? ` (${error})` : ""}`))
      }
    })
    const pooled: Pooled = { comm, pending: undefined }
    holder.pooled = pooled
    this.all.add(pooled)
    if (this.closed) comm.destroy()
    return pooled
  }

  /** Sends `message` to `address` and resolves with the reply. */
  async request(address: string, message: Record<string, unknown>, options?: RequestOptions): Promise<unknown> {
    if (this.closed) throw new Error("closed")
    let list = this.idle.get(address)
    let pooled = list?.pop()
    while (pooled !== undefined && pooled.comm.closed) pooled = list?.pop()
    if (pooled === undefined) pooled = await this.open(address)
    const p = pooled
    const reply = await new Promise<unknown>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      p.pending = {
        resolve: (r) => {
          if (timer !== undefined) clearTimeout(timer)
          resolve(r)
        },
        reject: (e) => {
          if (timer !== undefined) clearTimeout(timer)
          reject(e)
        }
      }
      if (options?.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          p.pending = undefined
          p.comm.destroy()
          reject(new Error(`${address}: no reply to ${String(message.op)} within ${options.timeoutMs} ms`))
        }, options.timeoutMs)
      }
      try {
        p.comm.write({ ...message, reply: true })
      } catch (error) {
        p.pending = undefined
        p.comm.destroy()
        reject(error instanceof Error ? error : new Error(String(error)))
      }
    })
    if (options?.ack === true) p.comm.write("OK")
    if (!p.comm.closed && !this.closed) {
      list = this.idle.get(address)
      if (list === undefined) this.idle.set(address, list = [])
      if (list.length < 4) list.push(p)
      else p.comm.close()
    }
    return reply
  }

  /** Forgets idle comms to a peer that left. */
  forget(address: string): void {
    const list = this.idle.get(address)
    this.idle.delete(address)
    for (const p of list ?? []) p.comm.close()
  }

  close(): void {
    this.closed = true
    for (const p of this.all) p.comm.destroy()
    this.all.clear()
    this.idle.clear()
  }
}
