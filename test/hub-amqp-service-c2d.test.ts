// Service C2D and the feedback receiver at the AMQP level, with rhea as the service (on the
// hub's plain loopback AMQP port, SASL PLAIN `{policy}@sas.root.{hub}`): the links need a policy
// with ServiceConnect; a message the hub cannot queue is rejected with the condition that says
// why and the link goes on; a feedback batch released (or left by a closing link) comes again,
// its header's delivery-count grown, and a rejected one does not.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import rhea from 'rhea'
import type { Connection, Delivery, EventContext, Message, Receiver, Sender } from 'rhea'
import { type Hub, type HubEvent, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'

let hub: Hub
let dir = ''
const policyKeys: Record<string, string> = {}
const seen: HubEvent[] = []

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amqp-service-c2d-'))
  hub = await startHub({ stateDir: dir })
  hub.events.on('event', (e: HubEvent) => seen.push(e))
  await hub.flush()
  const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
    policies: Array<{ keyName: string; primaryKey: string }>
  }
  for (const p of state.policies) policyKeys[p.keyName] = p.primaryKey
})
after(async () => {
  await hub.close()
  await rm(dir, { recursive: true, force: true })
})

async function until<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A rhea connection as `policy`, SASL PLAIN with its token; resolves once open. */
function connectAs(policy: string): Promise<Connection> {
  const token = hmacToken('localhost', policyKeys[policy] ?? '', Math.floor(Date.now() / 1000) + 600, policy)
  return new Promise((resolve, reject) => {
    const c = rhea.create_container().connect({
      host: '127.0.0.1',
      port: hub.ports.amqpPlain,
      username: `${policy}@sas.root.localhost`,
      password: token,
      reconnect: false,
    } as never)
    c.once('connection_open', () => resolve(c))
    c.once('connection_error', (ctx: EventContext) =>
      reject(ctx.connection.error ?? new Error('connection error')),
    )
    c.once('disconnected', (ctx: EventContext) => reject(ctx.error ?? new Error('disconnected')))
  })
}

/** Closes a connection and waits until it is gone (so nothing of it outlives its test). */
function end(c: Connection): Promise<void> {
  return new Promise((resolve) => {
    if (!c.is_open()) return resolve()
    const done = (): void => resolve()
    c.once('connection_close', done)
    c.once('disconnected', done)
    c.close()
  })
}

/** The error a link was detached with. */
function detachedWith(link: Sender | Receiver): Promise<{ condition?: string; description?: string }> {
  return new Promise((resolve) =>
    link.once(link.is_sender() ? 'sender_error' : 'receiver_error', (ctx: EventContext) => {
      const error = (ctx.sender ?? ctx.receiver)?.error
      resolve(error !== undefined && 'condition' in error ? error : {})
    }),
  )
}

/** A C2D sender to /messages/devicebound, once it has credit. */
async function c2dSender(c: Connection): Promise<Sender> {
  const sender = c.open_sender({ target: { address: '/messages/devicebound' } })
  await new Promise<void>((resolve) => sender.once('sendable', () => resolve()))
  return sender
}

/** Sends `m` and resolves with its outcome: accepted, or the rejection's error. */
function outcome(
  sender: Sender,
  m: Message,
): Promise<'accepted' | { condition?: string; description?: string }> {
  return new Promise((resolve) => {
    const delivery = sender.send(m)
    const onAccepted = (ctx: EventContext): void => {
      if (ctx.delivery !== delivery) return
      sender.removeListener('rejected', onRejected)
      sender.removeListener('accepted', onAccepted)
      resolve('accepted')
    }
    const onRejected = (ctx: EventContext): void => {
      if (ctx.delivery !== delivery) return
      sender.removeListener('rejected', onRejected)
      sender.removeListener('accepted', onAccepted)
      const error = (ctx.delivery?.remote_state as { error?: { condition?: string; description?: string } })
        ?.error
      resolve(error ?? {})
    }
    sender.on('accepted', onAccepted)
    sender.on('rejected', onRejected)
  })
}

interface Got {
  message: Message
  delivery: Delivery
  records: Array<{ originalMessageId: string; statusCode: string }>
}

/** A feedback receiver that settles nothing itself; what it got, in order. */
function feedbackReceiver(c: Connection): { link: Receiver; got: Got[] } {
  const got: Got[] = []
  const link = c.open_receiver({
    source: { address: '/messages/serviceBound/feedback' },
    autoaccept: false,
    credit_window: 10,
  })
  link.on('message', (ctx: EventContext) => {
    const message = ctx.message as Message
    const body = message.body as { content: Buffer }
    got.push({
      message,
      delivery: ctx.delivery as Delivery,
      records: JSON.parse(body.content.toString('utf8')),
    })
  })
  return { link, got }
}

const expiresSoon = (messageId: string, deviceId: string): Message => ({
  to: `/devices/${deviceId}/messages/devicebound`,
  message_id: messageId,
  absolute_expiry_time: new Date(Date.now() + 150),
  application_properties: { 'iothub-ack': 'negative' },
  body: rhea.message.data_section(Buffer.from('soon gone')),
})

