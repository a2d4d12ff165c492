// `import 'sas-token'` must not load the hub (aedes, ws), and the CLI bundle must not carry it:
// the hub loads only through `sas-token/hub` and `sas-token hub`. Checked on the built files
// by following their import statements.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const dist = fileURLToPath(new URL('../../dist/', import.meta.url))

function graph(entry: string): Set<string> {
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(
      /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g,
    )) {
      const spec = m[1] ?? m[2] ?? ''
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec))
      else seen.add(`package:${spec}`)
    }
  }
  visit(entry)
  return seen
}

describe('hub layering', () => {
  it("the core's import graph has no hub file, aedes or ws", () => {
    const files = [...graph(join(dist, 'index.js'))]
    assert.ok(files.length > 5)
    assert.deepEqual(
      files.filter((f) => f.includes(`${join(dist, 'hub')}`) || /^package:(aedes|ws)$/.test(f)),
      [],
    )
  })

  it('the hub entry does load aedes and ws (so the check above can fail)', () => {
    const files = [...graph(join(dist, 'hub', 'index.js'))]
    assert.ok(files.includes('package:aedes'))
    assert.ok(files.includes('package:ws'))
  })

  it('the CLI bundle does not contain aedes or ws; it imports dist/hub at run time', () => {
    const bundle = readFileSync(join(dist, 'cli.cjs'), 'utf8') // the bundle; dist/cli.js is its launcher
    assert.ok(!/from\s*["']aedes["']/.test(bundle) && !bundle.includes('aedes-persistence'))
    assert.ok(!bundle.includes('WebSocketServer'))
    assert.ok(bundle.includes('./hub/index.js'))
  })
})
