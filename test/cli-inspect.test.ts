// `sas-token inspect`: tokens and connection strings described, verified, redacted; exit 1 when
// expired or invalid.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cli } from './support/cli.js'
import {
  AT_VECTOR_TIME,
  DEVICE_CS,
  HOST,
  KEY,
  SECRET_FRAGMENT,
  SECRET_KEY,
  SERVICE_CS,
  VECTORS,
} from './support/fixtures.js'

const env = AT_VECTOR_TIME
/** One second after the vectors expire. */
const expiredEnv = { SAS_TOKEN_NOW: '1700000001000' }

describe('inspect: tokens', () => {
  it('describes a device token', async () => {
    const r = await cli(['inspect', VECTORS.device], { env })
    assert.equal(r.code, 0)
    assert.equal(r.stderr, '')
    assert.match(r.stdout, /^type\s+token$/m)
    assert.match(r.stdout, /^kind\s+device$/m)
    assert.match(r.stdout, /^resource\s+myhub\.azure-devices\.net\/devices\/dev1$/m)
    assert.match(r.stdout, /^host\s+myhub\.azure-devices\.net$/m)
    assert.match(r.stdout, /^device\s+dev1$/m)
    assert.match(r.stdout, /^expires\s+2023-11-14T22:13:20\.000Z \(in 1 hour\)$/m)
    assert.match(r.stdout, /^status\s+valid$/m)
  })
  it('describes a module token as JSON', async () => {
    const r = await cli(['inspect', VECTORS.module, '--json'], { env })
    assert.equal(r.code, 0)
    const json = JSON.parse(r.stdout) as { type: string; token: Record<string, unknown> }
    assert.equal(json.type, 'token')
    assert.equal(json.token.kind, 'module')
    assert.equal(json.token.moduleId, 'mod1')
    assert.equal(json.token.expiresAtEpoch, 1_700_000_000)
    assert.equal(json.token.expired, false)
    assert.equal(json.token.signature, 'not checked')
  })
  it('reads the token from stdin with - or with no argument', async () => {
    for (const args of [['inspect', '-'], ['inspect']]) {
      const r = await cli([...args, '--json'], { env, input: `${VECTORS.device}\n` })
      assert.equal(r.code, 0, r.stderr)
      assert.equal((JSON.parse(r.stdout) as { token: { deviceId: string } }).token.deviceId, 'dev1')
    }
  })
  it('--key verifies the signature', async () => {
    const r = await cli(['inspect', VECTORS.device, '--key', KEY], { env })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^signature\s+verified$/m)
    const viaEnv = await cli(['inspect', VECTORS.device, '--key-env', 'K', '--json'], {
      env: { ...env, K: KEY },
    })
    assert.equal((JSON.parse(viaEnv.stdout) as { token: { signature: string } }).token.signature, 'verified')
  })
  it('exit 1 when the signature does not match the key', async () => {
    const r = await cli(['inspect', VECTORS.device, '--key', SECRET_KEY], { env })
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^signature\s+invalid$/m)
    assert.match(r.stderr, /^sas-token: error: the signature does not match/)
    assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT))
    const j = await cli(['inspect', VECTORS.device, '--key', SECRET_KEY, '--json'], { env })
    assert.equal(j.code, 1)
    assert.equal(
      (JSON.parse(j.stderr) as { error: { code: string } }).error.code,
      'ERR_TOKEN_SIGNATURE_MISMATCH',
    )
    assert.equal((JSON.parse(j.stdout) as { token: { signature: string } }).token.signature, 'invalid')
  })
  it('exit 1 when expired, with the report still on stdout', async () => {
    const r = await cli(['inspect', VECTORS.device], { env: expiredEnv })
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^status\s+expired$/m)
    assert.match(r.stdout, /\(1 second ago\)/)
    assert.match(r.stderr, /^sas-token: error: the token expired 1 second ago/)
    const j = await cli(['inspect', VECTORS.device, '--json'], { env: expiredEnv })
    assert.equal(j.code, 1)
    assert.equal((JSON.parse(j.stdout) as { token: { expired: boolean } }).token.expired, true)
    assert.equal((JSON.parse(j.stderr) as { error: { code: string } }).error.code, 'ERR_TOKEN_EXPIRED')
  })
  it('an expired token still verifies its signature', async () => {
    const r = await cli(['inspect', VECTORS.device, '--key', KEY], { env: expiredEnv })
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^signature\s+verified$/m)
  })
  it('warns that a policy token is no device password', async () => {
    const hub = await cli(['inspect', VECTORS.hub], { env })
    assert.equal(hub.code, 0)
    assert.match(hub.stdout, /^kind\s+policy$/m)
    assert.match(hub.stdout, /^key name\s+iothubowner$/m)
    assert.match(
      hub.stderr,
      /^sas-token: warning: this is a hub-level policy token \(skn=iothubowner\); IoT Hub refuses it as a device's MQTT password/,
    )
    const scoped = await cli(['inspect', VECTORS.devicePolicy], { env })
    assert.match(scoped.stderr, /^sas-token: warning: this is a policy token \(skn=iothubowner\)/)
  })
  it('a DPS token', async () => {
    const r = await cli(['inspect', VECTORS.dps, '--json'], { env })
    assert.equal(r.code, 0)
    const t = (JSON.parse(r.stdout) as { token: Record<string, unknown> }).token
    assert.equal(t.kind, 'dps')
    assert.equal(t.idScope, '0ne00000A0A')
    assert.equal(t.registrationId, 'my-device-01')
    assert.equal(r.stderr, '')
  })
})

