// diagnoseConnect: one test per refusal reason of issue 10 §1, with tokens signed independently
// (test/support/hmac-token.ts, node:crypto alone) or taken verbatim from sdk-facts.md §9; and a
// property: arbitrary CONNECT fields never make it throw, nor show a key or the signature.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type ConnectRegistry,
  DEFAULT_HUB_POLICIES,
  diagnoseConnect,
  type DiagnoseConnectOptions,
  type Finding,
  type MqttConnect,
  type RegisteredIdentity,
} from 'sas-token'
import * as arb from './support/arbitraries.js'
import { assertSasTokenError } from './support/errors.js'
import {
  DERIVED,
  DEVICE_CS,
  FUTURE_SE,
  GROUP_KEY,
  HOST,
  KEY,
  NOW,
  OTHER_KEY,
  SE,
  SECRET_FRAGMENT,
  SECRET_KEY,
  VECTORS,
} from './support/fixtures.js'
import { hmacToken } from './support/hmac-token.js'

const USER = `${HOST}/dev1/?api-version=2021-04-12`
const MODULE_USER = `${HOST}/dev1/mod1/?api-version=2021-04-12`
const DPS_USER = '0ne00000A0A/registrations/my-device-01/api-version=2019-03-31'

/** The diagnosis at the vectors' time, with the device's key unless `key: undefined` says none. */
function diagnose(
  connect: MqttConnect,
  o: Omit<DiagnoseConnectOptions, 'key'> & { key?: DiagnoseConnectOptions['key'] | undefined } = {},
): Finding[] {
  const { key, ...rest } = 'key' in o ? o : { ...o, key: KEY }
  return diagnoseConnect(connect, { now: NOW, ...rest, ...(key !== undefined && { key }) })
}

const device = (password: string | undefined, username = USER, clientId = 'dev1') =>
  password === undefined ? { clientId, username } : { clientId, username, password }

/** The codes of the findings, in order. */
const codes = (findings: Finding[]): string[] => findings.map((f) => f.code)

/** The one finding with `code`, failing when there is not exactly that one. */
function only(findings: Finding[], expected: string): Finding {
  assert.deepEqual(codes(findings), [expected], JSON.stringify(findings, null, 2))
  const f = findings[0]!
  assert.equal(f.severity, expected.startsWith('WARN_') ? 'warning' : 'error')
  assert.ok(f.message.length > 20)
  return f
}

describe('diagnoseConnect: correct CONNECTs give no finding', () => {
  it('a device, with the node/py/cs/embc vector and with the C SDK raw-sr, lower-hex vector', () => {
    assert.deepEqual(diagnose(device(VECTORS.device)), [])
    const c =
      'SharedAccessSignature sr=myhub.azure-devices.net/devices/dev1&sig=rnqxnFienA6sDSIxBPuNUK2T1uiRdL%2b7jUw68FrD9so%3d&se=1700000000'
    assert.deepEqual(diagnose(device(c)), [])
    assert.deepEqual(diagnose(device(VECTORS.device), { connectionString: DEVICE_CS, key: undefined }), [])
  })
  it('a module, and a device with the username the Node SDK sends (DeviceClientType, raw model-id)', () => {
    assert.deepEqual(diagnose({ clientId: 'dev1/mod1', username: MODULE_USER, password: VECTORS.module }), [])
    const ua = encodeURIComponent('azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)')
    for (const username of [
      `${USER}&DeviceClientType=${ua}`,
      `${USER}&model-id=dtmi:com:example:Thermostat;1&DeviceClientType=${ua}`,
      `${USER}&model-id=${encodeURIComponent('dtmi:com:example:Thermostat;1')}`,
    ]) {
      assert.deepEqual(diagnose(device(VECTORS.device, username)), [], username)
    }
  })
  it('a DPS registration, with the derived key or the group key (py, node raw-sr and C vectors)', () => {
    const dps = { clientId: 'my-device-01', username: `${DPS_USER}&ClientVersion=x`, password: VECTORS.dps }
    assert.deepEqual(diagnose(dps, { key: DERIVED['my-device-01'], idScope: '0ne00000A0A' }), [])
    assert.deepEqual(diagnose(dps, { key: undefined, groupKey: GROUP_KEY }), [])
    for (const password of [
      'SharedAccessSignature sr=0ne00000A0A/registrations/my-device-01&sig=Bq%2BU2mt9T%2BtRKUnRJZw%2B11p7e0yylaMgEoBEouqPOHY%3D&skn=registration&se=1700000000',
      'SharedAccessSignature sr=0ne00000A0A%2fregistrations%2fmy-device-01&sig=1dwUvySlTWcOIBHehA0b6mB1ggqioSSwa1ooFnmxaM8%3d&se=1700000000&skn=registration',
      'SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fmy-device-01&sig=OOwWM29FRWxgrGImQ16T0OAc3Op91yMQnW3bkcsi3pI%3D&se=1700000000',
    ]) {
      assert.deepEqual(diagnose({ ...dps, password }, { key: undefined, groupKey: GROUP_KEY }), [], password)
    }
  })
  it('an X.509 device sends no password', () => {
    assert.deepEqual(diagnose(device(undefined), { x509: true }), [])
    assert.deepEqual(
      diagnose(device(undefined), {
        key: undefined,
        connectionString: `HostName=${HOST};DeviceId=dev1;x509=true`,
      }),
      [],
    )
  })
  it('reads the clock when now is absent', () => {
    const token = hmacToken(`${HOST}/devices/dev1`, KEY, Math.floor(Date.now() / 1000) + 86400)
    assert.deepEqual(diagnoseConnect(device(token), { key: KEY, renewAfterSeconds: 60 }), [])
    assert.deepEqual(
      codes(diagnoseConnect(device(VECTORS.device), { key: KEY })),
      ['ERR_TOKEN_EXPIRED'],
      'the vector expired in 2023',
    )
  })
})

