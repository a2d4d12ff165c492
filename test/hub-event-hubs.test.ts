// Prove it (issue 17, item 2): the Event Hub-compatible endpoint read by the official
// @azure/event-hubs EventHubConsumerClient, unmodified, with the connection strings the hub
// gives: over TLS (a child process, support/event-hubs-reader.ts, trusting the hub's CA through
// NODE_EXTRA_CA_CERTS) and with UseDevelopmentEmulator=true on the plain loopback port (no CA at
// all). The messages come from the official azure-iot-device clients, unmodified, over Mqtt,
// MqttWs, Amqp, AmqpWs and Http, and a module client; each arrives with its properties and IoT
// Hub's system properties; two consumer groups each get every message, an unknown one is
// refused; getEventHubProperties and getPartitionProperties answer with what was sent; a wrong
// key is refused and explained (the hub's `refuse` event) and the SDK gets an error, not a hang.
// Then the start positions (earliest, latest, sequence number, offset, enqueued time) and a
// restart, in process over the plain port with mqtt.js devices.
// Every expected value comes from what the test sent: the partition is computed here (SHA-256 of
// the device id, as IoT Hub's endpoint keeps a device on one partition), the sequence numbers
// from the order of the sends.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  earliestEventPosition,
  latestEventPosition,
} from '@azure/event-hubs'
import type { EventPosition, ReceivedEventData } from '@azure/event-hubs'
import { type Hub, type HubEventOf, startHub } from 'sas-token/hub'
import { type Line, type Reporter, spawnReporter } from './support/child.js'
import { hmacToken } from './support/hmac-token.js'
import { connect, nextEvent } from './support/hub-mqtt.js'
import { type HubEventLike, type SdkHub, startSdkHub } from './support/sdk-hub.js'

const require = createRequire(import.meta.url)

const READER = fileURLToPath(new URL('./support/event-hubs-reader.js', import.meta.url))

interface SdkMessage {
  messageId?: string
  correlationId?: string
  contentType?: string
  contentEncoding?: string
  properties: { add(key: string, value: string): void }
}
interface SdkClient {
  setOptions(o: Record<string, unknown>): Promise<unknown>
  open(): Promise<unknown>
  close(): Promise<unknown>
  on(event: 'error', listener: (err: Error) => void): void
  sendEvent(message: SdkMessage): Promise<unknown>
}
interface ClientFactory {
  fromConnectionString(cs: string, transport: unknown): SdkClient
}
const device = require('azure-iot-device') as {
  Client: ClientFactory
  ModuleClient: ClientFactory
  Message: new (data: string) => SdkMessage
}
type TransportName = 'Mqtt' | 'MqttWs' | 'Amqp' | 'AmqpWs' | 'Http'
const transports: Record<TransportName, unknown> = {
  ...(require('azure-iot-device-mqtt') as Record<'Mqtt' | 'MqttWs', unknown>),
  ...(require('azure-iot-device-amqp') as Record<'Amqp' | 'AmqpWs', unknown>),
  Http: (require('azure-iot-device-http') as { Http: unknown }).Http,
}

/** The partition the test expects: SHA-256 of the device id, first 4 bytes big-endian, mod n. */
const expectedPartition = (deviceId: string, n = 4): number =>
  createHash('sha256').update(deviceId).digest().readUInt32BE(0) % n

/** IoT Hub's `iothub-connection-auth-method` for a SAS identity (hub-facts.md). */
const authMethod = (scope: 'device' | 'module'): string =>
  `{"scope":"${scope}","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`

/** What the test sent, and when. */
interface Sent {
  deviceId: string
  moduleId?: string
  transport: TransportName
  label: string
  partition: number
  /** Its place in its partition, from the order of the sends. */
  sequenceNumber: number
  /** Epoch ms just before the send, and just after the SDK said it was sent. */
  from: number
  to: number
}

const isEvent = (l: Line): boolean => l.step === 'event'
const sp = (l: Line): Record<string, unknown> => (l.systemProperties ?? {}) as Record<string, unknown>

