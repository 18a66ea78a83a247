import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { NoClientError, SchedulerError } from "../Errors.js"
import type * as Memory from "../Memory.js"
import type { Key, WorkerInfo } from "../Scheduler.js"
import type { CallSite, ClientImpl, Status } from "./client.js"
import * as client_ from "./client.js"
import * as metrics from "./metrics.js"

// ---- call sites -----------------------------------------------------------------------------

/** This library's `src/` folder: frames inside it are never the user's. */
const librarySrc = (() => {
  try {
    return path.dirname(path.dirname(fileURLToPath(import.meta.url))) + path.sep
  } catch {
    return undefined
  }
})()

const frameRe = /^\s*at\s+(?:async\s+)?(?:(.*?)\s+\((.*)\)|(.*))\s*$/
const positionRe = /^(.*?):(\d+):(\d+)$/

/** One `at …` line of a V8 stack as file, line, column (file URLs and vite/tsx query suffixes undone). */
export const parseFrame = (line: string): Memory.Location | undefined => {
  const m = frameRe.exec(line)
  if (m === null) return undefined
  const fn = m[1]
  let where = (m[2] ?? m[3] ?? "").trim()
  // `eval at f (file:1:2), <anonymous>:3:4` and friends: keep the outer position.
  if (where.startsWith("eval at ")) return undefined
  const pos = positionRe.exec(where)
  if (pos === null) return undefined
  where = pos[1]!
  let file = where
  if (file.startsWith("file://")) {
    try {
      file = fileURLToPath(file.replace(/[?#].*$/, ""))
    } catch {
      return undefined
    }
  } else {
    file = file.replace(/\?[^/\\]*$/, "")
  }
  return { file, line: Number(pos[2]), column: Number(pos[3]), function: fn === undefined || fn === "" ? undefined : fn }
}

const isRuntimeFile = (file: string) =>
  file.startsWith("node:") || file === "<anonymous>" || file === "native" || !(file.includes("/") || file.includes("\\"))

const inNodeModules = (file: string) => file.includes(`${path.sep}node_modules${path.sep}`) || file.includes("/node_modules/")

const inLibrary = (file: string) => librarySrc !== undefined && file.startsWith(librarySrc)

/**
 * The user's frame of a captured stack: the first frame outside this
 * library's `src/`, Node internals and `node_modules`. When the first such
 * frame is in `node_modules` (the Effect runtime), the stack was captured
 * while an effect ran, not where the user built it: there is no user frame.
 */
export const userFrame = (stack: string): Memory.Location | undefined => {
  const lines = stack.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const frame = parseFrame(lines[i]!)
    if (frame === undefined || isRuntimeFile(frame.file) || inLibrary(frame.file)) continue
    return inNodeModules(frame.file) ? undefined : frame
  }
  return undefined
}

/** Effect's span trace (`at f (file:1:2)` or `file:1:2`) as a location. */
const traceFrame = (trace: string | undefined): Memory.Location | undefined => {
  if (trace === undefined) return undefined
  const frame = parseFrame(trace.startsWith("at ") ? trace : `at ${trace}`)
  return frame === undefined || isRuntimeFile(frame.file) || inNodeModules(frame.file) || inLibrary(frame.file)
    ? undefined
    : frame
}

/** `file:line:column`, relative to the working directory when inside it. */
export const formatLocation = (loc: Memory.Location | undefined): string => {
  if (loc === undefined) return "?"
  const cwd = process.cwd() + path.sep
  const file = loc.file.startsWith(cwd) ? loc.file.slice(cwd.length) : loc.file
  return `${file}:${loc.line}:${loc.column}`
}

/** Parsed user frames per call site: V8 formats a stack once, but parsing it at every dashboard tick would add up. */
const locations = new WeakMap<CallSite, Memory.Location | null>()

const locate = (site: CallSite): Memory.Location | undefined => {
  let loc = locations.get(site)
  if (loc === undefined) {
    loc = userFrame(site.stack) ?? null
    locations.set(site, loc)
  }
  return loc ?? undefined
}

const handleInfo = (
  key: Key,
  owner: Memory.Owner,
  site: CallSite | undefined,
  now: number
): Memory.Handle => ({
  key,
  owner,
  location: site === undefined ? undefined : locate(site),
  span: site?.span,
  spanLocation: site === undefined ? undefined : traceFrame(site.spanTrace),
  acquiredAt: site?.at,
  age: site === undefined ? undefined : Math.max(0, now - site.at)
})

/** Every live handle of the client with its call site (empty when tracking is off). */
export const liveHandles = (client: ClientImpl, now: number): Array<Memory.Handle> => {
  const out: Array<Memory.Handle> = []
  if (client.live !== undefined) {
    for (const [f, site] of client.live) {
      out.push(handleInfo(f.key, f.bag !== undefined && !f.bag.closed ? "scope" : "detached", site, now))
    }
  }
  if (client.liveDetached !== undefined) {
    for (const [site, key] of client.liveDetached) out.push(handleInfo(key, "detached", site, now))
  }
  return out
}

// ---- snapshot ---------------------------------------------------------------------------------

const statuses: ReadonlyArray<Status> = ["pending", "finished", "error", "cancelled", "lost"]

/** Groups handles by key, oldest first. */
const byKey = (handles: ReadonlyArray<Memory.Handle>) => {
  const out = new Map<Key, Array<Memory.Handle>>()
  for (const h of handles) {
    let list = out.get(h.key)
    if (list === undefined) out.set(h.key, list = [])
    list.push(h)
  }
  for (const list of out.values()) list.sort((a, b) => (a.acquiredAt ?? 0) - (b.acquiredAt ?? 0))
  return out
}

/** Workers seen per client, so a worker that stops holding this client's keys is set back to zero. */
const seenWorkers = new WeakMap<ClientImpl, Set<string>>()

export const snapshotOf = (client: ClientImpl): Effect.Effect<Memory.Snapshot, SchedulerError> =>
  Effect.gen(function*() {
    const keys = Array.from(client.states.keys())
    const session = client.session
    const [who, nbytes, workers] = yield* Effect.all([
      keys.length === 0 ? Effect.succeed({} as Record<Key, ReadonlyArray<string>>) : session.whoHas(keys),
      keys.length === 0 ? Effect.succeed({} as Record<Key, number>) : session.nbytes(keys),
      session.workers()
    ], { concurrency: "unbounded" })
    const now = yield* Clock.currentTimeMillis
    const handles = byKey(liveHandles(client, now))
    const perWorker = new Map<string, { bytes: number; keys: number }>()
    const states = Object.fromEntries(statuses.map((s) => [s, { keys: 0, bytes: 0 }])) as Record<Status, { keys: number; bytes: number }>
    const rows: Array<Memory.KeyInfo> = []
    let totalBytes = 0
    for (const [key, st] of client.states) {
      const held = who[key] ?? []
      const size = nbytes[key] ?? st.nbytes
      for (const w of held) {
        let acc = perWorker.get(w)
        if (acc === undefined) perWorker.set(w, acc = { bytes: 0, keys: 0 })
        acc.keys++
        acc.bytes += size ?? 0
      }
      states[st.status].keys++
      states[st.status].bytes += size ?? 0
      if (held.length > 0) totalBytes += size ?? 0
      rows.push({
        key,
        refcount: st.count,
        status: st.status,
        type: st.type,
        nbytes: size,
        workers: held,
        age: Math.max(0, now - client.openedAt - st.bornAt),
        handles: handles.get(key) ?? []
      })
    }
    const workerRows: Array<Memory.WorkerMemory> = workers.map((w: WorkerInfo) => ({
      address: w.address,
      nthreads: w.nthreads,
      bytes: w.bytes,
      keys: w.keys,
      memoryLimit: w.memoryLimit,
      clientBytes: perWorker.get(w.address)?.bytes ?? 0,
      clientKeys: perWorker.get(w.address)?.keys ?? 0
    }))
    for (const [address, acc] of perWorker) {
      if (!workers.some((w) => w.address === address)) {
        workerRows.push({ address, nthreads: 0, bytes: acc.bytes, keys: acc.keys, memoryLimit: undefined, clientBytes: acc.bytes, clientKeys: acc.keys })
      }
    }
    updateGauges(client, workerRows)
    let handleCount = 0
    for (const list of handles.values()) handleCount += list.length
    return {
      _tag: "Snapshot",
      clientId: client.id,
      address: client.address,
      takenAt: now,
      tracking: client.live !== undefined,
      keys: rows,
      workers: workerRows,
      states,
      totals: { keys: rows.length, handles: client.live === undefined ? undefined : handleCount, bytes: totalBytes }
    }
  })

const updateGauges = (client: ClientImpl, workers: ReadonlyArray<Memory.WorkerMemory>) => {
  let seen = seenWorkers.get(client)
  if (seen === undefined) seenWorkers.set(client, seen = new Set())
  const now = new Set<string>()
  for (const w of workers) {
    const labels = metrics.workerLabels(client.id, w.address)
    metrics.keysHeld.unsafeUpdate(w.clientKeys, labels)
    metrics.bytesHeld.unsafeUpdate(w.clientBytes, labels)
    now.add(w.address)
  }
  for (const address of seen) {
    if (!now.has(address)) {
      const labels = metrics.workerLabels(client.id, address)
      metrics.keysHeld.unsafeUpdate(0, labels)
      metrics.bytesHeld.unsafeUpdate(0, labels)
    }
  }
  seenWorkers.set(client, now)
}

// ---- leaks ---------------------------------------------------------------------------------------

export const leakReportOf = (client: ClientImpl, now: number, atClose: boolean, includeScoped = atClose): Memory.LeakReport => {
  const live = liveHandles(client, now)
  const handles = live
    .filter((h) => includeScoped || h.owner === "detached")
    .map((h) => ({ ...h, status: client.states.get(h.key)?.status, nbytes: client.states.get(h.key)?.nbytes }))
  const tracked = new Set(live.map((h) => h.key))
  const untracked: Array<{ key: Key; refcount: number }> = []
  if (client.live === undefined && includeScoped) {
    for (const [key, st] of client.states) if (st.count > 0 && !tracked.has(key)) untracked.push({ key, refcount: st.count })
  }
  return {
    _tag: "LeakReport",
    clientId: client.id,
    address: client.address,
    takenAt: now,
    atClose,
    includesScoped: includeScoped,
    tracking: client.live !== undefined,
    handles,
    gcReleased: client.gcReleased.map(({ key, site }) => handleInfo(key, "detached", site, now)),
    untracked
  }
}

export const hasLeaks = (report: Memory.LeakReport): boolean =>
  report.handles.length > 0 || report.gcReleased.length > 0 || report.untracked.length > 0

export const leakReport = (client: ClientImpl, options?: { readonly includeScoped?: boolean }) =>
  Effect.map(Clock.currentTimeMillis, (now) => leakReportOf(client, now, false, options?.includeScoped ?? false))

export const onLeaks = (
  client: ClientImpl,
  f: (report: Memory.LeakReport) => Effect.Effect<void>
): Effect.Effect<void> =>
  Effect.sync(() => {
    client.closeHooks.push((c) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const report = leakReportOf(c, now, true)
        return hasLeaks(report) ? f(report) : Effect.void
      })
    )
  })

