/**
 * Typed errors. Errors that describe remote state (a task failed, a key was
 * cancelled or lost) are `Schema.TaggedError`s holding text only, so they can
 * cross a wire and retain no remote memory. Local faults (no client, a broken
 * connection, a malformed frame) are `Data.TaggedError`s.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/** Bounds on the text a remote error may carry. */
const MAX_MESSAGE = 4_096
const MAX_TRACEBACK = 16_384

/**
 * Cuts `text` to at most `max` characters, marking the cut.
 *
 * @since 0.1.0
 * @category constructors
 */
export const truncate = (text: string, max: number): string =>
  text.length <= max ? text : text.slice(0, max) + `… [${text.length - max} more characters]`

/**
 * A task failed on a worker. Carries the remote exception's type name, message
 * and traceback as bounded text: never a live frame or a buffer.
 *
 * @since 0.1.0
 * @category errors
 */
export class RemoteError extends Schema.TaggedError<RemoteError>("effect-dask/RemoteError")("RemoteError", {
  key: Schema.String,
  type: Schema.String,
  message: Schema.String,
  traceback: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  static is(u: unknown): u is RemoteError {
    return Predicate.isTagged(u, "RemoteError")
  }

  /**
   * Builds a `RemoteError`, truncating message and traceback to their bounds.
   *
   * @since 0.1.0
   */
  static fromText(key: string, type: string, message: string, traceback = ""): RemoteError {
    return new RemoteError({
      key,
      type: truncate(type, 256),
      message: truncate(message, MAX_MESSAGE),
      traceback: truncate(traceback, MAX_TRACEBACK)
    })
  }

  /**
   * Converts anything a JS task threw or failed with into text.
   *
   * @since 0.1.0
   */
  static fromUnknown(key: string, cause: unknown): RemoteError {
    if (cause instanceof Error) {
      return RemoteError.fromText(key, cause.name, cause.message, cause.stack ?? "")
    }
    if (Predicate.hasProperty(cause, "_tag") && typeof cause._tag === "string") {
      const message = Predicate.hasProperty(cause, "message") && typeof cause.message === "string"
        ? cause.message
        : safeString(cause)
      return RemoteError.fromText(key, cause._tag, message)
    }
    return RemoteError.fromText(key, typeof cause, safeString(cause))
  }
}

const safeString = (u: unknown): string => {
  try {
    return typeof u === "string" ? u : JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}

/**
 * The key was cancelled (by `cancel`, by its client closing, by a restart, or
 * because a dependency is unknown to the scheduler).
 *
 * @since 0.1.0
 * @category errors
 */
export class CancelledError extends Schema.TaggedError<CancelledError>("effect-dask/CancelledError")(
  "CancelledError",
  { key: Schema.String, reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  static is(u: unknown): u is CancelledError {
    return Predicate.isTagged(u, "CancelledError")
  }

  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `key ${this.key} was cancelled: ${this.reason}`
  }
}

/**
 * The key's data was lost (its worker died, or it is no longer on any worker)
 * and cannot be fetched.
 *
 * @since 0.1.0
 * @category errors
 */
export class LostDataError extends Schema.TaggedError<LostDataError>("effect-dask/LostDataError")(
  "LostDataError",
  {
    key: Schema.String,
    /**
     * Why (since 0.2.0): "worker lost", "scheduler restarted", "released by
     * the scheduler when the connection was lost", "unknown to the
     * scheduler", or the default "not on any worker".
     */
    reason: Schema.String.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => "not on any worker"))
  }
) {
  /**
   * @since 0.1.0
   */
  static is(u: unknown): u is LostDataError {
    return Predicate.isTagged(u, "LostDataError")
  }

  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `key ${this.key} was lost: ${this.reason}`
  }
}

