/**
 * `npm run bench`: every benchmark, one after the other, each in its own
 * process (so heap figures are not mixed). Each prints its table and writes
 * its raw figures (bench/results.json, bench/dask-results.json).
 * Pass names to run a subset: `npm run bench -- handles embedded`.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const benches = ["handles", "embedded", "callsites", "fanin", "dask"] as const
const chosen = process.argv.slice(2).filter((a) => (benches as ReadonlyArray<string>).includes(a))
let failed = 0
for (const name of chosen.length > 0 ? chosen : benches) {
  console.log(`\n=== bench/${name}.ts ===`)
  const file = fileURLToPath(new URL(`${name}.ts`, import.meta.url))
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", file], { stdio: "inherit" })
  if (r.status !== 0) {
    failed++
    console.log(`bench/${name}.ts exited with ${r.status ?? r.signal}`)
  }
}
process.exit(failed === 0 ? 0 : 1)
