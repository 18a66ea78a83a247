/**
 * A TCP proxy on 127.0.0.1 for Dask tests: every connection through it can be
 * dropped at once (a lost stream and pool, the scheduler untouched).
 */
import * as net from "node:net"

export /** A TCP proxy on 127.0.0.1 to `target` whose connections can all be dropped at once. */
const tcpProxy = async (target: string) => {
  const [, host, port] = /^tcp:\/\/(.+):(\d+)$/.exec(target)!
  const pairs = new Set<readonly [net.Socket, net.Socket]>()
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(port), host!)
    const pair = [inbound, outbound] as const
    pairs.add(pair)
    for (const s of pair) {
      s.on("error", () => {})
      s.on("close", () => {
        pairs.delete(pair)
        inbound.destroy()
        outbound.destroy()
      })
    }
    inbound.pipe(outbound)
    outbound.pipe(inbound)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const dropAll = () => {
    for (const [a, b] of pairs) {
      a.destroy()
      b.destroy()
    }
  }
  return {
    address: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    dropAll,
    close: () =>
      new Promise<void>((resolve) => {
        dropAll()
        server.close(() => resolve())
      })
  }
}

