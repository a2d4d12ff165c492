// End to end: a real mqtt.js client, with our credentials and topics, against a fake IoT Hub and
// DPS that are real aedes brokers over real TLS (test/support/iot-hub-broker.ts). The brokers
// verify tokens with node:crypto, not with this library. Nothing here waits on wall-clock time:
// every wait is for an event, and token expiry uses an injected clock.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import {
  c2dFilter,
  createTokenSource,
  deriveDeviceKey,
  DESIRED_PATCHES_FILTER,
  dpsMqttCredentials,
  dpsPollTopic,
  dpsRegisterTopic,
  DPS_RESPONSES_FILTER,
  METHOD_REQUESTS_FILTER,
  methodResponseTopic,
  moduleInputsFilter,
  mqttCredentials,
  parseTopic,
  telemetryTopic,
  TWIN_RESPONSES_FILTER,
  twinGetTopic,
  twinReportedTopic,
  type IncomingTopic,
  type MqttCredentials,
} from 'sas-token'
import { selfSignedCertificate } from './support/certificate.js'
import {
  DERIVED,
  DEVICE_CS,
  DPS_HOST,
  GROUP_KEY,
  HOST,
  KEY,
  MODULE_KEY,
  OTHER_KEY,
  POLICY_KEY,
  SE,
} from './support/fixtures.js'
import { CONNACK, startFakeDps, startFakeHub, type FakeDps, type FakeHub } from './support/iot-hub-broker.js'

const MODULE = `HostName=${HOST};DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${MODULE_KEY}`
const SERVICE = `HostName=${HOST};SharedAccessKeyName=device;SharedAccessKey=${POLICY_KEY}`
/** The derived device key of my-device-01 under the group key (sdk-facts §9.2). */
const DERIVED_KEY = DERIVED['my-device-01']
const T0 = SE * 1000

const TIMEOUT = { timeout: 60_000 }
const tls = selfSignedCertificate([HOST, DPS_HOST])
let clock = T0
let hub: FakeHub
let dps: FakeDps
const clients = new Set<MqttClient>()

before(async () => {
  const now = () => clock
  hub = await startFakeHub({
    hostName: HOST,
    identities: [
      { deviceId: 'dev1', key: KEY },
      { deviceId: 'dev1', moduleId: 'mod1', key: MODULE_KEY },
      { deviceId: 'dev2', key: OTHER_KEY },
      { deviceId: 'my-device-01', key: DERIVED_KEY },
    ],
    policies: [{ name: 'device', key: POLICY_KEY }],
    now,
    tls,
  })
  dps = await startFakeDps({
    idScope: '0ne00000A0A',
    enrollments: new Map([['my-device-01', DERIVED_KEY]]),
    assignedHub: HOST,
    now,
    tls,
  })
})

beforeEach(() => {
  clock = T0
})

after(async () => {
  await Promise.all([...clients].map((c) => c.endAsync(true)))
  await hub.close()
  await dps.close()
})

/**
 * Connects mqtt.js with our credentials, exactly as a device would, except that the host
 * resolves to the loopback port of the fake (TLS still checks the certificate for `c.host`).
 */
async function connect(c: MqttCredentials, port: number, extra: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync({
    ...c,
    protocol: 'mqtts',
    host: '127.0.0.1',
    port,
    servername: c.host,
    ca: tls.cert,
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    ...extra,
  })
  clients.add(client)
  return client
}

/** The CONNACK return code of a refused connection. */
async function refusal(c: MqttCredentials, port = hub.port): Promise<unknown> {
  try {
    const client = await connect(c, port)
    await client.endAsync()
  } catch (err) {
    return (err as { code?: unknown }).code
  }
  return 'accepted'
}

/** Resolves when `emitter` next emits `name`, with the event's arguments. */
function event(
  emitter: { once(name: string, listener: (...args: unknown[]) => void): unknown },
  name: string,
): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(name, (...args) => resolve(args)))
}

