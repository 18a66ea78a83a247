/**
 * What a Variable or Queue is given, as the protocol carries it.
 *
 * @internal
 */
import type { Shared } from "../Scheduler.js"
import { isFuture } from "./client.js"

/** A future is shared by key (the slot keeps it alive); anything else as data. @internal */
export const shared = (value: unknown): Shared => (isFuture(value) ? { _tag: "Key", key: value.key } : { _tag: "Data", value })
