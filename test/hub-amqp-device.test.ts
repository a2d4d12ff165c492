// Issue 17, item 4 (telemetry, C2D and the token rules) and item 1 (the AMQP listeners): the
// official device SDK, unmodified (azure-iot-device with azure-iot-device-amqp's Amqp and
// AmqpWs), against the product hub over real TLS. The SDK dials 5671 (Amqp) and 443 (AmqpWs)
// of the host it is given, so the hub listens there on a loopback address of its own,
// 127.x.y.z picked at random, which is also its host name (support/sdk-hub.ts). Telemetry is
// checked in the hub's `telemetry` events, C2D outcomes in its `c2d` events, refusals in its
// `refuse` events. SASL PLAIN, the plain loopback port and the address rules are checked with
// rhea itself.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { connect as netConnect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { after, before, describe, it } from 'node:test'
import { createSasTokenProvider } from '@azure/core-amqp'
import mqtt from 'mqtt'
import rhea from 'rhea'
import type { Connection, EventContext } from 'rhea'
import { startHub } from 'sas-token/hub'
import type { Hub, HubEvent } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { HubEventLog } from './support/hub-event-log.js'
import type { Callback, SdkMessage } from './support/sdk-device-message.js'
import { type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'

const require = createRequire(import.meta.url)

interface SdkClient {
  open(): Promise<unknown>
  close(): Promise<unknown>
  setOptions(o: Record<string, unknown>): Promise<unknown>
  on(event: 'message', listener: (m: SdkMessage) => void): void
  on(event: 'disconnect' | 'error', listener: (err?: Error) => void): void
  sendEvent(message: SdkMessage): Promise<unknown>
  complete(message: SdkMessage, cb: Callback): void
  reject(message: SdkMessage, cb: Callback): void
  abandon(message: SdkMessage, cb: Callback): void
}
interface ModuleFactory {
  fromConnectionString(cs: string, transport: unknown): SdkClient
}
interface ClientFactory {
  fromConnectionString(cs: string, transport: unknown): SdkClient
  fromSharedAccessSignature(sas: string, transport: unknown): SdkClient
}
const device = require('azure-iot-device') as {
  Client: ClientFactory
  ModuleClient: ModuleFactory
  Message: new (data: string) => SdkMessage
}
const transports = require('azure-iot-device-amqp') as Record<'Amqp' | 'AmqpWs', unknown>

type Seen = HubEvent & Record<string, unknown>

let sdk: SdkHub | undefined
let hub: Hub | undefined
let address = ''
let skip: string | undefined
const events = new HubEventLog<Seen>()
const seen = events.seen

/** The first event (already seen, or to come within `ms`) that matches. */
const waitForEvent = (match: (e: Seen) => boolean, ms = 10_000): Promise<Seen> => events.waitFor(match, ms)

before(async () => {
  ;({ sdk, skip } = await sdkHubOrSkip({ c2d: { lockMs: 5_000 } }))
  if (sdk === undefined) return
  hub = sdk.hub as Hub
  address = sdk.address
  events.follow(hub.events)
})
after(async () => {
  await sdk?.close()
})

/** A client of a new device over `transport`, trusting the hub's CA; closed by `after`. */
async function openDevice(
  deviceId: string,
  transport: 'Amqp' | 'AmqpWs',
): Promise<{ client: SdkClient; connectionString: string; key: string }> {
  const h = hub as Hub
  const added = await h.addDevice(deviceId)
  const client = device.Client.fromConnectionString(added.connectionString, transports[transport])
  await client.setOptions({ ca: h.ca })
  await client.open()
  const key = /SharedAccessKey=([^;]+)/.exec(added.connectionString)?.[1] ?? ''
  return { client, connectionString: added.connectionString, key }
}

for (const transport of ['Amqp', 'AmqpWs'] as const) {
  const protocol = transport === 'Amqp' ? 'amqp' : 'amqp-ws'
  describe(`azure-iot-device over ${transport}`, { concurrency: 1 }, () => {
    const deviceId = `amqp-${transport.toLowerCase()}`
    let client: SdkClient | undefined
    after(async () => {
      await client?.close().catch(() => undefined)
    })

    it('connects (a connect event with its transport) and sends telemetry that arrives with its properties', async (t) => {
      if (skip !== undefined) return t.skip(skip)
      client = (await openDevice(deviceId, transport)).client
      const connect = await waitForEvent((e) => e.event === 'connect' && e.deviceId === deviceId)
      assert.equal(connect.protocol, protocol)
      assert.equal(connect.clientId, deviceId)
      assert.equal(connect.authMethod, 'sas')
      const m = new device.Message('{"t":21.5}')
      m.messageId = 'msg-1'
      m.correlationId = 'corr-1'
      m.contentType = 'application/json'
      m.contentEncoding = 'utf-8'
      m.properties.add('alert', 'high & dry')
      await client.sendEvent(m)
      const e = await waitForEvent((x) => x.event === 'telemetry' && x.deviceId === deviceId)
      assert.equal(e.protocol, protocol)
      assert.deepEqual(e.body, { text: '{"t":21.5}' })
      assert.deepEqual(e.properties, { alert: 'high & dry' })
      const sys = e.systemProperties as Record<string, string>
      assert.equal(sys.messageId, 'msg-1')
      assert.equal(sys.correlationId, 'corr-1')
      assert.equal(sys.contentType, 'application/json')
      assert.equal(sys.contentEncoding, 'utf-8')
      assert.equal(sys['iothub-connection-device-id'], deviceId)
      assert.equal(e.topic, `/devices/${deviceId}/messages/events`)
    })

    it('receives C2D with its properties; complete, reject and abandon settle it (c2d events)', async (t) => {
      if (skip !== undefined) return t.skip(skip)
      const h = hub as Hub
      const c = client as SdkClient
      const received: SdkMessage[] = []
      const next = async (): Promise<SdkMessage> => {
        for (let i = 0; i < 200 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 25))
        const m = received.shift()
        assert.ok(m, 'no C2D message came')
        return m
      }
      c.on('message', (m) => received.push(m))
      const settle = (how: 'complete' | 'reject' | 'abandon', m: SdkMessage): Promise<void> =>
        new Promise((resolve, reject) => c[how](m, (err) => (err ? reject(err) : resolve())))

      const first = await h.sendC2d(deviceId, 'one', { messageId: 'c2d-1', properties: { color: 'red' } })
      assert.ok(first)
      const m1 = await next()
      assert.equal(m1.data.toString(), 'one')
      assert.equal(m1.messageId, 'c2d-1')
      assert.equal(m1.properties.getValue('color'), 'red')
      await settle('complete', m1)
      const done = await waitForEvent(
        (e) => e.event === 'c2d' && e.messageId === 'c2d-1' && e.state === 'completed',
      )
      assert.equal(done.state, 'completed')
      assert.equal(done.statusCode, 'Success')

      await h.sendC2d(deviceId, 'two', { messageId: 'c2d-2' })
      await settle('reject', await next())
      const rejected = await waitForEvent(
        (e) => e.event === 'c2d' && e.messageId === 'c2d-2' && e.state === 'rejected',
      )
      assert.equal(rejected.state, 'rejected')
      assert.equal(rejected.statusCode, 'Rejected')

      await h.sendC2d(deviceId, 'three', { messageId: 'c2d-3' })
      const m3 = await next()
      await settle('abandon', m3)
      const abandoned = await waitForEvent(
        (e) => e.event === 'c2d' && e.messageId === 'c2d-3' && e.state === 'abandoned',
      )
      assert.equal(abandoned.deliveryCount, 1)
      // abandoned goes back to the queue and comes again, its delivery counted
      const again = await next()
      assert.equal(again.messageId, 'c2d-3')
      const redelivered = await waitForEvent(
        (e) =>
          e.event === 'c2d' && e.messageId === 'c2d-3' && e.state === 'delivered' && e.deliveryCount === 2,
      )
      assert.equal(redelivered.deliveryCount, 2)
      await settle('complete', again)
      await waitForEvent((e) => e.event === 'c2d' && e.messageId === 'c2d-3' && e.state === 'completed')
    })
  })
}