/** The SUBACK codes for `topics`; mqtt.js rejects when one is 128, with the SUBACK attached. */
async function granted(client: MqttClient, topics: string[], qos: 0 | 1 | 2): Promise<number[]> {
  try {
    return (await client.subscribeAsync(topics, { qos })).map((g) => g.qos)
  } catch (err) {
    return (err as { packet: { granted: number[] } }).packet.granted
  }
}

/** Publishes; fails fast if the broker closes the connection instead of accepting it. */
function publish(client: MqttClient, topic: string, payload: string, qos: 0 | 1 = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error(`the broker closed the connection on a publish to ${topic}`))
    client.once('close', onClose)
    client.publishAsync(topic, payload, { qos }).then(
      () => {
        client.off('close', onClose)
        resolve()
      },
      (err: Error) => {
        client.off('close', onClose)
        reject(err)
      },
    )
  })
}

/** Resolves with the next incoming message whose parsed topic has the given type; fails if the connection closes first. */
function next<T extends IncomingTopic['type']>(
  client: MqttClient,
  type: T,
): Promise<{ topic: Extract<IncomingTopic, { type: T }>; payload: string }> {
  return new Promise((resolve, reject) => {
    const stop = () => {
      client.off('message', onMessage)
      client.off('close', onClose)
    }
    const onClose = () => {
      stop()
      reject(new Error(`the connection closed while waiting for a ${type} message`))
    }
    const onMessage = (topic: string, payload: Buffer) => {
      try {
        const parsed = parseTopic(topic)
        if (parsed.type !== type) return
        stop()
        resolve({ topic: parsed as Extract<IncomingTopic, { type: T }>, payload: payload.toString() })
      } catch (err) {
        stop()
        reject(err as Error)
      }
    }
    client.on('message', onMessage)
    client.once('close', onClose)
  })
}

