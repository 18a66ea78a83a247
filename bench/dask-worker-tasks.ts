/**
 * JS tasks of bench/dask-worker.ts, loaded by the benchmark's Node workers
 * (`effect-dask worker --tasks bench/dask-worker-tasks.ts`).
 */
import * as Task from "../src/Task.js"

/** Impure: every call is its own key, as the Python side's `pure: false`. */
export const inc = Task.make("bench-inc", (x: number) => x + 1, { pure: false })
export const floats = Task.make("bench-floats", (n: number) => new Float64Array(n), { pure: false })
export const byteLength = Task.make("bench-byte-length", (xs: ArrayBufferView) => xs.byteLength, { pure: false })
