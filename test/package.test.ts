/**
 * The package as users consume it: `npm pack` (which builds dist/ through `prepare`), the
 * tarball installed into a fresh project next to `effect@3` from the npm cache only, then in
 * that project a plain `node app.mjs` (no tsx) and `tsc --strict` on a user file under
 * NodeNext and Bundler resolution with `skipLibCheck: false`. One pack, one install.
 *
 * The install is offline: the project's lockfile is cut from this repo's package-lock.json
 * (the entries that the tarball's dependencies and peers need), so `npm ci --offline` reads
 * only tarballs that the repo's own `npm ci` put in the cache. Where they are not there, the
 * tests skip and say why.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (cmd: string, args: ReadonlyArray<string>, cwd: string, timeout = 240_000): Promise<Run> =>
  new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr: error !== null && typeof error.code !== "number" ? `${stderr}\n${error.message}` : stderr })
    })
  })

const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

interface LockEntry {
  readonly version?: string
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly [field: string]: unknown
}

/**
 * The lock entries (by path) that `names`, required from the project root, need: Node's
 * resolution over the repo lock's layout, following dependencies, optional dependencies and
 * non-optional peers. Paths are kept, so the layout is the one npm chose for the repo.
 */
const lockClosure = (packages: Record<string, LockEntry>, names: Iterable<string>): Record<string, LockEntry> => {
  const out: Record<string, LockEntry> = {}
  const resolveFrom = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dir.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, "")) {
      const candidate = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`
      if (packages[candidate] !== undefined) return candidate
      if (dir === "") return undefined
    }
  }
  const visit = (from: string, name: string, optional: boolean) => {
    const at = resolveFrom(from, name)
    if (at === undefined) {
      if (optional) return
      throw new Error(`${name} (needed by ${from || "the project"}) is not in package-lock.json`)
    }
    if (out[at] !== undefined) return
    const entry = packages[at]!
    out[at] = entry
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(at, dep, false)
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(at, dep, true)
    for (const dep of Object.keys(entry.peerDependencies ?? {})) {
      if (entry.peerDependenciesMeta?.[dep]?.optional !== true) visit(at, dep, false)
    }
  }
  for (const name of names) visit("", name, false)
  return out
}

const write = (dir: string, file: string, text: string) => fs.writeFileSync(path.join(dir, file), text)

/** The user's program: plain ESM, no tsx. Submit → result → scope close on the embedded scheduler. */
const APP = `import { Effect } from "effect"
import { Client, EmbeddedScheduler, Future, Task } from "effect-dask"

const add = Task.make("add", (a, b) => a + b)

const program = Effect.gen(function*() {
  const scheduler = yield* EmbeddedScheduler.EmbeddedScheduler
  const inside = yield* Effect.scoped(Effect.gen(function*() {
    const xs = yield* Client.map(add, [1, 2, 3], [10, 20, 30])
    const sum = yield* Client.submit(add, xs[0], xs[1])
    const value = yield* Future.result(sum)
    const held = (yield* scheduler.stats).keys
    return { value, held }
  }))
  const after = yield* scheduler.stats
  console.log(\`result \${inside.value}; keys held in the scope: \${inside.held}; after it closed: \${after.keys} keys, \${after.tasks} tasks\`)
})

await program.pipe(
  Effect.provide(Client.layer()),
  Effect.provide(EmbeddedScheduler.layer({ workers: 2, slots: 4 })),
  Effect.runPromise
)
`

/** A typed user file touching the main modules, errors and the test scheduler's layer. */
const USER_TS = `import { Effect, Layer } from "effect"
import { Client, EmbeddedScheduler, Errors, Future, Task, TestScheduler } from "effect-dask"
import * as DaskScheduler from "effect-dask/DaskScheduler"

const add = Task.make("add", (a: number, b: number) => a + b, { python: "operator.add" })

export const program: Effect.Effect<number, Errors.FutureError | Errors.NoClientError | Errors.UnsupportedTaskError, Client.Client> = Effect.scoped(
  Effect.gen(function*() {
    const xs = yield* Client.map(add, [1, 2], [3, 4])
    const sum = yield* Client.submit(add, xs[0]!, xs[1]!)
    return yield* Future.result(sum)
  })
)

export const embedded = program.pipe(
  Effect.provide(Client.layer()),
  Effect.provide(EmbeddedScheduler.layer({ workers: 1 }))
)
export const dask = Layer.provide(Client.layer(), DaskScheduler.layer({ address: "tcp://127.0.0.1:8786" }))
export const test = TestScheduler.layer()
export const refused = (e: Errors.SchedulerError): string => (e._tag === "ConnectError" ? e.message : e._tag)
`

/** Strict options a user may well have; `skipLibCheck: false` so our .d.ts (and effect's) are checked. */
const userOptions = {
  strict: true,
  skipLibCheck: false,
  noEmit: true,
  target: "ES2022",
  lib: ["ES2022"],
  // Effect's own declarations name AbortSignal, URL, ReadableStream: a Node project has @types/node.
  types: ["node"],
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  verbatimModuleSyntax: true,
  isolatedModules: true
}

let dir = ""
let skip: string | undefined
let files: ReadonlyArray<string> = []
let tarball = ""

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dask-pack-"))
  const pack = await run("npm", ["pack", "--json", "--pack-destination", dir], root)
  if (pack.code !== 0) throw new Error(`npm pack failed\n${show(pack)}`)
  const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as ReadonlyArray<{
    readonly filename: string
    readonly integrity: string
    readonly files: ReadonlyArray<{ readonly path: string }>
  }>
  const info = packed[0]!
  files = info.files.map((f) => f.path)
  tarball = info.filename

  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as LockEntry & {
    readonly version: string
  }
  const repoLock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
    readonly packages: Record<string, LockEntry>
  }
  const effectVersion = repoLock.packages["node_modules/effect"]?.version
  const needed = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    "@types/node"
  ])
  const closure = lockClosure(repoLock.packages, needed)
  // Dev-only in the repo, plain dependencies here.
  const entries = Object.fromEntries(
    Object.entries(closure).map(([at, { dev: _dev, peer: _peer, devOptional: _devOptional, ...entry }]) => [at, entry])
  )
  const typesNode = repoLock.packages["node_modules/@types/node"]?.version
  const deps = { "effect-dask": `file:${tarball}`, effect: `^${effectVersion}`, "@types/node": `^${typesNode}` }
  write(dir, "package.json", JSON.stringify({ name: "user-app", version: "1.0.0", private: true, type: "module", dependencies: deps }, null, 2))
  write(dir, "package-lock.json", JSON.stringify({
    name: "user-app",
    version: "1.0.0",
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: "user-app", version: "1.0.0", dependencies: deps },
      "node_modules/effect-dask": {
        version: manifest.version,
        resolved: `file:${tarball}`,
        integrity: info.integrity,
        license: manifest["license"],
        dependencies: manifest.dependencies,
        peerDependencies: manifest.peerDependencies,
        engines: manifest["engines"],
        // npm ci links commands from the lockfile's entry.
        bin: manifest["bin"]
      },
      ...entries
    }
  }, null, 2))
  // No install scripts: msgpackr's native extension is optional and it runs without it.
  const install = await run("npm", ["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], dir)
  if (install.code !== 0) {
    if (/ENOTCACHED|only-if-cached/.test(install.stderr)) {
      skip = `the npm cache lacks a package the tarball needs (run npm ci first): ${install.stderr.trim().split("\n")[0]}`
      return
    }
    throw new Error(`npm ci of the tarball failed\n${show(install)}`)
  }
  write(dir, "app.mjs", APP)
  write(dir, "user.ts", USER_TS)
  // NodeNext also under an older lib and erasableSyntaxOnly; Bundler under the defaults above.
  const configs = {
    nodenext: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2020", lib: ["ES2020"], erasableSyntaxOnly: true },
    bundler: { module: "ESNext", moduleResolution: "Bundler" }
  }
  for (const [name, resolution] of Object.entries(configs)) {
    write(dir, `tsconfig.${name}.json`, JSON.stringify({ compilerOptions: { ...userOptions, ...resolution }, files: ["user.ts"] }, null, 2))
  }
}, 600_000)

