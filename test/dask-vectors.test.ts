/**
 * Replays every live-recorded Dask vector (2022.12.1 and 2024.12.1): wire
 * bytes → frames → message must equal the recorded `decoded` rendering, and
 * for messages a client sends, our encoder must reproduce the recorded bytes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { loadVectors, type Vector } from "./fixtures/vectors.js"
import { KeyRef, type TaskSpec } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import { encodeFrames, FrameReader } from "../src/internal/wire/framing.js"
import { updateGraph2024 } from "../src/internal/dask/graph.js"
import { decodeMessage, deserialize, encodeMessage, Pickled, Serialized } from "../src/internal/wire/message.js"
import { PyGlobal, PyObject, PyTuple, readPickle, writePickle } from "../src/internal/wire/pickle.js"
import { errorInfo } from "../src/internal/dask/taskErred.js"

const vectors2022 = loadVectors("dask-vectors", "2022.12")
const vectors2024 = loadVectors("dask-vectors", "2024.12")
const all = [...vectors2022, ...vectors2024]
const byName = (vectors: ReadonlyArray<Vector>, name: string) => vectors.find((v) => v.name === name)!

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"))

/** Our decoded value in the vectors' JSON rendering. */
const render = (u: unknown): unknown => {
  if (u instanceof Uint8Array) return { $bytes_hex: hex(u) }
  if (u instanceof Serialized) return { $serialized: { header: render(u.header), frames_hex: u.frames.map(hex) } }
  if (u instanceof Pickled) return { header: render(u.header), frames: u.frames.map(hex) }
  if (typeof u === "bigint") return Number(u)
  if (Array.isArray(u)) return u.map(render)
  if (u instanceof Map) return Object.fromEntries(Array.from(u, ([k, v]) => [String(k), render(v)]))
  if (typeof u === "object" && u !== null) return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, render(v)]))
  return u
}

/** The recorded rendering as our decoder returns it: `__Set__` maps become arrays. */
const expected = (u: unknown): unknown => {
  if (Array.isArray(u)) return u.map(expected)
  if (typeof u === "object" && u !== null) {
    const o = u as Record<string, unknown>
    if (o["__Set__"] === true) return expected(o["as-list"])
    if ("$bytes_hex" in o) return o
    if ("$serialized" in o) {
      // Client vectors render the header before `dumps` added num-sub-frames.
      const s = o["$serialized"] as { header: Record<string, unknown>; frames_hex: ReadonlyArray<string> }
      const header = { ...s.header, "num-sub-frames": s.frames_hex.length }
      return { $serialized: { header: expected(header), frames_hex: s.frames_hex } }
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, expected(v)]))
  }
  return u
}

/** The recorded rendering back into values our encoder takes. */
const revive = (u: unknown): unknown => {
  if (Array.isArray(u)) return u.map(revive)
  if (typeof u === "object" && u !== null) {
    const o = u as Record<string, unknown>
    if (typeof o["$bytes_hex"] === "string") return bytes(o["$bytes_hex"])
    if ("$serialized" in o) {
      const s = o["$serialized"] as { header: unknown; frames_hex: ReadonlyArray<string> }
      return new Serialized(revive(s.header) as Record<string, unknown>, s.frames_hex.map(bytes))
    }
    const keys = Object.keys(o)
    if (keys.length === 2 && "header" in o && "frames" in o && typeof o["header"] === "object" && o["header"] !== null && "pickled-obj" in o["header"]) {
      return new Pickled(revive(o["header"]) as Record<string, unknown>, (o["frames"] as Array<string>).map(bytes))
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, revive(v)]))
  }
  return u
}

const readAll = (wire: Uint8Array, chunk: number) => {
  const reader = new FrameReader({ maxMessageBytes: 1 << 20 })
  const messages: Array<ReadonlyArray<Uint8Array>> = []
  for (let i = 0; i < wire.length; i += chunk) {
    const out = reader.push(wire.subarray(i, i + chunk))
    assert.isTrue(Either.isRight(out))
    if (Either.isRight(out)) messages.push(...out.right)
  }
  assert.strictEqual(reader.pendingBytes, 0)
  return messages
}

