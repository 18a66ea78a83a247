/**
 * `update-graph` messages from the protocol's {@link TaskSpec}s, for the two
 * Dask dialects: 2022.12 (`tasks` of run_spec Form A + explicit
 * `dependencies`) and 2024.11–2025.3 (`graph_frames` holding a pickle of
 * `ToPickle(HighLevelGraph({layer: {key: (callable, *args)}}, {}))`).
 *
 * Run_specs are validated here, before anything is sent: a malformed one can
 * kill a worker (2022) or close the stream (2024).
 *
 * @internal
 */
import * as Either from "effect/Either"
import { UnsupportedTaskError } from "../../Errors.js"
import { KeyRef, retriesOf, type TaskOptions, type TaskSpec } from "../../Scheduler.js"
import type * as Task from "../../Task.js"
import { fifoTimeoutSeconds } from "../options.js"
import * as JsTask from "../wire/jsTask.js"
import { isPlainLeaf, normalizeValue, ToPickleBytes } from "../wire/message.js"
import { defineEntry, pickleGlobal, PyGlobal, PyObject, PyTuple, writePickle } from "../wire/pickle.js"

const BACKEND = "dask"

/** Pickled globals by dotted name: every task of a map shares one callable. */
const pickledFunctions = new Map<string, Uint8Array>()

const pickledFunction = (python: string, module: string, name: string): Uint8Array => {
  let bytes = pickledFunctions.get(python)
  if (bytes === undefined) {
    bytes = pickleGlobal(module, name)
    if (pickledFunctions.size >= 4_096) pickledFunctions.clear()
    pickledFunctions.set(python, bytes)
  }
  return bytes
}

const IDENTIFIER = /^[\p{L}_][\p{L}\p{N}_]*$/u

/**
 * Splits `module.attr` at the last dot; `undefined` when it is not of that form.
 *
 * @internal
 */
export const splitCallable = (python: string): readonly [module: string, name: string] | undefined => {
  const dot = python.lastIndexOf(".")
  if (dot <= 0 || dot === python.length - 1) return undefined
  const module = python.slice(0, dot)
  const name = python.slice(dot + 1)
  if (!IDENTIFIER.test(name) || !module.split(".").every((part) => IDENTIFIER.test(part))) return undefined
  return [module, name]
}

/**
 * Whether a task goes to Dask as a JS task (run by Node workers, `DaskWorker`):
 * it has a JS implementation and no Python callable.
 *
 * @internal
 */
export const isJsTask = (task: Task.Any): boolean => task.python === undefined && task.run !== undefined

/**
 * Refuses a task this backend cannot run: neither a JS implementation nor a
 * `python` callable, or a callable not of the form `module.attr`.
 *
 * @internal
 */
export const checkTask = (task: Task.Any): UnsupportedTaskError | undefined => {
  if (task.python === undefined) {
    if (task.run !== undefined) return undefined
    return new UnsupportedTaskError({
      task: task.name,
      backend: BACKEND,
      message: `task "${task.name}" has no Python callable; give it one with { python: "module.name" }`
    })
  }
  if (callableOf(task.python) === undefined) {
    return new UnsupportedTaskError({
      task: task.name,
      backend: BACKEND,
      message: `task "${task.name}": "${task.python}" is not an importable name of the form module.attr`
    })
  }
  return undefined
}

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/**
 * Replaces KeyRefs (at any depth of arrays and plain objects) with their key
 * strings, collecting the keys; a branch without a KeyRef is returned as is
 * (no copy).
 */
const substitute = (value: unknown, keys: Set<string>, depth: number): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (value instanceof KeyRef) {
    keys.add(value.key)
    return value.key
  }
  if (depth > 256) return value // checkValue reports the depth
  if (Array.isArray(value)) {
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const item = value[i]
      const r = substitute(item, keys, depth + 1)
      if (r !== item) {
        out ??= value.slice()
        out[i] = r
      }
    }
    return out ?? value
  }
  if (isPlainObject(value)) {
    let out: Record<string, unknown> | undefined
    for (const key of Object.keys(value)) {
      const item = value[key]
      const r = substitute(item, keys, depth + 1)
      if (r !== item) {
        if (out === undefined) {
          out = {}
          // defineProperty: a "__proto__" key stays an own key.
          for (const k of Object.keys(value)) {
            Object.defineProperty(out, k, { value: value[k], enumerable: true, writable: true, configurable: true })
          }
        }
        out[key] = r
      }
    }
    return out ?? value
  }
  return value
}

