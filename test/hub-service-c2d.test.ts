// Prove it (issue 17, item 3): the official service SDK azure-iothub, unmodified, sends C2D with
// Client.send over AMQP (the `/messages/devicebound` link) to devices on the official device
// SDK, and its feedback receiver (getFeedbackReceiver, `/messages/serviceBound/feedback`) gets
// IoT Hub's feedback batches as the messages' `ack` asks: Success when the device completes,
// Rejected when it rejects, Expired when the message expires unread. Unknown devices, a full
// queue and a wrong key fail as the SDK expects of IoT Hub. The SDKs dial 5671, 8883 and 443, so
// the hub listens there on a loopback address of its own (support/sdk-hub.ts).
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { cli } from './support/cli.js'
import { type Line, type Reporter, spawnReporter } from './support/child.js'
import { type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'
import { within } from './support/within.js'

const SERVICE = fileURLToPath(new URL('./support/sdk-c2d-service.js', import.meta.url))
const DEVICE = fileURLToPath(new URL('./support/sdk-c2d-device.js', import.meta.url))

let sdk: SdkHub | undefined
let skip: string | undefined
const children: Reporter[] = []

before(async () => {
  ;({ sdk, skip } = await sdkHubOrSkip())
})
after(async () => {
  for (const child of children) await child.stop()
  await sdk?.close()
})

/** `sas-token hub devices add`: the device connection string it printed. */
async function addDevice(deviceId: string): Promise<string> {
  const r = await cli(['hub', 'devices', 'add', deviceId], { env: (sdk as SdkHub).env })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.trim()
}

function spawn(script: string, env: Record<string, string>): Reporter {
  const child = spawnReporter(process.execPath, [script], { ...(sdk as SdkHub).env, ...env })
  children.push(child)
  return child
}

/** A service client, opened, its feedback receiver attached. */
async function service(env: Record<string, string> = {}): Promise<Reporter> {
  const child = spawn(SERVICE, env)
  const ready = await within(
    child.waitFor((l) => l.step === 'feedback-ready' || l.step === 'failed'),
    'open and feedback receiver',
  )
  assert.equal(ready.step, 'feedback-ready', JSON.stringify(child.lines) + child.stderr)
  return child
}

/** A device on the SDK over `transport`, connected and listening for C2D. */
async function device(deviceId: string, transport: string): Promise<Reporter> {
  const s = sdk as SdkHub
  const cs = await addDevice(deviceId)
  const child = spawn(DEVICE, { DEVICE_CS: cs, TRANSPORT: transport })
  const connected = await within(
    child.waitFor((l) => l.step === 'connected' || l.step === 'failed'),
    `${transport} device connection`,
  )
  assert.equal(connected.step, 'connected', JSON.stringify(child.lines) + child.stderr)
  if (transport.startsWith('Mqtt'))
    await s.waitForEvent(
      (e) => e.event === 'subscribe' && e.deviceId === deviceId && JSON.stringify(e).includes('devicebound'),
    )
  return child
}

interface Send {
  id: string
  deviceId: string
  data: string
  messageId?: string
  correlationId?: string
  ack?: string
  expiryTimeUtc?: string
  properties?: Record<string, string>
}

/** Sends one message from the service child; its `sent` or `send-failed` line. */
async function send(svc: Reporter, m: Send): Promise<Line> {
  svc.child.stdin?.write(`${JSON.stringify(m)}\n`)
  return within(
    svc.waitFor((l) => (l.step === 'sent' || l.step === 'send-failed') && l.id === m.id),
    `answer to send ${m.id}`,
  )
}

/** Sends one message that the service must accept; the device's `c2d` line for it. */
async function deliver(svc: Reporter, dev: Reporter, m: Send & { messageId: string }): Promise<Line> {
  const sent = await send(svc, m)
  assert.equal(sent.step, 'sent', JSON.stringify(sent))
  return dev.waitFor((l) => l.step === 'c2d' && l.messageId === m.messageId)
}

interface FeedbackRecord {
  originalMessageId: string
  deviceId: string
  statusCode: string
  description: string
  enqueuedTimeUtc: string
  deviceGenerationId: string
}

/** The feedback record for a message, from whichever batch carries it. */
async function feedbackFor(
  svc: Reporter,
  messageId: string,
): Promise<{ batch: Line; record: FeedbackRecord }> {
  const batch = await svc.waitFor(
    (l) =>
      l.step === 'feedback' && (l.records as FeedbackRecord[]).some((r) => r.originalMessageId === messageId),
  )
  const record = (batch.records as FeedbackRecord[]).find((r) => r.originalMessageId === messageId)
  assert.ok(record)
  return { batch, record }
}

const allRecords = (svc: Reporter): FeedbackRecord[] =>
  svc.lines.filter((l) => l.step === 'feedback').flatMap((l) => l.records as FeedbackRecord[])

describe('azure-iothub Client.send and getFeedbackReceiver (AMQP)', { concurrency: 1 }, () => {
  let svc: Reporter | undefined

  it('opens with the connection string the hub printed, and attaches the feedback receiver', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    svc = await service()
    assert.ok(svc.lines.some((l) => l.step === 'opened'))
  })

  it('a device on Mqtt gets the message with its properties; completing it gives Success feedback when the ack asks', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    assert.ok(svc, 'the service client opened')
    const s = sdk as SdkHub
    const dev = await device('svc-c2d-mqtt', 'Mqtt')
    const got = await deliver(svc, dev, {
      id: 's1',
      deviceId: 'svc-c2d-mqtt',
      data: 'hello full',
      messageId: 'msg-full',
      correlationId: 'corr-1',
      ack: 'full',
      properties: { color: 'red', 'with space': 'a & b' },
    })
    assert.equal(got.data, 'hello full')
    assert.equal(got.correlationId, 'corr-1')
    assert.deepEqual(got.properties, { 'iothub-ack': 'full', color: 'red', 'with space': 'a & b' })
    const { batch, record } = await feedbackFor(svc, 'msg-full')
    assert.equal(batch.contentType, 'application/vnd.microsoft.iothub.feedback.json')
    // IoT Hub's user-id on feedback is the hub's name: the first label of its host name
    assert.equal(batch.userId, s.address.split('.')[0])
    assert.ok(Math.abs(Number(batch.enqueuedTime) - Date.now()) < 60_000, String(batch.enqueuedTime))
    assert.equal(record.statusCode, 'Success')
    assert.equal(record.description, 'Success')
    assert.equal(record.deviceId, 'svc-c2d-mqtt')
    assert.equal(typeof record.deviceGenerationId, 'string')
    assert.ok(record.deviceGenerationId.length > 0)
    assert.ok(Math.abs(Date.parse(record.enqueuedTimeUtc) - Date.now()) < 60_000, record.enqueuedTimeUtc)
    // the c2d events name the same message through the same queue the REST send uses
    const completed = await s.waitForEvent(
      (e) => e.event === 'c2d' && e.messageId === 'msg-full' && e.state === 'completed',
    )
    assert.equal(completed.deviceId, 'svc-c2d-mqtt')

    // positive: Success too; none and negative: no record for a completed message
    for (const [id, ack] of [
      ['msg-positive', 'positive'],
      ['msg-none', undefined],
      ['msg-negative', 'negative'],
    ] as const) {
      const r = await send(svc, {
        id,
        deviceId: 'svc-c2d-mqtt',
        data: id,
        messageId: id,
        ...(ack === undefined ? {} : { ack }),
      })
      assert.equal(r.step, 'sent', JSON.stringify(r))
      await s.waitForEvent((e) => e.event === 'c2d' && e.messageId === id && e.state === 'completed')
    }
    assert.equal((await feedbackFor(svc, 'msg-positive')).record.statusCode, 'Success')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const ids = allRecords(svc).map((r) => r.originalMessageId)
    assert.equal(ids.includes('msg-none'), false, 'ack none: no feedback')
    assert.equal(ids.includes('msg-negative'), false, 'ack negative: no feedback for a completed message')
  })

  it('a device on Amqp that rejects the message gives Rejected feedback', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    assert.ok(svc, 'the service client opened')
    const s = sdk as SdkHub
    const dev = await device('svc-c2d-amqp', 'Amqp')
    const got = await deliver(svc, dev, {
      id: 'r1',
      deviceId: 'svc-c2d-amqp',
      data: 'reject me',
      messageId: 'msg-reject',
      ack: 'negative',
      properties: { settle: 'reject' },
    })
    assert.equal(got.data, 'reject me')
    assert.equal(got.ack, 'negative', 'the Amqp transport reads iothub-ack into Message.ack')
    await dev.waitFor((l) => l.step === 'settled' && l.messageId === 'msg-reject')
    const { record } = await feedbackFor(svc, 'msg-reject')
    assert.equal(record.statusCode, 'Rejected')
    assert.equal(record.deviceId, 'svc-c2d-amqp')
    const rejected = await within(
      s.waitForEvent((e) => e.event === 'c2d' && e.messageId === 'msg-reject' && e.state === 'rejected'),
      'rejected event',
    )
    assert.equal(rejected.statusCode, 'Rejected')
  })

  it('a message that expires before its device connects gives Expired feedback', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    assert.ok(svc, 'the service client opened')
    await addDevice('svc-c2d-offline')
    const sent = await send(svc, {
      id: 'e1',
      deviceId: 'svc-c2d-offline',
      data: 'too late',
      messageId: 'msg-expire',
      ack: 'full',
      expiryTimeUtc: new Date(Date.now() + 1500).toISOString(),
    })
    assert.equal(sent.step, 'sent', JSON.stringify(sent))
    const { record } = await feedbackFor(svc, 'msg-expire')
    assert.equal(record.statusCode, 'Expired')
    assert.equal(record.deviceId, 'svc-c2d-offline')
  })

  it('a send to a device the hub does not know fails with DeviceNotFoundError', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    assert.ok(svc, 'the service client opened')
    const r = await send(svc, { id: 'n1', deviceId: 'no-such-device', data: 'x' })
    assert.equal(r.step, 'send-failed')
    assert.equal(r.name, 'DeviceNotFoundError')
    assert.equal(r.condition, 'amqp:not-found')
    assert.match(String(r.causeMessage), /no-such-device/)
  })

  it('50 messages queue for a device; the 51st fails with DeviceMaximumQueueDepthExceededError', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    assert.ok(svc, 'the service client opened')
    await addDevice('svc-c2d-full')
    for (let i = 1; i <= 50; i++) {
      const r = await send(svc, { id: `q${i}`, deviceId: 'svc-c2d-full', data: `m${i}` })
      assert.equal(r.step, 'sent', `message ${i}: ${JSON.stringify(r)}`)
    }
    const r = await send(svc, { id: 'q51', deviceId: 'svc-c2d-full', data: 'one too many' })
    assert.equal(r.step, 'send-failed')
    assert.equal(r.name, 'DeviceMaximumQueueDepthExceededError')
    assert.equal(r.condition, 'amqp:resource-limit-exceeded')
    assert.match(String(r.causeMessage), /50/)
  })

  it('over AmqpWs too: the message reaches the device and its feedback comes back', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const ws = await service({ TRANSPORT: 'AmqpWs' })
    const dev = await device('svc-c2d-ws', 'Mqtt')
    await deliver(ws, dev, {
      id: 'w1',
      deviceId: 'svc-c2d-ws',
      data: 'over ws',
      messageId: 'msg-ws',
      ack: 'positive',
    })
    const records = await Promise.race([
      feedbackFor(ws, 'msg-ws').then((f) => f.record.statusCode),
      // one feedback queue, competing receivers: the Amqp client's receiver may take it
      feedbackFor(svc as Reporter, 'msg-ws').then((f) => f.record.statusCode),
    ])
    assert.equal(records, 'Success')
  })

  it('a wrong key is refused, and the refusal is explained (refuse event)', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const wrong = s.hub.hubConnectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 3).toString('base64')}`,
    )
    const child = spawn(SERVICE, { IOTHUB_CONNECTION_STRING: wrong })
    const failed = await within(
      child.waitFor((l) => l.step === 'failed' || l.step === 'opened'),
      'answer to open',
    )
    assert.equal(failed.step, 'failed', JSON.stringify(child.lines))
    assert.ok(
      failed.cause === 'UnauthorizedError' || failed.condition === 'amqp:unauthorized-access',
      JSON.stringify(failed),
    )
    const refused = await within(
      s.waitForEvent((e) => e.event === 'refuse' && e.protocol === 'amqp'),
      'refuse event',
    )
    const findings = refused.findings as Array<{ code: string; message: string }>
    assert.ok(findings.length > 0, JSON.stringify(refused))
    assert.ok(
      findings.some((f) => /^ERR_/.test(f.code)),
      JSON.stringify(findings),
    )
    assert.equal(
      JSON.stringify(refused).includes(Buffer.alloc(32, 3).toString('base64')),
      false,
      'no key in the event',
    )
  })
})