describe("dask vectors", () => {
  it("the vector folders hold the recorded vectors", () => {
    assert.isAtLeast(vectors2022.length, 16)
    assert.isAtLeast(vectors2024.length, 20)
  })

  describe.each(all.map((v) => [v.file, v] as const))("%s", (_file, vector) => {
    const wire = bytes(vector.wire_hex)

    it("frames: whole, byte by byte, and in 7-byte chunks", () => {
      for (const chunk of [wire.length, 1, 7]) {
        const messages = readAll(wire, chunk)
        assert.strictEqual(messages.length, 1)
        assert.deepStrictEqual(messages[0]!.map(hex), vector.frames_hex)
      }
      assert.strictEqual(hex(encodeFrames(vector.frames_hex.map(bytes))), vector.wire_hex)
    })

    it("decodes to the recorded message", () => {
      const decoded = decodeMessage(vector.frames_hex.map(bytes))
      assert.isTrue(Either.isRight(decoded), Either.isLeft(decoded) ? decoded.left.message : "")
      if (vector.decoded !== undefined && Either.isRight(decoded)) {
        assert.deepStrictEqual(render(decoded.right), expected(vector.decoded))
      }
    })

    if (vector.direction.startsWith("client->") && vector.decoded !== undefined) {
      it("our encoder reproduces the recorded bytes", () => {
        const frames = encodeMessage(revive(vector.decoded))
        assert.deepStrictEqual(frames.map(hex), vector.frames_hex)
        assert.strictEqual(hex(encodeFrames(frames)), vector.wire_hex)
      })
    }
  })

  const decodeVector = (vector: Vector) => {
    const decoded = decodeMessage(vector.frames_hex.map(bytes))
    if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
    return decoded.right as any
  }

  it("gather replies deserialize: pickle and msgpack give 13 (both versions)", () => {
    for (const vectors of [vectors2022, vectors2024]) {
      for (const name of ["gather-reply-pickle", "gather-reply-msgpack"]) {
        const value = decodeVector(byName(vectors, name)).data.y
        assert.instanceOf(value, Serialized)
        assert.deepStrictEqual(deserialize(value), Either.right(13))
      }
    }
  })

  it("lz4-compressed gather reply deserializes to the 200,000-character string", () => {
    const value = decodeVector(byName(vectors2022, "gather-reply-msgpack-lz4")).data.big
    const out = deserialize(value)
    assert.isTrue(Either.isRight(out))
    const text = Either.getOrThrow(out) as string
    assert.strictEqual(typeof text, "string")
    assert.strictEqual(text.length, 200_000)
    // a bounded decompression refuses the same frame before allocating
    const bounded = deserialize(value, { maxBytes: 1_000 })
    assert.isTrue(Either.isLeft(bounded))
  })

  it("numpy through the dask family decodes to [0, 1, 2, 3, 4]", () => {
    const value = decodeVector(byName(vectors2022, "gather-reply-numpy-dask")).data.A
    assert.deepStrictEqual(deserialize(value), Either.right(new BigInt64Array([0n, 1n, 2n, 3n, 4n])))
  })

  it("scatter request carries the msgpack value [1, 2, 3]", () => {
    for (const vectors of [vectors2022, vectors2024]) {
      const value = decodeVector(byName(vectors, "scatter-request")).data.s1
      assert.deepStrictEqual(deserialize(value), Either.right([1, 2, 3]))
    }
  })

  it("key-in-memory type is the pickle of builtins.int", () => {
    const message = decodeVector(byName(vectors2022, "key-in-memory-batch"))
    const type = readPickle(message[0].type)
    assert.deepStrictEqual(type, Either.right(new PyGlobal("builtins", "int")))
  })

  it("task-erred decodes to ZeroDivisionError: division by zero (both versions)", () => {
    for (const vectors of [vectors2022, vectors2024]) {
      const [message] = decodeVector(byName(vectors, "task-erred"))
      const info = errorInfo(message.exception, message.traceback)
      assert.strictEqual(info.type, "ZeroDivisionError")
      assert.strictEqual(info.message, "division by zero")
      assert.strictEqual(info.traceback, "") // the traceback is a pickled None
    }
  })

  it("scheduler-side graph failure names the RuntimeError and its ModuleNotFoundError cause", () => {
    const [message] = decodeVector(byName(vectors2024, "task-erred-graph-deserialization"))
    const info = errorInfo(message.exception, message.traceback)
    assert.strictEqual(info.type, "RuntimeError")
    assert.include(info.message, "Error during deserialization of the task graph")
    assert.include(info.message, "ModuleNotFoundError: No module named 'no_such_module_ts'")
  })

  it("cancelled-keys with a __Set__ decodes to a plain array", () => {
    const [message] = decodeVector(byName(vectors2024, "cancelled-keys-lost-dependency"))
    assert.deepStrictEqual(message.keys, ["nonexistent", "w"])
  })

  describe("2024.12 graph pickles", () => {
    const add = new PyGlobal("_operator", "add")
    const toPickle = new PyGlobal("distributed.protocol.serialize", "ToPickle")
    const hlg = new PyGlobal("dask.highlevelgraph", "HighLevelGraph")

    it("the writer reproduces the §3.3 example graph byte for byte", () => {
      const graph = new PyObject(toPickle, [
        new PyObject(hlg, [
          { "ts-graph": { x: new PyTuple([add, 1, 2]), y: new PyTuple([add, "x", 10]) } },
          {}
        ])
      ])
      const vector = byName(vectors2024, "update-graph")
      assert.strictEqual(hex(writePickle(graph)), vector.graph_pickle_hex)
    })

    const pyAdd = Task.python<[number, number], number>("_operator.add")
    const spec = (key: string, args: ReadonlyArray<unknown>, deps: ReadonlyArray<string> = []): TaskSpec => ({
      key,
      task: pyAdd,
      args,
      dependencies: deps
    })

    it("updateGraph2024 reproduces update-graph.json (a literal string equal to a key of the same graph)", () => {
      const message = updateGraph2024([spec("x", [1, 2]), spec("y", ["x", 10], ["x"])], ["x", "y"], "c")
      const vector = byName(vectors2024, "update-graph")
      assert.strictEqual(hex(encodeFrames(encodeMessage([Either.getOrThrow(message)]))), vector.wire_hex)
    })

    it("updateGraph2024 reproduces update-graph-taskref.json (a KeyRef becomes a TaskRef)", () => {
      const message = updateGraph2024([spec("z", [new KeyRef("y"), 100], ["y"])], ["z"], "c")
      const vector = byName(vectors2024, "update-graph-taskref")
      assert.strictEqual(hex(encodeFrames(encodeMessage([Either.getOrThrow(message)]))), vector.wire_hex)
    })

    it("every recorded graph pickle reads back, including the Python client's NEWOBJ/BUILD form", () => {
      for (const name of ["update-graph", "update-graph-taskref"]) {
        const vector = byName(vectors2024, name)
        const value = Either.getOrThrow(readPickle(bytes(vector.graph_pickle_hex!))) as PyObject
        assert.deepStrictEqual(value.callable, toPickle)
        assert.deepStrictEqual((value.args[0] as PyObject).callable, hlg)
      }
      const [, second] = decodeVector(byName(vectors2024, "update-graph-python-client"))
      const value = Either.getOrThrow(readPickle(second.graph_frames[0])) as PyObject
      assert.strictEqual(value.kind, "newobj")
      assert.deepStrictEqual(value.callable, toPickle)
      const data = (value.state as Record<string, unknown>)["data"] as PyObject
      assert.deepStrictEqual(data.callable, hlg)
      const layers = (data.state as Record<string, unknown>)["layers"] as Map<unknown, PyObject>
      assert.instanceOf(layers, Map) // the layer name is an int (id of the dict)
      const layer = Array.from(layers.values())[0]!
      assert.deepStrictEqual(layer.callable, new PyGlobal("dask.highlevelgraph", "MaterializedLayer"))
      const task = ((layer.state as Record<string, unknown>)["mapping"] as Record<string, PyObject>)["py"]!
      assert.deepStrictEqual(task.callable, new PyGlobal("dask._task_spec", "Task"))
      const slots = (task.state as Array<unknown>)[1] as Record<string, unknown>
      assert.deepStrictEqual(slots["func"], add)
      assert.strictEqual(slots["key"], "py")
      assert.deepStrictEqual(slots["_dependencies"], new Set(["px"]))
      const [alias, ten] = slots["args"] as [PyObject, number]
      assert.deepStrictEqual(alias.callable, new PyGlobal("dask._task_spec", "Alias"))
      assert.strictEqual(ten, 10)
    })
  })
})
