// MQTT CONNECT fields against the docs and SDK vectors (sdk-facts §3, §9). Tokens are compared
// with the cross-SDK vectors of §9.2 (key cGFzc3dvcmQ=, se 1700000000).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { dpsMqttCredentials, mqttCredentials, parseConnectionString } from 'sas-token'
import { assertSasTokenError } from './support/errors.js'
import { KEY, NOW, VECTORS } from './support/fixtures.js'
import { hmacToken } from './support/hmac-token.js'

/** One hour before se = 1700000000, in epoch milliseconds. */
const AT = { now: NOW, ttl: 3600 }

describe('mqttCredentials', () => {
  it('docs device example', () => {
    const c = mqttCredentials(`HostName=contoso.azure-devices.net;DeviceId=MyDevice01;SharedAccessKey=${KEY}`)
    assert.equal(c.host, 'contoso.azure-devices.net')
    assert.equal(c.port, 8883)
    assert.equal(c.clientId, 'MyDevice01')
    assert.equal(c.username, 'contoso.azure-devices.net/MyDevice01/?api-version=2021-04-12')
    assert.equal(c.protocolVersion, 4)
    assert.equal(c.websocketUrl, 'wss://contoso.azure-devices.net/$iothub/websocket')
  })

  it('device: the password is the Node SDK token and expiresAt its se', () => {
    assert.deepEqual(
      mqttCredentials(`HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY}`, AT),
      {
        host: 'myhub.azure-devices.net',
        port: 8883,
        clientId: 'dev1',
        username: 'myhub.azure-devices.net/dev1/?api-version=2021-04-12',
        password: VECTORS.device,
        expiresAt: 1_700_000_000,
        protocolVersion: 4,
        websocketUrl: 'wss://myhub.azure-devices.net/$iothub/websocket',
      },
    )
  })

  it('module: clientId deviceId/moduleId, module username and token', () => {
    const c = mqttCredentials(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${KEY}`,
      AT,
    )
    assert.equal(c.clientId, 'dev1/mod1')
    assert.equal(c.username, 'myhub.azure-devices.net/dev1/mod1/?api-version=2021-04-12')
    assert.equal(c.password, VECTORS.module)
  })

  it('embc username vectors: api-version, DeviceClientType and an encoded model-id', () => {
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

  it('node user agent as productInfo is encodeURIComponent-ed', () => {
    const c = mqttCredentials(`HostName=host.name;DeviceId=deviceId;SharedAccessKey=${KEY}`, {
      productInfo: 'azure-iot-device/1.18.3 (node v20.1.0; Ubuntu 22.04; x64)',
    })
    assert.equal(
      c.username,
      'host.name/deviceId/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.3%20(node%20v20.1.0%3B%20Ubuntu%2022.04%3B%20x64)',
    )
  })

  it('GatewayHostName: connect to the gateway, username and token keep the hub', () => {
    const c = mqttCredentials(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY};GatewayHostName=edge.contoso.local`,
      AT,
    )
    assert.equal(c.host, 'edge.contoso.local')
    assert.equal(c.username, 'myhub.azure-devices.net/dev1/?api-version=2021-04-12')
    assert.equal(c.password, VECTORS.device)
    assert.equal(c.websocketUrl, 'wss://edge.contoso.local/$iothub/websocket')
  })

  it('X.509: no password, no expiresAt', () => {
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

  it('SharedAccessSignature= form: the embedded token, its expiry', () => {
    const c = mqttCredentials(
      `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`,
      { now: AT.now },
    )
    assert.equal(c.password, VECTORS.device)
    assert.equal(c.expiresAt, 1_700_000_000)
    assertSasTokenError(
      () =>
        mqttCredentials(
          `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`,
          { now: 1_700_000_001_000 },
        ),
      'ERR_TOKEN_EXPIRED',
      /SharedAccessSignature expired at 2023-11-14T22:13:20\.000Z/,
    )
  })

  it('service string + deviceId: a policy token scoped to the device (py vector)', () => {
    const service = `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
    const c = mqttCredentials(service, { ...AT, deviceId: 'dev1' })
    assert.equal(c.clientId, 'dev1')
    assert.equal(c.username, 'myhub.azure-devices.net/dev1/?api-version=2021-04-12')
    assert.equal(c.password, VECTORS.devicePolicy)
    const m = mqttCredentials(service, { ...AT, deviceId: 'dev1', moduleId: 'mod1' })
    assert.equal(m.clientId, 'dev1/mod1')
    assert.equal(m.username, 'myhub.azure-devices.net/dev1/mod1/?api-version=2021-04-12')
    assert.equal(
      m.password,
      hmacToken('myhub.azure-devices.net/devices/dev1/modules/mod1', KEY, 1_700_000_000, 'iothubowner'),
    )
  })

  it('errors', () => {
    const service = `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
    const device = `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY}`
    assertSasTokenError(
      () => mqttCredentials(service),
      'ERR_DEVICE_ID_REQUIRED',
      /service \(policy\) connection string: give the deviceId/,
    )
    assertSasTokenError(
      () => mqttCredentials(service, { moduleId: 'm' }),
      'ERR_DEVICE_ID_REQUIRED',
      /service \(policy\) connection string: give the deviceId/,
    )
    assertSasTokenError(
      () => mqttCredentials(service, { deviceId: 'a/b' }),
      'ERR_INVALID_IDENTIFIER',
      /deviceId is not valid: '\/'/,
    )
    assertSasTokenError(
      () => mqttCredentials(device, { deviceId: 'dev2' }),
      'ERR_INVALID_OPTION',
      /deviceId and moduleId options only choose the identity for a service \(policy\) connection string/,
    )
    assertSasTokenError(
      () => mqttCredentials(device, { moduleId: 'mod1' }),
      'ERR_INVALID_OPTION',
      /deviceId and moduleId options only choose the identity for a service \(policy\) connection string/,
    )
    assertSasTokenError(
      () => mqttCredentials('HostName=myhub.azure-devices.net;DeviceId=dev1;x509=true', { deviceId: 'dev2' }),
      'ERR_INVALID_OPTION',
      /deviceId and moduleId options only choose the identity for a service \(policy\) connection string/,
    )
    assertSasTokenError(
      () => mqttCredentials(device, { apiVersion: '' }),
      'ERR_INVALID_OPTION',
      /apiVersion "" is not valid/,
    )
    assertSasTokenError(
      () => mqttCredentials(device, { apiVersion: '2021-04-12&x=1' }),
      'ERR_INVALID_OPTION',
      /apiVersion "2021-04-12&x=1" is not valid/,
    )
    assertSasTokenError(
      () => mqttCredentials(device, { modelId: 'Thermostat;1' }),
      'ERR_INVALID_OPTION',
      /modelId "Thermostat;1" is not a DTMI/,
    )
    assertSasTokenError(
      () => mqttCredentials(device, { productInfo: '' }),
      'ERR_INVALID_OPTION',
      /productInfo is empty/,
    )
    assertSasTokenError(
      () => mqttCredentials(device, { productInfo: '\ud800' }),
      'ERR_INVALID_OPTION',
      /productInfo contains a lone UTF-16 surrogate/,
    )
    assertSasTokenError(
      () => mqttCredentials('HostName=myhub.azure-devices.net;DeviceId=dev1'),
      'ERR_CONNECTION_STRING_MISSING_KEY',
      /needs one of 'SharedAccessKey', 'SharedAccessSignature' or 'x509=true'/,
    )
  })

  it('error messages never contain the key', () => {
    const secret = 'c2VjcmV0LWtleS1kby1ub3QtbGVhaw=='
    const cases = [
      [
        () =>
          mqttCredentials(
            `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${secret}`,
          ),
        'ERR_DEVICE_ID_REQUIRED',
        /service \(policy\) connection string: give the deviceId/,
      ],
      [
        () =>
          mqttCredentials(`HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${secret}`, {
            modelId: 'x',
          }),
        'ERR_INVALID_OPTION',
        /modelId "x" is not a DTMI/,
      ],
      [
        () =>
          mqttCredentials(`HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${secret}`, {
            ttl: 0,
          }),
        'ERR_INVALID_TTL',
        /TTL 0 is not valid/,
      ],
    ] as const
    for (const [fn, code, message] of cases) {
      assertSasTokenError(fn, code, message, { notIncluding: [secret] })
    }
  })
})

describe('dpsMqttCredentials', () => {
  const derivedKey = 'i0eNaxR9P2qCHaK3RkHpn3erozYVBcdCwAsiEzQHCM4='

  it('docs/node username, registration id as clientId, cs-profile DPS token', () => {
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

  it('embc username vector and a custom host', () => {
    const c = dpsMqttCredentials({
      idScope: '0neFEEDC0DE',
      registrationId: 'myRegistrationId',
      key: KEY,
      host: 'global.azure-devices-provisioning.cn',
    })
    assert.equal(c.username, '0neFEEDC0DE/registrations/myRegistrationId/api-version=2019-03-31')
    assert.equal(c.host, 'global.azure-devices-provisioning.cn')
  })

  it('errors', () => {
    assertSasTokenError(
      () => dpsMqttCredentials({ idScope: '0ne/1', registrationId: 'r', key: KEY }),
      'ERR_INVALID_IDENTIFIER',
      /ID scope is not valid/,
    )
    assertSasTokenError(
      () => dpsMqttCredentials({ idScope: '0ne1', registrationId: 'r.', key: KEY }),
      'ERR_INVALID_IDENTIFIER',
      /registration id is not valid: .*end with a letter, a digit or '-'/,
    )
    assertSasTokenError(
      () => dpsMqttCredentials({ idScope: '0ne1', registrationId: 'r', key: 'not base64!' }),
      'ERR_INVALID_KEY',
      /key is not valid base64/,
    )
    assertSasTokenError(
      () => dpsMqttCredentials({ idScope: '0ne1', registrationId: 'r', key: KEY, host: 'mqtts://x' }),
      'ERR_INVALID_HOST_NAME',
      /host is not a bare host name/,
    )
  })
})
