/**
 * Unit tests of the Dask wire codecs: framing, msgpack glue, lz4, the pickle
 * reader/writer, task-erred text and update-graph encoders.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { Unpackr } from "msgpackr"
import { DecodeError, ProtocolError, UnsupportedTaskError } from "../src/Errors.js"
import { KeyRef, type TaskSpec } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import { encodeFrames, FrameReader } from "../src/internal/wire/framing.js"
import { checkTask, updateGraph2022, updateGraph2024 } from "../src/internal/dask/graph.js"
import * as Lz4 from "../src/internal/wire/lz4.js"
import {
  checkValue,
  decodeMessage,
  decodeMsgpack,
  deserialize,
  encodeMessage,
  encodeMsgpack,
  Serialized,
  ToPickleBytes,
  ToSerialize
} from "../src/internal/wire/message.js"
import { pickledTypeName, pickleGlobal, PyGlobal, PyObject, PyTuple, readPickle, writePickle } from "../src/internal/wire/pickle.js"
import { errorInfo, gatherMissingKeys, uncaughtErrorInfo } from "../src/internal/dask/taskErred.js"

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"))
const text = (s: string) => new TextEncoder().encode(s)

const right = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) assert.fail(`expected Right, got Left: ${String((e.left as any)?.message ?? e.left)}`)
  return (e as Either.Right<E, A>).right
}
const left = <A, E>(e: Either.Either<A, E>): E => {
  if (Either.isRight(e)) assert.fail(`expected Left, got Right`)
  return (e as Either.Left<E, A>).left
}

/** A u64 LE prelude value. */
const u64 = (n: bigint) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, n, true)
  return b
}
const concat = (...parts: Array<Uint8Array>) => Uint8Array.from(parts.flatMap((p) => Array.from(p)))

describe("framing", () => {
  it("round-trips several messages pushed as one chunk and split at every byte", () => {
    const a = encodeFrames([text("one")])
    const b = encodeFrames([text("two"), new Uint8Array(0), text("three")])
    const wire = concat(a, b)
    const reader = new FrameReader({ maxMessageBytes: 1024 })
    const messages = right(reader.push(wire))
    assert.deepStrictEqual(messages.map((m) => m.map((f) => new TextDecoder().decode(f))), [["one"], ["two", "", "three"]])
    for (let cut = 0; cut <= wire.length; cut++) {
      const r = new FrameReader({ maxMessageBytes: 1024 })
      const out = [...right(r.push(wire.subarray(0, cut))), ...right(r.push(wire.subarray(cut)))]
      assert.strictEqual(out.length, 2)
      assert.strictEqual(r.pendingBytes, 0)
    }
  })

  it("writes the §2 handshake prelude", () => {
    const frame = bytes("83ab636f6d7072657373696f6ea36c7a34a6707974686f6e93030b02af7069636b6c652d70726f746f636f6c05")
    assert.strictEqual(hex(encodeFrames([frame]).subarray(0, 24)), "3d00000000000000" + "0100000000000000" + "2d00000000000000")
  })

  it("rejects a declared 2^60-byte message from its first 8 bytes", () => {
    const reader = new FrameReader({ maxMessageBytes: 1 << 20 })
    const error = left(reader.push(u64(1n << 60n)))
    assert.instanceOf(error, ProtocolError)
    assert.strictEqual(error.reason, "FrameTooLarge")
    assert.strictEqual(reader.pendingBytes, 0)
    // the reader stays failed
    assert.strictEqual(left(reader.push(encodeFrames([text("x")]))).reason, "FrameTooLarge")
  })

  it("rejects a message just over the bound and accepts one at the bound", () => {
    const message = encodeFrames([new Uint8Array(100)])
    const total = message.length - 8
    assert.strictEqual(left(new FrameReader({ maxMessageBytes: total - 1 }).push(message)).reason, "FrameTooLarge")
    assert.strictEqual(right(new FrameReader({ maxMessageBytes: total }).push(message)).length, 1)
  })

  it("rejects malformed preludes before the body arrives", () => {
    const cases: Array<Uint8Array> = [
      concat(u64(24n), u64(0n)), // no frames
      concat(u64(24n), u64(1n << 40n)), // count beyond total
      concat(u64(24n), u64(3n)), // 3 lengths do not fit in 24 bytes
      concat(u64(20n), u64(1n), u64(5n)), // lengths sum to 5, 4 declared
      concat(u64(20n), u64(1n), u64(1n << 62n)), // a huge length
      u64(3n) // total too small for a count
    ]
    for (const wire of cases) {
      const error = left(new FrameReader({ maxMessageBytes: 1 << 20 }).push(wire))
      assert.strictEqual(error.reason, "MalformedFrame", hex(wire))
    }
  })
})

