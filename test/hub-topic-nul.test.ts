// MQTT 3.1.1 forbids U+0000 in topic names and filters: the hub's packet guard closes a
// connection that sends one (in a PUBLISH topic or an UNSUBSCRIBE filter; a SUBSCRIBE with
// one is already refused as not a supported filter) and logs why. Real
// mqtt.js clients over TLS; the device next to it keeps working.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { closed, connect, nextEvent } from './support/hub-mqtt.js'

const KEY = Buffer.alloc(32, 7).toString('base64')
const API = '?api-version=2021-04-12'

describe('U+0000 in topics', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
    await hub.addDevice('dev1', { primaryKey: KEY })
    await hub.addDevice('dev2', { primaryKey: KEY })
  })
  after(() => hub.close())

  const device = (id: string) => ({
    clientId: id,
    username: `localhost/${id}/${API}`,
    password: hmacToken(`localhost/devices/${id}`, KEY, Math.floor(Date.now() / 1000) + 3600),
  })

  for (const [what, send] of [
    [
      'a PUBLISH topic',
      (c: import('mqtt').MqttClient) => c.publish('devices/dev1/messages/events/a\u0000b', 'x'),
    ],
    [
      'an UNSUBSCRIBE filter',
      (c: import('mqtt').MqttClient) => c.unsubscribe('devices/dev1/messages/devicebound/a\u0000b/#'),
    ],
  ] as const) {
    it(`${what} with U+0000 closes the connection with a logged reason; another device is unaffected`, {
      timeout: 30_000,
    }, async () => {
      const other = await connect(hub, device('dev2'))
      const client = await connect(hub, device('dev1'))
      client.on('error', () => {})
      const logged = nextEvent(hub, (e) => e.event === 'close' && e.deviceId === 'dev1')
      const telemetry = nextEvent(hub, (e) => e.event === 'telemetry' && e.deviceId === 'dev2')
      const accepted: unknown[] = []
      const onEvent = (e: { event: string; deviceId?: string }): void => {
        if (e.event === 'telemetry' && e.deviceId === 'dev1') accepted.push(e)
      }
      hub.events.on('event', onEvent)
      send(client)
      const e = (await logged) as { reason?: string }
      assert.match(e.reason ?? '', /U\+0000/)
      await closed(client)
      other.publish('devices/dev2/messages/events/', 'still here')
      assert.equal(((await telemetry) as { deviceId?: string }).deviceId, 'dev2')
      hub.events.off('event', onEvent)
      assert.deepEqual(accepted, [], 'nothing of the refused connection was taken as telemetry')
      other.end(true)
    })
  }
})

describe('U+0000 in a client id', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
    await hub.addDevice('dev1', { primaryKey: KEY })
  })
  after(() => hub.close())

  it('is refused at CONNECT (it would open the DPS client-id space), and the device of that id is unaffected', {
    timeout: 30_000,
  }, async () => {
    const password = hmacToken('localhost/devices/dev1', KEY, Math.floor(Date.now() / 1000) + 3600)
    const real = await connect(hub, { clientId: 'dev1', username: `localhost/dev1/${API}`, password })
    const warned = nextEvent(hub, (e) => e.event === 'warning' && /U\+0000/.test(String(e.message)))
    await assert.rejects(
      connect(hub, { clientId: '\u0000dps/dev1', username: `localhost/dev1/${API}`, password }),
      'the CONNECT is refused',
    )
    await warned
    const telemetry = nextEvent(hub, (e) => e.event === 'telemetry' && e.deviceId === 'dev1')
    real.publish('devices/dev1/messages/events/', 'still here')
    assert.equal(((await telemetry) as { deviceId?: string }).deviceId, 'dev1')
    real.end(true)
  })
})
