// C2D feedback and a deleted device, as IoT Hub does it: the feedback queue is the hub's, not the
// device's, so a record made before the device was deleted still reaches the feedback receiver,
// with the generation id of the device it was about (IoT Hub's way to tell a re-created device
// apart); the messages still queued for the device go with it and leave no record, even after
// their expiry time and with a device of the same id made again. rhea as the feedback receiver
// (`/messages/serviceBound/feedback` on the plain loopback AMQP port).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import rhea from 'rhea'
import type { Connection, EventContext, Message } from 'rhea'
import { type Hub, type HubEvent, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { ownerKey, rest } from './support/hub-rest.js'

type Json = Record<string, unknown>

let hub: Hub
before(async () => {
  hub = await startHub({ inMemory: true })
})
after(async () => {
  await hub.close()
})

function connectOwner(): Promise<Connection> {
  const token = hmacToken('localhost', ownerKey(hub), Math.floor(Date.now() / 1000) + 600, 'iothubowner')
  return new Promise((resolve, reject) => {
    const c = rhea.create_container().connect({
      host: '127.0.0.1',
      port: hub.ports.amqpPlain,
      username: 'iothubowner@sas.root.localhost',
      password: token,
      reconnect: false,
    } as never)
    c.once('connection_open', () => resolve(c))
    c.once('connection_error', (ctx: EventContext) => reject(ctx.connection.error ?? new Error('refused')))
    c.once('disconnected', (ctx: EventContext) => reject(ctx.error ?? new Error('disconnected')))
  })
}

function end(c: Connection): Promise<void> {
  return new Promise((resolve) => {
    if (!c.is_open()) return resolve()
    c.once('connection_close', () => resolve())
    c.once('disconnected', () => resolve())
    c.close()
  })
}

const generationId = async (id: string): Promise<string> =>
  String(((await rest(hub, 'GET', `/devices/${id}?api-version=2021-04-12`)).body as Json).generationId)

describe('C2D feedback and a deleted device', () => {
  it('a record made before the delete still comes, with the old generation id; the queued messages leave none', async () => {
    await hub.addDevice('gone')
    const before = await generationId('gone')
    const expired = new Promise<void>((resolve) =>
      hub.events.on('event', (e: HubEvent) => {
        if (e.event === 'c2d' && e.state === 'expired' && e.messageId === 'm-expired') resolve()
      }),
    )
    await hub.sendC2d('gone', 'x', {
      messageId: 'm-expired',
      ack: 'negative',
      expiryTimeUtc: new Date(Date.now() + 150).toISOString(),
    })
    await expired
    await hub.sendC2d('gone', 'y', {
      messageId: 'm-queued',
      ack: 'full',
      expiryTimeUtc: new Date(Date.now() + 400).toISOString(),
    })
    assert.equal((await rest(hub, 'DELETE', '/devices/gone?api-version=2021-04-12')).status, 204)
    assert.equal((await rest(hub, 'PUT', '/devices/gone?api-version=2021-04-12', { body: {} })).status, 200)
    const after = await generationId('gone')
    assert.notEqual(after, before, 'the device made again has a generation id of its own')
    await new Promise((resolve) => setTimeout(resolve, 700)) // past m-queued's expiry time

    const c = await connectOwner()
    try {
      const got: Json[][] = []
      const link = c.open_receiver({
        source: { address: '/messages/serviceBound/feedback' },
        credit_window: 10,
      })
      link.on('message', (ctx: EventContext) => {
        const body = (ctx.message as Message).body as { content: Buffer }
        got.push(JSON.parse(body.content.toString('utf8')) as Json[])
      })
      const end_ = Date.now() + 5000
      while (got.length === 0 && Date.now() < end_) await new Promise((resolve) => setTimeout(resolve, 20))
      await new Promise((resolve) => setTimeout(resolve, 300)) // anything else would come now
      assert.deepEqual(
        got.flat().map((r) => [r.originalMessageId, r.deviceId, r.statusCode, r.deviceGenerationId]),
        [['m-expired', 'gone', 'Expired', before]],
      )
    } finally {
      await end(c)
    }
    const count = (await rest(hub, 'GET', '/devices/gone?api-version=2021-04-12')).body as Json
    assert.equal(count.cloudToDeviceMessageCount, 0, "the new device has none of the old one's messages")
  })
})
