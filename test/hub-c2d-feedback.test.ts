// C2D delivery feedback, protocol-neutral (src/hub/state/c2d-feedback.ts): which endings a
// message's `iothub-ack` asks to be recorded, the feedback queue's batches (complete, reject,
// abandon, lost link, lock expiry, time to live, bound), and the ack as the REST API, the state
// file and an MQTT device see it.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { connect } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'
import { cli } from './support/cli.js'

type Code = 'Success' | 'Expired' | 'DeliveryCountExceeded' | 'Rejected'
type Ack = 'none' | 'positive' | 'negative' | 'full'
interface Record_ {
  originalMessageId: string
  deviceId: string
  deviceGenerationId: string
  statusCode: Code
  description: string
  enqueuedTimeUtc: string
}
interface Batch {
  messageId: string
  enqueuedTime: string
  deliveryCount: number
  records: readonly Record_[]
}
interface Link {
  ready(): boolean
  send(batch: Batch, lockToken: string): 'locked' | 'completed'
}
interface Queue {
  readonly waiting: readonly Record_[]
  readonly size: number
  add(r: Record_): void
  attach(l: Link): void
  detach(l: Link): void
  flush(): void
  complete(t: string): boolean
  reject(t: string): boolean
  abandon(t: string): boolean
  close(): void
}

const modulePath = '../../dist/hub/state/c2d-feedback.js'
const { C2dFeedbackQueue, wantsFeedback, MAX_FEEDBACK, MAX_FEEDBACK_BATCH } = (await import(modulePath)) as {
  C2dFeedbackQueue: new (o: {
    now: () => number
    lockMs?: number
    maxDeliveryCount?: number
    ttlMs?: number
  }) => Queue
  wantsFeedback(ack: Ack | undefined, code: Code): boolean
  MAX_FEEDBACK: number
  MAX_FEEDBACK_BATCH: number
}

const record = (id: string, statusCode: Code = 'Success'): Record_ => ({
  originalMessageId: id,
  deviceId: 'dev1',
  deviceGenerationId: '1',
  statusCode,
  description: statusCode,
  enqueuedTimeUtc: '2026-12-03T08:00:00.000Z',
})