export const resolve = (client: { readonly id: string } | undefined): Effect.Effect<ClientImpl, NoClientError> =>
  client === undefined ? client_.current : Effect.succeed(client as ClientImpl)

// ---- text rendering -------------------------------------------------------------------------------

export const formatBytes = (n: number | undefined): string => {
  if (n === undefined) return "-"
  if (n < 1024) return `${n} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`
}

export const formatAge = (ms: number | undefined): string => {
  if (ms === undefined) return "-"
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s`
  return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`
}

const shorten = (s: string, n: number) => (s.length <= n ? s : s.slice(0, n - 1) + "…")

/** Left-aligned columns; the last column is not padded. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

const site = (h: Memory.Handle) =>
  h.location !== undefined
    ? formatLocation(h.location)
    : h.spanLocation !== undefined
    ? `${formatLocation(h.spanLocation)} (span)`
    : h.acquiredAt === undefined
    ? "(not tracked)"
    : "(inside the Effect runtime)"

export const formatSnapshot = (s: Memory.Snapshot): string => {
  const out: Array<string> = []
  out.push(
    `effect-dask memory: client ${s.clientId} on ${s.address}: ${s.totals.keys} keys, ` +
      `${formatBytes(s.totals.bytes)} in worker memory` +
      (s.totals.handles === undefined ? " (call sites not tracked)" : `, ${s.totals.handles} live handles`)
  )
  out.push("")
  out.push(table(
    ["WORKER", "CLIENT KEYS", "CLIENT BYTES", "ALL KEYS", "ALL BYTES", "LIMIT"],
    s.workers.map((w) => [w.address, String(w.clientKeys), formatBytes(w.clientBytes), String(w.keys), formatBytes(w.bytes), formatBytes(w.memoryLimit)])
  ))
  out.push("")
  out.push(`states: ${statuses.filter((st) => s.states[st].keys > 0).map((st) => `${st} ${s.states[st].keys}`).join(", ") || "none"}`)
  out.push("")
  const rows: Array<Array<string>> = []
  for (const k of s.keys) {
    // Handles acquired at the same place under the same span print once, with a count.
    const groups = new Map<string, { text: string; span: string; count: number }>()
    for (const h of k.handles) {
      const text = `${h.owner} ${site(h)}`
      const id = `${text}\u0000${h.span}`
      const g = groups.get(id)
      if (g === undefined) groups.set(id, { text, span: h.span ?? "", count: 1 })
      else g.count++
    }
    const lines = Array.from(groups.values(), (g) => [g.count > 1 ? `${g.text} ×${g.count}` : g.text, g.span])
    const [first, ...rest] = lines
    rows.push([
      shorten(k.key, 40),
      String(k.refcount),
      k.status,
      formatBytes(k.nbytes),
      k.workers.join(",") || "-",
      formatAge(k.age),
      first === undefined ? (s.tracking ? "-" : "(not tracked)") : first[0]!,
      first?.[1] ?? ""
    ])
    for (const [text, span] of rest) rows.push(["", "", "", "", "", "", text!, span!])
  }
  out.push(table(["KEY", "REFS", "STATUS", "NBYTES", "WORKERS", "AGE", "ACQUIRED AT", "SPAN"], rows))
  return out.join("\n")
}

export const formatLeaks = (r: Memory.LeakReport): string => {
  const out: Array<string> = []
  const what = r.atClose
    ? "still alive at client close"
    : r.includesScoped
    ? "alive (detached, or in scopes still open)"
    : "detached and never released"
  out.push(
    `effect-dask leak report: client ${r.clientId} on ${r.address}: ${r.handles.length} handle(s) ${what}, ` +
      `${r.gcReleased.length} released only by the GC backstop` +
      (r.untracked.length > 0 ? `, ${r.untracked.length} key(s) held by untracked handles` : "")
  )
  if (!r.tracking) out.push("(call sites are not tracked: make the client with `trackCallSites: true` to see where handles were acquired)")
  if (r.handles.length > 0) {
    out.push("")
    out.push(table(
      ["KEY", "OWNER", "STATUS", "NBYTES", "AGE", "ACQUIRED AT", "SPAN"],
      r.handles.map((h) => [
        shorten(h.key, 40),
        h.owner === "scope" ? "open scope" : "detached",
        h.status ?? "-",
        formatBytes(h.nbytes),
        formatAge(h.age),
        site(h),
        h.span ?? ""
      ])
    ))
  }
  if (r.gcReleased.length > 0) {
    out.push("")
    out.push("released by the GC backstop (dropped without Future.release):")
    out.push(table(["KEY", "ACQUIRED AT", "SPAN"], r.gcReleased.map((h) => [shorten(h.key, 40), site(h), h.span ?? ""])))
  }
  if (r.untracked.length > 0) {
    out.push("")
    out.push(table(["KEY", "REFS"], r.untracked.map((u) => [shorten(u.key, 40), String(u.refcount)])))
  }
  return out.join("\n")
}
