// TypeDoc plugin for `npm run docs`: every public module (src/X.ts that package.json exports
// as `effect-dask/X`; `"./X": null` hides one, like the CLI) starts with a JSDoc comment
// carrying @since, and every one of its exports carries @since and @category.
// A missing tag is a TypeDoc error, so the docs build fails and names each one.
// It reads TypeDoc's own TypeScript program: nothing is parsed twice.
import * as fs from "node:fs"
import * as path from "node:path"
import { Converter } from "typedoc"
import ts from "typescript"

const REQUIRED = ["since", "category"]

/** The node whose JSDoc documents `declaration` (the statement for variables and re-exports). */
const documented = (declaration) => {
  if (ts.isExportSpecifier(declaration)) return declaration.parent.parent
  if (ts.isNamespaceExport(declaration)) return declaration.parent
  if (ts.isVariableDeclaration(declaration)) return declaration.parent.parent
  return declaration
}

const tagsOf = (node) => new Set(ts.getJSDocTags(node).map((tag) => tag.tagName.text))

/** `export { a as b }`: the comment may sit on the specifier, the export statement or `a` itself. */
const specifierTags = (checker, specifier) => {
  const tags = new Set([...tagsOf(specifier), ...tagsOf(specifier.parent.parent)])
  const local = checker.getImmediateAliasedSymbol(checker.getSymbolAtLocation(specifier.name))
  for (const d of local?.declarations ?? []) for (const tag of tagsOf(documented(d))) tags.add(tag)
  return tags
}

/** Module names that package.json's exports map to null (not importable, so not public). */
const hidden = () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(process.cwd(), "package.json"), "utf8"))
  return new Set(Object.entries(manifest.exports ?? {}).filter(([, target]) => target === null).map(([key]) => key.slice(2)))
}

const where = (node) => {
  const file = node.getSourceFile()
  const { line } = file.getLineAndCharacterOfPosition(node.getStart(file))
  return `${path.relative(process.cwd(), file.fileName)}:${line + 1}`
}

/** @param {import("typedoc").Application} app */
export const load = (app) => {
  app.converter.on(Converter.EVENT_BEGIN, (context) => {
    const problems = []
    const notExported = hidden()
    for (const program of context.programs) {
      const checker = program.getTypeChecker()
      for (const file of program.getSourceFiles()) {
        const relative = path.relative(process.cwd(), file.fileName).split(path.sep).join("/")
        if (file.isDeclarationFile || !/^src\/[^/]+\.ts$/.test(relative)) continue
        if (notExported.has(path.basename(relative, ".ts"))) continue
        const header = /^(?:#!.*\n)?\s*\/\*\*([\s\S]*?)\*\//.exec(file.text)
        if (header === null || !/@since\s/.test(header[1])) {
          problems.push(`${relative}:1 the module's leading JSDoc comment has no @since`)
        }
        const moduleSymbol = checker.getSymbolAtLocation(file)
        if (moduleSymbol === undefined) continue
        for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
          const seen = new Set()
          for (const declaration of symbol.declarations ?? []) {
            // Overloads share the first signature's comment; an implementation has none.
            if (ts.isFunctionDeclaration(declaration) && (seen.has("function") || declaration.body !== undefined && seen.size > 0)) continue
            if (ts.isFunctionDeclaration(declaration)) seen.add("function")
            else seen.add(declaration.kind)
            const node = documented(declaration)
            const tags = ts.isExportSpecifier(declaration) ? specifierTags(checker, declaration) : tagsOf(node)
            const missing = REQUIRED.filter((tag) => !tags.has(tag))
            if (missing.length > 0) {
              problems.push(`${where(node)} ${symbol.name} (exported by ${relative}): no ${missing.map((t) => `@${t}`).join(", no ")}`)
            }
          }
        }
      }
    }
    for (const problem of [...new Set(problems)].sort((a, b) => a.localeCompare(b, "en", { numeric: true }))) app.logger.error(`public export without its tags: ${problem}`)
  })
}
