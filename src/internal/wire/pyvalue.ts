/**
 * Python values with a plain JS form, from the whitelist pickle reader's
 * inert output: what a user gets from a real cluster is a value or a typed
 * error, never a descriptor. Nothing is imported or called; each known
 * constructor's arguments are read as data.
 *
 * - numpy scalars (`numpy.core.multiarray.scalar`, `numpy._core.multiarray.scalar`):
 *   `number`, `bigint` (64-bit integers beyond 2^53), `boolean` (numpy.ts);
 * - pickled numpy arrays (`_frombuffer`, `_reconstruct`): as numpy.ts decodes arrays;
 * - `datetime.datetime` → `Date` (naive values read as UTC; microseconds
 *   truncated to milliseconds; fixed-offset `datetime.timezone` applied);
 * - `datetime.date` → `Date` at 00:00 UTC;
 * - `datetime.timedelta` → milliseconds (`number`, fractional below 1 ms);
 * - `decimal.Decimal` → its exact text (`string`);
 * - `complex` → `{ re, im }`;
 * - `range` → an array of its numbers;
 * - `collections.OrderedDict` / `defaultdict` → objects or `Map`s like dicts.
 *
 * Anything else (a class instance, a global reference, pandas objects, …) is
 * a `DecodeError` naming the Python type.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { DecodeError } from "../../Errors.js"
import { BudgetExceeded, type DecodeBudget, OBJECT_COST, SLOT_COST } from "./budget.js"
import { contiguousStrides, NumpyFault, parseDtype, readArray, readScalar } from "./numpy.js"
import { fromMap, PyGlobal, PyObject } from "./pickle.js"

class ValueFault {
  constructor(readonly message: string) {}
}

const fail = (message: string): never => {
  throw new ValueFault(message)
}

const MAX_DEPTH = 1_000
const MAX_RANGE = 16 * 1024 * 1024

/** The Python type a descriptor would build, for errors. */
export const pythonTypeName = (value: unknown): string => {
  if (value instanceof PyGlobal) return value.qualifiedName
  if (value instanceof PyObject) {
    const callable = value.callable
    if (callable instanceof PyGlobal) {
      const name = callable.qualifiedName
      // copyreg._reconstructor(cls, base, state) and copyreg.__newobj__(cls, ...) build a `cls`.
      if ((name === "copyreg._reconstructor" || name === "copyreg.__newobj__") && value.args[0] instanceof PyGlobal) {
        return value.args[0].qualifiedName
      }
      return name
    }
    return pythonTypeName(callable)
  }
  return typeof value
}

const callableName = (o: PyObject): string | undefined =>
  o.callable instanceof PyGlobal ? o.callable.qualifiedName : undefined

const unsupported = (value: unknown): never => {
  const name = pythonTypeName(value)
  if (value instanceof PyGlobal) {
    return fail(`the value is a reference to the Python global ${name} (a function or class), which has no plain JS form`)
  }
  const hint = name.startsWith("pandas.")
    ? " (return plain data from the task, e.g. DataFrame.to_dict() or Series.tolist())"
    : ""
  return fail(`a Python ${name} has no plain JS form${hint}`)
}

/** A numpy dtype descriptor: `numpy.dtype(str, False, True)` + BUILD `(3, order, …)`. */
const dtypeOf = (u: unknown) => {
  if (!(u instanceof PyObject) || !(callableName(u) === "numpy.dtype") || typeof u.args[0] !== "string") {
    return fail(`numpy dtype of type ${pythonTypeName(u)} is not supported`)
  }
  const state = u.state
  const order = Array.isArray(state) && typeof state[1] === "string" ? state[1] : undefined
  if (Array.isArray(state) && (state[2] !== null || state[3] !== null)) {
    return fail(`numpy dtype ${u.args[0]} is structured; not supported`)
  }
  return parseDtype(u.args[0] as string, order)
}

