/**
 * The Dask backend against real schedulers and workers (2022.12.1 and
 * 2024.12.1), checked against the cluster's own state (scheduler tasks and
 * clients, worker data) rather than what the client believes.
 */
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as Client from "../src/Client.js"
import * as DaskScheduler from "../src/DaskScheduler.js"
import { CancelledError, ConnectError, ConnectionLostError, ProtocolError, RemoteError, UnsupportedTaskError } from "../src/Errors.js"
import * as Future from "../src/Future.js"
import * as Memory from "../src/Memory.js"
import { KeyRef, type Scheduler } from "../src/Scheduler.js"
import * as Task from "../src/Task.js"
import { connectQueued } from "./sessionReports.js"
import { type Cluster, type ClusterState, startCluster, until } from "./dask/cluster.js"
import { describeDask } from "./dask/suite.js"
import { tcpProxy } from "./dask/proxy.js"

const add = Task.make("add", (a: number, b: number) => a + b, { python: "operator.add" })
const truediv = Task.python<[number, number], number>("operator.truediv")
const sleep = Task.python<[number], null>("time.sleep", { pure: false })
const sum = Task.python<[ReadonlyArray<number>], number>("builtins.sum")


const allWorkerData = (s: ClusterState) => Object.values(s.workerData).flat()

/** Runs `effect` with a Dask backend for `cluster` and a fresh current client. */
const runWith = <A, E>(
  cluster: Cluster,
  effect: (client: Client.Client) => Effect.Effect<A, E, Scope.Scope | Scheduler>,
  options?: DaskScheduler.Options
): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const client = yield* Client.make()
      return yield* Client.withClient(effect(client), client)
    }).pipe(
      Effect.scoped,
      Effect.provide(DaskScheduler.layer({ address: cluster.address, ...options }))
    )
  )

