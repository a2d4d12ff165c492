// MQTT CONNECT fields against the docs and SDK vectors (sdk-facts §3, §9). Tokens are compared
// with the cross-SDK vectors of §9.2 (key cGFzc3dvcmQ=, se 1700000000).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dpsMqttCredentials, mqttCredentials, parseConnectionString, SasTokenError } from 'sas-token'
import { code } from './support/errors.js'
import { hmacToken } from './support/hmac-token.js'

const KEY = 'cGFzc3dvcmQ='
/** One hour before se = 1700000000, in epoch milliseconds. */
const AT = { now: 1_699_996_400_000, ttl: 3600 }
const DEVICE_TOKEN =
  'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000'
const MODULE_TOKEN =
  'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=fGXCx3v8IsZ5KZEGgop3RhYJ9cnRSs9VqP3uTffvtUc%3D&se=1700000000'
const POLICY_DEVICE_TOKEN = `${DEVICE_TOKEN}&skn=iothubowner`

describe('mqttCredentials', () => {
  test('docs device example', () => {
    const c = mqttCredentials(`HostName=contoso.azure-devices.net;DeviceId=MyDevice01;SharedAccessKey=${KEY}`)
    assert.equal(c.host, 'contoso.azure-devices.net')
    assert.equal(c.port, 8883)
    assert.equal(c.clientId, 'MyDevice01')
    assert.equal(c.username, 'contoso.azure-devices.net/MyDevice01/?api-version=2021-04-12')
    assert.equal(c.protocolVersion, 4)
    assert.equal(c.websocketUrl, 'wss://contoso.azure-devices.net/$iothub/websocket')
  })

  test('device: the password is the Node SDK token and expiresAt its se', () => {
    assert.deepEqual(
      mqttCredentials(`HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY}`, AT),
      {
        host: 'myhub.azure-devices.net',
        port: 8883,
        clientId: 'dev1',
        username: 'myhub.azure-devices.net/dev1/?api-version=2021-04-12',
        password: DEVICE_TOKEN,
        expiresAt: 1_700_000_000,
        protocolVersion: 4,
        websocketUrl: 'wss://myhub.azure-devices.net/$iothub/websocket',
      },
    )
  })

  test('module: clientId deviceId/moduleId, module username and token', () => {
    const c = mqttCredentials(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${KEY}`,
      AT,
    )
    assert.equal(c.clientId, 'dev1/mod1')
    assert.equal(c.username, 'myhub.azure-devices.net/dev1/mod1/?api-version=2021-04-12')
    assert.equal(c.password, MODULE_TOKEN)
  })

  test('embc username vectors: api-version, DeviceClientType and an encoded model-id', () => {
    const module = parseConnectionString(
      `HostName=myiothub.azure-devices.net;DeviceId=my_device;ModuleId=my_module_id;SharedAccessKey=${KEY}`,
    )
    assert.equal(
      mqttCredentials(module, { apiVersion: '2020-09-30', productInfo: 'azrtos' }).username,
      'myiothub.azure-devices.net/my_device/my_module_id/?api-version=2020-09-30&DeviceClientType=azrtos',
    )
    assert.equal(mqttCredentials(module).clientId, 'my_device/my_module_id')
    // embc sends DeviceClientType before model-id; DESIGN puts model-id first (order is free).
    assert.equal(
      mqttCredentials(module, {
        apiVersion: '2020-09-30',
        productInfo: 'azrtos',
        modelId: 'dtmi:YOUR_COMPANY_NAME_HERE:sample_device;1',
      }).username,
      'myiothub.azure-devices.net/my_device/my_module_id/?api-version=2020-09-30&model-id=dtmi%3AYOUR_COMPANY_NAME_HERE%3Asample_device%3B1&DeviceClientType=azrtos',
    )
    const device = `HostName=myiothub.azure-devices.net;DeviceId=my_device;SharedAccessKey=${KEY}`
    assert.equal(
      mqttCredentials(device, { modelId: 'dtmi:YOUR_COMPANY_NAME_HERE:sample_device;1' }).username,
      'myiothub.azure-devices.net/my_device/?api-version=2021-04-12&model-id=dtmi%3AYOUR_COMPANY_NAME_HERE%3Asample_device%3B1',
    )
    assert.equal(mqttCredentials(device).clientId, 'my_device')
  })

  test('node user agent as productInfo is encodeURIComponent-ed', () => {
    const c = mqttCredentials(`HostName=host.name;DeviceId=deviceId;SharedAccessKey=${KEY}`, {
      productInfo: 'azure-iot-device/1.18.3 (node v20.1.0; Ubuntu 22.04; x64)',
    })
    assert.equal(
      c.username,
      'host.name/deviceId/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.3%20(node%20v20.1.0%3B%20Ubuntu%2022.04%3B%20x64)',
    )
  })

  test('GatewayHostName: connect to the gateway, username and token keep the hub', () => {
    const c = mqttCredentials(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY};GatewayHostName=edge.contoso.local`,
      AT,
    )
    assert.equal(c.host, 'edge.contoso.local')
    assert.equal(c.username, 'myhub.azure-devices.net/dev1/?api-version=2021-04-12')
    assert.equal(c.password, DEVICE_TOKEN)
    assert.equal(c.websocketUrl, 'wss://edge.contoso.local/$iothub/websocket')
  })

  test('X.509: no password, no expiresAt', () => {
    const c = mqttCredentials('HostName=myhub.azure-devices.net;DeviceId=dev1;x509=true')
    assert.deepEqual(c, {
      host: 'myhub.azure-devices.net',
      port: 8883,
      clientId: 'dev1',
      username: 'myhub.azure-devices.net/dev1/?api-version=2021-04-12',
      protocolVersion: 4,
      websocketUrl: 'wss://myhub.azure-devices.net/$iothub/websocket',
    })
    assert.ok(!('password' in c) && !('expiresAt' in c))
  })

  test('SharedAccessSignature= form: the embedded token, its expiry', () => {
    const c = mqttCredentials(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${DEVICE_TOKEN}`,
      { now: AT.now },
    )
    assert.equal(c.password, DEVICE_TOKEN)
    assert.equal(c.expiresAt, 1_700_000_000)
    assert.equal(
      code(() =>
        mqttCredentials(
          `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${DEVICE_TOKEN}`,
          { now: 1_700_000_001_000 },
        ),
      ),
      'ERR_TOKEN_EXPIRED',
    )
  })

  test('service string + deviceId: a policy token scoped to the device (py vector)', () => {
    const service = `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
    const c = mqttCredentials(service, { ...AT, deviceId: 'dev1' })
    assert.equal(c.clientId, 'dev1')
    assert.equal(c.username, 'myhub.azure-devices.net/dev1/?api-version=2021-04-12')
    assert.equal(c.password, POLICY_DEVICE_TOKEN)
    const m = mqttCredentials(service, { ...AT, deviceId: 'dev1', moduleId: 'mod1' })
    assert.equal(m.clientId, 'dev1/mod1')
    assert.equal(m.username, 'myhub.azure-devices.net/dev1/mod1/?api-version=2021-04-12')
    assert.equal(
      m.password,
      hmacToken('myhub.azure-devices.net/devices/dev1/modules/mod1', KEY, 1_700_000_000, 'iothubowner'),
    )
  })

  test('errors', () => {
    const service = `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
    const device = `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY}`
    assert.equal(
      code(() => mqttCredentials(service)),
      'ERR_DEVICE_ID_REQUIRED',
    )
    assert.equal(
      code(() => mqttCredentials(service, { moduleId: 'm' })),
      'ERR_DEVICE_ID_REQUIRED',
    )
    assert.equal(
      code(() => mqttCredentials(service, { deviceId: 'a/b' })),
      'ERR_INVALID_IDENTIFIER',
    )
    assert.equal(
      code(() => mqttCredentials(device, { deviceId: 'dev2' })),
      'ERR_IDENTITY_MISMATCH',
    )
    assert.equal(
      code(() => mqttCredentials(device, { moduleId: 'mod1' })),
      'ERR_IDENTITY_MISMATCH',
    )
    assert.equal(
      code(() =>
        mqttCredentials('HostName=myhub.azure-devices.net;DeviceId=dev1;x509=true', { deviceId: 'dev2' }),
      ),
      'ERR_IDENTITY_MISMATCH',
    )
    assert.equal(
      code(() => mqttCredentials(device, { apiVersion: '' })),
      'ERR_INVALID_OPTION',
    )
    assert.equal(
      code(() => mqttCredentials(device, { apiVersion: '2021-04-12&x=1' })),
      'ERR_INVALID_OPTION',
    )
    assert.equal(
      code(() => mqttCredentials(device, { modelId: 'Thermostat;1' })),
      'ERR_INVALID_OPTION',
    )
    assert.equal(
      code(() => mqttCredentials(device, { productInfo: '' })),
      'ERR_INVALID_OPTION',
    )
    assert.equal(
      code(() => mqttCredentials(device, { productInfo: '\ud800' })),
      'ERR_INVALID_OPTION',
    )
    assert.equal(
      code(() => mqttCredentials('HostName=myhub.azure-devices.net;DeviceId=dev1')),
      'ERR_CONNECTION_STRING_MISSING_KEY',
    )
  })

  test('error messages never contain the key', () => {
    const secret = 'c2VjcmV0LWtleS1kby1ub3QtbGVhaw=='
    for (const fn of [
      () =>
        mqttCredentials(
          `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${secret}`,
        ),
      () =>
        mqttCredentials(`HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${secret}`, {
          modelId: 'x',
        }),
      () =>
        mqttCredentials(`HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${secret}`, {
          ttl: 0,
        }),
    ]) {
      try {
        fn()
        assert.fail('expected a throw')
      } catch (err) {
        assert.ok(err instanceof SasTokenError)
        assert.ok(!err.message.includes(secret), err.message)
      }
    }
  })
})

describe('dpsMqttCredentials', () => {
  const derivedKey = 'i0eNaxR9P2qCHaK3RkHpn3erozYVBcdCwAsiEzQHCM4='

  test('docs/node username, registration id as clientId, cs-profile DPS token', () => {
    assert.deepEqual(
      dpsMqttCredentials({ idScope: '0ne00000A0A', registrationId: 'my-device-01', key: derivedKey, ...AT }),
      {
        host: 'global.azure-devices-provisioning.net',
        port: 8883,
        clientId: 'my-device-01',
        username: '0ne00000A0A/registrations/my-device-01/api-version=2019-03-31',
        password:
          'SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fmy-device-01&sig=OOwWM29FRWxgrGImQ16T0OAc3Op91yMQnW3bkcsi3pI%3D&se=1700000000&skn=registration',
        expiresAt: 1_700_000_000,
        protocolVersion: 4,
        websocketUrl: 'wss://global.azure-devices-provisioning.net/$iothub/websocket',
      },
    )
  })

  test('embc username vector and a custom host', () => {
    const c = dpsMqttCredentials({
      idScope: '0neFEEDC0DE',
      registrationId: 'myRegistrationId',
      key: KEY,
      host: 'global.azure-devices-provisioning.cn',
    })
    assert.equal(c.username, '0neFEEDC0DE/registrations/myRegistrationId/api-version=2019-03-31')
    assert.equal(c.host, 'global.azure-devices-provisioning.cn')
  })

  test('errors', () => {
    assert.equal(
      code(() => dpsMqttCredentials({ idScope: '0ne/1', registrationId: 'r', key: KEY })),
      'ERR_INVALID_IDENTIFIER',
    )
    assert.equal(
      code(() => dpsMqttCredentials({ idScope: '0ne1', registrationId: 'r.', key: KEY })),
      'ERR_INVALID_IDENTIFIER',
    )
    assert.equal(
      code(() => dpsMqttCredentials({ idScope: '0ne1', registrationId: 'r', key: 'not base64!' })),
      'ERR_INVALID_KEY',
    )
    assert.equal(
      code(() => dpsMqttCredentials({ idScope: '0ne1', registrationId: 'r', key: KEY, host: 'mqtts://x' })),
      'ERR_INVALID_HOST_NAME',
    )
  })
})
