import * as Data from "effect/Data"

/** @internal */
export class DashboardError extends Data.TaggedError("DashboardError")<{
  readonly reason: "Listen" | "NotLoopback"
  readonly message: string
  readonly cause?: unknown
}> {}