describeDask("Dask %s (real cluster)", (version) => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(version, { workers: 2, nthreads: 2 })
  }, 60_000)
  afterAll(() => cluster?.stop(), 20_000)

  it("submits a dependent pair and gathers it; the scheduler and worker hold both", async () => {
    const { x, y, values, clientId, state } = await runWith(cluster, (client) =>
      Effect.gen(function*() {
        const x = yield* Client.submit(add, 1, 2)
        const y = yield* Client.submit(add, x, 10)
        const values = yield* Client.gather([x, y])
        const state = yield* Effect.promise(() => cluster.state())
        return { x: x.key, y: y.key, values, clientId: client.id, state }
      }))
    assert.deepStrictEqual(values, [3, 13])
    assert.strictEqual(state.tasks[x]?.state, "memory")
    assert.strictEqual(state.tasks[y]?.state, "memory")
    assert.include(state.tasks[y]!.who_wants, clientId)
    assert.includeMembers(allWorkerData(state), [x, y])
  })

  it("closing a scope releases its keys on the scheduler and the workers; closing the client unregisters it", async () => {
    let keys: Array<string> = []
    let clientId = ""
    await runWith(cluster, (client) =>
      Effect.gen(function*() {
        clientId = client.id
        yield* Effect.scoped(Effect.gen(function*() {
          const fs = yield* Client.map(add, [100, 200, 300], [1, 2, 3])
          keys = fs.map((f) => f.key)
          assert.deepStrictEqual(yield* Client.gather(fs), [101, 202, 303])
          const held = yield* Effect.promise(() => cluster.state())
          for (const k of keys) assert.strictEqual(held.tasks[k]?.state, "memory")
        }))
        // The scope is closed, the client is still open.
        const state = yield* Effect.promise(() =>
          until(cluster, (s) => keys.every((k) => !(k in s.tasks)) && !allWorkerData(s).some((k) => keys.includes(k)))
        )
        assert.include(state.clients, clientId)
      }))
    await until(cluster, (s) => !s.clients.includes(clientId))
  })

  it("two clients sharing a key: it stays until the last one releases it (test_multi_garbage_collection)", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function*() {
        const c1 = yield* Client.make()
        const c2 = yield* Client.make()
        const s1 = yield* Scope.make()
        const s2 = yield* Scope.make()
        const x1 = yield* Client.withClient(Client.submit(add, 7, 1000), c1).pipe(Scope.extend(s1))
        const x2 = yield* Client.withClient(Client.submit(add, 7, 1000), c2).pipe(Scope.extend(s2))
        assert.strictEqual(x1.key, x2.key)
        assert.strictEqual(yield* Future.result(x1), 1007)
        assert.strictEqual(yield* Future.result(x2), 1007)
        const key = x1.key
        const both = yield* Effect.promise(() => until(cluster, (s) => s.tasks[key]?.who_wants.length === 2))
        assert.sameMembers(both.tasks[key]!.who_wants, [c1.id, c2.id])

        yield* Scope.close(s1, Exit.void)
        const one = yield* Effect.promise(() =>
          until(cluster, (s) => s.tasks[key]?.who_wants.length === 1)
        )
        assert.deepStrictEqual(one.tasks[key]!.who_wants, [c2.id])
        assert.include(allWorkerData(one), key)

        yield* Scope.close(s2, Exit.void)
        return yield* Effect.promise(() =>
          until(cluster, (s) => !(key in s.tasks) && !allWorkerData(s).includes(key))
        ).pipe(Effect.as(key))
      }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: cluster.address })))
    )
    assert.isString(result)
  })

  it("scatter then release forgets the data (test_garbage_collection_with_scatter)", async () => {
    await runWith(cluster, (client) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const [s] = yield* Client.scatter([[1, 2, 3]]).pipe(Scope.extend(scope))
        const key = s!.key
        const held = yield* Effect.promise(() => until(cluster, (st) => st.tasks[key]?.state === "memory"))
        assert.include(held.tasks[key]!.who_wants, client.id)
        assert.include(allWorkerData(held), key)
        assert.deepStrictEqual(yield* Future.result(s!), [1, 2, 3])
        yield* Scope.close(scope, Exit.void)
        yield* Effect.promise(() => until(cluster, (st) => !(key in st.tasks) && !allWorkerData(st).includes(key)))
      }))
  })

  it("a task that raises fails with RemoteError(ZeroDivisionError, division by zero)", async () => {
    const exit = await runWith(cluster, () => Effect.flatMap(Client.submit(truediv, 1, 0), Future.result).pipe(Effect.exit))
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(error) && error.value instanceof RemoteError)
    const remote = Option.getOrThrow(error) as RemoteError
    assert.match(remote.type, /ZeroDivisionError$/)
    assert.include(remote.message, "division by zero")
  })

  it("a task or arguments Dask cannot run are refused with UnsupportedTaskError before anything is sent", async () => {
    // Neither a Python callable nor a JS implementation (JS tasks go to Node workers, see dask-worker.test.ts).
    const jsOnly: Task.Task<[number], number> = { ...Task.python<[number], number>("operator.neg"), python: undefined }
    const outcome = await runWith(cluster, (client) =>
      Effect.gen(function*() {
        const before = yield* Effect.promise(() => cluster.state())
        const noPython = yield* Effect.flip(Client.submit(jsOnly, 1))
        const badArgument = yield* Effect.flip(Client.submit(add, 1, new Date(0) as unknown as number))
        // Only 2022.12 inlines msgpack arguments, where such a key would be read as a protocol marker.
        const marker = version === "2022.12"
          ? yield* Effect.flip(Client.submit(sum, [{ "__Set__": true }] as unknown as ReadonlyArray<number>))
          : undefined
        // Still usable, and the scheduler never heard of the refused calls.
        const ok = yield* Effect.flatMap(Client.submit(add, 1, 1), Future.result)
        const after = yield* Effect.promise(() => cluster.state())
        const wanted = Object.entries(after.tasks).filter(([, t]) => t.who_wants.includes(client.id)).map(([k]) => k)
        return { noPython, badArgument, marker, ok, before: Object.keys(before.tasks).length, wanted }
      }))
    assert.instanceOf(outcome.noPython, UnsupportedTaskError)
    assert.instanceOf(outcome.badArgument, UnsupportedTaskError)
    if (version === "2022.12") assert.instanceOf(outcome.marker, UnsupportedTaskError)
    assert.strictEqual(outcome.ok, 2)
    assert.strictEqual(outcome.wanted.length, 1, `only add(1, 1) reached the scheduler: ${outcome.wanted}`)
    assert.match(outcome.wanted[0]!, /^add-/)
  })

  it("cancels a running task: CancelledError, and the scheduler forgets the key", async () => {
    await runWith(cluster, (client) =>
      Effect.gen(function*() {
        const f = yield* Client.submit(sleep, 30)
        yield* Effect.promise(() => until(cluster, (s) => s.tasks[f.key] !== undefined))
        yield* Client.cancel([f])
        const exit = yield* Effect.exit(Future.result(f))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.instanceOf(Option.getOrThrow(Cause.failureOption(exit.cause)), CancelledError)
        }
        yield* Effect.promise(() => until(cluster, (s) => !(f.key in s.tasks) || !s.tasks[f.key]!.who_wants.includes(client.id)))
      }))
  })

  it("uses a future of an earlier submit and a scattered value in a later graph", async () => {
    const out = await runWith(cluster, () =>
      Effect.gen(function*() {
        const a = yield* Client.submit(add, 20, 1)
        yield* Future.wait(a)
        const [s] = yield* Client.scatter([[1, 2, 3]])
        const total = yield* Client.submit(sum, s!)
        const both = yield* Client.submit(add, a, total)
        return yield* Client.gather([total, both])
      }))
    assert.deepStrictEqual(out, [6, 27])
  })

  it("arguments changed after submit, before the stream flushes, are sent as submitted: the pure key and the worker's result agree", async () => {
    const sumBytes = Task.python<[Uint8Array], number>("builtins.sum")
    const out = await runWith(cluster, () =>
      Effect.gen(function*() {
        const xs = [1, 2, 3]
        const bytes = new Uint8Array([1, 2, 3])
        const f = yield* Client.submit(sum, xs)
        const g = yield* Client.submit(sumBytes, bytes)
        // Still in this fiber's turn: the stream's writer has not run yet.
        xs[0] = 1000
        xs.push(100)
        bytes[0] = 50
        const values = yield* Client.gather([f, g])
        // Pure: the keys of the contents as submitted.
        const f2 = yield* Client.submit(sum, [1, 2, 3])
        const g2 = yield* Client.submit(sumBytes, new Uint8Array([1, 2, 3]))
        return { values, keys: [f.key, g.key], again: [f2.key, g2.key] }
      }))
    assert.deepStrictEqual(out.values, [6, 6])
    assert.deepStrictEqual(out.again, out.keys)
  })

  it("maps and gathers 1,000 tasks; scope close empties the scheduler and the worker", async () => {
    let keys: Array<string> = []
    const values = await runWith(cluster, () =>
      Effect.scoped(Effect.gen(function*() {
        const n = 1000
        const fs = yield* Client.map(add, Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, () => 1))
        keys = fs.map((f) => f.key)
        return yield* Client.gather(fs)
      })))
    assert.deepStrictEqual(values, Array.from({ length: 1000 }, (_, i) => i + 1))
    const mine = new Set(keys)
    await until(cluster, (s) => !Object.keys(s.tasks).some((k) => mine.has(k)) && !allWorkerData(s).some((k) => mine.has(k)))
  })

  it("reads the address from DASK_SCHEDULER_ADDRESS when none is given", async () => {
    const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([[DaskScheduler.ADDRESS_ENV, cluster.address]])))
    const value = await Effect.runPromise(
      Effect.gen(function*() {
        const client = yield* Client.make()
        return yield* Client.withClient(Effect.flatMap(Client.submit(add, 2, 2), Future.result), client)
      }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer().pipe(Layer.provide(config))))
    )
    assert.strictEqual(value, 4)
  })

  it("whoHas / workers reflect the worker's real data", async () => {
    await runWith(cluster, () =>
      Effect.gen(function*() {
        const f = yield* Client.submit(add, 40, 2)
        yield* Future.wait(f)
        const who = yield* Client.whoHas([f])
        const state = yield* Effect.promise(() => cluster.state())
        const holders = Object.entries(state.workerData).filter(([, keys]) => keys.includes(f.key)).map(([w]) => w)
        assert.deepStrictEqual(who[f.key], holders)
        const ws = yield* Client.workers
        assert.sameMembers(ws.map((w) => w.address), [...cluster.workers])
        for (const w of ws) {
          assert.strictEqual(w.nthreads, 2)
          assert.strictEqual(w.keys, state.workerData[w.address]!.length)
        }
      }))
  })

  it("Memory.snapshot matches the cluster: keys, holders, bytes, call sites", async () => {
    await Effect.runPromise(
      Effect.gen(function*() {
        const client = yield* Client.make({ trackCallSites: true })
        yield* Client.withClient(
          Effect.gen(function*() {
            const scope = yield* Scope.make()
            const fs = yield* Client.map(add, [1, 2, 3, 4], [10, 20, 30, 40]).pipe(Scope.extend(scope)) // snapshot-site
            yield* Client.wait(fs)
            const snap = yield* Memory.snapshot()
            const state = yield* Effect.promise(() => cluster.state())
            assert.sameMembers(snap.keys.map((k) => k.key), fs.map((f) => f.key))
            for (const info of snap.keys) {
              const holders = Object.entries(state.workerData).filter(([, keys]) => keys.includes(info.key)).map(([w]) => w)
              assert.sameMembers([...info.workers], holders, `holders of ${info.key}`)
              assert.isAbove(info.nbytes ?? 0, 0)
              assert.strictEqual(info.refcount, 1)
              assert.match(Memory.formatLocation(info.handles[0]?.location), /dask-integration\.test\.ts:\d+/)
            }
            const byWorker = new Map(snap.workers.map((w) => [w.address, w]))
            for (const [worker, keys] of Object.entries(state.workerData)) {
              const mine = keys.filter((k) => fs.some((f) => f.key === k)).length
              assert.strictEqual(byWorker.get(worker)?.clientKeys ?? 0, mine, `keys of ours on ${worker}`)
            }
            yield* Scope.close(scope, Exit.void)
            assert.strictEqual((yield* Memory.snapshot()).keys.length, 0)
          }),
          client
        )
      }).pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: cluster.address })))
    )
  })

  // Kills the second worker: later tests use the first one only.
  it("a result on a worker that dies is reported as LostData", async () => {
    const [, second] = cluster.workers
    const data = `lost-data-${version}`
    const total = `lost-sum-${version}`
    const seen = await Effect.runPromise(
      Effect.gen(function*() {
        const session = yield* connectQueued(`Client-ts-lost-${version}`)
        yield* session.scatter([[data, [4, 5, 6]]], { workers: [second!] })
        // Runs where its dependency is; its result then lives only there.
        session.send({
          _tag: "UpdateGraph",
          tasks: [{ key: total, task: sum, args: [new KeyRef(data)], dependencies: [data] }],
          keys: [total]
        })
        yield* Effect.promise(() => until(cluster, (st) => st.workerData[second!]?.includes(total) ?? false))
        process.kill(cluster.workerPids[1]!, "SIGKILL")
        // Scattered data has no run_spec: it is forgotten (cancelled), the computed key is lost.
        for (;;) {
          const report = yield* Queue.take(session.reports)
          if (report._tag === "LostData") return report.key
        }
      }).pipe(
        Effect.scoped,
        Effect.provide(DaskScheduler.layer({ address: cluster.address })),
        Effect.timeout("20 seconds")
      )
    )
    assert.strictEqual(seen, total)
  }, 30_000)

  it("a dropped stream is reported, re-registered on the schedule, and usable again", async () => {
    const proxy = await tcpProxy(cluster.address)
    try {
      const clientId = `Client-ts-reconnect-${version}`
      const seen = await Effect.runPromise(
        Effect.gen(function*() {
          const session = yield* connectQueued(clientId)
          yield* Effect.promise(() => until(cluster, (s) => s.clients.includes(clientId)))
          proxy.dropAll()
          const first = yield* Queue.take(session.reports)
          const second = yield* Queue.take(session.reports)
          // Registered again: the scheduler knows the client, and a graph runs.
          yield* Effect.promise(() => until(cluster, (s) => s.clients.includes(clientId)))
          const key = `add-reconnect-${version}`
          session.send({
            _tag: "UpdateGraph",
            tasks: [{ key, task: add, args: [2, 3], dependencies: [] }],
            keys: [key]
          })
          const third = yield* Queue.take(session.reports)
          const values = yield* session.gather([key])
          session.send({ _tag: "ReleaseKeys", keys: [key] })
          return { tags: [first._tag, second._tag, third._tag], first, value: values.get(key) }
        }).pipe(
          Effect.scoped,
          Effect.provide(DaskScheduler.layer({ address: proxy.address, reconnect: Schedule.spaced("100 millis") })),
          Effect.timeout("20 seconds")
        )
      )
      assert.deepStrictEqual(seen.tags, ["ConnectionLost", "Reconnected", "KeyInMemory"])
      assert.strictEqual(seen.value, 5)
      if (seen.first._tag === "ConnectionLost") assert.include(seen.first.error.message, proxy.address)
      await until(cluster, (s) => !s.clients.includes(clientId))
    } finally {
      await proxy.close()
    }
  })

  // Last: it kills this suite's scheduler.
  it("a killed scheduler fails pending futures, an in-flight gather and later submissions with ConnectionLostError, no hang", async () => {
    const started = performance.now()
    const worker = cluster.workerPids[0]!
    try {
      const exits = await runWith(
        cluster,
        () =>
          Effect.gen(function*() {
            const done = yield* Client.submit(add, 1, 1)
            yield* Future.wait(done)
            const pending = yield* Client.submit(sleep, 60)
            yield* Effect.promise(() => until(cluster, (s) => s.tasks[pending.key]?.state === "processing"))
            // A stopped worker keeps the scheduler's gather (hence our RPC) in flight.
            process.kill(worker, "SIGSTOP")
            const inFlight = yield* Effect.fork(Effect.exit(Client.gather([done])))
            const waiting = yield* Effect.fork(Effect.exit(Client.gather([pending])))
            yield* Effect.sleep("500 millis")
            yield* Effect.promise(() => cluster.killScheduler())
            const first = [Exit.flatten(yield* inFlight.await), Exit.flatten(yield* waiting.await)]
            // Once the reconnect schedule (3 tries) gives up, a new submission fails too.
            yield* Effect.sleep("2 seconds")
            const late = yield* Effect.exit(Effect.flatMap(Client.submit(add, 3, 4), Future.result))
            return [...first, late] as Array<Exit.Exit<unknown, unknown>>
          }).pipe(Effect.timeout("20 seconds")),
        { reconnect: Schedule.spaced("200 millis").pipe(Schedule.compose(Schedule.recurs(3))) }
      )
      assert.isBelow(performance.now() - started, 20_000)
      assert.strictEqual(exits.length, 3)
      for (const exit of exits) {
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = Option.getOrThrow(Cause.failureOption(exit.cause))
          assert.instanceOf(error, ConnectionLostError)
          assert.include((error as ConnectionLostError).message, cluster.address)
        }
      }
    } finally {
      process.kill(worker, "SIGCONT")
    }
  }, 40_000)
})

