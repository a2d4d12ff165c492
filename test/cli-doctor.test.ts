// `sas-token doctor`: what the device should send (-c alone), why a CONNECT is refused (exit 1),
// warnings alone (exit 0), usage errors (exit 2), and no key or signature ever printed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cli } from './support/cli.js'
import {
  AT_VECTOR_TIME,
  DERIVED,
  DEVICE_CS,
  GROUP_KEY,
  HOST,
  KEY,
  MODULE_CS,
  SECRET_FRAGMENT,
  SECRET_KEY,
  SERVICE_CS,
  VECTORS,
} from './support/fixtures.js'
import { hmacToken } from './support/hmac-token.js'

const env = AT_VECTOR_TIME
const USER = `${HOST}/dev1/?api-version=2021-04-12`
const DPS_USER = '0ne00000A0A/registrations/my-device-01/api-version=2019-03-31'
/** The signature of the device vector, decoded: it must never be printed. */
const VECTOR_SIG = 'VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY'

interface Report {
  ok: boolean
  expected?: {
    host: string
    port: number
    clientId: string
    username: string
    password: Record<string, unknown> | null
  }
  findings: Array<{ severity: string; code: string; message: string; [fact: string]: unknown }>
}

const report = (stdout: string): Report => JSON.parse(stdout) as Report
const errorOf = (stderr: string): { code: string; message: string } =>
  (JSON.parse(stderr) as { error: { code: string; message: string } }).error

