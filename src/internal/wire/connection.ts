/**
 * One Dask comm over TCP: framing in both directions, the symmetric handshake
 * (the listening side speaks first), and a typed end. Messages are handed to
 * `onMessage` synchronously as they are decoded; a malformed frame or message
 * closes the comm with a `ProtocolError`. Each message is decoded within its
 * own decode budget; one over budget is a `DecodeError` for `onDecodeError`
 * (the framing is intact, so the comm carries on). A watchdog closes the comm
 * with a `RequestTimeoutError` when a reply is awaited, or a message has
 * started arriving, and no byte came for `requestTimeout`.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { ConnectError, ConnectionLostError, DecodeError, ProtocolError, RequestTimeoutError } from "../../Errors.js"
import { DecodeBudget } from "./budget.js"
import { encodeFrames, FrameReader } from "./framing.js"
import { decodeMessageOr, encodeMessage } from "./message.js"
import { slabReads } from "./reads.js"

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

/** Why a comm ended. @internal */
export type ConnectionClosedError = ConnectionLostError | ProtocolError | RequestTimeoutError

/** Why a comm could not be opened or used. @internal */
export type CommError = ConnectError | ConnectionClosedError

/** @internal */
export interface Connection {
  readonly address: Address
  /** The peer's handshake message. */
  readonly peerHello: unknown
  /** Encodes and writes one message (a map, or an array of messages on a stream). */
  readonly write: (message: unknown) => Effect.Effect<void, ConnectionLostError>
  /** Completes (always with a failure) when the comm has ended, with why. */
  readonly closed: Deferred.Deferred<never, ConnectionClosedError>
  /**
   * Marks that a reply to `request` is awaited (the watchdog then times it
   * out), or, with `undefined`, that none is.
   */
  readonly expect: (request: string | undefined) => void
}

/** @internal */
export interface ConnectOptions {
  readonly maxMessageBytes: number
  /** Decode budget of each message (see budget.ts). */
  readonly maxDecodedBytes: number
  readonly connectTimeout: Duration.Duration
  /**
   * How long an awaited reply, or a message that started arriving, may go
   * without a byte before the comm is closed with a `RequestTimeoutError`.
   * A large message that keeps arriving is not stalled.
   */
  readonly requestTimeout: Duration.Duration
  /** What this comm carries, for timeout errors when no request is awaited (e.g. "the stream"). */
  readonly name: string
  /** Called for every message after the handshake, in order, synchronously. */
  readonly onMessage: (message: unknown) => void
  /**
   * Called for a message whose decoding exceeded its budget; the comm carries
   * on. Without it, such a message closes the comm with a `ProtocolError`.
   */
  readonly onDecodeError?: ((error: DecodeError) => void) | undefined
}

/** Appended to handshake failures that look like a TLS listener (it waits for a ClientHello and says nothing). */
const TLS_HINT = "; the scheduler may require tls://"

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
 * (messages reach `onMessage` inside the read callback, no fiber per chunk;
 * reads land in slabs, see reads.ts).
 *
 * @internal
 */
