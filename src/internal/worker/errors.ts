/**
 * A JS failure as a Python exception on the wire (worker protocol §7.5):
 * the pickle of a builtin exception class called with one message (any
 * Python reads it without importing anything of ours), and the JS stack as a
 * tblib traceback (`tblib.pickling_support.unpickle_traceback`, the form
 * Python workers send), so Python clients show the JS frames and
 * effect-dask's `errorInfo` renders them.
 *
 * @internal
 */
import { Serialized } from "../wire/message.js"
import { PyGlobal, PyObject, PyTuple, writePickle } from "../wire/pickle.js"
import { typePickle } from "./values.js"

const UNPICKLE_TRACEBACK = new PyGlobal("tblib.pickling_support", "unpickle_traceback")
const FRAME = new PyGlobal("tblib", "Frame")
const CODE = new PyGlobal("tblib", "Code")
const TRACEBACK = new PyGlobal("tblib", "Traceback")

/** `dask`-family bytes: what Python's `task-erred` carries (the client unpickles the bytes). */
const asDaskBytes = (pickle: Uint8Array): Serialized =>
  new Serialized({ serializer: "dask", type: "bytes", "type-serialized": typePickle("bytes"), "sub-header": {} }, [pickle])

/** @internal */
export interface StackFrame {
  readonly file: string
  readonly name: string
  readonly line: number
}

const FRAME_LINE = /^\s*at (?:(.+?) \()?(.+?):(\d+)(?::\d+)?\)?$/

/** Parses V8 stack lines (`at fn (file:line:col)` / `at file:line:col`); others are skipped. @internal */
export const parseStack = (stack: string): Array<StackFrame> => {
  const frames: Array<StackFrame> = []
  for (const line of stack.split("\n")) {
    const m = FRAME_LINE.exec(line)
    if (m === null) continue
    frames.push({ name: m[1] ?? "<anonymous>", file: m[2]!, line: Number(m[3]) })
    if (frames.length >= 64) break
  }
  return frames
}

const frameObject = (f: StackFrame) =>
  PyObject.withState(FRAME, [], {
    f_locals: {},
    f_globals: { __name__: f.file, __file__: f.file },
    f_code: PyObject.withState(CODE, [], {
      co_filename: f.file,
      co_name: f.name,
      co_argcount: 0,
      co_kwonlyargcount: 0,
      co_varnames: new PyTuple([]),
      co_nlocals: 0,
      co_stacksize: 0,
      co_flags: 64,
      co_firstlineno: 0
    }, "newobj"),
    f_lineno: f.line
  }, "newobj")

/** The tblib traceback pickle of JS frames, outermost first (Python's order); null when there are none. @internal */
export const tracebackPickle = (frames: ReadonlyArray<StackFrame>): Serialized | null => {
  if (frames.length === 0) return null
  // V8 lists the innermost frame first; a Python traceback starts at the outermost.
  const ordered = frames.slice().reverse()
  let next: unknown = null
  for (let i = ordered.length - 1; i >= 1; i--) {
    next = PyObject.withState(TRACEBACK, [], { tb_frame: frameObject(ordered[i]!), tb_lineno: ordered[i]!.line, tb_next: next }, "newobj")
  }
  const first = ordered[0]!
  return asDaskBytes(writePickle(new PyObject(UNPICKLE_TRACEBACK, [frameObject(first), first.line, next])))
}

/** A failure of this worker's own (not of a JS task): reported without a JS prefix or stack. @internal */
export class WorkerFault extends Error {}

/** @internal */
export interface ErrorReport {
  readonly exception: Serialized
  readonly traceback: Serialized | null
  readonly exception_text: string
  readonly traceback_text: string
}

const clip = (s: string, n: number) => (s.length <= n ? s : s.slice(0, n) + "…")

/** `RuntimeError("JS <name>: <message>")` (or another builtin class) with the stack. @internal */
export const errorReport = (error: unknown, pythonClass = "RuntimeError"): ErrorReport => {
  let message: string
  let stack = ""
  if (error instanceof WorkerFault) {
    message = error.message
  } else if (error instanceof Error) {
    message = `JS ${error.name}: ${error.message}`
    stack = typeof error.stack === "string" ? error.stack : ""
  } else {
    let text: string
    try {
      text = typeof error === "string" ? error : JSON.stringify(error) ?? String(error)
    } catch {
      text = String(error)
    }
    message = `JS task failed with ${clip(text, 2_000)}`
  }
  message = clip(message, 8_000)
  const exception = asDaskBytes(writePickle(new PyObject(new PyGlobal("builtins", pythonClass), [message])))
  const frames = parseStack(stack)
  return {
    exception,
    traceback: tracebackPickle(frames),
    exception_text: `${pythonClass}(${JSON.stringify(message)})`,
    traceback_text: clip(stack, 16_000)
  }
}
