// How the CLI fails (issue 8): one line and exit 1 when stdout cannot be written, no fragment of
// a key in any message, errors that name the environment variable a value came from, the
// command list for a bare `sas-token`, codes of the CLI's own, and facts as JSON fields.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { describe, it } from 'node:test'
import { BIN, cleanEnv, cli } from './support/cli.js'
import {
  AT_VECTOR_TIME,
  DEVICE_CS,
  FUTURE_SE,
  GROUP_KEY,
  HOST,
  KEY,
  SECRET_KEY,
  SERVICE_CS,
  VECTORS,
} from './support/fixtures.js'

const env = AT_VECTOR_TIME

/** Every substring of `secret` of `n` characters. */
function fragments(secret: string, n = 12): string[] {
  return Array.from({ length: secret.length - n + 1 }, (_, i) => secret.slice(i, i + n))
}

function assertNoFragment(text: string, secret: string): void {
  for (const fragment of fragments(secret))
    assert.ok(!text.includes(fragment), `leaked ${fragment} in: ${text}`)
}

describe('a stdout that cannot be written (issue 8, defect 3)', () => {
  const runs: Array<[string, string[], string?]> = [
    ['generate', ['gen', '-c', DEVICE_CS]],
    ['inspect', ['inspect', VECTORS.device]],
    ['mqtt', ['mqtt', '-c', DEVICE_CS]],
    ['topic', ['topic', '--device-id', 'dev1']],
    ['derive-key', ['derive-key', '--group-key', GROUP_KEY, '--registration-id', 'dev1']],
    ['generate --batch', ['gen', '--batch', '-c', SERVICE_CS], 'dev1\ndev2\n'],
    // yargs prints these through console.log, which drops write errors (issue 15, item 9).
    ['--help', ['--help']],
    ['generate --help', ['gen', '--help']],
    ['hub devices add --help', ['hub', 'devices', 'add', '--help']],
    ['--version', ['--version']],
    ['completion', ['completion']],
  ]
  it('generate --json > /dev/full: the error as JSON, exit 1', () => {
    const full = openSync('/dev/full', 'w')
    try {
      const r = spawnSync(process.execPath, [BIN, 'gen', '-c', DEVICE_CS, '--json'], {
        env: cleanEnv(env),
        stdio: ['pipe', full, 'pipe'],
        encoding: 'utf8',
      })
      assert.equal(r.status, 1, r.stderr)
      const error = (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error
      assert.deepEqual(
        { code: error.code, errno: error.errno },
        { code: 'ERR_STDOUT_WRITE', errno: 'ENOSPC' },
      )
    } finally {
      closeSync(full)
    }
  })
  for (const [what, args, input] of runs) {
    it(`${what} > /dev/full: one line, exit 1`, () => {
      const full = openSync('/dev/full', 'w')
      try {
        const r = spawnSync(process.execPath, [BIN, ...args], {
          env: cleanEnv(env),
          input: input ?? '',
          stdio: ['pipe', full, 'pipe'],
          encoding: 'utf8',
        })
        assert.equal(r.status, 1, r.stderr)
        assert.equal(r.stderr, 'sas-token: error: cannot write to stdout (ENOSPC).\n')
      } finally {
        closeSync(full)
      }
    })
  }
})

describe('no fragment of a key in any message (issue 8, defect 4)', () => {
  const parts = ['gen', '--host', 'h.azure-devices.net', '--device-id', 'd', '--key', SECRET_KEY]
  for (const [what, args] of [
    ['--ttl holding the key', [...parts, '--ttl', SECRET_KEY]],
    ['--ttl holding the key, JSON', [...parts, '--ttl', SECRET_KEY, '--json']],
    ['--expires-at holding the key', [...parts, '--expires-at', SECRET_KEY]],
    ['--expires-at holding the key, JSON', [...parts, '--expires-at', SECRET_KEY, '--json']],
    ['--ttl holding the key without its padding', [...parts, '--ttl', SECRET_KEY.replace(/=+$/, '')]],
    [
      '-c with --ttl holding the key',
      [
        'gen',
        '-c',
        `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY}`,
        '--ttl',
        `x${SECRET_KEY}`,
      ],
    ],
  ] as const) {
    it(what, async () => {
      const r = await cli(args, { env })
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /ERR_INVALID_TTL|ERR_INVALID_EXPIRY|TTL|expiry/)
      assertNoFragment(r.stdout + r.stderr, SECRET_KEY)
    })
  }

  it('a base64url form of the key is scrubbed too', async () => {
    const key = Buffer.alloc(32, 0xbe).toString('base64') // vr6+vr6+…: has + to re-encode
    const url = key.replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_')
    assert.notEqual(url, key)
    const r = await cli(['gen', '--host', HOST, '--device-id', 'dev1', '--key', key, url], { env })
    assert.equal(r.code, 2)
    assertNoFragment(r.stderr, url)
    assertNoFragment(r.stderr, key)
  })
})

describe('errors name where a value came from (issue 8, defect 6)', () => {
  it('a bad connection string from $IOTHUB_DEVICE_CONNECTION_STRING', async () => {
    const r = await cli(['gen'], {
      env: { ...env, IOTHUB_DEVICE_CONNECTION_STRING: `HostName=${HOST};DeviceId=dev1` },
    })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /IOTHUB_DEVICE_CONNECTION_STRING/)
    const j = await cli(['gen', '--json'], { env: { ...env, IOTHUB_CONNECTION_STRING: 'HostName=x' } })
    const error = (JSON.parse(j.stderr) as { error: { code: string; message: string; source?: string } })
      .error
    assert.equal(error.code, 'ERR_CONNECTION_STRING_MISSING_KEY')
    assert.equal(error.source, '$IOTHUB_CONNECTION_STRING')
  })

  it('a bad key from --key-env', async () => {
    const r = await cli(['gen', '--host', HOST, '--device-id', 'dev1', '--key-env', 'MY_DEVICE_KEY'], {
      env: { ...env, MY_DEVICE_KEY: 'not base64!' },
    })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /MY_DEVICE_KEY/)
    assert.match(r.stderr, /base64/)
  })
})