/** A receiver that takes `credit` batches and keeps them with their lock tokens. */
function receiver(
  credit = Number.POSITIVE_INFINITY,
): Link & { got: { batch: Batch; token: string }[]; credit: number } {
  const link = {
    got: [] as { batch: Batch; token: string }[],
    credit,
    ready: () => link.credit > 0,
    send(batch: Batch, token: string): 'locked' {
      link.credit -= 1
      link.got.push({ batch, token })
      return 'locked'
    },
  }
  return link
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const ids = (b: Batch | undefined): string[] => (b?.records ?? []).map((r) => r.originalMessageId)

/** The `i`th delivery a receiver got. */
function nth(r: { got: { batch: Batch; token: string }[] }, i: number): { batch: Batch; token: string } {
  const got = r.got[i]
  assert.ok(got, `delivery ${i} arrived`)
  return got
}

describe('iothub-ack: which endings leave a feedback record', () => {
  it('none (and absent) never; positive only Success; negative Expired, DeliveryCountExceeded, Rejected; full all', () => {
    const codes: Code[] = ['Success', 'Expired', 'DeliveryCountExceeded', 'Rejected']
    const table = Object.fromEntries(
      (['none', 'positive', 'negative', 'full', undefined] as const).map((ack) => [
        String(ack),
        codes.filter((c) => wantsFeedback(ack, c)),
      ]),
    )
    assert.deepEqual(table, {
      none: [],
      positive: ['Success'],
      negative: ['Expired', 'DeliveryCountExceeded', 'Rejected'],
      full: ['Success', 'Expired', 'DeliveryCountExceeded', 'Rejected'],
      undefined: [],
    })
  })
})

describe('the feedback queue', () => {
  it('records of one turn go out in one batch; a completed batch is gone', async () => {
    const q = new C2dFeedbackQueue({ now: Date.now })
    const r = receiver()
    q.attach(r)
    q.add(record('a'))
    q.add(record('b', 'Rejected'))
    await tick()
    assert.equal(r.got.length, 1)
    assert.deepEqual(ids(nth(r, 0).batch), ['a', 'b'])
    assert.equal(nth(r, 0).batch.deliveryCount, 1)
    assert.deepEqual(q.waiting, [], 'a record in an unsettled batch is not offered again')
    assert.equal(q.size, 2)
    assert.equal(q.complete(nth(r, 0).token), true)
    assert.equal(q.size, 0)
    assert.equal(q.complete(nth(r, 0).token), false, 'a lock answers once')
    q.close()
  })

  it('records wait for a receiver, and for its credit', async () => {
    const q = new C2dFeedbackQueue({ now: Date.now })
    q.add(record('a'))
    await tick()
    assert.deepEqual(
      q.waiting.map((w) => w.originalMessageId),
      ['a'],
    )
    const r = receiver(0)
    q.attach(r)
    q.add(record('b'))
    await tick()
    assert.equal(r.got.length, 0, 'no credit, no batch')
    r.credit = 1
    q.flush()
    assert.deepEqual(ids(nth(r, 0).batch), ['a', 'b'])
    q.close()
  })

  it(`a batch holds at most MAX_FEEDBACK_BATCH (100) records`, async () => {
    assert.equal(MAX_FEEDBACK_BATCH, 100)
    const q = new C2dFeedbackQueue({ now: Date.now })
    const r = receiver()
    for (let i = 0; i < 250; i++) q.add(record(`m${i}`))
    q.attach(r)
    await tick()
    assert.deepEqual(
      r.got.map((g) => g.batch.records.length),
      [100, 100, 50],
    )
    assert.equal(nth(r, 2).batch.records.at(-1)?.originalMessageId, 'm249')
    q.close()
  })

  it('an abandoned batch (released, lost link, expired lock) goes out again with its delivery count; a rejected one is dropped', async () => {
    const q = new C2dFeedbackQueue({ now: Date.now, lockMs: 50 })
    const r = receiver()
    q.attach(r)
    q.add(record('a'))
    await tick()
    assert.equal(q.abandon(nth(r, 0).token), true)
    await tick()
    assert.equal(r.got.length, 2)
    assert.deepEqual(ids(nth(r, 1).batch), ['a'])
    assert.equal(nth(r, 1).batch.deliveryCount, 2)
    // the lock expires
    await new Promise((resolve) => setTimeout(resolve, 120))
    assert.ok(r.got.length >= 3, 'delivered again after the lock expired')
    assert.equal(nth(r, 2).batch.deliveryCount, 3)
    // the link is lost: what it held goes to the next receiver
    const other = receiver()
    q.detach(r)
    q.attach(other)
    await tick()
    assert.deepEqual(ids(nth(other, 0).batch), ['a'])
    assert.equal(q.reject(nth(other, 0).token), true)
    assert.equal(q.size, 0, 'a rejected batch is dead-lettered')
    q.close()
  })

  it('a record delivered the max delivery count is dropped unanswered', async () => {
    const q = new C2dFeedbackQueue({ now: Date.now, maxDeliveryCount: 2 })
    const r = receiver()
    q.attach(r)
    q.add(record('a'))
    await tick()
    q.abandon(nth(r, 0).token)
    await tick()
    q.abandon(nth(r, 1).token)
    await tick()
    assert.equal(r.got.length, 2)
    assert.equal(q.size, 0)
    q.close()
  })

  it('a record waits at most its time to live; at most MAX_FEEDBACK (1000) are kept, the oldest waiting goes first', () => {
    let now = 1_000_000
    const q = new C2dFeedbackQueue({ now: () => now, ttlMs: 1000 })
    q.add(record('old'))
    now += 600
    q.add(record('new'))
    now += 500
    assert.deepEqual(
      q.waiting.map((w) => w.originalMessageId),
      ['new'],
    )
    assert.equal(MAX_FEEDBACK, 1000)
    for (let i = 0; i < 1005; i++) q.add(record(`m${i}`))
    assert.equal(q.size, 1000)
    assert.equal(q.waiting[0]?.originalMessageId, 'm5')
    q.close()
  })

  it('a pre-settled delivery completes its batch at once', async () => {
    const q = new C2dFeedbackQueue({ now: Date.now })
    const got: Batch[] = []
    q.attach({
      ready: () => true,
      send: (b) => {
        got.push(b)
        return 'completed'
      },
    })
    q.add(record('a'))
    await tick()
    assert.equal(got.length, 1)
    assert.equal(q.size, 0)
    q.close()
  })
})

const KEY = Buffer.alloc(32, 9).toString('base64')
const nowS = (): number => Math.floor(Date.now() / 1000)

describe('the ack on a C2D message', () => {
  it('the REST send takes `ack` and refuses a value IoT Hub does not know', async () => {
    const hub = await startHub()
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const ok = await rest(hub, 'POST', '/_emulator/devices/dev1/messages', {
        body: { payload: 'x', ack: 'negative' },
      })
      assert.equal(ok.status, 202, ok.text)
      const bad = await rest(hub, 'POST', '/_emulator/devices/dev1/messages', {
        body: { payload: 'x', ack: 'always' },
      })
      assert.equal(bad.status, 400)
      assert.match(bad.text, /ack/)
      assert.match(bad.text, /none.*positive.*negative.*full/)
      const badProperty = await rest(hub, 'POST', '/_emulator/devices/dev1/messages', {
        body: { payload: 'x', properties: { 'iothub-ack': 'sometimes' } },
      })
      assert.equal(badProperty.status, 400, 'the iothub-ack property is the ack, checked alike')
    } finally {
      await hub.close()
    }
  })

  it('a message expires at its expiry time with no device connected (its c2d event and feedback need no delivery attempt)', async () => {
    const hub = await startHub({ inMemory: true })
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const expired = new Promise<unknown>((resolve) =>
        hub.events.on('event', (e) => {
          if (e.event === 'c2d' && e.state === 'expired') resolve(e)
        }),
      )
      const at = Date.now()
      await hub.sendC2d('dev1', 'x', {
        messageId: 'soon',
        ack: 'negative',
        expiryTimeUtc: new Date(at + 300).toISOString(),
      })
      const event = (await Promise.race([
        expired,
        new Promise((resolve) => setTimeout(() => resolve('no expired event within 5 s'), 5000)),
      ])) as Record<string, unknown>
      assert.equal(event.messageId, 'soon', JSON.stringify(event))
      assert.equal(event.statusCode, 'Expired')
      assert.ok(Date.now() - at >= 300, 'not before its expiry time')
      const device = await rest(hub, 'GET', '/devices/dev1?api-version=2021-04-12')
      assert.equal((device.body as { cloudToDeviceMessageCount: number }).cloudToDeviceMessageCount, 0)
    } finally {
      await hub.close()
    }
  })

  it('`hub send --ack` sends it (a value IoT Hub does not know is a usage error)', async () => {
    const hub = await startHub({ inMemory: true })
    const dir = await mkdtemp(join(tmpdir(), 'c2d-ack-cli-'))
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const caFile = join(dir, 'ca.pem')
      await writeFile(caFile, hub.ca)
      const env = {
        NODE_EXTRA_CA_CERTS: caFile,
        IOTHUB_CONNECTION_STRING: hub.hubConnectionString,
        SAS_TOKEN_HUB_ENDPOINT: `https://localhost:${hub.ports.https}`,
      }
      const client = await connect(hub, {
        clientId: 'dev1',
        username: 'localhost/dev1/?api-version=2021-04-12',
        password: hmacToken('localhost/devices/dev1', KEY, nowS() + 600),
      })
      const topic = new Promise<string>((resolve) => client.once('message', (t) => resolve(t)))
      await client.subscribeAsync('devices/dev1/messages/devicebound/#', { qos: 1 })
      const r = await cli(['hub', 'send', 'dev1', 'x', '--message-id', 'm1', '--ack', 'positive'], { env })
      assert.equal(r.code, 0, r.stderr)
      assert.equal(
        await topic,
        'devices/dev1/messages/devicebound/%24.mid=m1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&iothub-ack=positive',
      )
      await client.endAsync()
      const bad = await cli(['hub', 'send', 'dev1', 'x', '--ack', 'always'], { env })
      assert.equal(bad.code, 2, bad.stderr)
    } finally {
      await hub.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('is kept in the state file, reaches an MQTT device as iothub-ack ahead of the application properties, and a state file without it loads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'c2d-ack-'))
    try {
      let hub = await startHub({ stateDir: dir })
      await hub.addDevice('dev1', { primaryKey: KEY })
      await hub.sendC2d('dev1', 'one', { messageId: 'with-ack', ack: 'full', properties: { color: 'red' } })
      await hub.sendC2d('dev1', 'two', { messageId: 'old-style' })
      await hub.close()
      const file = join(dir, 'state.json')
      const state = JSON.parse(await readFile(file, 'utf8')) as {
        devices: { dev1: { c2d: Array<Record<string, unknown>> } }
      }
      const queued = state.devices.dev1.c2d as [Record<string, unknown>, Record<string, unknown>]
      assert.equal(queued[0].ack, 'full')
      assert.equal('ack' in queued[1], false, 'no ack given, none written')
      // a file from before the ack was kept, with a message whose ack only its property names
      delete queued[0].ack
      await writeFile(file, JSON.stringify(state))
      hub = await startHub({ stateDir: dir })
      try {
        const client = await connect(hub, {
          clientId: 'dev1',
          username: 'localhost/dev1/?api-version=2021-04-12',
          password: hmacToken('localhost/devices/dev1', KEY, nowS() + 600),
        })
        const topics: string[] = []
        client.on('message', (topic) => topics.push(topic))
        await client.subscribeAsync('devices/dev1/messages/devicebound/#', { qos: 1 })
        const end = Date.now() + 10_000
        while (topics.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
        assert.deepEqual(topics, [
          'devices/dev1/messages/devicebound/%24.mid=with-ack&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&iothub-ack=full&color=red',
          'devices/dev1/messages/devicebound/%24.mid=old-style&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound',
        ])
        await client.endAsync()
      } finally {
        await hub.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