/**
 * A remote value could not be decoded safely (unknown serializer, pickle
 * opcode outside the whitelist, a result that fails its Schema, ...).
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>("effect-dask/DecodeError")("DecodeError", {
  serializer: Schema.String,
  message: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  static is(u: unknown): u is DecodeError {
    return Predicate.isTagged(u, "DecodeError")
  }
}

/**
 * No client is current for this fiber, and none is open.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoClientError extends Data.TaggedError("NoClientError")<{}> {
  override get message() {
    return "No client: provide one with Client.layer / Client.withClient, or open one with Client.make"
  }
}

/**
 * The client was closed before the operation finished.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientClosedError extends Data.TaggedError("ClientClosedError")<{ readonly clientId: string }> {}

/**
 * The connection to the scheduler was lost. Pending futures fail with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionLostError extends Data.TaggedError("ConnectionLostError")<{
  readonly address: string
  readonly cause?: unknown
}> {
  override get message() {
    return `Connection to the scheduler at ${this.address} was lost`
  }
}

/**
 * No connection to the scheduler could be opened: nothing listens there
 * (`ECONNREFUSED`), the host is unknown or unreachable, or the connect timed
 * out. `code` is the system error code when there is one.
 *
 * @since 0.2.0
 * @category errors
 */
export class ConnectError extends Data.TaggedError("ConnectError")<{
  readonly address: string
  readonly code?: string | undefined
  readonly cause?: unknown
}> {
  override get message() {
    const why = this.code ?? (this.cause instanceof Error ? this.cause.message : String(this.cause ?? "unknown reason"))
    return `could not connect to ${this.address} (${why})`
  }
}

/**
 * The peer sent something that does not follow the protocol. The connection
 * that carried it is closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly reason: "FrameTooLarge" | "MalformedFrame" | "MalformedMessage" | "Handshake" | "UnexpectedReply"
  readonly message: string
}> {}

/**
 * A request to the scheduler (or a worker) got no reply within the request
 * timeout, or a message that had started arriving stopped arriving for that
 * long (a stalled frame). The connection that carried it is closed.
 *
 * @since 0.2.0
 * @category errors
 */
export class RequestTimeoutError extends Data.TaggedError("RequestTimeoutError")<{
  readonly address: string
  /** What was waited for: the request's op (`"gather"`, `"versions"`, …) or the stream. */
  readonly request: string
  readonly reason: "NoReply" | "StalledFrame"
  readonly timeoutMillis: number
}> {
  override get message() {
    return this.reason === "NoReply"
      ? `no reply to ${this.request} from ${this.address} within ${this.timeoutMillis} ms`
      : `a message from ${this.address} (while waiting for ${this.request}) stopped arriving for ${this.timeoutMillis} ms`
  }
}

/**
 * The backend cannot run this task (e.g. a JS-only task on a Python cluster).
 * Raised before anything is sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedTaskError extends Data.TaggedError("UnsupportedTaskError")<{
  readonly task: string
  readonly backend: string
  readonly message: string
}> {}

/**
/**
 * A task module (see `TaskModule`) could not be loaded: it failed to import, or two different
 * tasks in the listed modules have the same name.
 *
 * @since 0.2.0
 * @category errors
 */
export class TaskModuleError extends Data.TaggedError("TaskModuleError")<{
  readonly reason: "Import" | "DuplicateName"
  /** The module (resolved `href`) at fault. */
  readonly module: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A per-call option is malformed (a negative retry count, an empty worker
 * list, a key list of the wrong length, ...). Raised before anything is sent.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidOptionsError extends Data.TaggedError("InvalidOptionsError")<{
  readonly option: string
  readonly message: string
}> {}

/**
 * The scheduler's version cannot be driven correctly by this client.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedVersionError extends Data.TaggedError("UnsupportedVersionError")<{
  readonly version: string
  readonly supported: string
}> {
  override get message() {
    return `Dask distributed ${this.version} is not supported; supported: ${this.supported}`
  }
}

/**
 * Any failure of a request to the scheduler.
 *
 * @since 0.1.0
 * @category errors
 */
export type SchedulerError =
  | ConnectError
  | ConnectionLostError
  | ProtocolError
  | DecodeError
  | LostDataError
  | UnsupportedVersionError
  /** A request the scheduler failed on its side (an exception in its handler, e.g. "No valid workers found"). */
  | RemoteError
  | RequestTimeoutError

/**
 * Why a future's result is not available.
 *
 * @since 0.1.0
 * @category errors
 */
export type FutureError = RemoteError | CancelledError | LostDataError | ClientClosedError | SchedulerError

/**
 * A Node Dask worker could not start: its task modules failed to load, it
 * could not listen, or the scheduler did not accept it.
 *
 * @since 0.2.0
 * @category errors
 */
export class DaskWorkerError extends Data.TaggedError("DaskWorkerError")<{
  readonly reason: "Options" | "Listen" | "Register"
  readonly message: string
  readonly cause?: unknown
}> {}
