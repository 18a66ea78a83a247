/**
 * The Node worker's decoding and the client's JS-task encoding, without a
 * cluster: every live worker vector (both versions) replayed through the
 * worker's decoder (framing, message, run_spec, stored values, errors), the
 * §12 encodings of JS tasks, the placement rule for mixed clusters, and the
 * value and error forms the worker sends.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { loadVectors } from "./fixtures/vectors.js"
import { KeyRef, type TaskOptions, type TaskSpec } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import { NO_PLACEMENT, Placement, placementOf, updateGraph2022, updateGraph2024 } from "../src/internal/dask/graph.js"
import { errorInfo } from "../src/internal/dask/taskErred.js"
import { FrameReader } from "../src/internal/wire/framing.js"
import { decodeMessage, Pickled, Serialized, unpickle } from "../src/internal/wire/message.js"
import { PyGlobal, PyObject, readPickle, writePickle } from "../src/internal/wire/pickle.js"
import { errorReport, parseStack } from "../src/internal/worker/errors.js"
import { entries } from "../src/internal/worker/keys.js"
import { DepRef, readRunSpec } from "../src/internal/worker/runSpec.js"
import { storeReceived, storeResult, valueOf } from "../src/internal/worker/values.js"

const vectors = [...loadVectors("dask-worker-vectors", "2022.12"), ...loadVectors("dask-worker-vectors", "2024.12")]
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"))
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")

const field = (u: unknown, name: string): unknown =>
  u instanceof Map ? u.get(name) : typeof u === "object" && u !== null ? (u as Record<string, unknown>)[name] : undefined

/** Every Serialized inside a decoded message. */
const serializedIn = (u: unknown, out: Array<Serialized> = [], depth = 0): Array<Serialized> => {
  if (depth > 64) return out
  if (u instanceof Serialized) out.push(u)
  else if (Array.isArray(u)) for (const x of u) serializedIn(x, out, depth + 1)
  else if (u instanceof Map) for (const v of u.values()) serializedIn(v, out, depth + 1)
  else if (typeof u === "object" && u !== null && !(u instanceof Uint8Array) && !(u instanceof Pickled)) {
    for (const v of Object.values(u)) serializedIn(v, out, depth + 1)
  }
  return out
}

/** What the worker reads out of one message: ops of a batch, or the message itself. */
const opsOf = (message: unknown): Array<unknown> => (Array.isArray(message) ? message : [message])

describe("worker vectors replayed through the worker's decoder", () => {
  it("covers both versions", () => {
    assert.isAtLeast(vectors.filter((v) => v.file.startsWith("2022.12")).length, 70)
    assert.isAtLeast(vectors.filter((v) => v.file.startsWith("2024.12")).length, 70)
  })

  for (const v of vectors) {
    it(v.file, () => {
      // Framing, fed in uneven chunks as a socket would.
      const wire = bytes(v.wire_hex)
      const reader = new FrameReader({ maxMessageBytes: 64 * 1024 * 1024 })
      const messages: Array<ReadonlyArray<Uint8Array>> = []
      for (let i = 0; i < wire.length; i += 37) {
        const pushed = reader.push(wire.subarray(i, Math.min(wire.length, i + 37)))
        assert.isTrue(Either.isRight(pushed))
        if (Either.isRight(pushed)) messages.push(...pushed.right)
      }
      assert.strictEqual(messages.length, 1)
      assert.deepStrictEqual(messages[0]!.map(hex), v.frames_hex)
      const decoded = decodeMessage(messages[0]!)
      assert.isTrue(Either.isRight(decoded), Either.isLeft(decoded) ? decoded.left.message : "")
      const message = Either.getOrThrow(decoded)
      for (const op of opsOf(message)) {
        if (field(op, "op") === "compute-task") {
          const spec = readRunSpec(op)
          assert.notStrictEqual(spec._tag, "Invalid", JSON.stringify(spec))
          // JS tasks: recorded from the Node prototype or the TS client; Python tasks otherwise.
          const js = /js/.test(v.name) && v.direction.startsWith("scheduler->node")
          assert.strictEqual(spec._tag, js ? "Js" : "Foreign", v.name)
        }
        if (field(op, "op") === "task-erred") {
          const info = errorInfo(field(op, "exception"), field(op, "traceback"))
          assert.notStrictEqual(info.type, "UnknownError", info.message)
        }
      }
      // Values as the worker stores and decodes them (data of get_data / update_data / gather).
      const isData = /get-data|update-data/.test(v.name) && !/ack/.test(v.name)
      if (isData) {
        for (const [, value] of [...entries(field(message, "data"))]) {
          assert.instanceOf(value, Serialized)
          const stored = storeReceived(value as Serialized)
          const read = valueOf(stored, 1 << 20)
          assert.isTrue(Either.isRight(read), Either.isLeft(read) ? read.left.message : "")
          assert.strictEqual(stored.serialized, value, "served byte for byte as received")
        }
      }
      for (const s of serializedIn(message)) assert.isArray(s.frames)
    })
  }

  it("reads the JS task name and its dependency references in both run_spec forms", () => {
    const spec2024 = readRunSpec(opsOf(decode("2024.12", "node-compute-task-js-dep-on-python"))[0])
    assert.strictEqual(spec2024._tag, "Js")
    if (spec2024._tag === "Js") {
      assert.strictEqual(spec2024.name, "inc")
      assert.deepStrictEqual(spec2024.args, [new DepRef("py-mul-1")])
    }
    const spec2022 = readRunSpec(opsOf(decode("2022.12", "node-compute-task-js-python-client"))[0])
    assert.strictEqual(spec2022._tag, "Js")
    if (spec2022._tag === "Js") assert.strictEqual(typeof spec2022.name, "string")
  })
})

