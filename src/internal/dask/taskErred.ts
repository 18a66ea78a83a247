/**
 * Remote failures as text: the pickled exception / traceback of `task-erred`
 * (tblib's `unpickle_exception` / `unpickle_traceback`, or a plain exception
 * REDUCE), the RPC `uncaught-error` reply, and the gather error reply of both
 * dialects. Nothing here throws: anything unreadable becomes `UnknownError`
 * with a short description.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type { ErrorInfo } from "../../Scheduler.js"
import { deserialize, Pickled, Serialized, unpickle } from "../wire/message.js"
import { PyGlobal, PyObject, readPickle } from "../wire/pickle.js"

const MAX_TEXT = 4_096
const MAX_FRAMES = 100
const MAX_CHAIN = 8

/** Decodes a wire value down to the inert pickle value it carries. */
const decode = (value: unknown): Either.Either<unknown, string> => {
  let current = value
  if (current instanceof Serialized) {
    const decoded = deserialize(current, { descriptors: true })
    if (Either.isLeft(decoded)) return Either.left(`${decoded.left.serializer}: ${decoded.left.message}`)
    current = decoded.right
  } else if (current instanceof Pickled) {
    const decoded = unpickle(current)
    if (Either.isLeft(decoded)) return Either.left(decoded.left.message)
    current = decoded.right
  }
  // The dask family's "bytes" holds the pickle produced by `error_message`.
  if (current instanceof Uint8Array) {
    const decoded = readPickle(current)
    if (Either.isLeft(decoded)) return Either.left(decoded.left.message)
    current = decoded.right
  }
  return Either.right(current)
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !(u instanceof Uint8Array) && !(u instanceof Map)

const field = (u: unknown, key: string): unknown =>
  u instanceof Map ? u.get(key) : isRecord(u) ? u[key] : undefined

const isCall = (u: unknown, qualifiedName: string): u is PyObject =>
  u instanceof PyObject && u.callable instanceof PyGlobal && u.callable.qualifiedName === qualifiedName

/** Python's display name of a class: builtins unqualified, others `module.Name`. */
const typeName = (cls: unknown): string | undefined =>
  cls instanceof PyGlobal
    ? cls.module === "builtins" || cls.module === "exceptions" ? cls.name : cls.qualifiedName
    : undefined

const clip = (text: string, max = MAX_TEXT): string => (text.length <= max ? text : text.slice(0, max) + "…")

/** `str()` of an inert value, bounded. */
const pyStr = (u: unknown, depth = 0): string => {
  if (typeof u === "string") return u
  if (u === null || u === undefined) return "None"
  if (u === true) return "True"
  if (u === false) return "False"
  if (typeof u === "number" || typeof u === "bigint") return String(u)
  if (depth > 4) return "…"
  if (u instanceof Uint8Array) {
    let s = "b'"
    for (const b of u.subarray(0, 64)) s += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`
    return s + (u.length > 64 ? "…'" : "'")
  }
  if (Array.isArray(u)) return `(${u.slice(0, 16).map((x) => pyRepr(x, depth + 1)).join(", ")}${u.length > 16 ? ", …" : ""})`
  if (u instanceof PyGlobal) return `<class '${u.qualifiedName}'>`
  if (u instanceof PyObject) {
    const name = typeName(u.callable)
    return name !== undefined ? `<${name} object>` : "<object>"
  }
  if (u instanceof Map) return `{${Array.from(u.entries()).slice(0, 16).map(([k, v]) => `${pyRepr(k, depth + 1)}: ${pyRepr(v, depth + 1)}`).join(", ")}}`
  if (u instanceof Set) return `{${Array.from(u).slice(0, 16).map((x) => pyRepr(x, depth + 1)).join(", ")}}`
  if (isRecord(u)) return `{${Object.entries(u).slice(0, 16).map(([k, v]) => `'${k}': ${pyRepr(v, depth + 1)}`).join(", ")}}`
  return "<unknown>"
}

const pyRepr = (u: unknown, depth: number): string => (typeof u === "string" ? `'${u}'` : pyStr(u, depth))

const argsMessage = (args: unknown): string => {
  if (!Array.isArray(args)) return pyStr(args)
  if (args.length === 0) return ""
  if (args.length === 1) return pyStr(args[0])
  return args.map((a) => pyStr(a)).join(", ")
}

interface Described {
  readonly type: string
  readonly message: string
}

/** Type and message of an unpickled exception; follows tblib's `__cause__` / `__context__`. */
const describeException = (value: unknown, depth: number): Described | undefined => {
  if (isCall(value, "tblib.pickling_support.unpickle_exception")) {
    // unpickle_exception(func, args, cause, tb[, context, suppress_context, notes])
    const [cls, args, cause, , context, suppressContext] = value.args
    const type = typeName(cls) ?? (isCall(cls, "builtins.getattr") ? pyStr(cls.args[1]) : "UnknownError")
    let message = argsMessage(args)
    const chained = cause ?? (suppressContext === true ? null : context)
    if (chained !== null && chained !== undefined && depth < MAX_CHAIN) {
      const inner = describeException(chained, depth + 1)
      if (inner !== undefined) {
        message += `${message.length > 0 ? "\n" : ""}[${cause != null ? "caused by" : "while handling"}] ${inner.type}: ${inner.message}`
      }
    }
    return { type, message }
  }
  if (value instanceof PyObject) {
    const type = typeName(value.callable)
    if (type !== undefined) return { type, message: argsMessage(value.args) }
    return undefined
  }
  if (typeof value === "string") return { type: "Exception", message: value }
  return undefined
}

/** One traceback level: `(frame, lineno, next)` from either tblib form. */
const tracebackLevel = (u: unknown): { frame: unknown; lineno: unknown; next: unknown } | undefined => {
  if (isCall(u, "tblib.pickling_support.unpickle_traceback")) {
    const [frame, lineno, next] = u.args
    return { frame, lineno, next }
  }
  if (u instanceof PyObject && (isRecord(u.state) || u.state instanceof Map)) {
    return { frame: field(u.state, "tb_frame"), lineno: field(u.state, "tb_lineno"), next: field(u.state, "tb_next") }
  }
  return undefined
}

const frameLine = (frame: unknown, lineno: unknown): string => {
  const state = frame instanceof PyObject ? frame.state : frame
  const code = field(state, "f_code")
  const codeState = code instanceof PyObject ? code.state : code
  const filename = field(codeState, "co_filename")
  const name = field(codeState, "co_name")
  const line = typeof lineno === "number" ? lineno : field(state, "f_lineno")
  return `  File "${typeof filename === "string" ? filename : "?"}", line ${typeof line === "number" ? line : "?"}, in ${typeof name === "string" ? name : "?"}`
}

/** Renders a tblib traceback like Python's `traceback.format_tb`; "" for None or an unknown shape. */
const renderTraceback = (value: unknown): string => {
  if (typeof value === "string") return value
  const lines: Array<string> = []
  const seen = new Set<unknown>()
  let level = tracebackLevel(value)
  let current: unknown = value
  while (level !== undefined && !seen.has(current) && lines.length < MAX_FRAMES) {
    seen.add(current)
    lines.push(frameLine(level.frame, level.lineno))
    current = level.next
    level = tracebackLevel(current)
  }
  return lines.length === 0 ? "" : `Traceback (most recent call last):\n${lines.join("\n")}`
}

const unknown = (message: string, traceback = ""): ErrorInfo => ({
  type: "UnknownError",
  message: clip(message),
  traceback: clip(traceback, 16_384)
})

/**
 * Text of a remote failure. `exception` / `traceback` are the `task-erred`
 * fields (Serialized, Pickled, pickle bytes or already-decoded values); an
 * RPC reply `{status: "uncaught-error", ...}` may be passed as `exception`
 * (its `*_text` fields are preferred). Never throws.
 *
 * @internal
 */
export const errorInfo = (exception: unknown, traceback: unknown): ErrorInfo => {
  try {
    if (field(exception, "status") === "uncaught-error") return uncaughtErrorInfo(exception)
    const decoded = decode(exception)
    if (Either.isLeft(decoded)) return unknown(`the remote exception could not be decoded (${decoded.left})`)
    const described = describeException(decoded.right, 0)
    let tracebackText = ""
    if (traceback !== null && traceback !== undefined) {
      const tb = decode(traceback)
      tracebackText = Either.isRight(tb) ? renderTraceback(tb.right) : `(traceback could not be decoded: ${tb.left})`
    }
    if (described === undefined) return unknown(`unrecognised remote exception ${pyStr(decoded.right)}`, tracebackText)
    return { type: clip(described.type, 256), message: clip(described.message), traceback: clip(tracebackText, 16_384) }
  } catch (error) {
    return unknown(`the remote exception could not be read (${String(error)})`)
  }
}

/**
 * Text of an RPC `{status: "uncaught-error", exception, traceback,
 * exception_text, traceback_text}` reply (`distributed/core.py` `error_message`).
 *
 * @internal
 */
export const uncaughtErrorInfo = (reply: unknown): ErrorInfo => {
  try {
    const exceptionText = field(reply, "exception_text")
    const tracebackText = field(reply, "traceback_text")
    const decoded = errorInfo(field(reply, "exception"), field(reply, "traceback"))
    return {
      type: decoded.type,
      message: typeof exceptionText === "string" ? clip(exceptionText) : decoded.message,
      traceback: typeof tracebackText === "string" ? clip(tracebackText, 16_384) : decoded.traceback
    }
  } catch (error) {
    return unknown(`the remote error could not be read (${String(error)})`)
  }
}

const keyText = (key: unknown): string => (typeof key === "string" ? key : pyStr(key))

/**
 * Keys a gather error reply names as missing: 2022.12 sends
 * `{status: "error", keys: {key: [workers]}}`, 2024.12 `{status: "error", keys: [key, ...]}`.
 * `undefined` when `reply` is not a gather error.
 *
 * @internal
 */
export const gatherMissingKeys = (reply: unknown): ReadonlyArray<string> | undefined => {
  if (field(reply, "status") !== "error") return undefined
  const keys = field(reply, "keys")
  if (Array.isArray(keys)) return keys.map(keyText)
  if (keys instanceof Set) return Array.from(keys, keyText)
  if (keys instanceof Map) return Array.from(keys.keys(), keyText)
  if (isRecord(keys)) return Object.keys(keys)
  return []
}