describe('diagnoseConnect: the username', () => {
  it('a missing username', () => {
    only(diagnose({ clientId: 'dev1', username: '', password: VECTORS.device }), 'ERR_USERNAME_MISSING')
  })
  it('a malformed username', () => {
    for (const username of [
      HOST,
      `${HOST}/`,
      `${HOST}/dev1/mod1/extra/?api-version=2021-04-12`,
      `/dev1/?api-version=2021-04-12`,
      `${HOST}//?api-version=2021-04-12`,
      `https://${HOST}/dev1/?api-version=2021-04-12`,
      '0ne00000A0A/registrations/?api-version=2019-03-31',
    ]) {
      assert.ok(
        codes(diagnose(device(VECTORS.device, username))).includes('ERR_USERNAME_MALFORMED'),
        username,
      )
    }
    only(diagnose(device(VECTORS.device, `${HOST}/dev1?api-version=2021-04-12`)), 'ERR_USERNAME_MALFORMED')
    const findings = diagnose(
      device(VECTORS.device, `my_hub.azure-devices.net/dev1/?api-version=2021-04-12`),
      {
        hubHostName: HOST,
      },
    )
    assert.deepEqual(codes(findings), ['ERR_USERNAME_MALFORMED', 'ERR_USERNAME_HOST_MISMATCH'])
    assert.match(findings[0]!.message, /host name is not a valid host name/)
  })
  it("a missing '?' (the old form), with or without the api-version", () => {
    const f = only(
      diagnose(device(VECTORS.device, `${HOST}/dev1/api-version=2016-11-14`)),
      'ERR_USERNAME_QUESTION_MARK_MISSING',
    )
    assert.match(f.message, /\/\?api-version=2021-04-12/)
    assert.deepEqual(codes(diagnose(device(VECTORS.device, `${HOST}/dev1/DeviceClientType=x`))), [
      'ERR_USERNAME_QUESTION_MARK_MISSING',
      'ERR_USERNAME_API_VERSION_MISSING',
    ])
  })
  it('a missing api-version, on the hub and on DPS', () => {
    for (const username of [
      `${HOST}/dev1/`,
      `${HOST}/dev1/?`,
      `${HOST}/dev1/?DeviceClientType=x`,
      `${HOST}/dev1`,
    ]) {
      only(diagnose(device(VECTORS.device, username)), 'ERR_USERNAME_API_VERSION_MISSING')
    }
    const dps = {
      clientId: 'my-device-01',
      username: '0ne00000A0A/registrations/my-device-01/',
      password: VECTORS.dps,
    }
    const f = only(diagnose(dps, { key: DERIVED['my-device-01'] }), 'ERR_USERNAME_API_VERSION_MISSING')
    assert.match(f.message, /api-version=2019-03-31/)
  })
  it('an api-version that is not one: a warning, since the hub checks only that one is there (edgeHub MqttUsernameParser)', () => {
    const f = only(
      diagnose(device(VECTORS.device, `${HOST}/dev1/?api-version=latest`)),
      'WARN_USERNAME_API_VERSION_UNKNOWN',
    )
    assert.equal(f.apiVersion, 'latest')
  })
  it("a host that is not the hub's (host names compare case-insensitively)", () => {
    const username = `otherhub.azure-devices.net/dev1/?api-version=2021-04-12`
    const f = only(
      diagnose(device(VECTORS.device, username), { hubHostName: HOST }),
      'ERR_USERNAME_HOST_MISMATCH',
    )
    assert.equal(f.hostName, 'otherhub.azure-devices.net')
    assert.equal(f.expectedHostName, HOST)
    only(
      diagnose(device(VECTORS.device, username), { connectionString: DEVICE_CS }),
      'ERR_USERNAME_HOST_MISMATCH',
    )
    // a token for that other host is refused as well
    const token = hmacToken('otherhub.azure-devices.net/devices/dev1', KEY, SE)
    assert.deepEqual(codes(diagnose(device(token, username), { hubHostName: HOST })), [
      'ERR_USERNAME_HOST_MISMATCH',
      'ERR_TOKEN_HOST_MISMATCH',
    ])
    assert.deepEqual(
      diagnose(device(VECTORS.device, `MyHub.Azure-Devices.net/dev1/?api-version=2021-04-12`), {
        hubHostName: HOST,
      }),
      [],
    )
  })
  it('the gateway host in the username (the C# SDK does it) is a warning', () => {
    const cs = `${DEVICE_CS};GatewayHostName=edge.local`
    only(
      diagnose(device(VECTORS.device, 'edge.local/dev1/?api-version=2021-04-12'), { connectionString: cs }),
      'WARN_USERNAME_GATEWAY_HOST',
    )
  })
  it('an id the hub or MQTT does not accept', () => {
    const token = hmacToken(`${HOST}/devices/dev+1`, KEY, SE)
    const f = only(
      diagnose(device(token, `${HOST}/dev+1/?api-version=2021-04-12`, 'dev+1')),
      'ERR_IDENTIFIER_INVALID',
    )
    assert.match(f.message, /wildcard/)
  })
  it('a model-id that is not a DTMI: a warning, since the hub connects the device anyway', () => {
    const f = only(diagnose(device(VECTORS.device, `${USER}&model-id=Thermostat`)), 'WARN_MODEL_ID_NOT_DTMI')
    assert.equal(f.modelId, 'Thermostat')
  })
  it("an ID scope that is not this DPS's", () => {
    const dps = { clientId: 'my-device-01', username: DPS_USER, password: VECTORS.dps }
    only(diagnose(dps, { key: DERIVED['my-device-01'], idScope: '0ne000FFFFF' }), 'ERR_ID_SCOPE_MISMATCH')
  })
})