/** A callable's pickled global (2022.12) and global reference (2024.12), once per dotted name. */
interface Callable {
  readonly global: PyGlobal
  readonly pickled: Uint8Array
}

const callables = new Map<string, Callable>()

const callableOf = (python: string): Callable | undefined => {
  let c = callables.get(python)
  if (c === undefined) {
    const parts = splitCallable(python)
    if (parts === undefined) return undefined
    c = { global: new PyGlobal(parts[0], parts[1]), pickled: pickledFunction(python, parts[0], parts[1]) }
    if (callables.size >= 4_096) callables.clear()
    callables.set(python, c)
  }
  return c
}

const argsRefusal = (task: Task.Any, key: string, reason: string) =>
  new UnsupportedTaskError({
    task: task.name,
    backend: BACKEND,
    message: `task "${task.name}" (key ${key}): an argument cannot be sent to Python: ${reason.replace(/^value/, "args")}`
  })

/**
 * One call validated and encoded for one dialect (from {@link prepareCall}):
 * the 2022.12 run_spec with its referenced keys, or the 2024.12 task tuple.
 *
 * @internal
 */
export class PreparedCall {
  constructor(
    readonly dialect: "2022.12" | "2024.12",
    /** 2022.12: `{function, args}`; 2024.12: the `PyTuple` task. */
    readonly payload: unknown,
    /** 2022.12: keys of KeyRefs in the arguments. */
    readonly refs: ReadonlyArray<string> | undefined
  ) {}
}

/**
 * Validates one call of `task` with `args` (KeyRefs included) for `dialect`
 * and encodes it, once: `updateGraph2022`/`updateGraph2024` use the result
 * as is.
 *
 * @internal
 */
export const prepareCall = (
  task: Task.Any,
  args: ReadonlyArray<unknown>,
  dialect: "2022.12" | "2024.12",
  key = `${task.name}-…`
): PreparedCall | UnsupportedTaskError => {
  const refused = checkTask(task)
  if (refused !== undefined) return refused
  if (task.python === undefined) return prepareJsCall(task, args, dialect, key)
  const callable = callableOf(task.python!)!
  // The common map of plain values: nothing to substitute, normalize, quote or refuse.
  if (allPlainLeaves(args)) {
    if (dialect === "2022.12") return new PreparedCall(dialect, { function: callable.pickled, args }, undefined)
    const items: Array<unknown> = new Array(args.length + 1)
    items[0] = callable.global
    for (let i = 0; i < args.length; i++) items[i + 1] = args[i]
    return new PreparedCall(dialect, new PyTuple(items), undefined)
  }
  const refs = new Set<string>()
  const substituted = substitute(args, refs, 0)
  const normalized = normalizeValue(substituted)
  if (typeof normalized === "string") return argsRefusal(task, key, normalized)
  if (dialect === "2024.12") {
    // The user's containers are referenced, not copied: `updateGraph2024` pickles them in the
    // same submit (`send`), before the user can change them. 2022.12 packs at the stream's
    // flush, hence the normalized copy below.
    const items: Array<unknown> = new Array(args.length + 1)
    items[0] = callable.global
    for (let i = 0; i < args.length; i++) {
      const a = args[i]
      items[i + 1] = typeof a === "object" && a !== null ? graphArgument(a) : a
    }
    return new PreparedCall(dialect, new PyTuple(items), undefined)
  }
  if (refs.size > 0 && collides(args, refs, 0)) {
    // A user string equal to a dependency key: the 2022.12 worker's `pack_data` would
    // replace it with that key's data. Sent as a pickled task instead, the string
    // quoted the way Dask's own client does (`dask.core.quote`).
    const pickled = writePickle(new PyTuple([callable.global, ...args.map((a) => quoted(a, refs))]))
    return new PreparedCall(dialect, new ToPickleBytes(pickled), Array.from(refs))
  }
  const marker = markerKey(substituted)
  if (marker !== undefined) return markerRefusal(task, key, marker)
  const runSpec = { function: callable.pickled, args: normalized.value }
  return new PreparedCall(dialect, runSpec, refs.size === 0 ? undefined : Array.from(refs))
}

