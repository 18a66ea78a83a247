/**
 * A pickle subset: a non-executing reader that turns a whitelist of opcodes
 * into inert values (never importing or calling anything), and a small writer
 * for global references and the object graphs Dask's update-graph needs.
 *
 * Reader output: `null`, booleans, numbers (bigint beyond 2^53), strings,
 * `Uint8Array` (bytes, bytearray, out-of-band buffers), arrays (lists and
 * tuples), plain objects (dicts whose keys are all strings) or `Map` (other
 * dicts), `Set` (set, frozenset), and descriptors: {@link PyGlobal} for a
 * global reference, {@link PyObject} for REDUCE / NEWOBJ(_EX) (+ BUILD state).
 *
 * @internal
 */
import * as Either from "effect/Either"
import { DecodeError } from "../../Errors.js"
import { BudgetExceeded, type DecodeBudget, OBJECT_COST, SLOT_COST, STRING_COST } from "./budget.js"

/**
 * A reference to a module attribute (`GLOBAL` / `STACK_GLOBAL`).
 *
 * @internal
 */
export class PyGlobal {
  readonly _tag = "PyGlobal"
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`
  }
}

/**
 * An object the pickle would build: `callable(*args)` (REDUCE), or
 * `cls.__new__(cls, *args, **kwargs)` (NEWOBJ / NEWOBJ_EX), with the state
 * given to BUILD, plus items APPENDed / SETITEMed onto it.
 *
 * @internal
 */
export class PyObject {
  readonly _tag = "PyObject"
  state: unknown = undefined
  listItems: Array<unknown> | undefined = undefined
  dictItems: Map<unknown, unknown> | undefined = undefined
  constructor(
    readonly callable: unknown,
    readonly args: Array<unknown>,
    readonly kind: "reduce" | "newobj" = "reduce",
    readonly kwargs: unknown = undefined
  ) {}
  /** Builds a descriptor with BUILD state (for the writer). */
  static withState(callable: unknown, args: Array<unknown>, state: unknown, kind: "reduce" | "newobj" = "reduce") {
    const object = new PyObject(callable, args, kind)
    object.state = state
    return object
  }
}

/**
 * Marks an array to be written as a Python tuple (plain arrays are written as lists).
 *
 * @internal
 */
export class PyTuple {
  readonly _tag = "PyTuple"
  constructor(readonly items: ReadonlyArray<unknown>) {}
}

/**
 * Bounds of {@link readPickle}.
 *
 * @internal
 */
export interface ReadOptions {
  /** Values pushed or inserted into containers, in total (memo references count too). Default 1,000,000. */
  readonly maxElements?: number | undefined
  /** Nesting depth of the result, and of MARKs. Default 1,000. */
  readonly maxDepth?: number | undefined
  /** Memo entries. Default 100,000. */
  readonly maxMemo?: number | undefined
  /** The message's decode budget, charged for every value and container built. */
  readonly budget?: DecodeBudget | undefined
}

class PickleFault {
  constructor(readonly message: string) {}
}

const fail = (message: string): never => {
  throw new PickleFault(message)
}

const utf8 = new TextDecoder("utf-8")
const utf8Encoder = new TextEncoder()

const OPCODE_NAMES: Record<number, string> = {
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x69: "INST",
  0x6f: "OBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4"
}

/** Python 2 module names that unpickle under Python 3 names (`fix_imports`). */
const RENAMED_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg", exceptions: "builtins" }

/**
 * Reads a pickle (protocols 0–5, whitelisted opcodes only) into inert values.
 * `buffers` are the out-of-band buffers of protocol 5 (`NEXT_BUFFER`).
 * Never throws.
 *
 * @internal
 */
export const readPickle = (
  bytes: Uint8Array,
  buffers: ReadonlyArray<Uint8Array> = [],
  options?: ReadOptions
): Either.Either<unknown, DecodeError> => {
  try {
    return Either.right(new Reader(bytes, buffers, options).run())
  } catch (error) {
    if (error instanceof BudgetExceeded) return Either.left(error.error)
    const message = error instanceof PickleFault
      ? error.message
      : `unexpected failure: ${error instanceof Error ? error.message : String(error)}`
    return Either.left(new DecodeError({ serializer: "pickle", message }))
  }
}

class Reader {
  private pos = 0
  private stack: Array<unknown> = []
  private marks: Array<number> = []
  private memo = new Map<number, unknown>()
  private elements = 0
  private nextBuffer = 0
  private readonly maxElements: number
  private readonly maxDepth: number
  private readonly maxMemo: number
  private readonly view: DataView
  private readonly budget: DecodeBudget | undefined
  /** Bytes built so far, charged to the budget at the end; checked against `costLimit` as it grows. */
  private cost = 0
  private readonly costLimit: number

  constructor(private readonly src: Uint8Array, private readonly buffers: ReadonlyArray<Uint8Array>, options?: ReadOptions) {
    this.maxElements = options?.maxElements ?? 1_000_000
    this.maxDepth = options?.maxDepth ?? 1_000
    this.maxMemo = options?.maxMemo ?? 100_000
    this.view = new DataView(src.buffer, src.byteOffset, src.byteLength)
    this.budget = options?.budget
    this.costLimit = this.budget === undefined ? Infinity : this.budget.remaining
  }

  /** Charges what is about to be built. */
  private spend(n: number): void {
    this.cost += n
    if (this.cost > this.costLimit) throw new BudgetExceeded(this.budget!.exceeded("pickle", this.cost))
  }

  run(): unknown {
    const src = this.src
    for (;;) {
      if (this.pos >= src.length) fail("pickle ends without STOP")
      const at = this.pos
      const op = src[this.pos++]!
      switch (op) {
        case 0x80: { // PROTO
          const protocol = this.u8()
          if (protocol > 5) fail(`unsupported pickle protocol ${protocol}`)
          break
        }
        case 0x95: { // FRAME: a length hint only
          const n = this.u64()
          if (n > src.length - this.pos) fail("FRAME longer than the pickle")
          break
        }
        case 0x2e: { // STOP
          if (this.marks.length > 0) fail("STOP inside a MARK")
          if (this.stack.length !== 1) fail(`STOP with ${this.stack.length} values on the stack`)
          if (this.pos !== src.length) fail(`${src.length - this.pos} bytes after STOP`)
          this.budget?.charge("pickle", this.cost)
          return new Finisher(this.maxDepth).finish(this.stack[0])
        }
        case 0x28: // MARK
          if (this.marks.length >= this.maxDepth) fail("MARKs nested too deeply")
          this.marks.push(this.stack.length)
          break
        case 0x30: // POP
          this.pop()
          break
        case 0x31: // POP_MARK
          this.popMark()
          break
        case 0x32: // DUP
          this.push(this.top())
          break
        case 0x4e: // NONE
          this.push(null)
          break
        case 0x88: // NEWTRUE
          this.push(true)
          break
        case 0x89: // NEWFALSE
          this.push(false)
          break
        case 0x4a: // BININT
          this.need(4)
          this.push(this.view.getInt32(this.pos, true))
          this.pos += 4
          break
        case 0x4b: // BININT1
          this.push(this.u8())
          break
        case 0x4d: // BININT2
          this.need(2)
          this.push(this.view.getUint16(this.pos, true))
          this.pos += 2
          break
        case 0x8a: // LONG1
          this.push(this.long(this.u8()))
          break
        case 0x8b: { // LONG4
          this.need(4)
          const n = this.view.getInt32(this.pos, true)
          this.pos += 4
          if (n < 0) fail("LONG4 with a negative length")
          this.push(this.long(n))
          break
        }
        case 0x49: { // INT (text); I00/I01 are False/True
          const line = this.line()
          this.push(line === "00" ? false : line === "01" ? true : parseInteger(line))
          break
        }
        case 0x4c: // LONG (text)
          this.push(parseInteger(this.line().replace(/L$/, "")))
          break
        case 0x46: // FLOAT (text)
          this.push(parseFloatText(this.line()))
          break
        case 0x47: // BINFLOAT
          this.need(8)
          this.push(this.view.getFloat64(this.pos, false))
          this.pos += 8
          break
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.text(this.take(this.u8())))
          break
        case 0x56: // UNICODE (protocol 0, raw-unicode-escape)
          this.push(rawUnicodeEscape(this.rawLine()))
          break
        case 0x58: // BINUNICODE
          this.push(this.text(this.take(this.u32())))
          break
        case 0x8d: // BINUNICODE8
          this.push(this.text(this.take(this.u64())))
          break
        case 0x43: // SHORT_BINBYTES
          this.push(this.take(this.u8()))
          break
        case 0x42: // BINBYTES
          this.push(this.take(this.u32()))
          break
        case 0x8e: // BINBYTES8
          this.push(this.take(this.u64()))
          break
        case 0x96: { // BYTEARRAY8
          const raw = this.take(this.u64())
          this.spend(raw.length)
          this.push(raw.slice())
          break
        }
          break
        case 0x97: { // NEXT_BUFFER
          if (this.nextBuffer >= this.buffers.length) fail("NEXT_BUFFER without an out-of-band buffer")
          this.push(this.buffers[this.nextBuffer++])
          break
        }
        case 0x98: // READONLY_BUFFER
          this.top()
          break
        case 0x29: // EMPTY_TUPLE
          this.spend(OBJECT_COST)
          this.push([])
          break
        case 0x74: // TUPLE
          this.push(this.popMark())
          break
        case 0x85: // TUPLE1
          this.push([this.pop()])
          break
        case 0x86: { // TUPLE2
          const b = this.pop()
          this.push([this.pop(), b])
          break
        }
        case 0x87: { // TUPLE3
          const c = this.pop()
          const b = this.pop()
          this.push([this.pop(), b, c])
          break
        }
        case 0x5d: // EMPTY_LIST
          this.spend(OBJECT_COST)
          this.push([])
          break
        case 0x6c: // LIST
          this.push(this.popMark())
          break
        case 0x61: { // APPEND
          const item = this.pop()
          this.append(this.top(), [item])
          break
        }
        case 0x65: { // APPENDS
          const items = this.popMark()
          this.append(this.top(), items)
          break
        }
        case 0x7d: // EMPTY_DICT
          this.spend(OBJECT_COST)
          this.push(new Map())
          break
        case 0x64: { // DICT
          const items = this.popMark()
          const dict = new Map()
          this.setItems(dict, items)
          this.push(dict)
          break
        }
        case 0x73: { // SETITEM
          const value = this.pop()
          const key = this.pop()
          this.setItems(this.top(), [key, value])
          break
        }
        case 0x75: { // SETITEMS
          const items = this.popMark()
          this.setItems(this.top(), items)
          break
        }
        case 0x8f: // EMPTY_SET
          this.spend(OBJECT_COST)
          this.push(new Set())
          break
        case 0x90: { // ADDITEMS
          const items = this.popMark()
          const target = this.top()
          if (!(target instanceof Set)) fail("ADDITEMS on a non-set")
          for (const item of items) (target as Set<unknown>).add(item)
          this.count(items.length)
          break
        }
        case 0x91: // FROZENSET
          this.push(new Set(this.popMark()))
          break
        case 0x94: // MEMOIZE
          this.put(this.memo.size)
          break
        case 0x71: // BINPUT
          this.put(this.u8())
          break
        case 0x72: // LONG_BINPUT
          this.put(this.u32())
          break
        case 0x70: // PUT
          this.put(parseIndex(this.line()))
          break
        case 0x68: // BINGET
          this.get(this.u8())
          break
        case 0x6a: // LONG_BINGET
          this.get(this.u32())
          break
        case 0x67: // GET
          this.get(parseIndex(this.line()))
          break
        case 0x63: { // GLOBAL
          const module = this.line()
          const name = this.line()
          this.push(makeGlobal(module, name))
          break
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop()
          const module = this.pop()
          if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings")
          this.push(makeGlobal(module as string, name as string))
          break
        }
        case 0x52: { // REDUCE
          const args = this.pop()
          const callable = this.pop()
          if (!Array.isArray(args)) fail("REDUCE arguments are not a tuple")
          this.push(reduce(callable, args as Array<unknown>))
          break
        }
        case 0x81: { // NEWOBJ
          const args = this.pop()
          const cls = this.pop()
          if (!Array.isArray(args)) fail("NEWOBJ arguments are not a tuple")
          this.push(new PyObject(cls, args as Array<unknown>, "newobj"))
          break
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop()
          const args = this.pop()
          const cls = this.pop()
          if (!Array.isArray(args)) fail("NEWOBJ_EX arguments are not a tuple")
          this.push(new PyObject(cls, args as Array<unknown>, "newobj", kwargs))
          break
        }
        case 0x62: { // BUILD
          const state = this.pop()
          const target = this.top()
          if (!(target instanceof PyObject)) fail("BUILD on a value that is not an object")
          ;(target as PyObject).state = state
          break
        }
        default:
          fail(
            `opcode 0x${op.toString(16).padStart(2, "0")}${OPCODE_NAMES[op] ? ` (${OPCODE_NAMES[op]})` : ""} at ${at} is not allowed`
          )
      }
    }
  }

  private count(n: number): void {
    this.elements += n
    if (this.elements > this.maxElements) fail(`more than ${this.maxElements} elements`)
    // A slot, and for each value a share of the container or object holding it
    // (tuples, lists, dicts, objects from MARK, REDUCE, NEWOBJ); the final pass
    // that turns dicts into objects copies each entry once more.
    this.spend(n * (2 * SLOT_COST))
  }

  private text(raw: Uint8Array): string {
    this.spend(STRING_COST + 2 * raw.length)
    return utf8.decode(raw)
  }

  private push(value: unknown): void {
    this.count(1)
    this.stack.push(value)
  }

  private pop(): unknown {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0
    if (this.stack.length <= floor) fail("stack underflow")
    return this.stack.pop()
  }

  private top(): unknown {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0
    if (this.stack.length <= floor) fail("stack underflow")
    return this.stack[this.stack.length - 1]
  }

  private popMark(): Array<unknown> {
    if (this.marks.length === 0) fail("no MARK on the stack")
    const at = this.marks.pop()!
    return this.stack.splice(at)
  }

  private append(target: unknown, items: Array<unknown>): void {
    if (Array.isArray(target)) {
      for (const item of items) target.push(item)
    } else if (target instanceof PyObject) {
      const list = (target.listItems ??= [])
      for (const item of items) list.push(item)
    } else {
      fail("APPEND on a non-list")
    }
    this.count(items.length)
  }

  private setItems(target: unknown, items: Array<unknown>): void {
    if (items.length % 2 !== 0) fail("SETITEMS with an odd number of values")
    const dict = target instanceof Map ? target : target instanceof PyObject ? (target.dictItems ??= new Map()) : undefined
    if (dict === undefined) fail("SETITEM on a non-dict")
    for (let i = 0; i < items.length; i += 2) dict!.set(items[i], items[i + 1])
    this.count(items.length)
  }

  private put(index: number): void {
    if (this.memo.size >= this.maxMemo && !this.memo.has(index)) fail(`more than ${this.maxMemo} memo entries`)
    this.memo.set(index, this.top())
  }

  private get(index: number): void {
    if (!this.memo.has(index)) fail(`memo entry ${index} is missing`)
    this.push(this.memo.get(index))
  }

  private need(n: number): void {
    if (n > this.src.length - this.pos) fail("pickle truncated")
  }

  private u8(): number {
    this.need(1)
    return this.src[this.pos++]!
  }

  private u32(): number {
    this.need(4)
    const n = this.view.getUint32(this.pos, true)
    this.pos += 4
    return n
  }

  private u64(): number {
    this.need(8)
    const lo = this.view.getUint32(this.pos, true)
    const hi = this.view.getUint32(this.pos + 4, true)
    this.pos += 8
    // Any length of 2^32 or more exceeds what a Uint8Array input can hold.
    if (hi !== 0) fail("8-byte length larger than the pickle")
    return lo
  }

  private take(n: number): Uint8Array {
    this.need(n)
    const out = this.src.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  private line(): string {
    const end = this.src.indexOf(0x0a, this.pos)
    if (end < 0) fail("text argument without a newline")
    const text = utf8.decode(this.src.subarray(this.pos, end))
    this.pos = end + 1
    return text
  }

  private rawLine(): Uint8Array {
    const end = this.src.indexOf(0x0a, this.pos)
    if (end < 0) fail("text argument without a newline")
    const raw = this.src.subarray(this.pos, end)
    this.pos = end + 1
    return raw
  }

  private long(n: number): number | bigint {
    if (n > 65_536) fail(`integer of ${n} bytes is too large`)
    const bytes = this.take(n)
    if (n === 0) return 0
    let hex = ""
    for (let i = n - 1; i >= 0; i--) hex += bytes[i]!.toString(16).padStart(2, "0")
    let value = BigInt("0x" + hex)
    if (bytes[n - 1]! & 0x80) value -= 1n << BigInt(8 * n)
    return normalizeInteger(value)
  }
}

/** Python's `raw-unicode-escape`: latin-1 bytes with `\uXXXX` / `\UXXXXXXXX` escapes. */
const rawUnicodeEscape = (raw: Uint8Array): string => {
  let latin1 = ""
  for (let i = 0; i < raw.length; i++) latin1 += String.fromCharCode(raw[i]!)
  return latin1.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4: string | undefined, u8: string | undefined) => {
    const code = parseInt(u4 ?? u8!, 16)
    if (code > 0x10ffff) fail("bad \\U escape")
    return String.fromCodePoint(code)
  })
}

const normalizeInteger = (value: bigint): number | bigint =>
  value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value

const parseInteger = (text: string): number | bigint => {
  const trimmed = text.trim()
  if (!/^[+-]?\d{1,4300}$/.test(trimmed)) fail(`bad integer literal ${JSON.stringify(trimmed.slice(0, 40))}`)
  return normalizeInteger(BigInt(trimmed))
}

const parseIndex = (text: string): number => {
  const n = parseInteger(text)
  if (typeof n !== "number" || n < 0) fail("bad memo index")
  return n as number
}

const parseFloatText = (text: string): number => {
  const t = text.trim().toLowerCase()
  if (t === "inf" || t === "+inf") return Infinity
  if (t === "-inf") return -Infinity
  if (t === "nan") return NaN
  const n = Number(t)
  if (t === "" || Number.isNaN(n)) fail(`bad float literal ${JSON.stringify(t.slice(0, 40))}`)
  return n
}

const makeGlobal = (module: string, name: string): PyGlobal => new PyGlobal(RENAMED_MODULES[module] ?? module, name)

/** REDUCE of a few builtins that build plain data becomes that data; anything else stays a descriptor. */
const reduce = (callable: unknown, args: Array<unknown>): unknown => {
  if (callable instanceof PyGlobal) {
    const name = callable.qualifiedName
    switch (name) {
      case "builtins.set":
      case "builtins.frozenset": {
        if (args.length === 0) return new Set()
        const source = args[0]
        if (Array.isArray(source)) return new Set(source)
        if (source instanceof Set) return new Set(source)
        break
      }
      case "builtins.bytearray":
      case "builtins.bytes": {
        if (args.length === 0) return new Uint8Array(0)
        const source = args[0]
        if (source instanceof Uint8Array) return source.slice()
        if (typeof source === "string") return encodeText(source, args[1])
        if (Array.isArray(source) && source.every((b) => typeof b === "number" && b >= 0 && b < 256 && Number.isInteger(b))) {
          return Uint8Array.from(source as Array<number>)
        }
        break
      }
      case "_codecs.encode": {
        if (typeof args[0] === "string") return encodeText(args[0], args[1])
        break
      }
      case "collections.OrderedDict": {
        if (args.length === 0) return new Map()
        break
      }
    }
  }
  return new PyObject(callable, args, "reduce")
}

const encodeText = (text: string, encoding: unknown): Uint8Array => {
  const name = typeof encoding === "string" ? encoding.toLowerCase().replace(/[-_]/g, "") : "utf8"
  if (name === "latin1" || name === "iso88591") {
    const out = new Uint8Array(text.length)
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c > 255) fail("latin-1 text with a character above U+00FF")
      out[i] = c
    }
    return out
  }
  if (name === "utf8") return utf8Encoder.encode(text)
  return fail(`text encoding ${JSON.stringify(String(encoding)).slice(0, 40)} is not supported`)
}

/**
 * Final pass: dicts with only string keys become plain objects; shared
 * values stay shared (each converted once), cycles and over-deep nesting are
 * refused so consumers can walk the result.
 */
class Finisher {
  private readonly done = new Map<object, unknown>()
  private readonly active = new Set<object>()
  constructor(private readonly maxDepth: number) {}

  finish(value: unknown, depth = 0): unknown {
    if (typeof value !== "object" || value === null || value instanceof Uint8Array || value instanceof PyGlobal) {
      return value
    }
    const cached = this.done.get(value)
    if (cached !== undefined) return cached
    if (this.active.has(value)) fail("recursive structure")
    if (depth >= this.maxDepth) fail(`nested deeper than ${this.maxDepth}`)
    this.active.add(value)
    let out: unknown
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.finish(value[i], depth + 1)
      out = value
    } else if (value instanceof Map) {
      out = this.dict(value, depth)
    } else if (value instanceof Set) {
      const set = new Set<unknown>()
      for (const item of value) set.add(this.finish(item, depth + 1))
      out = set
    } else if (value instanceof PyObject) {
      for (let i = 0; i < value.args.length; i++) value.args[i] = this.finish(value.args[i], depth + 1)
      value.state = this.finish(value.state, depth + 1)
      if (value.kwargs !== undefined) (value as { kwargs: unknown }).kwargs = this.finish(value.kwargs, depth + 1)
      if (value.listItems) value.listItems = this.finish(value.listItems, depth + 1) as Array<unknown>
      if (value.dictItems) {
        const items = new Map<unknown, unknown>()
        for (const [k, v] of value.dictItems) items.set(this.finish(k, depth + 1), this.finish(v, depth + 1))
        value.dictItems = items
      }
      out = value
    } else {
      out = value
    }
    this.active.delete(value)
    this.done.set(value, out)
    return out
  }

  private dict(map: Map<unknown, unknown>, depth: number): unknown {
    return fromMap(map, (v) => this.finish(v, depth + 1))
  }

}

/**
 * A decoded map: a plain object when every key is a string (set without the
 * `__proto__` setter), else a `Map`; keys and values go through `convert`.
 */
export const fromMap = (map: Map<unknown, unknown>, convert: (value: unknown) => unknown): unknown => {
  let stringKeys = true
  for (const key of map.keys()) {
    if (typeof key !== "string") {
      stringKeys = false
      break
    }
  }
  if (stringKeys) {
    const object: Record<string, unknown> = {}
    for (const [key, value] of map) defineEntry(object, key as string, convert(value))
    return object
  }
  const out = new Map<unknown, unknown>()
  for (const [key, value] of map) out.set(convert(key), convert(value))
  return out
}

/** Sets a property without invoking the `__proto__` setter. */
export const defineEntry = (object: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    object[key] = value
  }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

class ByteWriter {
  private buffer = new Uint8Array(256)
  private view = new DataView(this.buffer.buffer)
  length = 0

  private reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }

  byte(b: number): void {
    this.reserve(1)
    this.buffer[this.length++] = b
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length)
    this.buffer.set(b, this.length)
    this.length += b.length
  }

  /** Writes `s` as ASCII; `false` (with some bytes written) when a character is not ASCII. */
  ascii(s: string): boolean {
    this.reserve(s.length)
    const buffer = this.buffer
    let at = this.length
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) return false
      buffer[at++] = c
    }
    this.length = at
    return true
  }

  u32(n: number): void {
    this.reserve(4)
    this.view.setUint32(this.length, n, true)
    this.length += 4
  }

  i32(n: number): void {
    this.reserve(4)
    this.view.setInt32(this.length, n, true)
    this.length += 4
  }

  u64(n: number): void {
    this.reserve(8)
    this.view.setUint32(this.length, n % 0x1_0000_0000, true)
    this.view.setUint32(this.length + 4, Math.floor(n / 0x1_0000_0000), true)
    this.length += 8
  }

  f64be(n: number): void {
    this.reserve(8)
    this.view.setFloat64(this.length, n, false)
    this.length += 8
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

const INT32_MIN = -0x8000_0000
const INT32_MAX = 0x7fff_ffff

/**
 * Pickles `value` (protocol 4, no FRAME or MEMOIZE, as the 2024 graph form
 * needs). Arrays are lists; wrap tuples in {@link PyTuple}. Plain objects and
 * `Map`s are dicts, `Set`s are sets. Throws a `TypeError` for anything else
 * (`undefined`, functions, class instances): validate first.
 *
 * @internal
 */
export const writePickle = (value: unknown): Uint8Array => {
  const w = new ByteWriter()
  w.byte(0x80)
  w.byte(4)
  writeValue(w, value, 0)
  w.byte(0x2e)
  return w.result()
}

const MAX_WRITE_DEPTH = 1_000

const writeString = (w: ByteWriter, s: string): void => {
  // Keys and names are short ASCII: written in one pass, undone if a character is not.
  if (s.length < 256) {
    const start = w.length
    w.byte(0x8c)
    w.byte(s.length)
    if (w.ascii(s)) return
    w.length = start
  }
  const b = utf8Encoder.encode(s)
  if (b.length < 256) {
    w.byte(0x8c)
    w.byte(b.length)
  } else if (b.length <= 0xffff_ffff) {
    w.byte(0x58)
    w.u32(b.length)
  } else {
    w.byte(0x8d)
    w.u64(b.length)
  }
  w.bytes(b)
}

const writeBigInt = (w: ByteWriter, v: bigint): void => {
  if (v >= BigInt(INT32_MIN) && v <= BigInt(INT32_MAX)) {
    w.byte(0x4a)
    w.i32(Number(v))
    return
  }
  const out: Array<number> = []
  let x = v
  for (;;) {
    const b = Number(x & 0xffn)
    out.push(b)
    x >>= 8n
    if ((x === 0n && (b & 0x80) === 0) || (x === -1n && (b & 0x80) !== 0)) break
  }
  if (out.length < 256) {
    w.byte(0x8a)
    w.byte(out.length)
  } else {
    w.byte(0x8b)
    w.i32(out.length)
  }
  w.bytes(Uint8Array.from(out))
}

const writeItems = (w: ByteWriter, items: Iterable<unknown>, depth: number): void => {
  for (const item of items) writeValue(w, item, depth + 1)
}

// Long loops (a graph layer of 10k tasks) live in these, not in `writeValue`: code after a loop
// that only ran on-stack-replaced has no type feedback, and V8 deoptimized there.
const writeListItems = (w: ByteWriter, items: ReadonlyArray<unknown>, depth: number): void => {
  for (let i = 0; i < items.length; i++) writeValue(w, items[i], depth + 1)
}

const writeMapItems = (w: ByteWriter, map: ReadonlyMap<unknown, unknown>, depth: number): void => {
  for (const [k, v] of map) {
    writeValue(w, k, depth + 1)
    writeValue(w, v, depth + 1)
  }
}

const writeTuple = (w: ByteWriter, items: ReadonlyArray<unknown>, depth: number): void => {
  if (items.length === 0) return w.byte(0x29) // EMPTY_TUPLE
  w.byte(0x28)
  for (let i = 0; i < items.length; i++) writeValue(w, items[i], depth + 1)
  w.byte(0x74) // TUPLE
}

const writeValue = (w: ByteWriter, value: unknown, depth: number): void => {
  if (depth > MAX_WRITE_DEPTH) throw new TypeError("pickle: value nested too deeply")
  switch (typeof value) {
    case "string":
      return writeString(w, value)
    case "boolean":
      return w.byte(value ? 0x88 : 0x89)
    case "number":
      // BININT as for a bigint in range, without making one.
      if ((value | 0) === value && !Object.is(value, -0)) {
        w.byte(0x4a)
        return w.i32(value)
      }
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) return writeBigInt(w, BigInt(value))
      w.byte(0x47)
      return w.f64be(value)
    case "bigint":
      return writeBigInt(w, value)
    case "object":
      break
    default:
      throw new TypeError(`pickle: cannot write a value of type ${typeof value}`)
  }
  if (value === null) return w.byte(0x4e)
  if (value instanceof Uint8Array) {
    if (value.length < 256) {
      w.byte(0x43)
      w.byte(value.length)
    } else if (value.length <= 0xffff_ffff) {
      w.byte(0x42)
      w.u32(value.length)
    } else {
      w.byte(0x8e)
      w.u64(value.length)
    }
    return w.bytes(value)
  }
  if (Array.isArray(value)) {
    w.byte(0x5d) // EMPTY_LIST
    if (value.length > 0) {
      w.byte(0x28)
      writeListItems(w, value, depth)
      w.byte(0x65) // APPENDS
    }
    return
  }
  if (value instanceof PyTuple) return writeTuple(w, value.items, depth)
  if (value instanceof PyGlobal) {
    writeString(w, value.module)
    writeString(w, value.name)
    return w.byte(0x93)
  }
  if (value instanceof PyObject) {
    writeValue(w, value.callable, depth + 1)
    writeTuple(w, value.args, depth + 1)
    if (value.kind === "newobj" && value.kwargs !== undefined) {
      writeValue(w, value.kwargs, depth + 1)
      w.byte(0x92) // NEWOBJ_EX
    } else {
      w.byte(value.kind === "newobj" ? 0x81 : 0x52)
    }
    if (value.state !== undefined) {
      writeValue(w, value.state, depth + 1)
      w.byte(0x62) // BUILD
    }
    return
  }
  if (value instanceof Map) {
    w.byte(0x7d)
    if (value.size > 0) {
      w.byte(0x28)
      writeMapItems(w, value, depth)
      w.byte(0x75)
    }
    return
  }
  if (value instanceof Set) {
    w.byte(0x8f)
    if (value.size > 0) {
      w.byte(0x28)
      writeItems(w, value, depth)
      w.byte(0x90)
    }
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    const entries = Object.entries(value)
    w.byte(0x7d)
    if (entries.length > 0) {
      w.byte(0x28)
      for (const [k, v] of entries) {
        writeString(w, k)
        writeValue(w, v, depth + 1)
      }
      w.byte(0x75)
    }
    return
  }
  throw new TypeError(`pickle: cannot write an instance of ${proto?.constructor?.name ?? "an unknown class"}`)
}

/**
 * The protocol-4 pickle of a global reference, byte-identical to CPython's
 * `pickle.dumps(module.name, protocol=4)` (FRAME + MEMOIZE form, §14.1).
 *
 * @internal
 */
export const pickleGlobal = (module: string, name: string): Uint8Array => {
  const body = new ByteWriter()
  writeString(body, module)
  body.byte(0x94)
  writeString(body, name)
  body.byte(0x94)
  body.byte(0x93)
  body.byte(0x94)
  body.byte(0x2e)
  const bodyBytes = body.result()
  const w = new ByteWriter()
  w.byte(0x80)
  w.byte(4)
  w.byte(0x95)
  w.u64(bodyBytes.length)
  w.bytes(bodyBytes)
  return w.result()
}

/**
 * The display name of a pickled class, as `key-in-memory.type` carries it:
 * builtins unqualified (`"int"`), others `module.Name`; `type(None)` and
 * friends (pickled as `builtins.type(None)`) as `"NoneType"`.
 * `undefined` when the pickle is not a class reference.
 *
 * @internal
 */
export const pickledTypeName = (bytes: Uint8Array): string | undefined => {
  const read = readPickle(bytes, [], { maxElements: 1_000 })
  if (Either.isLeft(read)) return undefined
  const value = read.right
  if (value instanceof PyGlobal) return value.module === "builtins" ? value.name : value.qualifiedName
  if (
    value instanceof PyObject && value.callable instanceof PyGlobal && value.callable.qualifiedName === "builtins.type" &&
    value.args.length === 1
  ) {
    const [arg] = value.args
    if (arg === null) return "NoneType"
    if (typeof arg === "boolean") return "bool"
  }
  return undefined
}
