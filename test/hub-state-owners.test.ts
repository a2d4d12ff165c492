// One owner per piece of state: only the state owners (src/hub/state/*) and HubService, which
// composes them, read or change the stored state (`….state`) or mark it changed
// (`store.changed()`). A protocol adapter (mqtt/, rest/), the start-up and the console go
// through their operations, so AMQP and HTTPS can come without touching the owners.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const hubDir = fileURLToPath(new URL('../../src/hub/', import.meta.url))

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'page' ? [] : files(path)
    return name.endsWith('.ts') ? [path] : []
  })
}

const OWNERS = (file: string): boolean => file.startsWith('state/') || file === 'service.ts'
const TOUCHES = /\b(?:hub|store|this)\.state\b|\bstore\.changed\(\)/

describe('hub state owners', () => {
  it('nothing outside src/hub/state/ and service.ts touches the stored state', () => {
    const offenders: string[] = []
    let seen = 0
    for (const path of files(hubDir)) {
      const file = relative(hubDir, path)
      readFileSync(path, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (!TOUCHES.test(line) || line.trimStart().startsWith('*')) return
          seen += 1
          if (!OWNERS(file)) offenders.push(`${file}:${i + 1}: ${line.trim()}`)
        })
    }
    assert.ok(seen > 10, 'the owners do touch the state (so the pattern can match)')
    assert.deepEqual(offenders, [])
  })
})
