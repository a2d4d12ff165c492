import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  assertDeviceId,
  assertHostName,
  assertRegistrationId,
  decodeKey,
  deriveDeviceKey,
  parseExpiresAt,
  parseTtl,
  resolveExpiry,
  type SasTokenError,
} from 'sas-token'

describe('parseTtl', () => {
  it('reads seconds and unit text', () => {
    assert.equal(parseTtl(3600), 3600)
    assert.equal(parseTtl('3600'), 3600)
    assert.equal(parseTtl('90s'), 90)
    assert.equal(parseTtl('15m'), 15 * 60)
    assert.equal(parseTtl('24h'), 24 * 60 * 60)
    assert.equal(parseTtl('7d'), 7 * 24 * 60 * 60)
    assert.equal(parseTtl('365d'), 365 * 86400)
  })
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '0s', '-5m', '1w', '1.5h', 'h', '', '10 minutes']) {
    it(`rejects ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseTtl(bad), { code: 'ERR_INVALID_TTL' }))
  }
})

describe('resolveExpiry', () => {
  const now = 1_700_000_000_500 // ms, with a fraction of a second
  it('floors now and adds the TTL; defaults to one hour', () => {
    assert.equal(resolveExpiry({ now }), 1_700_000_000 + 3600)
    assert.equal(resolveExpiry({ now, ttl: '1m' }), 1_700_000_060)
    assert.equal(resolveExpiry({ now: new Date(now), ttl: 1 }), 1_700_000_001)
  })
  it('takes an absolute expiry in seconds or as a Date', () => {
    assert.equal(resolveExpiry({ now, expiresAt: 1_800_000_000 }), 1_800_000_000)
    assert.equal(resolveExpiry({ now, expiresAt: new Date(1_800_000_000_999) }), 1_800_000_000)
    assert.equal(resolveExpiry({ now, expiresAt: 1_700_000_001 }), 1_700_000_001)
  })
  it('gives each classic mistake its own code', () => {
    assert.throws(() => resolveExpiry({ now, expiresAt: 1_800_000_000_000 }), {
      code: 'ERR_EXPIRY_IN_MILLISECONDS',
    })
    assert.throws(() => resolveExpiry({ now, expiresAt: 1_699_999_999 }), { code: 'ERR_EXPIRY_IN_PAST' })
    // Equal to now (floored, or as a Date) would be born expired: that is TTL 0.
    assert.throws(() => resolveExpiry({ now, expiresAt: 1_700_000_000 }), { code: 'ERR_EXPIRY_IN_PAST' })
    assert.throws(() => resolveExpiry({ now, expiresAt: new Date(now) }), { code: 'ERR_EXPIRY_IN_PAST' })
    assert.throws(() => resolveExpiry({ now, expiresAt: -1 }), { code: 'ERR_INVALID_EXPIRY' })
    assert.throws(() => resolveExpiry({ now, expiresAt: 1_800_000_000.5 }), { code: 'ERR_INVALID_EXPIRY' })
    assert.throws(() => resolveExpiry({ now, expiresAt: Number.POSITIVE_INFINITY }), {
      code: 'ERR_INVALID_EXPIRY',
    })
    assert.throws(() => resolveExpiry({ now, expiresAt: new Date('nope') }), { code: 'ERR_INVALID_EXPIRY' })
    assert.throws(() => resolveExpiry({ now, ttl: 0 }), { code: 'ERR_INVALID_TTL' })
    assert.throws(() => resolveExpiry({ now, ttl: 60, expiresAt: 1_800_000_000 }), {
      code: 'ERR_EXPIRY_CONFLICT',
    })
    assert.throws(() => resolveExpiry({ now: Number.NaN }), { code: 'ERR_INVALID_NOW' })
  })
  it('refuses clocks and TTLs that cannot be right', () => {
    assert.throws(() => resolveExpiry({ now: 1_700_000_000 }), /looks like epoch seconds/) // seconds passed as ms
    assert.throws(() => resolveExpiry({ now: -1 }), { code: 'ERR_INVALID_NOW' })
    assert.throws(() => resolveExpiry({ now: 1e300 }), { code: 'ERR_INVALID_NOW' })
    assert.throws(() => resolveExpiry({ now, ttl: 1e11 }), { code: 'ERR_INVALID_TTL' })
    assert.throws(() => resolveExpiry({ now, ttl: Number.MAX_SAFE_INTEGER }), { code: 'ERR_INVALID_TTL' })
    assert.throws(() => resolveExpiry({ now, ttl: 99_000_000_000 }), { code: 'ERR_INVALID_TTL' })
    assert.throws(() => resolveExpiry(null as never), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => parseTtl('0s'), /TTL "0s"/)
  })
  it('uses the real clock when none is injected', () => {
    const before = Math.floor(Date.now() / 1000)
    const se = resolveExpiry({ ttl: 10 })
    assert.ok(se >= before + 10 && se <= Math.floor(Date.now() / 1000) + 10)
  })
})

describe('parseExpiresAt', () => {
  it('reads epoch seconds and ISO 8601 dates with a zone', () => {
    assert.equal(parseExpiresAt('1893456000'), 1893456000)
    assert.equal((parseExpiresAt('2030-01-01') as Date).getTime(), Date.UTC(2030, 0, 1))
    assert.equal((parseExpiresAt('2030-01-01T00:00Z') as Date).getTime(), Date.UTC(2030, 0, 1))
    assert.equal((parseExpiresAt('2030-01-01T02:00:00+02:00') as Date).getTime(), Date.UTC(2030, 0, 1))
    assert.equal(
      (parseExpiresAt('2028-02-29T12:00:00.5Z') as Date).getTime(),
      Date.UTC(2028, 1, 29, 12, 0, 0, 500),
    )
  })
  for (const bad of [
    '2030-02-30',
    '2029-02-29',
    '2030-13-01',
    '2030-00-10',
    '2030-01-01T00:00',
    '2030-01-01T25:00Z',
    'tomorrow',
    '',
    '1e9',
    '-5',
  ]) {
    it(`refuses ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseExpiresAt(bad), { code: 'ERR_INVALID_EXPIRY' }))
  }
})

