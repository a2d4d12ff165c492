// One name, one concept: no two modules of src/ (core, hub, CLI) export the same name, so that a
// reader (or an editor's auto-import) never meets two `Identity` types that mean different
// things. The console page (src/hub/console/page/) is a program of its own, built apart, and is
// not counted.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const src = fileURLToPath(new URL('../../src/', import.meta.url))

/** The names each source file declares as exports, by file (relative to src/). */
function exportedNames(): Map<string, string[]> {
  const byName = new Map<string, string[]>()
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file.startsWith(join('hub', 'console', 'page'))) continue
    const text = readFileSync(join(src, file), 'utf8')
    for (const m of text.matchAll(
      /^export (?:declare )?(?:async )?(?:function\*?|const|let|class|interface|type|enum) ([A-Za-z_$][\w$]*)/gm,
    )) {
      const name = m[1] as string
      byName.set(name, [...(byName.get(name) ?? []), file])
    }
  }
  return byName
}

describe('exported names', () => {
  const names = exportedNames()

  it('reads the exports of src/', () => {
    assert.deepEqual(names.get('SasTokenError'), ['errors.ts'])
    assert.ok(names.size > 200, `${names.size} names`)
  })

  it('no name is exported by two modules of src/', () => {
    const twice = [...names]
      .filter(([, files]) => files.length > 1)
      .map(([name, files]) => `${name}: ${files.join(', ')}`)
    assert.deepEqual(twice, [])
  })
})
