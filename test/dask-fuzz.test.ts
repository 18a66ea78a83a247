/**
 * Fuzzing of the Dask wire codecs with random input and mutations of the
 * live-recorded vectors: every path returns a value or a typed error
 * (ProtocolError / DecodeError), never throws, and nothing decoded exceeds the
 * configured bounds (declared sizes are refused before allocation).
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "fast-check"
import { loadVectors } from "./fixtures/vectors.js"
import { KeyRef } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import { DecodeError, ProtocolError, UnsupportedTaskError } from "../src/Errors.js"
import { DecodeBudget } from "../src/internal/wire/budget.js"
import { FrameReader } from "../src/internal/wire/framing.js"
import { updateGraph2022, updateGraph2024 } from "../src/internal/dask/graph.js"
import * as Lz4 from "../src/internal/wire/lz4.js"
import {
  decodeMessage,
  decodeMsgpack,
  deserialize,
  encodeMessage,
  encodeMsgpack,
  Pickled,
  Serialized,
  unpickle
} from "../src/internal/wire/message.js"
import { readPickle } from "../src/internal/wire/pickle.js"
import { errorInfo, gatherMissingKeys } from "../src/internal/dask/taskErred.js"

const MAX_MESSAGE = 64 * 1024
const MAX_BYTES = 256 * 1024
const MAX_ELEMENTS = 100_000

const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"))

const vectors = [...loadVectors("dask-vectors", "2022.12"), ...loadVectors("dask-vectors", "2024.12")]

const wires = vectors.map((v) => bytes(v.wire_hex)).filter((w) => w.length <= MAX_MESSAGE)
const frameSets = vectors.map((v) => v.frames_hex.map(bytes))
/** Every pickle in the vectors: graph pickles, sub-frames that start with PROTO, msgpack bin values that do. */
const pickles: Array<Uint8Array> = [
  ...vectors.flatMap((v) => (v.graph_pickle_hex ? [bytes(v.graph_pickle_hex)] : [])),
  ...frameSets.flat().filter((f) => f[0] === 0x80 && f[1]! <= 5)
]
const lz4Samples = [
  Lz4.compress(new TextEncoder().encode("The quick brown fox jumps over the lazy dog. ".repeat(30))),
  Lz4.compress(Uint8Array.from({ length: 5_000 }, (_, i) => (i * 7919) % 251)),
  bytes("240000006f68656c6c6f2006000650656c6c6f21")
]

// ---------------------------------------------------------------------------
// mutations
// ---------------------------------------------------------------------------

type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }
  | { readonly kind: "insert"; readonly at: number; readonly value: number }
  | { readonly kind: "delete"; readonly at: number; readonly length: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "duplicate"; readonly at: number; readonly length: number }
  | { readonly kind: "hugeU64"; readonly at: number; readonly value: bigint }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x28, 0x2e, 0x94, 0xc4, 0xdd, 0xdf) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("hugeU64" as const),
      at: fc.nat(),
      value: fc.constantFrom(1n << 60n, (1n << 64n) - 1n, 1n << 32n, 0n, 0x7fff_ffffn)
    })
  }
)

const mutate = (input: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array => {
  let b = Array.from(input)
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length
    switch (m.kind) {
      case "flip":
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit)
        break
      case "set":
        if (b.length > 0) b[at] = m.value
        break
      case "insert":
        b.splice(at, 0, m.value)
        break
      case "delete":
        b.splice(at, m.length)
        break
      case "truncate":
        b = b.slice(0, at)
        break
      case "duplicate":
        b.splice(at, 0, ...b.slice(at, at + m.length))
        break
      case "hugeU64": {
        const raw = new Uint8Array(8)
        new DataView(raw.buffer).setBigUint64(0, m.value, true)
        // prelude positions are 8-aligned; anywhere else it is just noise
        const pos = b.length < 8 ? 0 : (at - (at % 8)) % Math.max(1, b.length - 7)
        b.splice(pos, 8, ...raw)
        break
      }
    }
  }
  return Uint8Array.from(b)
}

const mutated = (seeds: ReadonlyArray<Uint8Array>) =>
  fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, ms]) => mutate(seed, ms))

const chunked = (input: Uint8Array, sizes: ReadonlyArray<number>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let i = 0
  let k = 0
  while (i < input.length) {
    const n = sizes.length === 0 ? input.length : Math.max(1, sizes[k++ % sizes.length]!)
    out.push(input.subarray(i, i + n))
    i += n
  }
  return out
}