const allPlainLeaves = (args: ReadonlyArray<unknown>): boolean => {
  for (let i = 0; i < args.length; i++) if (!isPlainLeaf(args[i])) return false
  return true
}

const MARKER_PICKLE = pickleGlobal(JsTask.MARKER_MODULE, JsTask.MARKER_NAME)
const MARKER = new PyGlobal(JsTask.MARKER_MODULE, JsTask.MARKER_NAME)
const TASK = new PyGlobal("dask._task_spec", "Task")

/**
 * A JS task's 2024.12 arguments after the key and the marker; the
 * `dask._task_spec.Task(key, marker, *args)` is built once the key is known.
 */
class JsTask2024 {
  constructor(readonly args: ReadonlyArray<unknown>) {}
}

/**
 * A JS task (worker protocol §12): the marker callable, then the tag and the
 * task name, then the arguments with every KeyRef as its key string (the
 * Node worker substitutes dependency keys at any depth, as Dask's
 * `pack_data`). 2022.12 declares dependencies in `dependencies`; 2024.12 as
 * top-level `TaskRef`s after a separator (`Task.__init__` only registers
 * top-level references), which the worker drops.
 */
const prepareJsCall = (
  task: Task.Any,
  args: ReadonlyArray<unknown>,
  dialect: "2022.12" | "2024.12",
  key: string
): PreparedCall | UnsupportedTaskError => {
  const refs = new Set<string>()
  const substituted = substitute(args, refs, 0) as ReadonlyArray<unknown>
  const normalized = normalizeValue(substituted)
  if (typeof normalized === "string") return argsRefusal(task, key, normalized)
  if (dialect === "2024.12") {
    const deps = refs.size === 0 ? [] : [JsTask.DEPS_SEPARATOR, ...Array.from(refs, (k) => new PyObject(TASK_REF, [k]))]
    return new PreparedCall(dialect, new JsTask2024([JsTask.TAG, task.name, ...substituted, ...deps]), undefined)
  }
  const marker = markerKey(substituted)
  if (marker !== undefined) return markerRefusal(task, key, marker)
  return new PreparedCall(
    dialect,
    { function: MARKER_PICKLE, args: [JsTask.TAG, task.name, ...(normalized.value as ReadonlyArray<unknown>)] },
    refs.size === 0 ? undefined : Array.from(refs)
  )
}

/**
 * Where the tasks of one client may run, from the scheduler's view of its
 * workers (`identity`): when Node workers (resource `js`) are present,
 * Python tasks without placement options of their own are restricted to the
 * other workers, so none lands on a worker that cannot run it (§12.3);
 * JS tasks always require the `js` resource.
 *
 * @internal
 */
export class Placement {
  /** Effective options of Python tasks, by the call's own options (`undefined` → `none`). */
  private readonly python = new WeakMap<TaskOptions, TaskOptions>()
  private readonly pythonNone: TaskOptions | undefined
  constructor(
    /** Workers without the `js` resource; `undefined` when there is no Node worker. */
    readonly pythonWorkers: ReadonlyArray<string> | undefined
  ) {
    this.pythonNone = pythonWorkers !== undefined && pythonWorkers.length > 0 ? { workers: pythonWorkers } : undefined
  }