const shapeOf = (u: unknown): Array<number> => {
  if (!Array.isArray(u) || !u.every((n) => typeof n === "number" && Number.isInteger(n) && n >= 0)) {
    return fail("numpy shape is not a tuple of non-negative integers")
  }
  return u as Array<number>
}

const int = (u: unknown, what: string): number => {
  if (typeof u !== "number" || !Number.isInteger(u)) return fail(`${what} is not an integer`)
  return u
}

const bytesArg = (u: unknown, n: number, what: string): Uint8Array => {
  if (!(u instanceof Uint8Array) || u.length !== n) return fail(`${what} state is not ${n} bytes`)
  return u
}

const timedeltaMillis = (u: unknown): number => {
  if (!(u instanceof PyObject) || callableName(u) !== "datetime.timedelta") return fail("timedelta expected")
  const [days = 0, seconds = 0, micros = 0] = u.args
  return int(days, "timedelta days") * 86_400_000 + int(seconds, "timedelta seconds") * 1_000 +
    int(micros, "timedelta microseconds") / 1_000
}

/** Offset of a tzinfo in ms; only fixed offsets (`datetime.timezone`) have one without a time-zone database. */
const tzOffsetMillis = (u: unknown): number => {
  if (u instanceof PyObject && callableName(u) === "datetime.timezone") return timedeltaMillis(u.args[0])
  return fail(`datetime with tzinfo of type ${pythonTypeName(u)} is not supported (only fixed offsets, datetime.timezone)`)
}

const datetimeOf = (o: PyObject): Date => {
  const b = bytesArg(o.args[0], 10, "datetime")
  const year = b[0]! * 256 + b[1]!
  const month = b[2]! & 0x7f // the top bit is `fold`
  const micros = (b[7]! << 16) | (b[8]! << 8) | b[9]!
  const ms = Date.UTC(year, month - 1, b[3]!, b[4]!, b[5]!, b[6]!, Math.floor(micros / 1_000))
  // Date.UTC maps years 0–99 to 1900–1999.
  const date = new Date(ms)
  if (year < 100) date.setUTCFullYear(year)
  const offset = o.args.length > 1 && o.args[1] !== null ? tzOffsetMillis(o.args[1]) : 0
  return new Date(date.getTime() - offset)
}

const dateOf = (o: PyObject): Date => {
  const b = bytesArg(o.args[0], 4, "date")
  const date = new Date(Date.UTC(b[0]! * 256 + b[1]!, b[2]! - 1, b[3]!))
  if (b[0]! * 256 + b[1]! < 100) date.setUTCFullYear(b[0]! * 256 + b[1]!)
  return date
}

class Converter {
  private readonly done = new Map<object, unknown>()
  constructor(private readonly budget: DecodeBudget) {}

