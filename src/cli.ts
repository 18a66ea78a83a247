#!/usr/bin/env node
/**
 * The `effect-dask` command.
 *
 * `effect-dask worker <scheduler> --tasks <module> [--tasks <module>…] [--nthreads N]
 * [--name NAME] [--memory-limit BYTES|FRACTION] [--resources NAME=N,…] [--host H] [--port P]`
 *
 * runs a Node worker until SIGINT/SIGTERM, which retire it (the scheduler
 * moves its keys to other workers) before the process exits 0. `.ts` task
 * modules load through tsx (on demand, or run the command with
 * `node --import tsx`).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as DaskWorker from "./DaskWorker.js"

const USAGE = `usage: effect-dask worker <tcp://scheduler:port> --tasks <module> [--tasks <module>…]
       [--nthreads N] [--name NAME] [--memory-limit BYTES|FRACTION] [--resources NAME=N,…]
       [--host HOST] [--port PORT]`

interface Parsed {
  readonly options: DaskWorker.Options
}

const fail = (message: string): never => {
  process.stderr.write(`effect-dask: ${message}\n${USAGE}\n`)
  process.exit(2)
}

const number = (flag: string, text: string | undefined): number => {
  const n = Number(text)
  if (text === undefined || text.trim() === "" || !Number.isFinite(n)) return fail(`${flag} needs a number`)
  return n
}

const parse = (argv: ReadonlyArray<string>): Parsed => {
  const [command, ...rest] = argv
  if (command === undefined || command === "--help" || command === "-h") {
    process.stdout.write(`${USAGE}\n`)
    process.exit(command === undefined ? 2 : 0)
  }
  if (command !== "worker") fail(`unknown command ${JSON.stringify(command)}`)
  let scheduler: string | undefined
  const modules: Array<string> = []
  let nthreads: number | undefined
  let name: string | undefined
  let memoryLimit: number | undefined
  let host: string | undefined
  let port: number | undefined
  const resources: Record<string, number> = {}
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const flag = eq > 0 ? arg.slice(0, eq) : arg
    const value = () => (eq > 0 ? arg.slice(eq + 1) : rest[++i])
    switch (flag) {
      case "--tasks":
        modules.push(value() ?? fail("--tasks needs a module path"))
        break
      case "--nthreads":
        nthreads = number(flag, value())
        break
      case "--name":
        name = value() ?? fail("--name needs a value")
        break
      case "--memory-limit":
        memoryLimit = number(flag, value())
        break
      case "--host":
        host = value() ?? fail("--host needs a value")
        break
      case "--port":
        port = number(flag, value())
        break
      case "--resources":
        for (const pair of (value() ?? fail("--resources needs NAME=N,…")).split(/[,\s]+/).filter(Boolean)) {
          const [k, v] = pair.split("=")
          if (k === undefined || v === undefined) fail(`bad resource ${JSON.stringify(pair)}`)
          resources[k!] = number("--resources", v)
        }
        break
      default:
        if (arg.startsWith("-")) fail(`unknown option ${arg}`)
        if (scheduler !== undefined) fail(`unexpected argument ${arg}`)
        scheduler = arg
    }
  }
  if (scheduler === undefined) fail("the scheduler address is missing")
  return {
    options: {
      scheduler: scheduler!,
      modules,
      nthreads,
      name,
      memoryLimit,
      host,
      port,
      resources,
      log: (line) => process.stderr.write(`effect-dask worker: ${line}\n`)
    }
  }
}

const main = async () => {
  const { options } = parse(process.argv.slice(2))
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(DaskWorker.make(options), scope))
  if (Exit.isFailure(exit)) {
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    process.stderr.write(`effect-dask worker: ${error?.message ?? String(exit.cause)}\n`)
    process.exit(1)
  }
  const worker = exit.value
  process.stdout.write(`Start worker at: ${worker.address}\n`)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`effect-dask worker: ${signal}, retiring\n`)
    void Effect.runPromise(Scope.close(scope, Exit.void)).then(() => process.exit(0))
  }
  process.on("SIGINT", () => stop("SIGINT"))
  process.on("SIGTERM", () => stop("SIGTERM"))
  const reason = await Effect.runPromise(worker.closed)
  if (!stopping) {
    // Removed by the scheduler (retire, worker-ttl, scheduler shutdown).
    process.stderr.write(`effect-dask worker: left the cluster (${reason})\n`)
    await Effect.runPromise(Scope.close(scope, Exit.void))
    process.exit(0)
  }
}

void main()
