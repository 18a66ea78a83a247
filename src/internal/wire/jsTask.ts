/**
 * How a JS task travels through an unmodified Dask scheduler (worker
 * protocol §12): an ordinary task whose callable is a stdlib marker that
 * always raises when Python calls it, whose first two arguments are the tag
 * and the JS task name. Shared by the client backend (which encodes) and the
 * Node worker (which recognises and decodes): neither imports the other.
 *
 * Arguments after {@link DEPS_SEPARATOR} (2024.12 only) are `TaskRef`s that
 * only declare dependencies nested inside the JS arguments (`Task.__init__`
 * registers top-level references only); the worker drops them.
 *
 * @internal
 */

/** `concurrent.futures._base.Executor.submit`: importable everywhere, raises `NotImplementedError` when called. */
export const MARKER_MODULE = "concurrent.futures._base"
/** @internal */
export const MARKER_NAME = "Executor.submit"
/** Module spellings a worker accepts for the marker. @internal */
export const MARKER_MODULES: ReadonlySet<string> = new Set(["concurrent.futures._base", "concurrent.futures"])
/** First argument of every JS task. @internal */
export const TAG = "effect-dask:js"
/** Separates the JS arguments from dependency-only references (2024.12). @internal */
export const DEPS_SEPARATOR = "effect-dask:deps"
/** Worker resource that Node workers register and JS tasks require. @internal */
export const RESOURCE = "js"