/** A fake scheduler on 127.0.0.1 that answers every connection with `reply`. */
const fakePeer = async (reply: (socket: net.Socket) => void) => {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on("error", () => {})
    socket.on("close", () => sockets.delete(socket))
    reply(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    address: `tcp://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

const u64 = (n: bigint) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(n)
  return b
}

/** One framed message with a single frame. */
const frame = (body: Uint8Array) => Buffer.concat([u64(BigInt(8 + 8 + body.length)), u64(1n), u64(BigInt(body.length)), body])

/** msgpack of {compression: null, python: [3, 11, 2], "pickle-protocol": 5}. */
const HELLO = Buffer.from("83ab636f6d7072657373696f6ec0a6707974686f6e93030b02af7069636b6c652d70726f746f636f6c05", "hex")

describe("Dask backend against a malformed peer", () => {
  const connectTo = (address: string) =>
    Effect.runPromise(
      Client.make().pipe(
        Effect.scoped,
        Effect.provide(DaskScheduler.layer({ address, connectTimeout: "5 seconds", reconnect: Schedule.stop })),
        Effect.timeout(Duration.seconds(8)),
        Effect.exit
      )
    )

  const expectProtocolError = (exit: Exit.Exit<unknown, unknown>, reason?: ProtocolError["reason"]) => {
    assert.isTrue(Exit.isFailure(exit), "connecting should fail")
    if (Exit.isFailure(exit)) {
      const error = Option.getOrThrow(Cause.failureOption(exit.cause))
      assert.instanceOf(error, ProtocolError)
      if (reason !== undefined) assert.strictEqual((error as ProtocolError).reason, reason)
    }
  }

  it("a huge declared length is refused before allocating (FrameTooLarge)", async () => {
    const peer = await fakePeer((s) => s.write(Buffer.concat([u64(2n ** 62n), u64(1n), u64(2n ** 62n - 16n)])))
    try {
      expectProtocolError(await connectTo(peer.address), "FrameTooLarge")
    } finally {
      await peer.close()
    }
  })

  it("garbage bytes in a frame are a ProtocolError", async () => {
    const peer = await fakePeer((s) => s.write(frame(Buffer.from([0xc1, 0xc1, 0xc1, 0xff]))))
    try {
      expectProtocolError(await connectTo(peer.address))
    } finally {
      await peer.close()
    }
  })

  it("a valid handshake followed by a malformed reply is a ProtocolError", async () => {
    const peer = await fakePeer((s) => {
      s.write(frame(HELLO))
      s.once("data", () => s.write(Buffer.concat([u64(24n), u64(5n), u64(0n)])))
    })
    try {
      expectProtocolError(await connectTo(peer.address))
    } finally {
      await peer.close()
    }
  })

  it("a peer that is not a Dask scheduler (no handshake) is a Handshake ProtocolError", async () => {
    const peer = await fakePeer((s) => s.write(frame(Buffer.from("a568656c6c6f", "hex"))))
    try {
      expectProtocolError(await connectTo(peer.address), "Handshake")
    } finally {
      await peer.close()
    }
  })

  it("no address and no DASK_SCHEDULER_ADDRESS fails the layer with a ConfigError naming it", async () => {
    const exit = await Effect.runPromise(
      Client.make().pipe(
        Effect.scoped,
        Effect.provide(DaskScheduler.layer().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))))),
        Effect.exit
      )
    )
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) {
      const error = Option.getOrThrow(Cause.failureOption(exit.cause))
      assert.isTrue(ConfigError.isConfigError(error))
      assert.include(String(error), DaskScheduler.ADDRESS_ENV)
    }
  })

  it("nothing listening: a ConnectError naming the address and ECONNREFUSED, with the cause, at once", async () => {
    // A port that was just free: bind, read it, close.
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
    const port = (probe.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const started = performance.now()
    const exit = await connectTo(`tcp://127.0.0.1:${port}`)
    assert.isBelow(performance.now() - started, 4_000, "a refused connect must not wait for the timeout")
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) {
      const error = Option.getOrThrow(Cause.failureOption(exit.cause))
      assert.instanceOf(error, ConnectError)
      const e = error as ConnectError
      assert.strictEqual(e.message, `could not connect to tcp://127.0.0.1:${port} (ECONNREFUSED)`)
      assert.strictEqual(e.code, "ECONNREFUSED")
      assert.strictEqual((e.cause as NodeJS.ErrnoException).code, "ECONNREFUSED")
    }
  })

  it("an invalid address fails the layer with a ConfigError", async () => {
    const exit = await Effect.runPromise(
      Client.make().pipe(Effect.scoped, Effect.provide(DaskScheduler.layer({ address: "tls://127.0.0.1:1" })), Effect.exit)
    )
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "only tcp:// is supported")
  })
})