describe("msgpack messages", () => {
  it("a \"__proto__\" key from a peer cannot set a prototype", () => {
    const packed = encodeMsgpack(JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}'))
    const decoded = Either.getOrThrow(decodeMsgpack(packed)) as Record<string, unknown>
    assert.strictEqual(Object.getPrototypeOf(decoded), Object.prototype)
    assert.isUndefined((decoded as { polluted?: unknown }).polluted)
    assert.isUndefined(({} as { polluted?: unknown }).polluted)
    assert.strictEqual(decoded.ok, 1)
    // The key arrives intact, as an own entry (msgpackr alone would rename it "__proto_").
    assert.deepStrictEqual(Object.keys(decoded), ["__proto__", "ok"])
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(decoded, "__proto__")?.value, { polluted: true })
  })

  it("a \"__proto__\" key arrives intact at depth, in a message and in a gathered value", () => {
    const inner = JSON.parse('{"__proto__": [1, 2], "__protox": 3, "__proto_": 4}')
    const packed = encodeMsgpack({ op: "x", data: { a: inner } })
    const message = right(decodeMessage([packed])) as any
    const value = message.data.a as Record<string, unknown>
    assert.strictEqual(Object.getPrototypeOf(value), Object.prototype)
    assert.deepStrictEqual(Object.keys(value), ["__proto__", "__protox", "__proto_"])
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(value, "__proto__")?.value, [1, 2])
    assert.isFalse(Array.isArray(Object.getPrototypeOf(value)))
    // A value gathered from a worker: `{"__Serialized__": 1}` and its sub-frames.
    const frames = encodeMessage({ op: "gather-reply", data: { k: new ToSerialize(inner) } })
    const reply = right(decodeMessage(frames)) as any
    const gathered = right(deserialize(reply.data.k)) as Record<string, unknown>
    assert.deepStrictEqual(Object.keys(gathered), ["__proto__", "__protox", "__proto_"])
    assert.strictEqual(Object.getPrototypeOf(gathered), Object.prototype)
  })

  it("round-trips Serialized, ToSerialize and ToPickleBytes sub-frames", () => {
    const pickled = writePickle([1, "two"])
    const message = {
      op: "scatter",
      data: { a: new ToSerialize([1, 2, 3]), b: new ToPickleBytes(pickled) },
      raw: new Serialized({ serializer: "msgpack" }, [encodeMsgpack("hi")])
    }
    const frames = encodeMessage(message)
    assert.strictEqual(frames.length, 7)
    const decoded = right(decodeMessage(frames)) as any
    assert.strictEqual(decoded.op, "scatter")
    assert.deepStrictEqual(decoded.data.a.header, { serializer: "msgpack", "num-sub-frames": 1 })
    assert.deepStrictEqual(right(deserialize(decoded.data.a)), [1, 2, 3])
    assert.deepStrictEqual(decoded.data.b.header, { serializer: "pickle", writeable: [], "num-sub-frames": 1 })
    assert.deepStrictEqual(right(deserialize(decoded.data.b)), [1, "two"])
    assert.strictEqual(right(deserialize(decoded.raw)), "hi")
  })

  it("sends safe integers beyond 32 bits as msgpack ints, not floats", () => {
    assert.strictEqual(hex(encodeMsgpack(2 ** 40)), "d30000010000000000")
    assert.strictEqual(hex(encodeMsgpack(2 ** 31)), "ce80000000")
    assert.strictEqual(hex(encodeMsgpack(1.5)), "cb3ff8000000000000")
    assert.strictEqual(right(decodeMsgpack(encodeMsgpack(2 ** 40))), 2 ** 40)
  })

  it("decodes every scalar encoding as msgpackr does (the one-scalar fast path included)", () => {
    const reference = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "auto" as "number" })
    const encodings = [
      "00", "7f", "e0", "ff", "c0", "c2", "c3", "cc00", "ccff", "cd0100", "cdffff", "ce00010000", "ceffffffff",
      "d080", "d0ff", "d18000", "d1ffff", "d280000000", "d2ffffffff", "d27fffffff",
      "cb3ff8000000000000", "cb8000000000000000", "cb7ff8000000000000", "cbfff0000000000000", "cb0000000000000001",
      "ca3fc00000", "cf0000000100000000", "cfffffffffffffffff", "d3ffffffffffffffff", "d38000000000000000"
    ]
    for (const h of encodings) {
      const ours = right(decodeMsgpack(bytes(h)))
      const theirs = reference.unpack(bytes(h))
      assert.isTrue(Object.is(ours, theirs), `${h}: ${String(ours)} vs ${String(theirs)}`)
    }
    // A scalar followed by more bytes is not one value.
    for (const h of ["cc0000", "cd01", "ce000100", "cb3ff80000000000", "d000ff"]) assert.isTrue(Either.isLeft(decodeMsgpack(bytes(h))), h)
  })

  it("decodes maps with non-string keys (2024 tuple/int keys) into Maps, others into objects", () => {
    // {"status": "OK", "data": {7: 1, ["tk", 0]: 2}} as Python would pack it
    const frame = bytes("82a6737461747573a24f4ba46461746182070192a2746b0002")
    const decoded = right(decodeMessage([frame])) as any
    assert.strictEqual(decoded.status, "OK")
    assert.instanceOf(decoded.data, Map)
    assert.deepStrictEqual(Array.from(decoded.data.entries()), [[7, 1], [["tk", 0], 2]])
  })

  it("refuses ext types, trailing bytes, truncation and absurd container sizes", () => {
    for (const h of ["d6ff00000000", "c70172", "d47200", "0101", "92", "dd7fffffff", "c1", "c6ffffffff00"]) {
      assert.isTrue(Either.isLeft(decodeMsgpack(bytes(h))), h)
      assert.instanceOf(left(decodeMessage([bytes(h)])), ProtocolError)
    }
  })

  it("bounds-checks __Serialized__ indices and sub-frame counts", () => {
    const pointing = (i: number) => encodeMsgpack({ x: { __Serialized__: i } })
    const header = encodeMsgpack({ serializer: "msgpack", "num-sub-frames": 2 })
    assert.strictEqual((left(decodeMessage([pointing(5), header])) as ProtocolError).reason, "MalformedMessage")
    assert.strictEqual((left(decodeMessage([pointing(1), header, text("a")])) as ProtocolError).reason, "MalformedMessage") // 2 claimed, 1 present
    assert.isTrue(Either.isRight(decodeMessage([pointing(1), header, text("a"), text("b")])))
    assert.strictEqual((left(decodeMessage([pointing(1), encodeMsgpack([1])])) as ProtocolError).reason, "MalformedMessage") // header not a map
    assert.strictEqual((left(decodeMessage([])) as ProtocolError).reason, "MalformedMessage")
  })

  it("checkValue names what msgpack cannot carry faithfully", () => {
    assert.isUndefined(checkValue({ a: [1, "x", null, true, 2.5, new Uint8Array(2), 5n, new Map([[1, "one"]])] }))
    assert.include(checkValue([undefined])!, "undefined")
    assert.include(checkValue(() => 1)!, "function")
    assert.include(checkValue(new Date(0))!, "Date")
    assert.include(checkValue(new Set([1]))!, "Set")
    assert.include(checkValue(2n ** 70n)!, "64 bits")
    const cyclic: Array<unknown> = []
    cyclic.push(cyclic)
    assert.include(checkValue(cyclic)!, "nested")
  })
})