describe('keys', () => {
  it('derives the DPS device key of the docs (concepts-symmetric-key-attestation.md)', () => {
    const groupKey =
      '8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw=='
    assert.equal(
      deriveDeviceKey(groupKey, 'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6'),
      'Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=',
    )
    assert.equal(deriveDeviceKey(groupKey, 'my-device-01'), 'i0eNaxR9P2qCHaK3RkHpn3erozYVBcdCwAsiEzQHCM4=')
  })

  it('decodes only canonical standard base64, with a hint that never repeats the key', () => {
    assert.deepEqual(decodeKey('cGFzc3dvcmQ='), Buffer.from('password'))
    const hints: Array<[string, RegExp]> = [
      ['key', /multiple of 4/], // the Node SDK accepts this and signs with 2 bytes
      ['not a key', /whitespace/],
      ['YWJjx', /multiple of 4/],
      ['ab-_', /URL-safe/],
      ['ab$=', /outside the base64 alphabet/],
      ['a=bc', /only appear as padding/],
      ['YWJjZB==', /padding bits/],
      ['', /empty/],
    ]
    for (const [key, hint] of hints) {
      assert.throws(
        () => decodeKey(key),
        (err: SasTokenError) =>
          err.code === 'ERR_INVALID_KEY' &&
          hint.test(err.message) &&
          (key.length < 8 || !err.message.includes(key)),
        key,
      )
    }
  })
})

describe('identity rules', () => {
  it("accepts every documented special character: - . % _ * ? ! ( ) , : = @ $ '", () => {
    assert.equal(assertDeviceId("a-.%_*?!(),:=@$'z"), "a-.%_*?!(),:=@$'z")
    assert.equal(assertDeviceId('d'.repeat(128)), 'd'.repeat(128))
    assert.equal(assertRegistrationId('sn-007:a_b.c'), 'sn-007:a_b.c')
    assert.equal(assertHostName('gateway'), 'gateway')
  })
  for (const [id, reason] of [
    ['a+b', /wildcard/],
    ['a#b', /wildcard/],
    ['a/b', /separates/],
    ['a;b', /connection-string/],
    ['a b', /whitespace/],
    ['gerät', /ASCII/],
    ['d'.repeat(129), /at most 128/],
    ['', /empty/],
  ] as const) {
    it(`refuses ${JSON.stringify(id.slice(0, 12))} with the reason`, () => {
      assert.throws(
        () => assertDeviceId(id),
        (err: SasTokenError) => err.code === 'ERR_INVALID_IDENTIFIER' && reason.test(err.message),
      )
    })
  }
  it('applies the DPS registration id rules', () => {
    assert.throws(() => assertRegistrationId('dev$1'), { code: 'ERR_INVALID_IDENTIFIER' })
    assert.throws(() => assertRegistrationId('dev.'), { code: 'ERR_INVALID_IDENTIFIER' })
  })
  it('refuses a host name with a scheme, port or bad label', () => {
    for (const host of ['https://h.net', 'h.net:8883', 'h.net/x', '-h.net', 'h..net', 'h_x.net']) {
      assert.throws(() => assertHostName(host), { code: 'ERR_INVALID_HOST_NAME' }, host)
    }
  })
})
