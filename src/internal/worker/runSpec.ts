/**
 * Reads a `compute-task` run_spec (worker protocol §6) into what a Node
 * worker can run: a JS task (name + argument template) or a foreign task
 * (a Python callable, described for the error report). Both dialects:
 * 2022.12 `function` / `args` / `kwargs` (pickle bytes or msgpack), and
 * 2024.12 `run_spec` = `__Pickled__` `dask._task_spec.Task`. Everything is
 * read by the whitelist pickle reader into inert values; nothing is
 * imported or called. Only `func`, `args`, `kwargs` and Alias `target` are
 * looked at (the other slots are private to dask and change between releases).
 *
 * @internal
 */
import * as Either from "effect/Either"
import { DEPS_SEPARATOR, MARKER_MODULES, MARKER_NAME, TAG } from "../wire/jsTask.js"
import { Pickled, unpickle } from "../wire/message.js"
import { PyGlobal, PyObject, readPickle } from "../wire/pickle.js"

/** A reference to a dependency's value inside the arguments (2024.12 `Alias`). @internal */
export class DepRef {
  readonly _tag = "DepRef"
  constructor(readonly key: unknown) {}
}

/** @internal */
export type RunSpec =
  | {
    readonly _tag: "Js"
    readonly name: string
    /** Arguments with {@link DepRef}s; strings equal to a dependency key are substituted too (Dask's `pack_data`). */
    readonly args: ReadonlyArray<unknown>
  }
  | { readonly _tag: "Foreign"; readonly callable: string }
  | { readonly _tag: "Invalid"; readonly message: string }

const field = (u: unknown, name: string): unknown => {
  if (u instanceof Map) return u.get(name)
  if (typeof u === "object" && u !== null && !Array.isArray(u)) return (u as Record<string, unknown>)[name]
  return undefined
}

/** The slots of a NEWOBJ+BUILD object: BUILD state `(dict | None, slots)` or a dict. */
const slots = (o: PyObject): (name: string) => unknown => {
  const state = o.state
  if (Array.isArray(state) && state.length === 2) {
    return (name) => field(state[1], name) ?? field(state[0], name)
  }
  return (name) => field(state, name)
}

const callableName = (u: unknown): string =>
  u instanceof PyGlobal
    ? u.qualifiedName
    : u instanceof PyObject
    ? `${callableName(u.callable)}(…)`
    : typeof u === "string"
    ? u
    : "an unknown callable"

const isMarker = (u: unknown): boolean => u instanceof PyGlobal && u.name === MARKER_NAME && MARKER_MODULES.has(u.module)

const isSpecClass = (u: unknown, name: string): boolean =>
  u instanceof PyObject && u.callable instanceof PyGlobal && u.callable.module === "dask._task_spec" &&
  u.callable.name === name

class Unreadable {
  constructor(readonly message: string) {}
}

/** Turns `dask._task_spec` argument nodes into plain values with {@link DepRef}s. */
const convertArg = (u: unknown, depth: number): unknown => {
  if (depth > 256) throw new Unreadable("arguments nested too deeply")
  if (u instanceof PyObject) {
    if (isSpecClass(u, "Alias")) {
      const get = slots(u)
      const target = get("target")
      return new DepRef(target instanceof PyObject && isSpecClass(target, "TaskRef") ? slots(target)("key") : target ?? get("key"))
    }
    if (isSpecClass(u, "TaskRef")) return new DepRef(slots(u)("key"))
    if (isSpecClass(u, "DataNode")) return convertArg(slots(u)("value"), depth + 1)
    if (isSpecClass(u, "List") || isSpecClass(u, "Tuple") || isSpecClass(u, "Set")) {
      const container = slots(u)("container")
      if (Array.isArray(container)) return container.map((x) => convertArg(x, depth + 1))
    }
    if (isSpecClass(u, "Dict")) {
      // Dict(...) keeps its items as a flat container [k, v, k, v, …] or a dict.
      const container = slots(u)("container") ?? slots(u)("dsk")
      if (Array.isArray(container)) {
        const out: Record<string, unknown> = {}
        for (let i = 0; i + 1 < container.length; i += 2) out[String(convertArg(container[i], depth + 1))] = convertArg(container[i + 1], depth + 1)
        return out
      }
    }
    throw new Unreadable(`an argument is a Python object (${callableName(u.callable)}), which a JS task cannot take`)
  }
  if (u instanceof PyGlobal) throw new Unreadable(`an argument is the Python global ${u.qualifiedName}`)
  if (Array.isArray(u)) return u.map((x) => convertArg(x, depth + 1))
  if (u instanceof Map) {
    const out = new Map<unknown, unknown>()
    for (const [k, v] of u) out.set(k, convertArg(v, depth + 1))
    return out
  }
  if (u instanceof Set) return Array.from(u, (x) => convertArg(x, depth + 1))
  if (typeof u === "object" && u !== null && !(u instanceof Uint8Array)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(u)) {
      Object.defineProperty(out, k, { value: convertArg(v, depth + 1), enumerable: true, writable: true, configurable: true })
    }
    return out
  }
  return u
}