describe("deserialize", () => {
  const msgpackFrame = (v: unknown) => encodeMsgpack(v)

  it("names an unknown serializer and an unknown compression", () => {
    const unknownSerializer = left(deserialize(new Serialized({ serializer: "cuda" }, [])))
    assert.instanceOf(unknownSerializer, DecodeError)
    assert.strictEqual(unknownSerializer.serializer, "cuda")
    const zstd = left(deserialize(new Serialized({ serializer: "msgpack", compression: ["zstd"] }, [text("x")])))
    assert.strictEqual(zstd.serializer, "zstd")
    assert.include(zstd.message, "zstd")
  })

  it("turns the error family into a DecodeError carrying its text", () => {
    const error = left(deserialize(new Serialized({ serializer: "error" }, [text("Could not serialize object of type ndarray")])))
    assert.strictEqual(error.serializer, "error")
    assert.strictEqual(error.message, "Could not serialize object of type ndarray")
  })

  it("decompresses lz4 frames and merges split frames", () => {
    const payload = msgpackFrame("z".repeat(50_000))
    const compressed = Lz4.compress(payload)
    assert.isBelow(compressed.length, payload.length / 10)
    const shards = [compressed.subarray(0, 100), compressed.subarray(100)]
    // split: two shards of one original frame, each stored as-is (compression applies per shard)
    const header = { serializer: "msgpack", compression: [null, null], "split-num-sub-frames": [2], "split-offsets": [0] }
    const merged = deserialize(new Serialized(header, shards))
    // the merged bytes are still compressed, so msgpack fails; with lz4 on the merged frame it works
    assert.isTrue(Either.isLeft(merged))
    const whole = deserialize(new Serialized({ serializer: "msgpack", compression: ["lz4"] }, [compressed]))
    assert.strictEqual(right(whole), "z".repeat(50_000))
    const split = deserialize(
      new Serialized({ serializer: "msgpack", "split-num-sub-frames": [2], "split-offsets": [0] }, [payload.subarray(0, 7), payload.subarray(7)])
    )
    assert.strictEqual(right(split), "z".repeat(50_000))
    assert.isTrue(Either.isLeft(deserialize(new Serialized({ serializer: "msgpack", "split-num-sub-frames": [3], "split-offsets": [0] }, [payload]))))
  })

  it("decodes collections (list, tuple, dict, set)", () => {
    const sub = { serializer: "msgpack" }
    const frames = [msgpackFrame(1), msgpackFrame("two"), msgpackFrame(3.5)]
    const list = { "is-collection": true, "type-serialized": "list", "sub-headers": [sub, sub, sub], "frame-lengths": [1, 1, 1] }
    assert.deepStrictEqual(right(deserialize(new Serialized(list, frames))), [1, "two", 3.5])
    const dict = {
      "is-collection": true,
      "type-serialized": "dict",
      "sub-headers": [{ ...sub, key: "a" }, { ...sub, key: "b" }],
      "frame-lengths": [1, 1]
    }
    assert.deepStrictEqual(right(deserialize(new Serialized(dict, frames.slice(0, 2)))), { a: 1, b: "two" })
    const set = { ...list, "type-serialized": "set" }
    assert.deepStrictEqual(right(deserialize(new Serialized(set, frames))), new Set([1, "two", 3.5]))
    assert.isTrue(Either.isLeft(deserialize(new Serialized({ ...list, "frame-lengths": [1, 1, 5] }, frames))))
  })

  it("decodes the dask family: bytes, bytearray, numpy arrays in C and F order", () => {
    const typeSerialized = bytes("80059516000000000000008c086275696c74696e73948c0562797465739493942e")
    const b = right(deserialize(new Serialized({ serializer: "dask", type: "bytes", "sub-header": {} }, [text("ab"), text("cd")])))
    assert.deepStrictEqual(b, text("abcd"))
    // only type-serialized (pickle of builtins.bytes) names the type
    const b2 = right(deserialize(new Serialized({ serializer: "dask", "type-serialized": typeSerialized, "sub-header": {} }, [text("x")])))
    assert.deepStrictEqual(b2, text("x"))
    const data = new Float64Array([1, 2, 3, 4, 5, 6])
    const frame = new Uint8Array(data.buffer)
    const numpy = (subHeader: Record<string, unknown>) =>
      deserialize(new Serialized({ serializer: "dask", type: "numpy.ndarray", "sub-header": subHeader }, [frame]))
    const c = numpy({ dtype: [0, "<f8"], shape: [2, 3], strides: [24, 8], writeable: [true] })
    // rows of a C-order array are views of the frame; F-order and broadcast rows are copies
    assert.deepStrictEqual(right(c), [new Float64Array([1, 2, 3]), new Float64Array([4, 5, 6])])
    assert.strictEqual((right(c) as Array<Float64Array>)[0]!.buffer, frame.buffer)
    const f = numpy({ dtype: [0, "<f8"], shape: [2, 3], strides: [8, 16], writeable: [true] })
    assert.deepStrictEqual(right(f), [new Float64Array([1, 3, 5]), new Float64Array([2, 4, 6])])
    const broadcast = numpy({ dtype: [0, "<f8"], shape: [1, 3], broadcast_to: [2, 3], strides: [0, 8], writeable: [false] })
    assert.deepStrictEqual(right(broadcast), [new Float64Array([1, 2, 3]), new Float64Array([1, 2, 3])])
    const u2 = deserialize(new Serialized({ serializer: "dask", type: "numpy.ndarray", "sub-header": { dtype: [0, ">u2"], shape: [2], strides: [2], writeable: [true] } }, [bytes("01020304")]))
    assert.deepStrictEqual(right(u2), new Uint16Array([0x0102, 0x0304]))
    const unicode = deserialize(new Serialized({ serializer: "dask", type: "numpy.ndarray", "sub-header": { dtype: [0, "<U2"], shape: [2], strides: [8], writeable: [true] } }, [bytes("68000000690000007a00000000000000")]))
    assert.deepStrictEqual(right(unicode), ["hi", "z"])
    // strides reaching outside the frame, unsupported dtypes, and element bombs are refused
    assert.isTrue(Either.isLeft(numpy({ dtype: [0, "<f8"], shape: [2, 3], strides: [24, 16], writeable: [true] })))
    assert.isTrue(Either.isLeft(numpy({ dtype: [0, "<c16"], shape: [3], strides: [16], writeable: [true] })))
    assert.isTrue(Either.isLeft(numpy({ dtype: [0, "<f8"], shape: [1], broadcast_to: [2 ** 40], strides: [0], writeable: [true] })))
    assert.isTrue(Either.isLeft(numpy({ dtype: [0, "<f8"], shape: [2 ** 31, 0], strides: [0, 8], writeable: [true] })))
    assert.isTrue(Either.isLeft(numpy({ dtype: [1, new Uint8Array(0)], shape: [1], strides: [8], writeable: [true] })))
  })
})

