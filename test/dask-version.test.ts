import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { ProtocolError, UnsupportedVersionError } from "../src/Errors.js"
import { parseAddress } from "../src/internal/wire/connection.js"
import { chooseDialect, parseVersion } from "../src/internal/dask/version.js"

/** A `versions` RPC reply as the scheduler sends it (only `packages.distributed` matters). */
const reply = (distributed: unknown) => ({
  host: { python: "3.11.2.final.0", OS: "Linux" },
  packages: { python: "3.11.2.final.0", dask: "x", distributed, msgpack: "1.0.3" }
})

describe("Dask version choice", () => {
  it("parses CalVer with Debian and dev suffixes", () => {
    assert.deepStrictEqual(parseVersion("2022.12.1+ds.1"), [2022, 12, 1])
    assert.deepStrictEqual(parseVersion("2024.12.1+dfsg"), [2024, 12, 1])
    assert.deepStrictEqual(parseVersion("2024.11.0.dev12+g1a2b3c"), [2024, 11, 0])
    assert.deepStrictEqual(parseVersion("2023.3"), [2023, 3, 0])
    assert.strictEqual(parseVersion("1.2.3"), undefined)
    assert.strictEqual(parseVersion("garbage"), undefined)
  })

  it.each([
    ["2022.1.0", "2022.12", "rpc"],
    ["2022.12.1+ds.1", "2022.12", "rpc"],
    ["2023.1.1", "2022.12", "rpc"],
    ["2023.3.0", "2022.12", "rpc"],
    ["2023.3.1", "2022.12", "stream"],
    ["2023.3.2", "2022.12", "stream"],
    ["2024.11.0", "2024.12", "stream"],
    ["2024.12.1", "2024.12", "stream"],
    ["2025.3.0", "2024.12", "stream"]
  ] as const)("%s → %s encoding, cancel by %s", (version, graph, cancel) => {
    const dialect = chooseDialect(reply(version))
    assert.isTrue(Either.isRight(dialect))
    if (Either.isRight(dialect)) {
      assert.strictEqual(dialect.right.graph, graph)
      assert.strictEqual(dialect.right.cancel, cancel)
      assert.strictEqual(dialect.right.version, version)
    }
  })

  it.each(["2021.12.0", "2023.4.0", "2023.9.1", "2024.10.0", "2025.4.0", "2026.7.1", "main"])(
    "%s is refused, naming the version and the supported ranges",
    (version) => {
      const dialect = chooseDialect(reply(version))
      assert.isTrue(Either.isLeft(dialect))
      if (Either.isLeft(dialect)) {
        const error = dialect.left
        assert.instanceOf(error, UnsupportedVersionError)
        assert.include(error.message, version)
        assert.include(error.message, "2022.1.0 – 2023.3.x")
        assert.include(error.message, "2024.11.0 – 2025.3.x")
      }
    }
  )

  it("a reply without packages.distributed is a protocol error", () => {
    for (const bad of [null, "OK", {}, { packages: {} }, { packages: { distributed: 2022 } }]) {
      const dialect = chooseDialect(bad)
      assert.isTrue(Either.isLeft(dialect) && dialect.left instanceof ProtocolError)
    }
  })

  it("reads a Map-decoded reply too", () => {
    const dialect = chooseDialect(new Map([["packages", new Map([["distributed", "2024.12.1"]])]]))
    assert.isTrue(Either.isRight(dialect) && dialect.right.graph === "2024.12")
  })
})

describe("Dask scheduler address", () => {
  it("parses tcp:// and bare host:port, IPv6 in brackets", () => {
    assert.deepStrictEqual(parseAddress("tcp://127.0.0.1:8786"), Either.right({ host: "127.0.0.1", port: 8786, url: "tcp://127.0.0.1:8786" }))
    assert.deepStrictEqual(parseAddress("localhost:1"), Either.right({ host: "localhost", port: 1, url: "tcp://localhost:1" }))
    assert.deepStrictEqual(parseAddress("tcp://[::1]:8786"), Either.right({ host: "::1", port: 8786, url: "tcp://[::1]:8786" }))
  })

  it.each(["", "tcp://", "tcp://host", "tls://h:1", "inproc://x", "tcp://h:0", "tcp://h:70000", "h:port"])(
    "refuses %j",
    (address) => {
      assert.isTrue(Either.isLeft(parseAddress(address)))
    }
  )
})
