// The product hub's device side, seen from real mqtt.js clients over real TLS (and WebSocket):
// CONNECT refusals explained, and the hub's rules. Tokens are signed here with node:crypto
// (support/hmac-token.ts), not with the library under test; the happy path uses the library's
// mqttCredentials() as a device program would.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { request } from 'node:https'
import { after, before, describe, it } from 'node:test'
import { deviceSubscriptions, mqttCredentials, telemetryTopic } from 'sas-token'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { closed, connect, nextEvent, nextMessage, refusedCode } from './support/hub-mqtt.js'

const KEY = Buffer.alloc(32, 7).toString('base64')
const OTHER_KEY = Buffer.alloc(32, 9).toString('base64')
const API = '?api-version=2021-04-12'
const nowS = (): number => Math.floor(Date.now() / 1000)

describe('hub device side (mqtt.js over TLS)', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
    await hub.addDevice('dev1', { primaryKey: KEY, secondaryKey: OTHER_KEY })
    await hub.addDevice('off1', { primaryKey: KEY, status: 'disabled' })
    await hub.addModule('dev1', 'm1', { primaryKey: KEY })
  })
  after(() => hub.close())

  const device = (o: { clientId?: string; username?: string; password?: string } = {}) => ({
    clientId: o.clientId ?? 'dev1',
    username: o.username ?? `localhost/dev1/${API}`,
    password: o.password ?? hmacToken('localhost/devices/dev1', KEY, nowS() + 3600),
  })

  it('mqttCredentials() connects; telemetry is recorded with its properties and the hub system properties', async () => {
    const { connectionString } = await hub.addDevice('dev1')
    const c = mqttCredentials(connectionString)
    const client = await connect(hub, {
      clientId: c.clientId,
      username: c.username,
      password: c.password ?? '',
    })
    const seen = nextEvent(hub, 'telemetry', (e) => e.deviceId === 'dev1')
    client.publish(
      telemetryTopic(
        { deviceId: 'dev1' },
        { messageId: 'm-1', contentType: 'application/json', properties: { alert: 'high & dry' } },
      ),
      '{"t":21}',
      { qos: 1, retain: true },
    )
    const e = await seen
    assert.deepEqual(e.body, { text: '{"t":21}' })
    assert.deepEqual(e.properties, { alert: 'high & dry', 'mqtt-retain': 'true' })
    const sys = e.systemProperties as Record<string, string>
    assert.equal(sys.messageId, 'm-1')
    assert.equal(sys.contentType, 'application/json')
    assert.equal(sys['iothub-connection-device-id'], 'dev1')
    assert.equal(sys['iothub-message-source'], 'Telemetry')
    assert.equal(JSON.parse(sys['iothub-connection-auth-method'] ?? '{}').type, 'sas')
    assert.ok(!Number.isNaN(Date.parse(sys['iothub-enqueuedtime'] ?? '')))
    client.end(true)
    await closed(client)
  })

  it('the secondary key connects too', async () => {
    const client = await connect(
      hub,
      device({ password: hmacToken('localhost/devices/dev1', OTHER_KEY, nowS() + 60) }),
    )
    client.end(true)
  })

  it('a CONNECT the rule set accepts with a warning (an unknown api-version) logs the warning on its connect event', async () => {
    const connected = nextEvent(hub, 'connect', (e) => e.deviceId === 'dev1')
    const client = await connect(hub, device({ username: 'localhost/dev1/?api-version=banana' }))
    const e = await connected
    assert.deepEqual(
      e.warnings?.map((f) => f.code),
      ['WARN_USERNAME_API_VERSION_UNKNOWN'],
    )
    client.end(true)
  })

  const refusals: Array<
    [string, () => { clientId: string; username: string; password?: string }, number, string, string?]
  > = [
    [
      'a wrong key',
      () =>
        device({
          password: hmacToken('localhost/devices/dev1', Buffer.alloc(32, 1).toString('base64'), nowS() + 60),
        }),
      5,
      'ERR_TOKEN_SIGNATURE_MISMATCH',
    ],
    [
      'an expired token',
      () => device({ password: hmacToken('localhost/devices/dev1', KEY, nowS() - 3600) }),
      5,
      'ERR_TOKEN_EXPIRED',
      'ERR_TOKEN_EXPIRED',
    ],
    [
      'a policy token for another device',
      () =>
        device({
          password: hmacToken('localhost/devices/dev2', hubOwnerKey(hub), nowS() + 60, 'iothubowner'),
        }),
      5,
      'ERR_POLICY_TOKEN_SCOPE',
      'ERR_POLICY_TOKEN_SCOPE',
    ],
    [
      'an unknown policy',
      () => device({ password: hmacToken('localhost/devices/dev1', KEY, nowS() + 60, 'nosuchpolicy') }),
      5,
      'ERR_POLICY_UNKNOWN',
      'ERR_POLICY_UNKNOWN',
    ],
    [
      'a policy without DeviceConnect',
      () => device({ password: hmacToken('localhost', KEY, nowS() + 60, 'registryRead') }),
      5,
      'ERR_POLICY_NO_DEVICE_CONNECT',
      'ERR_POLICY_NO_DEVICE_CONNECT',
    ],
    [
      'a module token used for the device',
      () => device({ password: hmacToken('localhost/devices/dev1/modules/m1', KEY, nowS() + 60) }),
      5,
      'ERR_TOKEN_MODULE_FOR_DEVICE',
      'ERR_TOKEN_MODULE_FOR_DEVICE',
    ],
    [
      'a missing api-version',
      () => device({ username: 'localhost/dev1/?' }),
      5,
      'ERR_USERNAME_API_VERSION_MISSING',
      'ERR_USERNAME_API_VERSION_MISSING',
    ],
    [
      'a clientId mismatch',
      () => device({ clientId: 'dev1x' }),
      5,
      'ERR_CLIENT_ID_MISMATCH',
      'ERR_CLIENT_ID_MISMATCH',
    ],
    [
      'another host',
      () => device({ username: `myhub.azure-devices.net/dev1/${API}` }),
      5,
      'ERR_USERNAME_HOST_MISMATCH',
      'ERR_USERNAME_HOST_MISMATCH',
    ],
    [
      'a disabled device',
      () => ({
        clientId: 'off1',
        username: `localhost/off1/${API}`,
        password: hmacToken('localhost/devices/off1', KEY, nowS() + 60),
      }),
      5,
      'ERR_DEVICE_DISABLED',
    ],
    [
      'an unknown device',
      () => ({
        clientId: 'ghost',
        username: `localhost/ghost/${API}`,
        password: hmacToken('localhost/devices/ghost', KEY, nowS() + 60),
      }),
      5,
      'ERR_IDENTITY_NOT_FOUND',
    ],
    [
      'a password that is no SAS token',
      () => device({ password: 'hunter2' }),
      4,
      'ERR_PASSWORD_NOT_SAS_TOKEN',
      'ERR_PASSWORD_NOT_SAS_TOKEN',
    ],
  ]
  for (const [name, make, returnCode, code, finding] of refusals) {
    it(`refuses ${name} with CONNACK ${returnCode}, and the log says why`, async () => {
      const c = make()
      const logged = nextEvent(hub, 'refuse', (e) => e.clientId === c.clientId)
      assert.equal(await refusedCode(hub, c), returnCode)
      const e = await logged
      assert.equal(e.returnCode, returnCode)
      assert.equal((e.reason as { code: string }).code, code)
      const findings = e.findings as Array<{ severity: string; code: string; message: string }>
      assert.ok(findings.some((f) => f.severity === 'error'))
      if (finding !== undefined)
        assert.ok(
          findings.some((f) => f.code === finding),
          JSON.stringify(findings),
        )
      const line = JSON.stringify(e)
      if (c.password?.includes('sig=')) {
        const sig = /sig=([^&]+)/.exec(c.password ?? '')?.[1] ?? ''
        assert.ok(!line.includes(sig), 'the refusal log must not contain the signature')
        assert.ok(!line.includes(decodeURIComponent(sig)), 'the refusal log must not contain the signature')
      }
      assert.ok(!line.includes(KEY))
    })
  }

  it('a policy token with DeviceConnect whose sr covers the device is accepted', async () => {
    const accepted = nextEvent(hub, 'connect', (e) => e.deviceId === 'dev1')
    const client = await connect(
      hub,
      device({ password: hmacToken('localhost', hubOwnerKey(hub), nowS() + 60, 'iothubowner') }),
    )
    assert.equal((await accepted).authMethod, 'policy')
    client.end(true)
  })

  it('a module connects with its own token, and its telemetry names the module', async () => {
    const client = await connect(hub, {
      clientId: 'dev1/m1',
      username: `localhost/dev1/m1/${API}`,
      password: hmacToken('localhost/devices/dev1/modules/m1', KEY, nowS() + 60),
    })
    const seen = nextEvent(hub, 'telemetry', (e) => e.moduleId === 'm1')
    client.publish('devices/dev1/modules/m1/messages/events/%24.on=out1/', 'x')
    const e = await seen
    assert.equal((e.systemProperties as Record<string, string>).outputName, 'out1')
    assert.equal((e.systemProperties as Record<string, string>)['iothub-connection-module-id'], 'm1')
    client.end(true)
  })

  it('disabling a device closes its connected modules too (they connect only while it is enabled)', {
    timeout: 10_000,
  }, async () => {
    await hub.addDevice('dis1', { primaryKey: KEY })
    await hub.addModule('dis1', 'm1', { primaryKey: KEY })
    const client = await connect(hub, {
      clientId: 'dis1/m1',
      username: `localhost/dis1/m1/${API}`,
      password: hmacToken('localhost/devices/dis1/modules/m1', KEY, nowS() + 60),
    })
    client.on('error', () => {})
    const closedEvent = nextEvent(hub, 'close', (e) => e.deviceId === 'dis1' && e.moduleId === 'm1')
    await hub.addDevice('dis1', { primaryKey: KEY, status: 'disabled' })
    assert.equal((await closedEvent).reason, 'device disabled')
    await closed(client)
  })

  it('a module receives messages on its inputs once subscribed (parsed by the core parseTopic)', async () => {
    const { parseTopic } = await import('sas-token')
    const client = await connect(hub, {
      clientId: 'dev1/m1',
      username: `localhost/dev1/m1/${API}`,
      password: hmacToken('localhost/devices/dev1/modules/m1', KEY, nowS() + 60),
    })
    await assert.rejects(hub.sendToModuleInput('dev1', 'm1', 'in1', 'x'), {
      code: 'ERR_HUB_DEVICE_NOT_ONLINE',
    })
    await client.subscribeAsync('devices/dev1/modules/m1/inputs/#', { qos: 1 })
    const message = nextMessage(client, 'devices/dev1/modules/m1/inputs/')
    await hub.sendToModuleInput('dev1', 'm1', 'in1', 'routed', { properties: { k: 'v' } })
    const m = await message
    assert.equal(m.payload.toString(), 'routed')
    const t = parseTopic(m.topic)
    assert.equal(t.type, 'module-input')
    if (t.type === 'module-input') {
      assert.equal(t.inputName, 'in1')
      assert.equal(t.properties.k, 'v')
    }
    client.end(true)
  })

  const rules: Array<[string, (c: import('mqtt').MqttClient) => void, RegExp]> = [
    ['a QoS 2 publish', (c) => c.publish('devices/dev1/messages/events/', 'x', { qos: 2 }), /QoS 2/],
    ['an undocumented topic', (c) => c.publish('devices/dev1/whatever', 'x'), /topic not supported/],
    [
      'telemetry for another device',
      (c) => c.publish('devices/dev2/messages/events/', 'x'),
      /another identity/,
    ],
    ['a subscription to a wildcard', (c) => c.subscribe('#'), /subscription not supported/],
    [
      'a message over 256 KB',
      (c) => c.publish('devices/dev1/messages/events/', Buffer.alloc(256 * 1024 + 1)),
      /too large/,
    ],
  ]
  for (const [name, act, reason] of rules) {
    it(`${name} closes the connection, and the log says why`, async () => {
      const client = await connect(hub, device())
      const logged = nextEvent(hub, 'close', (e) => e.deviceId === 'dev1')
      act(client)
      await closed(client)
      assert.match(String((await logged).reason), reason)
      client.end(true)
    })
  }

  it('a message of exactly 256 KB is accepted', async () => {
    const client = await connect(hub, device())
    const seen = nextEvent(hub, 'telemetry', (e) => e.deviceId === 'dev1')
    client.publish('devices/dev1/messages/events/', Buffer.alloc(256 * 1024, 65), { qos: 1 })
    assert.equal(((await seen).body as { text: string }).text.length, 256 * 1024)
    client.end(true)
  })

  it('a second connection drops the first', async () => {
    const first = await connect(hub, device())
    const logged = nextEvent(hub, 'close', (e) => e.deviceId === 'dev1')
    const second = await connect(hub, device())
    await closed(first)
    assert.match(String((await logged).reason), /replaced/)
    assert.ok(second.connected)
    second.end(true)
  })

  it('a QoS 2 subscription is granted QoS 1', async () => {
    const client = await connect(hub, device())
    const granted = await client.subscribeAsync('$iothub/methods/POST/#', { qos: 2 })
    assert.equal(granted[0]?.qos, 1)
    client.end(true)
  })

  it('the Will is delivered as telemetry with iothub-MessageType: Will when the device drops', async () => {
    const client = await connect(hub, {
      ...device(),
      will: { topic: 'devices/dev1/messages/events/', payload: Buffer.from('gone'), qos: 1, retain: false },
    })
    const seen = nextEvent(hub, 'telemetry', (e) => e.deviceId === 'dev1')
    client.stream.destroy()
    const e = await seen
    assert.deepEqual(e.body, { text: 'gone' })
    assert.equal((e.properties as Record<string, string>)['iothub-MessageType'], 'Will')
  })

  it('twin: GET, reported PATCH (null deletes), 400 for bad JSON and depth, desired patches delivered', async () => {
    const client = await connect(hub, device())
    await client.subscribeAsync(deviceSubscriptions({ deviceId: 'dev1' }), { qos: 1 })
    let res = nextMessage(client, '$iothub/twin/res/')
    client.publish('$iothub/twin/PATCH/properties/reported/?$rid=r1', JSON.stringify({ a: 1, b: { c: 2 } }))
    assert.match((await res).topic, /^\$iothub\/twin\/res\/204\/\?\$rid=r1&\$version=\d+$/)
    res = nextMessage(client, '$iothub/twin/res/')
    client.publish(
      '$iothub/twin/PATCH/properties/reported/?$rid=r2',
      JSON.stringify({ a: null, b: { d: 3 } }),
    )
    await res
    res = nextMessage(client, '$iothub/twin/res/')
    client.publish('$iothub/twin/GET/?$rid=r3', '')
    const got = await res
    assert.equal(got.topic, '$iothub/twin/res/200/?$rid=r3')
    const doc = JSON.parse(got.payload.toString())
    assert.deepEqual({ ...doc.reported, $version: undefined }, { b: { c: 2, d: 3 }, $version: undefined })
    assert.equal(typeof doc.desired.$version, 'number')
    res = nextMessage(client, '$iothub/twin/res/')
    client.publish('$iothub/twin/PATCH/properties/reported/?$rid=r4', '{not json')
    assert.equal((await res).topic, '$iothub/twin/res/400/?$rid=r4')
    let deep: Record<string, unknown> = { x: 1 }
    for (let i = 0; i < 11; i++) deep = { n: deep }
    res = nextMessage(client, '$iothub/twin/res/')
    client.publish('$iothub/twin/PATCH/properties/reported/?$rid=r5', JSON.stringify(deep))
    assert.equal((await res).topic, '$iothub/twin/res/400/?$rid=r5')
    res = nextMessage(client, '$iothub/twin/res/')
    client.publish(
      '$iothub/twin/PATCH/properties/reported/?$rid=r6',
      JSON.stringify({ big: 'x'.repeat(33 * 1024) }),
    )
    assert.equal((await res).topic, '$iothub/twin/res/400/?$rid=r6')
    const desired = nextMessage(client, '$iothub/twin/PATCH/properties/desired/')
    const twin = await hub.updateDesired('dev1', { fan: 'on' })
    const patch = await desired
    const version = (twin.properties as { desired: { $version: number } }).desired.$version
    assert.equal(patch.topic, `$iothub/twin/PATCH/properties/desired/?$version=${version}`)
    assert.deepEqual(JSON.parse(patch.payload.toString()), { fan: 'on', $version: version })
    client.end(true)
  })

  it('direct methods: answered, 404 when offline or unsubscribed, 504 on timeout', async () => {
    await hub.addDevice('meth1', { primaryKey: KEY })
    await assert.rejects(hub.invokeMethod('meth1', 'reboot', {}), { code: 'ERR_HUB_DEVICE_NOT_ONLINE' })
    const client = await connect(hub, {
      clientId: 'meth1',
      username: `localhost/meth1/${API}`,
      password: hmacToken('localhost/devices/meth1', KEY, nowS() + 600),
    })
    await assert.rejects(hub.invokeMethod('meth1', 'reboot', {}), { code: 'ERR_HUB_DEVICE_NOT_ONLINE' })
    await client.subscribeAsync('$iothub/methods/POST/#')
    client.on('message', (topic, payload) => {
      const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic)
      if (m?.[1] === 'echo') client.publish(`$iothub/methods/res/201/?$rid=${m[2]}`, payload)
    })
    assert.deepEqual(await hub.invokeMethod('meth1', 'echo', { n: 1 }), { status: 201, payload: { n: 1 } })
    await assert.rejects(hub.invokeMethod('meth1', 'slow', {}, { timeoutSeconds: 5 }), {
      code: 'ERR_HUB_METHOD_TIMEOUT',
    })
    await assert.rejects(hub.invokeMethod('meth1', 'slow', {}, { timeoutSeconds: 4 }), {
      code: 'ERR_HUB_BAD_REQUEST',
    })
    client.end(true)
  })

  it('C2D waits until the device subscribes, then arrives with its property bag', async () => {
    const client = await connect(hub, device())
    const sent = await hub.sendC2d('dev1', 'hello', { messageId: 'c-1', properties: { 'a b': 'c d' } })
    assert.deepEqual(sent, { messageId: 'c-1', state: 'queued' })
    const message = nextMessage(client, 'devices/dev1/messages/devicebound/')
    await client.subscribeAsync('devices/dev1/messages/devicebound/#', { qos: 1 })
    const m = await message
    assert.equal(m.payload.toString(), 'hello')
    assert.equal(
      m.topic,
      'devices/dev1/messages/devicebound/%24.mid=c-1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&a%20b=c%20d',
    )
    client.end(true)
  })

  it('at most 50 C2D messages are queued per device', async () => {
    await hub.addDevice('q1', { primaryKey: KEY })
    for (let i = 0; i < 50; i++) await hub.sendC2d('q1', `m${i}`)
    await assert.rejects(hub.sendC2d('q1', 'one too many'), { code: 'ERR_HUB_QUEUE_FULL' })
  })

  it('a token that expires while connected disconnects the device', async () => {
    const strict = await startHub({ clockSkewSeconds: 0 })
    try {
      await strict.addDevice('dev1', { primaryKey: KEY })
      const logged = nextEvent(strict, 'close')
      const client = await connect(
        strict,
        device({ password: hmacToken('localhost/devices/dev1', KEY, nowS() + 2) }),
      )
      await closed(client)
      assert.equal((await logged).reason, 'token expired')
    } finally {
      await strict.close()
    }
  })

  it('MQTT over WebSocket at /$iothub/websocket (subprotocol mqtt) connects; another path gets 400', async () => {
    const seen = nextEvent(hub, 'connect', (e) => e.protocol === 'mqtt-ws')
    const client = await connect(hub, device(), { websocket: true })
    assert.equal((await seen).deviceId, 'dev1')
    client.end(true)
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: hub.ports.https,
        path: '/mqtt',
        ca: hub.ca,
        servername: 'localhost',
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Protocol': 'mqtt',
        },
      })
      req.on('response', (res) => resolve(res.statusCode))
      req.on('upgrade', () => reject(new Error('upgraded')))
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 400)
  })
})