describe("lz4", () => {
  // python-lz4 4.0.2 `lz4.block.compress(data)` (store_size=True)
  const python: Array<readonly [string, string]> = [
    ["", "0000000000"],
    ["a", "010000001061"],
    ["hello hello hello hello hello hello!", "240000006f68656c6c6f2006000650656c6c6f21"]
  ]

  it("decodes python-lz4 output", () => {
    for (const [plain, compressed] of python) {
      assert.strictEqual(new TextDecoder().decode(right(Lz4.decompress(bytes(compressed), 1 << 20))), plain)
    }
  })

  it("round-trips known data through our compressor", () => {
    const inputs = [
      new Uint8Array(0),
      text("The quick brown fox jumps over the lazy dog. ".repeat(20)),
      new Uint8Array(100_000).fill(7),
      Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251),
      Uint8Array.from({ length: 3_000 }, (_, i) => (i * 2654435761) >>> 24)
    ]
    for (const input of inputs) {
      const compressed = Lz4.compress(input)
      assert.deepStrictEqual(right(Lz4.decompress(compressed, input.length)), input)
    }
    assert.isBelow(Lz4.compress(new Uint8Array(100_000)).length, 1_000)
  })

  it("checks the declared size before allocating, and every offset", () => {
    const huge = concat(bytes("ffffff7f"), bytes("00"))
    assert.include(left(Lz4.decompress(huge, 1 << 20)).message, "exceeds the bound")
    assert.include(left(Lz4.decompress(bytes("ffffffff00"), 1 << 20)).message, "negative")
    // a match pointing before the start of the output
    assert.include(left(Lz4.decompress(bytes("08000000" + "1061" + "0500"), 100)).message, "offset")
    // output shorter than declared
    assert.include(left(Lz4.decompress(bytes("05000000" + "1061"), 100)).message, "declared")
    assert.isTrue(Either.isLeft(Lz4.decompress(bytes("0100"), 100)))
  })
})