describe('AMQP service C2D links (rhea)', { concurrency: 1 }, () => {
  it('need a policy with ServiceConnect: registryRead is detached with amqp:unauthorized-access', async () => {
    const c = await connectAs('registryRead')
    try {
      const send = await detachedWith(c.open_sender({ target: { address: '/messages/devicebound' } }))
      assert.equal(send.condition, 'amqp:unauthorized-access')
      assert.match(send.description ?? '', /ServiceConnect/)
      const feedback = await detachedWith(
        c.open_receiver({ source: { address: '/messages/serviceBound/feedback' } }),
      )
      assert.equal(feedback.condition, 'amqp:unauthorized-access')
    } finally {
      await end(c)
    }
  })

  it('a message the hub cannot queue is rejected with a condition that says why; the link goes on', async () => {
    await hub.addDevice('svc-raw')
    const c = await connectAs('service')
    try {
      const sender = await c2dSender(c)
      const body = rhea.message.data_section(Buffer.from('x'))
      const noTo = await outcome(sender, { body })
      assert.equal(typeof noTo === 'object' && noTo.condition, 'com.microsoft:argument-error')
      assert.match(
        typeof noTo === 'object' ? (noTo.description ?? '') : '',
        /\/devices\/\{deviceId\}\/messages\/devicebound/,
      )
      const wrongTo = await outcome(sender, { to: '/devices/svc-raw/messages/events', body })
      assert.equal(typeof wrongTo === 'object' && wrongTo.condition, 'com.microsoft:argument-error')
      const big = await outcome(sender, {
        to: '/devices/svc-raw/messages/devicebound',
        body: rhea.message.data_section(Buffer.alloc(64 * 1024 + 1)),
      })
      assert.equal(typeof big === 'object' && big.condition, 'amqp:link:message-size-exceeded')
      const badAck = await outcome(sender, {
        to: '/devices/svc-raw/messages/devicebound',
        application_properties: { 'iothub-ack': 'always' },
        body,
      })
      assert.equal(typeof badAck === 'object' && badAck.condition, 'com.microsoft:argument-error')
      assert.match(typeof badAck === 'object' ? (badAck.description ?? '') : '', /iothub-ack/)
      const ok = await outcome(sender, {
        to: '/devices/svc-raw/messages/devicebound',
        message_id: 'raw-1',
        correlation_id: 'raw-corr',
        content_type: 'text/plain',
        application_properties: { n: 7 },
        body,
      })
      assert.equal(ok, 'accepted')
      const queued = await until('the queued event', () =>
        seen.find((e) => e.event === 'c2d' && e.messageId === 'raw-1'),
      )
      assert.equal(queued.event === 'c2d' && queued.state, 'queued')
      assert.equal(queued.deviceId, 'svc-raw')
    } finally {
      await end(c)
    }
  })

  it('a released feedback batch comes again with its delivery-count grown; a rejected one is gone', async () => {
    await hub.addDevice('svc-fb')
    const c = await connectAs('service')
    try {
      const { got } = feedbackReceiver(c)
      const sender = await c2dSender(c)
      assert.equal(await outcome(sender, expiresSoon('fb-1', 'svc-fb')), 'accepted')
      const first = await until('the first batch', () => got[0])
      assert.deepEqual(
        first.records.map((r) => [r.originalMessageId, r.statusCode]),
        [['fb-1', 'Expired']],
      )
      assert.equal(first.message.content_type, 'application/vnd.microsoft.iothub.feedback.json')
      const userId: unknown = first.message.user_id
      assert.ok(Buffer.isBuffer(userId), 'user-id is binary')
      assert.equal(userId.toString('utf8'), 'localhost', "the hub's name")
      assert.ok(first.message.message_annotations?.['iothub-enqueuedtime'] instanceof Date)
      assert.equal(first.message.delivery_count ?? 0, 0)
      first.delivery.release()
      const again = await until('the batch again', () => got[1])
      assert.deepEqual(
        again.records.map((r) => r.originalMessageId),
        ['fb-1'],
      )
      assert.equal(again.message.delivery_count, 1)
      again.delivery.reject({ condition: 'amqp:internal-error', description: 'cannot take it' })
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(got.length, 2, 'a rejected batch is not delivered again')
    } finally {
      await end(c)
    }
  })

  it('a batch left unsettled by a closing link goes to the next receiver; an accepted one does not', async () => {
    await hub.addDevice('svc-fb2')
    const c1 = await connectAs('service')
    const c2 = await connectAs('service')
    try {
      const one = feedbackReceiver(c1)
      const sender = await c2dSender(c1)
      assert.equal(await outcome(sender, expiresSoon('fb-2', 'svc-fb2')), 'accepted')
      await until('the batch on the first receiver', () => one.got[0])
      one.link.close()
      const two = feedbackReceiver(c2)
      const moved = await until('the batch on the second receiver', () => two.got[0])
      assert.deepEqual(
        moved.records.map((r) => r.originalMessageId),
        ['fb-2'],
      )
      moved.delivery.accept()
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(two.got.length, 1)
    } finally {
      await Promise.all([end(c1), end(c2)])
    }
  })
})
