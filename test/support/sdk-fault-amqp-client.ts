// A device program written with the official Node device SDK (azure-iot-device with
// azure-iot-device-amqp, Amqp or AmqpWs), unmodified, with its default retry policy, for the
// fault tests: run as a child process with NODE_EXTRA_CA_CERTS set to the hub's CA. It reports
// on stdout, one JSON line each, every (re)connect the client reports (`connect`), the
// client's `disconnect` (it emits one when it gives up) and `error`, each C2D message and
// desired patch it receives, and the outcome of each send; it sends what stdin asks, one JSON
// line each: {"send": "text", "properties": {...}}. It stops when stdin closes.
//   env DEVICE_CS  the device connection string
//   env TRANSPORT  Amqp | AmqpWs
//   env LISTEN     1: listen for C2D messages and desired patches, and answer method `ping` with
//                  200 {"pong": true} (what makes the SDK reconnect by itself after a drop);
//                  anything else: listen for nothing
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const require = createRequire(import.meta.url)

type Callback = (err?: Error | null, result?: unknown) => void
interface SdkMessage {
  data: Buffer | string
  properties: { add(key: string, value: string): void }
}
interface SdkTwin {
  on(event: 'properties.desired', listener: (patch: Record<string, unknown>) => void): void
}
interface SdkClient {
  open(cb: Callback): void
  close(cb: Callback): void
  on(event: string, listener: (...args: never[]) => void): void
  complete(message: SdkMessage, cb: Callback): void
  getTwin(cb: (err: Error | undefined, twin: SdkTwin) => void): void
  sendEvent(message: SdkMessage, cb: Callback): void
  onDeviceMethod(
    name: string,
    handler: (req: unknown, res: { send(status: number, payload: unknown, cb: Callback): void }) => void,
  ): void
}

const device = require('azure-iot-device') as {
  Client: { fromConnectionString(cs: string, transport: unknown): SdkClient }
  Message: new (data: string) => SdkMessage
}
const transports = require('azure-iot-device-amqp') as Record<'Amqp' | 'AmqpWs', unknown>

const out = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`)
}
const promised = <T>(f: (cb: (err?: Error | null, result?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, result) => (err ? reject(err) : resolve(result as T))))

const client = device.Client.fromConnectionString(
  process.env.DEVICE_CS ?? '',
  transports[(process.env.TRANSPORT ?? 'Amqp') as 'Amqp' | 'AmqpWs'],
)

client.on('connect', () => out({ step: 'connect' }))
client.on('disconnect', (err?: Error) => out({ step: 'disconnect', message: err?.message }))
client.on('error', (err: Error) => out({ step: 'error', message: err.message, name: err.name }))

try {
  await promised((cb) => client.open(cb))
  if (process.env.LISTEN === '1') {
    client.on('message', (message: SdkMessage) => {
      out({ step: 'c2d', data: message.data.toString() })
      client.complete(message, () => {})
    })
    client.onDeviceMethod('ping', (_req, res) => res.send(200, { pong: true }, () => {}))
    const twin = await promised<SdkTwin>((cb) => client.getTwin((err, t) => cb(err ?? null, t)))
    twin.on('properties.desired', (patch) => out({ step: 'desired', patch }))
  }
  out({ step: 'ready' })
} catch (err) {
  out({ step: 'failed', message: (err as Error).message, name: (err as Error).name })
}

createInterface({ input: process.stdin }).on('line', (text) => {
  let ask: { send?: string; properties?: Record<string, string> }
  try {
    ask = JSON.parse(text) as typeof ask
  } catch {
    return
  }
  const body = ask.send
  if (typeof body !== 'string') return
  const message = new device.Message(body)
  for (const [key, value] of Object.entries(ask.properties ?? {})) message.properties.add(key, value)
  const start = Date.now()
  client.sendEvent(message, (err) =>
    out(
      err
        ? { step: 'send-failed', send: body, name: err.name, message: err.message, ms: Date.now() - start }
        : { step: 'sent', send: body, ms: Date.now() - start },
    ),
  )
})
process.stdin.on('end', () => {
  client.close(() => process.exit(0))
})