describe("pickle", () => {
  it("pickleGlobal is byte-identical to CPython protocol 4 (§14.1)", () => {
    assert.strictEqual(hex(pickleGlobal("_operator", "add")), "80049515000000000000008c095f6f70657261746f72948c036164649493942e")
    assert.strictEqual(hex(pickleGlobal("operator", "add")), "80049514000000000000008c086f70657261746f72948c036164649493942e")
    assert.strictEqual(hex(pickleGlobal("builtins", "sum")), "80049514000000000000008c086275696c74696e73948c0373756d9493942e")
    assert.deepStrictEqual(right(readPickle(pickleGlobal("json", "loads"))), new PyGlobal("json", "loads"))
  })

  // CPython 3.11 pickle.dumps output
  it("reads CPython pickles of protocols 0, 2, 4 and 5", () => {
    const p0 = right(readPickle(bytes("286c70300a49310a61492d320a6146332e350a6156e90a70310a614e614930310a612849310a49320a7470320a612e")))
    assert.deepStrictEqual(p0, [1, -2, 3.5, "é", null, true, [1, 2]])
    const p2 = right(readPickle(bytes(
      "80027d71002858010000006171014b014b02635f636f646563730a656e636f64650a710258020000007879710358060000006c6174696e3171048671055271064b01580100000074710786710" +
        "85d71094b0161752e"
    ))) as Map<unknown, unknown>
    assert.instanceOf(p2, Map) // int and tuple keys
    assert.deepStrictEqual(Array.from(p2.entries()), [["a", 1], [2, text("xy")], [[1, "t"], [1]]])
    assert.deepStrictEqual(right(readPickle(bytes("8002635f636f646563730a656e636f64650a7100580500000000c3bf6162710158060000006c6174696e3171028671035271042e"))), bytes("00ff6162"))
    const p4 = right(readPickle(bytes(
      "8004956a000000000000007d94288c0173948f94284b014b02908c016694284b0391948c026261948c086275696c74696e73948c0962797465617272617994939443027a7a94859452948c03626967948a0900000000000000" +
        "00408c036e6567948a060000000000ff8c026269944affffffff752e"
    )))
    assert.deepStrictEqual(p4, { s: new Set([1, 2]), f: new Set([3]), ba: text("zz"), big: 2n ** 70n, neg: -(2 ** 40), bi: -1 })
    assert.deepStrictEqual(right(readPickle(bytes("8005950e00000000000000960300000000000000616263942e"))), text("abc"))
    const shared = right(readPickle(bytes("8004950f000000000000005d94285d94284b014b02656801652e"))) as Array<Array<number>>
    assert.deepStrictEqual(shared, [[1, 2], [1, 2]])
    assert.strictEqual(shared[0], shared[1]) // one object, referenced twice
    const ordered = right(readPickle(bytes("80049529000000000000008c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c0161944b01732e")))
    assert.deepStrictEqual(ordered, { a: 1 })
  })

  it("names pickled classes as key-in-memory.type carries them", () => {
    assert.strictEqual(pickledTypeName(bytes("80059514000000000000008c086275696c74696e73948c03696e749493942e")), "int")
    assert.strictEqual(pickledTypeName(bytes("8005951a000000000000008c086275696c74696e73948c04747970659493944e859452942e")), "NoneType")
    assert.strictEqual(pickledTypeName(bytes("8005951f000000000000008c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942e")), "collections.OrderedDict")
    assert.isUndefined(pickledTypeName(bytes("80044b0d2e")))
    assert.isUndefined(pickledTypeName(bytes("ff")))
  })

  it("reads protocol-5 out-of-band buffers", () => {
    const pickle = bytes("8005" + "97" + "98" + "2e") // NEXT_BUFFER READONLY_BUFFER STOP
    assert.deepStrictEqual(right(readPickle(pickle, [text("oob")])), text("oob"))
    assert.include(left(readPickle(pickle)).message, "NEXT_BUFFER")
  })

  it("refuses opcodes outside the whitelist, naming them", () => {
    const cases: Array<readonly [string, string]> = [
      ["80045029", "PERSID"], // persistent id
      ["8004284e69", "INST"],
      ["80048201", "EXT1"],
      ["8004530a", "STRING"],
      ["80046f", "OBJ"],
      ["8004ff", "0xff"]
    ]
    for (const [h, name] of cases) {
      const error = left(readPickle(bytes(h)))
      assert.instanceOf(error, DecodeError)
      assert.strictEqual(error.serializer, "pickle")
      assert.include(error.message, name)
    }
  })

  it("never executes: REDUCE of os.system stays an inert descriptor", () => {
    const value = right(readPickle(bytes("8004" + "8c026f73" + "8c0673797374656d" + "93" + "8c0565636820788594" + "52" + "2e"))) as PyObject
    assert.instanceOf(value, PyObject)
    assert.deepStrictEqual(value.callable, new PyGlobal("os", "system"))
    assert.deepStrictEqual(value.args, ["ech x"])
  })

  it("refuses declared lengths beyond the input without allocating", () => {
    assert.include(left(readPickle(bytes("80058e" + "0000000000000010" + "2e"))).message, "larger than the pickle") // BINBYTES8 2^60
    assert.include(left(readPickle(bytes("8005" + "42ffffffff" + "2e"))).message, "truncated") // BINBYTES 4 GiB
    assert.include(left(readPickle(bytes("8005" + "8bffffff7f" + "2e"))).message, "too large") // LONG4 2 GiB
    assert.include(left(readPickle(bytes("8005" + "95ffffffffffffff7f" + "2e"))).message, "larger than the pickle") // FRAME 2^63
  })

  it("keeps DUP / memo bombs linear: references, an element bound, cycles refused", () => {
    // L0 = []; L(i) = [L(i-1), L(i-1)] through the memo: 2^40 leaves as a tree, 41 lists as a DAG
    let h = "80045d94"
    for (let i = 1; i <= 40; i++) {
      const prev = (i - 1).toString(16).padStart(2, "0")
      h += "30" + "5d" + "28" + "68" + prev + "68" + prev + "65" + "94"
    }
    const top = right(readPickle(bytes(h + "2e"))) as Array<unknown>
    assert.strictEqual(top[0], top[1])
    let depth = 0
    for (let node: unknown = top; Array.isArray(node) && node.length > 0; node = node[0]) depth++
    assert.strictEqual(depth, 40)
    // a wide pickle over the element bound is refused
    const wide = bytes("80045d28" + "4e".repeat(1000) + "652e")
    assert.deepStrictEqual((right(readPickle(wide)) as Array<unknown>).length, 1000)
    assert.include(left(readPickle(wide, [], { maxElements: 500 })).message, "elements")
    // a list appended to itself
    assert.include(left(readPickle(bytes("80045d946800612e"))).message, "recursive")
    // deep nesting
    const deep = bytes("8004" + "5d".repeat(2000) + "61".repeat(1999) + "2e")
    assert.include(left(readPickle(deep)).message, "deeper")
  })

  it("writes what it reads back: lists, tuples, dicts, sets, ints of any size, floats, bytes, globals, REDUCE/NEWOBJ/BUILD", () => {
    const g = new PyGlobal("collections", "OrderedDict")
    const value = [
      null, true, false, 0, 1, -1, 255, 256, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2 ** 53) + 1, 2n ** 100n, -(2n ** 100n),
      1.5, -0, Infinity, "", "é€😀", "x".repeat(300), new Uint8Array([0, 255]), new Uint8Array(300),
      new PyTuple([]), new PyTuple([1, "a"]), { a: 1, b: [2] }, new Map<unknown, unknown>([[1, "one"], [new PyTuple([1, 2]), 3]]), new Set([1]),
      g, new PyObject(g, [[]]), PyObject.withState(g, [], { k: 1 }, "newobj")
    ]
    const back = right(readPickle(writePickle(value))) as Array<unknown>
    const expectedBack = value.map((v) => {
      if (v instanceof PyTuple) return [...v.items]
      if (typeof v === "number" && Object.is(v, -0)) return -0
      if (v instanceof Map) return new Map<unknown, unknown>([[1, "one"], [[1, 2], 3]])
      return v
    })
    assert.deepStrictEqual(back.slice(0, 27), expectedBack.slice(0, 27))
    assert.isTrue(Object.is(back[15], -0))
    assert.deepStrictEqual(back[27], g)
    assert.deepStrictEqual((back[28] as PyObject).args, [[]])
    assert.strictEqual((back[29] as PyObject).kind, "newobj")
    assert.deepStrictEqual((back[29] as PyObject).state, { k: 1 })
    assert.throws(() => writePickle(undefined))
    assert.throws(() => writePickle(new Date()))
  })
})