describe('diagnoseConnect: the client id and the identity', () => {
  it('a clientId that differs from the username (exactly, case-sensitively)', () => {
    for (const clientId of ['Dev1', 'dev2', '', 'dev1/']) {
      const f = only(diagnose(device(VECTORS.device, USER, clientId)), 'ERR_CLIENT_ID_MISMATCH')
      assert.equal(f.expectedClientId, 'dev1')
    }
    const m = only(
      diagnose({ clientId: 'dev1', username: MODULE_USER, password: VECTORS.module }),
      'ERR_CLIENT_ID_MISMATCH',
    )
    assert.equal(m.expectedClientId, 'dev1/mod1')
    const dps = only(
      diagnose(
        { clientId: 'dev1', username: DPS_USER, password: VECTORS.dps },
        { key: DERIVED['my-device-01'] },
      ),
      'ERR_CLIENT_ID_MISMATCH',
    )
    assert.equal(dps.expectedClientId, 'my-device-01')
  })
  it('a CONNECT for another identity than the connection string names', () => {
    const token = hmacToken(`${HOST}/devices/dev2`, KEY, SE)
    const f = only(
      diagnose(device(token, `${HOST}/dev2/?api-version=2021-04-12`, 'dev2'), {
        connectionString: DEVICE_CS,
      }),
      'ERR_IDENTITY_MISMATCH',
    )
    assert.equal(f.deviceId, 'dev2')
    assert.equal(f.expectedDeviceId, 'dev1')
  })
})

describe('diagnoseConnect: the password', () => {
  it('no password from a key device', () => {
    only(diagnose(device(undefined)), 'ERR_PASSWORD_MISSING')
  })
  it('a password that is not a SAS token, said without repeating it', () => {
    for (const [password, why] of [
      [SECRET_KEY, /bare key/],
      [`HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY}`, /connection string/],
      [`SharedAccessSignature=${VECTORS.device}`, /connection-string field/],
      ['hunter2', /must start with/],
      ['', /empty/],
    ] as const) {
      const f = only(diagnose(device(password)), 'ERR_PASSWORD_NOT_SAS_TOKEN')
      assert.match(f.message, why)
      assert.ok(!JSON.stringify(f).includes(SECRET_KEY.slice(0, 12)))
    }
  })
  it('an X.509 identity that sends a password', () => {
    only(diagnose(device(VECTORS.device), { x509: true }), 'ERR_X509_WITH_PASSWORD')
    only(
      diagnose(device(VECTORS.device), {
        key: undefined,
        connectionString: `HostName=${HOST};DeviceId=dev1;x509=true`,
      }),
      'ERR_X509_WITH_PASSWORD',
    )
  })
})

