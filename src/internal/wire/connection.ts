/**
 * One Dask comm over TCP: framing in both directions, the symmetric handshake
 * (the listening side speaks first), and a typed end. Messages are handed to
 * `onMessage` synchronously as they are decoded; a malformed frame or message
 * closes the comm with a `ProtocolError`.
 */
import * as Socket from "@effect/platform/Socket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { ConnectionLostError, ProtocolError } from "../../Errors.js"
import { encodeFrames, FrameReader } from "./framing.js"
import { decodeMessage, encodeMessage } from "./message.js"

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

/**
 * Opens a comm and completes the handshake. The comm lives as long as the
 * scope; it closes earlier on EOF, a socket error or a protocol error, which
 * `closed` then reports.
 *
 * @internal
 */
export const connect = (
  address: Address,
  options: ConnectOptions
): Effect.Effect<Connection, ConnectionLostError | ProtocolError, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* NodeSocket.makeNet({
      host: address.host,
      port: address.port,
      noDelay: true,
      openTimeout: options.connectTimeout
    })
    const closed = yield* Deferred.make<never, ConnectionLostError | ProtocolError>()
    const hello = yield* Deferred.make<unknown, ConnectionLostError | ProtocolError>()
    const reader = new FrameReader({ maxMessageBytes: options.maxMessageBytes })
    let handshaken = false
    let failed = false

    const fail = (error: ProtocolError) => {
      failed = true
      Deferred.unsafeDone(hello, Exit.fail(error))
      return Effect.fail(error)
    }

    // Synchronous on the hot path: only a protocol error returns an Effect,
    // whose failure ends `run` and so closes the socket.
    const onData = (chunk: Uint8Array): Effect.Effect<never, ProtocolError> | void => {
      if (failed) return
      const pushed = reader.push(chunk)
      if (Either.isLeft(pushed)) return fail(pushed.left)
      const messages = pushed.right
      for (let i = 0; i < messages.length; i++) {
        const decoded = decodeMessage(messages[i]!)
        if (Either.isLeft(decoded)) return fail(decoded.left)
        if (handshaken) {
          options.onMessage(decoded.right)
        } else {
          const value = decoded.right
          if (getField(value, "pickle-protocol") === undefined || !hasField(value, "compression")) {
            return fail(
              new ProtocolError({
                reason: "Handshake",
                message: `${address.url} did not start with a Dask handshake`
              })
            )
          }
          handshaken = true
          Deferred.unsafeDone(hello, Exit.succeed(value))
        }
      }
    }

    yield* socket.run(onData).pipe(
      Effect.matchCause({
        onFailure: (cause) => {
          const error = cause._tag === "Fail" ? cause.error : undefined
          return error instanceof ProtocolError
            ? error
            : new ConnectionLostError({ address: address.url, cause: error ?? cause })
        },
        onSuccess: () => new ConnectionLostError({ address: address.url, cause: "EOF" })
      }),
      Effect.flatMap((error) =>
        Effect.sync(() => {
          Deferred.unsafeDone(hello, Exit.fail(error))
          Deferred.unsafeDone(closed, Exit.fail(error))
        })
      ),
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          const error = new ConnectionLostError({ address: address.url, cause: "closed" })
          Deferred.unsafeDone(hello, Exit.fail(error))
          Deferred.unsafeDone(closed, Exit.fail(error))
        })
      ),
      Effect.forkScoped
    )

    const rawWrite = yield* socket.writer
    const write = (message: unknown): Effect.Effect<void, ConnectionLostError> =>
      Effect.suspend(() => rawWrite(encodeFrames(encodeMessage(message)))).pipe(
        Effect.mapError((cause) => new ConnectionLostError({ address: address.url, cause }))
      )

    const peerHello = yield* Deferred.await(hello).pipe(
      Effect.timeoutFail({
        duration: options.connectTimeout,
        onTimeout: () =>
          new ConnectionLostError({ address: address.url, cause: "timed out waiting for the handshake" })
      })
    )
    yield* write(CLIENT_HELLO)
    return { address, peerHello, write, closed } satisfies Connection
  }).pipe(
    Effect.catchIf(Socket.isSocketError, (cause) => Effect.fail(new ConnectionLostError({ address: address.url, cause })))
  )

const hasField = (u: unknown, field: string): boolean =>
  u instanceof Map ? u.has(field) : typeof u === "object" && u !== null && field in u
