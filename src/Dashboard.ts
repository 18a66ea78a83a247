/**
 * Live views of what the program holds in worker memory.
 *
 * - {@link layer}: a local web page (node:http on a loopback address only)
 *   with a plot of the bytes held per worker over time, the task-state
 *   counts, and the table of keys held with their call sites. It samples
 *   every open client of the process (`Memory.snapshot`) each `interval` and
 *   pushes the frames to the page with Server-Sent Events. Self-contained:
 *   no CDN, no external script.
 * - {@link terminal}: runs an effect while redrawing a table in the terminal
 *   (workers, states, largest keys, and a progress bar for the futures being
 *   waited on). {@link frames} gives the same frames as a `Stream`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Client, Dashboard } from "effect-dask"
 *
 * // a page at http://127.0.0.1:8787/ for the program's lifetime
 * program.pipe(Effect.provide(Dashboard.layer({ port: 8787 })))
 *
 * // a progress bar while gathering
 * Client.gather(futures).pipe(Dashboard.terminal({ futures, label: "gather" }))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Client } from "./Client.js"
import type { Future } from "./Future.js"
import * as internalError from "./internal/dashboard/error.js"
import * as server from "./internal/dashboard/server.js"
import * as terminal_ from "./internal/dashboard/terminal.js"

/**
 * The dashboard could not start: the port could not be bound (`Listen`), or
 * the host is not a loopback address (`NotLoopback`).
 *
 * @since 0.1.0
 * @category errors
 */
export const DashboardError: typeof internalError.DashboardError = internalError.DashboardError

/**
 * @since 0.1.0
 * @category errors
 */
export type DashboardError = internalError.DashboardError

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** TCP port; `0` picks a free one (read it from the service). Default 8787. */
  readonly port?: number | undefined
  /** A loopback address (`127.0.0.1`, `::1`, `localhost`); others are refused. Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Time between samples. Default 1 second. */
  readonly interval?: Duration.DurationInput | undefined
  /** Samples kept for the plot. Default 600. */
  readonly history?: number | undefined
  /** Rows of the key table (the largest keys). Default 500. */
  readonly maxKeys?: number | undefined
  /** The page title. */
  readonly title?: string | undefined
}

/**
 * A running dashboard.
 *
 * @since 0.1.0
 * @category tags
 */
export class Dashboard extends Context.Tag("effect-dask/Dashboard")<Dashboard, {
  /** The page's address, e.g. `http://127.0.0.1:8787/`. */
  readonly url: string
  readonly host: string
  /** The bound port (useful with `port: 0`). */
  readonly port: number
  /** Takes a sample now and pushes it to open pages, without waiting for the next tick. */
  readonly refresh: Effect.Effect<void>
}>() {}

/**
 * Starts the dashboard in the current scope; closing the scope stops it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Dashboard["Type"], DashboardError, Scope.Scope> => server.make(options)

/**
 * The dashboard as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Dashboard, DashboardError> => Layer.scoped(Dashboard, make(options))

/**
 * @since 0.1.0
 * @category models
 */
export interface TerminalOptions {
  /** The client to show; default the current one. */
  readonly client?: Client | undefined
  /** Futures whose completion the progress bar counts; default every key the client holds. */
  readonly futures?: ReadonlyArray<Future<any, any>> | undefined
  /** The progress bar's label. Default `progress`. */
  readonly label?: string | undefined
  /** Time between frames. Default 500 ms. */
  readonly interval?: Duration.DurationInput | undefined
  /** Rows of the key table. Default 10. */
  readonly maxKeys?: number | undefined
  /** Columns. Default 100. */
  readonly width?: number | undefined
  /** Where frames go; default stdout, redrawn in place on a TTY. */
  readonly output?: ((frame: string) => void) | undefined
}

/**
 * Runs `self` while rendering a frame every `interval` (and a last one when it
 * ends): header, progress bar, workers with memory bars, state counts and the
 * largest keys with their call sites.
 *
 * @since 0.1.0
 * @category terminal
 */
export const terminal: {
  (options?: TerminalOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: TerminalOptions): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: TerminalOptions): Effect.Effect<A, E, R> =>
    terminal_.terminal(self, options)
)

/**
 * The terminal frames as a stream, one every `interval`.
 *
 * @since 0.1.0
 * @category terminal
 */
export const frames = (options?: Omit<TerminalOptions, "output">): Stream.Stream<string> => terminal_.frames(options)
