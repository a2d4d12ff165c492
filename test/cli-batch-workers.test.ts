// Batches on worker threads (SAS_TOKEN_BATCH_WORKERS=on forces them on any input): the batch
// suites run again that way, and the output of a mixed, awkward input must be byte for byte the
// one-thread output, whose records the batch suites check against the SDK. A worker that dies
// fails the run with a clear error and leaves an exact, in-order prefix of the records.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { sdk } from './support/sdk.js'
import { BIN, cleanEnv, runEnv, type Run } from './support/cli.js'
import { HOST, KEY, SERVICE_CS } from './support/fixtures.js'

/** What a child printed, and its exit code, once it has closed. */
function outcome(child: ChildProcess): Promise<Run> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Runs the CLI with stdin from a Buffer, with or without workers. */
function batch(args: readonly string[], input: Buffer, workers: 'on' | 'off', env = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cleanEnv({ SAS_TOKEN_BATCH_WORKERS: workers, ...env }),
  })
  child.stdin.on('error', () => {})
  child.stdin.end(input)
  return outcome(child)
}

/** Runs the CLI with stdin a regular file holding `input` (read into a reused buffer, not a stream). */
function batchFromFile(args: readonly string[], input: Buffer, workers: 'on' | 'off'): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'sas-token-batch-'))
  const file = join(dir, 'input.txt')
  writeFileSync(file, input)
  const fd = openSync(file, 'r')
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cleanEnv({ SAS_TOKEN_BATCH_WORKERS: workers }),
    stdio: [fd, 'pipe', 'pipe'],
  })
  return outcome(child).finally(() => {
    closeSync(fd)
    rmSync(dir, { recursive: true, force: true })
  })
}

/** The policy token azure-iot-common signs for a device (skn moved last, as our wire order has it). */
function policyToken(deviceId: string, expiry: number): string {
  const sr = sdk.encodeUriComponentStrict(`${HOST}/devices/${deviceId}`)
  const token = sdk.SharedAccessSignature.create(sr, 'iothubowner', KEY, expiry).toString()
  const sig = new URLSearchParams(token.slice('SharedAccessSignature '.length)).get('sig') ?? ''
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiry}&skn=iothubowner`
}

/** Many lines across many 64 KiB chunks: good and bad ids, blank lines, CRLF, lone CR, non-ASCII, over-long lines. */
function awkwardInput(): Buffer {
  const parts: string[] = ['\ufeff']
  for (let i = 0; i < 30_000; i++) {
    const end = i % 7 === 0 ? '\r\n' : i % 11 === 0 ? '\r' : '\n'
    if (i % 97 === 0) parts.push(`bad#${i}${end}`)
    else if (i % 89 === 0) parts.push(`\u00e9t\u00e9-${i}${end}`)
    else if (i % 83 === 0) parts.push(`   ${end}`)
    else if (i % 5003 === 0) parts.push(`${'x'.repeat(20_000)}${end}`)
    else parts.push(`device-${i}/mod-${i % 3}${end}`)
  }
  parts.push('last-line-without-an-end')
  return Buffer.from(parts.join(''))
}

const EXPIRY = ['--expires-at', '4102444800']