describe('hub DPS (mqtt.js)', () => {
  let hub: Hub
  const GROUP_KEY = Buffer.alloc(64, 3).toString('base64')
  before(async () => {
    hub = await startHub()
    await hub.addEnrollmentGroup('g1', { primaryKey: GROUP_KEY })
  })
  after(() => hub.close())

  const derived = (id: string): string =>
    createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update(id).digest('base64')
  const dps = (id: string, key: string) => ({
    clientId: id,
    username: `0ne00000000/registrations/${id}/api-version=2019-03-31`,
    password: hmacToken(`0ne00000000/registrations/${id}`, key, nowS() + 60, 'registration'),
  })

  it('register → 202 operationId, poll → 202 then 200 assigned; the hub gets the device with the derived key', async () => {
    const client = await connect(hub, dps('reg-1', derived('reg-1')))
    await client.subscribeAsync('$dps/registrations/res/#')
    let res = nextMessage(client, '$dps/registrations/res/')
    client.publish(
      '$dps/registrations/PUT/iotdps-register/?$rid=1',
      JSON.stringify({ registrationId: 'reg-1' }),
    )
    const accepted = await res
    assert.match(accepted.topic, /^\$dps\/registrations\/res\/202\/\?\$rid=1&retry-after=\d+$/)
    const { operationId, status } = JSON.parse(accepted.payload.toString())
    assert.equal(status, 'assigning')
    res = nextMessage(client, '$dps/registrations/res/')
    client.publish(
      `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=${encodeURIComponent(operationId)}`,
      '',
    )
    assert.match((await res).topic, /^\$dps\/registrations\/res\/202\//)
    res = nextMessage(client, '$dps/registrations/res/')
    client.publish(
      `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=3&operationId=${encodeURIComponent(operationId)}`,
      '',
    )
    const done = await res
    assert.equal(done.topic, '$dps/registrations/res/200/?$rid=3')
    const body = JSON.parse(done.payload.toString())
    assert.equal(body.status, 'assigned')
    assert.equal(body.registrationState.assignedHub, 'localhost')
    assert.equal(body.registrationState.deviceId, 'reg-1')
    client.end(true)
    const device = await connect(hub, {
      clientId: 'reg-1',
      username: `localhost/reg-1/${API}`,
      password: hmacToken('localhost/devices/reg-1', derived('reg-1'), nowS() + 60),
    })
    device.end(true)
  })

  it('a token signed with the group key itself is refused and explained', async () => {
    const logged = nextEvent(hub, 'refuse', (e) => e.clientId === 'reg-2')
    assert.equal(await refusedCode(hub, dps('reg-2', GROUP_KEY)), 5)
    const e = await logged
    assert.equal((e.reason as { code: string }).code, 'ERR_TOKEN_SIGNED_WITH_GROUP_KEY')
    assert.ok(
      (e.findings as Array<{ code: string }>).some((f) => f.code === 'ERR_TOKEN_SIGNED_WITH_GROUP_KEY'),
    )
  })

  it('a registration with no enrollment (a key no enabled group derives) says so, not only "signature mismatch"', async () => {
    const logged = nextEvent(hub, 'refuse', (e) => e.clientId === 'reg-3')
    assert.equal(await refusedCode(hub, dps('reg-3', Buffer.alloc(32, 3).toString('base64'))), 5)
    const e = await logged
    const findings = e.findings
    assert.deepEqual(
      findings.map((f) => f.code),
      ['ERR_ENROLLMENT_NOT_FOUND'],
    )
    assert.equal(findings[0]?.registrationId, 'reg-3')
    assert.match(findings[0]?.message ?? '', /no individual enrollment for the registration id "reg-3"/)
  })
})

function hubOwnerKey(hub: Hub): string {
  return /SharedAccessKey=([^;]+)/.exec(hub.hubConnectionString)?.[1] ?? ''
}
