/**
 * One Dask comm over TCP: framing in both directions, the symmetric handshake
 * (the listening side speaks first), and a typed end. Messages are handed to
 * `onMessage` synchronously as they are decoded; a malformed frame or message
 * closes the comm with a `ProtocolError`.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { ConnectError, ConnectionLostError, ProtocolError } from "../../Errors.js"
import { encodeFrames, FrameReader } from "./framing.js"
import { decodeMessageOr, encodeMessage } from "./message.js"

/** A parsed `tcp://host:port`. @internal */
export interface Address {
  readonly host: string
  readonly port: number
  /** Canonical `tcp://host:port`, used in errors. */
  readonly url: string
}

/** Parses `tcp://host:port` (or bare `host:port`); anything else is a message. @internal */
export const parseAddress = (address: string): Either.Either<Address, string> => {
  const trimmed = address.trim()
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)
  if (scheme !== null && scheme[1]!.toLowerCase() !== "tcp") {
    return Either.left(`unsupported scheme "${scheme[1]}" in "${address}": only tcp:// is supported`)
  }
  const rest = scheme === null ? trimmed : trimmed.slice(scheme[0].length)
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/\s[\]]+)):(\d{1,5})\/?$/.exec(rest)
  if (match === null) return Either.left(`invalid Dask scheduler address "${address}": expected tcp://host:port`)
  const port = Number(match[3])
  if (port < 1 || port > 65535) return Either.left(`invalid port ${port} in "${address}"`)
  const host = match[1] ?? match[2]!
  return Either.right({ host, port, url: `tcp://${match[1] !== undefined ? `[${host}]` : host}:${port}` })
}

/** What we tell the peer: no compression, pickle protocol 5 (our reader knows it). @internal */
export const CLIENT_HELLO = { compression: null, python: [3, 11, 2], "pickle-protocol": 5 } as const

/** Why a comm could not be opened or used. @internal */
export type CommError = ConnectError | ConnectionLostError | ProtocolError

/** @internal */
export interface Connection {
  readonly address: Address
  /** The peer's handshake message. */
  readonly peerHello: unknown
  /** Encodes and writes one message (a map, or an array of messages on a stream). */
  readonly write: (message: unknown) => Effect.Effect<void, ConnectionLostError>
  /** Completes (always with a failure) when the comm has ended, with why. */
  readonly closed: Deferred.Deferred<never, ConnectionLostError | ProtocolError>
}

/** @internal */
export interface ConnectOptions {
  readonly maxMessageBytes: number
  readonly connectTimeout: Duration.Duration
  /** Called for every message after the handshake, in order, synchronously. */
  readonly onMessage: (message: unknown) => void
}

const getField = (u: unknown, field: string): unknown => {
  if (u instanceof Map) return u.get(field)
  if (typeof u === "object" && u !== null) return (u as Record<string, unknown>)[field]
  return undefined
}

/** The system error code of a failed connect (Node wraps happy-eyeballs failures in an AggregateError). */
const errorCode = (cause: unknown): string | undefined => {
  const code = (cause as { readonly code?: unknown } | null)?.code
  if (typeof code === "string") return code
  const errors = (cause as { readonly errors?: unknown } | null)?.errors
  return Array.isArray(errors) ? errorCode(errors[0]) : undefined
}

/**
 * Opens a comm and completes the handshake. The comm lives as long as the
 * scope; it closes earlier on EOF, a socket error or a protocol error, which
 * `closed` then reports. A socket that cannot be opened is a `ConnectError`.
 *
 * Straight on `node:net`: every socket event is handled synchronously here
 * (messages reach `onMessage` inside the `data` event, no fiber per chunk).
 *
 * @internal
 */
