// A backend written with the official service SDK azure-iothub (Client.send, getFeedbackReceiver),
// unmodified, the way its samples use it: run as a child process with NODE_EXTRA_CA_CERTS set to
// the hub's CA. It reports each step on stdout as one JSON line.
//   env IOTHUB_CONNECTION_STRING  the hub (or a policy) connection string
//   env TRANSPORT                 Amqp (default) | AmqpWs
// It opens the client (`opened`, or `failed` with the error's name and message), attaches the
// feedback receiver (`feedback-ready`), reports every feedback message (`feedback`, with its
// content type, user id and parsed body), then sends what stdin asks, one JSON line each:
//   {"id": "…", "deviceId": "…", "data": "…", "messageId"?, "correlationId"?, "ack"?,
//    "expiryTimeUtc"? (ISO), "properties"? {name: value}}
// answered `sent` {id} or `send-failed` {id, name, message}. It stops when stdin closes.
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { promised, report } from './child-report.js'

const require = createRequire(import.meta.url)

type Callback<T = unknown> = (err: Error | null | undefined, result?: T) => void
interface SdkMessage {
  messageId?: string
  correlationId?: string
  ack?: string
  expiryTimeUtc?: number
  contentType?: string
  userId?: string
  properties: { add(key: string, value: string): void }
  getData(): Buffer | string
  transportObj?: { user_id?: Buffer | string; message_annotations?: Record<string, unknown> }
}
interface Receiver {
  on(event: 'message', listener: (message: SdkMessage) => void): void
  on(event: 'error', listener: (err: Error) => void): void
}
interface ServiceClient {
  open(cb: Callback): void
  close(cb: Callback): void
  send(deviceId: string, message: SdkMessage, cb: Callback): void
  getFeedbackReceiver(cb: Callback<Receiver>): void
}
const iothub = require('azure-iothub') as {
  Client: { fromConnectionString(cs: string, transport?: unknown): ServiceClient }
  Amqp: unknown
  AmqpWs: unknown
}
const { Message } = require('azure-iot-common') as { Message: new (data: string) => SdkMessage }

/** An SDK error: its class, message, and the AMQP error it translated (class, condition, message). */
const failure = (err: unknown): Record<string, unknown> => {
  const cause = (err as { amqpError?: Error & { condition?: string; description?: string } }).amqpError
  return {
    name: (err as Error).constructor?.name ?? 'Error',
    message: (err as Error).message,
    cause: cause?.constructor?.name,
    condition: cause?.condition,
    causeMessage: cause?.description ?? cause?.message,
  }
}

const transport = process.env.TRANSPORT === 'AmqpWs' ? iothub.AmqpWs : iothub.Amqp
const client = iothub.Client.fromConnectionString(process.env.IOTHUB_CONNECTION_STRING ?? '', transport)

let opened = false
try {
  await promised((cb) => client.open(cb))
  opened = true
  report({ step: 'opened' })
  const receiver = await promised<Receiver>((cb) => client.getFeedbackReceiver(cb))
  receiver.on('error', (err) => report({ step: 'feedback-error', ...failure(err) }))
  receiver.on('message', (message) => {
    const data = message.getData()
    const userId = message.transportObj?.user_id
    report({
      step: 'feedback',
      contentType: message.contentType,
      userId: userId === undefined ? undefined : userId.toString(),
      // epoch ms (the SDK's rhea 1.x decodes an AMQP timestamp as a number)
      enqueuedTime: Number(message.transportObj?.message_annotations?.['iothub-enqueuedtime']),
      records: JSON.parse(data.toString()),
    })
  })
  report({ step: 'feedback-ready' })
} catch (err) {
  report({ step: 'failed', ...failure(err) })
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (text) => {
  if (!opened || text.trim() === '') return
  const o = JSON.parse(text) as {
    id: string
    deviceId: string
    data: string
    messageId?: string
    correlationId?: string
    ack?: string
    expiryTimeUtc?: string
    properties?: Record<string, string>
  }
  const message = new Message(o.data)
  if (o.messageId !== undefined) message.messageId = o.messageId
  if (o.correlationId !== undefined) message.correlationId = o.correlationId
  if (o.ack !== undefined) message.ack = o.ack
  // epoch ms: the rhea 1.x inside azure-iothub cannot encode a Date as a timestamp
  if (o.expiryTimeUtc !== undefined) message.expiryTimeUtc = Date.parse(o.expiryTimeUtc)
  for (const [k, v] of Object.entries(o.properties ?? {})) message.properties.add(k, v)
  promised((cb) => client.send(o.deviceId, message, cb)).then(
    () => report({ step: 'sent', id: o.id }),
    (err: unknown) => report({ step: 'send-failed', id: o.id, ...failure(err) }),
  )
})
lines.on('close', () => {
  client.close(() => process.exit(0))
})
