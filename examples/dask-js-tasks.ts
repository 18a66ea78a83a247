/**
 * The TypeScript tasks of examples/dask-js.ts. Node workers load this module
 * (`effect-dask worker … --tasks examples/dask-js-tasks.ts`) and find each
 * task by its name; the client imports the same definitions to submit them.
 */
import { Task } from "../src/index.js"

/** Word counts of one chunk of text. */
export const countWords = Task.make("count-words", (text: string) => {
  const counts: Record<string, number> = {}
  for (const word of text.toLowerCase().match(/[a-z']+/g) ?? []) counts[word] = (counts[word] ?? 0) + 1
  return counts
})

/** Merges the counts of every chunk (a list of futures: each one is a dependency). */
export const mergeCounts = Task.make("merge-counts", (parts: ReadonlyArray<Record<string, number>>) => {
  const total: Record<string, number> = {}
  for (const part of parts) for (const [word, n] of Object.entries(part)) total[word] = (total[word] ?? 0) + n
  return total
})

/** The `n` most frequent words, most frequent first. */
export const top = Task.make("top-words", (counts: Record<string, number>, n: number) =>
  Object.entries(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n))

/** Half of a number (here the result of a Python step). */
export const half = Task.make("half", (x: number) => x / 2)