describe('doctor -c alone: what the device should send', () => {
  it('prints the client id, username and a password summary, then checks them', async () => {
    const r = await cli(['doctor', '-c', DEVICE_CS], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    assert.match(r.stdout, /^The device should send:$/m)
    assert.match(r.stdout, /^ {2}host\s+myhub\.azure-devices\.net:8883$/m)
    assert.match(r.stdout, /^ {2}clientId\s+dev1$/m)
    assert.match(r.stdout, /^ {2}username\s+myhub\.azure-devices\.net\/dev1\/\?api-version=2021-04-12$/m)
    assert.match(
      r.stdout,
      /^ {2}password\s+a device token for myhub\.azure-devices\.net\/devices\/dev1, expires 2023-11-14T22:13:20\.000Z \(in 1 hour\)$/m,
    )
    assert.match(r.stdout, /^ok: the hub would accept this CONNECT\.$/m)
    for (const secret of [KEY, VECTOR_SIG, 'sig=']) assert.ok(!r.stdout.includes(secret), secret)
  })
  it('--json: one document, the password described but not shown', async () => {
    const r = await cli(['doctor', '-c', MODULE_CS, '--json'], { env })
    assert.equal(r.code, 0, r.stderr)
    const json = report(r.stdout)
    assert.equal(json.ok, true)
    assert.deepEqual(json.findings, [])
    assert.equal(json.expected?.clientId, 'dev1/mod1')
    assert.equal(json.expected?.username, `${HOST}/dev1/mod1/?api-version=2021-04-12`)
    assert.equal(json.expected?.password?.kind, 'module')
    assert.equal(json.expected?.password?.expiresAtEpoch, 1_700_000_000)
    assert.ok(!('token' in (json.expected?.password ?? {})))
    assert.ok(!r.stdout.includes('sig='))
    assert.ok(!r.stdout.includes(KEY))
  })
  it('an X.509 string: no password expected', async () => {
    const r = await cli(['doctor', '-c', `HostName=${HOST};DeviceId=dev1;x509=true`, '--json'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(report(r.stdout).expected?.password, null)
  })
  it('reads the connection string from stdin or the environment', async () => {
    const stdin = await cli(['doctor', '-c', '-', '--json'], { env, input: `${DEVICE_CS}\n` })
    assert.equal(stdin.code, 0, stdin.stderr)
    assert.equal(report(stdin.stdout).expected?.clientId, 'dev1')
    const fromEnv = await cli(['doctor', '--json'], {
      env: { ...env, IOTHUB_DEVICE_CONNECTION_STRING: DEVICE_CS },
    })
    assert.equal(fromEnv.code, 0, fromEnv.stderr)
    assert.equal(report(fromEnv.stdout).expected?.username, USER)
  })
})

describe('doctor on what a device sends', () => {
  it('a correct CONNECT: exit 0, the password from $IOTHUB_MQTT_PASSWORD, the key from --key-env', async () => {
    const r = await cli(['doctor', '--client-id', 'dev1', '--username', USER, '--key-env', 'DEVICE_KEY'], {
      env: { ...env, IOTHUB_MQTT_PASSWORD: VECTORS.device, DEVICE_KEY: KEY },
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'ok: the hub would accept this CONNECT.\n')
    assert.equal(r.stderr, '')
  })
  it('the password from stdin (--password -) and from --password', async () => {
    const stdin = await cli(
      ['doctor', '--client-id', 'dev1', '--username', USER, '--password', '-', '--key', KEY],
      {
        env,
        input: `${VECTORS.device}\n`,
      },
    )
    assert.equal(stdin.code, 0, stdin.stderr)
    const arg = await cli(
      ['doctor', '--client-id', 'dev1', '--username', USER, '--password', VECTORS.device, '--json'],
      {
        env,
      },
    )
    assert.equal(arg.code, 0, arg.stderr)
    assert.deepEqual(report(arg.stdout), { ok: true, findings: [] })
  })
  it('a refused CONNECT: each finding on stdout, exit 1, a summary on stderr', async () => {
    const r = await cli(
      ['doctor', '--client-id', 'dev2', '--username', `${HOST}/dev1/`, '--password', VECTORS.module],
      { env: { SAS_TOKEN_NOW: String((1_700_000_000 + 600) * 1000) } },
    )
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^error: ERR_USERNAME_API_VERSION_MISSING: /m)
    assert.match(r.stdout, /^error: ERR_CLIENT_ID_MISMATCH: The clientId "dev2" /m)
    assert.match(r.stdout, /^error: ERR_TOKEN_MODULE_FOR_DEVICE: /m)
    assert.match(
      r.stdout,
      /^error: ERR_TOKEN_EXPIRED: .*10 minutes ago.*300 s of clock skew.*Device clock\?/m,
    )
    assert.equal(
      r.stderr,
      'sas-token: error: the hub would refuse this CONNECT: 4 errors (ERR_USERNAME_API_VERSION_MISSING, ERR_CLIENT_ID_MISMATCH, ERR_TOKEN_MODULE_FOR_DEVICE, ERR_TOKEN_EXPIRED).\n',
    )
  })
  it('a password whose sig is a literal "…" is explained in sentences, without a stray ".:"', async () => {
    const password = `SharedAccessSignature sr=${encodeURIComponent(`${HOST}/devices/dev1`)}&sig=…&se=1700000000`
    const r = await cli(['doctor', '--client-id', 'dev1', '--username', USER, '--password', '-'], {
      env,
      input: `${password}\n`,
    })
    assert.equal(r.code, 1)
    assert.match(
      r.stdout,
      /^error: ERR_PASSWORD_NOT_SAS_TOKEN: The password is not a SAS token\. The SAS token is malformed: 'sig' is not a base64 HMAC-SHA256 signature\. The password must be a SAS token, /m,
    )
    assert.ok(!r.stdout.includes('.:'), r.stdout)
  })
  it('--json: the findings as a document on stdout, the error on stderr', async () => {
    const r = await cli(
      ['doctor', '--client-id', 'dev1', '--username', USER, '--password', VECTORS.device, '--json'],
      {
        env: { SAS_TOKEN_NOW: String((1_700_000_000 + 600) * 1000) },
      },
    )
    assert.equal(r.code, 1)
    const json = report(r.stdout)
    assert.equal(json.ok, false)
    assert.equal(json.findings.length, 1)
    assert.equal(json.findings[0]?.code, 'ERR_TOKEN_EXPIRED')
    assert.equal(json.findings[0]?.expiresIn, -600)
    assert.equal(errorOf(r.stderr).code, 'ERR_TOKEN_EXPIRED')
  })
  it('a wrong key: the signature is named and the key never printed', async () => {
    for (const args of [
      ['--key', SECRET_KEY],
      ['--key-env', 'K'],
    ]) {
      const r = await cli(
        ['doctor', '--client-id', 'dev1', '--username', USER, '--password', VECTORS.device, ...args],
        {
          env: { ...env, K: SECRET_KEY },
        },
      )
      assert.equal(r.code, 1)
      assert.match(r.stdout, /^error: ERR_TOKEN_SIGNATURE_MISMATCH: /m)
      assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT))
    }
  })
  it('a key sent as the password is never echoed', async () => {
    const r = await cli(
      ['doctor', '--client-id', 'dev1', '--username', USER, '--password', SECRET_KEY, '--json'],
      {
        env,
      },
    )
    assert.equal(r.code, 1)
    assert.equal(report(r.stdout).findings[0]?.code, 'ERR_PASSWORD_NOT_SAS_TOKEN')
    assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT))
  })
  it('warnings alone exit 0: a policy token checked with the service string', async () => {
    const r = await cli(['doctor', '-c', SERVICE_CS, '--client-id', 'dev1', '--username', USER], {
      env: { ...env, IOTHUB_MQTT_PASSWORD: VECTORS.devicePolicy },
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^warning: WARN_POLICY_TOKEN: .*iothubowner/m)
    assert.equal(r.stderr, '')
  })
  it('--renew-after: a token that expires before the renewal is a warning', async () => {
    const r = await cli(
      [
        'doctor',
        '--client-id',
        'dev1',
        '--username',
        USER,
        '--password',
        VECTORS.device,
        '--renew-after',
        '2h',
      ],
      { env },
    )
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^warning: WARN_TOKEN_EXPIRES_BEFORE_RENEWAL: /m)
  })
  it('DPS: the group key derives the device key, and a token signed with the group key is named', async () => {
    const base = [
      'doctor',
      '--client-id',
      'my-device-01',
      '--username',
      DPS_USER,
      '--id-scope',
      '0ne00000A0A',
    ]
    const ok = await cli([...base, '--password', VECTORS.dps, '--group-key', GROUP_KEY], { env })
    assert.equal(ok.code, 0, ok.stdout)
    const derived = await cli([...base, '--password', VECTORS.dps, '--key', DERIVED['my-device-01']], { env })
    assert.equal(derived.code, 0, derived.stdout)
    const raw = hmacToken('0ne00000A0A/registrations/my-device-01', GROUP_KEY, 1_700_000_000, 'registration')
    const bad = await cli([...base, '--password', raw, '--group-key', GROUP_KEY], { env })
    assert.equal(bad.code, 1)
    assert.match(bad.stdout, /^error: ERR_TOKEN_SIGNED_WITH_GROUP_KEY: /m)
    assert.ok(!`${bad.stdout}${bad.stderr}`.includes(GROUP_KEY.slice(0, 16)))
  })
  it('a connection string with an expired SharedAccessSignature still checks the CONNECT given', async () => {
    const cs = `HostName=${HOST};DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`
    const late = { SAS_TOKEN_NOW: String((1_700_000_000 + 600) * 1000) }
    const r = await cli(
      ['doctor', '-c', cs, '--client-id', 'dev1', '--username', USER, '--password', VECTORS.device, '--json'],
      {
        env: late,
      },
    )
    assert.equal(r.code, 1)
    const json = report(r.stdout)
    assert.equal(json.expected, undefined)
    assert.deepEqual(
      json.findings.map((f) => f.code),
      ['ERR_TOKEN_EXPIRED'],
    )
    const alone = await cli(['doctor', '-c', cs, '--json'], { env: late })
    assert.equal(alone.code, 1)
    assert.equal(errorOf(alone.stderr).code, 'ERR_TOKEN_EXPIRED')
  })
  it('--clock-skew 0: a token one second past se is refused', async () => {
    const late = { SAS_TOKEN_NOW: String((1_700_000_000 + 1) * 1000) }
    const base = ['doctor', '--client-id', 'dev1', '--username', USER, '--password', VECTORS.device]
    assert.equal((await cli(base, { env: late })).code, 0, 'within the default 300 s it is a warning')
    const r = await cli([...base, '--clock-skew', '0'], { env: late })
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^error: ERR_TOKEN_EXPIRED: .*0 s of clock skew/m)
  })
  it('--host names the hub', async () => {
    const r = await cli(
      [
        'doctor',
        '--client-id',
        'dev1',
        '--username',
        USER,
        '--password',
        VECTORS.device,
        '--host',
        'other.azure-devices.net',
      ],
      { env },
    )
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^error: ERR_USERNAME_HOST_MISMATCH: /m)
  })
})