describe('diagnoseConnect: a token for another resource', () => {
  it('another device', () => {
    const f = only(diagnose(device(hmacToken(`${HOST}/devices/dev2`, KEY, SE))), 'ERR_TOKEN_OTHER_DEVICE')
    assert.equal(f.resourceUri, `${HOST}/devices/dev2`)
    assert.equal(f.expectedResourceUri, `${HOST}/devices/dev1`)
  })
  it('another hub', () => {
    only(
      diagnose(device(hmacToken(`otherhub.azure-devices.net/devices/dev1`, KEY, SE))),
      'ERR_TOKEN_HOST_MISMATCH',
    )
  })
  it("a device token used by a module, and a module's token used by its device", () => {
    only(
      diagnose({ clientId: 'dev1/mod1', username: MODULE_USER, password: VECTORS.device }),
      'ERR_TOKEN_DEVICE_FOR_MODULE',
    )
    only(diagnose(device(VECTORS.module)), 'ERR_TOKEN_MODULE_FOR_DEVICE')
  })
  it('another module of the same device', () => {
    const token = hmacToken(`${HOST}/devices/dev1/modules/mod2`, KEY, SE)
    only(
      diagnose({ clientId: 'dev1/mod1', username: MODULE_USER, password: token }),
      'ERR_TOKEN_OTHER_MODULE',
    )
  })
  it('a resource that is no identity: the docs typo /module/, the bare hub without skn', () => {
    const typo = hmacToken(`${HOST}/devices/dev1/module/mod1`, KEY, SE)
    only(
      diagnose({ clientId: 'dev1/mod1', username: MODULE_USER, password: typo }),
      'ERR_TOKEN_RESOURCE_MISMATCH',
    )
    only(diagnose(device(hmacToken(HOST, KEY, SE))), 'ERR_TOKEN_RESOURCE_MISMATCH')
  })
  it('a DPS token used on the hub', () => {
    const f = only(diagnose(device(VECTORS.dps), { key: undefined }), 'ERR_TOKEN_FOR_DPS')
    assert.match(f.message, /derived key/)
  })
  it('a hub token used on DPS', () => {
    const dps = {
      clientId: 'my-device-01',
      username: DPS_USER,
      password: hmacToken(`${HOST}/devices/my-device-01`, KEY, SE),
    }
    only(diagnose(dps), 'ERR_TOKEN_FOR_HUB')
  })
  it('a DPS token for another registration, or another ID scope', () => {
    const key = DERIVED['my-device-01']
    const other = hmacToken('0ne00000A0A/registrations/my-device-02', key, SE, 'registration')
    only(
      diagnose({ clientId: 'my-device-01', username: DPS_USER, password: other }, { key }),
      'ERR_TOKEN_OTHER_REGISTRATION',
    )
    const scope = hmacToken('0ne00000B0B/registrations/my-device-01', key, SE, 'registration')
    only(
      diagnose({ clientId: 'my-device-01', username: DPS_USER, password: scope }, { key }),
      'ERR_TOKEN_RESOURCE_MISMATCH',
    )
  })
  it('a DPS token signed by a service policy', () => {
    const key = DERIVED['my-device-01']
    const token = hmacToken('0ne00000A0A/registrations/my-device-01', key, SE, 'provisioningserviceowner')
    only(
      diagnose({ clientId: 'my-device-01', username: DPS_USER, password: token }, { key }),
      'ERR_DPS_KEY_NAME',
    )
  })
})

describe('diagnoseConnect: policy tokens as a device password', () => {
  const policies = { ...DEFAULT_HUB_POLICIES, iothubowner: { deviceConnect: true, key: KEY } }
  it('a warning when the policy has DeviceConnect and its sr covers the device', () => {
    for (const password of [
      VECTORS.devicePolicy,
      VECTORS.hub,
      hmacToken(`${HOST}/devices`, KEY, SE, 'device'),
    ]) {
      const f = only(
        diagnose(device(password), {
          key: undefined,
          policies: { ...policies, device: { deviceConnect: true, key: KEY } },
        }),
        'WARN_POLICY_TOKEN',
      )
      assert.match(f.message, /hub-wide key/)
    }
    // the key of a service connection string checks the signature
    const cs = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
    only(diagnose(device(VECTORS.hub), { key: undefined, connectionString: cs }), 'WARN_POLICY_TOKEN')
  })
  it('an error when its sr does not cover the device (another device, a sibling prefix)', () => {
    for (const resource of [
      `${HOST}/devices/dev2`,
      `${HOST}/devices/dev`,
      `${HOST}/devices/dev1/modules/mod1`,
    ]) {
      const f = only(
        diagnose(device(hmacToken(resource, KEY, SE, 'iothubowner')), { policies }),
        'ERR_POLICY_TOKEN_SCOPE',
      )
      assert.equal(f.keyName, 'iothubowner')
    }
  })
  it('an error when the policy is unknown, with a hint for a miscased name', () => {
    only(diagnose(device(hmacToken(HOST, KEY, SE, 'myPolicy'))), 'ERR_POLICY_UNKNOWN')
    const f = only(diagnose(device(hmacToken(HOST, KEY, SE, 'IoTHubOwner'))), 'ERR_POLICY_UNKNOWN')
    assert.match(f.message, /did you mean iothubowner/)
    only(
      diagnose(device(hmacToken(HOST, KEY, SE, 'iothubowner')), {
        policies: { device: { deviceConnect: true } },
      }),
      'ERR_POLICY_UNKNOWN',
    )
  })
  it('an error when the policy lacks DeviceConnect (the defaults of a new hub)', () => {
    for (const name of ['service', 'registryRead', 'registryReadWrite']) {
      only(diagnose(device(hmacToken(HOST, KEY, SE, name))), 'ERR_POLICY_NO_DEVICE_CONNECT')
    }
    only(
      diagnose(device(hmacToken(HOST, KEY, SE, 'gw')), { policies: { gw: { deviceConnect: false } } }),
      'ERR_POLICY_NO_DEVICE_CONNECT',
    )
  })
})

