import { describe, it } from "vitest"
import { available, type DaskVersion, versions } from "./cluster.js"

/**
 * One describe block per Dask version (`%s` in the title is the version). A version this
 * machine cannot run shows as one skipped test saying why, so a missing Dask is seen in the
 * summary instead of passing silently.
 */
export const describeDask = (title: string, body: (version: DaskVersion) => void): void =>
  describe.each(versions)(title, (version) => {
    const a = available(version)
    if (!a.ok) {
      console.warn(`Dask ${version} tests skipped: ${a.reason}`)
      it.skip(`skipped: ${a.reason}`, () => {})
      return
    }
    body(version)
  })