// CPython 3.11 + distributed 2022.12.1 `dumps` of a task-erred for json.loads("{bad json") (tblib traceback with three frames)
const JSON_ERROR_FRAMES = [
  "84a26f70aa7461736b2d6572726564a36b6579a16aa9657863657074696f6e81ae5f5f53657269616c697a65645f5f01a9747261636562" +
    "61636b81ae5f5f53657269616c697a65645f5f03",
  "88aa7375622d68656164657280a474797065a56279746573af747970652d73657269616c697a6564c42180059516000000000000008c08" +
    "6275696c74696e73948c0562797465739493942eaa73657269616c697a6572a46461736bb473706c69742d6e756d2d7375622d6672616d" +
    "65739101ad73706c69742d6f6666736574739100ab636f6d7072657373696f6e91c0ae6e756d2d7375622d6672616d657301",
  "800595e1030000000000008c1674626c69622e7069636b6c696e675f737570706f7274948c12756e7069636b6c655f657863657074696f" +
    "6e949394288c0c6a736f6e2e6465636f646572948c0f4a534f4e4465636f64654572726f729493948c31457870656374696e672070726f" +
    "7065727479206e616d6520656e636c6f73656420696e20646f75626c652071756f746573948c097b626164206a736f6e944b0187944e68" +
    "008c12756e7069636b6c655f74726163656261636b9493948c0574626c6962948c054672616d659493942981947d94288c08665f6c6f63" +
    "616c73947d948c09665f676c6f62616c73947d94288c085f5f6e616d655f5f948c085f5f6d61696e5f5f948c085f5f66696c655f5f948c" +
    "073c737464696e3e94758c06665f636f646594680b8c04436f64659493942981947d94288c0b636f5f66696c656e616d659468178c0763" +
    "6f5f6e616d65948c083c6d6f64756c653e948c0b636f5f617267636f756e74944b008c11636f5f6b776f6e6c79617267636f756e74944b" +
    "008c0b636f5f7661726e616d657394298c0a636f5f6e6c6f63616c73944b008c0c636f5f737461636b73697a65944b008c08636f5f666c" +
    "616773944b408c0e636f5f66697273746c696e656e6f944b0075628c08665f6c696e656e6f944b0775624b05680b8c0954726163656261" +
    "636b9493942981947d94288c0874625f6672616d6594680d2981947d942868107d9468127d942868148c046a736f6e9468168c242f7573" +
    "722f6c69622f707974686f6e332e31312f6a736f6e2f5f5f696e69745f5f2e707994756818681a2981947d9428681d8c242f7573722f6c" +
    "69622f707974686f6e332e31312f6a736f6e2f5f5f696e69745f5f2e707994681e8c056c6f6164739468204b0068214b0068222968234b" +
    "0068244b0068254b4068264b00756268274d5a0175628c0974625f6c696e656e6f944d5a018c0774625f6e6578749468292981947d9428" +
    "682c680d2981947d942868107d9468127d94286814680368168c232f7573722f6c69622f707974686f6e332e31312f6a736f6e2f646563" +
    "6f6465722e707994756818681a2981947d9428681d8c232f7573722f6c69622f707974686f6e332e31312f6a736f6e2f6465636f646572" +
    "2e707994681e8c066465636f64659468204b0068214b0068222968234b0068244b0068254b4068264b00756268274d5101756268374d51" +
    "01683868292981947d9428682c680d2981947d942868107d9468127d9428681468036816683f756818681a2981947d9428681d6842681e" +
    "8c0a7261775f6465636f64659468204b0068214b0068222968234b0068244b0068254b4068264b00756268274d6201756268374d610175" +
    "627562756287945294749452942e",
  "88aa7375622d68656164657280a474797065a56279746573af747970652d73657269616c697a6564c42180059516000000000000008c08" +
    "6275696c74696e73948c0562797465739493942eaa73657269616c697a6572a46461736bb473706c69742d6e756d2d7375622d6672616d" +
    "65739101ad73706c69742d6f6666736574739100ab636f6d7072657373696f6e91c0ae6e756d2d7375622d6672616d657301",
  "80059568030000000000008c1674626c69622e7069636b6c696e675f737570706f7274948c12756e7069636b6c655f7472616365626163" +
    "6b9493948c0574626c6962948c054672616d659493942981947d94288c08665f6c6f63616c73947d948c09665f676c6f62616c73947d94" +
    "288c085f5f6e616d655f5f948c085f5f6d61696e5f5f948c085f5f66696c655f5f948c073c737464696e3e94758c06665f636f64659468" +
    "038c04436f64659493942981947d94288c0b636f5f66696c656e616d6594680f8c07636f5f6e616d65948c083c6d6f64756c653e948c0b" +
    "636f5f617267636f756e74944b008c11636f5f6b776f6e6c79617267636f756e74944b008c0b636f5f7661726e616d657394298c0a636f" +
    "5f6e6c6f63616c73944b008c0c636f5f737461636b73697a65944b008c08636f5f666c616773944b408c0e636f5f66697273746c696e65" +
    "6e6f944b0075628c08665f6c696e656e6f944b0775624b0568038c0954726163656261636b9493942981947d94288c0874625f6672616d" +
    "659468052981947d942868087d94680a7d9428680c8c046a736f6e94680e8c242f7573722f6c69622f707974686f6e332e31312f6a736f" +
    "6e2f5f5f696e69745f5f2e70799475681068122981947d942868158c242f7573722f6c69622f707974686f6e332e31312f6a736f6e2f5f" +
    "5f696e69745f5f2e70799468168c056c6f6164739468184b0068194b00681a29681b4b00681c4b00681d4b40681e4b007562681f4d5a01" +
    "75628c0974625f6c696e656e6f944d5a018c0774625f6e6578749468212981947d9428682468052981947d942868087d94680a7d942868" +
    "0c8c0c6a736f6e2e6465636f64657294680e8c232f7573722f6c69622f707974686f6e332e31312f6a736f6e2f6465636f6465722e7079" +
    "9475681068122981947d942868158c232f7573722f6c69622f707974686f6e332e31312f6a736f6e2f6465636f6465722e70799468168c" +
    "066465636f64659468184b0068194b00681a29681b4b00681c4b00681d4b40681e4b007562681f4d51017562682f4d5101683068212981" +
    "947d9428682468052981947d942868087d94680a7d9428680c6837680e683875681068122981947d94286815683b68168c0a7261775f64" +
    "65636f64659468184b0068194b00681a29681b4b00681c4b00681d4b40681e4b007562681f4d62017562682f4d61017562756275628794" +
    "52942e",
]

