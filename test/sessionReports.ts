/**
 * Connects to a `Scheduler` at the protocol level with the reports offered to
 * a queue, for tests and benchmarks that drive a `Session` without a client.
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { SchedulerError } from "../src/Errors.js"
import type { SchedulerReport, Session } from "../src/Scheduler.js"
import { Scheduler } from "../src/Scheduler.js"

export type QueuedSession = Session & { readonly reports: Queue.Queue<SchedulerReport> }

export const connectQueued = (
  clientId: string,
  scheduler?: Scheduler["Type"]
): Effect.Effect<QueuedSession, SchedulerError, Scope.Scope | Scheduler> =>
  Effect.gen(function*() {
    const s = scheduler ?? (yield* Scheduler)
    const reports = yield* Queue.unbounded<SchedulerReport>()
    const session = yield* s.connect(clientId, (report) => {
      reports.unsafeOffer(report)
    })
    return { ...session, reports }
  })
