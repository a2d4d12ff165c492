// No module of the package imports itself through others. Checked on the emitted JavaScript, so
// that type-only imports (which vanish at compile time) do not count and every import that runs
// does: the static `import`/`export … from` statements of every file under dist/, not the
// dynamic `import()` calls that load a command or the hub on demand.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const dist = fileURLToPath(new URL('../../dist/', import.meta.url))

/** Every `.js` file under `dir`, recursively. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js'))
    .map((name) => join(dir, name))
}

/** The relative static imports of one emitted file, resolved to paths. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g,
  )) {
    const spec = m[1] ?? m[2] ?? ''
    if (spec.startsWith('.')) out.push(resolve(dirname(file), spec))
  }
  return out
}

/** The cycles of the graph, each as the list of files from a file back to itself. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (file: string): void => {
    state.set(file, 'open')
    stack.push(file)
    for (const next of graph.get(file) ?? []) {
      const seen = state.get(next)
      if (seen === 'open') found.push([...stack.slice(stack.indexOf(next)), next])
      else if (seen === undefined) visit(next)
    }
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file)
  return found
}

describe('import cycles', () => {
  const files = jsFiles(dist)
  const graph = new Map(files.map((file) => [file, staticImports(file)]))

  it('the emitted files of src/ have no static import cycle', () => {
    assert.ok(
      files.some((f) => f.endsWith(join('cli', 'batch.js'))),
      'dist/ holds the CLI modules',
    )
    const named = cycles(graph).map((cycle) => cycle.map((f) => relative(dist, f)).join(' → '))
    assert.deepEqual(named, [])
  })

  it('the cycle finder finds a cycle when there is one', () => {
    const a = join(dist, 'a.js')
    const b = join(dist, 'b.js')
    const c = join(dist, 'c.js')
    assert.deepEqual(
      cycles(
        new Map([
          [a, [b]],
          [b, [c]],
          [c, [a]],
        ]),
      ),
      [[a, b, c, a]],
    )
    assert.deepEqual(
      cycles(
        new Map([
          [a, [b, c]],
          [b, [c]],
          [c, []],
        ]),
      ),
      [],
    )
  })

  it('reads every import form the compiler emits', () => {
    const all = [...graph.values()].flat()
    assert.ok(all.length > 100, `${all.length} imports`)
    assert.ok(
      all.every((f) => graph.has(f)),
      'every relative import names an emitted file',
    )
  })
})