afterAll(() => {
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

describe("the packed package", () => {
  it("ships dist/ (JS, .d.ts, declaration and source maps), src/, README and LICENSE, and no tests, benches or scripts", () => {
    for (const f of ["package.json", "LICENSE", "README.md", "dist/index.js", "dist/index.d.ts", "dist/index.d.ts.map", "dist/index.js.map", "src/index.ts"]) {
      assert.include(files, f)
    }
    const stray = files.filter((f) => !/^(dist|src)\//.test(f) && !["package.json", "LICENSE", "README.md"].includes(f))
    assert.deepStrictEqual(stray, [], "files outside dist/, src/ and the three top-level ones")
    assert.deepStrictEqual(files.filter((f) => /\.test\.|(^|\/)(test|bench|scripts|examples|\.ci)\//.test(f)), [])
    // Every public module src/X.ts has its built form, which the "./*" export pattern exposes.
    for (const f of files.filter((f) => /^src\/[^/]+\.ts$/.test(f))) {
      const name = path.basename(f, ".ts")
      assert.include(files, `dist/${name}.js`)
      assert.include(files, `dist/${name}.d.ts`)
    }
  })

  it("runs from plain Node: submit → result → scope close on the embedded scheduler", async (ctx) => {
    if (skip !== undefined) return ctx.skip(skip)
    const r = await run(process.execPath, ["app.mjs"], dir, 60_000)
    assert.strictEqual(r.code, 0, show(r))
    assert.strictEqual(r.stdout.trim(), "result 33; keys held in the scope: 4; after it closed: 0 keys, 0 tasks", show(r))
  })

  it("keeps effect-dask/internal/* and the CLI module out of reach of import", async (ctx) => {
    if (skip !== undefined) return ctx.skip(skip)
    write(dir, "hidden.mjs", `for (const m of ["effect-dask/internal/client", "effect-dask/cli"]) {
  try { await import(m); console.log(m, "reachable") } catch (e) { console.log(m, e.code) }
}`)
    const r = await run(process.execPath, ["hidden.mjs"], dir, 60_000)
    assert.strictEqual(
      r.stdout.trim(),
      "effect-dask/internal/client ERR_PACKAGE_PATH_NOT_EXPORTED\neffect-dask/cli ERR_PACKAGE_PATH_NOT_EXPORTED",
      show(r)
    )
  })

  it("installs the effect-dask command (bin), which runs from the built package", async (ctx) => {
    if (skip !== undefined) return ctx.skip(skip)
    const r = await run(path.join(dir, "node_modules", ".bin", "effect-dask"), [], dir, 60_000)
    assert.strictEqual(r.code, 2, show(r))
    assert.include(r.stdout + r.stderr, "usage: effect-dask worker", show(r))
  })

  // The two checks run side by side: each reads all of effect's declarations (~190k lines).
  it.concurrent.for(["nodenext", "bundler"])("type-checks a user file with tsc --strict, %s resolution, skipLibCheck false", { timeout: 600_000 }, async (name, ctx) => {
    if (skip !== undefined) return ctx.skip(skip)
    const r = await run(process.execPath, [tsc, "-p", `tsconfig.${name}.json`], dir)
    assert.strictEqual(r.code, 0, show(r))
  })
})