// ---------------------------------------------------------------------------
// checks: everything decoded is inspected with the same bounded tools the client uses
// ---------------------------------------------------------------------------

const sizeOf = (u: unknown, seen = new Set<unknown>(), depth = 0): number => {
  // Byte views are frames of the message or buffers charged where they were made (lz4, merges).
  if (ArrayBuffer.isView(u)) return 1
  if (typeof u === "string") return u.length
  if (typeof u !== "object" || u === null || seen.has(u) || depth > 2_000) return 1
  seen.add(u)
  let n = 1
  const children = Array.isArray(u) ? u : u instanceof Map ? [...u.keys(), ...u.values()] : u instanceof Set ? [...u] : Object.values(u)
  for (const c of children) n += sizeOf(c, seen, depth + 1)
  return n
}

const checkDeserialized = (value: Serialized | Pickled, budget: DecodeBudget): void => {
  const before = budget.used
  const out = value instanceof Serialized ? deserialize(value, { budget }) : unpickle(value, budget)
  // The budget is never overdrawn, and what was built is within what was charged for it.
  assert.isAtMost(budget.used, budget.limit)
  if (Either.isLeft(out)) {
    assert.instanceOf(out.left, DecodeError)
  } else {
    assert.isAtMost(sizeOf(out.right), Math.max(64, budget.used - before))
  }
  const info = errorInfo(value, value)
  assert.strictEqual(typeof info.type, "string")
  assert.isAtMost(info.message.length, 5_000)
}

/** Visits a decoded message: decodes every sub-frame value, reads every bytes value as a pickle, renders errors. */
const inspect = (message: unknown, messageBudget: DecodeBudget = new DecodeBudget(MAX_BYTES)): void => {
  const stack: Array<unknown> = [message]
  const seen = new Set<unknown>()
  let budget = 10_000
  while (stack.length > 0 && budget-- > 0) {
    const u = stack.pop()
    if (typeof u !== "object" || u === null || seen.has(u)) continue
    seen.add(u)
    if (u instanceof Serialized || u instanceof Pickled) {
      checkDeserialized(u, messageBudget)
    } else if (u instanceof Uint8Array) {
      const p = readPickle(u)
      if (Either.isLeft(p)) assert.instanceOf(p.left, DecodeError)
    } else if (Array.isArray(u)) {
      stack.push(...u)
    } else if (u instanceof Map) {
      stack.push(...u.keys(), ...u.values())
    } else {
      stack.push(...Object.values(u))
    }
  }
  gatherMissingKeys(message)
  const first = Array.isArray(message) ? message[0] : message
  errorInfo((first as any)?.exception, (first as any)?.traceback)
}

const pipeline = (chunks: ReadonlyArray<Uint8Array>): void => {
  const reader = new FrameReader({ maxMessageBytes: MAX_MESSAGE })
  for (const chunk of chunks) {
    const out = reader.push(chunk)
    if (Either.isLeft(out)) {
      assert.instanceOf(out.left, ProtocolError)
      assert.include(["FrameTooLarge", "MalformedFrame"], out.left.reason)
      return
    }
    assert.isAtMost(reader.pendingBytes, MAX_MESSAGE + 8 + chunk.length)
    for (const frames of out.right) {
      assert.isAtMost(frames.reduce((n, f) => n + f.length, 0), MAX_MESSAGE)
      const budget = new DecodeBudget(MAX_BYTES)
      const decoded = decodeMessage(frames, budget)
      assert.isAtMost(budget.used, MAX_BYTES)
      if (Either.isLeft(decoded)) assert.include(["ProtocolError", "DecodeError"], decoded.left._tag)
      else inspect(decoded.right, budget)
    }
  }
}

const checkPickle = (input: Uint8Array, buffers: ReadonlyArray<Uint8Array> = []): void => {
  const out = readPickle(input, buffers, { maxElements: MAX_ELEMENTS })
  if (Either.isLeft(out)) {
    assert.instanceOf(out.left, DecodeError)
    assert.strictEqual(out.left.serializer, "pickle")
  } else {
    inspect(out.right)
    errorInfo(input, input)
  }
}

const checkLz4 = (input: Uint8Array, bound: number): void => {
  const out = Lz4.decompress(input, bound)
  if (Either.isLeft(out)) assert.instanceOf(out.left, DecodeError)
  else assert.isAtMost(out.right.length, bound)
}

/** Inputs run, so the suite can show it met its 10,000-input floor. */
let runs = 0

