// scratch (not committed): profile ours and the floor on map 10k at saturation inf
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as inspector from "node:inspector"
import * as fs from "node:fs"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import * as Task from "../src/Task.js"
import { startCluster, type DaskVersion } from "../test/dask/cluster.js"
import * as Floor from "./floor.js"

const version = (process.argv[2] ?? "2022.12") as DaskVersion
const N = Number(process.argv[3] ?? 10000)
const reps = Number(process.argv[4] ?? 3)
const prof = process.argv.includes("--prof")
const add = Task.python<[number, number], number>("operator.add", { pure: false })
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system }
const range = (n: number) => Array.from({ length: n }, (_, i) => i)
const session = new inspector.Session(); session.connect()
const post = (m: string, p?: any) => new Promise<any>((res, rej) => session.post(m, p, (e, r) => e ? rej(e) : res(r)))

const cluster = await startCluster(version, { workers: 1, nthreads: 1, schedulerConfig: { "distributed.scheduler.worker-saturation": "inf" } })
try {
  const ours: Array<number> = []
  await Effect.runPromise(Effect.gen(function*() {
    yield* Client.make()
    for (let r = 0; r < reps + 2; r++) {
      const n = r < 2 ? 2000 : N
      if (prof && r === reps + 1) { yield* Effect.promise(() => post("Profiler.enable")); yield* Effect.promise(() => post("Profiler.start")) }
      const scope = yield* Scope.make()
      const c0 = cpu()
      const vs = yield* Effect.flatMap(Client.map(add, range(n), new Array(n).fill(1)), (fs) => Client.gather(fs)).pipe(Scope.extend(scope))
      const c = cpu() - c0
      if (prof && r === reps + 1) { const { profile } = yield* Effect.promise(() => post("Profiler.stop")); fs.writeFileSync("/tmp/b14/s/ours.cpuprofile", JSON.stringify(profile)) }
      if (vs[n - 1] !== n) throw new Error("bad")
      yield* Scope.close(scope, Exit.void)
      yield* Effect.sleep("300 millis")
      if (r >= 2) ours.push(c / n)
    }
  }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: cluster.address }))))
  const floor: Array<number> = []
  const f = await Floor.connect(cluster.address, version)
  for (let r = 0; r < reps + 2; r++) {
    const n = r < 2 ? 2000 : N
    if (prof && r === reps + 1) { await post("Profiler.start") }
    const res = await f.map(n)
    if (prof && r === reps + 1) { const { profile } = await post("Profiler.stop"); fs.writeFileSync("/tmp/b14/s/floor.cpuprofile", JSON.stringify(profile)) }
    await new Promise((r) => setTimeout(r, 300))
    if (r >= 2) floor.push(res.cpu_s * 1e6 / n)
  }
  f.close()
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(" ")
  console.log(`${version} ours µs/task: ${fmt(ours)} | floor: ${fmt(floor)} | ratio of medians ${(ours.sort((a,b)=>a-b)[ours.length>>1]! / floor.sort((a,b)=>a-b)[floor.length>>1]!).toFixed(2)}`)
} finally {
  await cluster.stop()
}
process.exit(0)