const decode = (version: string, name: string): unknown => {
  const v = vectors.find((x) => x.file === `${version}/${name}.json`)!
  return Either.getOrThrow(decodeMessage(v.frames_hex.map(bytes)))
}

const jsAdd = Task.make("js-add", (a: number, b: number) => a + b)
const jsInc = Task.make("js-inc", (a: number) => a + 1)
const pyAdd = Task.python<[number, number], number>("operator.add")
const spec = (key: string, task: Task.Any, args: ReadonlyArray<unknown>, options?: TaskOptions): TaskSpec => ({
  key,
  task,
  args,
  dependencies: [],
  options
})

describe("JS tasks sent to Dask (§12)", () => {
  it("2022.12: the marker callable, tag and name first, refs as key strings, resources js", () => {
    const message = Either.getOrThrow(updateGraph2022([
      spec("a", jsAdd, [1, 2]),
      spec("b", jsInc, [new KeyRef("a")]),
      spec("c", pyAdd, [new KeyRef("b"), 100])
    ], ["c"], "client"))
    const tasks = Object.fromEntries(message["tasks"] as Map<string, { function: Uint8Array; args: Array<unknown> }>)
    // The byte-identical pickle of concurrent.futures._base.Executor.submit the prototype verified.
    assert.strictEqual(
      hex(tasks["a"]!.function),
      "80049530000000000000008c18636f6e63757272656e742e667574757265732e5f62617365948c0f4578656375746f722e7375626d69749493942e"
    )
    assert.deepStrictEqual(tasks["a"]!.args, ["effect-dask:js", "js-add", 1, 2])
    assert.deepStrictEqual(tasks["b"]!.args, ["effect-dask:js", "js-inc", "a"])
    assert.deepStrictEqual(message["dependencies"], new Map([["b", ["a"]], ["c", ["b"]]]))
    assert.deepStrictEqual(message["resources"], { a: { js: 1 }, b: { js: 1 } })
    // The worker reads what the scheduler forwards byte for byte.
    const read = readRunSpec({ op: "compute-task", key: "b", function: tasks["b"]!.function, args: tasks["b"]!.args })
    assert.deepStrictEqual(read, { _tag: "Js", name: "js-inc", args: ["a"] })
  })

  it("2024.12: Task(key, marker, tag, name, *args) with nested refs declared after the separator, js resources as annotations", () => {
    const message = Either.getOrThrow(updateGraph2024([
      spec("a", jsAdd, [1, 2]),
      spec("b", Task.make("js-sum", (xs: ReadonlyArray<number>) => xs.length), [[new KeyRef("a"), 5]])
    ], ["b"], "client"))
    assert.deepStrictEqual(message["annotations"], { resources: { js: 1 } })
    const graph = Either.getOrThrow(readPickle((message["graph_frames"] as Array<Uint8Array>)[0]!)) as PyObject
    const hlg = graph.args[0] as PyObject
    const layer = (hlg.args[0] as Record<string, Record<string, PyObject>>)["ts-graph"]!
    const b = layer["b"]!
    assert.strictEqual((b.callable as PyGlobal).qualifiedName, "dask._task_spec.Task")
    const [key, marker, tag, name, arg, separator, ref] = b.args
    assert.strictEqual(key, "b")
    assert.strictEqual((marker as PyGlobal).qualifiedName, "concurrent.futures._base.Executor.submit")
    assert.deepStrictEqual([tag, name, arg, separator], ["effect-dask:js", "js-sum", ["a", 5], "effect-dask:deps"])
    assert.strictEqual(((ref as PyObject).callable as PyGlobal).qualifiedName, "dask._task_spec.TaskRef")
    // The worker drops the declarations and substitutes the key string.
    const read = readRunSpec({ op: "compute-task", key: "b", ...fakeRunSpec(b) })
    assert.deepStrictEqual(read, { _tag: "Js", name: "js-sum", args: [["a", 5]] })
  })

  it("mixed clusters: Python tasks are restricted to the Python workers, JS tasks never loose", () => {
    const placement = placementOf({
      workers: { "tcp://n:1": { resources: { js: 2 } }, "tcp://p:2": { resources: {} }, "tcp://p:1": { resources: {} } }
    }, NO_PLACEMENT)
    assert.deepStrictEqual(placement.pythonWorkers, ["tcp://p:1", "tcp://p:2"])
    // Same worker set, same object (so its option groups stay one layer each).
    assert.strictEqual(placementOf({ workers: { "tcp://p:2": {}, "tcp://n:1": { resources: { js: 1 } }, "tcp://p:1": {} } }, placement), placement)
    assert.strictEqual(placementOf({ workers: { "tcp://p:1": {} } }, NO_PLACEMENT), NO_PLACEMENT)
    const message = Either.getOrThrow(updateGraph2022([
      spec("py", pyAdd, [1, 2]),
      spec("py-own", pyAdd, [1, 2], { workers: ["tcp://p:2"] }),
      spec("js-loose", jsAdd, [1, 2], { workers: ["tcp://n:1"], allowOtherWorkers: true })
    ], ["py"], "client", placement))
    assert.deepStrictEqual(message["restrictions"], { py: ["tcp://p:1", "tcp://p:2"], "py-own": ["tcp://p:2"], "js-loose": ["tcp://n:1"] })
    assert.strictEqual(message["loose_restrictions"], undefined)
    assert.deepStrictEqual(message["resources"], { "js-loose": { js: 1 } })
    assert.deepStrictEqual(Placement.forJs({ resources: { js: 3 } }), { resources: { js: 3 } })
    // Without Node workers Python tasks are sent as before.
    assert.isUndefined(Either.getOrThrow(updateGraph2022([spec("py", pyAdd, [1, 2])], ["py"], "c"))["restrictions"])
  })
})

