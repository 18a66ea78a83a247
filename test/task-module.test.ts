import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { TaskModuleError, UnsupportedTaskError } from "../src/Errors.js"
import * as Task from "../src/Task.js"
import * as TaskModule from "../src/TaskModule.js"
import * as math from "./fixtures/tasks/math.js"

const mathUrl = new URL("./fixtures/tasks/math.ts", import.meta.url)
const dupUrl = new URL("./fixtures/tasks/dup.ts", import.meta.url)

describe("TaskModule", () => {
  it("resolves URLs, paths and file: URL strings against the working directory", () => {
    const cwd = path.dirname(new URL(import.meta.url).pathname)
    assert.strictEqual(TaskModule.resolve(mathUrl).href, mathUrl.href)
    assert.strictEqual(TaskModule.resolve("fixtures/tasks/math.ts", cwd).href, mathUrl.href)
    assert.strictEqual(TaskModule.resolve("./fixtures/tasks/math.ts", cwd).href, mathUrl.href)
    assert.strictEqual(TaskModule.resolve(mathUrl.pathname, "/elsewhere").href, mathUrl.href)
    assert.strictEqual(TaskModule.resolve(mathUrl.href, "/elsewhere").href, mathUrl.href)
    assert.strictEqual(TaskModule.resolve("file:fixtures/tasks/math.ts", cwd).href, mathUrl.href)
    assert.strictEqual(TaskModule.resolve("data:text/javascript,export%20{}").protocol, "data:")
  })

  it.effect("finds each exported JS task by name, the very objects the module exports", () =>
    Effect.gen(function*() {
      const registry = yield* TaskModule.load([mathUrl])
      assert.deepStrictEqual(registry.modules, [mathUrl.href])
      assert.deepStrictEqual(Array.from(registry.tasks.keys()).sort(), ["add", "double", "mul"])
      assert.strictEqual(TaskModule.get(registry, "add"), math.add)
      assert.isTrue(TaskModule.isLoadable(registry, math.mul))
      assert.isUndefined(TaskModule.check(registry, math.add, "threads"))
    }))

  it.effect("lists a module once however it is named", () =>
    Effect.gen(function*() {
      const file = mathUrl.pathname
      const registry = yield* TaskModule.load([mathUrl, file, pathToFileURL(file).href])
      assert.deepStrictEqual(registry.modules, [mathUrl.href])
    }))

  it.effect("two different tasks with one name are an error at load", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(TaskModule.load([mathUrl, dupUrl]))
      assert.instanceOf(error, TaskModuleError)
      assert.strictEqual(error.reason, "DuplicateName")
      assert.strictEqual(error.module, dupUrl.href)
      assert.include(error.message, "\"add\"")
    }))

  it.effect("a module that cannot be imported is a typed error naming it", () =>
    Effect.gen(function*() {
      const missing = new URL("./fixtures/tasks/missing.ts", import.meta.url)
      const error = yield* Effect.flip(TaskModule.load([mathUrl, missing]))
      assert.strictEqual(error.reason, "Import")
      assert.strictEqual(error.module, missing.href)
    }))

  it.effect("a task no listed module defines is refused with UnsupportedTaskError", () =>
    Effect.gen(function*() {
      const registry = yield* TaskModule.load([mathUrl])
      const inline = Task.make("sub", (a: number, b: number) => a - b)
      const error = TaskModule.check(registry, inline, "threads")
      assert.instanceOf(error, UnsupportedTaskError)
      assert.strictEqual(error!.task, "sub")
      assert.include(error!.message, mathUrl.href)
      assert.isFalse(TaskModule.isLoadable(registry, inline))
      const empty = TaskModule.fromNamespaces([])
      assert.notInstanceOf(empty, TaskModuleError)
      assert.include(TaskModule.check(empty as TaskModule.Registry, inline, "threads")!.message, "no task modules")
    }))
})
