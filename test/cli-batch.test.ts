// `sas-token generate --batch`: many tokens from stdin as NDJSON or CSV; bad lines in the middle
// give error records and a non-zero exit at the end, and never stop the others.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sdk } from './support/sdk.js'
import {
  AT_VECTOR_TIME,
  cli,
  DEVICE_CS,
  FUTURE_SE,
  GROUP_KEY,
  HOST,
  KEY,
  SECRET_FRAGMENT,
  SECRET_KEY,
  SERVICE_CS,
  VECTORS,
} from './support/cli.js'

const env = AT_VECTOR_TIME

/** The policy token the service SDK would sign for a device or module. */
function policyToken(deviceId: string, expiry: number, moduleId?: string): string {
  const resource = `${HOST}/devices/${deviceId}${moduleId === undefined ? '' : `/modules/${moduleId}`}`
  const token = sdk.SharedAccessSignature.create(
    sdk.encodeUriComponentStrict(resource),
    'iothubowner',
    KEY,
    expiry,
  ).toString()
  // azure-iot-common puts skn before se; our wire order puts skn last (DESIGN.md), the signature is the same.
  const fields = new URLSearchParams(token.slice('SharedAccessSignature '.length))
  return `SharedAccessSignature sr=${sdk.encodeUriComponentStrict(resource)}&sig=${encodeURIComponent(fields.get('sig') ?? '')}&se=${expiry}&skn=iothubowner`
}