  /** The options a Python task is sent with. */
  forPython(options: TaskOptions | undefined): TaskOptions | undefined {
    if (this.pythonNone === undefined) return options
    if (options === undefined) return this.pythonNone
    if (options.workers !== undefined || options.resources !== undefined) return options
    let out = this.python.get(options)
    if (out === undefined) {
      out = { ...options, workers: this.pythonNone.workers }
      this.python.set(options, out)
    }
    return out
  }

  /**
   * The options a JS task is sent with: `resources: {js: 1}` added, and
   * `allowOtherWorkers` dropped: with loose restrictions Dask ignores the
   * resource restriction too when the listed workers are gone, and would
   * hand the task to a Python worker, which holds it forever (`constrained`).
   */
  static forJs(options: TaskOptions | undefined): TaskOptions {
    if (options === undefined) return JS_ONLY
    if (options.resources?.[JsTask.RESOURCE] !== undefined && options.allowOtherWorkers !== true) return options
    let out = jsOptions.get(options)
    if (out === undefined) {
      const { allowOtherWorkers: _loose, ...rest } = options
      out = { ...rest, resources: { [JsTask.RESOURCE]: 1, ...options.resources } }
      jsOptions.set(options, out)
    }
    return out
  }
}

const JS_ONLY: TaskOptions = { resources: { [JsTask.RESOURCE]: 1 } }
const jsOptions = new WeakMap<TaskOptions, TaskOptions>()

/** No Node worker known: Python tasks go anywhere. @internal */
export const NO_PLACEMENT = new Placement(undefined)

/**
 * The placement for the scheduler's `identity` reply (`workers: {address:
 * {resources}}`); `previous` when the worker sets did not change.
 *
 * @internal
 */
export const placementOf = (identity: unknown, previous: Placement): Placement => {
  const workers = identity instanceof Map ? identity.get("workers") : (identity as Record<string, unknown> | null)?.["workers"]
  if (typeof workers !== "object" || workers === null) return previous
  const entries: Array<[unknown, unknown]> = workers instanceof Map ? Array.from(workers) : Object.entries(workers)
  const python: Array<string> = []
  let js = false
  for (const [address, info] of entries) {
    if (typeof address !== "string") continue
    const resources = info instanceof Map ? info.get("resources") : (info as Record<string, unknown> | null)?.["resources"]
    const hasJs = resources instanceof Map ? resources.has(JsTask.RESOURCE) : typeof resources === "object" && resources !== null && JsTask.RESOURCE in resources
    if (hasJs) js = true
    else python.push(address)
  }
  const next = js ? python.sort() : undefined
  const prev = previous.pythonWorkers
  if (next === undefined && prev === undefined) return previous
  if (next !== undefined && prev !== undefined && next.length === prev.length && next.every((a, i) => a === prev[i])) return previous
  return new Placement(next)
}

/** The options a task is sent with under `placement`. */
const placedOptions = (spec: TaskSpec, placement: Placement): TaskOptions | undefined =>
  isJsTask(spec.task) ? Placement.forJs(spec.options) : placement.forPython(spec.options)


/** Whether a string (a value, or a key of a map) among the arguments equals one of `keys`. */
const collides = (value: unknown, keys: ReadonlySet<string>, depth: number): boolean => {
  if (typeof value === "string") return keys.has(value)
  if (typeof value !== "object" || value === null || value instanceof KeyRef || depth > 256) return false
  if (Array.isArray(value)) return value.some((item) => collides(item, keys, depth + 1))
  if (value instanceof Map) {
    for (const [k, v] of value) if (collides(k, keys, depth + 1) || collides(v, keys, depth + 1)) return true
    return false
  }
  if (isPlainObject(value)) {
    for (const k of Object.keys(value)) if (keys.has(k) || collides(value[k], keys, depth + 1)) return true
  }
  return false
}

const LITERAL = new PyGlobal("dask.core", "literal")

/**
 * One argument of a 2022.12 pickled task (run by the worker's `execute_task`
 * after `pack_data` replaced dependency keys with their data): KeyRefs are
 * their key strings, a colliding string is the task `(literal(s),)`, and a map
 * holding one becomes `(dict, [[k, v], ...])` (execute_task evaluates tasks
 * inside lists, never inside dicts).
 */
