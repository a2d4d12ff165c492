// IoT Hub's fault-injection messages over MQTT, from real mqtt.js clients: a telemetry message
// whose application properties name AzIoTHub_FaultOperationType makes the hub do that fault to
// the sender after the delay, and say so in a `fault` event. The property names and fault
// types are the ones the Azure IoT SDKs' e2e tests send (C#: FaultInjection.cs; Node:
// e2e fault tests), written out here.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { telemetryTopic } from 'sas-token'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { closed, connect, nextEvent, refusedCode } from './support/hub-mqtt.js'
import { faultProperties } from './support/fault-message.js'

const KEY = Buffer.alloc(32, 3).toString('base64')
const API = '?api-version=2021-04-12'
const nowS = (): number => Math.floor(Date.now() / 1000)

describe('fault-injection messages over MQTT', () => {
  let hub: Hub
  const device = (id: string) => ({
    clientId: id,
    username: `localhost/${id}/${API}`,
    password: hmacToken(`localhost/devices/${id}`, KEY, nowS() + 3600),
  })
  before(async () => {
    hub = await startHub()
    for (const id of ['kill1', 'kill0', 'shut1', 'slow1', 'auth1', 'auth2', 'bad1'])
      await hub.addDevice(id, { primaryKey: KEY })
  })
  after(() => hub.close())

  it('KillTcp after its delay drops the connection; the message itself is logged, and the fault is an event', async () => {
    const client = await connect(hub, device('kill1'))
    const logged = nextEvent(hub, 'telemetry', (e) => e.deviceId === 'kill1')
    const fault = nextEvent(hub, 'fault', (e) => e.deviceId === 'kill1')
    const start = Date.now()
    client.publish(
      telemetryTopic({ deviceId: 'kill1' }, { properties: faultProperties('KillTcp', { delay: 1 }) }),
      'x',
      {
        qos: 1,
      },
    )
    assert.equal((await logged).properties.AzIoTHub_FaultOperationType, 'KillTcp')
    await closed(client)
    const elapsed = Date.now() - start
    assert.ok(elapsed >= 900, `dropped after ${elapsed} ms, before the 1 s delay`)
    const e = await fault
    assert.equal(e.fault, 'KillTcp')
    assert.equal(e.source, 'message')
    assert.equal(e.protocol, 'mqtt')
    assert.equal(e.action, 'kill-tcp done')
  })

  it('KillTcp with no delay: the message asking for it gets its PUBACK first, then the connection drops (so a device does not send it again)', {
    timeout: 10_000,
  }, async () => {
    const client = await connect(hub, device('kill0'))
    const acked = new Promise<Error | undefined>((resolve) =>
      client.publish(
        telemetryTopic({ deviceId: 'kill0' }, { properties: faultProperties('KillTcp') }),
        'x',
        { qos: 1 },
        (err) => resolve(err ?? undefined),
      ),
    )
    assert.equal(await acked, undefined)
    await closed(client)
  })

  it('ShutDownMqtt closes the MQTT connection', async () => {
    const client = await connect(hub, device('shut1'))
    const gone = nextEvent(
      hub,
      (e) => (e.event === 'disconnect' || e.event === 'close') && e.deviceId === 'shut1',
    )
    client.publish(
      telemetryTopic({ deviceId: 'shut1' }, { properties: faultProperties('ShutDownMqtt') }),
      'x',
      { qos: 1 },
    )
    await closed(client)
    await gone
  })

  it('Throttling: for its duration the sender’s telemetry is refused (the connection is dropped, nothing logged); after it, accepted', async () => {
    const client = await connect(hub, device('slow1'))
    const opened = nextEvent(hub, 'fault', (e) => e.deviceId === 'slow1')
    client.publish(
      telemetryTopic(
        { deviceId: 'slow1' },
        { properties: faultProperties('InvokeThrottling', { duration: 2 }) },
      ),
      'x',
      { qos: 1 },
    )
    const e = await opened
    assert.match(e.action, /throttled for 2 s/)
    assert.ok(e.until !== undefined && Date.parse(e.until) > Date.now())
    const seen: string[] = []
    const listener = (ev: { event: string; deviceId?: string; body?: { text?: string } }) => {
      if (ev.event === 'telemetry' && ev.deviceId === 'slow1' && ev.body?.text !== undefined)
        seen.push(ev.body.text)
    }
    hub.events.on('event', listener)
    const warnings: string[] = []
    const warn = (ev: { event: string; message?: string }) => {
      if (ev.event === 'warning' && ev.message !== undefined) warnings.push(ev.message)
    }
    hub.events.on('event', warn)
    const dropped = nextEvent(hub, 'disconnect', (ev) => ev.deviceId === 'slow1')
    client.publish(telemetryTopic({ deviceId: 'slow1' }), 'during', { qos: 0 })
    await closed(client)
    assert.match(
      (await dropped).reason,
      /^IotHubThrottled: the fault InvokeThrottling throttles slow1 for [12] s more/,
    )
    hub.events.off('event', warn)
    assert.deepEqual(warnings, [], 'a throttled publish is no failure inside the hub')
    await new Promise((r) => setTimeout(r, 2200))
    const again = await connect(hub, device('slow1'))
    const after = nextEvent(hub, 'telemetry', (ev) => ev.deviceId === 'slow1')
    again.publish(telemetryTopic({ deviceId: 'slow1' }), 'after', { qos: 1 })
    assert.deepEqual((await after).body, { text: 'after' })
    hub.events.off('event', listener)
    assert.deepEqual(seen, ['after'])
    again.end(true)
  })

  it('AuthFailure refuses the next connects for its duration, explained as a fault, and then lets the device in', async () => {
    const client = await connect(hub, device('auth1'))
    const opened = nextEvent(hub, 'fault', (e) => e.deviceId === 'auth1')
    client.publish(
      telemetryTopic({ deviceId: 'auth1' }, { properties: faultProperties('AuthFailure', { duration: 2 }) }),
      'x',
      {
        qos: 1,
      },
    )
    await opened
    client.end(true)
    const refused = nextEvent(hub, 'refuse', (e) => e.deviceId === 'auth1')
    assert.equal(await refusedCode(hub, device('auth1')), 5)
    const r = await refused
    assert.equal(r.fault?.fault, 'AuthFailure')
    assert.match(r.fault?.message ?? '', /credentials are fine/)
    assert.equal(r.findings.filter((f) => f.severity === 'error').length, 0)
    await new Promise((res) => setTimeout(res, 2100))
    const back = await connect(hub, device('auth1'))
    back.end(true)
  })

  it('AuthFailure also refuses what a live connection sends for its duration: the connection is dropped before the PUBACK, nothing logged (MQTT has no error answer)', async () => {
    const client = await connect(hub, device('auth2'))
    const opened = nextEvent(hub, 'fault', (e) => e.deviceId === 'auth2')
    await new Promise((resolve) =>
      client.publish(
        telemetryTopic(
          { deviceId: 'auth2' },
          { properties: faultProperties('AuthFailure', { duration: 2 }) },
        ),
        'x',
        { qos: 1 },
        resolve,
      ),
    )
    assert.match((await opened).action, /connects and operations refused for 2 s/)
    const dropped = nextEvent(hub, 'disconnect', (e) => e.deviceId === 'auth2')
    let logged = false
    const listener = (ev: { event: string; deviceId?: string }) => {
      if (ev.event === 'telemetry' && ev.deviceId === 'auth2') logged = true
    }
    hub.events.on('event', listener)
    const received: string[] = []
    client.on('packetreceive', (packet) => received.push(packet.cmd))
    client.publish(telemetryTopic({ deviceId: 'auth2' }), 'during', { qos: 1 })
    await closed(client)
    assert.deepEqual(received, [], 'no PUBACK for a refused message')
    assert.match((await dropped).reason, /^IotHubUnauthorizedAccess: the fault AuthFailure refuses auth2/)
    hub.events.off('event', listener)
    assert.equal(logged, false)
  })

  it('an unknown fault type is a warning naming the known ones, and the message is still logged', async () => {
    const client = await connect(hub, device('bad1'))
    const warned = nextEvent(hub, 'warning', (e) => e.deviceId === 'bad1')
    const logged = nextEvent(hub, 'telemetry', (e) => e.deviceId === 'bad1')
    client.publish(
      telemetryTopic({ deviceId: 'bad1' }, { properties: faultProperties('KillEverything') }),
      'x',
      { qos: 1 },
    )
    assert.match(
      (await warned).message,
      /"KillEverything" is not a fault the hub knows: use one of KillTcp, /,
    )
    await logged
    client.end(true)
  })
})
