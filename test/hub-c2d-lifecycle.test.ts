// IoT Hub's C2D lifecycle in the product hub: a message stays queued, with its delivery count,
// until the device completes it (PUBACK at QoS 1); a lost link puts it back, across a real
// SIGTERM restart too; the max delivery count (10) and expiry dead-letter it. Devices are real
// mqtt.js clients, one of them told never to PUBACK.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt'
import { type Hub, type HubEventOf, startHub } from 'sas-token/hub'
import { Reporter } from './support/child.js'
import { BIN, cleanEnv } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { connect, nextEvent } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'

const KEY = Buffer.alloc(32, 7).toString('base64')
const FILTER = 'devices/dev1/messages/devicebound/#'
const nowS = (): number => Math.floor(Date.now() / 1000)
const dev = (clean: boolean) => ({
  clientId: 'dev1',
  username: 'localhost/dev1/?api-version=2021-04-12',
  password: hmacToken('localhost/devices/dev1', KEY, nowS() + 600),
  clean,
})

/** A device that receives C2D but never PUBACKs (mqtt.js acks only when handleMessage calls back). */
function neverAck(client: MqttClient): IPublishPacket[] {
  const received: IPublishPacket[] = []
  client.handleMessage = (packet) => {
    received.push(packet)
  }
  return received
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function collect(hub: Hub): HubEventOf<'c2d'>[] {
  const events: HubEventOf<'c2d'>[] = []
  hub.events.on('event', (e) => {
    if (e.event === 'c2d') events.push(e)
  })
  return events
}

async function drop(hub: Hub, client: MqttClient): Promise<void> {
  const gone = nextEvent(hub, 'disconnect')
  client.end(true)
  await gone
}

describe('C2D lifecycle (IoT Hub: Enqueued → Invisible → Completed / Dead-lettered)', () => {
  it('after an UNSUBSCRIBE nothing is delivered or completed; it waits, queued, for the next subscription', async () => {
    const hub = await startHub()
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const events = collect(hub)
      const client = await connect(hub, dev(true))
      const got = neverAck(client)
      await client.subscribeAsync(FILTER, { qos: 1 })
      await client.unsubscribeAsync(FILTER)
      const sent = await hub.sendC2d('dev1', 'after unsubscribe', { messageId: 'u1' })
      assert.equal(sent.state, 'queued')
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(got.length, 0, 'nothing reached the device')
      assert.deepEqual(
        events.filter((e) => e.state === 'completed' || e.state === 'delivered'),
        [],
        'nothing was delivered or completed',
      )
      await client.subscribeAsync(FILTER, { qos: 1 })
      await until('the delivery after subscribing again', () => got.length === 1)
      assert.equal(got[0]?.payload.toString(), 'after unsubscribe')
      client.end(true)
    } finally {
      await hub.close()
    }
  })

  it('a message not acknowledged before the link is lost is delivered again, its delivery count grown', async () => {
    const hub = await startHub()
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const events = collect(hub)
      const first = await connect(hub, dev(true))
      const got1 = neverAck(first)
      await first.subscribeAsync(FILTER, { qos: 1 })
      const sent = await hub.sendC2d('dev1', 'stalled', { messageId: 'm1' })
      assert.equal(sent.state, 'delivered', 'handed to a connected, subscribed device')
      await until('the first delivery', () => got1.length === 1)
      assert.equal(got1[0]?.qos, 1)
      await drop(hub, first)
      const second = await connect(hub, dev(true))
      const got2 = neverAck(second)
      await second.subscribeAsync(FILTER, { qos: 1 })
      await until('the redelivery after the lost link', () => got2.length === 1)
      assert.equal(got2[0]?.payload.toString(), 'stalled')
      assert.match(got2[0]?.topic ?? '', /%24\.mid=m1/)
      const counts = events.filter((e) => e.state === 'delivered').map((e) => e.deliveryCount)
      assert.deepEqual(counts, [1, 2])
      assert.ok(events.some((e) => e.state === 'abandoned' && e.messageId === 'm1'))
      await drop(hub, second)
    } finally {
      await hub.close()
    }
  })

  it('CleanSession 0: a reconnect gets the unacknowledged message once (aedes does not resend it beside the queue), and its PUBACK completes it', async () => {
    const hub = await startHub()
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const events = collect(hub)
      const first = await connect(hub, dev(false))
      const got1 = neverAck(first)
      await first.subscribeAsync(FILTER, { qos: 1 })
      await hub.sendC2d('dev1', 'once', { messageId: 'p1' })
      await until('the first delivery', () => got1.length === 1)
      await drop(hub, first)
      const completed = nextEvent(hub, 'c2d', (e) => e.state === 'completed')
      const again = await connect(hub, dev(false))
      const got2: IPublishPacket[] = []
      again.on('message', (_topic, _payload, packet) => got2.push(packet))
      assert.equal((await completed).messageId, 'p1')
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(got2.length, 1, 'delivered once after the reconnect')
      assert.deepEqual(
        events.filter((e) => e.state === 'delivered').map((e) => e.deliveryCount),
        [1, 2],
      )
      await drop(hub, again)
    } finally {
      await hub.close()
    }
  })

  it('a message completed by PUBACK is gone from the queue', async () => {
    const hub = await startHub()
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const device = await connect(hub, dev(true))
      await device.subscribeAsync(FILTER, { qos: 1 })
      const completed = nextEvent(hub, 'c2d', (e) => e.state === 'completed')
      await hub.sendC2d('dev1', 'acked', { messageId: 'm2' })
      const e = await completed
      assert.equal(e.messageId, 'm2')
      assert.equal(e.statusCode, 'Success')
      const twin = (await rest(hub, 'GET', '/devices/dev1')).body as { cloudToDeviceMessageCount: number }
      assert.equal(twin.cloudToDeviceMessageCount, 0)
      await drop(hub, device)
      const again = await connect(hub, dev(true))
      const got = neverAck(again)
      await again.subscribeAsync(FILTER, { qos: 1 })
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(got.length, 0, 'a completed message is not delivered again')
      await drop(hub, again)
    } finally {
      await hub.close()
    }
  })

  it('after the max delivery count (10) the message is dead-lettered with DeliveryCountExceeded', async () => {
    const hub = await startHub()
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const events = collect(hub)
      await hub.sendC2d('dev1', 'poison', { messageId: 'm3' })
      for (let i = 1; i <= 10; i++) {
        const device = await connect(hub, dev(true))
        const got = neverAck(device)
        await device.subscribeAsync(FILTER, { qos: 1 })
        await until(`delivery ${i}`, () => got.length === 1)
        await drop(hub, device)
      }
      const dead = events.find((e) => e.state === 'dead-lettered')
      assert.equal(dead?.messageId, 'm3')
      assert.equal(dead?.statusCode, 'DeliveryCountExceeded')
      assert.equal(dead?.deliveryCount, 10)
      const last = await connect(hub, dev(true))
      const got = neverAck(last)
      await last.subscribeAsync(FILTER, { qos: 1 })
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(got.length, 0)
      await drop(hub, last)
    } finally {
      await hub.close()
    }
  })

  it('an expired message is not delivered and records Expired', async () => {
    const hub = await startHub()
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const events = collect(hub)
      const expiry = new Date(Date.now() + 400).toISOString()
      assert.equal(
        (await hub.sendC2d('dev1', 'stale', { messageId: 'm4', expiryTimeUtc: expiry })).state,
        'queued',
      )
      await new Promise((resolve) => setTimeout(resolve, 600))
      const device = await connect(hub, dev(true))
      const got = neverAck(device)
      await device.subscribeAsync(FILTER, { qos: 1 })
      await until('the expiry record', () => events.some((e) => e.state === 'expired'))
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal(got.length, 0)
      const expired = events.find((e) => e.state === 'expired')
      assert.equal(expired?.messageId, 'm4')
      assert.equal(expired?.statusCode, 'Expired')
      await drop(hub, device)
    } finally {
      await hub.close()
    }
  })
})