const quoted = (value: unknown, keys: ReadonlySet<string>): unknown => {
  if (value instanceof KeyRef) return value.key
  if (typeof value === "string") return keys.has(value) ? new PyTuple([new PyObject(LITERAL, [value])]) : value
  if (Array.isArray(value)) return value.map((item) => quoted(item, keys))
  if ((value instanceof Map || isPlainObject(value)) && collides(value, keys, 0)) {
    const entries = value instanceof Map ? Array.from(value) : Object.entries(value)
    return new PyTuple([DICT, entries.map(([k, v]) => [quoted(k, keys), quoted(v, keys)])])
  }
  return substitute(value, new Set(), 0)
}

/** The spec's prepared form for `dialect`, prepared now if the client did not (or for another dialect). */
const preparedOf = (spec: TaskSpec, dialect: "2022.12" | "2024.12"): PreparedCall | UnsupportedTaskError => {
  const p = spec.prepared
  return p instanceof PreparedCall && p.dialect === dialect ? p : prepareCall(spec.task, spec.args, dialect, spec.key)
}

const markerRefusal = (task: Task.Any, key: string, marker: string) =>
  new UnsupportedTaskError({
    task: task.name,
    backend: BACKEND,
    message: `task "${task.name}" (key ${key}): an argument has the key "${marker}", which Dask 2022.12 decodes as a protocol marker`
  })

/** Keys Python's frame_0 decoder treats as markers (`msgpack_decode_default`, `loads`). */
const MARKER_KEYS = ["__Serialized__", "__Pickled__", "__Set__", "__Enum__"]

/** A marker key in a map of inline msgpack args would be decoded as a marker by the scheduler. */
const markerKey = (value: unknown, depth = 0): string | undefined => {
  if (depth > 256) return undefined
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = markerKey(item, depth + 1)
      if (found !== undefined) return found
    }
  } else if (value instanceof Map || isPlainObject(value)) {
    const entries = value instanceof Map ? Array.from(value) : Object.entries(value)
    for (const [key, item] of entries) {
      if (typeof key === "string" && MARKER_KEYS.includes(key)) return key
      const found = markerKey(item, depth + 1)
      if (found !== undefined) return found
    }
  }
  return undefined
}

/** Declared dependencies plus the keys referenced in the arguments, each once. */
const dependenciesOf = (declared: ReadonlyArray<string>, refs: ReadonlyArray<string> | undefined): Array<string> => {
  if (refs === undefined) return declared.slice()
  const all = new Set(refs)
  for (const dep of declared) all.add(dep)
  return Array.from(all)
}

/**
 * The 2022.12 `update-graph` stream message: run_spec Form A
 * `{function: <pickled global>, args: <msgpack array>}` (no other keys: any
 * extra key kills the worker), KeyRefs replaced by their key strings (the
 * worker substitutes declared dependencies), explicit `dependencies`, and
 * per-key `retries`. `tasks` and `dependencies` are `Map`s (msgpack maps,
 * as a dict to Python).
 *
 * @internal
 */
export const updateGraph2022 = (
  tasks: ReadonlyArray<TaskSpec>,
  keys: ReadonlyArray<string>,
  clientId: string,
  placement: Placement = NO_PLACEMENT
): Either.Either<Record<string, unknown>, UnsupportedTaskError> => {
  const g = new Graph2022()
  const refused = collect2022(tasks, placement, g)
  if (refused !== undefined) return Either.left(refused)
  const { runSpecs, dependencies, retries, scheduling, fifoTimeout } = g
  const message: Record<string, unknown> = {
    op: "update-graph",
    tasks: runSpecs,
    dependencies,
    keys: Array.from(keys),
    client: clientId
  }
  if (g.anyRetries) message["retries"] = retries
  if (scheduling !== undefined) {
    // Only fields that carry something: `user_priority` must be a number or a map, and
    // `loose_restrictions` names keys the scheduler looks up without a guard.
    if (Object.keys(scheduling.user_priority).length > 0) message["user_priority"] = scheduling.user_priority
    if (Object.keys(scheduling.restrictions).length > 0) message["restrictions"] = scheduling.restrictions
    if (scheduling.loose_restrictions.length > 0) message["loose_restrictions"] = scheduling.loose_restrictions
    if (Object.keys(scheduling.resources).length > 0) message["resources"] = scheduling.resources
  }
  if (fifoTimeout !== undefined) message["fifo_timeout"] = fifoTimeout
  return Either.right(message)
}

