/**
 * Task modules: resolving, importing (tsx on demand for `.ts`), and the
 * name → task registry. Backend neutral: worker threads and the Node Dask
 * worker both load tasks through here.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { TaskModuleError, UnsupportedTaskError } from "../Errors.js"
import type { Registry, Specifier } from "../TaskModule.js"
import type * as Task from "../Task.js"
import { isTask } from "../Task.js"

/** A scheme of two or more letters: one letter is a Windows drive (`C:\…`). */
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]+:/

/** @internal */
export const resolve = (specifier: Specifier, cwd: string = process.cwd()): URL => {
  if (specifier instanceof URL) return new URL(specifier.href)
  if (SCHEME.test(specifier)) return new URL(specifier, pathToFileURL(path.join(cwd, "/")))
  return pathToFileURL(path.resolve(cwd, specifier))
}

/** @internal */
export const isTypeScript = (href: string): boolean => /\.[mc]?tsx?$/.test(new URL(href).pathname)

/** @internal */
export const fromNamespaces = (
  namespaces: ReadonlyArray<readonly [href: string, namespace: Record<string, unknown>]>
): Registry | TaskModuleError => {
  const tasks = new Map<string, Task.Any>()
  const origin = new Map<string, string>()
  const modules: Array<string> = []
  for (const [href, ns] of namespaces) {
    modules.push(href)
    for (const exportName of Object.keys(ns)) {
      const value = ns[exportName]
      if (!isTask(value) || value.run === undefined) continue
      const prior = tasks.get(value.name)
      if (prior === undefined) {
        tasks.set(value.name, value)
        origin.set(value.name, href)
      } else if (prior !== value) {
        return new TaskModuleError({
          reason: "DuplicateName",
          module: href,
          message: `Two tasks are named ${JSON.stringify(value.name)}: in ${origin.get(value.name)} and in ${href}` +
            ` (export ${exportName}); a task is found by its name, so names must be unique across the listed modules`
        })
      }
    }
  }
  return { modules, tasks }
}

let tsxRegistered: Promise<void> | undefined

/** Registers tsx's ESM loader in this thread (once). */
const registerTsx = (): Promise<void> =>
  tsxRegistered ??= import("tsx/esm/api").then((api: { register: () => unknown }) => {
    api.register()
  })

const isUnknownExtension = (e: unknown): boolean =>
  typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ERR_UNKNOWN_FILE_EXTENSION"

const importOne = async (href: string): Promise<Record<string, unknown>> => {
  try {
    return await import(href)
  } catch (e) {
    // Plain Node cannot import TypeScript: bring in tsx, then try once more.
    if (!isTypeScript(href) || !isUnknownExtension(e)) throw e
    try {
      await registerTsx()
    } catch (cause) {
      throw new TaskModuleError({
        reason: "Import",
        module: href,
        message: `${href} is TypeScript and tsx could not be loaded to import it (install tsx, or list the built .js module)`,
        cause
      })
    }
    return await import(href)
  }
}

/** @internal */
export const loadPromise = async (
  specifiers: ReadonlyArray<Specifier>,
  options?: { readonly cwd?: string | undefined }
): Promise<Registry> => {
  const hrefs: Array<string> = []
  for (const s of specifiers) {
    const href = resolve(s, options?.cwd).href
    if (!hrefs.includes(href)) hrefs.push(href)
  }
  const namespaces: Array<readonly [string, Record<string, unknown>]> = []
  for (const href of hrefs) {
    try {
      namespaces.push([href, await importOne(href)])
    } catch (cause) {
      if (cause instanceof TaskModuleError) throw cause
      throw new TaskModuleError({
        reason: "Import",
        module: href,
        message: `Cannot import task module ${href}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
    }
  }
  const out = fromNamespaces(namespaces)
  if (out instanceof TaskModuleError) throw out
  return out
}

/** @internal */
export const load = (
  specifiers: ReadonlyArray<Specifier>,
  options?: { readonly cwd?: string | undefined }
): Effect.Effect<Registry, TaskModuleError> =>
  Effect.tryPromise({
    try: () => loadPromise(specifiers, options),
    catch: (e) =>
      e instanceof TaskModuleError
        ? e
        : new TaskModuleError({ reason: "Import", module: "", message: String(e), cause: e })
  })

/** @internal */
export const check = (registry: Registry, task: Task.Any, backend: string): UnsupportedTaskError | undefined =>
  registry.tasks.has(task.name) ? undefined : new UnsupportedTaskError({
    task: task.name,
    backend,
    message: registry.modules.length === 0
      ? `Task ${task.name} cannot run on ${backend}: no task modules are listed (list the module that exports it in \`modules\`)`
      : `Task ${task.name} cannot run on ${backend}: none of the listed task modules (${registry.modules.join(", ")}) defines a task named ${JSON.stringify(task.name)}`
  })