describe('C2D across a SIGTERM restart of `sas-token hub` (CleanSession 0)', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  const start = async (dir: string) => {
    const child = new Reporter(
      spawn(
        process.execPath,
        [BIN, 'hub', '--json', '--state-dir', dir, '--mqtt-port', '0', '--https-port', '0'],
        {
          env: cleanEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    )
    const ready = (await child.waitFor((l) => l.event === 'ready')) as {
      ports: { https: number; mqtt: number }
      hubConnectionString: string
    }
    const ca = await readFile(join(dir, 'ca.pem'), 'utf8')
    return { child, remote: { ports: ready.ports, ca, hubConnectionString: ready.hubConnectionString } }
  }
  const device = (remote: { ports: { mqtt: number }; ca: string }): Promise<MqttClient> =>
    new Promise((resolve, reject) => {
      const client = mqtt.connect({
        host: '127.0.0.1',
        port: remote.ports.mqtt,
        protocol: 'mqtts',
        ca: remote.ca,
        servername: 'localhost',
        protocolVersion: 4,
        reconnectPeriod: 0,
        ...dev(false),
      })
      client.once('connect', () => resolve(client))
      client.once('error', reject)
    })

  it('a message delivered but not acknowledged when the hub stops is delivered again after the restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-c2d-'))
    dirs.push(dir)
    const one = await start(dir)
    let stopped = false
    try {
      const put = await rest(one.remote, 'PUT', '/devices/dev1', {
        body: { authentication: { type: 'sas', symmetricKey: { primaryKey: KEY, secondaryKey: KEY } } },
      })
      assert.equal(put.status, 200)
      const first = await device(one.remote)
      const got1 = neverAck(first)
      await first.subscribeAsync(FILTER, { qos: 1 })
      const sent = await rest(one.remote, 'POST', '/_emulator/devices/dev1/messages', {
        body: { payload: 'survives', messageId: 'r1' },
      })
      assert.equal(sent.status, 202)
      await until('the first delivery', () => got1.length === 1)
      first.on('error', () => undefined)
      one.child.child.kill('SIGTERM')
      assert.equal(await one.child.exited, 0)
      stopped = true
      first.end(true)
    } finally {
      if (!stopped) await one.child.stop('SIGKILL')
    }
    const two = await start(dir)
    try {
      const again = await device(two.remote)
      const got2 = neverAck(again)
      // like the Azure SDK, the device does not subscribe again (CleanSession 0)
      await until('the redelivery after the restart', () => got2.length === 1)
      assert.equal(got2[0]?.payload.toString(), 'survives')
      const delivered = await two.child.waitFor((l) => l.event === 'c2d' && l.state === 'delivered')
      assert.equal(delivered.deliveryCount, 2)
      again.end(true)
    } finally {
      await two.child.stop('SIGTERM')
    }
  })
})
