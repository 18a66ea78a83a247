/**
 * A binary min-heap ordered by Dask priority tuples (lowest first), ties in
 * arrival order: the `ready` queue of a worker.
 *
 * @internal
 */

/** @internal */
export interface Prioritised {
  readonly priority: ReadonlyArray<number>
  readonly seq: number
}

const less = (a: Prioritised, b: Prioritised): boolean => {
  const pa = a.priority
  const pb = b.priority
  const n = Math.min(pa.length, pb.length)
  for (let i = 0; i < n; i++) {
    if (pa[i]! !== pb[i]!) return pa[i]! < pb[i]!
  }
  if (pa.length !== pb.length) return pa.length < pb.length
  return a.seq < b.seq
}

/** @internal */
export class Heap<A extends Prioritised> {
  private readonly items: Array<A> = []

  get size(): number {
    return this.items.length
  }

  push(item: A): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(items[i]!, items[parent]!)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }

  pop(): A | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]!
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && less(items[l]!, items[m]!)) m = l
        if (r < items.length && less(items[r]!, items[m]!)) m = r
        if (m === i) break
        ;[items[i], items[m]] = [items[m]!, items[i]!]
        i = m
      }
    }
    return top
  }

  clear(): void {
    this.items.length = 0
  }
}