describe('IoT Hub over TLS', () => {
  it(
    'a device connects, sends telemetry, uses its twin, answers a method and receives C2D',
    TIMEOUT,
    async () => {
      const c = mqttCredentials(DEVICE_CS, { now: clock })
      const client = await connect(c, hub.port)
      assert.deepEqual(
        await granted(
          client,
          [
            c2dFilter({ deviceId: 'dev1' }),
            TWIN_RESPONSES_FILTER,
            DESIRED_PATCHES_FILTER,
            METHOD_REQUESTS_FILTER,
          ],
          1,
        ),
        [1, 1, 1, 1],
      )

      await publish(
        client,
        telemetryTopic(
          { deviceId: 'dev1' },
          {
            messageId: 'm-1',
            contentType: 'application/json',
            contentEncoding: 'utf-8',
            properties: { 'temp alert': 'on/off' },
          },
        ),
        '{"t":21}',
        1,
      )
      assert.deepEqual(hub.telemetry.at(-1), {
        clientId: 'dev1',
        topic:
          'devices/dev1/messages/events/%24.mid=m-1&%24.ct=application%2Fjson&%24.ce=utf-8&temp%20alert=on%2Foff',
        payload: '{"t":21}',
        qos: 1,
      })

      // Twin: reported PATCH, then GET.
      const patched = next(client, 'twin-response')
      await publish(client, twinReportedTopic({ rid: 'r1' }), JSON.stringify({ firmware: '1.2.3' }))
      assert.deepEqual(
        { ...(await patched).topic },
        { type: 'twin-response', status: 204, rid: 'r1', version: 2 },
      )
      const got = next(client, 'twin-response')
      await publish(client, twinGetTopic({ rid: '3226c2f7-3d30-425c-b83b-0c34335f8220' }), ' ')
      const twin = await got
      assert.deepEqual(
        { ...twin.topic },
        { type: 'twin-response', status: 200, rid: '3226c2f7-3d30-425c-b83b-0c34335f8220' },
      )
      assert.deepEqual(JSON.parse(twin.payload), {
        desired: { $version: 2 },
        reported: { firmware: '1.2.3' },
      })

      // Desired patch.
      const desired = next(client, 'desired-patch')
      const version = await hub.patchDesired('dev1', { fan: true })
      assert.deepEqual({ ...(await desired).topic }, { type: 'desired-patch', version })

      // Direct method: parse the request, answer with our builder.
      const answering = next(client, 'method-request').then(async ({ topic, payload }) => {
        assert.equal(topic.method, 'reboot')
        await publish(
          client,
          methodResponseTopic({ status: 200, rid: topic.rid }),
          JSON.stringify({ echo: JSON.parse(payload) }),
        )
      })
      const answer = await hub.invokeMethod('dev1', 'reboot', { delay: 5 })
      await answering
      assert.deepEqual(answer, { status: 200, payload: '{"echo":{"delay":5}}' })

      // C2D with a property bag the hub encoded.
      const c2d = next(client, 'c2d')
      await hub.sendC2d(
        'dev1',
        '%24.mid=c2d-1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound&%24.ct=application%2Fjson&iothub-ack=full&sp%20ace=a%2Fb%26c%3Dd&%C3%A9t%C3%A9=%E2%82%AC&plus=1+1&nothing',
        'hello',
      )
      const message = await c2d
      assert.deepEqual(
        { ...message.topic, properties: { ...message.topic.properties } },
        {
          type: 'c2d',
          deviceId: 'dev1',
          messageId: 'c2d-1',
          to: '/devices/dev1/messages/deviceBound',
          contentType: 'application/json',
          properties: { 'iothub-ack': 'full', 'sp ace': 'a/b&c=d', été: '€', plus: '1+1', nothing: null },
        },
      )
      assert.equal(message.payload, 'hello')
      await client.endAsync()
    },
  )

  it('a module connects, receives on an input and sends on an output', TIMEOUT, async () => {
    const c = mqttCredentials(MODULE, { now: clock })
    assert.equal(c.clientId, 'dev1/mod1')
    const client = await connect(c, hub.port)
    await client.subscribeAsync(moduleInputsFilter({ deviceId: 'dev1', moduleId: 'mod1' }), { qos: 1 })
    const input = next(client, 'module-input')
    await hub.sendToInput('dev1', 'mod1', 'input1', '%24.cdid=dev2&%24.cmid=filter&level=high', '{}')
    const { topic } = await input
    assert.deepEqual(
      { ...topic, properties: { ...topic.properties } },
      {
        type: 'module-input',
        deviceId: 'dev1',
        moduleId: 'mod1',
        inputName: 'input1',
        connectionDeviceId: 'dev2',
        connectionModuleId: 'filter',
        properties: { level: 'high' },
      },
    )
    await publish(
      client,
      telemetryTopic({ deviceId: 'dev1', moduleId: 'mod1' }, { outputName: 'alerts' }),
      '{}',
      1,
    )
    assert.equal(hub.telemetry.at(-1)?.topic, 'devices/dev1/modules/mod1/messages/events/%24.on=alerts')
    await client.endAsync()
  })

  it('a policy (service) string connects a device with a scoped token', TIMEOUT, async () => {
    const c = mqttCredentials(SERVICE, { deviceId: 'dev2', now: clock })
    assert.match(c.password ?? '', /&skn=device$/)
    const client = await connect(c, hub.port)
    assert.equal(hub.sessionExpiry('dev2'), T0 / 1000 + 3600)
    await client.endAsync()
  })

  it(
    'the hub refuses undocumented subscriptions and closes on QoS 2 and foreign topics',
    TIMEOUT,
    async () => {
      const c = mqttCredentials(DEVICE_CS, { now: clock })
      const client = await connect(c, hub.port)
      assert.deepEqual(
        await granted(client, ['#', 'devices/#', c2dFilter({ deviceId: 'dev2' }), TWIN_RESPONSES_FILTER], 1),
        [128, 128, 128, 1],
      )

      const closed = event(client, 'close')
      client.publish(telemetryTopic({ deviceId: 'dev1' }), 'x', { qos: 2 }, () => {})
      await closed
      assert.equal(client.connected, false)
      client.end(true)

      const other = await connect(c, hub.port)
      const closedToo = event(other, 'close')
      other.publish(telemetryTopic({ deviceId: 'dev2' }), 'x', { qos: 1 }, () => {})
      await closedToo
      other.end(true)
    },
  )

  it(
    'CONNACK refuses a wrong key, an expired token, a module token for the device, a missing ?api-version',
    TIMEOUT,
    async () => {
      const good = mqttCredentials(DEVICE_CS, { now: clock })
      assert.equal(
        await refusal(
          mqttCredentials(`HostName=${HOST};DeviceId=dev1;SharedAccessKey=${OTHER_KEY}`, { now: clock }),
        ),
        CONNACK.NOT_AUTHORIZED,
      )
      assert.equal(
        await refusal(mqttCredentials(DEVICE_CS, { now: clock - 2 * 3600_000, ttl: 3600 })),
        CONNACK.NOT_AUTHORIZED,
      )
      assert.equal(
        await refusal({ ...good, password: mqttCredentials(MODULE, { now: clock }).password! }),
        CONNACK.NOT_AUTHORIZED,
      )
      assert.equal(await refusal({ ...good, username: `${HOST}/dev1/` }), CONNACK.BAD_USERNAME_OR_PASSWORD)
      assert.equal(
        await refusal({ ...good, username: `${HOST}/dev1/api-version=2021-04-12` }),
        CONNACK.BAD_USERNAME_OR_PASSWORD,
      )
      // And: a client id that is not the username's identity, a policy token for another device.
      assert.equal(await refusal({ ...good, clientId: 'dev2' }), CONNACK.IDENTIFIER_REJECTED)
      assert.equal(
        await refusal({
          ...good,
          password: mqttCredentials(SERVICE, { deviceId: 'dev2', now: clock }).password!,
        }),
        CONNACK.NOT_AUTHORIZED,
      )
      // The same credentials, unmodified, are accepted: the refusals above are about the change.
      assert.equal(await refusal(good), 'accepted')
    },
  )

  it('renewal: the device reconnects with a fresh token before the old one expires', TIMEOUT, async () => {
    clock = T0
    const timers = new Map<number, () => void>()
    let nextTimer = 0
    const source = createTokenSource(DEVICE_CS, {
      ttl: '1h',
      now: () => clock,
      setTimer: (callback) => {
        timers.set(++nextTimer, callback)
        return nextTimer
      },
      clearTimer: (handle) => timers.delete(handle as number),
    })
    const first = source.current()
    const c = mqttCredentials(DEVICE_CS, { now: clock })
    const client = await connect({ ...c, password: first.token }, hub.port)
    await client.subscribeAsync(METHOD_REQUESTS_FILTER)
    assert.equal(hub.sessionExpiry('dev1'), first.expiresAt)

    // What a device program does: subscribe on every connection (IoT Hub sessions are clean),
    // and reconnect with the new password when the source renews.
    client.on('connect', () => client.subscribe(METHOD_REQUESTS_FILTER))
    source.onRenew(({ token }) => {
      client.options.password = token
      client.end(false, () => client.reconnect())
    })

    clock = T0 + 3_060_000 // 85% of the hour: the source's timer is due
    const reconnected = event(hub.events, 'session')
    const resubscribed = event(hub.events, 'subscribe')
    for (const [id, fire] of [...timers]) {
      timers.delete(id)
      fire()
    }
    const [session] = (await reconnected) as [{ clientId: string; expiresAt: number; acceptedAt: number }]
    const renewed = source.current()
    assert.notEqual(renewed.token, first.token)
    assert.deepEqual(
      { clientId: session.clientId, expiresAt: session.expiresAt },
      { clientId: 'dev1', expiresAt: renewed.expiresAt },
    )
    // By the hub's own clock, it accepted the renewed session while the first token was still valid.
    assert.ok(
      session.acceptedAt < first.expiresAt * 1000,
      `the hub accepted the new token at ${session.acceptedAt}, after the first expired`,
    )
    if (!client.connected) await event(client, 'connect')

    // The device subscribed again on the new connection, so methods still reach it.
    assert.deepEqual(await resubscribed, [{ clientId: 'dev1', filter: METHOD_REQUESTS_FILTER }])
    const answering = next(client, 'method-request').then(({ topic }) =>
      publish(client, methodResponseTopic({ status: 204, rid: topic.rid }), ''),
    )
    assert.deepEqual(await hub.invokeMethod('dev1', 'ping', null), { status: 204, payload: '' })
    await answering

    // Past the first token's expiry the hub keeps the renewed session...
    clock = first.expiresAt * 1000 + 1000
    assert.deepEqual(hub.disconnectExpired(), [])
    assert.equal(client.connected, true)
    await publish(client, telemetryTopic({ deviceId: 'dev1' }, { messageId: 'after-renewal' }), '{}', 1)
    assert.equal(hub.telemetry.at(-1)?.topic, 'devices/dev1/messages/events/%24.mid=after-renewal')

    // ...and would have dropped it without the renewal.
    source.stop()
    assert.equal(timers.size, 0)
    clock = renewed.expiresAt * 1000
    const dropped = event(client, 'close')
    assert.deepEqual(hub.disconnectExpired(), ['dev1'])
    await dropped
    client.end(true)
  })
})