describe("task-erred text", () => {
  it("renders a tblib exception and its traceback", () => {
    const [message] = [right(decodeMessage(JSON_ERROR_FRAMES.map(bytes))) as any]
    const info = errorInfo(message.exception, message.traceback)
    assert.strictEqual(info.type, "json.decoder.JSONDecodeError")
    assert.strictEqual(info.message, "Expecting property name enclosed in double quotes, {bad json, 1")
    const lines = info.traceback.split("\n")
    assert.strictEqual(lines[0], "Traceback (most recent call last):")
    assert.include(info.traceback, `File "/usr/lib/python3.11/json/__init__.py", line 346, in loads`)
    assert.include(info.traceback, `File "/usr/lib/python3.11/json/decoder.py", line 337, in decode`)
    assert.include(info.traceback, `File "/usr/lib/python3.11/json/decoder.py", line 353, in raw_decode`)
  })

  it("prefers the text fields of an uncaught-error reply", () => {
    const message = right(decodeMessage(JSON_ERROR_FRAMES.map(bytes))) as any
    const reply = { status: "uncaught-error", exception: message.exception, traceback: message.traceback, exception_text: "JSONDecodeError('x')", traceback_text: "  File ..." }
    const info = uncaughtErrorInfo(reply)
    assert.deepStrictEqual(info, { type: "json.decoder.JSONDecodeError", message: "JSONDecodeError('x')", traceback: "  File ..." })
    assert.deepStrictEqual(errorInfo(reply, undefined), info)
  })

  it("reads a plain (non-tblib) exception pickle", () => {
    const pickle = writePickle(new PyObject(new PyGlobal("builtins", "ValueError"), ["bad value"]))
    const info = errorInfo(new Serialized({ serializer: "pickle" }, [pickle]), null)
    assert.deepStrictEqual(info, { type: "ValueError", message: "bad value", traceback: "" })
  })

  it("never throws: garbage becomes UnknownError with a short description", () => {
    for (const [exception, traceback] of [
      [new Serialized({ serializer: "pickle" }, [bytes("80046f")]), null],
      [new Serialized({ serializer: "weird" }, []), undefined],
      [42, "tb"],
      [{ nested: true }, 7],
      [undefined, undefined]
    ] as const) {
      const info = errorInfo(exception, traceback)
      assert.strictEqual(info.type, "UnknownError")
      assert.isAbove(info.message.length, 0)
      assert.isBelow(info.message.length, 5_000)
    }
  })

  it("gather error replies of both dialects name the missing keys", () => {
    assert.deepStrictEqual(gatherMissingKeys({ status: "error", keys: { a: ["tcp://127.0.0.1:1"], b: [] } }), ["a", "b"])
    assert.deepStrictEqual(gatherMissingKeys({ status: "error", keys: ["missing-key"] }), ["missing-key"])
    assert.isUndefined(gatherMissingKeys({ status: "OK", data: {} }))
  })
})

