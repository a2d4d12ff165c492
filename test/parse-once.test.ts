// Parse once, and trust the result (issue 8): objects from the parser are trusted while they are
// unchanged, a changed object is checked again, quoted text parses, and library messages say
// what was given.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  createTokenSource,
  formatConnectionString,
  mqttCredentials,
  parseConnectionString,
  tokenFromConnectionString,
  type ConnectionString,
} from 'sas-token'
import { hmacToken } from './support/hmac-token.js'

const KEY = 'cGFzc3dvcmQ='
const HOST = 'myhub.azure-devices.net'
const DEVICE_CS = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${KEY}`
const NOW = (1_700_000_000 - 3600) * 1000
const VECTOR = hmacToken(`${HOST}/devices/dev1`, KEY, 1_700_000_000)

describe('parse once', () => {
  it('a parsed object signs, and signs again, the same token', () => {
    const cs = parseConnectionString(DEVICE_CS)
    assert.equal(tokenFromConnectionString(cs, { now: NOW }), VECTOR)
    assert.equal(tokenFromConnectionString(cs, { now: NOW }), VECTOR)
  })

  it('a parsed object changed after parsing is checked again', () => {
    const cs = parseConnectionString(DEVICE_CS) as { deviceId: string } & ConnectionString
    tokenFromConnectionString(cs, { now: NOW })
    cs.deviceId = 'dev#1'
    assert.throws(() => tokenFromConnectionString(cs, { now: NOW }), { code: 'ERR_INVALID_IDENTIFIER' })
    assert.throws(() => mqttCredentials(cs, { now: NOW }), { code: 'ERR_INVALID_IDENTIFIER' })
    cs.deviceId = 'dev2'
    assert.equal(
      tokenFromConnectionString(cs, { now: NOW }),
      hmacToken(`${HOST}/devices/dev2`, KEY, 1_700_000_000),
    )
  })

  it('a changed key is checked again', () => {
    const cs = parseConnectionString(DEVICE_CS) as { sharedAccessKey: string } & ConnectionString
    tokenFromConnectionString(cs, { now: NOW })
    cs.sharedAccessKey = 'not base64!'
    assert.throws(() => tokenFromConnectionString(cs, { now: NOW }), { code: 'ERR_INVALID_KEY' })
  })

  it('a hand-built object is checked on first use, and its change after that too', () => {
    const cs: ConnectionString = { kind: 'device', hostName: HOST, deviceId: 'dev1', sharedAccessKey: KEY }
    assert.equal(tokenFromConnectionString(cs, { now: NOW }), VECTOR)
    const bad = { ...cs, hostName: 'not a host' }
    assert.throws(() => tokenFromConnectionString(bad, { now: NOW }), { code: 'ERR_INVALID_HOST_NAME' })
    assert.throws(() => formatConnectionString(bad), { code: 'ERR_INVALID_HOST_NAME' })
  })

  it('repeated text gives the same token as fresh text', () => {
    for (let i = 0; i < 3; i++) assert.equal(tokenFromConnectionString(DEVICE_CS, { now: NOW }), VECTOR)
    assert.throws(() => tokenFromConnectionString(`${DEVICE_CS};x509=true`, { now: NOW }), {
      code: 'ERR_CONNECTION_STRING_MIXED_AUTH',
    })
    assert.equal(tokenFromConnectionString(DEVICE_CS, { now: NOW }), VECTOR)
  })
})

describe('quoted connection strings (issue 8, defect 5)', () => {
  for (const quote of ['"', "'"]) {
    it(`one pair of ${quote} around the string is removed`, () => {
      const cs = parseConnectionString(`  ${quote}${DEVICE_CS}${quote}\n`)
      assert.equal(cs.deviceId, 'dev1')
      assert.equal(cs.sharedAccessKey, KEY)
      assert.equal(tokenFromConnectionString(`${quote}${DEVICE_CS}${quote}`, { now: NOW }), VECTOR)
    })
  }
  it('mismatched or inner quotes are not removed', () => {
    assert.throws(() => parseConnectionString(`"${DEVICE_CS}'`), {
      code: 'ERR_CONNECTION_STRING_UNKNOWN_KEY',
    })
  })
})

describe('library messages (issue 8, defect 13)', () => {
  it('tokenFromConnectionString(undefined) says what was given and what is accepted', () => {
    assert.throws(
      () => tokenFromConnectionString(undefined as never),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
        assert.match(err.message, /undefined/)
        assert.match(err.message, /text/)
        assert.match(err.message, /parseConnectionString/)
        return true
      },
    )
  })

  it('createTokenSource with ttl 1 blames the ttl, not renewBefore', () => {
    assert.throws(
      () => createTokenSource(DEVICE_CS, { ttl: 1 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_INVALID_TTL')
        assert.match(err.message, /ttl/)
        assert.doesNotMatch(err.message, /renewBefore \d/)
        return true
      },
    )
  })
})