describe('a bare sas-token (issue 8, defect 8)', () => {
  for (const args of [[], ['-v'], ['-V']]) {
    it(`sas-token ${args.join(' ')}: the command list on stderr, exit 2`, async () => {
      const r = await cli(args, { env })
      assert.equal(r.code, 2)
      assert.equal(r.stdout, '')
      for (const command of ['generate', 'inspect', 'mqtt', 'derive-key', 'topic', 'completion'])
        assert.match(r.stderr, new RegExp(`sas-token ${command}\\b`), r.stderr)
    })
  }
})

describe('completion and help (issue 8, defect 14)', () => {
  it('completion --help prints help, not the script', async () => {
    const r = await cli(['completion', '--help'], { env })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /completion/)
    assert.doesNotMatch(r.stdout, /complete -o|compdef|_sas_token|COMP_WORDS/)
  })

  it('completion offers -c and -i, never --c or --i', async () => {
    const r = await cli(['--get-yargs-completions', 'generate', '--'], { env })
    const offered = r.stdout.trim().split('\n')
    assert.ok(offered.includes('--connection-string'), r.stdout)
    for (const bad of ['--c', '--i', '--f', '--h'])
      assert.ok(!offered.includes(bad), `${bad} offered: ${r.stdout}`)
  })

  it('generate --help at 80 columns: no line wraps, every example command whole', async () => {
    const r = await cli(['generate', '--help'], { env })
    assert.equal(r.code, 0)
    for (const line of r.stdout.split('\n')) assert.ok(line.length <= 80, `too long: ${line}`)
    assert.ok(
      r.stdout.includes('sas-token gen --host myhub.azure-devices.net --device-id dev1 \\\n'),
      r.stdout,
    )
    assert.ok(r.stdout.includes('--key-env DEVICE_KEY --format connection-string\n'), r.stdout)
  })
})

describe('coming from az (issue 8, defect 15)', () => {
  for (const flag of ['--duration', '--du']) {
    it(`${flag} is --ttl in seconds`, async () => {
      const r = await cli(['gen', '-c', DEVICE_CS, flag, '3600'], { env })
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, `${VECTORS.device}\n`)
    })
  }
})

describe('a SharedAccessSignature= connection string (issue 8, expiry passed through)', () => {
  const cs = `HostName=${HOST};DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`
  it('with no expiry asked for, generate prints its token, as the core does', async () => {
    const r = await cli(['gen', '-c', cs], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `${VECTORS.device}\n`)
    const j = await cli(['gen', '-c', cs, '--json'], { env })
    assert.equal((JSON.parse(j.stdout) as { expiresAtEpoch: number }).expiresAtEpoch, 1_700_000_000)
  })
  it('with --ttl, a clear error', async () => {
    const r = await cli(['gen', '-c', cs, '--ttl', '2h', '--json'], { env })
    assert.equal(r.code, 1)
    const error = (JSON.parse(r.stderr) as { error: { code: string; message: string; option?: string } })
      .error
    assert.equal(error.code, 'ERR_KEY_REQUIRED')
    assert.equal(error.option, 'ttl')
    assert.match(error.message, /SharedAccessSignature/)
  })
})

describe('CLI error codes of their own, facts as fields (issue 8)', () => {
  it('an unreadable --key-file: ERR_KEY_FILE_UNREADABLE with path and errno', async () => {
    const r = await cli(
      ['gen', '--host', HOST, '--device-id', 'dev1', '--key-file', '/nonexistent/key', '--json'],
      { env },
    )
    assert.equal(r.code, 1)
    const error = (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error
    assert.deepEqual(
      { code: error.code, path: error.path, errno: error.errno },
      { code: 'ERR_KEY_FILE_UNREADABLE', path: '/nonexistent/key', errno: 'ENOENT' },
    )
  })
  it('an unset --key-env: ERR_KEY_ENV_UNSET naming the variable', async () => {
    const r = await cli(
      ['gen', '--host', HOST, '--device-id', 'dev1', '--key-env', 'SURELY_UNSET', '--json'],
      { env },
    )
    const error = (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error
    assert.equal(error.code, 'ERR_KEY_ENV_UNSET')
    assert.equal(error.variable, 'SURELY_UNSET')
  })
  it('an expiry in the past carries the expiry as a field', async () => {
    const r = await cli(['gen', '-c', DEVICE_CS, '--expires-at', '1600000000', '--json'], { env })
    const error = (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error
    assert.equal(error.code, 'ERR_EXPIRY_IN_PAST')
    assert.equal(error.expiresAt, 1_600_000_000)
    assert.equal(error.option, 'expiresAt')
  })
  it('a TTL of 0 names the option', async () => {
    const r = await cli(['gen', '-c', DEVICE_CS, '--ttl', '0', '--json'], { env })
    const error = (JSON.parse(r.stderr) as { error: Record<string, unknown> }).error
    assert.equal(error.code, 'ERR_INVALID_TTL')
    assert.equal(error.option, 'ttl')
  })
  it('a future expiry still works (control)', async () => {
    const r = await cli(['gen', '-c', DEVICE_CS, '--expires-at', String(FUTURE_SE)], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`&se=${FUTURE_SE}\\n$`))
    assert.ok(!r.stdout.includes(KEY))
  })
})
