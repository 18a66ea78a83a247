/**
 * A decode budget: how many bytes decoding one message may allocate, in
 * total, across every codec (lz4 output, msgpack containers and strings,
 * pickle containers, numpy expansion). Each codec charges an estimate of
 * what it is about to build *before* building it, so a small message that
 * would expand into gigabytes fails with a typed `DecodeError` naming the
 * codec and the budget instead of exhausting the heap.
 *
 * One budget per message (or per reply whose values are decoded together);
 * pass the same object to every decode call of that message. The worker side
 * uses it the same way.
 *
 * @internal
 */
import * as v8 from "node:v8"
import { DecodeError } from "../../Errors.js"

/** Estimated bytes of one JS object or array header (V8: map, properties, elements, length). */
export const OBJECT_COST = 64
/** Estimated bytes of one slot (an array element or object property). */
export const SLOT_COST = 8
/** Estimated bytes of a string header; the characters are charged on top. */
export const STRING_COST = 16

/**
 * The default `maxDecodedBytes`: a quarter of V8's heap limit, at most 1 GiB,
 * so the budget stays well under what kills the process.
 *
 * @internal
 */
export const defaultMaxDecodedBytes: number = Math.min(
  1024 * 1024 * 1024,
  Math.floor(v8.getHeapStatistics().heap_size_limit / 4)
)

/**
 * Thrown by {@link DecodeBudget.charge} and caught by each codec's entry
 * point, which returns the carried error.
 *
 * @internal
 */
export class BudgetExceeded {
  constructor(readonly error: DecodeError) {}
}

/**
 * The remaining bytes of one message's decode budget.
 *
 * @internal
 */
export class DecodeBudget {
  private spent = 0
  constructor(readonly limit: number = defaultMaxDecodedBytes) {}

  /** Bytes still available. */
  get remaining(): number {
    return this.limit - this.spent
  }

  /** Bytes charged so far. */
  get used(): number {
    return this.spent
  }

  /** Charges `bytes` for `codec`; throws {@link BudgetExceeded} when the budget would be exceeded. */
  charge(codec: string, bytes: number): void {
    const next = this.spent + bytes
    if (next > this.limit || !(next >= 0)) throw new BudgetExceeded(this.exceeded(codec, bytes))
    this.spent = next
  }

  /** The error for a charge of `bytes` that does not fit (for codecs that check before charging). */
  exceeded(codec: string, bytes: number): DecodeError {
    return new DecodeError({
      serializer: codec,
      message: `decoding needs more than the decode budget of ${this.limit} bytes per message (maxDecodedBytes): ` +
        `${codec} asked for ${bytes} more bytes with ${this.spent} already used`
    })
  }
}
