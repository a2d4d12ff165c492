// Issue 17, item 4, on the wire: what the AMQP twin and method links carry, checked with rhea
// itself (a client of the hub's plain loopback port, SASL PLAIN with a device token), for what
// azure-iot-device-amqp does not look at but IoT Hub's other clients do: an empty data section
// (not an AMQP null) for an answer with nothing to say, the `version` of a reported patch and of
// a desired patch, a method request's UUID correlation id, a 400 for a twin request the hub does
// not serve, a method answer without its status rejected, and a method call to a device that
// does not listen for methods told how to listen over AMQP.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import rhea from 'rhea'
import type { Connection, Delivery, EventContext, Message, Receiver, Sender } from 'rhea'
import { startHub } from 'sas-token/hub'
import type { Hub, HubEvent } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'

type Seen = HubEvent & Record<string, unknown>

let hub: Hub | undefined
const seen: Seen[] = []
const connections: Connection[] = []

before(async () => {
  hub = await startHub({ inMemory: true, ownerKey: randomBytes(32).toString('base64') })
  hub.events.on('event', (e: Seen) => seen.push(e))
})
after(async () => {
  // each client ends its own connection first, so that no link is left for the hub to detach
  await Promise.all(
    connections.map(
      (c) =>
        new Promise((resolve) => {
          c.once('connection_close', resolve)
          c.once('disconnected', resolve)
          c.close()
        }),
    ),
  )
  await hub?.close()
})