describe('DPS over TLS', () => {
  it(
    'a group-enrolled device registers, polls, and connects to the hub it was assigned',
    TIMEOUT,
    async () => {
      const registrationId = 'my-device-01'
      const key = deriveDeviceKey(GROUP_KEY, registrationId)
      const c = dpsMqttCredentials({ idScope: '0ne00000A0A', registrationId, key, now: clock })
      assert.equal(c.host, DPS_HOST)
      const client = await connect(c, dps.port)
      await client.subscribeAsync(DPS_RESPONSES_FILTER, { qos: 1 })

      const accepted = next(client, 'dps-response')
      await publish(client, dpsRegisterTopic({ rid: '1' }), JSON.stringify({ registrationId }), 1)
      const first = await accepted
      assert.deepEqual({ ...first.topic }, { type: 'dps-response', status: 202, rid: '1', retryAfter: 3 })
      const { operationId } = JSON.parse(first.payload) as { operationId: string }

      let rid = 1
      let response = first
      while (response.topic.status === 202) {
        // A real device waits retryAfter seconds here; the fake DPS does not need it.
        const polled = next(client, 'dps-response')
        await publish(client, dpsPollTopic({ rid: String(++rid), operationId }), ' ', 1)
        response = await polled
        assert.equal(response.topic.rid, String(rid))
      }
      assert.equal(response.topic.status, 200)
      assert.equal(rid, 3, 'DPS answered 202 to the first poll and 200 to the second')
      const { registrationState } = JSON.parse(response.payload) as {
        registrationState: { assignedHub: string; deviceId: string }
      }
      await client.endAsync()

      const device = mqttCredentials(
        `HostName=${registrationState.assignedHub};DeviceId=${registrationState.deviceId};SharedAccessKey=${key}`,
        { now: clock },
      )
      const hubClient = await connect(device, hub.port)
      assert.equal(hub.sessionExpiry('my-device-01'), T0 / 1000 + 3600)
      await hubClient.endAsync()
    },
  )

  it('DPS refuses the group key itself and a wrong registration id', TIMEOUT, async () => {
    const c = dpsMqttCredentials({
      idScope: '0ne00000A0A',
      registrationId: 'my-device-01',
      key: GROUP_KEY,
      now: clock,
    })
    assert.equal(await refusal(c, dps.port), CONNACK.NOT_AUTHORIZED)
    const good = dpsMqttCredentials({
      idScope: '0ne00000A0A',
      registrationId: 'my-device-01',
      key: DERIVED_KEY,
      now: clock,
    })
    assert.equal(
      await refusal(
        { ...good, username: '0ne00000A0A/registrations/my-device-01/?api-version=2019-03-31' },
        dps.port,
      ),
      CONNACK.BAD_USERNAME_OR_PASSWORD,
    )
    assert.equal(await refusal(good, dps.port), 'accepted')
  })
})