export const connect = (
  address: Address,
  options: ConnectOptions
): Effect.Effect<Connection, CommError, Scope.Scope> =>
  Effect.gen(function*() {
    const connected = yield* Deferred.make<void, ConnectError>()
    const closed = yield* Deferred.make<never, ConnectionClosedError>()
    const hello = yield* Deferred.make<unknown, ConnectionClosedError>()
    const reader = new FrameReader({ maxMessageBytes: options.maxMessageBytes })
    const maxDecodedBytes = options.maxDecodedBytes
    let isConnected = false
    let handshaken = false
    // Why the comm ended; set once, every later event is ignored.
    let ended: ConnectionClosedError | undefined
    // Watchdog state: `progress` moves on every chunk and every new expectation.
    let progress = 0
    let bytesIn = 0
    let expecting: string | undefined = undefined

    const end = (socket: Net.Socket, error: ConnectionClosedError) => {
      if (ended !== undefined) return
      ended = error
      if (!isConnected) {
        const cause = ("cause" in error ? error.cause : undefined) ?? error
        Deferred.unsafeDone(connected, Exit.fail(new ConnectError({ address: address.url, code: errorCode(cause), cause })))
      }
      Deferred.unsafeDone(hello, Exit.fail(error))
      Deferred.unsafeDone(closed, Exit.fail(error))
      socket.destroy()
    }

    const onData = (socket: Net.Socket, chunk: Uint8Array): void => {
      if (ended !== undefined) return
      progress++
      if (!handshaken) bytesIn += chunk.length
      const pushed = reader.push(chunk)
      if (Either.isLeft(pushed)) {
        if (!handshaken && looksLikeTls(chunk)) {
          return end(socket, new ProtocolError({ reason: "Handshake", message: `${address.url} answered with TLS${TLS_HINT}` }))
        }
        return end(socket, pushed.left)
      }
      const messages = pushed.right
      for (let i = 0; i < messages.length; i++) {
        const decoded = decodeMessageOr(messages[i]!, new DecodeBudget(maxDecodedBytes))
        if (decoded instanceof ProtocolError) return end(socket, decoded)
        if (decoded instanceof DecodeError) {
          if (handshaken && options.onDecodeError !== undefined) {
            options.onDecodeError(decoded)
            if (ended !== undefined) return
            continue
          }
          return end(socket, new ProtocolError({ reason: "MalformedMessage", message: decoded.message }))
        }
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
        const socket: Net.Socket = Net.createConnection({
          host: address.host,
          port: address.port,
          noDelay: true,
          onread: slabReads((chunk) => onData(socket, chunk))
        })
        socket.once("connect", () => {
          isConnected = true
          Deferred.unsafeDone(connected, Exit.void)
        })
        socket.on("error", (cause) => end(socket, new ConnectionLostError({ address: address.url, cause })))
        socket.on("end", () =>
          end(
            socket,
            new ConnectionLostError({
              address: address.url,
              cause: !handshaken && bytesIn === 0 ? `EOF before the handshake${TLS_HINT}` : "EOF"
            })
          ))
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
          new ConnectionLostError({
            address: address.url,
            // A TLS listener waits for our ClientHello and sends nothing.
            cause: `timed out waiting for the handshake${bytesIn === 0 ? TLS_HINT : ""}`
          })
      })
    )
    yield* write(CLIENT_HELLO)

    // The watchdog: ticks every half timeout; two ticks in a row without
    // progress while busy (a reply awaited, or a message partly read) end the
    // comm, so a deadline fires between 1× and 1.5× the timeout. One fiber per
    // comm; the data path only bumps a counter.
    const timeoutMillis = Duration.toMillis(options.requestTimeout)
    if (Number.isFinite(timeoutMillis) && timeoutMillis > 0) {
      yield* Effect.forkScoped(Effect.gen(function*() {
        let seen = progress
        let idle = 0
        while (ended === undefined) {
          yield* Effect.sleep(timeoutMillis / 2)
          const partial = reader.pendingBytes > 0
          if ((expecting !== undefined || partial) && progress === seen) idle++
          else idle = 0
          seen = progress
          if (idle >= 2) {
            end(
              socket,
              new RequestTimeoutError({
                address: address.url,
                request: expecting ?? options.name,
                reason: partial ? "StalledFrame" : "NoReply",
                timeoutMillis
              })
            )
          }
        }
      }))
    }

    const expect = (request: string | undefined): void => {
      expecting = request
      progress++
    }
    return { address, peerHello, write, closed, expect } satisfies Connection
  })

/** A TLS record header: content type 20–23 (handshake 22, alert 21), version 3.x. */
const looksLikeTls = (chunk: Uint8Array): boolean =>
  chunk.length >= 3 && chunk[0]! >= 20 && chunk[0]! <= 23 && chunk[1] === 3 && chunk[2]! <= 4

const hasField = (u: unknown, field: string): boolean =>
  u instanceof Map ? u.has(field) : typeof u === "object" && u !== null && field in u
