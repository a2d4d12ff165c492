import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  createDpsSasToken,
  createSasToken,
  deviceResourceUri,
  encodeUriComponentStrict,
  parseSasToken,
  tokenFromConnectionString,
  verifySasToken,
} from 'sas-token'
import * as arb from './support/arbitraries.js'

// Inputs of sdk-facts.md §9.2: key = base64("password"), se = 1700000000.
const KEY = 'cGFzc3dvcmQ='
const SE = 1700000000
const NOW = (SE - 3600) * 1000
const HUB = 'myhub.azure-devices.net'

describe('createSasToken: known answers (sdk-facts §9)', () => {
  it('signs a device token like node/py/cs/embc', () => {
    assert.equal(
      createSasToken({ resourceUri: `${HUB}/devices/dev1`, key: KEY, expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000',
    )
  })

  it('signs a module token', () => {
    assert.equal(
      createSasToken({
        resourceUri: deviceResourceUri(HUB, 'dev1', 'mod1'),
        key: KEY,
        expiresAt: SE,
        now: NOW,
      }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=fGXCx3v8IsZ5KZEGgop3RhYJ9cnRSs9VqP3uTffvtUc%3D&se=1700000000',
    )
  })

  it('encodes special characters in ids once, like node/py/embc', () => {
    assert.equal(
      createSasToken({ resourceUri: deviceResourceUri(HUB, 'my$dev:1'), key: KEY, expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fmy%24dev%3A1&sig=0O3L5ES4HqCxmWC6nHPVKffUInnqJtg6BpdEf4GUw8g%3D&se=1700000000',
    )
  })

  it('puts skn last for a policy token (the docs, py and cs order)', () => {
    assert.equal(
      createSasToken({ resourceUri: HUB, key: KEY, keyName: 'iothubowner', expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net&sig=QSsTq4hIq8YzaKkHvHYM34vUvXN2XD%2FX%2Byr4pyjF%2ByY%3D&se=1700000000&skn=iothubowner',
    )
  })

  it('matches azure-iot-common _shared_access_signature_test.js (sr "uri", key name "name")', () => {
    const token = createSasToken({ resourceUri: 'uri', key: KEY, keyName: 'name', expiresAt: 12345, now: 0 })
    assert.equal(
      token,
      'SharedAccessSignature sr=uri&sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D&se=12345&skn=name',
    )
  })

  it('signs a DPS token with an encoded sr and skn=registration (the cs vector)', () => {
    const key = 'i0eNaxR9P2qCHaK3RkHpn3erozYVBcdCwAsiEzQHCM4='
    assert.equal(
      createDpsSasToken({
        idScope: '0ne00000A0A',
        registrationId: 'my-device-01',
        key,
        expiresAt: SE,
        now: NOW,
      }),
      'SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fmy-device-01&sig=OOwWM29FRWxgrGImQ16T0OAc3Op91yMQnW3bkcsi3pI%3D&se=1700000000&skn=registration',
    )
  })

  it('computes se as floor(now) + ttl, with ttl text', () => {
    const token = createSasToken({ resourceUri: 'x', key: KEY, ttl: '15m', now: 1_600_000_000_999 })
    assert.equal(parseSasToken(token).expiresAt, 1_600_000_000 + 900)
    const byDefault = createSasToken({ resourceUri: 'x', key: KEY, now: 1_600_000_000_999 })
    assert.equal(parseSasToken(byDefault).expiresAt, 1_600_000_000 + 3600)
  })

  it('encodes like the Node SDK, including its lower-case %2a', () => {
    assert.equal(encodeUriComponentStrict("!'()*~-_."), '%21%27%28%29%2a~-_.')
  })

  it('refuses a bad key, key name or resource with a code', () => {
    const base = { resourceUri: 'x', key: KEY, expiresAt: SE, now: NOW }
    assert.throws(() => createSasToken({ ...base, key: 'key' }), { code: 'ERR_INVALID_KEY' })
    assert.throws(() => createSasToken({ ...base, keyName: 'bad name' }), { code: 'ERR_INVALID_KEY_NAME' })
    assert.throws(() => createSasToken({ ...base, resourceUri: '' }), { code: 'ERR_INVALID_RESOURCE_URI' })
    assert.throws(() => createSasToken({ ...base, resourceUri: 'a b' }), { code: 'ERR_INVALID_RESOURCE_URI' })
    assert.throws(() => createSasToken({ ...base, resourceUri: 'a\ud800' }), {
      code: 'ERR_INVALID_RESOURCE_URI',
    })
    assert.throws(() => deviceResourceUri(HUB, 'a/b'), { code: 'ERR_INVALID_IDENTIFIER' })
  })
})

describe('parseSasToken', () => {
  it('reads the embedded C vectors (sdk-facts §9.1)', () => {
    const t = parseSasToken(
      'SharedAccessSignature sr=myiothub.azure-devices.net%2Fdevices%2Fmy_device%2Fmodules%2Fmy_module&sig=cS1eHM%2FlDjsRsrZV9508wOFrgmZk4g8FNg8NwHVSiSQ&se=1578941692&skn=iothubowner',
    )
    assert.deepEqual(t, {
      resourceUri: 'myiothub.azure-devices.net/devices/my_device/modules/my_module',
      encodedResourceUri: 'myiothub.azure-devices.net%2Fdevices%2Fmy_device%2Fmodules%2Fmy_module',
      signature: 'cS1eHM/lDjsRsrZV9508wOFrgmZk4g8FNg8NwHVSiSQ',
      expiresAt: 1578941692,
      keyName: 'iothubowner',
      hostName: 'myiothub.azure-devices.net',
      deviceId: 'my_device',
      moduleId: 'my_module',
    })
  })

  it('reads a DPS token with lower-case hex (C SDK)', () => {
    const t = parseSasToken(
      'SharedAccessSignature sr=0ne00000A0A%2fregistrations%2fmy-device-01&sig=1dwUvySlTWcOIBHehA0b6mB1ggqioSSwa1ooFnmxaM8%3d&se=1700000000&skn=registration',
    )
    assert.equal(t.idScope, '0ne00000A0A')
    assert.equal(t.registrationId, 'my-device-01')
    assert.equal(t.keyName, 'registration')
    assert.equal(t.hostName, undefined)
  })

  const good =
    'SharedAccessSignature sr=h%2Fdevices%2Fd&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000'
  const cases: Array<[string, string]> = [
    ['missing sr', good.replace('sr=h%2Fdevices%2Fd&', '')],
    ['missing se', good.replace('&se=1700000000', '')],
    ['missing sig', good.replace(/&sig=[^&]+/, '')],
    ['duplicate se', good + '&se=1'],
    ['unknown field', good + '&foo=bar'],
    ['non-numeric se', good.replace('1700000000', '17e8')],
    ['fractional se', good.replace('1700000000', '1700000000.5')],
    ['empty value', good.replace('se=1700000000', 'se=')],
    ['no prefix', good.replace('SharedAccessSignature ', '')],
    ['two spaces', good.replace('SharedAccessSignature ', 'SharedAccessSignature  ')],
    ['connection-string field', 'SharedAccessSignature=' + good],
    ['bad percent-encoding', good.replace('h%2Fdevices', 'h%ZZdevices')],
    ['signature not base64', good.replace(/sig=[^&]+/, 'sig=abc')],
  ]
  for (const [name, token] of cases) {
    it(`rejects a token with ${name}`, () => {
      assert.throws(() => parseSasToken(token), { code: 'ERR_TOKEN_MALFORMED' })
    })
  }
})

describe('verifySasToken', () => {
  const resourceUri = `${HUB}/devices/dev1`
  const token = createSasToken({ resourceUri, key: KEY, expiresAt: SE, now: NOW })
  const other = Buffer.from('another key').toString('base64')

  it('accepts a good token, within the 300 s skew', () => {
    assert.equal(verifySasToken(token, { key: KEY, now: NOW, resourceUri }).deviceId, 'dev1')
    assert.equal(verifySasToken(token, { key: KEY, now: (SE + 300) * 1000 }).expiresAt, SE)
  })

  it('tells expiry, signature and resource apart', () => {
    assert.throws(() => verifySasToken(token, { key: KEY, now: (SE + 301) * 1000 }), {
      code: 'ERR_TOKEN_EXPIRED',
    })
    assert.throws(() => verifySasToken(token, { key: KEY, now: (SE + 1) * 1000, clockSkewSeconds: 0 }), {
      code: 'ERR_TOKEN_EXPIRED',
    })
    assert.throws(() => verifySasToken(token, { key: other, now: NOW }), {
      code: 'ERR_TOKEN_SIGNATURE_MISMATCH',
    })
    assert.throws(() => verifySasToken(token, { key: KEY, now: NOW, resourceUri: `${HUB}/devices/dev2` }), {
      code: 'ERR_TOKEN_RESOURCE_MISMATCH',
    })
    assert.throws(
      () => verifySasToken(token, { key: KEY, now: NOW, resourceUri: `${resourceUri}/modules/m` }),
      {
        code: 'ERR_TOKEN_RESOURCE_MISMATCH',
      },
    )
  })

  it('lets a policy token cover child resources segment by segment', () => {
    const policy = createSasToken({
      resourceUri: `${HUB}/devices`,
      key: KEY,
      keyName: 'registryRead',
      expiresAt: SE,
      now: NOW,
    })
    assert.ok(verifySasToken(policy, { key: KEY, now: NOW, resourceUri: `${HUB}/devices/dev1` }))
    assert.throws(() => verifySasToken(policy, { key: KEY, now: NOW, resourceUri: `${HUB}/devicesX` }), {
      code: 'ERR_TOKEN_RESOURCE_MISMATCH',
    })
  })

  it('detects a signature over a different sr encoding (it signs sr as sent)', () => {
    const raw = token.replace(
      'myhub.azure-devices.net%2Fdevices%2Fdev1',
      'myhub.azure-devices.net/devices/dev1',
    )
    assert.throws(() => verifySasToken(raw, { key: KEY, now: NOW }), { code: 'ERR_TOKEN_SIGNATURE_MISMATCH' })
  })

  it('round-trips sign and verify for any identity, key and expiry', () => {
    fc.assert(
      fc.property(
        arb.hostName,
        arb.deviceId,
        fc.option(arb.deviceId, { nil: undefined }),
        arb.key,
        arb.clockAndExpiry,
        (host, d, m, key, { now, expiresAt }) => {
          const resourceUri = deviceResourceUri(host, d, m)
          const t = createSasToken({ resourceUri, key, expiresAt, now })
          const parsed = verifySasToken(t, { key, now, resourceUri })
          assert.equal(parsed.resourceUri, resourceUri)
          assert.equal(parsed.expiresAt, expiresAt)
          assert.equal(parsed.deviceId, d)
          assert.equal(parsed.moduleId, m)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('hardening (review findings)', () => {
  const resourceUri = `${HUB}/devices/dev1`
  const token = createSasToken({ resourceUri, key: KEY, expiresAt: SE, now: NOW })

  it('rejects a signature whose last character differs only in padding bits', () => {
    // ...BtDlY%3D and ...BtDlZ%3D decode to the same 32 bytes; the hub compares text.
    const altered = token.replace('BtDlY%3D', 'BtDlZ%3D')
    assert.notEqual(altered, token)
    assert.throws(() => verifySasToken(altered, { key: KEY, now: NOW }), {
      code: 'ERR_TOKEN_SIGNATURE_MISMATCH',
    })
  })

  it('validates verify options', () => {
    for (const clockSkewSeconds of [Number.NaN, -1, 1.5, '300' as unknown as number]) {
      assert.throws(() => verifySasToken(token, { key: KEY, now: NOW, clockSkewSeconds }), {
        code: 'ERR_INVALID_OPTION',
      })
    }
    assert.throws(() => verifySasToken(token, { key: KEY, now: NOW, resourceUri: 5 as unknown as string }), {
      code: 'ERR_INVALID_OPTION',
    })
    assert.throws(() => verifySasToken(token, undefined as never), { code: 'ERR_INVALID_ARGUMENT' })
  })

  it('matches host names case-insensitively and ids case-sensitively', () => {
    assert.ok(
      verifySasToken(token, { key: KEY, now: NOW, resourceUri: 'MyHub.azure-devices.net/devices/dev1' }),
    )
    assert.throws(() => verifySasToken(token, { key: KEY, now: NOW, resourceUri: `${HUB}/devices/DEV1` }), {
      code: 'ERR_TOKEN_RESOURCE_MISMATCH',
    })
  })

  it('gives a SasTokenError, not a TypeError, for missing options', () => {
    assert.throws(() => createSasToken(undefined as never), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => createDpsSasToken(null as never), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => encodeUriComponentStrict(undefined as never), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => createSasToken({ resourceUri: 'x', key: undefined as never }), {
      code: 'ERR_INVALID_KEY',
    })
  })
})

describe('tokenFromConnectionString', () => {
  const device = `HostName=${HUB};DeviceId=dev1;SharedAccessKey=${KEY}`
  const service = `HostName=${HUB};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
  const withToken = `HostName=${HUB};DeviceId=dev1;SharedAccessSignature=SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000`

  it('signs a device token and a hub policy token (sdk-facts §9.2)', () => {
    assert.equal(
      tokenFromConnectionString(device, { expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000',
    )
    assert.equal(
      tokenFromConnectionString(service, { expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net&sig=QSsTq4hIq8YzaKkHvHYM34vUvXN2XD%2FX%2Byr4pyjF%2ByY%3D&se=1700000000&skn=iothubowner',
    )
  })

  it('scopes a policy token to a device: the py vector with a device resource and key name', () => {
    assert.equal(
      tokenFromConnectionString(service, { deviceId: 'dev1', expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000&skn=iothubowner',
    )
    assert.throws(() => tokenFromConnectionString(service, { moduleId: 'm', now: NOW }), {
      code: 'ERR_DEVICE_ID_REQUIRED',
    })
  })

  it("returns a SharedAccessSignature= string's token while it is valid, for its own identity only", () => {
    const token = tokenFromConnectionString(withToken, { now: NOW })
    assert.match(token, /^SharedAccessSignature sr=myhub\.azure-devices\.net%2Fdevices%2Fdev1&sig=VVdn/)
    assert.equal(tokenFromConnectionString(withToken, { now: NOW, deviceId: 'dev1' }), token)
    assert.throws(() => tokenFromConnectionString(withToken, { now: NOW, deviceId: 'dev2' }), {
      code: 'ERR_IDENTITY_MISMATCH',
    })
    assert.throws(() => tokenFromConnectionString(withToken, { now: NOW, moduleId: 'm' }), {
      code: 'ERR_IDENTITY_MISMATCH',
    })
    assert.throws(() => tokenFromConnectionString(withToken, { now: NOW, ttl: 60 }), {
      code: 'ERR_KEY_REQUIRED',
    })
    assert.throws(() => tokenFromConnectionString(withToken, { now: (SE + 1) * 1000 }), {
      code: 'ERR_TOKEN_EXPIRED',
    })
  })

  it('refuses X.509 identities and other identities', () => {
    assert.throws(() => tokenFromConnectionString(`HostName=${HUB};DeviceId=dev1;x509=true`), {
      code: 'ERR_KEY_REQUIRED',
    })
    assert.throws(() => tokenFromConnectionString(device, { deviceId: 'dev2' }), {
      code: 'ERR_IDENTITY_MISMATCH',
    })
  })

  it('checks a hand-built object as if it were parsed', () => {
    const objects = [
      [
        { kind: 'device', hostName: HUB, deviceId: 'dev1', sharedAccessKey: KEY, x509: true },
        'ERR_CONNECTION_STRING_MIXED_AUTH',
      ],
      [{ kind: 'service', hostName: HUB, sharedAccessKey: KEY }, 'ERR_CONNECTION_STRING_MISSING_KEY'],
      [
        {
          kind: 'device',
          hostName: HUB,
          deviceId: 'other',
          sharedAccessSignature: withToken.split('SharedAccessSignature=')[1],
        },
        'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      ],
      [{}, 'ERR_CONNECTION_STRING_EMPTY'],
      [null, 'ERR_INVALID_ARGUMENT'],
    ] as const
    for (const [cs, code] of objects) {
      assert.throws(() => tokenFromConnectionString(cs as never, { now: NOW }), { code }, JSON.stringify(cs))
    }
    assert.throws(() => tokenFromConnectionString(device, null as never), { code: 'ERR_INVALID_ARGUMENT' })
  })
})
