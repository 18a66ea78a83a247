import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as Dashboard from "../../Dashboard.js"
import type * as Future from "../../Future.js"
import type * as Memory from "../../Memory.js"
import type { ClientImpl } from "../client.js"
import * as client_ from "../client.js"
import { formatAge, formatBytes, formatLocation, table } from "../memory.js"
import { snapshotOf } from "../memory.js"

export interface Progress {
  readonly label: string
  readonly done: number
  readonly total: number
}

const bar = (fraction: number, width: number) => {
  const f = Math.max(0, Math.min(1, fraction))
  const full = Math.round(f * width)
  return "█".repeat(full) + "░".repeat(width - full)
}

const clip = (s: string, n: number) => (s.length <= n ? s : s.slice(0, n - 1) + "…")

/** One terminal frame: header, optional progress bar, workers with bars, state counts, the largest keys. */
export const render = (
  snap: Memory.Snapshot | undefined,
  progress: Progress | undefined,
  options?: { readonly width?: number | undefined; readonly maxKeys?: number | undefined; readonly error?: string | undefined }
): string => {
  const width = Math.max(60, options?.width ?? 100)
  const lines: Array<string> = []
  if (snap !== undefined) {
    lines.push(clip(
      `effect-dask · ${snap.clientId} @ ${snap.address} · ${snap.totals.keys} keys · ${formatBytes(snap.totals.bytes)}` +
        (snap.totals.handles === undefined ? "" : ` · ${snap.totals.handles} handles`),
      width
    ))
  } else {
    lines.push("effect-dask · no client")
  }
  if (options?.error !== undefined) lines.push(clip(`! ${options.error}`, width))
  if (progress !== undefined) {
    const pct = progress.total === 0 ? 1 : progress.done / progress.total
    lines.push(`${progress.label} [${bar(pct, 30)}] ${progress.done}/${progress.total} ${Math.round(pct * 100)}%`)
  }
  if (snap !== undefined) {
    const top = Math.max(1, ...snap.workers.map((w) => w.memoryLimit ?? w.bytes))
    lines.push("")
    lines.push(table(
      ["WORKER", "KEYS", "BYTES", "MINE", "MEMORY"],
      snap.workers.map((w) => [
        clip(w.address, 36),
        String(w.keys),
        formatBytes(w.bytes),
        formatBytes(w.clientBytes),
        `[${bar(w.bytes / top, 20)}]` + (w.memoryLimit === undefined ? "" : ` of ${formatBytes(w.memoryLimit)}`)
      ])
    ))
    const states = Object.entries(snap.states).filter(([, v]) => v.keys > 0).map(([s, v]) => `${s} ${v.keys}`)
    lines.push("")
    lines.push(`states: ${states.length === 0 ? "none" : states.join(" · ")}`)
    const max = options?.maxKeys ?? 10
    if (max > 0 && snap.keys.length > 0) {
      const keys = snap.keys.slice().sort((a, b) => (b.nbytes ?? -1) - (a.nbytes ?? -1)).slice(0, max)
      lines.push("")
      lines.push(table(
        ["KEY", "REFS", "STATUS", "NBYTES", "AGE", "ACQUIRED AT"],
        keys.map((k) => {
          const h = k.handles[0]
          return [
            clip(k.key, 36),
            String(k.refcount),
            k.status,
            formatBytes(k.nbytes),
            formatAge(k.age),
            h === undefined ? "-" : clip(`${h.owner === "detached" ? "detached " : ""}${h.location !== undefined ? formatLocation(h.location) : h.span ?? "?"}`, 48)
          ]
        })
      ))
      if (snap.keys.length > keys.length) lines.push(`… ${snap.keys.length - keys.length} more`)
    }
  }
  return lines.join("\n").split("\n").map((l) => clip(l, width)).join("\n")
}

const progressOf = (futures: ReadonlyArray<Future.Future<any, any>> | undefined, snap: Memory.Snapshot | undefined, label: string): Progress | undefined => {
  if (futures !== undefined) {
    let done = 0
    for (const f of futures) if (f.status === "finished" || f.status === "error" || f.status === "cancelled") done++
    return { label, done, total: futures.length }
  }
  if (snap === undefined) return undefined
  const s = snap.states
  return { label, done: s.finished.keys + s.error.keys + s.cancelled.keys, total: snap.totals.keys }
}

const frameOf = (client: ClientImpl | undefined, options: Dashboard.TerminalOptions | undefined): Effect.Effect<string> => {
  const label = options?.label ?? "progress"
  if (client === undefined) return Effect.succeed(render(undefined, progressOf(options?.futures, undefined, label), options))
  return Effect.map(Effect.either(snapshotOf(client)), (r) =>
    r._tag === "Right"
      ? render(r.right, progressOf(options?.futures, r.right, label), options)
      : render(undefined, progressOf(options?.futures, undefined, label), { ...options, error: r.left.message }))
}

const resolveClient = (options: Dashboard.TerminalOptions | undefined): Effect.Effect<ClientImpl | undefined> =>
  options?.client !== undefined
    ? Effect.succeed(options.client as ClientImpl)
    : Effect.orElseSucceed(client_.current, () => undefined)

export const frames = (options?: Dashboard.TerminalOptions): Stream.Stream<string> =>
  Stream.unwrap(Effect.map(resolveClient(options), (client) =>
    Stream.repeatEffectWithSchedule(
      frameOf(client, options),
      Schedule.spaced(Duration.decode(options?.interval ?? "500 millis"))
    )))

/** Writes frames in place on a TTY (cursor up + clear), one after another otherwise. */
const stdoutWriter = (): (frame: string) => void => {
  let previous = 0
  return (frame) => {
    const out = process.stdout
    if (out.isTTY) {
      out.write((previous > 0 ? `\x1b[${previous}F\x1b[J` : "") + frame + "\n")
      previous = frame.split("\n").length
    } else {
      out.write(frame + "\n\n")
    }
  }
}

export const terminal = <A, E, R>(self: Effect.Effect<A, E, R>, options?: Dashboard.TerminalOptions): Effect.Effect<A, E, R> =>
  Effect.flatMap(resolveClient(options), (client) => {
    const write = options?.output ?? stdoutWriter()
    const once = Effect.flatMap(frameOf(client, options), (frame) => Effect.sync(() => write(frame)))
    const interval = Duration.decode(options?.interval ?? "500 millis")
    return Effect.acquireUseRelease(
      // The acquire is uninterruptible and a fork inherits that: make the loop interruptible again.
      Effect.forkDaemon(Effect.interruptible(Effect.repeat(once, Schedule.spaced(interval)))),
      () => self,
      (fiber) => Effect.zipRight(Fiber.interrupt(fiber), once)
    )
  })
