// `--copy` against a real X clipboard: Xvfb, xsel, and clipboardy loaded lazily by the CLI.
// The value is read back with `xsel -ob`. Without a display, --copy is only a warning.
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { cli } from './support/cli.js'
import { AT_VECTOR_TIME, DEVICE_CS, VECTORS } from './support/fixtures.js'

function installed(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const missing = ['Xvfb', 'xsel'].filter((c) => !installed(c))
const skip = missing.length > 0 ? `${missing.join(' and ')} not installed (.ci/run installs them)` : false

describe('--copy with an X display', { skip }, () => {
  const display = `:${90 + (process.pid % 500)}`
  let xvfb: ChildProcess | undefined

  before(async () => {
    xvfb = spawn('Xvfb', [display, '-screen', '0', '640x480x24', '-nolisten', 'tcp'], { stdio: 'ignore' })
    const socket = `/tmp/.X11-unix/X${display.slice(1)}`
    for (let i = 0; i < 100 && !existsSync(socket); i++) await sleep(50)
    assert.ok(existsSync(socket), 'Xvfb did not start')
  })
  after(() => {
    xvfb?.kill()
  })

  const readBack = (): string =>
    execFileSync('xsel', ['--clipboard', '--output'], {
      env: { ...process.env, DISPLAY: display },
      encoding: 'utf8',
    })

  it('generate --copy puts the token on the clipboard and still prints it', async () => {
    const r = await cli(['generate', '-c', DEVICE_CS, '--copy'], {
      env: { ...AT_VECTOR_TIME, DISPLAY: display },
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `${VECTORS.device}\n`)
    assert.equal(r.stderr, '')
    assert.equal(readBack(), VECTORS.device)
  })
  it('the copied value is the output in its format', async () => {
    const r = await cli(['generate', '-c', DEVICE_CS, '--copy', '--format', 'connection-string'], {
      env: { ...AT_VECTOR_TIME, DISPLAY: display },
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readBack(), r.stdout.trimEnd())
    assert.ok(readBack().endsWith(`;SharedAccessSignature=${VECTORS.device}`))
  })
  it('mqtt --copy too', async () => {
    const r = await cli(['mqtt', '-c', DEVICE_CS, '--format', 'env', '--copy'], {
      env: { ...AT_VECTOR_TIME, DISPLAY: display },
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readBack(), r.stdout.trimEnd())
  })
})

describe('--copy without a display', () => {
  it('prints the value, warns in one line, exits 0', async () => {
    const r = await cli(['generate', '-c', DEVICE_CS, '--copy'], {
      env: { ...AT_VECTOR_TIME, DISPLAY: undefined, WAYLAND_DISPLAY: undefined },
    })
    assert.equal(r.code, 0)
    assert.equal(r.stdout, `${VECTORS.device}\n`)
    assert.match(
      r.stderr,
      /^sas-token: warning: could not copy to the clipboard \(.+\); the value is on stdout\.\n$/,
    )
  })
})