  convert(value: unknown, depth: number): unknown {
    if (typeof value !== "object" || value === null || value instanceof Uint8Array) return value
    const cached = this.done.get(value)
    if (cached !== undefined) return cached
    if (depth > MAX_DEPTH) return fail(`nested deeper than ${MAX_DEPTH}`)
    let out: unknown
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.convert(value[i], depth + 1)
      out = value
    } else if (value instanceof Map) {
      const map = new Map<unknown, unknown>()
      for (const [k, v] of value) map.set(this.convert(k, depth + 1), this.convert(v, depth + 1))
      out = map
    } else if (value instanceof Set) {
      const set = new Set<unknown>()
      for (const item of value) set.add(this.convert(item, depth + 1))
      out = set
    } else if (value instanceof PyObject) {
      out = this.object(value, depth)
    } else if (value instanceof PyGlobal) {
      out = unsupported(value)
    } else {
      const object = value as Record<string, unknown>
      for (const key of Object.keys(object)) object[key] = this.convert(object[key], depth + 1)
      out = object
    }
    this.done.set(value, out)
    return out
  }

  private object(o: PyObject, depth: number): unknown {
    const name = callableName(o)
    if (o.kind === "reduce") {
      switch (name) {
        case "numpy.core.multiarray.scalar":
        case "numpy._core.multiarray.scalar": {
          const data = o.args[1]
          if (!(data instanceof Uint8Array)) return fail("numpy scalar without its bytes")
          return readScalar(dtypeOf(o.args[0]), data, this.budget)
        }
        case "numpy.core.numeric._frombuffer":
        case "numpy._core.numeric._frombuffer": {
          // _frombuffer(buffer, dtype, shape, order): protocol 5, the buffer out of band or inline
          const [buffer, dtype, shape, order] = o.args
          if (!(buffer instanceof Uint8Array)) return fail("numpy array without its buffer")
          const parsed = dtypeOf(dtype)
          const dims = shapeOf(shape)
          return readArray(parsed, dims, contiguousStrides(dims, parsed.itemsize, order === "F"), buffer, this.budget)
        }
        case "numpy.core.multiarray._reconstruct":
        case "numpy._core.multiarray._reconstruct": {
          // _reconstruct(ndarray, (0,), b"b") + BUILD (version, shape, dtype, is_fortran, data)
          const state = o.state
          if (!Array.isArray(state) || state.length !== 5) return fail("numpy array pickle without its state")
          const [, shape, dtype, fortran, data] = state
          if (!(data instanceof Uint8Array)) return fail("numpy arrays of Python objects are not supported")
          const parsed = dtypeOf(dtype)
          const dims = shapeOf(shape)
          return readArray(parsed, dims, contiguousStrides(dims, parsed.itemsize, fortran === true), data, this.budget)
        }
        case "datetime.datetime":
          return datetimeOf(o)
        case "datetime.date":
          return dateOf(o)
        case "datetime.timedelta":
          return timedeltaMillis(o)
        case "decimal.Decimal": {
          const text = o.args[0]
          if (typeof text !== "string") return fail("decimal.Decimal state is not a string")
          return text
        }
        case "builtins.complex": {
          const [re = 0, im = 0] = o.args
          if (typeof re !== "number" || typeof im !== "number") return fail("complex parts are not numbers")
          return { re, im }
        }
        case "builtins.range": {
          const start = int(o.args[0], "range start")
          const stop = int(o.args[1], "range stop")
          const step = int(o.args[2] ?? 1, "range step")
          if (step === 0) return fail("range step is zero")
          const n = Math.max(0, Math.ceil((stop - start) / step))
          if (n > MAX_RANGE) return fail(`range of ${n} numbers is too long`)
          this.budget.charge("pickle", OBJECT_COST + n * SLOT_COST)
          const out: Array<number> = new Array(n)
          for (let i = 0; i < n; i++) out[i] = start + i * step
          return out
        }
        case "collections.OrderedDict":
        case "collections.defaultdict": {
          const items = new Map<unknown, unknown>()
          const pairs = name === "collections.OrderedDict" ? o.args[0] : undefined
          if (Array.isArray(pairs)) {
            for (const pair of pairs) {
              if (!Array.isArray(pair) || pair.length !== 2) return fail("OrderedDict items are not pairs")
              items.set(pair[0], pair[1])
            }
          }
          if (o.dictItems !== undefined) for (const [k, v] of o.dictItems) items.set(k, v)
          if (o.state !== undefined && o.state !== null) return unsupported(o)
          return fromMap(items, (v) => this.convert(v, depth + 1))
        }
      }
    }
    return unsupported(o)
  }
}

/**
 * The plain JS value of a pickle read by `readPickle`, or a DecodeError
 * naming the Python type that has none. Charges `budget` for what it builds.
 *
 * @internal
 */
export const toValue = (value: unknown, budget: DecodeBudget): Either.Either<unknown, DecodeError> => {
  try {
    return Either.right(new Converter(budget).convert(value, 0))
  } catch (error) {
    if (error instanceof BudgetExceeded || error instanceof NumpyFault) return Either.left(error.error)
    if (error instanceof ValueFault) return Either.left(new DecodeError({ serializer: "pickle", message: error.message }))
    throw error
  }
}