/** The 2024 scheduler re-pickles the Task; the reader sees the same func/args, which we hand over as slots. */
const fakeRunSpec = (task: PyObject) => {
  const [, func, ...args] = task.args
  const object = new PyObject(task.callable, [], "newobj")
  object.state = [null, { func, args, kwargs: {}, key: task.args[0], _dependencies: new Set() }]
  return { run_spec: new PickledStub(object) }
}

/** A decoded run_spec stand-in: `readRunSpec` unpickles `Pickled`; give it one holding a real pickle. */
class PickledStub extends Pickled {
  constructor(object: PyObject) {
    super({ "pickled-obj": pickleOf(object) }, [])
  }
}

const pickleOf = (object: PyObject): Uint8Array => {
  // writePickle writes NEWOBJ + BUILD for "newobj" descriptors with state.
  const bytes = writePickle(object)
  assert.isTrue(Either.isRight(unpickle(new Pickled({ "pickled-obj": bytes }, []))))
  return bytes
}

describe("values and errors the Node worker sends", () => {
  it("JS results: msgpack with Python type names; a typed array as raw bytes a Node peer turns back into it", () => {
    const cases: Array<[unknown, string]> = [[3, "int"], [1.5, "float"], ["s", "str"], [true, "bool"], [null, "NoneType"], [[1, 2], "tuple"], [{ a: 1 }, "dict"], [new Uint8Array([1]), "bytes"]]
    for (const [value, typename] of cases) {
      const stored = Either.getOrThrow(storeResult(value))
      assert.strictEqual(stored.typename, typename)
      const back = Either.getOrThrow(valueOf(storeReceived(stored.serialized), 1 << 20))
      assert.deepStrictEqual(back, value)
    }
    const xs = new Float64Array([0.5, 1.5, 2.5])
    const stored = Either.getOrThrow(storeResult(xs))
    assert.strictEqual(stored.nbytes, 24)
    assert.strictEqual(stored.serialized.frames[0]!.buffer, xs.buffer, "no copy")
    const back = Either.getOrThrow(valueOf(storeReceived(new Serialized(stored.serialized.header, [stored.serialized.frames[0]!.slice()])), 1 << 20))
    assert.instanceOf(back, Float64Array)
    assert.deepStrictEqual(Array.from(back as Float64Array), [0.5, 1.5, 2.5])
    assert.isTrue(Either.isLeft(storeResult(() => 1)))
  })

  it("a JS error becomes a builtin exception pickle and a tblib traceback of the JS frames", () => {
    const error = new RangeError("out of range")
    error.stack = "RangeError: out of range\n    at explode (file:///app/tasks.ts:3:9)\n    at run (file:///app/worker.ts:10:2)\n    at node:internal/x:1:1"
    const report = errorReport(error)
    const info = errorInfo(report.exception, report.traceback)
    assert.strictEqual(info.type, "RuntimeError")
    assert.strictEqual(info.message, "JS RangeError: out of range")
    // Outermost first, as Python prints it.
    assert.include(info.traceback, `File "file:///app/worker.ts", line 10, in run\n  File "file:///app/tasks.ts", line 3, in explode`)
    assert.deepStrictEqual(parseStack("Error\n    at file:///a.ts:1:2"), [{ name: "<anonymous>", file: "file:///a.ts", line: 1 }])
    assert.strictEqual(errorReport("plain").exception_text, `RuntimeError("JS task failed with plain")`)
  })
})
