// Tests of the real-cluster harness itself (test/dask/cluster.ts), for each Dask version.
import * as fs from "node:fs"
import { afterAll, assert, beforeAll, it } from "vitest"
import { type Cluster, startCluster } from "./dask/cluster.js"
import { describeDask } from "./dask/suite.js"

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false
    throw e
  }
}

/** Local addresses of the TCP sockets `pid` listens on, from /proc (Linux). */
const listening = (pid: number): Array<string> => {
  const inodes = new Set<string>()
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) inodes.add(m[1]!)
    } catch {
      // closed meanwhile
    }
  }
  const addresses: Array<string> = []
  for (const table of ["tcp", "tcp6"]) {
    for (const line of fs.readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/)
      // cols[1] local address (hex, little-endian for IPv4), cols[3] state (0A = LISTEN), cols[9] inode
      if (cols.length < 10 || cols[3] !== "0A" || !inodes.has(cols[9]!)) continue
      const [ip, port] = cols[1]!.split(":") as [string, string]
      const host = table === "tcp"
        ? (ip.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)).join(".")
        : `[${ip}]`
      addresses.push(`${host}:${parseInt(port, 16)}`)
    }
  }
  return addresses
}

/** Polls `f` until it returns true or `ms` pass; the scheduler applies some changes async. */
const eventually = async (f: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const deadline = performance.now() + ms
  while (!(await f())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describeDask("Dask %s cluster harness", (version) => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(version, { workers: 2 })
  })
  afterAll(() => cluster?.stop())

  it("starts a scheduler and two workers on 127.0.0.1", () => {
    assert.match(cluster.address, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    assert.strictEqual(cluster.workers.length, 2)
    for (const w of cluster.workers) assert.match(w, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    for (const pid of [cluster.schedulerPid, ...cluster.workerPids]) assert.isTrue(alive(pid))
  })

  it("listens on 127.0.0.1 only", () => {
    for (const pid of [cluster.schedulerPid, ...cluster.workerPids]) {
      const addresses = listening(pid)
      assert.isAtLeast(addresses.length, 1, `pid ${pid}`)
      for (const a of addresses) assert.match(a, /^127\.0\.0\.1:\d+$/, `pid ${pid}`)
    }
    assert.include(listening(cluster.schedulerPid), cluster.address.slice("tcp://".length))
  })

  it("state shows the workers, no tasks and no clients", async () => {
    const s = await cluster.state()
    assert.deepStrictEqual(s.tasks, {})
    assert.deepStrictEqual(s.clients, [])
    assert.deepStrictEqual(Object.keys(s.workerData).sort(), [...cluster.workers].sort())
    for (const keys of Object.values(s.workerData)) assert.deepStrictEqual(keys, [])
  })

  it("py runs against the cluster with the expected Dask version", async () => {
    const [v, workers, sum] = await cluster.py<[string, Array<string>, number]>(`
import distributed, operator
result = [distributed.__version__, sorted(client.scheduler_info()["workers"]), client.submit(operator.add, 1, 2).result()]
`)
    assert.isTrue(v.startsWith(version + "."), v)
    assert.deepStrictEqual(workers, [...cluster.workers].sort())
    assert.strictEqual(sum, 3)
    // The snippet's client is gone with its process, and with it its key.
    await eventually(async () => Object.keys((await cluster.state()).tasks).length === 0)
  })

  it("py returns what the snippet prints", async () => {
    assert.deepStrictEqual(await cluster.py(`print(json.dumps({"n": len(address)}))`), {
      n: cluster.address.length
    })
  })

  it("state shows tasks, who wants them and worker data", async () => {
    // A published dataset is held by the "published-<name>" pseudo-client after the
    // snippet's own client has gone.
    const key = await cluster.py<string>(`
import operator
f = client.submit(operator.add, 20, 22, key="harness-x")
f.result()
client.publish_dataset(harness=f)
result = f.key
`)
    assert.strictEqual(key, "harness-x")
    await eventually(async () => (await cluster.state()).clients.every((c) => c.startsWith("published-")))
    const s = await cluster.state()
    assert.deepStrictEqual(s.tasks, { "harness-x": { state: "memory", who_wants: ["published-harness"] } })
    assert.include(s.clients, "published-harness")
    assert.deepStrictEqual(Object.values(s.workerData).flat(), ["harness-x"])

    await cluster.py(`client.unpublish_dataset("harness"); result = None`)
    await eventually(async () => {
      const after = await cluster.state()
      return Object.keys(after.tasks).length === 0 && Object.values(after.workerData).flat().length === 0
    })
  })

  it("uses the default worker-saturation unless configured", async () => {
    const saturation = `result = str(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION))`
    assert.notStrictEqual(await cluster.py(saturation), "inf")
    const c = await startCluster(version, { schedulerConfig: { "distributed.scheduler.worker-saturation": "inf" } })
    try {
      assert.strictEqual(await c.py(saturation), "inf")
    } finally {
      await c.stop()
    }
  })

  it("reports the scheduler's output when it cannot start", async () => {
    const error = await startCluster(version, {
      schedulerConfig: { "distributed.scheduler.worker-saturation": "-1" }
    }).then(() => undefined, (e: Error) => e)
    assert.instanceOf(error, Error)
    assert.match(error.message, /failed to start/)
    assert.match(error.message, /worker-saturation/)
    const pids = [...error.message.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]))
    assert.strictEqual(pids.length, 2) // scheduler and worker, both stopped
    for (const pid of pids) assert.isFalse(alive(pid), `pid ${pid}`)
  })

  it("times out with the processes' output and stops them", async () => {
    const error = await startCluster(version, { timeout: 1 }).then(() => undefined, (e: Error) => e)
    assert.instanceOf(error, Error)
    assert.match(error.message, /not ready after 1 ms/)
    const pids = [...error.message.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]))
    assert.strictEqual(pids.length, 2)
    for (const pid of pids) assert.isFalse(alive(pid), `pid ${pid}`)
  })

  it("killScheduler kills only the scheduler; stop kills every PID", async () => {
    const c = await startCluster(version)
    let stopped = false
    try {
      await c.state() // also starts the observer, which stop must end too
      await c.killScheduler()
      assert.isFalse(alive(c.schedulerPid))
      assert.isTrue(alive(c.workerPids[0]!))
      await c.stop()
      stopped = true
      for (const pid of [c.schedulerPid, ...c.workerPids]) assert.isFalse(alive(pid), `pid ${pid}`)
    } finally {
      if (!stopped) await c.stop()
    }
  })
})
