// A device or module program written with the official Node device SDK (azure-iot-device with
// azure-iot-device-amqp, Amqp or AmqpWs), unmodified: run as a child process with
// NODE_EXTRA_CA_CERTS set to the hub's CA. It reports every step on stdout as one JSON line, and
// stops when stdin closes.
//   env DEVICE_CS  the device or module connection string
//   env TRANSPORT  Amqp | AmqpWs
//   env KIND       device | module
// It answers method `echo` with 200 {echo: payload} and method `teapot` with 418 "short and stout",
// gets its twin, prints desired patches, reports {firmware: "2.0.0"} and then a patch the hub must
// refuse ({"$bad": 1}); a module also prints its input messages (and completes them) and sends one
// output message "to the next module" on output `out1` with the property hop = "1 & only".
import { createRequire } from 'node:module'
import { onStdinEnd, promised, report } from './child-report.js'

const require = createRequire(import.meta.url)

type Callback = (err?: Error | null, result?: unknown) => void
interface SdkMessage {
  data: Buffer | string
  messageId?: string
  contentType?: string
  properties: { add(key: string, value: string): void; propertyList: Array<{ key: string; value: string }> }
}
interface SdkTwin {
  properties: {
    desired: Record<string, unknown>
    reported: Record<string, unknown> & { update(patch: unknown, cb: Callback): void }
  }
  on(event: 'properties.desired', listener: (patch: Record<string, unknown>) => void): void
}
type MethodHandler = (
  req: { payload: unknown },
  res: { send(status: number, payload: unknown, cb: Callback): void },
) => void
interface SdkClient {
  open(cb: Callback): void
  close(cb: Callback): void
  on(event: string, listener: (...args: never[]) => void): void
  complete(message: SdkMessage, cb: Callback): void
  getTwin(cb: (err: Error | undefined, twin: SdkTwin) => void): void
  /** Device clients name it onDeviceMethod, module clients onMethod. */
  onDeviceMethod?(name: string, handler: MethodHandler): void
  onMethod?(name: string, handler: MethodHandler): void
  sendOutputEvent?(output: string, message: SdkMessage, cb: Callback): void
}
interface ClientFactory {
  fromConnectionString(cs: string, transport: unknown): SdkClient
}

const device = require('azure-iot-device') as {
  Client: ClientFactory
  ModuleClient: ClientFactory
  Message: new (data: string) => SdkMessage
}
const transports = require('azure-iot-device-amqp') as Record<'Amqp' | 'AmqpWs', unknown>

const propertiesOf = (message: SdkMessage): Record<string, string> =>
  Object.fromEntries(message.properties.propertyList.map((p) => [p.key, p.value]))

const cs = process.env.DEVICE_CS ?? ''
const transport = transports[(process.env.TRANSPORT ?? 'Amqp') as 'Amqp' | 'AmqpWs']
const isModule = process.env.KIND === 'module'
const client = (isModule ? device.ModuleClient : device.Client).fromConnectionString(cs, transport)

try {
  client.on('error', (err: Error) => report({ step: 'error', message: err.message }))
  client.on('disconnect', () => report({ step: 'disconnect' }))
  await promised((cb) => client.open(cb))
  report({ step: 'connected' })
  const onMethod = (client.onDeviceMethod ?? client.onMethod)?.bind(client)
  if (onMethod === undefined) throw new Error('the client has no method handler registration')
  onMethod('echo', (req, res) => {
    report({ step: 'method', name: 'echo', payload: req.payload })
    res.send(200, { echo: req.payload }, (err) => report({ step: 'method-answered', error: err?.message }))
  })
  onMethod('teapot', (_req, res) => res.send(418, 'short and stout', () => {}))
  const twin = await promised<SdkTwin>((cb) => client.getTwin((err, t) => cb(err ?? null, t)))
  report({ step: 'twin', desired: twin.properties.desired, reported: twin.properties.reported })
  twin.on('properties.desired', (patch) => report({ step: 'desired', patch }))
  await promised((cb) => twin.properties.reported.update({ firmware: '2.0.0' }, cb))
  report({ step: 'reported' })
  try {
    await promised((cb) => twin.properties.reported.update({ $bad: 1 }, cb))
    report({ step: 'reported-bad', accepted: true })
  } catch (err) {
    // the transport wraps the twin error: its amqpError is what the status translated to
    const inner = (err as { amqpError?: Error }).amqpError
    report({ step: 'reported-bad', accepted: false, message: (err as Error).message, inner: inner?.name })
  }
  if (isModule) {
    client.on('inputMessage', (inputName: string, message: SdkMessage) => {
      report({
        step: 'input',
        inputName,
        data: message.data.toString(),
        messageId: message.messageId,
        properties: propertiesOf(message),
      })
      client.complete(message, () => {})
    })
    const message = new device.Message('to the next module')
    message.messageId = 'output-1'
    message.properties.add('hop', '1 & only')
    await promised((cb) => client.sendOutputEvent?.('out1', message, cb))
    report({ step: 'output-sent' })
  }
  report({ step: 'ready' })
} catch (err) {
  report({ step: 'failed', message: (err as Error).message, name: (err as Error).name })
}

onStdinEnd(() => client.close(() => process.exit(0)))