describe('Event Hub-compatible endpoint: @azure/event-hubs reads what the SDK devices sent', {
  concurrency: 1,
  timeout: 90_000,
}, () => {
  let s: SdkHub | undefined
  let skip = ''
  const children: Reporter[] = []
  const sent: Sent[] = []
  const clients: SdkClient[] = []
  const senders: Array<{ deviceId: string; moduleId?: string; transport: TransportName }> = [
    { deviceId: 'eh-mqtt', transport: 'Mqtt' },
    { deviceId: 'eh-mqttws', transport: 'MqttWs' },
    { deviceId: 'eh-amqp', transport: 'Amqp' },
    { deviceId: 'eh-amqpws', transport: 'AmqpWs' },
    { deviceId: 'eh-http', transport: 'Http' },
    { deviceId: 'eh-edge', moduleId: 'filter', transport: 'Mqtt' },
  ]
  /** The readers' event lines seen in the first test: what the properties test compares with. */
  let tlsEvents: Line[] = []

  before(
    async () => {
      const started = await startSdkHub({ consumerGroups: ['analytics'] })
      if (typeof started === 'string') {
        skip = started
        return
      }
      s = started
      const counts = new Map<number, number>()
      for (const x of senders) {
        let added = await s.hub.addDevice(x.deviceId)
        if (x.moduleId !== undefined) added = await s.hub.addModule(x.deviceId, x.moduleId)
        const factory = x.moduleId === undefined ? device.Client : device.ModuleClient
        const client = factory.fromConnectionString(added.connectionString, transports[x.transport])
        client.on('error', () => undefined)
        clients.push(client)
        // Http's setOptions calls back only when it is given a receive policy
        await client.setOptions({ ca: s.hub.ca, http: { receivePolicy: { interval: 60 } } })
        await client.open()
        const label = x.moduleId === undefined ? x.deviceId : `${x.deviceId}/${x.moduleId}`
        const m = new device.Message(JSON.stringify({ from: label, n: 1 }))
        m.messageId = `${label}-1`
        m.correlationId = `corr-${x.transport}`
        m.contentType = 'application/json'
        m.contentEncoding = 'utf-8'
        m.properties.add('alert', 'high & dry')
        m.properties.add('transport', x.transport)
        const partition = expectedPartition(x.deviceId)
        const sequenceNumber = counts.get(partition) ?? 0
        counts.set(partition, sequenceNumber + 1)
        const from = Date.now()
        await client.sendEvent(m)
        sent.push({ ...x, label, partition, sequenceNumber, from, to: Date.now() })
        await client.close()
      }
    },
    { timeout: 60_000 },
  )
  after(async () => {
    for (const c of children) await c.stop()
    for (const c of clients) await c.close().catch(() => undefined)
    await s?.close()
  })
  const hub = (): SdkHub => {
    if (s === undefined) throw new Error('no hub')
    return s
  }

  /** Checks one reader's events against what was sent. */
  async function checkReader(reader: Reporter, what: string): Promise<Line[]> {
    const got: Line[] = []
    for (const x of sent) {
      const e = await reader.waitFor(
        (l) => isEvent(l) && l.messageId === `${x.label}-1` && l.partitionId === String(x.partition),
      )
      got.push(e)
      const at = `${what}: ${x.label} over ${x.transport}`
      assert.deepEqual(e.body, { from: x.label, n: 1 }, at)
      assert.deepEqual(e.properties, { alert: 'high & dry', transport: x.transport }, at)
      assert.equal(e.correlationId, `corr-${x.transport}`, at)
      assert.equal(e.contentType, 'application/json', at)
      assert.equal(sp(e).contentEncoding, 'utf-8', at)
      assert.equal(e.partitionKey, x.deviceId, at)
      assert.equal(e.sequenceNumber, x.sequenceNumber, at)
      assert.equal(sp(e)['iothub-connection-device-id'], x.deviceId, at)
      assert.equal(sp(e)['iothub-connection-module-id'], x.moduleId, at)
      assert.equal(sp(e)['iothub-connection-auth-method'], authMethod(x.moduleId ? 'module' : 'device'), at)
      assert.match(String(sp(e)['iothub-connection-auth-generation-id']), /^\S+$/, at)
      assert.equal(sp(e)['iothub-message-source'], 'Telemetry', at)
      // the SDK gives the annotation's timestamp as epoch ms; the hub took it between send and ack
      const enqueued = sp(e)['iothub-enqueuedtime']
      assert.equal(typeof enqueued, 'number', at)
      assert.ok(Number(enqueued) >= x.from - 1 && Number(enqueued) <= x.to + 1, `${at}: enqueued in the send`)
      assert.ok(Number(e.enqueuedTimeUtc) >= x.from - 1 && Number(e.enqueuedTimeUtc) <= x.to + 1, at)
      assert.match(String(e.offset), /^\d+$/, at)
    }
    // offsets grow within a partition, from 0
    for (const p of new Set(sent.map((x) => x.partition))) {
      const offsets = got.filter((e) => e.partitionId === String(p)).map((e) => Number(e.offset))
      assert.equal(offsets[0], 0, `${what}: partition ${p} starts at offset 0`)
      for (let i = 1; i < offsets.length; i++)
        assert.ok((offsets[i] ?? 0) > (offsets[i - 1] ?? 0), `${what}: offsets grow in partition ${p}`)
    }
    // nothing more comes: each message once
    await new Promise((resolve) => setTimeout(resolve, 1500))
    assert.equal(reader.lines.filter(isEvent).length, sent.length, `${what}: each message once`)
    assert.deepEqual(
      reader.lines.filter((l) => l.step === 'error'),
      [],
      `${what}: no errors`,
    )
    return got
  }

  it('the connection strings name the endpoint: TLS on 5671 of the host name, plain on the loopback port; an IP host names the event hub whole', (t) => {
    if (skip) return t.skip(skip)
    const h = hub()
    const key = /SharedAccessKey=([^;]+)/.exec(h.hub.hubConnectionString)?.[1] ?? ''
    assert.equal(
      h.hub.eventHubConnectionString,
      `Endpoint=sb://${h.address}/;SharedAccessKeyName=iothubowner;SharedAccessKey=${key};EntityPath=${h.address}`,
    )
    // the plain port is bound on the hub's loopback address: `localhost` would not reach it
    assert.match(
      h.hub.eventHubDevelopmentConnectionString ?? '',
      new RegExp(
        `^Endpoint=sb://${h.address.replaceAll('.', '\\.')}:\\d+/;SharedAccessKeyName=iothubowner;SharedAccessKey=[^;]+;EntityPath=${h.address.replaceAll('.', '\\.')};UseDevelopmentEmulator=true$`,
      ),
    )
  })

  it('a reader on $Default over TLS and one on another group over the plain port each get every message, with its properties', async (t) => {
    if (skip) return t.skip(skip)
    const h = hub()
    const tls = spawnReporter(process.execPath, [READER], {
      NODE_EXTRA_CA_CERTS: h.caFile,
      EVENTHUB_CS: h.hub.eventHubConnectionString ?? '',
    })
    // no certificate set-up at all
    const plain = spawnReporter(process.execPath, [READER], {
      EVENTHUB_CS: h.hub.eventHubDevelopmentConnectionString ?? '',
      GROUP: 'analytics',
    })
    children.push(tls, plain)
    tlsEvents = await checkReader(tls, 'TLS, $Default')
    await checkReader(plain, 'plain, analytics')
  })

  it('getEventHubProperties and getPartitionProperties answer with what was sent', async (t) => {
    if (skip) return t.skip(skip)
    const h = hub()
    const reader = spawnReporter(process.execPath, [READER], {
      NODE_EXTRA_CA_CERTS: h.caFile,
      EVENTHUB_CS: h.hub.eventHubConnectionString ?? '',
      MODE: 'properties',
    })
    children.push(reader)
    const done = await reader.waitFor((l) => l.step === 'done' || l.step === 'failed')
    assert.equal(done.step, 'done', JSON.stringify(done))
    const hubLine = reader.lines.find((l) => l.step === 'hub')
    assert.equal(hubLine?.name, h.address)
    assert.deepEqual(hubLine?.partitionIds, ['0', '1', '2', '3'])
    assert.ok(Number(hubLine?.createdOn) <= (sent[0]?.from ?? 0), 'created before the first message')
    const partitions = reader.lines.filter((l) => l.step === 'partition')
    assert.deepEqual(
      partitions.map((p) => p.partitionId),
      ['0', '1', '2', '3'],
    )
    for (const p of partitions) {
      const mine = sent.filter((x) => String(x.partition) === p.partitionId)
      const at = `partition ${p.partitionId}`
      assert.equal(p.eventHubName, h.address, at)
      assert.equal(p.beginningSequenceNumber, 0, at)
      assert.equal(p.lastEnqueuedSequenceNumber, mine.length - 1, at)
      assert.equal(p.isEmpty, mine.length === 0, at)
      const last = mine.at(-1)
      if (last === undefined) assert.equal(p.lastEnqueuedOffset, '-1', at)
      else {
        const read = tlsEvents.find((e) => e.messageId === `${last.label}-1`)
        assert.equal(p.lastEnqueuedOffset, read?.offset, `${at}: the last message's offset, as read`)
        assert.ok(
          Number(p.lastEnqueuedOnUtc) >= last.from - 1 && Number(p.lastEnqueuedOnUtc) <= last.to + 1,
          at,
        )
      }
    }
  })

  it('a consumer group the hub does not have is refused as Event Hubs refuses it', async (t) => {
    if (skip) return t.skip(skip)
    const h = hub()
    const reader = spawnReporter(process.execPath, [READER], {
      EVENTHUB_CS: h.hub.eventHubDevelopmentConnectionString ?? '',
      GROUP: 'nope',
      PARTITION: '0',
    })
    children.push(reader)
    const e = await reader.waitFor((l) => l.step === 'error')
    assert.equal(e.code, 'MessagingEntityNotFoundError')
    assert.match(
      String(e.message),
      /ConsumerGroups\/nope' could not be found: the consumer groups are \$Default, analytics/,
    )
  })

  it('a wrong key over TLS: the SDK gets UnauthorizedError, and the refuse event explains it', async (t) => {
    if (skip) return t.skip(skip)
    const h = hub()
    const badKey = Buffer.alloc(32, 1).toString('base64')
    const from = h.seen.length
    const reader = spawnReporter(process.execPath, [READER], {
      NODE_EXTRA_CA_CERTS: h.caFile,
      EVENTHUB_CS: (h.hub.eventHubConnectionString ?? '').replace(
        /SharedAccessKey=[^;]+/,
        `SharedAccessKey=${badKey}`,
      ),
      MODE: 'properties',
    })
    children.push(reader)
    const failed = await reader.waitFor((l) => l.step === 'failed' || l.step === 'done')
    assert.equal(failed.step, 'failed')
    assert.equal(failed.code, 'UnauthorizedError')
    assert.match(String(failed.message), /signature/i)
    const refused = (await h.waitForEvent(
      (e) => h.seen.indexOf(e) >= from && e.event === 'refuse',
    )) as HubEventLike & HubEventOf<'refuse'>
    assert.equal(refused.protocol, 'amqp')
    assert.equal(refused.condition, 'amqp:unauthorized-access')
    assert.equal(refused.audience, `sb://${h.address}/${h.address}/$management`)
    assert.equal(refused.reason?.code, 'ERR_HUB_UNAUTHORIZED')
    assert.ok(
      refused.findings.some((f) => f.severity === 'error' && /signature/i.test(f.message)),
      JSON.stringify(refused.findings),
    )
    assert.ok(!JSON.stringify(refused).includes(badKey), 'no key in the event')
  })
})

