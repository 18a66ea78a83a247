import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** Merges one benchmark's raw figures under `name` in bench/results.json. */
export const record = (name: string, results: unknown): void => {
  const file = fileURLToPath(new URL("results.json", import.meta.url))
  let all: Record<string, unknown> = {}
  try {
    all = JSON.parse(readFileSync(file, "utf8"))
  } catch {
    // absent or unreadable: start afresh
  }
  all[name] = results
  writeFileSync(file, JSON.stringify(all, null, 2) + "\n")
}