/** Resolves with the first value `next` gives that is not `undefined`, polling; rejects after 10 s. */
async function eventually<T>(what: string, next: () => T | undefined): Promise<T> {
  const until = Date.now() + 10_000
  for (;;) {
    const value = next()
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`${what} did not come within 10 s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A rhea connection of a new device over SASL PLAIN on the plain loopback port. */
async function connectDevice(deviceId: string): Promise<Connection> {
  const h = hub as Hub
  const added = await h.addDevice(deviceId)
  const key = /SharedAccessKey=([^;]+)/.exec(added.connectionString)?.[1] ?? ''
  const token = hmacToken(`${h.hostName}/devices/${deviceId}`, key, Math.floor(Date.now() / 1000) + 600)
  const c = await new Promise<Connection>((resolve, reject) => {
    const container = rhea.create_container()
    // a link the hub detaches with an error (at its close) is no failure of these tests
    container.on('error', () => undefined)
    const opened = container.connect({
      host: '127.0.0.1',
      port: h.ports.amqpPlain,
      username: `${deviceId}@sas.${h.hostName.split('.')[0]}`,
      password: token,
      reconnect: false,
    })
    opened.once('connection_open', () => resolve(opened))
    opened.once('disconnected', (ctx: EventContext) => reject(ctx.error ?? new Error('disconnected')))
  })
  connections.push(c)
  return c
}

/** A pair of links on one address, as the SDK attaches them, and the messages the receiver got. */
async function channel(
  c: Connection,
  address: string,
  name: string,
): Promise<{ sender: Sender; receiver: Receiver; got: Message[] }> {
  const properties = { 'com.microsoft:channel-correlation-id': `${name}:${randomBytes(8).toString('hex')}` }
  const got: Message[] = []
  const receiver = c.open_receiver({ source: { address }, properties, autoaccept: true })
  receiver.on('message', (ctx: EventContext) => {
    if (ctx.message !== undefined) got.push(ctx.message)
  })
  const sender = c.open_sender({ target: { address }, properties })
  await Promise.all([
    new Promise((resolve) => receiver.once('receiver_open', resolve)),
    new Promise((resolve) => sender.once('sendable', resolve)),
  ])
  return { sender, receiver, got }
}

/** The body of a received message: its one data section's bytes. */
function dataOf(m: Message): Buffer {
  const body = m.body as { typecode?: number; content?: unknown }
  assert.equal(body?.typecode, 0x75, `a data section, not ${JSON.stringify(m.body)}`)
  assert.ok(Buffer.isBuffer(body.content))
  return body.content
}

const twinRequest = (operation: string, correlationId: string, resource?: string, body = ' '): Message => ({
  correlation_id: correlationId,
  message_annotations: { operation, ...(resource === undefined ? {} : { resource }) },
  body: rhea.message.data_section(Buffer.from(body)),
})

describe('AMQP twin and method links on the wire (rhea)', { concurrency: 1 }, () => {
  it('twin: GET 200 with the document, reported PATCH 204 with its version and an empty data section, an unserved request 400', async () => {
    const c = await connectDevice('wire-twin')
    const twin = await channel(c, '/devices/wire-twin/twin', 'twin')
    const answer = (id: string) =>
      eventually(`the answer ${id}`, () => twin.got.find((m) => m.correlation_id === id))

    twin.sender.send(twinRequest('GET', 'get-1'))
    const got = await answer('get-1')
    assert.equal(got.message_annotations?.status, 200)
    assert.deepEqual(JSON.parse(dataOf(got).toString()), {
      desired: { $version: 1 },
      reported: { $version: 1 },
    })

    twin.sender.send(twinRequest('PATCH', 'patch-1', '/properties/reported', '{"fw":"3"}'))
    const patched = await answer('patch-1')
    assert.equal(patched.message_annotations?.status, 204)
    assert.equal(patched.message_annotations?.version, 2)
    assert.equal(dataOf(patched).length, 0)
    assert.equal(
      ((await (hub as Hub).getTwin('wire-twin')).properties as { reported: { fw: string } }).reported.fw,
      '3',
    )

    twin.sender.send(twinRequest('POST', 'post-1', '/properties/desired'))
    const refused = await answer('post-1')
    assert.equal(refused.message_annotations?.status, 400)
    const error = JSON.parse(dataOf(refused).toString()) as { errorCode: number; message: string }
    assert.equal(error.errorCode, 400004)
    assert.match(error.message, /"POST".*GET; PATCH \/properties\/reported; PUT or DELETE/)
  })

  it('twin: PUT subscribes to desired patches, which come with no correlation id and their version; DELETE stops them', async () => {
    const h = hub as Hub
    const c = await connectDevice('wire-desired')
    const twin = await channel(c, '/devices/wire-desired/twin', 'twin')
    twin.sender.send(twinRequest('PUT', 'put-1', '/notifications/twin/properties/desired'))
    const put = await eventually('the PUT answer', () => twin.got.find((m) => m.correlation_id === 'put-1'))
    assert.equal(put.message_annotations?.status, 200)
    await h.updateDesired('wire-desired', { fan: 2 })
    const patch = await eventually('the desired patch', () =>
      twin.got.find((m) => m.correlation_id === undefined),
    )
    assert.equal(patch.message_annotations?.version, 2)
    assert.deepEqual(JSON.parse(dataOf(patch).toString()), { fan: 2, $version: 2 })

    twin.sender.send(twinRequest('DELETE', 'delete-1', '/notifications/twin/properties/desired'))
    await eventually('the DELETE answer', () => twin.got.find((m) => m.correlation_id === 'delete-1'))
    await h.updateDesired('wire-desired', { fan: 3 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(
      twin.got.filter((m) => m.correlation_id === undefined).length,
      1,
      'no patch once unsubscribed',
    )
    assert.ok(seen.some((e) => e.event === 'unsubscribe' && e.deviceId === 'wire-desired'))
  })

  it('methods: the request has IoThub-methodname and a UUID correlation id; the answer is accepted, one without IoThub-status rejected', async () => {
    const h = hub as Hub
    const c = await connectDevice('wire-methods')
    const methods = await channel(c, '/devices/wire-methods/methods/devicebound', 'methods')
    const call = h.invokeMethod('wire-methods', 'reboot', { delay: 5 }, { timeoutSeconds: 5 })
    const request = await eventually('the method request', () => methods.got[0])
    assert.equal(request.application_properties?.['IoThub-methodname'], 'reboot')
    assert.ok(Buffer.isBuffer(request.correlation_id) && request.correlation_id.length === 16, 'a UUID')
    assert.deepEqual(JSON.parse(dataOf(request).toString()), { delay: 5 })

    const outcome = (delivery: Delivery, sender: Sender) =>
      new Promise<{ state: string; condition?: string }>((resolve) => {
        const settled = (state: string) => (ctx: EventContext) => {
          if (ctx.delivery !== delivery) return
          const error = (ctx.delivery?.remote_state as { error?: { condition?: string } } | undefined)?.error
          resolve({ state, ...(error?.condition === undefined ? {} : { condition: error.condition }) })
        }
        sender.on('accepted', settled('accepted'))
        sender.on('rejected', settled('rejected'))
      })
    const noStatus = methods.sender.send({
      correlation_id: request.correlation_id,
      body: rhea.message.data_section(Buffer.from('{}')),
    })
    assert.deepEqual(await outcome(noStatus, methods.sender), {
      state: 'rejected',
      condition: 'amqp:decode-error',
    })
    const answered = methods.sender.send({
      correlation_id: request.correlation_id,
      application_properties: { 'IoThub-status': rhea.types.wrap_int(201) },
      body: rhea.message.data_section(Buffer.from('{"rebooting":true}')),
    })
    assert.deepEqual(await outcome(answered, methods.sender), { state: 'accepted' })
    assert.deepEqual(await call, { status: 201, payload: { rebooting: true } })
  })

  it('a call to a device that does not listen for methods is 404 at once, saying how to listen over AMQP', async () => {
    const h = hub as Hub
    const c = await connectDevice('wire-deaf')
    const methods = await channel(c, '/devices/wire-deaf/methods/devicebound', 'methods')
    methods.receiver.close()
    await eventually('the unsubscribe event', () =>
      seen.find((e) => e.event === 'unsubscribe' && e.deviceId === 'wire-deaf'),
    )
    await assert.rejects(h.invokeMethod('wire-deaf', 'ping', null, { timeoutSeconds: 5 }), {
      code: 'ERR_HUB_DEVICE_NOT_ONLINE',
      message:
        /wire-deaf is connected but does not listen for methods \(AMQP: attach a receiver to \/devices\/wire-deaf\/methods\/devicebound\)/,
    })
  })
})
