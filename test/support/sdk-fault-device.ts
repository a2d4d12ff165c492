// A device written with the official Node device SDK (azure-iot-device with azure-iot-device-mqtt),
// unmodified and with its default retry policy, driven line by line on stdin so that a test can
// fault it and watch it recover: run as a child process with NODE_EXTRA_CA_CERTS set to the hub's
// CA. Every line it prints is one JSON object with `t` (Date.now() when it happened).
//   env DEVICE_CS  the device connection string
//   env TRANSPORT  Mqtt (default) | MqttWs
//   env LISTEN     what it listens to once open, comma-separated: c2d, twin (desired updates),
//                  methods; empty for none (the SDK then does not reconnect by itself)
// Steps printed: `connected` (open done), `listening`, `connect` and `disconnect` (the client's
// events), `error`, `c2d` {messageId}, `desired` {patch}, `sent` {id} or `send-failed`
// {id, name, message}, `failed` {name, message}.
// A stdin line {"send": id, "properties"?: {…}} sends one telemetry message, messageId and
// body `id`, with those application properties. It stops when stdin closes.
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const require = createRequire(import.meta.url)

type Callback = (err?: Error | null, result?: unknown) => void
interface SdkMessage {
  data: Buffer | string
  messageId?: string
  properties: { add(key: string, value: string): void }
}
interface SdkTwin {
  on(event: 'properties.desired', listener: (patch: Record<string, unknown>) => void): void
}
interface SdkClient {
  open(cb: Callback): void
  close(cb: Callback): void
  on(event: string, listener: (...args: never[]) => void): void
  sendEvent(message: SdkMessage, cb: Callback): void
  complete(message: SdkMessage, cb: Callback): void
  getTwin(cb: (err: Error | undefined, twin: SdkTwin) => void): void
  onDeviceMethod(
    name: string,
    handler: (req: unknown, res: { send(status: number, payload: unknown, cb: Callback): void }) => void,
  ): void
}
const device = require('azure-iot-device') as {
  Client: { fromConnectionString(cs: string, transport: unknown): SdkClient }
  Message: new (data: string) => SdkMessage
}
const transports = require('azure-iot-device-mqtt') as Record<string, unknown>

const out = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...line, t: Date.now() })}\n`)
}

const listen = new Set((process.env.LISTEN ?? '').split(',').filter((s) => s !== ''))
const client = device.Client.fromConnectionString(
  process.env.DEVICE_CS ?? '',
  transports[process.env.TRANSPORT ?? 'Mqtt'],
)
client.on('connect', () => out({ step: 'connect' }))
client.on('disconnect', () => out({ step: 'disconnect' }))
client.on('error', (err: Error) => out({ step: 'error', name: err.constructor.name, message: err.message }))

try {
  await new Promise<void>((resolve, reject) => client.open((err) => (err ? reject(err) : resolve())))
  out({ step: 'connected' })
  if (listen.has('c2d'))
    client.on('message', (message: SdkMessage) => {
      out({ step: 'c2d', messageId: message.messageId, data: message.data.toString() })
      client.complete(message, () => {})
    })
  if (listen.has('methods'))
    client.onDeviceMethod('echo', (_req, res) => res.send(200, { ok: true }, () => {}))
  if (listen.has('twin')) {
    const twin = await new Promise<SdkTwin>((resolve, reject) =>
      client.getTwin((err, t) => (err ? reject(err) : resolve(t))),
    )
    twin.on('properties.desired', (patch) => out({ step: 'desired', patch }))
  }
  out({ step: 'listening' })
} catch (err) {
  out({ step: 'failed', name: (err as Error).constructor.name, message: (err as Error).message })
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (text) => {
  const command = JSON.parse(text) as { send: string; properties?: Record<string, string> }
  const message = new device.Message(command.send)
  message.messageId = command.send
  for (const [key, value] of Object.entries(command.properties ?? {})) message.properties.add(key, value)
  client.sendEvent(message, (err) => {
    if (err) out({ step: 'send-failed', id: command.send, name: err.constructor.name, message: err.message })
    else out({ step: 'sent', id: command.send })
  })
})
lines.on('close', () => {
  client.close(() => process.exit(0))
})
