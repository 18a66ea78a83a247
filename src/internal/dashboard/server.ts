import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type * as Dashboard from "../../Dashboard.js"
import { DashboardError } from "./error.js"
import type { Frame, Point } from "./model.js"
import { pointOf, sample } from "./model.js"
import { page } from "./page.js"

const loopback = (host: string) => host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host)

/**
 * The dashboard: a sampler fiber (one memory snapshot of every open client per
 * tick) and a node:http server answering `/` (the page), `/api/state` (the
 * last frame and the plot history) and `/events` (Server-Sent Events, one per
 * tick). Plain callbacks serve requests: they only read the last frame.
 */
export const make = (
  options?: Dashboard.Options
): Effect.Effect<Dashboard.Dashboard["Type"], Dashboard.DashboardError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options?.host ?? "127.0.0.1"
    if (!loopback(host)) {
      return yield* new DashboardError({ reason: "NotLoopback", message: `refusing to serve on ${host}: the dashboard binds loopback addresses only` })
    }
    const interval = Duration.toMillis(Duration.decode(options?.interval ?? "1 second"))
    const keep = Math.max(10, options?.history ?? 600)
    const history: Array<Point> = []
    let frame: Frame | undefined
    const streams = new Set<http.ServerResponse>()

    const tick = Effect.map(sample({ maxKeys: options?.maxKeys }), (f) => {
      frame = f
      const point = pointOf(f)
      history.push(point)
      if (history.length > keep) history.splice(0, history.length - keep)
      const data = `data: ${JSON.stringify({ frame: f, point, keep, interval })}\n\n`
      for (const res of streams) {
        // A page that stopped reading (a suspended tab) must not make the buffer grow without bound.
        if (res.writableLength > 8 * 1024 * 1024) {
          streams.delete(res)
          res.destroy()
        } else {
          res.write(data)
        }
      }
    })
    yield* tick

    const server = http.createServer((req, res) => {
      const url = (req.url ?? "/").split("?")[0]
      if (req.method !== "GET") {
        res.writeHead(405).end()
      } else if (url === "/" || url === "/index.html") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(page(options?.title ?? "effect-dask memory"))
      } else if (url === "/api/state") {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
          .end(JSON.stringify({ frame, history, keep, interval }))
      } else if (url === "/events") {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" })
        res.write(`retry: ${interval}\n\n`)
        streams.add(res)
        req.on("close", () => streams.delete(res))
      } else {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found")
      }
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number, DashboardError>((resume) => {
        const onError = (cause: Error) => resume(Effect.fail(new DashboardError({ reason: "Listen", message: cause.message, cause })))
        server.once("error", onError)
        server.listen(options?.port ?? 8787, host, () => {
          server.off("error", onError)
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : options?.port ?? 0))
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const res of streams) res.end()
          streams.clear()
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(Duration.millis(interval))))
    const urlHost = host.includes(":") ? `[${host}]` : host
    return { url: `http://${urlHost}:${port}/`, host, port, refresh: tick }
  })
