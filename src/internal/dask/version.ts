/**
 * Which wire dialect to speak, chosen from the scheduler's `versions` reply
 * before `register-client` (sending the wrong `update-graph` form kills the
 * stream, so the choice must come first).
 */
import * as Either from "effect/Either"
import { ProtocolError, UnsupportedVersionError } from "../../Errors.js"

/** @internal */
export interface Dialect {
  /** `packages.distributed` as the scheduler reported it. */
  readonly version: string
  /** `update-graph` form: `tasks` + `dependencies` (≤ 2023.3) or a pickled HighLevelGraph (2024.11 – 2025.3). */
  readonly graph: "2022.12" | "2024.12"
  /** Cancel is the `cancel` RPC up to 2023.3.0, the `cancel-keys` stream op from 2023.3.1. */
  readonly cancel: "rpc" | "stream"
}

/** @internal */
export const SUPPORTED = "distributed 2022.1.0 – 2023.3.x and 2024.11.0 – 2025.3.x"

/** Parses CalVer `YYYY.M.P`, ignoring suffixes (`+ds.1`, `.dev3+g1234`, `rc1`). @internal */
export const parseVersion = (version: string): readonly [number, number, number] | undefined => {
  const match = /^\s*v?(\d{4})\.(\d{1,2})(?:\.(\d+))?/.exec(version)
  if (match === null) return undefined
  return [Number(match[1]), Number(match[2]), match[3] === undefined ? 0 : Number(match[3])]
}

const compare = (a: readonly [number, number, number], b: readonly [number, number, number]): number =>
  a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

/** Picks the dialect for a distributed version string. @internal */
export const dialectFor = (version: string): Either.Either<Dialect, UnsupportedVersionError> => {
  const v = parseVersion(version)
  if (v !== undefined) {
    if (compare(v, [2022, 1, 0]) >= 0 && compare(v, [2023, 4, 0]) < 0) {
      return Either.right({ version, graph: "2022.12", cancel: compare(v, [2023, 3, 1]) >= 0 ? "stream" : "rpc" })
    }
    if (compare(v, [2024, 11, 0]) >= 0 && compare(v, [2025, 4, 0]) < 0) {
      return Either.right({ version, graph: "2024.12", cancel: "stream" })
    }
  }
  return Either.left(new UnsupportedVersionError({ version, supported: SUPPORTED }))
}

const get = (u: unknown, field: string): unknown => {
  if (u instanceof Map) return u.get(field)
  if (typeof u === "object" && u !== null) return (u as Record<string, unknown>)[field]
  return undefined
}

/**
 * Reads `packages.distributed` from a `versions` RPC reply and picks the
 * dialect. A reply without it is a protocol error, not an unknown version.
 *
 * @internal
 */
export const chooseDialect = (
  reply: unknown
): Either.Either<Dialect, UnsupportedVersionError | ProtocolError> => {
  const version = get(get(reply, "packages"), "distributed")
  if (typeof version !== "string") {
    return Either.left(
      new ProtocolError({
        reason: "UnexpectedReply",
        message: "The scheduler's `versions` reply has no packages.distributed string"
      })
    )
  }
  return dialectFor(version)
}
