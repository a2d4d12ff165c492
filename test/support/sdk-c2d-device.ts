// A device written with the official device SDK (azure-iot-device with its Mqtt or Amqp
// transports), unmodified, that receives cloud-to-device messages: run as a child process with
// NODE_EXTRA_CA_CERTS set to the hub's CA. It reports each step on stdout as one JSON line.
//   env DEVICE_CS  the device connection string
//   env TRANSPORT  Mqtt (default) | MqttWs | Amqp | AmqpWs
// Every message is reported (`c2d`: data, messageId, correlationId, ack, properties) and then
// settled as its application property `settle` says: complete (default), reject, abandon, or
// none (left unanswered); `settled` {messageId, how} or `settle-failed` {messageId, how, name}.
// It stops when stdin closes.
import { createRequire } from 'node:module'
import { onStdinEnd, report } from './child-report.js'

const require = createRequire(import.meta.url)

type Callback = (err?: Error | null, result?: unknown) => void
interface SdkMessage {
  data: Buffer | string
  messageId?: string
  correlationId?: string
  ack?: string
  expiryTimeUtc?: unknown
  properties: { propertyList: Array<{ key: string; value: string }> }
}
interface SdkClient {
  open(cb: Callback): void
  close(cb: Callback): void
  on(event: 'message', listener: (message: SdkMessage) => void): void
  on(event: 'error' | 'disconnect', listener: (err?: Error) => void): void
  complete(message: SdkMessage, cb: Callback): void
  reject(message: SdkMessage, cb: Callback): void
  abandon(message: SdkMessage, cb: Callback): void
}
const device = require('azure-iot-device') as {
  Client: { fromConnectionString(cs: string, transport: unknown): SdkClient }
}
const name = process.env.TRANSPORT ?? 'Mqtt'
const transport = (
  name.startsWith('Amqp') ? require('azure-iot-device-amqp') : require('azure-iot-device-mqtt')
) as Record<string, unknown>

const client = device.Client.fromConnectionString(process.env.DEVICE_CS ?? '', transport[name])
client.on('error', (err) => report({ step: 'error', message: err?.message }))
client.on('disconnect', () => report({ step: 'disconnect' }))
client.on('message', (message) => {
  const properties = Object.fromEntries(message.properties.propertyList.map((p) => [p.key, p.value]))
  report({
    step: 'c2d',
    data: message.data.toString(),
    messageId: message.messageId,
    correlationId: message.correlationId,
    ack: message.ack,
    properties,
  })
  const how = properties.settle ?? 'complete'
  if (how !== 'complete' && how !== 'reject' && how !== 'abandon') return
  client[how](message, (err) => {
    if (err) report({ step: 'settle-failed', messageId: message.messageId, how, name: err.constructor.name })
    else report({ step: 'settled', messageId: message.messageId, how })
  })
})
client.open((err) => {
  if (err) report({ step: 'failed', name: err.constructor.name, message: err.message })
  else report({ step: 'connected' })
})

onStdinEnd(() => client.close(() => process.exit(0)))