function ndjson(stdout: string): Array<Record<string, unknown>> {
  assert.ok(stdout.endsWith('\n'))
  return stdout
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('generate --batch', () => {
  it('device ids with a service string, bad lines in the middle: NDJSON', async () => {
    const input = ['dev1', 'dev#2', '', 'dev1/mod1', 'has space', 'dev-5', ''].join('\n')
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS], { env, input })
    assert.equal(r.code, 1)
    const records = ndjson(r.stdout)
    assert.equal(records.length, 5, 'one record per non-empty line')
    assert.deepEqual(records[0], {
      line: 1,
      deviceId: 'dev1',
      token: VECTORS.devicePolicy,
      expiresAt: '2023-11-14T22:13:20.000Z',
    })
    assert.equal(records[1]?.line, 2)
    assert.equal(records[1]?.input, 'dev#2')
    assert.equal((records[1]?.error as { code: string }).code, 'ERR_INVALID_IDENTIFIER')
    assert.deepEqual(records[2], {
      line: 4,
      deviceId: 'dev1',
      moduleId: 'mod1',
      token: policyToken('dev1', 1_700_000_000, 'mod1'),
      expiresAt: '2023-11-14T22:13:20.000Z',
    })
    assert.equal(records[3]?.line, 5)
    assert.ok('error' in (records[3] ?? {}))
    assert.equal(records[4]?.token, policyToken('dev-5', 1_700_000_000))
    assert.match(r.stderr, /2 of 5 lines failed/) // blank lines are not counted (issue 8, defect 12)
  })
  it('all good lines: exit 0, nothing on stderr', async () => {
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS, '--expires-at', String(FUTURE_SE)], {
      input: 'a\nb\r\nc',
    })
    assert.equal(r.code, 0)
    assert.equal(r.stderr, '')
    assert.deepEqual(
      ndjson(r.stdout).map((x) => x.token),
      ['a', 'b', 'c'].map((id) => policyToken(id, FUTURE_SE)),
    )
  })
  it('--format csv', async () => {
    const r = await cli(['gen', '--batch', '-c', SERVICE_CS, '--format', 'csv'], {
      env,
      input: 'dev1\ndev,2#\n',
    })
    assert.equal(r.code, 1)
    const [header, ok, bad, end] = r.stdout.split('\n')
    assert.equal(header, 'line,deviceId,moduleId,token,expiresAt,error')
    assert.equal(ok, `1,dev1,,${VECTORS.devicePolicy},2023-11-14T22:13:20.000Z,`)
    assert.match(bad ?? '', /^2,"dev,2#",,,,"ERR_INVALID_IDENTIFIER: /)
    assert.equal(end, '')
  })
  it('--json is NDJSON too', async () => {
    const r = await cli(['gen', '--batch', '--json', '-c', SERVICE_CS], { env, input: 'dev1\n' })
    assert.equal(ndjson(r.stdout)[0]?.token, VECTORS.devicePolicy)
  })
  it('parts with --key-name sign device ids too', async () => {
    const r = await cli(['gen', '--batch', '--host', HOST, '--key-name', 'iothubowner', '--key', KEY], {
      env,
      input: 'dev1\n',
    })
    assert.equal(r.code, 0)
    assert.equal(ndjson(r.stdout)[0]?.token, VECTORS.devicePolicy)
  })
  it('connection strings, one per line (no identity given); a bad line never echoes its key', async () => {
    const input = [
      DEVICE_CS,
      `HostName=${HOST};DeviceId=dev2;SharedAccessKey=${SECRET_KEY}!`,
      `HostName=${HOST};DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${KEY}`,
    ].join('\n')
    const r = await cli(['gen', '--batch'], { env, input })
    assert.equal(r.code, 1)
    const records = ndjson(r.stdout)
    assert.deepEqual(records[0], {
      line: 1,
      deviceId: 'dev1',
      token: VECTORS.device,
      expiresAt: '2023-11-14T22:13:20.000Z',
    })
    assert.equal((records[1]?.error as { code: string }).code, 'ERR_INVALID_KEY')
    assert.equal(records[1]?.input, undefined)
    assert.equal(records[2]?.token, VECTORS.module)
    assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT))
  })
  describe('a line that holds a key is never echoed, in id mode either', () => {
    // A service string or a device connection string pasted where device ids are read.
    const secretLines = [
      `HostName=${HOST};DeviceId=dev2;SharedAccessKey=${SECRET_KEY}`,
      `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${SECRET_KEY}`,
      `key ${SECRET_KEY}`,
      `dev1/${SECRET_KEY}#`,
      `SharedAccessSignature sr=x&sig=${SECRET_KEY}&se=1`,
    ]
    const secret = SECRET_KEY.replace(/=+$/, '')
    const jobs: Array<[string, string[], Record<string, string>?]> = [
      ['service string, NDJSON', ['gen', '--batch', '-c', SERVICE_CS]],
      ['service string, CSV', ['gen', '--batch', '-c', SERVICE_CS, '--format', 'csv']],
      ['DPS group key', ['gen', '--batch', '--dps', '--id-scope', '0ne00000A0A', '--group-key', GROUP_KEY]],
      ['derive-key', ['derive-key', '--batch', '--group-key', GROUP_KEY]],
      // With no identity given, --batch reads connection strings: $IOTHUB_CONNECTION_STRING must
      // not turn the lines into device ids.
      [
        'no identity, a service string in the environment',
        ['gen', '--batch'],
        { IOTHUB_CONNECTION_STRING: SERVICE_CS },
      ],
    ]
    for (const [what, args, extraEnv] of jobs) {
      it(what, async () => {
        for (const line of secretLines) {
          const r = await cli(args, { env: { ...env, ...extraEnv }, input: `ok-1\n${line}\n` })
          assert.equal(r.code, 1, `${line}: ${r.stderr}`)
          assert.match(r.stderr, /1 of 2 lines failed|2 of 2 lines failed/)
          assert.ok(
            !`${r.stdout}${r.stderr}`.includes(secret),
            `key leaked for ${line}: ${r.stdout}${r.stderr}`,
          )
        }
      })
    }
    it('no identity and $IOTHUB_CONNECTION_STRING: the lines are read as connection strings', async () => {
      const r = await cli(['gen', '--batch'], {
        env: { ...env, IOTHUB_CONNECTION_STRING: SERVICE_CS },
        input: `${DEVICE_CS}\ndev1\n`,
      })
      assert.equal(r.code, 1)
      const records = ndjson(r.stdout)
      assert.deepEqual(records[0], {
        line: 1,
        deviceId: 'dev1',
        token: VECTORS.device,
        expiresAt: '2023-11-14T22:13:20.000Z',
      })
      assert.equal((records[1]?.error as { code: string }).code, 'ERR_CONNECTION_STRING_SYNTAX')
    })
    it('a bad id with no key in it is still echoed', async () => {
      const r = await cli(['gen', '--batch', '-c', SERVICE_CS], { env, input: 'dev#2\n' })
      assert.equal(ndjson(r.stdout)[0]?.input, 'dev#2')
    })
  })
  it('DPS registration ids with a group key', async () => {
    const r = await cli(['gen', '--batch', '--dps', '--id-scope', '0ne00000A0A', '--group-key', GROUP_KEY], {
      env,
      input: 'my-device-01\nbad/id\n',
    })
    assert.equal(r.code, 1)
    const records = ndjson(r.stdout)
    assert.deepEqual(records[0], {
      line: 1,
      registrationId: 'my-device-01',
      token: VECTORS.dps,
      expiresAt: '2023-11-14T22:13:20.000Z',
    })
    assert.equal(records[1]?.input, 'bad/id')
  })
  it('many ids, cross-checked with azure-iot-common', async () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `device-${i}`)
    const r = await cli(
      [
        'gen',
        '--batch',
        '--host',
        HOST,
        '--key-name',
        'iothubowner',
        '--key',
        KEY,
        '--format',
        'csv',
        '--expires-at',
        String(FUTURE_SE),
      ],
      { input: `${ids.join('\n')}\n` },
    )
    assert.equal(r.code, 0)
    const rows = r.stdout.trim().split('\n').slice(1)
    assert.equal(rows.length, ids.length)
    for (const i of [0, 1, 4_999, 19_999])
      assert.equal(rows[i]?.split(',')[3], policyToken(ids[i] as string, FUTURE_SE))
  })
  it('exit 2: a device identity, a single-token format, -c -, --interactive or --copy', async () => {
    for (const args of [
      ['gen', '--batch', '-c', DEVICE_CS],
      ['gen', '--batch', '-c', SERVICE_CS, '--format', 'token'],
      ['gen', '--batch', '-c', '-'],
      ['gen', '--batch', '-c', SERVICE_CS, '--device-id', 'dev1'],
      [
        'gen',
        '--batch',
        '--dps',
        '--id-scope',
        '0ne00000A0A',
        '--registration-id',
        'x',
        '--group-key',
        GROUP_KEY,
      ],
      ['gen', '--batch', '--dps', '--id-scope', '0ne00000A0A', '--key', KEY],
      ['gen', '--batch', '-i'],
      ['gen', '--batch', '--copy', '-c', SERVICE_CS],
    ]) {
      const r = await cli(args, { env, input: 'dev1\n' })
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stdout, '')
    }
  })
})
