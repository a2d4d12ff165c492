// Issue 18 item 2: throttling as the real hub throttles, opt-in with a tier. The limits expected
// here are IoT Hub's documented ones, written out in this file from
// https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling (read 2026-12-03),
// …/iot-hub-scaling and …/iot-hub-devguide-pricing, never read from the hub's own table:
// F1/S1 device-to-cloud sends "higher of 100/sec or 12/sec/unit"; identity registry operations
// 100/min/unit; new connections "higher of 100/sec or 12/sec/unit"; F1 quota 8,000 messages a
// day metered in 0.5 KB, S1 400,000 per unit metered in 4 KB; the quota resets each UTC day.
// The hub's clock is injected, so nothing refills while a test counts.
import assert from 'node:assert/strict'
import https from 'node:https'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { telemetryTopic } from 'sas-token'
import { type Hub, type HubEvent, HubEvents, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { closed, connect, nextEvent, refusedCode } from './support/hub-mqtt.js'

const KEY = Buffer.alloc(32, 11).toString('base64')
const API = '?api-version=2021-04-12'
const nowS = (): number => Math.floor(Date.now() / 1000)

/** IoT Hub's documented numbers (see the header). */
const DOC = {
  F1: { d2cPerSecond: 100, connectsPerSecond: 100, quota: 8000, meterBytes: 512 },
  S1: { d2cPerSecond: 100, registryPerMinute: 100, quotaPerUnit: 400_000, meterBytes: 4096 },
}

interface ThrottleModule {
  HubThrottle: new (o: {
    events: HubEvents
    now: () => number
    hostName: string
    tier?: { name: string; units?: number }
  }) => {
    admit(operation: string, target?: { deviceId: string }, cost?: { bytes?: number }): void
    usage(): { messages: number; quota: number; day: string } | undefined
    close(): void
  }
}
const throttlePath = '../../dist/hub/state/throttle.js'
const { HubThrottle } = (await import(throttlePath)) as ThrottleModule

function refusal(fn: () => void): { code: string; facts: Record<string, unknown> } {
  try {
    fn()
  } catch (err) {
    return err as { code: string; facts: Record<string, unknown> }
  }
  assert.fail('expected a refusal')
}

describe('HubThrottle under a tier, with an injected clock', () => {
  it("F1's device-to-cloud limit refuses the 101st send in a second, and accepts again after the refill", () => {
    let t = Date.parse('2026-12-03T10:00:00Z')
    const throttle = new HubThrottle({
      events: new HubEvents(() => t),
      now: () => t,
      hostName: 'h',
      tier: { name: 'F1' },
    })
    const dev = { deviceId: 'd' }
    for (let i = 0; i < DOC.F1.d2cPerSecond; i++) throttle.admit('d2c', dev, { bytes: 10 })
    const err = refusal(() => throttle.admit('d2c', dev, { bytes: 10 }))
    assert.equal(err.code, 'ERR_HUB_THROTTLED')
    assert.equal(err.facts.retryAfterSeconds, 1)
    t += 1000
    for (let i = 0; i < DOC.F1.d2cPerSecond; i++) throttle.admit('d2c', dev, { bytes: 10 })
    assert.equal(refusal(() => throttle.admit('d2c', dev)).code, 'ERR_HUB_THROTTLED')
    throttle.close()
  })

  it('the daily quota counts metered chunks: a 9 KB message is 3 on S1 (4 KB) and 18 on F1 (0.5 KB)', () => {
    const t = Date.parse('2026-12-03T10:00:00Z')
    const s1 = new HubThrottle({
      events: new HubEvents(() => t),
      now: () => t,
      hostName: 'h',
      tier: { name: 'S1', units: 2 },
    })
    s1.admit('d2c', { deviceId: 'd' }, { bytes: 9 * 1024 })
    assert.deepEqual(s1.usage(), {
      tier: { name: 'S1', units: 2 },
      messages: 3,
      quota: 2 * DOC.S1.quotaPerUnit,
      day: '2026-12-03',
    })
    s1.admit('d2c', { deviceId: 'd' }, { bytes: 1 })
    assert.equal(s1.usage()?.messages, 4, 'a message under 4 KB is one')
    const f1 = new HubThrottle({
      events: new HubEvents(() => t),
      now: () => t,
      hostName: 'h',
      tier: { name: 'F1' },
    })
    f1.admit('d2c', { deviceId: 'd' }, { bytes: 9 * 1024 })
    assert.equal(f1.usage()?.messages, (9 * 1024) / DOC.F1.meterBytes)
    s1.close()
    f1.close()
  })

  it("F1's 8,000 a day: over it IotHubQuotaExceeded until 00:00 UTC, then the count starts again", () => {
    let t = Date.parse('2026-12-03T23:00:00Z')
    const events = new HubEvents(() => t)
    const seen: HubEvent[] = []
    events.on('event', (e: HubEvent) => seen.push(e))
    const throttle = new HubThrottle({ events, now: () => t, hostName: 'h', tier: { name: 'F1' } })
    const dev = { deviceId: 'd' }
    // 4 KB messages are 8 metered messages each on F1: 1,000 of them use the day's 8,000
    for (let i = 0; i < DOC.F1.quota / 8; i++) {
      throttle.admit('d2c', dev, { bytes: 4096 })
      t += 10 // 100 a second, within the send rate
    }
    assert.equal(throttle.usage()?.messages, DOC.F1.quota)
    const err = refusal(() => throttle.admit('d2c', dev, { bytes: 1 }))
    assert.equal(err.code, 'ERR_HUB_QUOTA_EXCEEDED')
    const midnight = Date.parse('2026-12-04T00:00:00Z')
    assert.equal(err.facts.retryAfterSeconds, Math.ceil((midnight - t) / 1000))
    t = midnight - 1
    assert.equal(refusal(() => throttle.admit('d2c', dev)).code, 'ERR_HUB_QUOTA_EXCEEDED')
    t = midnight
    throttle.admit('d2c', dev, { bytes: 4096 })
    assert.deepEqual(
      { messages: throttle.usage()?.messages, day: throttle.usage()?.day },
      { messages: 8, day: '2026-12-04' },
    )
    // two refusals, one warning (the rest are counted for the window's end)
    const warnings = seen.filter((e) => e.event === 'warning')
    assert.equal(warnings.length, 1)
    assert.match(JSON.stringify(warnings[0]), /quota/)
    throttle.close()
  })

  it('without a tier nothing is throttled or counted', () => {
    const t = Date.parse('2026-12-03T10:00:00Z')
    const throttle = new HubThrottle({ events: new HubEvents(() => t), now: () => t, hostName: 'h' })
    for (let i = 0; i < 10_000; i++) throttle.admit('d2c', { deviceId: 'd' }, { bytes: 300_000 })
    for (let i = 0; i < 1000; i++) throttle.admit('registry')
    assert.equal(throttle.usage(), undefined)
    throttle.close()
  })

  it('a tier the hub does not serve, or units it cannot have, is refused', async () => {
    await assert.rejects(startHub({ tier: { name: 'B1' as 'S1' } }), { code: 'ERR_INVALID_OPTION' })
    await assert.rejects(startHub({ tier: { name: 'F1', units: 2 } }), { code: 'ERR_INVALID_OPTION' })
    await assert.rejects(startHub({ tier: { name: 'S3', units: 11 } }), { code: 'ERR_INVALID_OPTION' })
  })
})

type Registry = import('azure-iothub').Registry
type SdkError = Error & {
  name: string
  response?: { statusCode?: number; headers: Record<string, string | undefined> }
}

describe('a hub started with a tier, seen by the official SDK and mqtt.js', () => {
  let t = Date.now()
  let hub: Hub
  let registry: Registry
  const readies: HubEvent[] = []
  const original = https.request
  const device = (id: string) => ({
    clientId: id,
    username: `localhost/${id}/${API}`,
    password: hmacToken(`localhost/devices/${id}`, KEY, nowS() + 3600),
  })
  before(async () => {
    hub = await startHub({
      tier: { name: 'F1' },
      now: () => t,
      onEvent: (e) => {
        if (e.event === 'ready') readies.push(e)
      },
    })
    for (const id of ['flood', 'reg']) await hub.addDevice(id, { primaryKey: KEY })
    // The SDK dials port 443; route its requests to this hub's port and CA (nothing else changes).
    https.request = ((
      options: https.RequestOptions,
      callback?: (res: import('node:http').IncomingMessage) => void,
    ) => original({ ...options, port: hub.ports.https, ca: hub.ca }, callback)) as typeof https.request
    const { Registry } = createRequire(import.meta.url)('azure-iothub') as typeof import('azure-iothub')
    registry = Registry.fromConnectionString(hub.hubConnectionString)
  })
  after(async () => {
    https.request = original
    await hub.close()
  })

  it('the ready event says the tier, its daily quota and meter', () => {
    assert.deepEqual((readies[0] as { tier?: unknown }).tier, {
      name: 'F1',
      units: 1,
      messagesPerDay: DOC.F1.quota,
      meterBytes: DOC.F1.meterBytes,
    })
  })

  it('the registry over 100 a minute: azure-iothub gets ThrottlingError from a 429 with Retry-After; a minute later it is served', async () => {
    for (let i = 0; i < DOC.S1.registryPerMinute; i++) await registry.get('reg')
    let err: SdkError | undefined
    try {
      await registry.get('reg')
    } catch (e) {
      err = e as SdkError
    }
    assert.ok(err !== undefined, 'the 101st registry operation in the minute was served')
    assert.equal(err.name, 'ThrottlingError')
    assert.equal(err.response?.statusCode, 429)
    assert.equal(err.response?.headers['retry-after'], '1')
    t += 60_000
    assert.equal((await registry.get('reg')).responseBody.deviceId, 'reg')
  })

  it('an MQTT device over the device-to-cloud limit is dropped; what came before it is logged', async () => {
    t += 60_000
    const client = await connect(hub, device('flood'))
    let logged = 0
    const count = (e: HubEvent): void => {
      if (e.event === 'telemetry' && e.deviceId === 'flood') logged++
    }
    hub.events.on('event', count)
    const refused = nextEvent(hub, (e) => e.event === 'warning' && /d2c/.test(JSON.stringify(e)))
    for (let i = 0; i <= DOC.F1.d2cPerSecond; i++)
      client.publish(telemetryTopic({ deviceId: 'flood' }), `m${i}`, { qos: 1 })
    await closed(client)
    await refused
    hub.events.off('event', count)
    assert.equal(logged, DOC.F1.d2cPerSecond)
  })

  it('new connections over 100 a second: the 101st CONNECT is refused with CONNACK 3 (server unavailable)', async () => {
    t += 60_000
    for (let i = 0; i < DOC.F1.connectsPerSecond; i++) {
      const c = await connect(hub, device('reg'))
      c.end(true)
      await closed(c)
    }
    const refusedEvent = nextEvent(hub, 'refuse', (e) => e.deviceId === 'reg')
    assert.equal(await refusedCode(hub, device('reg')), 3)
    assert.equal((await refusedEvent).fault?.fault, 'throttled')
    t += 1000
    const again = await connect(hub, device('reg'))
    again.end(true)
  })
})

describe('a hub started without a tier', () => {
  const t = Date.now()
  let hub: Hub
  before(async () => {
    hub = await startHub({ now: () => t })
    await hub.addDevice('free', { primaryKey: KEY })
  })
  after(() => hub.close())

  it('throttles nothing: 150 messages in the same instant are all logged, and the connection stays', async () => {
    const client = await connect(hub, {
      clientId: 'free',
      username: `localhost/free/${API}`,
      password: hmacToken('localhost/devices/free', KEY, nowS() + 3600),
    })
    let logged = 0
    const last = nextEvent(
      hub,
      'telemetry',
      (e) => e.deviceId === 'free' && JSON.stringify(e.body) === '{"text":"m149"}',
    )
    const count = (e: HubEvent): void => {
      if (e.event === 'telemetry' && e.deviceId === 'free') logged++
    }
    hub.events.on('event', count)
    for (let i = 0; i < 150; i++) client.publish(telemetryTopic({ deviceId: 'free' }), `m${i}`, { qos: 1 })
    await last
    hub.events.off('event', count)
    assert.equal(logged, 150)
    assert.equal(client.connected, true)
    client.end(true)
  })
})
