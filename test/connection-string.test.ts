import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  formatConnectionString,
  parseConnectionString,
  redactConnectionString,
  type ConnectionString,
  type SasTokenErrorCode,
} from 'sas-token'
import { assertSasTokenError } from './support/errors.js'
import * as arb from './support/arbitraries.js'
import { PY_KEY, VECTORS } from './support/fixtures.js'

describe('parseConnectionString: valid strings (py and node SDK test strings)', () => {
  it('reads a service (policy) string', () => {
    assert.deepEqual(
      parseConnectionString(`HostName=my.host.name;SharedAccessKeyName=mykeyname;SharedAccessKey=${PY_KEY}`),
      {
        kind: 'service',
        hostName: 'my.host.name',
        sharedAccessKeyName: 'mykeyname',
        sharedAccessKey: PY_KEY,
      },
    )
  })

  it('reads device, gateway, X.509 and module strings', () => {
    assert.deepEqual(
      parseConnectionString(
        `HostName=my.host.name;DeviceId=my-device;SharedAccessKey=${PY_KEY};GatewayHostName=mygateway`,
      ),
      {
        kind: 'device',
        hostName: 'my.host.name',
        deviceId: 'my-device',
        sharedAccessKey: PY_KEY,
        gatewayHostName: 'mygateway',
      },
    )
    assert.deepEqual(parseConnectionString('HostName=my.host.name;DeviceId=my-device;x509=True'), {
      kind: 'device',
      hostName: 'my.host.name',
      deviceId: 'my-device',
      x509: true,
    })
    assert.deepEqual(
      parseConnectionString(
        `HostName=my.host.name;DeviceId=my-device;ModuleId=my-module;SharedAccessKey=${PY_KEY}`,
      ),
      {
        kind: 'module',
        hostName: 'my.host.name',
        deviceId: 'my-device',
        moduleId: 'my-module',
        sharedAccessKey: PY_KEY,
      },
    )
  })

  it("reads Device Explorer's SharedAccessSignature form, whose value holds '=', '&' and a space", () => {
    const cs = parseConnectionString(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`,
    )
    assert.equal(cs.sharedAccessSignature, VECTORS.device)
    assert.equal(cs.kind, 'device')
  })

  it('tolerates one trailing semicolon and surrounding whitespace, and keeps base64 padding', () => {
    const cs = parseConnectionString(`  HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=a2V5Cg==; \n`)
    assert.equal(cs.sharedAccessKey, 'a2V5Cg==')
  })

  it('keeps the identity case-sensitive', () => {
    assert.equal(
      parseConnectionString(`HostName=h;DeviceId=MyDevice;SharedAccessKey=${PY_KEY}`).deviceId,
      'MyDevice',
    )
  })
})

describe('parseConnectionString: errors', () => {
  const cases: Array<[string, string, SasTokenErrorCode, RegExp]> = [
    ['empty', '', 'ERR_CONNECTION_STRING_EMPTY', /is empty/],
    ['blank', '  ;', 'ERR_CONNECTION_STRING_EMPTY', /is empty/],
    ['garbage', 'garbage', 'ERR_CONNECTION_STRING_SYNTAX', /field 1 has no '='/],
    [
      'an empty field',
      `HostName=h;;DeviceId=d;SharedAccessKey=${PY_KEY}`,
      'ERR_CONNECTION_STRING_SYNTAX',
      /field 2 is empty/,
    ],
    [
      'two trailing semicolons',
      `HostName=h;DeviceId=d;SharedAccessKey=${PY_KEY};;`,
      'ERR_CONNECTION_STRING_SYNTAX',
      /field 4 is empty/,
    ],
    [
      'HostName only',
      'HostName=my.host.name',
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /needs one of 'SharedAccessKey', 'SharedAccessSignature' or 'x509=true'/,
    ],
    [
      'no HostName',
      `DeviceId=d;SharedAccessKey=${PY_KEY}`,
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /'HostName' is missing/,
    ],
    [
      'DeviceId and HostName only',
      'DeviceId=id;HostName=name',
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /needs one of 'SharedAccessKey', 'SharedAccessSignature' or 'x509=true'/,
    ],
    [
      'an unknown key',
      `HostName=h;DeviceId=d;SharedAccessKey=${PY_KEY};InvalidKey=x`,
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      /field 4 has an unknown name/,
    ],
    [
      'a miscased key',
      `HostName=h;DeviceID=d;SharedAccessKey=${PY_KEY}`,
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      /unknown name 'DeviceID' .*did you mean 'DeviceId'/,
    ],
    [
      'a duplicate HostName',
      `HostName=h;HostName=h;DeviceId=d;SharedAccessKey=${PY_KEY}`,
      'ERR_CONNECTION_STRING_DUPLICATE_KEY',
      /'HostName' appears twice/,
    ],
    [
      'an empty value',
      `HostName=h;DeviceId=;SharedAccessKey=${PY_KEY}`,
      'ERR_CONNECTION_STRING_EMPTY_VALUE',
      /'DeviceId' has no value/,
    ],
    [
      'key and x509',
      `DeviceId=id;HostName=name;SharedAccessKey=${PY_KEY};x509=true`,
      'ERR_CONNECTION_STRING_MIXED_AUTH',
      /both SharedAccessKey and x509=true/,
    ],
    [
      'key and signature',
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${PY_KEY};SharedAccessSignature=${VECTORS.device}`,
      'ERR_CONNECTION_STRING_MIXED_AUTH',
      /both SharedAccessKey and SharedAccessSignature/,
    ],
    [
      'signature and x509',
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${VECTORS.device};x509=true`,
      'ERR_CONNECTION_STRING_MIXED_AUTH',
      /both SharedAccessSignature and x509=true/,
    ],
    [
      'a key name without a key',
      'HostName=h;DeviceId=d;SharedAccessKeyName=p;x509=true',
      'ERR_CONNECTION_STRING_MIXED_AUTH',
      /'SharedAccessKeyName' .*X\.509/,
    ],
    [
      'a policy key without its name',
      `HostName=h;SharedAccessKey=${PY_KEY}`,
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /'DeviceId' is missing .*'SharedAccessKeyName'/,
    ],
    [
      'x509 without DeviceId',
      'HostName=h;x509=true',
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /'x509=true' .*'DeviceId' is missing/,
    ],
    [
      'x509=false',
      'HostName=h;DeviceId=d;x509=false',
      'ERR_CONNECTION_STRING_SYNTAX',
      /x509 can only be 'true'/,
    ],
    [
      'ModuleId without DeviceId',
      `HostName=h;ModuleId=m;SharedAccessKeyName=p;SharedAccessKey=${PY_KEY}`,
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /'ModuleId' needs the 'DeviceId'/,
    ],
    [
      'a token for another device',
      `HostName=myhub.azure-devices.net;DeviceId=dev2;SharedAccessSignature=${VECTORS.device}`,
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      /SharedAccessSignature is for myhub\.azure-devices\.net\/devices\/dev1, but the string names myhub\.azure-devices\.net\/devices\/dev2\b/,
    ],
    [
      'a device token in a module string',
      `HostName=myhub.azure-devices.net;DeviceId=dev1;ModuleId=m;SharedAccessSignature=${VECTORS.device}`,
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      /SharedAccessSignature is for myhub\.azure-devices\.net\/devices\/dev1, but the string names myhub\.azure-devices\.net\/devices\/dev1\/modules\/m\b/,
    ],
    [
      'a malformed token',
      'HostName=h;DeviceId=d;SharedAccessSignature=sr=h',
      'ERR_TOKEN_MALFORMED',
      /must start with 'SharedAccessSignature '/,
    ],
    [
      'an Event Hubs string with an IoT Hub field (it parses alone: service-bus.test.ts)',
      `Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=p;SharedAccessKey=${PY_KEY};EntityPath=hub;DeviceId=d`,
      'ERR_CONNECTION_STRING_MIXED_FAMILY',
      /DeviceId belong to IoT Hub strings .*Endpoint, EntityPath to Service Bus-family strings/,
    ],
    [
      'a key without padding',
      'HostName=h;DeviceId=d;SharedAccessKey=a2V5Cg',
      'ERR_INVALID_KEY',
      /SharedAccessKey is not valid base64: .*padding/,
    ],
    [
      'a URL-safe key',
      'HostName=h;DeviceId=d;SharedAccessKey=ab-_',
      'ERR_INVALID_KEY',
      /SharedAccessKey is not valid base64: .*URL-safe/,
    ],
    [
      'a key with altered padding bits',
      'HostName=h;DeviceId=d;SharedAccessKey=YWJjZB==',
      'ERR_INVALID_KEY',
      /SharedAccessKey is not valid base64: .*padding bits/,
    ],
    [
      'a "+" in DeviceId',
      `HostName=h;DeviceId=a+b;SharedAccessKey=${PY_KEY}`,
      'ERR_INVALID_IDENTIFIER',
      /DeviceId is not valid: '\+' is an MQTT wildcard/,
    ],
    [
      'a "#" in ModuleId',
      `HostName=h;DeviceId=d;ModuleId=m#1;SharedAccessKey=${PY_KEY}`,
      'ERR_INVALID_IDENTIFIER',
      /ModuleId is not valid: '#' is an MQTT wildcard/,
    ],
    [
      'a non-ASCII DeviceId',
      `HostName=h;DeviceId=gerät;SharedAccessKey=${PY_KEY}`,
      'ERR_INVALID_IDENTIFIER',
      /DeviceId is not valid: only 7-bit ASCII/,
    ],
    [
      'a 129-character DeviceId',
      `HostName=h;DeviceId=${'d'.repeat(129)};SharedAccessKey=${PY_KEY}`,
      'ERR_INVALID_IDENTIFIER',
      /DeviceId is 129 characters long; .*at most 128/,
    ],
    [
      'a HostName with a scheme',
      `HostName=https://h.azure-devices.net;DeviceId=d;SharedAccessKey=${PY_KEY}`,
      'ERR_INVALID_HOST_NAME',
      /HostName is not a bare host name/,
    ],
    [
      'a bad policy name',
      `HostName=h;SharedAccessKeyName=a b;SharedAccessKey=${PY_KEY}`,
      'ERR_INVALID_KEY_NAME',
      /SharedAccessKeyName is not a valid policy name/,
    ],
  ]
  for (const [name, text, code, message] of cases) {
    it(`rejects ${name} with ${code}`, () => {
      assertSasTokenError(() => parseConnectionString(text), code, message)
    })
  }

  it('names the canonical key in a "did you mean" hint', () => {
    assertSasTokenError(
      () => parseConnectionString(`hostname=h;DeviceId=d;SharedAccessKey=${PY_KEY}`),
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      /did you mean 'HostName'\?/,
    )
    assertSasTokenError(
      () => parseConnectionString(`HostName=h; DeviceId=d;SharedAccessKey=${PY_KEY}`),
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      /did you mean 'DeviceId'\? \(remove the whitespace/,
    )
  })

  it('gives the reason an id is refused', () => {
    assertSasTokenError(
      () => parseConnectionString(`HostName=h;DeviceId=a/b;SharedAccessKey=${PY_KEY}`),
      'ERR_INVALID_IDENTIFIER',
      /'\/' separates MQTT topic levels/,
    )
    assertSasTokenError(
      () => parseConnectionString(`HostName=h;DeviceId=a#b;SharedAccessKey=${PY_KEY}`),
      'ERR_INVALID_IDENTIFIER',
      /MQTT wildcard/,
    )
  })
})

describe('formatConnectionString', () => {
  it('writes canonical order and round-trips', () => {
    const text = `SharedAccessKey=${PY_KEY};DeviceId=d;HostName=h.azure-devices.net`
    assert.equal(
      formatConnectionString(parseConnectionString(text)),
      `HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=${PY_KEY}`,
    )
  })

  it('refuses an object whose fields do not make its kind', () => {
    const wrong = {
      kind: 'module',
      hostName: 'h',
      deviceId: 'd',
      sharedAccessKey: PY_KEY,
    } as unknown as ConnectionString
    assertSasTokenError(
      () => formatConnectionString(wrong),
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /its fields make a device connection string, not a module one/,
    )
  })

  it('round-trips any valid connection string (property)', () => {
    const auth = fc.oneof(
      fc.record({ sharedAccessKey: arb.key }),
      fc.record({ sharedAccessKey: arb.key, sharedAccessKeyName: arb.keyName }),
      fc.constant({ x509: true as const }),
    )
    const identity = fc.oneof(
      fc.record({ kind: fc.constant('device' as const), deviceId: arb.deviceId }),
      fc.record({ kind: fc.constant('module' as const), deviceId: arb.deviceId, moduleId: arb.deviceId }),
    )
    fc.assert(
      fc.property(
        arb.hostName,
        identity,
        auth,
        fc.option(arb.hostName, { nil: undefined }),
        (hostName, id, a, gateway) => {
          const cs = {
            hostName,
            ...id,
            ...a,
            ...(gateway === undefined ? {} : { gatewayHostName: gateway }),
          } as ConnectionString
          const text = formatConnectionString(cs)
          assert.deepEqual(parseConnectionString(text), cs)
          assert.equal(formatConnectionString(parseConnectionString(text)), text)
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('redaction', () => {
  const text = `HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=${PY_KEY}`

  it('hides the key from console.log and util.inspect, not from the fields', () => {
    const cs = parseConnectionString(text)
    assert.ok(!inspect(cs).includes(PY_KEY))
    assert.ok(inspect(cs).includes('SharedAccessKey=<redacted>'))
    assert.equal(cs.sharedAccessKey, PY_KEY)
  })

  it('redacts keys and signatures in text, even text that does not parse', () => {
    assert.equal(
      redactConnectionString(text),
      'HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=<redacted>',
    )
    assert.equal(redactConnectionString(`sharedaccesskey=${PY_KEY};junk`), 'sharedaccesskey=<redacted>;junk')
    const withToken = redactConnectionString(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`,
    )
    assert.ok(!withToken.includes('VVdnHtzH'))
    assert.ok(withToken.includes('&sig=<redacted>&se=1700000000'))
  })
})

describe('hardening (review findings)', () => {
  const HUB = 'myhub.azure-devices.net'
  const policyToken =
    'SharedAccessSignature sr=myhub.azure-devices.net&sig=QSsTq4hIq8YzaKkHvHYM34vUvXN2XD%2FX%2Byr4pyjF%2ByY%3D&se=1700000000&skn=iothubowner'

  it('does not quote an unknown name, which may be a key that lost its SharedAccessKey=', () => {
    const key = 'q7Vw2ZkL9mXcR4tYbN8eHg=='
    assertSasTokenError(
      () => parseConnectionString(`HostName=h.azure-devices.net;DeviceId=d;${key}`),
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      /field 3 has an unknown name/,
      { notIncluding: [key.slice(0, 8)] },
    )
    assertSasTokenError(
      () => parseConnectionString(`HostName=h;DeviceId=d;${key}=x`),
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      /field 3 has an unknown name/,
      {
        notIncluding: [key.slice(0, 8)],
      },
    )
  })

  it('never quotes a key pasted into another field', () => {
    const key = Buffer.from('0123456789abcdef0123').toString('base64')
    for (const [text, code, message] of [
      [`HostName=${key};DeviceId=d;x509=true`, 'ERR_INVALID_HOST_NAME', /HostName is not a valid host name/],
      [
        `HostName=h;DeviceId=d ${key};x509=true`,
        'ERR_INVALID_IDENTIFIER',
        /DeviceId is not valid: whitespace/,
      ],
      [
        `HostName=h;DeviceId=d;ModuleId=m/${key};x509=true`,
        'ERR_INVALID_IDENTIFIER',
        /ModuleId is not valid: '\/'/,
      ],
    ] as const) {
      assertSasTokenError(() => parseConnectionString(text), code, message, {
        notIncluding: [key],
        label: text,
      })
    }
  })

  it('treats __proto__ and constructor as unknown names', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      assertSasTokenError(
        () => parseConnectionString(`HostName=h;${name}=x`),
        'ERR_CONNECTION_STRING_UNKNOWN_KEY',
        /field 2 has an unknown name/,
      )
    }
  })

  it('accepts a policy token with its SharedAccessKeyName, and checks they agree', () => {
    const cs = parseConnectionString(
      `HostName=${HUB};SharedAccessKeyName=iothubowner;SharedAccessSignature=${policyToken}`,
    )
    assert.equal(cs.kind, 'service')
    assertSasTokenError(
      () =>
        parseConnectionString(
          `HostName=${HUB};SharedAccessKeyName=service;SharedAccessSignature=${policyToken}`,
        ),
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      /'skn' is not the policy that SharedAccessKeyName names/,
    )
  })

  it('refuses a device token (no skn) in a service string', () => {
    assertSasTokenError(
      () => parseConnectionString(`HostName=${HUB};SharedAccessSignature=${VECTORS.device}`),
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      /has no 'skn', so it is not a policy token/,
    )
  })

  it('compares the host name of an embedded token case-insensitively', () => {
    assert.equal(
      parseConnectionString(
        `HostName=MyHub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`,
      ).kind,
      'device',
    )
    assertSasTokenError(
      () => parseConnectionString(`HostName=${HUB};DeviceId=DEV1;SharedAccessSignature=${VECTORS.device}`),
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      /is for myhub\.azure-devices\.net\/devices\/dev1, but the string names myhub\.azure-devices\.net\/devices\/DEV1/,
    )
  })

  it('redacts a sig wherever it stands', () => {
    assert.equal(
      redactConnectionString('SharedAccessSignature=sig=SECRET123;x'),
      'SharedAccessSignature=sig=<redacted>;x',
    )
  })

  it('refuses non-text input with a SasTokenError', () => {
    assertSasTokenError(
      () => parseConnectionString(undefined as never),
      'ERR_INVALID_ARGUMENT',
      /parseConnectionString needs a connection string as text .*; it was given undefined/,
    )
    assertSasTokenError(
      () => formatConnectionString(undefined as never),
      'ERR_INVALID_ARGUMENT',
      /formatConnectionString needs a connection string, as text .* or as the object parseConnectionString returns; it was given undefined/,
    )
    assertSasTokenError(
      () => redactConnectionString(null as never),
      'ERR_INVALID_ARGUMENT',
      /redactConnectionString needs a connection string, as text .* or as the object parseConnectionString returns; it was given null/,
    )
  })
})