describe('Event Hub-compatible endpoint: start positions, a wrong key, a restart (plain port, in process)', {
  concurrency: 1,
  timeout: 90_000,
}, () => {
  let hub: Hub
  let dir: string
  const id = 'positions-1'
  const p = String(expectedPartition(id))
  const KEY = Buffer.alloc(32, 3).toString('base64')
  const clients: EventHubConsumerClient[] = []
  const sent: HubEventOf<'telemetry'>[] = []
  const times: number[] = []

  const send = async (body: string): Promise<void> => {
    const device = await connect(hub, {
      clientId: id,
      username: `localhost/${id}/?api-version=2021-04-12`,
      password: hmacToken(`localhost/devices/${id}`, KEY, Math.floor(Date.now() / 1000) + 600),
    })
    const seen = nextEvent(hub, 'telemetry')
    times.push(Date.now())
    await device.publishAsync(`devices/${id}/messages/events/n=${body}`, body, { qos: 1 })
    sent.push(await seen)
    await device.endAsync()
  }

  const text = (e: ReceivedEventData): string => String(Buffer.isBuffer(e.body) ? e.body.toString() : e.body)

  /** The events a reader of partition p gets from `position`, once `done` says it has enough. */
  const read = async (
    position: EventPosition,
    done: (got: ReceivedEventData[]) => boolean,
    o: { whenUp?: () => void; maxBatchSize?: number } = {},
  ): Promise<ReceivedEventData[]> => {
    const client = new EventHubConsumerClient('$Default', hub.eventHubDevelopmentConnectionString ?? '')
    clients.push(client)
    const got: ReceivedEventData[] = []
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got.map(text).join(',')} in 20 s`)), 20_000)
        const sub = client.subscribe(
          p,
          {
            processInitialize: async () => o.whenUp?.(),
            processEvents: async (events) => {
              got.push(...events)
              if (done(got)) {
                clearTimeout(timer)
                await sub.close()
                resolve()
              }
            },
            processError: async (err) => {
              clearTimeout(timer)
              reject(err)
            },
          },
          { startPosition: position, maxWaitTimeInSeconds: 1, maxBatchSize: o.maxBatchSize ?? 10 },
        )
      })
    } finally {
      await client.close()
    }
    return got
  }
  const atLeast = (n: number) => (got: ReceivedEventData[]) => got.length >= n

  before(
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'sas-token-eh-'))
      hub = await startHub({ stateDir: dir, amqpPort: false, amqpPlainPort: 0 })
      await hub.addDevice(id, { primaryKey: KEY, secondaryKey: KEY })
      for (const body of ['m0', 'm1', 'm2']) {
        await send(body)
        await new Promise((resolve) => setTimeout(resolve, 5)) // distinct enqueued times
      }
    },
    { timeout: 60_000 },
  )
  after(async () => {
    for (const c of clients) await c.close()
    await hub.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('the development connection string is localhost when the plain port is on 127.0.0.1', () => {
    assert.match(
      hub.eventHubDevelopmentConnectionString ?? '',
      new RegExp(
        `^Endpoint=sb://localhost:${hub.ports.amqpPlain}/;.*;EntityPath=localhost;UseDevelopmentEmulator=true$`,
      ),
    )
  })

  it('the development connection string works whatever the host name and loopback bind address', async () => {
    for (const o of [
      { hostName: 'myhub.local', name: 'myhub', endpoint: 'localhost' },
      { host: '127.0.0.2', name: 'localhost', endpoint: '127.0.0.2' },
      { host: '::ffff:127.0.0.3', name: 'localhost', endpoint: '127.0.0.3' },
    ]) {
      const other = await startHub({
        inMemory: true,
        mqttPort: 0,
        httpsPort: 0,
        amqpPort: false,
        amqpPlainPort: 0,
        ...(o.hostName === undefined ? {} : { hostName: o.hostName }),
        ...(o.host === undefined ? {} : { host: o.host }),
      })
      const client = new EventHubConsumerClient('$Default', other.eventHubDevelopmentConnectionString ?? '', {
        retryOptions: { maxRetries: 0 },
      })
      try {
        assert.match(
          other.eventHubDevelopmentConnectionString ?? '',
          new RegExp(`^Endpoint=sb://${o.endpoint.replaceAll('.', '\\.')}:${other.ports.amqpPlain}/;`),
        )
        assert.equal((await client.getEventHubProperties()).name, o.name, JSON.stringify(o))
      } finally {
        await client.close()
        await other.close()
      }
    }
  })

  it('earliest, a sequence number (exclusive and inclusive), an offset and an enqueued time', async () => {
    const all = await read(earliestEventPosition, atLeast(3))
    assert.deepEqual(all.map(text), ['m0', 'm1', 'm2'])
    assert.deepEqual(
      all.map((e) => e.sequenceNumber),
      [0, 1, 2],
    )
    const first = all[0] as ReceivedEventData
    assert.ok(
      first.enqueuedTimeUtc.getTime() >= (times[0] ?? 0) &&
        first.enqueuedTimeUtc.getTime() <= (times[1] ?? 0),
    )
    assert.deepEqual((await read({ sequenceNumber: 0 }, atLeast(2))).map(text), ['m1', 'm2'])
    assert.deepEqual((await read({ sequenceNumber: 1, isInclusive: true }, atLeast(2))).map(text), [
      'm1',
      'm2',
    ])
    assert.deepEqual((await read({ offset: first.offset }, atLeast(2))).map(text), ['m1', 'm2'])
    assert.deepEqual(
      (await read({ offset: all[1]?.offset ?? '', isInclusive: true }, atLeast(2))).map(text),
      ['m1', 'm2'],
    )
    assert.deepEqual((await read({ enqueuedOn: first.enqueuedTimeUtc }, atLeast(2))).map(text), ['m1', 'm2'])
  })

  it('latest: only what comes after the receiver is up', async () => {
    const later: string[] = []
    let stop = false
    let sending: Promise<void> = Promise.resolve()
    const got = await read(latestEventPosition, atLeast(1), {
      // the receiver attaches after processInitialize: send, one at a time, until one comes
      whenUp: () => {
        sending = (async () => {
          while (!stop) {
            await new Promise((resolve) => setTimeout(resolve, 200))
            const body = `late${later.length}`
            later.push(body)
            await send(body)
          }
        })()
      },
    }).finally(() => {
      stop = true
    })
    await sending
    assert.ok(
      later.includes(text(got[0] as ReceivedEventData)),
      `${got.map(text).join(',')} after ${later.join(',')}`,
    )
    assert.ok(!got.map(text).some((b) => ['m0', 'm1', 'm2'].includes(b)), 'nothing from before')
  })

  it('a wrong key is refused and the refuse event explains it', async () => {
    const badKey = Buffer.alloc(32, 1).toString('base64')
    const bad = (hub.eventHubDevelopmentConnectionString ?? '').replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${badKey}`,
    )
    const refused = nextEvent(hub, 'refuse')
    const client = new EventHubConsumerClient('$Default', bad, { retryOptions: { maxRetries: 0 } })
    clients.push(client)
    await assert.rejects(client.getEventHubProperties(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UnauthorizedError')
      assert.match(err.message, /signature/i)
      return true
    })
    const e = await refused
    assert.equal(e.protocol, 'amqp')
    assert.equal(e.audience, `sb://localhost:${hub.ports.amqpPlain}/localhost/$management`)
    assert.equal(e.reason?.code, 'ERR_HUB_UNAUTHORIZED')
    assert.ok(!JSON.stringify(e).includes(badKey), 'no key in the event')
  })

  it('a sender (EventHubProducerClient) gets an error, not a hang: the endpoint is for reading', async () => {
    const warned = nextEvent(hub, 'warning')
    const producer = new EventHubProducerClient(hub.eventHubDevelopmentConnectionString ?? '', {
      retryOptions: { maxRetries: 0 },
    })
    try {
      await assert.rejects(
        producer.sendBatch([{ body: 'from a backend' }]),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'ServiceCommunicationError')
          assert.match(err.message, /serves no address to send to at "localhost"/)
          return true
        },
      )
    } finally {
      await producer.close()
    }
    assert.match((await warned).message, /amqp:not-found/)
    const all = await read(earliestEventPosition, atLeast(sent.length))
    assert.ok(!all.map(text).includes('from a backend'), 'nothing was appended')
  })

  it('after a restart the partition reads the same, and numbering goes on', async () => {
    const before = await read(earliestEventPosition, atLeast(sent.length))
    await hub.close()
    hub = await startHub({ stateDir: dir, amqpPort: false, amqpPlainPort: 0 })
    const again = await read(earliestEventPosition, atLeast(sent.length))
    assert.deepEqual(
      again.map((e) => [text(e), e.sequenceNumber, e.offset, e.enqueuedTimeUtc.getTime()]),
      before.map((e) => [text(e), e.sequenceNumber, e.offset, e.enqueuedTimeUtc.getTime()]),
    )
    await send('after')
    const all = await read(earliestEventPosition, atLeast(sent.length))
    assert.equal(all.length, sent.length)
    assert.equal(text(all.at(-1) as ReceivedEventData), 'after')
    assert.equal(all.at(-1)?.sequenceNumber, sent.length - 1)
  })
})