describe('generate --batch on worker threads', () => {
  it('the same bytes, stderr and exit code as one thread, for NDJSON and CSV', async () => {
    const input = awkwardInput()
    for (const format of ['json', 'csv']) {
      const args = ['gen', '--batch', '-c', SERVICE_CS, '--format', format, ...EXPIRY]
      const [one, two] = await Promise.all([batch(args, input, 'off'), batch(args, input, 'on')])
      assert.equal(one.code, 1, 'some lines are bad')
      assert.equal(two.code, one.code)
      assert.equal(two.stderr, one.stderr)
      assert.ok(two.stdout === one.stdout, `${format}: the worker output differs from one thread's`)
    }
  })

  it('stdin a regular file: the same bytes as from a pipe, on one thread and on workers', async () => {
    const input = awkwardInput()
    const args = ['gen', '--batch', '-c', SERVICE_CS, ...EXPIRY]
    const piped = await batch(args, input, 'off')
    for (const workers of ['off', 'on'] as const) {
      const fromFile = await batchFromFile(args, input, workers)
      assert.equal(fromFile.code, piped.code)
      assert.equal(fromFile.stderr, piped.stderr)
      assert.ok(fromFile.stdout === piped.stdout, `workers ${workers}: the output from a file differs`)
    }
  })

  it('records in input order, checked against the SDK', async () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `device-${i}`)
    const r = await batch(['gen', '--batch', '-c', SERVICE_CS, ...EXPIRY], Buffer.from(ids.join('\n')), 'on')
    assert.equal(r.code, 0)
    const records = r.stdout.trimEnd().split('\n')
    assert.equal(records.length, ids.length)
    for (const i of [0, 1, 4095, 4096, 9999, 19_999]) {
      assert.deepEqual(JSON.parse(records[i] ?? ''), {
        line: i + 1,
        deviceId: ids[i],
        token: policyToken(ids[i] ?? '', 4102444800),
        expiresAt: '2100-01-01T00:00:00.000Z',
      })
    }
  })

  it('a line over 1 MiB: the rest of the batch runs on the main thread, same output', async () => {
    const input = Buffer.from(`a\n${'y'.repeat(1_200_000)}\nb\r\nc`)
    const args = ['gen', '--batch', '-c', SERVICE_CS, ...EXPIRY]
    const [one, two] = await Promise.all([batch(args, input, 'off'), batch(args, input, 'on')])
    assert.equal(one.code, 1)
    assert.match(one.stdout, /"line":2,.*"code":"ERR_BATCH_LINE_TOO_LONG"/)
    assert.deepEqual(two, one)
  })

  it('connection strings and derive-key, the same as one thread', async () => {
    const lines = Array.from(
      { length: 6000 },
      (_, i) =>
        `HostName=${HOST};DeviceId=d${i};SharedAccessKey=${Buffer.from(`key ${i}`).toString('base64')}${i % 50 === 0 ? 'x' : ''}`,
    )
    const cs = Buffer.from(lines.join('\n'))
    const ids = Buffer.from(
      Array.from({ length: 6000 }, (_, i) => `reg-${i}${i % 40 === 0 ? '#' : ''}`).join('\n'),
    )
    for (const [args, input] of [
      [['gen', '--batch', ...EXPIRY], cs],
      [['derive-key', '--batch', '--group-key', KEY], ids],
    ] as const) {
      const [one, two] = await Promise.all([batch(args, input, 'off'), batch(args, input, 'on')])
      assert.equal(one.code, 1)
      assert.deepEqual(two, one)
    }
  })

  it('a worker that dies fails the run: exit 1, ERR_BATCH_WORKER_FAILED, an exact prefix of the records', async () => {
    const ids = Array.from({ length: 40_000 }, (_, i) => `device-${i}`)
    const input = Buffer.from(ids.join('\n'))
    const args = ['gen', '--batch', '-c', SERVICE_CS, '--json', ...EXPIRY]
    const [whole, broken] = await Promise.all([
      batch(args, input, 'on'),
      batch(args, input, 'on', { SAS_TOKEN_BATCH_WORKER_EXIT_AFTER: '2' }),
    ])
    assert.equal(whole.code, 0)
    assert.equal(broken.code, 1)
    const error = JSON.parse(broken.stderr.trim().split('\n').at(-1) ?? '') as {
      error: { code: string; line: number }
    }
    assert.equal(error.error.code, 'ERR_BATCH_WORKER_FAILED')
    const written = broken.stdout === '' ? [] : broken.stdout.trimEnd().split('\n')
    assert.ok(written.length < ids.length, 'records after the lost chunk are not written')
    assert.equal(error.error.line, written.length + 1, 'the error names the first missing line')
    assert.ok(whole.stdout.startsWith(broken.stdout), 'what was written is the start of the full output')
  })
})

// The batch suites again, every run with workers on from the first byte.
runEnv.SAS_TOKEN_BATCH_WORKERS = 'on'
await import('./cli-batch.test.js')
await import('./cli-batch-input.test.js')
await import('./cli-derive-key.test.js')
await import('./cli-pipe.test.js')