describe('azure-iot-device ModuleClient over Amqp', () => {
  it('sends module telemetry on its own address, with the module id', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    await h.addDevice('amqp-edge')
    const added = await h.addModule('amqp-edge', 'filter')
    const client = device.ModuleClient.fromConnectionString(added.connectionString, transports.Amqp)
    await client.setOptions({ ca: h.ca })
    await client.open()
    try {
      const connect = await waitForEvent((e) => e.event === 'connect' && e.deviceId === 'amqp-edge')
      assert.equal(connect.moduleId, 'filter')
      assert.equal(connect.clientId, 'amqp-edge/filter')
      await client.sendEvent(new device.Message('from the module'))
      const e = await waitForEvent((x) => x.event === 'telemetry' && x.deviceId === 'amqp-edge')
      assert.equal(e.moduleId, 'filter')
      assert.equal(e.topic, '/devices/amqp-edge/modules/filter/messages/events')
      assert.equal((e.systemProperties as Record<string, string>)['iothub-connection-module-id'], 'filter')
    } finally {
      await client.close().catch(() => undefined)
    }
  })
})

describe('one session per identity across transports', () => {
  it('an AMQP connection replaces the MQTT one of the same device, and an MQTT one the AMQP one', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const id = 'amqp-replaced'
    const added = await h.addDevice(id)
    const key = /SharedAccessKey=([^;]+)/.exec(added.connectionString)?.[1] ?? ''
    const token = hmacToken(`${address}/devices/${id}`, key, Math.floor(Date.now() / 1000) + 600)
    const mqttConnect = () =>
      mqtt.connect({
        host: address,
        port: h.ports.mqtt,
        protocol: 'mqtts',
        ca: h.ca,
        clientId: id,
        username: `${address}/${id}/?api-version=2021-04-12`,
        password: token,
        protocolVersion: 4,
        reconnectPeriod: 0,
      })
    const closes = () => seen.filter((e) => e.event === 'close' && e.deviceId === id)
    const first = mqttConnect()
    first.on('error', () => undefined)
    await waitForEvent((e) => e.event === 'connect' && e.deviceId === id && e.protocol === 'mqtt')
    const amqpClient = device.Client.fromConnectionString(added.connectionString, transports.Amqp)
    amqpClient.on('error', () => undefined)
    amqpClient.on('disconnect', () => undefined)
    await amqpClient.setOptions({ ca: h.ca })
    try {
      await amqpClient.open()
      await waitForEvent((e) => e.event === 'connect' && e.deviceId === id && e.protocol === 'amqp')
      const mqttClosed = await waitForEvent((e) => e.event === 'close' && e.deviceId === id)
      assert.equal(mqttClosed.reason, 'replaced by a new connection')
      await new Promise<void>((resolve) =>
        first.connected ? first.once('close', () => resolve()) : resolve(),
      )
      // and back: an MQTT CONNECT replaces the AMQP session
      const second = mqttConnect()
      second.on('error', () => undefined)
      try {
        const mqttConnects = () =>
          seen.filter((e) => e.event === 'connect' && e.deviceId === id && e.protocol === 'mqtt')
        for (let i = 0; i < 100 && mqttConnects().length < 2; i++) await new Promise((r) => setTimeout(r, 50))
        assert.equal(mqttConnects().length, 2)
        for (let i = 0; i < 100 && closes().length < 2; i++) await new Promise((r) => setTimeout(r, 50))
        assert.equal(closes().length, 2, JSON.stringify(seen.filter((e) => e.deviceId === id)))
        assert.equal(closes()[1]?.reason, 'replaced by a new connection')
      } finally {
        second.end(true)
      }
    } finally {
      first.end(true)
      await amqpClient.close().catch(() => undefined)
    }
  })
})

