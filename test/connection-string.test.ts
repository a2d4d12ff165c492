import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  formatConnectionString,
  parseConnectionString,
  redactConnectionString,
  type ConnectionString,
} from 'sas-token'
import * as arb from './support/arbitraries.js'

const KEY = 'Zm9vYmFy' // base64("foobar"), the py SDK's test key
const TOKEN =
  'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000'

describe('parseConnectionString: valid strings (py and node SDK test strings)', () => {
  it('reads a service (policy) string', () => {
    assert.deepEqual(
      parseConnectionString(`HostName=my.host.name;SharedAccessKeyName=mykeyname;SharedAccessKey=${KEY}`),
      {
        kind: 'service',
        hostName: 'my.host.name',
        sharedAccessKeyName: 'mykeyname',
        sharedAccessKey: KEY,
      },
    )
  })

  it('reads device, gateway, X.509 and module strings', () => {
    assert.deepEqual(
      parseConnectionString(
        `HostName=my.host.name;DeviceId=my-device;SharedAccessKey=${KEY};GatewayHostName=mygateway`,
      ),
      {
        kind: 'device',
        hostName: 'my.host.name',
        deviceId: 'my-device',
        sharedAccessKey: KEY,
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
        `HostName=my.host.name;DeviceId=my-device;ModuleId=my-module;SharedAccessKey=${KEY}`,
      ),
      {
        kind: 'module',
        hostName: 'my.host.name',
        deviceId: 'my-device',
        moduleId: 'my-module',
        sharedAccessKey: KEY,
      },
    )
  })

  it("reads Device Explorer's SharedAccessSignature form, whose value holds '=', '&' and a space", () => {
    const cs = parseConnectionString(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${TOKEN}`,
    )
    assert.equal(cs.sharedAccessSignature, TOKEN)
    assert.equal(cs.kind, 'device')
  })

  it('tolerates one trailing semicolon and surrounding whitespace, and keeps base64 padding', () => {
    const cs = parseConnectionString(`  HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=a2V5Cg==; \n`)
    assert.equal(cs.sharedAccessKey, 'a2V5Cg==')
  })

  it('keeps the identity case-sensitive', () => {
    assert.equal(
      parseConnectionString(`HostName=h;DeviceId=MyDevice;SharedAccessKey=${KEY}`).deviceId,
      'MyDevice',
    )
  })
})

describe('parseConnectionString: errors', () => {
  const cases: Array<[string, string, string]> = [
    ['empty', '', 'ERR_CONNECTION_STRING_EMPTY'],
    ['blank', '  ;', 'ERR_CONNECTION_STRING_EMPTY'],
    ['garbage', 'garbage', 'ERR_CONNECTION_STRING_SYNTAX'],
    ['an empty field', `HostName=h;;DeviceId=d;SharedAccessKey=${KEY}`, 'ERR_CONNECTION_STRING_SYNTAX'],
    [
      'two trailing semicolons',
      `HostName=h;DeviceId=d;SharedAccessKey=${KEY};;`,
      'ERR_CONNECTION_STRING_SYNTAX',
    ],
    ['HostName only', 'HostName=my.host.name', 'ERR_CONNECTION_STRING_MISSING_KEY'],
    ['no HostName', `DeviceId=d;SharedAccessKey=${KEY}`, 'ERR_CONNECTION_STRING_MISSING_KEY'],
    ['DeviceId and HostName only', 'DeviceId=id;HostName=name', 'ERR_CONNECTION_STRING_MISSING_KEY'],
    [
      'an unknown key',
      `HostName=h;DeviceId=d;SharedAccessKey=${KEY};InvalidKey=x`,
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
    ],
    ['a miscased key', `HostName=h;DeviceID=d;SharedAccessKey=${KEY}`, 'ERR_CONNECTION_STRING_UNKNOWN_KEY'],
    [
      'a duplicate HostName',
      `HostName=h;HostName=h;DeviceId=d;SharedAccessKey=${KEY}`,
      'ERR_CONNECTION_STRING_DUPLICATE_KEY',
    ],
    ['an empty value', `HostName=h;DeviceId=;SharedAccessKey=${KEY}`, 'ERR_CONNECTION_STRING_EMPTY_VALUE'],
    [
      'key and x509',
      `DeviceId=id;HostName=name;SharedAccessKey=${KEY};x509=true`,
      'ERR_CONNECTION_STRING_MIXED_AUTH',
    ],
    [
      'key and signature',
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY};SharedAccessSignature=${TOKEN}`,
      'ERR_CONNECTION_STRING_MIXED_AUTH',
    ],
    [
      'signature and x509',
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${TOKEN};x509=true`,
      'ERR_CONNECTION_STRING_MIXED_AUTH',
    ],
    [
      'a key name without a key',
      'HostName=h;DeviceId=d;SharedAccessKeyName=p;x509=true',
      'ERR_CONNECTION_STRING_MIXED_AUTH',
    ],
    [
      'a policy key without its name',
      `HostName=h;SharedAccessKey=${KEY}`,
      'ERR_CONNECTION_STRING_MISSING_KEY',
    ],
    ['x509 without DeviceId', 'HostName=h;x509=true', 'ERR_CONNECTION_STRING_MISSING_KEY'],
    ['x509=false', 'HostName=h;DeviceId=d;x509=false', 'ERR_CONNECTION_STRING_SYNTAX'],
    [
      'ModuleId without DeviceId',
      `HostName=h;ModuleId=m;SharedAccessKeyName=p;SharedAccessKey=${KEY}`,
      'ERR_CONNECTION_STRING_MISSING_KEY',
    ],
    [
      'a token for another device',
      `HostName=myhub.azure-devices.net;DeviceId=dev2;SharedAccessSignature=${TOKEN}`,
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
    ],
    [
      'a device token in a module string',
      `HostName=myhub.azure-devices.net;DeviceId=dev1;ModuleId=m;SharedAccessSignature=${TOKEN}`,
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
    ],
    ['a malformed token', 'HostName=h;DeviceId=d;SharedAccessSignature=sr=h', 'ERR_TOKEN_MALFORMED'],
    [
      'an Event Hubs string',
      `Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=p;SharedAccessKey=${KEY};EntityPath=hub`,
      'ERR_CONNECTION_STRING_UNSUPPORTED',
    ],
    ['a key without padding', 'HostName=h;DeviceId=d;SharedAccessKey=a2V5Cg', 'ERR_INVALID_KEY'],
    ['a URL-safe key', 'HostName=h;DeviceId=d;SharedAccessKey=ab-_', 'ERR_INVALID_KEY'],
    ['a key with altered padding bits', 'HostName=h;DeviceId=d;SharedAccessKey=YWJjZB==', 'ERR_INVALID_KEY'],
    ['a "+" in DeviceId', `HostName=h;DeviceId=a+b;SharedAccessKey=${KEY}`, 'ERR_INVALID_IDENTIFIER'],
    [
      'a "#" in ModuleId',
      `HostName=h;DeviceId=d;ModuleId=m#1;SharedAccessKey=${KEY}`,
      'ERR_INVALID_IDENTIFIER',
    ],
    ['a non-ASCII DeviceId', `HostName=h;DeviceId=gerät;SharedAccessKey=${KEY}`, 'ERR_INVALID_IDENTIFIER'],
    [
      'a 129-character DeviceId',
      `HostName=h;DeviceId=${'d'.repeat(129)};SharedAccessKey=${KEY}`,
      'ERR_INVALID_IDENTIFIER',
    ],
    [
      'a HostName with a scheme',
      `HostName=https://h.azure-devices.net;DeviceId=d;SharedAccessKey=${KEY}`,
      'ERR_INVALID_HOST_NAME',
    ],
    [
      'a bad policy name',
      `HostName=h;SharedAccessKeyName=a b;SharedAccessKey=${KEY}`,
      'ERR_INVALID_KEY_NAME',
    ],
  ]
  for (const [name, text, code] of cases) {
    it(`rejects ${name} with ${code}`, () => {
      assert.throws(
        () => parseConnectionString(text),
        (err: Error & { code?: string }) => {
          assert.equal(err.name, 'SasTokenError')
          assert.equal(err.code, code)
          return true
        },
      )
    })
  }

  it('names the canonical key in a "did you mean" hint', () => {
    assert.throws(
      () => parseConnectionString(`hostname=h;DeviceId=d;SharedAccessKey=${KEY}`),
      /did you mean 'HostName'\?/,
    )
    assert.throws(
      () => parseConnectionString(`HostName=h; DeviceId=d;SharedAccessKey=${KEY}`),
      /did you mean 'DeviceId'\? \(remove the whitespace/,
    )
  })

  it('gives the reason an id is refused', () => {
    assert.throws(
      () => parseConnectionString(`HostName=h;DeviceId=a/b;SharedAccessKey=${KEY}`),
      /'\/' separates MQTT topic levels/,
    )
    assert.throws(
      () => parseConnectionString(`HostName=h;DeviceId=a#b;SharedAccessKey=${KEY}`),
      /MQTT wildcard/,
    )
  })
})

describe('formatConnectionString', () => {
  it('writes canonical order and round-trips', () => {
    const text = `SharedAccessKey=${KEY};DeviceId=d;HostName=h.azure-devices.net`
    assert.equal(
      formatConnectionString(parseConnectionString(text)),
      `HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=${KEY}`,
    )
  })

  it('refuses an object whose fields do not make its kind', () => {
    const wrong = {
      kind: 'module',
      hostName: 'h',
      deviceId: 'd',
      sharedAccessKey: KEY,
    } as unknown as ConnectionString
    assert.throws(() => formatConnectionString(wrong), { code: 'ERR_CONNECTION_STRING_MISSING_KEY' })
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
  const text = `HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=${KEY}`

  it('hides the key from console.log and util.inspect, not from the fields', () => {
    const cs = parseConnectionString(text)
    assert.ok(!inspect(cs).includes(KEY))
    assert.ok(inspect(cs).includes('SharedAccessKey=<redacted>'))
    assert.equal(cs.sharedAccessKey, KEY)
  })

  it('redacts keys and signatures in text, even text that does not parse', () => {
    assert.equal(
      redactConnectionString(text),
      'HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=<redacted>',
    )
    assert.equal(redactConnectionString(`sharedaccesskey=${KEY};junk`), 'sharedaccesskey=<redacted>;junk')
    const withToken = redactConnectionString(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${TOKEN}`,
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
    assert.throws(
      () => parseConnectionString(`HostName=h.azure-devices.net;DeviceId=d;${key}`),
      (err: Error) => !err.message.includes(key.slice(0, 8)),
    )
    assert.throws(
      () => parseConnectionString(`HostName=h;DeviceId=d;${key}=x`),
      (err: Error) => !err.message.includes(key.slice(0, 8)),
    )
  })

  it('never quotes a key pasted into another field', () => {
    const key = Buffer.from('0123456789abcdef0123').toString('base64')
    for (const text of [
      `HostName=${key};DeviceId=d;x509=true`,
      `HostName=h;DeviceId=d ${key};x509=true`,
      `HostName=h;DeviceId=d;ModuleId=m/${key};x509=true`,
    ]) {
      assert.throws(
        () => parseConnectionString(text),
        (err: Error) => err.name === 'SasTokenError' && !err.message.includes(key),
        text,
      )
    }
  })

  it('treats __proto__ and constructor as unknown names', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      assert.throws(() => parseConnectionString(`HostName=h;${name}=x`), {
        code: 'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      })
    }
  })

  it('accepts a policy token with its SharedAccessKeyName, and checks they agree', () => {
    const cs = parseConnectionString(
      `HostName=${HUB};SharedAccessKeyName=iothubowner;SharedAccessSignature=${policyToken}`,
    )
    assert.equal(cs.kind, 'service')
    assert.throws(
      () =>
        parseConnectionString(
          `HostName=${HUB};SharedAccessKeyName=service;SharedAccessSignature=${policyToken}`,
        ),
      {
        code: 'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      },
    )
  })

  it('refuses a device token (no skn) in a service string', () => {
    assert.throws(() => parseConnectionString(`HostName=${HUB};SharedAccessSignature=${TOKEN}`), {
      code: 'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
    })
  })

  it('compares the host name of an embedded token case-insensitively', () => {
    assert.equal(
      parseConnectionString(`HostName=MyHub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${TOKEN}`)
        .kind,
      'device',
    )
    assert.throws(
      () => parseConnectionString(`HostName=${HUB};DeviceId=DEV1;SharedAccessSignature=${TOKEN}`),
      {
        code: 'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      },
    )
  })

  it('redacts a sig wherever it stands', () => {
    assert.equal(
      redactConnectionString('SharedAccessSignature=sig=SECRET123;x'),
      'SharedAccessSignature=sig=<redacted>;x',
    )
  })

  it('refuses non-text input with a SasTokenError', () => {
    assert.throws(() => parseConnectionString(undefined as never), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => formatConnectionString(undefined as never), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => redactConnectionString(null as never), { code: 'ERR_INVALID_ARGUMENT' })
  })
})