/** What `updateGraph2022` collects from its tasks. */
class Graph2022 {
  // Maps, not objects: 10k keys would put an object in dictionary mode, slower to fill and to pack.
  readonly runSpecs = new Map<string, unknown>()
  readonly dependencies = new Map<string, unknown>()
  readonly retries: Record<string, unknown> = {}
  anyRetries = false
  // Scheduling options as 2022.12's `update_graph` takes them: per-key maps.
  scheduling: Scheduling2022 | undefined = undefined
  fifoTimeout: number | undefined = undefined
}

/**
 * The loop of `updateGraph2022`, on its own, with nothing before or after it
 * (an indexed loop: no iterator set up): code that only ever ran
 * on-stack-replaced, or before V8 gave the function type feedback, has none,
 * and V8 deoptimized there and recompiled the function on the next updates.
 */
const collect2022 = (tasks: ReadonlyArray<TaskSpec>, placement: Placement, g: Graph2022): UnsupportedTaskError | undefined => {
  for (let i = 0; i < tasks.length; i++) {
    const spec = tasks[i]!
    const prepared = preparedOf(spec, "2022.12")
    if (prepared instanceof UnsupportedTaskError) return prepared
    g.runSpecs.set(spec.key, prepared.payload)
    // A task without dependencies needs no entry (update_graph reads a missing one as none).
    if (spec.dependencies.length > 0 || prepared.refs !== undefined) {
      g.dependencies.set(spec.key, dependenciesOf(spec.dependencies, prepared.refs))
    }
    const r = retriesOf(spec)
    if (r > 0) {
      defineEntry(g.retries, spec.key, r)
      g.anyRetries = true
    }
    const o = placedOptions(spec, placement)
    if (o !== undefined) {
      const scheduling = g.scheduling ??= { user_priority: {}, restrictions: {}, loose_restrictions: [], resources: {} }
      if (o.priority !== undefined) defineEntry(scheduling.user_priority, spec.key, o.priority)
      if (o.workers !== undefined) {
        defineEntry(scheduling.restrictions, spec.key, o.workers.slice())
        if (o.allowOtherWorkers === true) scheduling.loose_restrictions.push(spec.key)
      }
      if (o.resources !== undefined) defineEntry(scheduling.resources, spec.key, { ...o.resources })
      g.fifoTimeout ??= fifoTimeoutSeconds(o)
    }
  }
  return undefined
}

interface Scheduling2022 {
  readonly user_priority: Record<string, unknown>
  readonly restrictions: Record<string, unknown>
  readonly loose_restrictions: Array<string>
  readonly resources: Record<string, unknown>
}

/**
 * Dask's annotation names for one task's scheduling options (`retries`,
 * `priority`, `workers`, `allow_other_workers`, `resources`), as 2024.12's
 * `_apply_annotations` reads them; empty when there are none.
 *
 * @internal
 */
export const annotationsOf = (retries: number, options: TaskOptions | undefined): Map<string, unknown> => {
  const out = new Map<string, unknown>()
  if (retries > 0) out.set("retries", retries)
  if (options === undefined) return out
  if (options.priority !== undefined) out.set("priority", options.priority)
  if (options.workers !== undefined) {
    out.set("workers", options.workers.slice())
    if (options.allowOtherWorkers === true) out.set("allow_other_workers", true)
  }
  if (options.resources !== undefined) out.set("resources", new Map(Object.entries(options.resources)))
  return out
}

