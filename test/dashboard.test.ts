/**
 * The live dashboard in a real headless Chromium (Debian's /usr/bin/chromium;
 * never a downloaded browser): the plot, the state counts and the key table
 * render, follow tasks as they finish, and empty when the scope holding the
 * futures closes. Screenshots go to test-output/ (gitignored).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import * as EmbeddedScheduler from "../src/EmbeddedScheduler.js"
import { Client, Dashboard, Future, Task } from "../src/index.js"

const chromiumPath = "/usr/bin/chromium"
const haveChromium = fs.existsSync(chromiumPath)
const thisFile = fileURLToPath(import.meta.url)
const outDir = path.join(path.dirname(thisFile), "..", "test-output")

const lineOf = (marker: string): number => {
  const lines = fs.readFileSync(thisFile, "utf8").split("\n")
  const hits = lines.flatMap((l, i) => (l.includes(marker) && !l.includes("lineOf(") ? [i + 1] : []))
  assert.strictEqual(hits.length, 1)
  return hits[0]!
}

const block = Task.make("block", (i: number) => new Float64Array(2000 * (i + 1)))

const get = (url: string) =>
  Effect.async<{ status: number; type: string; body: string }>((resume) => {
    http.get(url, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (body += c))
      res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body })))
    })
  })

const launch = Effect.acquireRelease(
  Effect.promise(() => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dask-chromium-"))
    // A fresh profile directory: Playwright takes it as launchPersistentContext's userDataDir.
    return chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    }).then((browser) => ({ browser, profile }))
  }),
  ({ browser, profile }) =>
    Effect.promise(async () => {
      await browser.close()
      fs.rmSync(profile, { recursive: true, force: true })
    })
)

describe("Dashboard", () => {
  it.scoped("refuses a non-loopback host", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Dashboard.make({ host: "0.0.0.0", port: 0 }))
      assert.strictEqual(error.reason, "NotLoopback")
    }))

  it.live("serves the page, the state and the event stream", () =>
    Effect.gen(function*() {
      const dash = yield* Dashboard.Dashboard
      assert.match(dash.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
      const page = yield* get(dash.url)
      assert.strictEqual(page.status, 200)
      assert.include(page.type, "text/html")
      // self-contained: nothing loaded from elsewhere (the only URL is the SVG namespace)
      assert.notMatch(page.body, /(src|href)\s*=\s*["']?(https?:)?\/\//i)
      assert.notMatch(page.body, /<link|@import|url\(/i)
      const client = yield* Client.make()
      const f = yield* Client.withClient(Client.submit(block, 0), client)
      yield* Future.wait(f)
      yield* dash.refresh
      const state = JSON.parse((yield* get(`${dash.url}api/state`)).body)
      const row = state.frame.keys.find((k: any) => k.key === f.key)
      assert.strictEqual(row.client, client.id)
      assert.strictEqual(row.status, "finished")
      assert.strictEqual(row.nbytes, (yield* Client.withClient(Client.nbytes([f]), client))[f.key])
      assert.isAtLeast(state.history.length, 2)
      assert.strictEqual((yield* get(`${dash.url}nope`)).status, 404)
    }).pipe(
      Effect.scoped,
      Effect.provide(Dashboard.layer({ port: 0, interval: "1 hour" })),
      Effect.provide(EmbeddedScheduler.layer({ workers: 1 }))
    ))

  it.live("terminal frames show workers, keys and a progress bar", () =>
    Effect.gen(function*() {
      const client = yield* Client.make()
      const out: Array<string> = []
      const fs_ = yield* Client.withClient(client)(Effect.gen(function*() {
        const fs_ = yield* Client.map(block, [0, 1, 2])
        yield* Client.gather(fs_).pipe(Dashboard.terminal({ futures: fs_, label: "gather", interval: "5 millis", output: (s) => out.push(s) }))
        return fs_
      }))
      const last = out[out.length - 1]!
      assert.include(last, "gather [██████████████████████████████] 3/3 100%")
      for (const f of fs_) assert.include(last, f.key.slice(0, 20))
      assert.include(last, "states: finished 3")
      const [first] = yield* Stream.runCollect(Stream.take(Dashboard.frames({ client, maxKeys: 0 }), 1))
      assert.include(first!, "3 keys")
    }).pipe(Effect.scoped, Effect.provide(EmbeddedScheduler.layer({ workers: 2 }))))

  if (!haveChromium) {
    it.skip(`browser test skipped: ${chromiumPath} is missing (apt-get install chromium)`, () => {})
    return
  }

  it.live("renders in Chromium and updates live as tasks run and a scope closes", () =>
    Effect.gen(function*() {
      const dash = yield* Dashboard.Dashboard
      const client = yield* Client.make({ trackCallSites: true })
      const { browser } = yield* launch
      const page = yield* Effect.promise(() => browser.newPage())
      const wait = (fn: string, arg?: unknown) => Effect.promise(() => page.waitForFunction(fn, arg, { timeout: 15_000 }))
      const rows = () => Effect.promise(() => page.locator("#keys tbody tr.key-row").count())
      yield* Effect.promise(() => page.goto(dash.url))
      yield* wait(`document.querySelector("#keys tbody td.empty") !== null`)
      yield* wait(`document.querySelectorAll("#plot path.series").length === 2`)

      const work = yield* Scope.make()
      const xs = yield* Client.withClient(client)(Effect.gen(function*() {
        const xs = yield* Client.map(block, [0, 1, 2, 3, 4, 5])
        yield* Future.retain(xs[5]!) // DASH-SITE
        return xs
      })).pipe(Scope.extend(work))
      yield* Client.wait(xs)
      const bytes = yield* Client.withClient(Client.nbytes(xs), client)
      const total = Object.values(bytes).reduce((a, b) => a + b, 0)

      yield* wait(`document.querySelectorAll("#keys tbody tr.key-row").length === 6`)
      yield* wait(`document.querySelector('[data-state="finished"]')?.dataset.count === "6"`)
      // the plot's last points add up to what the workers hold
      yield* wait(
        `[...document.querySelectorAll("#plot path.series")].reduce((n, p) => n + Number(p.dataset.last || 0), 0) === ${total}`
      )
      const sites = yield* Effect.promise(() => page.locator("#keys td.site").allTextContents())
      assert.isTrue(sites.some((s) => s.includes(`test/dashboard.test.ts:${lineOf("DASH-SITE")}:`)), sites.join("\n"))
      const paths = yield* Effect.promise(() => page.locator("#plot path.series").evaluateAll((ps) => ps.map((p) => p.getAttribute("d") ?? "")))
      for (const d of paths) assert.isAbove(d.split("L").length, 3, d)
      fs.mkdirSync(outDir, { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: path.join(outDir, "dashboard.png"), fullPage: true }))

      yield* Scope.close(work, Exit.void)
      yield* wait(`document.querySelector("#keys tbody td.empty") !== null`)
      yield* wait(`[...document.querySelectorAll("#plot path.series")].every((p) => p.dataset.last === "0")`)
      assert.strictEqual(yield* rows(), 0)
      yield* Effect.promise(() => page.screenshot({ path: path.join(outDir, "dashboard-released.png"), fullPage: true }))
    }).pipe(
      Effect.scoped,
      Effect.provide(Dashboard.layer({ port: 0, interval: "100 millis" })),
      Effect.provide(EmbeddedScheduler.layer({ workers: 2 }))
    ), 60_000)
})
