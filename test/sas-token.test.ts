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
import { assertSasTokenError } from './support/errors.js'
import * as arb from './support/arbitraries.js'
import { HOST, KEY, NOW, SE } from './support/fixtures.js'

// Inputs of sdk-facts.md §9.2: key = base64("password"), se = 1700000000.

describe('createSasToken: known answers (sdk-facts §9)', () => {
  it('signs a device token like node/py/cs/embc', () => {
    assert.equal(
      createSasToken({ resourceUri: `${HOST}/devices/dev1`, key: KEY, expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000',
    )
  })

  it('signs a module token', () => {
    assert.equal(
      createSasToken({
        resourceUri: deviceResourceUri(HOST, 'dev1', 'mod1'),
        key: KEY,
        expiresAt: SE,
        now: NOW,
      }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=fGXCx3v8IsZ5KZEGgop3RhYJ9cnRSs9VqP3uTffvtUc%3D&se=1700000000',
    )
  })

  it('encodes special characters in ids once, like node/py/embc', () => {
    assert.equal(
      createSasToken({ resourceUri: deviceResourceUri(HOST, 'my$dev:1'), key: KEY, expiresAt: SE, now: NOW }),
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fmy%24dev%3A1&sig=0O3L5ES4HqCxmWC6nHPVKffUInnqJtg6BpdEf4GUw8g%3D&se=1700000000',
    )
  })

  it('puts skn last for a policy token (the docs, py and cs order)', () => {
    assert.equal(
      createSasToken({ resourceUri: HOST, key: KEY, keyName: 'iothubowner', expiresAt: SE, now: NOW }),
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
    assertSasTokenError(
      () => createSasToken({ ...base, key: 'key' }),
      'ERR_INVALID_KEY',
      /key is not valid base64: its length \(3\) is not a multiple of 4/,
    )
    assertSasTokenError(
      () => createSasToken({ ...base, keyName: 'bad name' }),
      'ERR_INVALID_KEY_NAME',
      /keyName is not a valid policy name/,
    )
    assertSasTokenError(
      () => createSasToken({ ...base, resourceUri: '' }),
      'ERR_INVALID_RESOURCE_URI',
      /resourceUri must be a non-empty resource without whitespace/,
    )
    assertSasTokenError(
      () => createSasToken({ ...base, resourceUri: 'a b' }),
      'ERR_INVALID_RESOURCE_URI',
      /resourceUri must be a non-empty resource without whitespace/,
    )
    assertSasTokenError(
      () => createSasToken({ ...base, resourceUri: 'a\ud800' }),
      'ERR_INVALID_RESOURCE_URI',
      /lone UTF-16 surrogate/,
    )
    assertSasTokenError(
      () => deviceResourceUri(HOST, 'a/b'),
      'ERR_INVALID_IDENTIFIER',
      /DeviceId is not valid: '\/'/,
    )
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
      family: 'iot-hub',
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
      assertSasTokenError(
        () => parseSasToken(token),
        'ERR_TOKEN_MALFORMED',
        /^The SAS token is malformed: \S/,
      )
    })
  }
})

describe('verifySasToken', () => {
  const resourceUri = `${HOST}/devices/dev1`
  const token = createSasToken({ resourceUri, key: KEY, expiresAt: SE, now: NOW })
  const other = Buffer.from('another key').toString('base64')

  it('accepts a good token, within the 300 s skew', () => {
    assert.equal(verifySasToken(token, { key: KEY, now: NOW, resourceUri }).deviceId, 'dev1')
    assert.equal(verifySasToken(token, { key: KEY, now: (SE + 300) * 1000 }).expiresAt, SE)
  })

  it('tells expiry, signature and resource apart', () => {
    assertSasTokenError(
      () => verifySasToken(token, { key: KEY, now: (SE + 301) * 1000 }),
      'ERR_TOKEN_EXPIRED',
      /expired at 2023-11-14T22:13:20\.000Z \(301 s ago, 300 s of clock skew allowed\)/,
    )
    assertSasTokenError(
      () => verifySasToken(token, { key: KEY, now: (SE + 1) * 1000, clockSkewSeconds: 0 }),
      'ERR_TOKEN_EXPIRED',
      /expired at 2023-11-14T22:13:20\.000Z \(1 s ago, 0 s of clock skew allowed\)/,
    )
    assertSasTokenError(
      () => verifySasToken(token, { key: other, now: NOW }),
      'ERR_TOKEN_SIGNATURE_MISMATCH',
      /signature does not match/,
    )
    assertSasTokenError(
      () => verifySasToken(token, { key: KEY, now: NOW, resourceUri: `${HOST}/devices/dev2` }),
      'ERR_TOKEN_RESOURCE_MISMATCH',
      /token is for myhub\.azure-devices\.net\/devices\/dev1, which does not cover myhub\.azure-devices\.net\/devices\/dev2/,
    )
    assertSasTokenError(
      () => verifySasToken(token, { key: KEY, now: NOW, resourceUri: `${resourceUri}/modules/m` }),
      'ERR_TOKEN_RESOURCE_MISMATCH',
      /token is for myhub\.azure-devices\.net\/devices\/dev1, which does not cover myhub\.azure-devices\.net\/devices\/dev1\/modules\/m/,
    )
  })

  it('lets a policy token cover child resources segment by segment', () => {
    const policy = createSasToken({
      resourceUri: `${HOST}/devices`,
      key: KEY,
      keyName: 'registryRead',
      expiresAt: SE,
      now: NOW,
    })
    assert.ok(verifySasToken(policy, { key: KEY, now: NOW, resourceUri: `${HOST}/devices/dev1` }))
    assertSasTokenError(
      () => verifySasToken(policy, { key: KEY, now: NOW, resourceUri: `${HOST}/devicesX` }),
      'ERR_TOKEN_RESOURCE_MISMATCH',
      /token is for myhub\.azure-devices\.net\/devices, which does not cover myhub\.azure-devices\.net\/devicesX/,
    )
  })

  it('detects a signature over a different sr encoding (it signs sr as sent)', () => {
    const raw = token.replace(
      'myhub.azure-devices.net%2Fdevices%2Fdev1',
      'myhub.azure-devices.net/devices/dev1',
    )
    assertSasTokenError(
      () => verifySasToken(raw, { key: KEY, now: NOW }),
      'ERR_TOKEN_SIGNATURE_MISMATCH',
      /signature does not match/,
    )
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
  const resourceUri = `${HOST}/devices/dev1`
  const token = createSasToken({ resourceUri, key: KEY, expiresAt: SE, now: NOW })

  it('rejects a signature whose last character differs only in padding bits', () => {
    // ...BtDlY%3D and ...BtDlZ%3D decode to the same 32 bytes; the hub compares text.
    const altered = token.replace('BtDlY%3D', 'BtDlZ%3D')
    assert.notEqual(altered, token)
    assertSasTokenError(
      () => verifySasToken(altered, { key: KEY, now: NOW }),
      'ERR_TOKEN_SIGNATURE_MISMATCH',
      /signature does not match/,
    )
  })

  it('validates verify options', () => {
    for (const clockSkewSeconds of [Number.NaN, -1, 1.5, '300' as unknown as number]) {
      assertSasTokenError(
        () => verifySasToken(token, { key: KEY, now: NOW, clockSkewSeconds }),
        'ERR_INVALID_OPTION',
        /clockSkewSeconds must be a whole number of seconds, 0 or more/,
      )
    }
    assertSasTokenError(
      () => verifySasToken(token, { key: KEY, now: NOW, resourceUri: 5 as unknown as string }),
      'ERR_INVALID_OPTION',
      /resourceUri must be text/,
    )
    assertSasTokenError(
      () => verifySasToken(token, undefined as never),
      'ERR_INVALID_ARGUMENT',
      /verifySasToken takes an options object/,
    )
  })

  it('matches host names case-insensitively and ids case-sensitively', () => {
    assert.ok(
      verifySasToken(token, { key: KEY, now: NOW, resourceUri: 'MyHub.azure-devices.net/devices/dev1' }),
    )
    assertSasTokenError(
      () => verifySasToken(token, { key: KEY, now: NOW, resourceUri: `${HOST}/devices/DEV1` }),
      'ERR_TOKEN_RESOURCE_MISMATCH',
      /token is for myhub\.azure-devices\.net\/devices\/dev1, which does not cover myhub\.azure-devices\.net\/devices\/DEV1/,
    )
  })

  it('gives a SasTokenError, not a TypeError, for missing options', () => {
    assertSasTokenError(
      () => createSasToken(undefined as never),
      'ERR_INVALID_ARGUMENT',
      /createSasToken takes an options object/,
    )
    assertSasTokenError(
      () => createDpsSasToken(null as never),
      'ERR_INVALID_ARGUMENT',
      /createDpsSasToken takes an options object/,
    )
    assertSasTokenError(
      () => encodeUriComponentStrict(undefined as never),
      'ERR_INVALID_ARGUMENT',
      /Only text can be URL-encoded/,
    )
    assertSasTokenError(
      () => createSasToken({ resourceUri: 'x', key: undefined as never }),
      'ERR_INVALID_KEY',
      /key is not valid base64: it is not a string/,
    )
  })
})

describe('tokenFromConnectionString', () => {
  const device = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${KEY}`
  const service = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
  const withToken = `HostName=${HOST};DeviceId=dev1;SharedAccessSignature=SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000`

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
    assertSasTokenError(
      () => tokenFromConnectionString(service, { moduleId: 'm', now: NOW }),
      'ERR_DEVICE_ID_REQUIRED',
      /module token needs the deviceId/,
    )
  })

  it("returns a SharedAccessSignature= string's token while it is valid, for its own identity only", () => {
    const token = tokenFromConnectionString(withToken, { now: NOW })
    assert.match(token, /^SharedAccessSignature sr=myhub\.azure-devices\.net%2Fdevices%2Fdev1&sig=VVdn/)
    assert.equal(tokenFromConnectionString(withToken, { now: NOW, deviceId: 'dev1' }), token)
    assertSasTokenError(
      () => tokenFromConnectionString(withToken, { now: NOW, deviceId: 'dev2' }),
      'ERR_IDENTITY_MISMATCH',
      /its key cannot sign for another identity/,
    )
    assertSasTokenError(
      () => tokenFromConnectionString(withToken, { now: NOW, moduleId: 'm' }),
      'ERR_IDENTITY_MISMATCH',
      /its key cannot sign for another identity/,
    )
    assertSasTokenError(
      () => tokenFromConnectionString(withToken, { now: NOW, ttl: 60 }),
      'ERR_KEY_REQUIRED',
      /ready-made SharedAccessSignature and no key/,
    )
    assertSasTokenError(
      () => tokenFromConnectionString(withToken, { now: (SE + 1) * 1000 }),
      'ERR_TOKEN_EXPIRED',
      /SharedAccessSignature expired at 2023-11-14T22:13:20\.000Z/,
    )
  })

  it('refuses X.509 identities and other identities', () => {
    assertSasTokenError(
      () => tokenFromConnectionString(`HostName=${HOST};DeviceId=dev1;x509=true`),
      'ERR_KEY_REQUIRED',
      /X\.509 certificate \(x509=true\); it has no key/,
    )
    assertSasTokenError(
      () => tokenFromConnectionString(device, { deviceId: 'dev2' }),
      'ERR_IDENTITY_MISMATCH',
      /its key cannot sign for another identity/,
    )
  })

  it('checks a hand-built object as if it were parsed', () => {
    const objects = [
      [
        { kind: 'device', hostName: HOST, deviceId: 'dev1', sharedAccessKey: KEY, x509: true },
        'ERR_CONNECTION_STRING_MIXED_AUTH',
      ],
      [{ kind: 'service', hostName: HOST, sharedAccessKey: KEY }, 'ERR_CONNECTION_STRING_MISSING_KEY'],
      [
        {
          kind: 'device',
          hostName: HOST,
          deviceId: 'other',
          sharedAccessSignature: withToken.split('SharedAccessSignature=')[1],
        },
        'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      ],
      [{}, 'ERR_CONNECTION_STRING_EMPTY'],
      [null, 'ERR_INVALID_ARGUMENT'],
    ] as const
    for (const [cs, code] of objects) {
      assertSasTokenError(
        () => tokenFromConnectionString(cs as never, { now: NOW }),
        code,
        /^(Invalid connection string: |tokenFromConnectionString needs a connection string, as text)/,
        { label: JSON.stringify(cs) },
      )
    }
    assertSasTokenError(
      () => tokenFromConnectionString(device, null as never),
      'ERR_INVALID_ARGUMENT',
      /tokenFromConnectionString takes an options object/,
    )
  })
})
