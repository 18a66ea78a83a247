/**
 * Task modules: how a task runs outside the client's thread.
 *
 * A task that runs in a worker thread or in a Node worker of a Dask cluster
 * cannot be sent there as a function: it is defined in a module
 * (`export const add = Task.make("add", …)`), the executor imports the listed
 * modules and finds the task by its name. Every backend that runs JS tasks
 * away from the client uses this one mechanism.
 *
 * - {@link resolve} turns a `URL`, a path string or a `file:` URL string
 *   (relative ones against the working directory) into the URL to import;
 * - {@link load} imports the modules and builds a {@link Registry} (name →
 *   task); two different tasks with one name are a `TaskModuleError`;
 *   `.ts` modules load under tsx (registered on demand when the running
 *   Node cannot import TypeScript by itself), `.js` under plain Node;
 * - {@link check} tells, before anything is sent, whether a task is loadable
 *   there ({@link UnsupportedTaskError} otherwise).
 *
 * @example
 * ```ts
 * // tasks.ts
 * export const add = Task.make("add", (a: number, b: number) => a + b)
 *
 * // an executor in another thread or process
 * const registry = yield* TaskModule.load([new URL("./tasks.ts", import.meta.url)])
 * const add = TaskModule.get(registry, "add") // the Task
 * ```
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type { TaskModuleError, UnsupportedTaskError } from "./Errors.js"
import * as internal from "./internal/taskModule.js"
import type * as Task from "./Task.js"

/**
 * Where a task module is: a `URL`, an absolute or relative path, or a URL
 * string (`file:…`, `data:…`). Relative paths and relative `file:` URLs are
 * resolved against the working directory.
 *
 * @since 0.2.0
 * @category models
 */
export type Specifier = URL | string

/**
 * The tasks the listed modules define, by name.
 *
 * @since 0.2.0
 * @category models
 */
export interface Registry {
  /** The modules, resolved (`href`s), in the order listed, without repeats. */
  readonly modules: ReadonlyArray<string>
  /** Every JS task (one with a `run`) exported by those modules, by `name`. */
  readonly tasks: ReadonlyMap<string, Task.Any>
}


/**
 * Resolves a specifier to the URL to import, against `cwd` (default
 * `process.cwd()`).
 *
 * @since 0.2.0
 * @category resolving
 */
export const resolve: (specifier: Specifier, cwd?: string) => URL = internal.resolve

/**
 * Builds a registry from modules already imported (`href` → namespace).
 * Fails on two different tasks with one name.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromNamespaces: (
  namespaces: ReadonlyArray<readonly [href: string, namespace: Record<string, unknown>]>
) => Registry | TaskModuleError = internal.fromNamespaces

/**
 * Imports the listed modules and builds their registry. Loading is done
 * once per module and process (the ES module cache): the tasks found are the
 * very objects the modules export.
 *
 * @since 0.2.0
 * @category constructors
 */
export const load: (
  modules: ReadonlyArray<Specifier>,
  options?: { readonly cwd?: string | undefined }
) => Effect.Effect<Registry, TaskModuleError> = internal.load

/**
 * {@link load} as a Promise, for executors that run outside an Effect
 * runtime (a worker thread's entry). Rejects with a `TaskModuleError`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const loadPromise: (
  modules: ReadonlyArray<Specifier>,
  options?: { readonly cwd?: string | undefined }
) => Promise<Registry> = internal.loadPromise

/**
 * The task registered under `name`, if any.
 *
 * @since 0.2.0
 * @category getters
 */
export const get = (registry: Registry, name: string): Task.Any | undefined => registry.tasks.get(name)

/**
 * Whether `task` can be run by an executor that loaded `registry`: a task of
 * that name is defined there. (Matched by name, as the executor finds it; the
 * client's task object and the executor's are different objects when they
 * live in different threads.)
 *
 * @since 0.2.0
 * @category guards
 */
export const isLoadable = (registry: Registry, task: Task.Any): boolean => registry.tasks.has(task.name)

/**
 * `undefined` when `task` is loadable from `registry`, else the
 * {@link UnsupportedTaskError} a backend named `backend` returns before
 * sending anything.
 *
 * @since 0.2.0
 * @category guards
 */
export const check: (registry: Registry, task: Task.Any, backend: string) => UnsupportedTaskError | undefined =
  internal.check
