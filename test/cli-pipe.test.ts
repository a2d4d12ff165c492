// A reader that closes the pipe early (`sas-token … | head -0`) has what it wanted: the CLI stops
// quietly with exit 0, for single values as for batches.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BIN, cleanEnv } from './support/cli.js'
import { DEVICE_CS, SERVICE_CS } from './support/fixtures.js'

/** Runs `sas-token args | reader` in bash and returns the CLI's own exit code and stderr. */
function piped(
  args: string,
  reader: string,
  input = '',
  extra: Record<string, string> = {},
): { code: string; stderr: string } {
  const script = `"${process.execPath}" "${BIN}" ${args} 2>"$ERR" | ${reader}; echo \${PIPESTATUS[0]}; cat "$ERR"`
  const run = spawnSync('bash', ['-c', script], {
    input,
    encoding: 'utf8',
    env: cleanEnv({
      CS: DEVICE_CS,
      SCS: SERVICE_CS,
      ERR: join(mkdtempSync(join(tmpdir(), 'sas-token-pipe-')), 'stderr'),
      ...extra,
    }),
  })
  const [code = '', ...stderr] = run.stdout.split('\n')
  return { code, stderr: stderr.join('\n').trim() }
}

describe('a closed stdout pipe', () => {
  for (const [name, args] of [
    ['generate', 'gen -c "$CS"'],
    ['mqtt --json', 'mqtt -c "$CS" --json'],
    ['topic', 'topic --device-id dev1 -p a=b'],
    ['--help', '--help'],
    ['generate --help', 'gen --help'],
  ] as const) {
    it(`${name}: exit 0, nothing on stderr`, () => {
      assert.deepEqual(piped(args, 'true'), { code: '0', stderr: '' })
    })
  }

  it('generate --batch: exit 0 when the reader stops after the first line', () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => `device-${i}`).join('\n')
    assert.deepEqual(piped('gen --batch -c "$SCS"', 'head -1 >/dev/null', ids), { code: '0', stderr: '' })
  })

  it('generate --batch on worker threads: exit 0 when the reader stops after the first line', () => {
    const ids = Array.from({ length: 200_000 }, (_, i) => `device-${i}`).join('\n')
    assert.deepEqual(
      piped('gen --batch -c "$SCS"', 'head -1 >/dev/null', ids, { SAS_TOKEN_BATCH_WORKERS: 'on' }),
      { code: '0', stderr: '' },
    )
  })
})