export const connect = (
  address: Address,
  options: ConnectOptions
): Effect.Effect<Connection, CommError, Scope.Scope> =>
  Effect.gen(function*() {
    const connected = yield* Deferred.make<void, ConnectError>()
    const closed = yield* Deferred.make<never, ConnectionLostError | ProtocolError>()
    const hello = yield* Deferred.make<unknown, ConnectionLostError | ProtocolError>()
    const reader = new FrameReader({ maxMessageBytes: options.maxMessageBytes })
    let isConnected = false
    let handshaken = false
    // Why the comm ended; set once, every later event is ignored.
    let ended: ConnectionLostError | ProtocolError | undefined

    const end = (socket: Net.Socket, error: ConnectionLostError | ProtocolError) => {
      if (ended !== undefined) return
      ended = error
      if (!isConnected) {
        const cause = error.cause ?? error
        Deferred.unsafeDone(connected, Exit.fail(new ConnectError({ address: address.url, code: errorCode(cause), cause })))
      }
      Deferred.unsafeDone(hello, Exit.fail(error))
      Deferred.unsafeDone(closed, Exit.fail(error))
      socket.destroy()
    }

    const onData = (socket: Net.Socket, chunk: Uint8Array): void => {
      if (ended !== undefined) return
      const pushed = reader.push(chunk)
      if (Either.isLeft(pushed)) return end(socket, pushed.left)
      const messages = pushed.right
      for (let i = 0; i < messages.length; i++) {
        const decoded = decodeMessageOr(messages[i]!)
        if (decoded instanceof ProtocolError) return end(socket, decoded)
        if (handshaken) {
          options.onMessage(decoded)
          if (ended !== undefined) return
        } else {
          const value = decoded
          if (getField(value, "pickle-protocol") === undefined || !hasField(value, "compression")) {
            return end(
              socket,
              new ProtocolError({ reason: "Handshake", message: `${address.url} did not start with a Dask handshake` })
            )
          }
          handshaken = true
          Deferred.unsafeDone(hello, Exit.succeed(value))
        }
      }
    }

    // Every listener is attached before the event loop runs again: no event is missed, no error is unhandled.
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const socket = Net.createConnection({ host: address.host, port: address.port, noDelay: true })
        socket.once("connect", () => {
          isConnected = true
          Deferred.unsafeDone(connected, Exit.void)
        })
        socket.on("data", (chunk: Uint8Array) => onData(socket, chunk))
        socket.on("error", (cause) => end(socket, new ConnectionLostError({ address: address.url, cause })))
        socket.on("end", () => end(socket, new ConnectionLostError({ address: address.url, cause: "EOF" })))
        socket.on("close", () => end(socket, new ConnectionLostError({ address: address.url, cause: "closed" })))
        return socket
      }),
      (socket) =>
        Effect.sync(() => {
          if (ended === undefined) {
            ended = new ConnectionLostError({ address: address.url, cause: "closed" })
            Deferred.unsafeDone(hello, Exit.fail(ended))
            Deferred.unsafeDone(closed, Exit.fail(ended))
          }
          // Lets queued writes (close-stream) reach the peer, then closes; a connect still under way just stops.
          if (!isConnected) socket.destroy()
          else if (!socket.destroyed) socket.destroySoon()
        })
    )

    yield* Deferred.await(connected).pipe(
      Effect.timeoutFail({
        duration: options.connectTimeout,
        onTimeout: () =>
          new ConnectError({ address: address.url, cause: `timed out after ${Duration.format(options.connectTimeout)}` })
      })
    )

    const write = (message: unknown): Effect.Effect<void, ConnectionLostError> =>
      Effect.suspend(() => {
        if (ended !== undefined) {
          return Effect.fail(
            ended instanceof ConnectionLostError ? ended : new ConnectionLostError({ address: address.url, cause: ended })
          )
        }
        const bytes = encodeFrames(encodeMessage(message))
        return Effect.async<void, ConnectionLostError>((resume) => {
          socket.write(bytes, (cause) => {
            resume(cause ? Effect.fail(new ConnectionLostError({ address: address.url, cause })) : Effect.void)
          })
        })
      })

    const peerHello = yield* Deferred.await(hello).pipe(
      Effect.timeoutFail({
        duration: options.connectTimeout,
        onTimeout: () =>
          new ConnectionLostError({ address: address.url, cause: "timed out waiting for the handshake" })
      })
    )
    yield* write(CLIENT_HELLO)
    return { address, peerHello, write, closed } satisfies Connection
  })

const hasField = (u: unknown, field: string): boolean =>
  u instanceof Map ? u.has(field) : typeof u === "object" && u !== null && field in u