describe("update-graph", () => {
  const add = Task.python<[number, number], number>("operator.add")
  const spec = (key: string, task: Task.Any, args: ReadonlyArray<unknown>, deps: ReadonlyArray<string> = []): TaskSpec => ({ key, task, args, dependencies: deps })

  it("checkTask accepts JS tasks (run by Node workers), refuses tasks with neither form and malformed callables", () => {
    assert.isUndefined(checkTask(add))
    assert.isUndefined(checkTask(Task.python("numpy.linalg.norm")))
    assert.isUndefined(checkTask(Task.make("js", (x: number) => x)))
    assert.instanceOf(checkTask({ ...Task.python("operator.add"), python: undefined }), UnsupportedTaskError)
    for (const name of ["add", "operator.", ".add", "operator..add", "operator.add()", "os.system; rm", "1mod.f"]) {
      assert.instanceOf(checkTask(Task.python(name)), UnsupportedTaskError, name)
    }
  })

  it("2022: run_spec Form A only, KeyRefs become key strings, explicit dependencies, retries", () => {
    const retrying = Task.python<[number], number>("builtins.abs", { retries: 2 })
    const message = right(updateGraph2022(
      [spec("x-1", add, [1, 2]), spec("y-2", add, [new KeyRef("x-1"), { n: [new KeyRef("s-3")] }], ["x-1"]), spec("z-3", retrying, [-4])],
      ["y-2", "z-3"],
      "Client-ts-1"
    ))
    const tasks = message["tasks"] as Map<string, Record<string, unknown>>
    assert.deepStrictEqual(Object.keys(tasks.get("x-1")!), ["function", "args"])
    assert.strictEqual(hex(tasks.get("x-1")!["function"] as Uint8Array), hex(pickleGlobal("operator", "add")))
    assert.deepStrictEqual(tasks.get("y-2")!["args"], ["x-1", { n: ["s-3"] }])
    // Tasks without dependencies have no entry (update_graph reads a missing one as none).
    assert.deepStrictEqual(message["dependencies"], new Map([["y-2", ["x-1", "s-3"]]]))
    assert.deepStrictEqual(message["keys"], ["y-2", "z-3"])
    assert.strictEqual(message["client"], "Client-ts-1")
    assert.deepStrictEqual(message["retries"], { "z-3": 2 })
    // the message encodes and decodes back to the same structure (a map of string keys decodes as an object)
    const decoded = right(decodeMessage(encodeMessage([message]))) as Array<Record<string, unknown>>
    assert.deepStrictEqual(decoded[0], {
      ...message,
      tasks: Object.fromEntries(tasks),
      dependencies: Object.fromEntries(message["dependencies"] as Map<string, unknown>)
    })
  })

  it("2022: a key named __proto__ is an own entry, not a prototype", () => {
    const message = right(updateGraph2022([spec("__proto__", add, [1, 2])], ["__proto__"], "c"))
    const tasks = message["tasks"] as Map<string, unknown>
    assert.deepStrictEqual(Array.from(tasks.keys()), ["__proto__"])
    assert.include(hex(encodeMessage([message])[0]!), Buffer.from("__proto__").toString("hex"))
  })

  it("refuses arguments msgpack or pickle cannot carry", () => {
    for (const bad of [undefined, () => 1, new Date(0), new Set([1]), Symbol("s")]) {
      const out2022 = updateGraph2022([spec("k", add, [1, bad])], ["k"], "c")
      const out2024 = updateGraph2024([spec("k", add, [1, bad])], ["k"], "c")
      assert.instanceOf(left(out2022), UnsupportedTaskError)
      assert.instanceOf(left(out2024), UnsupportedTaskError)
    }
    assert.instanceOf(left(updateGraph2022([spec("k", Task.make("js", (_: unknown) => 1), [() => 1])], ["k"], "c")), UnsupportedTaskError)
    // 2022 args travel inline in frame_0, where these keys are protocol markers; 2024 pickles them
    for (const marker of ["__Serialized__", "__Pickled__", "__Set__", "__Enum__"]) {
      const args = [[{ ok: 1 }, { [marker]: 1 }]]
      assert.include(left(updateGraph2022([spec("k", add, args)], ["k"], "c")).message, marker)
      assert.isTrue(Either.isRight(updateGraph2024([spec("k", add, args)], ["k"], "c")))
    }
    assert.instanceOf(left(updateGraph2024([spec("k", Task.make("js", (_: unknown) => 1), [new Date(0)])], ["k"], "c")), UnsupportedTaskError)
  })

  it("2024: the graph pickle reads back as ToPickle(HighLevelGraph) with tuples, TaskRefs and plain data", () => {
    const message = right(updateGraph2024(
      [spec("a-1", add, [1, new KeyRef("old-0")]), spec("b-2", add, [new KeyRef("a-1"), { k: [1.5, "s", new Uint8Array([1])] }])],
      ["b-2"],
      "c"
    ))
    assert.deepStrictEqual(message["keys"], { __Set__: true, "as-list": ["b-2"] })
    assert.isUndefined(message["client"])
    assert.isUndefined(message["annotations"])
    const graph = right(readPickle((message["graph_frames"] as Array<Uint8Array>)[0]!)) as PyObject
    const hlg = graph.args[0] as PyObject
    assert.deepStrictEqual(hlg.callable, new PyGlobal("dask.highlevelgraph", "HighLevelGraph"))
    const layer = (hlg.args[0] as Record<string, Record<string, Array<unknown>>>)["ts-graph"]!
    const taskRef = (key: string) => new PyObject(new PyGlobal("dask._task_spec", "TaskRef"), [key])
    assert.deepStrictEqual(layer["a-1"], [new PyGlobal("operator", "add"), 1, taskRef("old-0")])
    // every KeyRef is a TaskRef, also to a key of the same update; a dict without references stays a dict
    assert.deepStrictEqual(layer["b-2"], [new PyGlobal("operator", "add"), taskRef("a-1"), { k: [1.5, "s", new Uint8Array([1])] }])
  })

  it("2024: a dict holding a reference becomes a (dict, [[k, v], ...]) task, at any depth", () => {
    const dumps = Task.python<[unknown], string>("json.dumps")
    const message = right(updateGraph2024([spec("j", dumps, [[{ k: new KeyRef("x"), n: { m: [new KeyRef("s")] } }, { p: "x" }]])], ["j"], "c"))
    const graph = right(readPickle((message["graph_frames"] as Array<Uint8Array>)[0]!)) as PyObject
    const layer = ((graph.args[0] as PyObject).args[0] as Record<string, Record<string, Array<unknown>>>)["ts-graph"]!
    const taskRef = (key: string) => new PyObject(new PyGlobal("dask._task_spec", "TaskRef"), [key])
    const dict = new PyGlobal("builtins", "dict")
    assert.deepStrictEqual(layer["j"], [
      new PyGlobal("json", "dumps"),
      [[dict, [["k", taskRef("x")], ["n", [dict, [["m", [taskRef("s")]]]]]]], { p: "x" }]
    ])
  })

  it("2024: uniform retries go in annotations, mixed retries in annotated MaterializedLayers", () => {
    const r2 = Task.python<[number, number], number>("operator.add", { retries: 2 })
    const uniform = right(updateGraph2024([spec("a", r2, [1, 2]), spec("b", r2, [3, 4])], ["a", "b"], "c"))
    assert.deepStrictEqual(uniform["annotations"], { retries: 2 })
    const mixed = right(updateGraph2024([spec("a", r2, [1, 2]), spec("b", add, [3, 4])], ["a", "b"], "c"))
    assert.isUndefined(mixed["annotations"])
    const graph = right(readPickle((mixed["graph_frames"] as Array<Uint8Array>)[0]!)) as PyObject
    const layers = (graph.args[0] as PyObject).args[0] as Record<string, unknown>
    const annotated = Object.values(layers).find((l) => l instanceof PyObject) as PyObject
    assert.deepStrictEqual(annotated.callable, new PyGlobal("dask.highlevelgraph", "MaterializedLayer"))
    assert.deepStrictEqual(annotated.args[1], { retries: 2 })
    assert.deepStrictEqual(Object.keys(annotated.args[0] as object), ["a"])
    assert.deepStrictEqual(Object.values(layers).filter((l) => !(l instanceof PyObject)).map((l) => Object.keys(l as object)), [["b"]])
  })

  const withOptions = (s: TaskSpec, options: TaskSpec["options"]): TaskSpec => ({ ...s, options })

  it("2022: per-call options become update_graph's per-key maps", () => {
    const o = { priority: 5, workers: ["tcp://127.0.0.1:1"], allowOtherWorkers: true, resources: { GPU: 1 }, retries: 3, fifoTimeout: "250 millis" as const }
    const m = right(updateGraph2022([withOptions(spec("a", add, [1, 2]), o), spec("b", add, [3, 4])], ["a", "b"], "c"))
    assert.deepStrictEqual(m["user_priority"], { a: 5 })
    assert.deepStrictEqual(m["restrictions"], { a: ["tcp://127.0.0.1:1"] })
    assert.deepStrictEqual(m["loose_restrictions"], ["a"])
    assert.deepStrictEqual(m["resources"], { a: { GPU: 1 } })
    assert.deepStrictEqual(m["retries"], { a: 3 })
    assert.strictEqual(m["fifo_timeout"], 0.25)
    // No options: none of those fields (2022's update_graph indexes loose_restrictions unguarded).
    const plain = right(updateGraph2022([spec("b", add, [3, 4])], ["b"], "c"))
    for (const f of ["user_priority", "restrictions", "loose_restrictions", "resources", "retries", "fifo_timeout"]) {
      assert.isUndefined(plain[f], f)
    }
  })

  it("2024: one options set goes in annotations; several in annotated layers", () => {
    const o = { priority: 5, workers: ["tcp://127.0.0.1:1"], resources: { GPU: 1 } }
    const one = right(updateGraph2024([withOptions(spec("a", add, [1, 2]), o), withOptions(spec("b", add, [3, 4]), o)], ["a", "b"], "c"))
    assert.deepStrictEqual(one["annotations"], { priority: 5, workers: ["tcp://127.0.0.1:1"], resources: { GPU: 1 } })
    const two = right(updateGraph2024([withOptions(spec("a", add, [1, 2]), o), withOptions(spec("b", add, [3, 4]), { priority: -1, fifoTimeout: 2000 })], ["a", "b"], "c"))
    assert.isUndefined(two["annotations"])
    assert.strictEqual(two["fifo_timeout"], 2)
    const graph = right(readPickle((two["graph_frames"] as Array<Uint8Array>)[0]!)) as PyObject
    const layers = Object.values((graph.args[0] as PyObject).args[0] as Record<string, PyObject>)
    assert.deepStrictEqual(layers.map((l) => [Object.keys(l.args[0] as object), l.args[1]]), [
      [["a"], { priority: 5, workers: ["tcp://127.0.0.1:1"], resources: { GPU: 1 } }],
      [["b"], { priority: -1 }]
    ])
  })
})
