// Batch input the newcomer test found broken (issue 8): an over-long line, blank lines in the
// summary, CR-only line endings, UTF-16 input, formula-looking CSV cells. Every case spawns the
// built bin; expected tokens come from the independent node:crypto signer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AT_VECTOR_TIME, cli, GROUP_KEY, HOST, KEY, SERVICE_CS, VECTORS } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'

const env = AT_VECTOR_TIME
const SE = 1_700_000_000

function ndjson(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

const ids = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `dev${from + i}`)

describe('batch input', () => {
  // issue 8, defects 1 and 2: a 10 MB line used to give 0 records and "Maximum call stack size exceeded".
  for (const [what, args, column] of [
    ['gen --batch with a service string', ['gen', '--batch', '-c', SERVICE_CS], 'token'],
    ['derive-key --batch', ['derive-key', '--batch', '--group-key', GROUP_KEY], 'deviceKey'],
    [
      'gen --batch --dps',
      ['gen', '--batch', '--dps', '--id-scope', '0ne00000A0A', '--group-key', GROUP_KEY],
      'token',
    ],
  ] as const) {
    it(`one 10 MB line among 2,000 ids: 2,001 records, one error in place (${what})`, async () => {
      const input = `${ids(1, 1000).join('\n')}\n${'a'.repeat(10_000_000)}\n${ids(1001, 2000).join('\n')}\n`
      const r = await cli(args, { env, input })
      assert.equal(r.code, 1, r.stderr.slice(0, 500))
      const records = ndjson(r.stdout)
      assert.equal(records.length, 2001)
      const long = records[1000] as { line: number; input?: string; error?: { code: string; limit?: number } }
      assert.equal(long.line, 1001)
      assert.equal(long.error?.code, 'ERR_BATCH_LINE_TOO_LONG')
      assert.equal(typeof long.error?.limit, 'number')
      assert.ok(
        (long.input ?? '').length <= 300,
        `the echo is a short prefix, not ${(long.input ?? '').length} chars`,
      )
      assert.ok(r.stdout.length < 2_000_000, 'the long line is not echoed whole')
      assert.equal(records[1001]?.line, 1002)
      assert.ok(typeof records[1001]?.[column] === 'string', JSON.stringify(records[1001]))
      assert.ok(!('error' in (records[999] ?? {})))
      assert.match(r.stderr, /1 of 2001 lines failed/)
    })
  }

  it('a 40 MB line in one run is refused, and the lines after it still signed', async () => {
    const input = `dev1\n${'b'.repeat(40_000_000)}\ndev1\n`
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS], { env, input })
    const records = ndjson(r.stdout)
    assert.equal(records.length, 3)
    assert.equal((records[1]?.error as { code: string }).code, 'ERR_BATCH_LINE_TOO_LONG')
    assert.equal(records[2]?.token, VECTORS.devicePolicy)
  })

  // issue 8, defect 12: blank lines were counted in "N of M lines failed".
  it('the summary counts non-blank lines only', async () => {
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS], { env, input: '\n\ndev1\n\n\ndev#2\n\n' })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /1 of 2 lines failed/)
    assert.deepEqual(
      ndjson(r.stdout).map((rec) => rec.line),
      [3, 6],
      'line numbers still count every line of the file',
    )
  })

  // issue 8, defect 12: CR-only line endings (old Mac files) were one line.
  it('CR-only and CRLF line endings split lines', async () => {
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS], { env, input: 'dev1\rdev2\r\ndev3\r' })
    assert.equal(r.code, 0, r.stderr)
    const records = ndjson(r.stdout)
    assert.deepEqual(
      records.map((rec) => rec.deviceId),
      ['dev1', 'dev2', 'dev3'],
    )
    assert.equal(records[1]?.token, hmacToken(`${HOST}/devices/dev2`, KEY, SE, 'iothubowner'))
  })

  // issue 8, defect 12: a UTF-16 file gave "only 7-bit ASCII" on every line.
  it('UTF-16 input: one error saying so, no records', async () => {
    const text = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('dev1\ndev2\n', 'utf16le')])
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS], { env, input: text })
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /UTF-16/)
    assert.match(r.stderr, /UTF-8/)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  })

  it('a UTF-8 byte-order mark is skipped', async () => {
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS], { env, input: '\ufeffdev1\n' })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(ndjson(r.stdout)[0]?.token, VECTORS.devicePolicy)
  })

  // issue 8, defect 11: cells starting with = + - @ went out raw, and Excel ran them.
  it('CSV cells that look like formulas are neutralised', async () => {
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS, '--format', 'csv'], {
      env,
      input: '=cmd()\n@x\n-dev\n+1\n',
    })
    assert.equal(r.code, 1, r.stderr) // `+1` is no valid id (an MQTT wildcard): its error record echoes it, neutralised too
    const rows = r.stdout.trim().split('\n').slice(1)
    assert.deepEqual(
      rows.map((row) => row.split(',')[1]),
      ["'=cmd()", "'@x", "'-dev", "'+1"],
    )
    for (const row of rows) assert.ok(!/,[=+\-@]/.test(row), row)
    assert.match(
      rows[0]?.split(',')[3] ?? '',
      /^SharedAccessSignature sr=myhub\.azure-devices\.net%2Fdevices%2F%3Dcmd%28%29&/,
    )
  })
})
