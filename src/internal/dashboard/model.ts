import * as Effect from "effect/Effect"
import type * as Memory from "../../Memory.js"
import type { ClientImpl, Status } from "../client.js"
import { openClients } from "../client.js"
import { formatLocation, snapshotOf } from "../memory.js"

/** One worker's line of the dashboard. */
export interface WorkerRow {
  readonly address: string
  readonly nthreads: number
  readonly bytes: number
  readonly keys: number
  readonly memoryLimit: number | null
  /** Bytes of the open clients' keys on the worker. */
  readonly clientBytes: number
}

export interface KeyRow {
  readonly key: string
  readonly client: string
  readonly refcount: number
  readonly status: Status
  readonly nbytes: number | null
  readonly workers: ReadonlyArray<string>
  readonly age: number
  /** Handles grouped by owner, call site and span, with how many share them. */
  readonly handles: ReadonlyArray<{ readonly owner: Memory.Owner; readonly at: string | null; readonly span: string | null; readonly count: number }>
}

/** What the page shows at one instant; JSON-safe (no undefined). */
export interface Frame {
  readonly t: number
  readonly clients: ReadonlyArray<{
    readonly id: string
    readonly address: string
    readonly tracking: boolean
    readonly keys: number
    readonly handles: number | null
    readonly bytes: number
  }>
  readonly workers: ReadonlyArray<WorkerRow>
  readonly states: Readonly<Record<Status, number>>
  readonly keys: ReadonlyArray<KeyRow>
  /** Keys left out of `keys` (the table keeps the largest). */
  readonly omitted: number
  readonly errors: ReadonlyArray<string>
}

/** A point of the bytes-per-worker plot. */
export interface Point {
  readonly t: number
  readonly workers: Readonly<Record<string, number>>
}

const groupHandles = (handles: ReadonlyArray<Memory.Handle>): KeyRow["handles"] => {
  const groups = new Map<string, { owner: Memory.Owner; at: string | null; span: string | null; count: number }>()
  for (const h of handles) {
    const at = h.location !== undefined
      ? formatLocation(h.location)
      : h.spanLocation !== undefined
      ? `${formatLocation(h.spanLocation)} (span)`
      : null
    const id = `${h.owner}\u0000${at}\u0000${h.span}`
    const g = groups.get(id)
    if (g === undefined) groups.set(id, { owner: h.owner, at, span: h.span ?? null, count: 1 })
    else g.count++
  }
  return Array.from(groups.values())
}

const emptyStates = (): Record<Status, number> => ({ pending: 0, finished: 0, error: 0, cancelled: 0, lost: 0 })

/** A frame from the snapshots of the given clients (all open clients by default). */
export const sample = (options?: {
  readonly clients?: ReadonlyArray<ClientImpl> | undefined
  readonly maxKeys?: number | undefined
}): Effect.Effect<Frame> =>
  Effect.gen(function*() {
    const clients = options?.clients ?? openClients()
    const results = yield* Effect.forEach(clients, (c) => Effect.either(snapshotOf(c)), { concurrency: "unbounded" })
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const workers = new Map<string, { -readonly [K in keyof WorkerRow]: WorkerRow[K] }>()
    const states = emptyStates()
    const keys: Array<KeyRow> = []
    const errors: Array<string> = []
    const rows: Array<Frame["clients"][number]> = []
    for (let i = 0; i < clients.length; i++) {
      const r = results[i]!
      if (r._tag === "Left") {
        errors.push(`${clients[i]!.id}: ${r.left.message}`)
        continue
      }
      const s = r.right
      rows.push({ id: s.clientId, address: s.address, tracking: s.tracking, keys: s.totals.keys, handles: s.totals.handles ?? null, bytes: s.totals.bytes })
      for (const w of s.workers) {
        const id = `${w.address}`
        const acc = workers.get(id)
        if (acc === undefined) {
          workers.set(id, {
            address: w.address,
            nthreads: w.nthreads,
            bytes: w.bytes,
            keys: w.keys,
            memoryLimit: w.memoryLimit ?? null,
            clientBytes: w.clientBytes
          })
        } else {
          acc.clientBytes += w.clientBytes
        }
      }
      for (const k of s.keys) {
        states[k.status]++
        keys.push({
          key: k.key,
          client: s.clientId,
          refcount: k.refcount,
          status: k.status,
          nbytes: k.nbytes ?? null,
          workers: k.workers,
          age: k.age,
          handles: groupHandles(k.handles)
        })
      }
    }
    const max = options?.maxKeys ?? 500
    keys.sort((a, b) => (b.nbytes ?? -1) - (a.nbytes ?? -1) || a.age - b.age || (a.key < b.key ? -1 : 1))
    const omitted = Math.max(0, keys.length - max)
    if (omitted > 0) keys.length = max
    return {
      t: now,
      clients: rows,
      workers: Array.from(workers.values()).sort((a, b) => (a.address < b.address ? -1 : 1)),
      states,
      keys,
      omitted,
      errors
    }
  })

export const pointOf = (frame: Frame): Point => ({
  t: frame.t,
  workers: Object.fromEntries(frame.workers.map((w) => [w.address, w.bytes]))
})