describe("dask codec fuzzing", () => {
  it("the vectors provide seeds of every kind", () => {
    assert.isAtLeast(wires.length, 30)
    assert.isAtLeast(pickles.length, 8)
  })

  it("random bytes through framing → message → deserialize", () => {
    const plausible = fc
      .tuple(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 300 }))
      .map(([total, n, rest]) => {
        // a prelude that may be consistent, followed by noise
        const head = new Uint8Array(16)
        const view = new DataView(head.buffer)
        view.setUint32(0, total, true)
        view.setUint32(8, n, true)
        return Uint8Array.from([...head, ...rest])
      })
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 256 }), plausible),
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 4 }),
        (input, sizes) => {
          runs++
          pipeline(chunked(input, sizes))
        }
      ),
      { numRuns: 2_000 }
    )
  })

  it("mutated live vectors through framing → message → deserialize → error text", () => {
    fc.assert(
      fc.property(mutated(wires), fc.array(fc.integer({ min: 1, max: 97 }), { maxLength: 3 }), (input, sizes) => {
        runs++
        pipeline(chunked(input, sizes))
      }),
      { numRuns: 4_000 }
    )
  })

  it("mutated frames (valid prelude, broken content) through decodeMessage", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...frameSets),
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (frames, which, ms) => {
          runs++
          const i = which % frames.length
          const copy: Array<Uint8Array> = frames.slice()
          copy[i] = mutate(frames[i]!, ms)
          const decoded = decodeMessage(copy)
          if (Either.isLeft(decoded)) assert.instanceOf(decoded.left, ProtocolError)
          else inspect(decoded.right)
        }
      ),
      { numRuns: 3_000 }
    )
  })

  it("random and mutated pickles through the whitelist reader and the error renderer", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 128 }),
          fc.uint8Array({ maxLength: 128 }).map((b) => Uint8Array.from([0x80, 0x04, ...b, 0x2e])),
          mutated(pickles)
        ),
        fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 2 }),
        (input, buffers) => {
          runs++
          checkPickle(input, buffers)
        }
      ),
      { numRuns: 4_000 }
    )
  })

  it("random and mutated lz4 blocks never produce more than the bound", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated(lz4Samples)),
        fc.integer({ min: 0, max: 4_096 }),
        (input, bound) => {
          runs++
          checkLz4(input, bound)
        }
      ),
      { numRuns: 2_000 }
    )
  })

  it("random msgpack values and their mutations decode or fail typed", () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        fc.array(mutation, { maxLength: 3 }),
        (value, ms) => {
          runs++
          const packed = encodeMsgpack(value)
          if (ms.length === 0) {
            // A "__proto__" key too arrives as it was sent: an own entry, never a prototype
            // (the JSON round trip only turns -0 into 0, as msgpack's integers do).
            assert.deepStrictEqual(Either.getOrThrow(decodeMsgpack(packed)), JSON.parse(JSON.stringify(value)))
          }
          const out = decodeMsgpack(mutate(packed, ms))
          if (Either.isRight(out)) inspect(out.right)
          const message = decodeMessage([mutate(packed, ms), ...frameSets[0]!])
          if (Either.isLeft(message)) assert.instanceOf(message.left, ProtocolError)
        }
      ),
      { numRuns: 2_000 }
    )
  })

  it("random task arguments: update-graph encoders return a message or UnsupportedTaskError, never throw", () => {
    const task = Task.python<ReadonlyArray<unknown>, unknown>("builtins.print")
    const argument = fc.oneof(
      fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
      fc.string().map((key) => new KeyRef(key))
    )
    fc.assert(
      fc.property(fc.array(argument, { maxLength: 4 }), (args) => {
        runs++
        const spec = { key: "k-1", task, args, dependencies: [] }
        for (const build of [updateGraph2022, updateGraph2024]) {
          const out = build([spec], ["k-1"], "c")
          if (Either.isLeft(out)) {
            assert.instanceOf(out.left, UnsupportedTaskError)
          } else {
            const frames = encodeMessage([out.right])
            assert.isTrue(Either.isRight(decodeMessage(frames)))
            const graph = out.right["graph_frames"] as Array<Uint8Array> | undefined
            if (graph !== undefined) assert.isTrue(Either.isRight(readPickle(graph[0]!)))
          }
        }
      }),
      { numRuns: 1_000 }
    )
  })

  it("ran at least 10,000 inputs", () => {
    assert.isAtLeast(runs, 10_000)
  })
})