const containsKeyRef = (value: unknown, depth = 0): boolean => {
  if (value instanceof KeyRef) return true
  if (depth > 256) return false
  if (Array.isArray(value)) return value.some((item) => containsKeyRef(item, depth + 1))
  if (isPlainObject(value)) return Object.values(value).some((item) => containsKeyRef(item, depth + 1))
  return false
}

const DICT = new PyGlobal("builtins", "dict")

/**
 * One argument of a 2024 legacy task. `convert_legacy_task` (dask 2024.12.1)
 * resolves TaskRefs at any depth of lists, but in a dict argument only as a
 * direct value, and never in a dict nested in a list: a dict holding a
 * reference is therefore sent as the nested task `(dict, [[k, v], ...])`,
 * whose list arguments are resolved at any depth.
 */
const graphArgument = (value: unknown): unknown => {
  if (value instanceof KeyRef) return new PyObject(TASK_REF, [value.key])
  if (Array.isArray(value)) return value.map(graphArgument)
  if (isPlainObject(value) && containsKeyRef(value)) {
    return new PyTuple([DICT, Object.keys(value).map((key) => [key, graphArgument(value[key])])])
  }
  return value
}

const TO_PICKLE = new PyGlobal("distributed.protocol.serialize", "ToPickle")
const HIGH_LEVEL_GRAPH = new PyGlobal("dask.highlevelgraph", "HighLevelGraph")
const MATERIALIZED_LAYER = new PyGlobal("dask.highlevelgraph", "MaterializedLayer")
const TASK_REF = new PyGlobal("dask._task_spec", "TaskRef")

/** Layer name of the graph; one update-graph holds one graph. */
const LAYER = "ts-graph"

/**
 * The pickle of `ToPickle(HighLevelGraph(layers, {}))` (REDUCE form, §3.3 of
 * the 2024 spec). `layers` values are dicts `{key: task}`, or
 * `MaterializedLayer(dict, annotations)` descriptors.
 *
 * @internal
 */
export const pickleGraph = (layers: Map<string, unknown>): Uint8Array =>
  writePickle(new PyObject(TO_PICKLE, [new PyObject(HIGH_LEVEL_GRAPH, [layers, new Map()])]))

/**
 * The loop of `updateGraph2024`, on its own (see `collect2022`): each task's
 * tuple into the layer of its (options, retries) group; the update's FIFO
 * timeout, if any task sets one.
 */
const group2024 = (
  tasks: ReadonlyArray<TaskSpec>,
  placement: Placement,
  groups: Map<TaskOptions | undefined, Map<number, Map<string, unknown>>>
): number | undefined | UnsupportedTaskError => {
  let fifoTimeout: number | undefined
  // The tasks of one call share options and retries: the previous task's layer, without lookups.
  let lastOptions: TaskOptions | undefined
  let lastRetries = -1
  let layer: Map<string, unknown> | undefined
  for (let i = 0; i < tasks.length; i++) {
    const spec = tasks[i]!
    const prepared = preparedOf(spec, "2024.12")
    if (prepared instanceof UnsupportedTaskError) return prepared
    const options = placedOptions(spec, placement)
    const retries = retriesOf(spec)
    if (layer === undefined || options !== lastOptions || retries !== lastRetries) {
      let byRetries = groups.get(options)
      if (byRetries === undefined) {
        byRetries = new Map()
        groups.set(options, byRetries)
      }
      layer = byRetries.get(retries)
      if (layer === undefined) {
        layer = new Map()
        byRetries.set(retries, layer)
      }
      lastOptions = options
      lastRetries = retries
    }
    const payload = prepared.payload
    layer.set(spec.key, payload instanceof JsTask2024 ? new PyObject(TASK, [spec.key, MARKER, ...payload.args]) : payload)
    if (fifoTimeout === undefined && spec.options !== undefined) fifoTimeout = fifoTimeoutSeconds(spec.options)
  }
  return fifoTimeout
}