const fromCall = (func: unknown, args: unknown, kwargs: unknown): RunSpec => {
  if (!isMarker(func)) return { _tag: "Foreign", callable: callableName(func) }
  if (!Array.isArray(args) || args.length < 2 || args[0] !== TAG || typeof args[1] !== "string") {
    return { _tag: "Invalid", message: `a JS task must start with the arguments "${TAG}", <task name>` }
  }
  if (kwargs !== null && kwargs !== undefined) {
    const empty = kwargs instanceof Map ? kwargs.size === 0 : typeof kwargs === "object" && Object.keys(kwargs).length === 0
    if (!empty) return { _tag: "Invalid", message: "JS tasks take no keyword arguments" }
  }
  let rest = args.slice(2)
  const separator = rest.indexOf(DEPS_SEPARATOR)
  if (separator >= 0) rest = rest.slice(0, separator)
  try {
    return { _tag: "Js", name: args[1], args: rest.map((a) => convertArg(a, 0)) }
  } catch (error) {
    if (error instanceof Unreadable) return { _tag: "Invalid", message: error.message }
    throw error
  }
}

const readMaybePickle = (u: unknown): Either.Either<unknown, string> => {
  if (u instanceof Uint8Array) return Either.mapLeft(readPickle(u), (e) => e.message)
  return Either.right(u)
}

/**
 * Reads the run_spec of one `compute-task` message. Never throws.
 *
 * @internal
 */
export const readRunSpec = (message: unknown): RunSpec => {
  try {
    const runSpec = field(message, "run_spec")
    if (runSpec instanceof Pickled) {
      const task = unpickle(runSpec)
      if (Either.isLeft(task)) return { _tag: "Invalid", message: `run_spec could not be read: ${task.left.message}` }
      const value = task.right
      if (!(value instanceof PyObject) || !isSpecClass(value, "Task")) {
        return { _tag: "Foreign", callable: value instanceof PyObject ? callableName(value.callable) : "a Python object" }
      }
      const get = slots(value)
      return fromCall(get("func"), get("args"), get("kwargs"))
    }
    if (runSpec !== null && runSpec !== undefined) {
      // 2022.12: an opaque whole-task value (a tuple task of a collection) is never a JS task.
      const read = readMaybePickle(runSpec)
      const v = Either.isRight(read) ? read.right : undefined
      return { _tag: "Foreign", callable: Array.isArray(v) ? callableName(v[0]) : "a Python task" }
    }
    const func = readMaybePickle(field(message, "function"))
    if (Either.isLeft(func)) return { _tag: "Invalid", message: `function could not be read: ${func.left}` }
    if (!isMarker(func.right)) return { _tag: "Foreign", callable: callableName(func.right) }
    const args = readMaybePickle(field(message, "args") ?? [])
    if (Either.isLeft(args)) return { _tag: "Invalid", message: `args could not be read: ${args.left}` }
    const kwargs = readMaybePickle(field(message, "kwargs") ?? null)
    if (Either.isLeft(kwargs)) return { _tag: "Invalid", message: `kwargs could not be read: ${kwargs.left}` }
    return fromCall(func.right, args.right, kwargs.right)
  } catch (error) {
    return { _tag: "Invalid", message: `run_spec could not be read: ${String(error)}` }
  }
}