describe('doctor: usage and input errors', () => {
  const usage = async (args: string[], input?: string) => {
    const r = await cli(['doctor', ...args], { env, ...(input !== undefined && { input }) })
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /^sas-token: error: /)
    assert.equal(r.stdout, '')
    return r
  }
  it('exit 2 for nothing to check, half a CONNECT, two stdin readers, conflicting keys', async () => {
    await usage([])
    await usage(['--client-id', 'dev1'])
    await usage(['--username', USER, '--password', VECTORS.device])
    await usage(['-c', '-', '--client-id', 'dev1', '--username', USER, '--password', '-'], DEVICE_CS)
    await usage(['-c', DEVICE_CS, '--key', KEY])
    await usage(['-c', DEVICE_CS, '--clock-skew', 'soon'])
    await usage(['-c', DEVICE_CS, '--clock-skew', '-1'])
    const service = await usage(['-c', SERVICE_CS])
    assert.match(service.stderr, /device or module connection string/)
  })
  it('--json usage errors are {"error":{"code":"ERR_USAGE"}}', async () => {
    const r = await cli(['doctor', '--json'], { env })
    assert.equal(r.code, 2)
    assert.equal(errorOf(r.stderr).code, 'ERR_USAGE')
  })
  it('a bad key or connection string: exit 1 with its code, the key not echoed', async () => {
    const key = await cli(
      ['doctor', '--client-id', 'dev1', '--username', USER, '--key', `${SECRET_KEY}x`, '--json'],
      {
        env,
      },
    )
    assert.equal(key.code, 1)
    assert.equal(errorOf(key.stderr).code, 'ERR_INVALID_KEY')
    assert.ok(!key.stderr.includes(SECRET_FRAGMENT))
    const cs = await cli(['doctor', '-c', `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY}x`], {
      env,
    })
    assert.equal(cs.code, 1)
    assert.ok(!cs.stderr.includes(SECRET_FRAGMENT))
  })
  it('is listed in --help', async () => {
    const r = await cli(['--help'])
    assert.match(r.stdout, /doctor\s+Explain why IoT Hub or DPS would refuse/)
  })
})