/**
 * The 2024.12 `update-graph` stream message. Tasks are legacy tuples
 * `(callable, *args)`; every KeyRef becomes `dask._task_spec.TaskRef(key)`,
 * which refers to keys of this update and earlier ones alike (a bare key
 * string only works for keys of the same update), and dicts holding
 * references become `(dict, [[k, v], ...])` tasks (see `graphArgument`).
 * Scheduling options (retries, priority, workers, resources): one set for
 * the whole update goes in `annotations`; several put each group in its own
 * `MaterializedLayer(tasks, annotations)`. `fifo_timeout` is per update.
 *
 * `clientId` is not sent: the scheduler fills `client` from the stream.
 *
 * @internal
 */
export const updateGraph2024 = (
  tasks: ReadonlyArray<TaskSpec>,
  keys: ReadonlyArray<string>,
  _clientId: string,
  placement: Placement = NO_PLACEMENT
): Either.Either<Record<string, unknown>, UnsupportedTaskError> => {
  // One layer per distinct (options, retries): the tasks of one call share one options object.
  const groups = new Map<TaskOptions | undefined, Map<number, Map<string, unknown>>>()
  const fifoTimeout = group2024(tasks, placement, groups)
  if (fifoTimeout instanceof UnsupportedTaskError) return Either.left(fifoTimeout)
  const layers = new Map<string, unknown>()
  let annotations: Map<string, unknown> | undefined
  const first = groups.entries().next().value
  if (groups.size <= 1 && (first?.[1].size ?? 0) <= 1) {
    const [retries, graph] = first?.[1].entries().next().value ?? [0, new Map<string, unknown>()]
    layers.set(LAYER, graph)
    annotations = annotationsOf(retries, first?.[0])
  } else {
    let i = 0
    for (const [options, byRetries] of groups) {
      for (const [retries, graph] of byRetries) {
        const annotated = annotationsOf(retries, options)
        layers.set(`${LAYER}-${i++}`, annotated.size > 0 ? new PyObject(MATERIALIZED_LAYER, [graph, annotated]) : graph)
      }
    }
  }
  const message: Record<string, unknown> = {
    op: "update-graph",
    graph_header: { serializer: "pickle", writeable: [] },
    graph_frames: [pickleGraph(layers)],
    keys: { "__Set__": true, "as-list": Array.from(keys) },
    span_metadata: null,
    internal_priority: null,
    submitting_task: null
  }
  // Whole-update annotations go as a plain msgpack map (§3.6 of the 2024 notes).
  if (annotations !== undefined && annotations.size > 0) {
    message["annotations"] = Object.fromEntries(
      Array.from(annotations, ([k, v]) => [k, v instanceof Map ? Object.fromEntries(v) : v])
    )
  }
  if (fifoTimeout !== undefined) message["fifo_timeout"] = fifoTimeout
  return Either.right(message)
}

const FUTURE = new PyGlobal("distributed.client", "Future")

/**
 * The pickle of a list of `distributed.client.Future`s, as a Python client
 * pickles them into a published dataset: 2022.12 `Future.__getstate__` gives
 * `(key, scheduler address)` (NEWOBJ + BUILD, `__setstate__` binds the
 * current client); 2024.12 `Future.__reduce__` gives `Future(key)` (bound
 * late to the reading client).
 *
 * @internal
 */
export const pickleFutures = (keys: ReadonlyArray<string>, dialect: "2022.12" | "2024.12", address: string): Uint8Array =>
  writePickle(keys.map((key) =>
    dialect === "2022.12"
      ? PyObject.withState(FUTURE, [], new PyTuple([key, address]), "newobj")
      : new PyObject(FUTURE, [key])
  ))

/**
 * Whether a 2022.12 `update-graph` holds a pickled task (a run_spec sent as a
 * sub-frame, see `prepareCall`); the others are packed without another walk.
 *
 * @internal
 */
export const hasPickledRunSpec = (message: Record<string, unknown>): boolean => {
  for (const spec of (message["tasks"] as Map<string, unknown>).values()) if (spec instanceof ToPickleBytes) return true
  return false
}