describe('AMQP authentication', { concurrency: 1 }, () => {
  it('a wrong key is refused with the finding an MQTT refusal gives (ERR_TOKEN_SIGNATURE_MISMATCH)', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const added = await h.addDevice('amqp-wrong-key')
    const wrong = added.connectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${randomBytes(32).toString('base64')}`,
    )
    const client = device.Client.fromConnectionString(wrong, transports.Amqp)
    await client.setOptions({ ca: h.ca })
    await assert.rejects(client.open())
    await client.close().catch(() => undefined)
    const refused = await waitForEvent((e) => e.event === 'refuse' && e.deviceId === 'amqp-wrong-key')
    assert.equal(refused.protocol, 'amqp')
    assert.equal(refused.condition, 'amqp:unauthorized-access')
    assert.equal(decodeURIComponent(String(refused.audience)), `${address}/devices/amqp-wrong-key`)
    assert.equal((refused.reason as { code?: string }).code, 'ERR_TOKEN_SIGNATURE_MISMATCH')
    assert.ok(!JSON.stringify(refused).includes('sig='), 'no signature in the refusal')
    assert.ok(!seen.some((e) => e.event === 'connect' && e.deviceId === 'amqp-wrong-key'))
  })

  it('a token that expires ends the session (close: token expired); a renewed put-token keeps it', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    // expiring: a bare SAS token (the SDK cannot renew it), valid for 3 s
    const added = await h.addDevice('amqp-expiring')
    const key = /SharedAccessKey=([^;]+)/.exec(added.connectionString)?.[1] ?? ''
    const se = Math.floor(Date.now() / 1000) + 3
    const expiring = device.Client.fromSharedAccessSignature(
      hmacToken(`${address}/devices/amqp-expiring`, key, se),
      transports.Amqp,
    )
    expiring.on('error', () => undefined)
    expiring.on('disconnect', () => undefined)
    await expiring.setOptions({ ca: h.ca })
    await expiring.open()
    // renewing: the SDK signs tokens valid 4 s and renews each 2 s (put-token on the same connection)
    const renewing = (await openDevice('amqp-renewing', 'Amqp')).client
    await renewing.setOptions({
      tokenRenewal: { tokenValidTimeInSeconds: 4, tokenRenewalMarginInSeconds: 2 },
    })
    try {
      const closed = await waitForEvent((e) => e.event === 'close' && e.deviceId === 'amqp-expiring', 10_000)
      assert.equal(closed.reason, 'token expired')
      await waitForEvent((e) => e.event === 'disconnect' && e.deviceId === 'amqp-expiring')
      // past several lifetimes of its tokens, the renewing device is still connected and sends
      await new Promise((r) => setTimeout(r, 7_000))
      assert.ok(
        !seen.some((e) => e.event === 'disconnect' && e.deviceId === 'amqp-renewing'),
        JSON.stringify(seen.filter((e) => e.deviceId === 'amqp-renewing')),
      )
      const m = new device.Message('still here')
      await renewing.sendEvent(m)
      const e = await waitForEvent((x) => x.event === 'telemetry' && x.deviceId === 'amqp-renewing')
      assert.deepEqual(e.body, { text: 'still here' })
    } finally {
      await expiring.close().catch(() => undefined)
      await renewing.close().catch(() => undefined)
    }
  })
})

/** A rhea client connection to the hub; resolves once open (or rejects with the error). */
function rheaConnect(o: Record<string, unknown>): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const c = rhea.create_container().connect({ reconnect: false, ...o } as never)
    // what comes after the test (the hub closing) is no test's error
    c.on('connection_error', () => undefined)
    c.on('error', () => undefined)
    c.on('disconnected', () => undefined)
    c.once('connection_open', () => resolve(c))
    c.once('connection_error', (ctx: EventContext) =>
      reject(ctx.connection.error ?? new Error('connection error')),
    )
    c.once('disconnected', (ctx: EventContext) => reject(ctx.error ?? new Error('disconnected')))
  })
}

describe('AMQP with rhea: SASL PLAIN, the plain loopback port, the address rules', { concurrency: 1 }, () => {
  it('SASL PLAIN {deviceId}@sas.{hub} with a device token on the plain port: telemetry arrives', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const added = await h.addDevice('amqp-plain')
    const key = /SharedAccessKey=([^;]+)/.exec(added.connectionString)?.[1] ?? ''
    const token = hmacToken(`${address}/devices/amqp-plain`, key, Math.floor(Date.now() / 1000) + 600)
    const hubName = address.split('.')[0]
    const c = await rheaConnect({
      host: address,
      port: h.ports.amqpPlain,
      username: `amqp-plain@sas.${hubName}`,
      password: token,
    })
    try {
      const sender = c.open_sender({ target: { address: '/devices/amqp-plain/messages/events' } })
      await new Promise<void>((resolve) => sender.once('sendable', () => resolve()))
      sender.send({
        body: rhea.message.data_section(Buffer.from('plain hello')),
        application_properties: { n: 7 },
      })
      const e = await waitForEvent((x) => x.event === 'telemetry' && x.deviceId === 'amqp-plain')
      assert.deepEqual(e.body, { text: 'plain hello' })
      assert.deepEqual(e.properties, { n: '7' })
      assert.equal(e.protocol, 'amqp')
    } finally {
      c.close()
    }
  })

  it('a 200 KB message (split into frames within the announced size) arrives; a 300 KB one is rejected; a frame over the size ends the connection', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const added = await h.addDevice('amqp-big')
    const key = /SharedAccessKey=([^;]+)/.exec(added.connectionString)?.[1] ?? ''
    const token = hmacToken(`${address}/devices/amqp-big`, key, Math.floor(Date.now() / 1000) + 600)
    const c = await rheaConnect({
      host: address,
      port: h.ports.amqpPlain,
      username: `amqp-big@sas.${address.split('.')[0]}`,
      password: token,
    })
    try {
      const sender = c.open_sender({ target: { address: '/devices/amqp-big/messages/events' } })
      await new Promise<void>((resolve) => sender.once('sendable', () => resolve()))
      const outcome = (body: Buffer) =>
        new Promise<string>((resolve) => {
          const d = sender.send({ body: rhea.message.data_section(body) })
          const on = (name: string) => (ctx: EventContext) => {
            if (ctx.delivery === d)
              resolve(name === 'rejected' ? `rejected ${JSON.stringify(ctx.delivery?.remote_state)}` : name)
          }
          sender.on('accepted', on('accepted'))
          sender.on('rejected', on('rejected'))
        })
      assert.equal(await outcome(Buffer.alloc(200 * 1024, 0x61)), 'accepted')
      const e = await waitForEvent((x) => x.event === 'telemetry' && x.deviceId === 'amqp-big')
      assert.equal((e.body as { text: string }).text.length, 200 * 1024)
      const big = await outcome(Buffer.alloc(300 * 1024, 0x62))
      assert.match(big, /^rejected .*amqp:link:message-size-exceeded/)
    } finally {
      c.close()
    }
    // a client that declares a 10 MB frame is disconnected at once, with a warning
    const closed = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: address, port: h.ports.amqpPlain })
      s.on('error', () => undefined)
      s.once('connect', () => {
        const frame = Buffer.alloc(8)
        frame.writeUInt32BE(10 * 1024 * 1024, 0)
        s.write(Buffer.concat([Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]), frame]))
      })
      s.once('close', () => resolve(true))
      setTimeout(() => resolve(false), 5_000).unref()
    })
    assert.equal(closed, true)
    await waitForEvent((x) => x.event === 'warning' && /frame of 10485760 bytes/.test(String(x.message)))
  })

  it('SASL PLAIN with a wrong key: SASL fails, and the refusal has the username and the finding', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    await h.addDevice('amqp-plain-bad')
    const token = hmacToken(
      `${address}/devices/amqp-plain-bad`,
      randomBytes(32).toString('base64'),
      Math.floor(Date.now() / 1000) + 600,
    )
    const hubName = address.split('.')[0]
    await assert.rejects(
      rheaConnect({
        host: address,
        port: h.ports.amqpPlain,
        username: `amqp-plain-bad@sas.${hubName}`,
        password: token,
      }),
    )
    const refused = await waitForEvent((e) => e.event === 'refuse' && e.deviceId === 'amqp-plain-bad')
    assert.equal(refused.username, `amqp-plain-bad@sas.${hubName}`)
    assert.equal((refused.reason as { code?: string }).code, 'ERR_TOKEN_SIGNATURE_MISMATCH')
  })

  it('a device link without a token for it: amqp:unauthorized-access; an unknown address: amqp:not-found', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const c = await rheaConnect({ host: address, port: h.ports.amqpPlain })
    try {
      const detached = (link: { once(event: string, f: (ctx: EventContext) => void): void }, event: string) =>
        new Promise<{ condition?: string; description?: string }>((resolve) =>
          link.once(event, (ctx) => {
            const error = (ctx.sender ?? ctx.receiver)?.error
            resolve(error !== undefined && 'condition' in error ? error : {})
          }),
        )
      const unauthorized = detached(
        c.open_sender({ target: { address: '/devices/nobody/messages/events' } }),
        'sender_error',
      )
      const u = await unauthorized
      assert.equal(u.condition, 'amqp:unauthorized-access')
      assert.match(u.description ?? '', /put one on \$cbs/)
      const notFound = await detached(
        c.open_receiver({ source: { address: '/devices/nobody/messages/nothing' } }),
        'receiver_error',
      )
      assert.equal(notFound.condition, 'amqp:not-found')
      assert.match(notFound.description ?? '', /\/devices\/\{deviceId\}\/messages\/devicebound/)
      await waitForEvent((e) => e.event === 'warning' && /amqp:not-found/.test(String(e.message)))
    } finally {
      c.close()
    }
  })

  it('the plain AMQP port listens on the loopback address only', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address
    const wide = await startHub({
      inMemory: true,
      host: '0.0.0.0',
      ownerKey: randomBytes(32).toString('base64'),
    })
    try {
      assert.ok(wide.ports.amqpPlain > 0)
      const reach = (host: string): Promise<string> =>
        new Promise((resolve) => {
          const s = netConnect({ host, port: wide.ports.amqpPlain })
          s.once('connect', () => {
            s.destroy()
            resolve('connected')
          })
          s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
        })
      assert.equal(await reach('127.0.0.1'), 'connected')
      if (outside === undefined)
        return t.diagnostic('no non-loopback IPv4 address here: only 127.0.0.1 checked')
      assert.equal(await reach(outside), 'ECONNREFUSED')
    } finally {
      await wide.close()
    }
  })
})

/** One put-token on `$cbs` over a fresh plain connection: the answer's status and description. */
async function putToken(
  port: number,
  props: Record<string, string>,
  token: string,
): Promise<{ status: unknown; description: unknown }> {
  const c = await rheaConnect({ host: address, port })
  try {
    const receiver = c.open_receiver({ source: { address: '$cbs' }, name: 'cbs-replies' })
    const sender = c.open_sender({ target: { address: '$cbs' } })
    await new Promise<void>((resolve) => sender.once('sendable', () => resolve()))
    const answer = new Promise<Record<string, unknown>>((resolve) =>
      receiver.on('message', (ctx: EventContext) => {
        if (ctx.message?.correlation_id === 'req-1') resolve(ctx.message.application_properties ?? {})
      }),
    )
    sender.send({
      message_id: 'req-1',
      reply_to: 'cbs-replies',
      to: '$cbs',
      application_properties: props,
      body: token,
    })
    const a = await answer
    return { status: a['status-code'], description: a['status-description'] }
  } finally {
    const closed = new Promise((resolve) => c.once('connection_close', resolve))
    c.close()
    await closed
  }
}

describe('CBS put-token for service audiences', { concurrency: 1 }, () => {
  const type = 'servicebus.windows.net:sastoken'
  it('a hub policy token (iothubowner, audience the host) is accepted: 200', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const ownerKey = /SharedAccessKey=([^;]+)/.exec(h.hubConnectionString)?.[1] ?? ''
    const token = hmacToken(address, ownerKey, Math.floor(Date.now() / 1000) + 600, 'iothubowner')
    const r = await putToken(h.ports.amqpPlain, { operation: 'put-token', type, name: address }, token)
    assert.equal(r.status, 200, String(r.description))
  })

  it('an Event Hub-compatible sb:// token signed as @azure/core-amqp signs (the key as text) is accepted; one signed with the decoded key is refused and explained', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const ownerKey = /SharedAccessKey=([^;]+)/.exec(h.hubConnectionString)?.[1] ?? ''
    const audience = `sb://${address}/${address.split('.')[0]}`
    const sdk = await createSasTokenProvider({
      sharedAccessKeyName: 'iothubowner',
      sharedAccessKey: ownerKey,
    }).getToken(audience)
    const ok = await putToken(h.ports.amqpPlain, { operation: 'put-token', type, name: audience }, sdk.token)
    assert.equal(ok.status, 200, String(ok.description))
    // the IoT Hub convention (key base64-decoded) for an sb:// audience is not how Event Hubs sign
    const iotStyle = hmacToken(audience, ownerKey, Math.floor(Date.now() / 1000) + 600, 'iothubowner')
    const bad = await putToken(h.ports.amqpPlain, { operation: 'put-token', type, name: audience }, iotStyle)
    assert.equal(bad.status, 401)
    const refused = await waitForEvent((e) => e.event === 'refuse' && e.audience === audience)
    assert.equal((refused.reason as { code?: string }).code, 'ERR_HUB_UNAUTHORIZED')
    assert.equal(refused.protocol, 'amqp')
  })

  it('a request that is no put-token, or of another token type: 400, saying what is served', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const h = hub as Hub
    const other = await putToken(h.ports.amqpPlain, { operation: 'delete-token', type, name: address }, 'x')
    assert.equal(other.status, 400)
    assert.match(String(other.description), /put-token only/)
    const jwt = await putToken(h.ports.amqpPlain, { operation: 'put-token', type: 'jwt', name: address }, 'x')
    assert.equal(jwt.status, 400)
    assert.match(String(jwt.description), /azure-devices\.net:sastoken/)
  })
})