describe('inspect: connection strings', () => {
  it('shows the fields with the key redacted', async () => {
    const r = await cli(['inspect', `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY}`], { env })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^type\s+connection-string$/m)
    assert.match(r.stdout, /^DeviceId\s+dev1$/m)
    assert.match(r.stdout, /^SharedAccessKey\s+<redacted>$/m)
    assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT))
  })
  it('--show-secrets reveals the key', async () => {
    const r = await cli(['inspect', DEVICE_CS, '--show-secrets', '--json'], { env })
    assert.equal(r.code, 0)
    assert.deepEqual((JSON.parse(r.stdout) as { fields: object }).fields, {
      HostName: HOST,
      DeviceId: 'dev1',
      SharedAccessKey: KEY,
    })
  })
  it('a service string', async () => {
    const r = await cli(['inspect', SERVICE_CS, '--json'], { env })
    assert.deepEqual((JSON.parse(r.stdout) as { fields: object }).fields, {
      HostName: HOST,
      SharedAccessKeyName: 'iothubowner',
      SharedAccessKey: '<redacted>',
    })
  })
  it('a SharedAccessSignature string: fields plus its token, verified', async () => {
    const cs = `HostName=${HOST};DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`
    const r = await cli(['inspect', cs, '--key', KEY, '--json'], { env })
    assert.equal(r.code, 0, r.stderr)
    const json = JSON.parse(r.stdout) as { fields: Record<string, string>; token: Record<string, unknown> }
    assert.equal(json.fields.SharedAccessSignature, '<redacted>')
    assert.equal(json.token.signature, 'verified')
    assert.equal(json.token.deviceId, 'dev1')
    const expired = await cli(['inspect', cs], { env: expiredEnv })
    assert.equal(expired.code, 1)
  })
  it('from stdin', async () => {
    const r = await cli(['inspect', '-'], { env, input: `${DEVICE_CS}\n` })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^HostName\s+myhub\.azure-devices\.net$/m)
  })
})

describe('inspect: bad input', () => {
  const failures: Array<[string, string[]]> = [
    ['garbage', ['inspect', 'garbage']],
    ['a malformed token', ['inspect', 'SharedAccessSignature sr=x&se=12']],
    ['a token with a non-numeric expiry', ['inspect', 'SharedAccessSignature sr=x&sig=abc&se=soon']],
    ['--key for a connection string without a token', ['inspect', DEVICE_CS, '--key', KEY]],
    ['an invalid --key', ['inspect', VECTORS.device, '--key', 'no!']],
  ]
  for (const [what, args] of failures) {
    it(`exit 1: ${what}`, async () => {
      const r = await cli(args, { env })
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /^sas-token: error: /)
    })
  }
  it('exit 2: an unknown option, two key sources', async () => {
    assert.equal((await cli(['inspect', VECTORS.device, '--bogus'])).code, 2)
    assert.equal((await cli(['inspect', VECTORS.device, '--key', KEY, '--key-env', 'X'])).code, 2)
  })
  it('a key in a garbled connection string is never echoed', async () => {
    for (const text of [
      `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY};Bogus=1`,
      `HostName=${HOST};DeviceId=d d;SharedAccessKey=${SECRET_KEY}`,
      `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY}!`,
      `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY};SharedAccessKey=${SECRET_KEY}`,
    ]) {
      for (const extra of [[], ['--json']]) {
        const r = await cli(['inspect', text, ...extra], { env })
        assert.equal(r.code, 1)
        assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT), `${r.stdout}${r.stderr}`)
      }
    }
  })
})