describe('diagnoseConnect: the signature', () => {
  it('a wrong signature, when the key is known', () => {
    only(diagnose(device(hmacToken(`${HOST}/devices/dev1`, SECRET_KEY, SE))), 'ERR_TOKEN_SIGNATURE_MISMATCH')
    only(diagnose(device(VECTORS.device), { key: SECRET_KEY }), 'ERR_TOKEN_SIGNATURE_MISMATCH')
    // a policy token is checked with the policy's key
    assert.deepEqual(
      codes(
        diagnose(device(VECTORS.hub), {
          policies: { iothubowner: { deviceConnect: true, key: SECRET_KEY } },
        }),
      ),
      ['WARN_POLICY_TOKEN', 'ERR_TOKEN_SIGNATURE_MISMATCH'],
    )
  })
  it("a device token signed with the key's text (as Event Hubs signs) is named as such, not thrown", () => {
    const sr = encodeURIComponent(`${HOST}/devices/dev1`)
    const sig = createHmac('sha256', KEY).update(`${sr}\n${SE}`).digest('base64')
    const asText = `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${SE}`
    only(diagnose(device(asText)), 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB')
  })
  it('the primary and secondary keys: a token signed with either is right', () => {
    const secondary = hmacToken(`${HOST}/devices/dev1`, KEY, SE)
    assert.deepEqual(diagnose(device(secondary), { key: [SECRET_KEY, KEY] }), [])
    only(diagnose(device(secondary), { key: [SECRET_KEY, GROUP_KEY] }), 'ERR_TOKEN_SIGNATURE_MISMATCH')
    const policies = { iothubowner: { deviceConnect: true, key: [SECRET_KEY, KEY] } }
    only(diagnose(device(VECTORS.hub), { key: undefined, policies }), 'WARN_POLICY_TOKEN')
    assertSasTokenError(
      () => diagnoseConnect(device(secondary), { key: [KEY, 'bad'] }),
      'ERR_INVALID_KEY',
      'key[1]',
    )
  })
  it('an altered sr is a wrong signature too', () => {
    const altered = VECTORS.device.replace('dev1', 'dev2')
    assert.deepEqual(codes(diagnose(device(altered, `${HOST}/dev2/?api-version=2021-04-12`, 'dev2'))), [
      'ERR_TOKEN_SIGNATURE_MISMATCH',
    ])
  })
  it('a token signed with the DPS group key itself, on DPS and on the hub', () => {
    const dps = hmacToken('0ne00000A0A/registrations/my-device-01', GROUP_KEY, SE, 'registration')
    const f = only(
      diagnose(
        { clientId: 'my-device-01', username: DPS_USER, password: dps },
        { key: undefined, groupKey: GROUP_KEY },
      ),
      'ERR_TOKEN_SIGNED_WITH_GROUP_KEY',
    )
    assert.match(f.message, /derive/)
    const hub = hmacToken(`${HOST}/devices/my-device-01`, GROUP_KEY, SE)
    only(
      diagnose(device(hub, `${HOST}/my-device-01/?api-version=2021-04-12`, 'my-device-01'), {
        key: undefined,
        groupKey: GROUP_KEY,
      }),
      'ERR_TOKEN_SIGNED_WITH_GROUP_KEY',
    )
    // the derived key is right: no finding
    const derived = hmacToken(`${HOST}/devices/my-device-01`, DERIVED['my-device-01'], SE)
    assert.deepEqual(
      diagnose(device(derived, `${HOST}/my-device-01/?api-version=2021-04-12`, 'my-device-01'), {
        key: undefined,
        groupKey: GROUP_KEY,
      }),
      [],
    )
  })
})

describe('diagnoseConnect: the expiry', () => {
  const at = (secondsAfterExpiry: number) => (SE + secondsAfterExpiry) * 1000
  it('expired minutes ago: the skew stated, and "device clock?"', () => {
    const f = only(diagnose(device(VECTORS.device), { now: at(600) }), 'ERR_TOKEN_EXPIRED')
    assert.match(f.message, /2023-11-14T22:13:20\.000Z, 10 minutes ago/)
    assert.match(f.message, /300 s of clock skew/)
    assert.match(f.message, /Device clock\?/)
    assert.equal(f.expiresAt, SE)
    assert.equal(f.expiresIn, -600)
    assert.equal(f.clockSkewSeconds, 300)
    const strict = only(
      diagnose(device(VECTORS.device), { now: at(1), clockSkewSeconds: 0 }),
      'ERR_TOKEN_EXPIRED',
    )
    assert.match(strict.message, /0 s of clock skew/)
  })
  it('an expiry off by whole hours hints at local time; one in 1970 at an unset clock', () => {
    const f = only(diagnose(device(VECTORS.device), { now: at(2 * 3600 + 30) }), 'ERR_TOKEN_EXPIRED')
    assert.match(f.message, /about 2 hour\(s\).*local time/)
    const old = hmacToken(`${HOST}/devices/dev1`, KEY, 3600)
    assert.match(only(diagnose(device(old)), 'ERR_TOKEN_EXPIRED').message, /1970.*clock looks unset/)
  })
  it('expired but within the skew: a warning', () => {
    const f = only(diagnose(device(VECTORS.device), { now: at(120) }), 'WARN_TOKEN_EXPIRED_WITHIN_SKEW')
    assert.match(f.message, /refused in 3 minutes/)
    assert.deepEqual(diagnose(device(VECTORS.device), { now: at(0) }), [])
  })
  it('se in milliseconds', () => {
    const ms = hmacToken(`${HOST}/devices/dev1`, KEY, SE * 1000)
    const f = only(diagnose(device(ms)), 'WARN_TOKEN_EXPIRY_IN_MILLISECONDS')
    assert.match(f.message, /divide by 1000/i)
  })
  it('an expiry years ahead (a clock ahead, or a wrong unit)', () => {
    const f = only(
      diagnose(device(hmacToken(`${HOST}/devices/dev1`, KEY, FUTURE_SE))),
      'WARN_TOKEN_EXPIRY_FAR_AHEAD',
    )
    assert.match(f.message, /device clock\?/)
  })
  it('a token that expires before the next renewal', () => {
    const f = only(
      diagnose(device(VECTORS.device), { renewAfterSeconds: 2 * 3600 }),
      'WARN_TOKEN_EXPIRES_BEFORE_RENEWAL',
    )
    assert.equal(f.renewAfterSeconds, 7200)
    assert.match(f.message, /expires in 1 hour, before the device renews it \(after 2 hours\)/)
    assert.deepEqual(diagnose(device(VECTORS.device), { renewAfterSeconds: 2700 }), [])
  })
})

describe('diagnoseConnect: several reasons at once, and bad options', () => {
  it('reports every reason, in the order the hub meets them', () => {
    const findings = diagnose(
      { clientId: 'dev2', username: `${HOST}/dev1/api-version=2016-11-14`, password: VECTORS.module },
      { now: (SE + 3600) * 1000 },
    )
    assert.deepEqual(codes(findings), [
      'ERR_USERNAME_QUESTION_MARK_MISSING',
      'ERR_CLIENT_ID_MISMATCH',
      'ERR_TOKEN_MODULE_FOR_DEVICE',
      'ERR_TOKEN_EXPIRED',
    ])
  })
  it('bad options throw a SasTokenError, never quoting the key', () => {
    const call = (o: DiagnoseConnectOptions) => () => diagnoseConnect(device(VECTORS.device), o)
    const secret = { notIncluding: [SECRET_FRAGMENT] }
    assertSasTokenError(
      call({ key: `${SECRET_KEY}x` }),
      'ERR_INVALID_KEY',
      /^key is not valid base64/,
      secret,
    )
    assertSasTokenError(call({ groupKey: `${SECRET_KEY}=` }), 'ERR_INVALID_KEY', /^groupKey/, secret)
    assertSasTokenError(call({ now: 1_700_000_000 }), 'ERR_INVALID_NOW', 'looks like epoch seconds')
    assertSasTokenError(call({ clockSkewSeconds: -1 }), 'ERR_INVALID_OPTION', 'clockSkewSeconds')
    assertSasTokenError(call({ renewAfterSeconds: 0 }), 'ERR_INVALID_OPTION', 'renewAfterSeconds')
    assertSasTokenError(call({ hubHostName: 'https://x' }), 'ERR_INVALID_HOST_NAME', 'hubHostName')
    assertSasTokenError(
      call({ connectionString: 'HostName=x' }),
      'ERR_CONNECTION_STRING_MISSING_KEY',
      'Invalid',
    )
    assertSasTokenError(
      call({ policies: { p: { deviceConnect: true, key: `${SECRET_KEY}x` } } }),
      'ERR_INVALID_KEY',
      'policies.p.key',
      secret,
    )
    assertSasTokenError(call({ idScope: 'not/a/scope' }), 'ERR_INVALID_IDENTIFIER', 'ID scope')
  })
})

describe('diagnoseConnect on arbitrary input', () => {
  /** CONNECT-like text: real and near-miss pieces, the key and a token among them. */
  const pieces = (key: string, token: string) =>
    fc
      .array(
        fc.oneof(
          fc.constantFrom(
            HOST,
            '/',
            '?',
            '&',
            '=',
            'dev1',
            'mod1',
            'registrations',
            '0ne00000A0A',
            'api-version=2021-04-12',
            'api-version=',
            'model-id=',
            'dtmi:a;1',
            '%',
            '%zz',
            'SharedAccessSignature ',
            'sr=',
            'sig=',
            'se=',
            'skn=',
            'iothubowner',
            '__proto__',
            '1700000000',
            '99999999999999',
          ),
          fc.constant(key),
          fc.constant(token),
          fc.string({ maxLength: 6 }),
          fc.string({ unit: 'binary', maxLength: 6 }),
        ),
        { maxLength: 10 },
      )
      .map((parts) => parts.join(''))

  it('never throws, and no finding shows the key, the group key or the signature', () => {
    fc.assert(
      fc.property(
        arb.key,
        arb.key,
        arb.deviceId,
        fc.boolean(),
        fc.integer({ min: 0, max: 4_000_000_000 }),
        (key, groupKey, id, withCs, se) => {
          const token = hmacToken(`${HOST}/devices/${id}`, key, se)
          const sig = decodeURIComponent(/sig=([^&]+)/.exec(token)![1]!)
          return fc.assert(
            fc.property(
              pieces(key, token),
              pieces(key, token),
              fc.option(fc.oneof(pieces(key, token), fc.constant(token)), { nil: undefined }),
              (clientId, username, password) => {
                const findings = diagnoseConnect(
                  password === undefined ? { clientId, username } : { clientId, username, password },
                  {
                    key,
                    groupKey,
                    now: NOW,
                    ...(withCs && {
                      connectionString: `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${key}`,
                    }),
                  },
                )
                for (const f of findings) {
                  assert.match(f.code, /^(ERR|WARN)_[A-Z_]+$/)
                  assert.equal(f.severity, f.code.startsWith('WARN_') ? 'warning' : 'error')
                  const text = JSON.stringify(f)
                  for (const secret of [key, groupKey, sig]) assert.ok(!text.includes(secret), text)
                }
              },
            ),
            { numRuns: 20 },
          )
        },
      ),
      { numRuns: 100 },
    )
  })

  it('never throws on fields of the wrong type', () => {
    const anything = fc.anything()
    fc.assert(
      fc.property(anything, anything, anything, (clientId, username, password) => {
        const connect = { clientId, username, password } as {
          clientId: string
          username: string
          password?: string
        }
        assert.ok(Array.isArray(diagnoseConnect(connect, { key: KEY, now: NOW })))
      }),
      { numRuns: 500 },
    )
  })
})

describe('diagnoseConnect given the registry: the hub decision, with its registry-only findings', () => {
  const THUMB = 'AB'.repeat(20)
  const sasIdentity = (status: 'enabled' | 'disabled' = 'enabled'): RegisteredIdentity => ({
    status,
    authentication: { type: 'sas', keys: [OTHER_KEY, KEY] },
  })
  const registry = (identities: Record<string, RegisteredIdentity>): ConnectRegistry => ({
    identity: (deviceId, moduleId) =>
      identities[moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`],
  })
  const hub = (r: ConnectRegistry, o: DiagnoseConnectOptions = {}) => ({
    key: undefined,
    hubHostName: HOST,
    registry: r,
    ...o,
  })

  it("the registry's secondary key verifies the token: no finding", () => {
    assert.deepEqual(diagnose(device(VECTORS.device), hub(registry({ dev1: sasIdentity() }))), [])
  })
  it('an identity the registry does not have: ERR_IDENTITY_NOT_FOUND, and no signature check', () => {
    const f = only(diagnose(device(VECTORS.device), hub(registry({}))), 'ERR_IDENTITY_NOT_FOUND')
    assert.equal(f.deviceId, 'dev1')
    assert.match(f.message, /no device dev1 in this hub's registry/)
  })
  it('a disabled device, and a module of a disabled device: ERR_DEVICE_DISABLED', () => {
    only(
      diagnose(device(VECTORS.device), hub(registry({ dev1: sasIdentity('disabled') }))),
      'ERR_DEVICE_DISABLED',
    )
    const f = only(
      diagnose(
        device(VECTORS.module, MODULE_USER, 'dev1/mod1'),
        hub(registry({ 'dev1/mod1': sasIdentity('disabled') })),
      ),
      'ERR_DEVICE_DISABLED',
    )
    assert.equal(f.moduleId, 'mod1')
  })
  it('a token signed with a key the registry does not hold: ERR_TOKEN_SIGNATURE_MISMATCH', () => {
    const r = registry({ dev1: { status: 'enabled', authentication: { type: 'sas', keys: [OTHER_KEY] } } })
    only(diagnose(device(VECTORS.device), hub(r)), 'ERR_TOKEN_SIGNATURE_MISMATCH')
  })

  const selfSigned = registry({
    dev1: { status: 'enabled', authentication: { type: 'selfSigned', thumbprints: [THUMB, ''] } },
  })
  it('an X.509 self-signed identity: thumbprints compare without colons or case', () => {
    const thumb = THUMB.toLowerCase().match(/../g)?.join(':') ?? ''
    assert.deepEqual(diagnose({ ...device(undefined), certificateThumbprints: [thumb] }, hub(selfSigned)), [])
    only(
      diagnose({ ...device(undefined), certificateThumbprints: ['CD'.repeat(20)] }, hub(selfSigned)),
      'ERR_THUMBPRINT_MISMATCH',
    )
    only(diagnose(device(undefined), hub(selfSigned)), 'ERR_CLIENT_CERTIFICATE_MISSING')
  })
  it('an X.509 identity with a device token: ERR_X509_WITH_PASSWORD; with a policy token it connects', () => {
    only(diagnose(device(VECTORS.device), hub(selfSigned)), 'ERR_X509_WITH_PASSWORD')
    only(
      diagnose(
        device(VECTORS.devicePolicy),
        hub(selfSigned, { policies: { iothubowner: { deviceConnect: true, key: KEY } } }),
      ),
      'WARN_POLICY_TOKEN',
    )
  })
  it('a certificate and no password for a keyed identity: ERR_IDENTITY_NOT_X509', () => {
    only(
      diagnose(
        { ...device(undefined), certificateThumbprints: [THUMB] },
        hub(registry({ dev1: sasIdentity() })),
      ),
      'ERR_IDENTITY_NOT_X509',
    )
  })
  it("a CA identity's chain problem is the finding, with its facts", () => {
    const r = registry({
      dev1: {
        status: 'enabled',
        authentication: {
          type: 'certificateAuthority',
          chainProblem: {
            code: 'ERR_X509_CN_MISMATCH',
            message: 'The CN is dev2, not the device id dev1.',
            facts: { commonName: 'dev2', expectedCommonName: 'dev1' },
          },
        },
      },
    })
    const f = only(
      diagnose({ ...device(undefined), certificateThumbprints: [THUMB] }, hub(r)),
      'ERR_X509_CN_MISMATCH',
    )
    assert.equal(f.commonName, 'dev2')
    assert.equal(f.expectedCommonName, 'dev1')
  })
  it('a host alias (host:port) in the username is the hub', () => {
    const username = `${HOST}:8883/dev1/?api-version=2021-04-12`
    const r = registry({ dev1: sasIdentity() })
    assert.deepEqual(codes(diagnose(device(VECTORS.device, username), hub(r))), [
      'ERR_USERNAME_MALFORMED',
      'ERR_USERNAME_HOST_MISMATCH',
    ])
    assert.deepEqual(
      diagnose(device(VECTORS.device, username), hub(r, { hubHostAliases: [`${HOST}:8883`] })),
      [],
    )
  })

  const dps = { clientId: 'my-device-01', username: DPS_USER, password: VECTORS.dps }
  const group = (status: 'enabled' | 'disabled', keys: readonly string[] = [OTHER_KEY, GROUP_KEY]) => ({
    enrollmentGroupId: 'g1',
    status,
    keys,
  })
  it("DPS: a group's secondary key derives the signing key: no finding", () => {
    assert.deepEqual(
      diagnose(dps, { key: undefined, registry: { enrollmentGroups: [group('enabled')] } }),
      [],
    )
  })
  it('DPS: no enrollment and no enabled group: ERR_ENROLLMENT_NOT_FOUND naming the registration id', () => {
    const f = only(
      diagnose(dps, {
        key: undefined,
        registry: { enrollment: () => undefined, enrollmentGroups: [group('disabled')] },
      }),
      'ERR_ENROLLMENT_NOT_FOUND',
    )
    assert.equal(f.registrationId, 'my-device-01')
    assert.match(f.message, /no enrollment for the registration id "my-device-01"/)
  })
  it('DPS: no enrollment, and no enabled group derives the key: ERR_ENROLLMENT_NOT_FOUND, not only a signature mismatch', () => {
    const f = only(
      diagnose(dps, { key: undefined, registry: { enrollmentGroups: [group('enabled', [OTHER_KEY])] } }),
      'ERR_ENROLLMENT_NOT_FOUND',
    )
    assert.match(f.message, /no individual enrollment for the registration id "my-device-01"/)
  })
  it("DPS: a token signed with a group's own key names the group", () => {
    const token = hmacToken('0ne00000A0A/registrations/my-device-01', GROUP_KEY, SE, 'registration')
    const f = only(
      diagnose(
        { ...dps, password: token },
        { key: undefined, registry: { enrollmentGroups: [group('enabled')] } },
      ),
      'ERR_TOKEN_SIGNED_WITH_GROUP_KEY',
    )
    assert.equal(f.enrollmentGroupId, 'g1')
  })
  it('DPS: a disabled individual enrollment: ERR_ENROLLMENT_DISABLED', () => {
    const r = { enrollment: () => ({ status: 'disabled' as const, keys: [DERIVED['my-device-01']] }) }
    only(diagnose(dps, { key: undefined, registry: r }), 'ERR_ENROLLMENT_DISABLED')
  })
  it('DPS: the ID scope compares case-insensitively, in the username and in the token', () => {
    const upper = { ...dps, username: DPS_USER.replace('0ne00000A0A', '0NE00000A0A') }
    assert.deepEqual(diagnose(upper, { key: DERIVED['my-device-01'], idScope: '0ne00000a0a' }), [])
  })
})
