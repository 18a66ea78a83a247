/**
 * A task definition: a name, a JS implementation for the embedded scheduler,
 * and/or the dotted name of an importable Python callable for a Dask cluster.
 * One definition serves every backend that can run it.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-dask/Task")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What a JS task may return: a value, a promise, or an Effect.
 *
 * @since 0.1.0
 * @category models
 */
export type Output<A, E> = A | PromiseLike<A> | Effect.Effect<A, E>

/**
 * @since 0.1.0
 * @category models
 */
export interface Task<in out Args extends ReadonlyArray<any>, in out A, out E = never> {
  readonly [TypeId]: TypeId
  /** Key prefix, as Dask's `funcname`: keys are `name-<token>`. */
  readonly name: string
  /** JS implementation, run by the embedded scheduler. */
  readonly run: ((...args: Args) => Output<A, E>) | undefined
  /** Importable Python callable (`module.name`, e.g. `operator.add`), run by Dask workers. */
  readonly python: string | undefined
  /** Pure tasks get deterministic keys, so equal submissions share a key. */
  readonly pure: boolean
  /** How often a failed task is retried before it errs. */
  readonly retries: number
  /** Optional Schema that validates (and decodes) results. */
  readonly result: Schema.Schema<A, any> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type Any = Task<any, any, any>

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A> {
  readonly python?: string | undefined
  readonly pure?: boolean | undefined
  readonly retries?: number | undefined
  readonly result?: Schema.Schema<A, any> | undefined
}

const make_ = <Args extends ReadonlyArray<any>, A, E>(
  name: string,
  run: ((...args: Args) => Output<A, E>) | undefined,
  options: Options<A> | undefined
): Task<Args, A, E> => ({
  [TypeId]: TypeId,
  name,
  run,
  python: options?.python,
  pure: options?.pure ?? true,
  retries: options?.retries ?? 0,
  result: options?.result
})

/**
 * Defines a task with a JS implementation (and optionally the Python callable
 * that does the same on a Dask cluster).
 *
 * @example
 * ```ts
 * const add = Task.make("add", (a: number, b: number) => a + b, { python: "operator.add" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Args extends ReadonlyArray<any>, A, E = never>(
  name: string,
  run: (...args: Args) => Output<A, E>,
  options?: Options<A>
): Task<Args, A, E> => make_(name, run, options)

/**
 * Defines a task that only names a Python callable (runs on Dask only).
 *
 * @example
 * ```ts
 * const sum = Task.python<[ReadonlyArray<number>], number>("builtins.sum")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const python = <Args extends ReadonlyArray<any>, A>(
  callable: string,
  options?: Omit<Options<A>, "python"> & { readonly name?: string }
): Task<Args, A, never> =>
  make_(options?.name ?? callable.slice(callable.lastIndexOf(".") + 1), undefined, { ...options, python: callable })

/**
 * @since 0.1.0
 * @category guards
 */
export const isTask = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u
