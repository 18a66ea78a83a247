/**
 * Messages between the worker-thread executor (main thread) and its threads.
 *
 * @internal
 */
import type { MessagePort } from "node:worker_threads"
import type { ErrorInfo, Key } from "../../Scheduler.js"

/** Where a KeyRef stood in a task's arguments: indexes and property names from the argument list. @internal */
export type Path = ReadonlyArray<string | number>

/** @internal */
export type ToThread =
  | {
    readonly op: "run"
    readonly key: Key
    readonly attempt: number
    readonly name: string
    /** Arguments with each KeyRef replaced by null; `refs` says where the values go. */
    readonly args: ReadonlyArray<unknown>
    readonly refs: ReadonlyArray<readonly [Path, Key]>
    /** Each dependency and the threads (indexes) holding it. */
    readonly deps: ReadonlyArray<readonly [Key, ReadonlyArray<number>]>
  }
  | { readonly op: "stop"; readonly key: Key; readonly attempt: number }
  | { readonly op: "hold"; readonly key: Key; readonly value: unknown }
  | { readonly op: "free"; readonly keys: ReadonlyArray<Key> }
  | { readonly op: "gather"; readonly id: number; readonly keys: ReadonlyArray<Key> }
  | { readonly op: "stats"; readonly id: number; readonly gc: boolean }
  | { readonly op: "peer"; readonly index: number; readonly port: MessagePort }

/** @internal */
export type ToMain =
  | { readonly op: "ready"; readonly tasks: ReadonlyArray<string> }
  | { readonly op: "fatal"; readonly message: string }
  | { readonly op: "done"; readonly key: Key; readonly attempt: number; readonly nbytes: number; readonly type: string }
  | { readonly op: "erred"; readonly key: Key; readonly attempt: number; readonly error: ErrorInfo }
  | { readonly op: "stopped"; readonly key: Key; readonly attempt: number }
  /** A dependency could not be fetched (its holder died): the task is rescheduled. */
  | { readonly op: "missing"; readonly key: Key; readonly attempt: number; readonly message: string }
  | { readonly op: "replica"; readonly key: Key }
  | {
    readonly op: "gathered"
    readonly id: number
    readonly entries: ReadonlyArray<readonly [Key, unknown]>
    readonly missing: ReadonlyArray<Key>
    readonly error?: string
  }
  | {
    readonly op: "stats"
    readonly id: number
    readonly keys: number
    readonly bytes: number
    readonly heapUsed: number
    readonly received: number
    readonly executed: number
  }
