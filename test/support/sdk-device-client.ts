// A device program written with the official Node device SDK (azure-iot-device with
// azure-iot-device-mqtt), unmodified: run as a child process with NODE_EXTRA_CA_CERTS set to
// the hub's CA. It reports every step on stdout as one JSON line, and stops when stdin closes.
//   env DEVICE_CS  the device or module connection string (as `hub devices add` printed it)
//   env TRANSPORT  Mqtt | MqttWs
//   env KIND       device | module
// It answers method `echo` with 200 {echo: payload}, never answers method `hang`, prints C2D
// messages and desired patches, reports {firmware: "1.2.3"}, and sends one telemetry message
// "hello" with the property alert = "high & dry".
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
  properties: { desired: Record<string, unknown>; reported: { update(patch: unknown, cb: Callback): void } }
  on(event: 'properties.desired', listener: (patch: Record<string, unknown>) => void): void
}
interface SdkClient {
  open(cb: Callback): void
  close(cb: Callback): void
  on(event: string, listener: (...args: never[]) => void): void
  sendEvent(message: SdkMessage, cb: Callback): void
  complete?(message: SdkMessage, cb: Callback): void
  getTwin(cb: (err: Error | undefined, twin: SdkTwin) => void): void
  /** Device clients name it onDeviceMethod, module clients onMethod. */
  onDeviceMethod?(
    name: string,
    handler: (
      req: { payload: unknown },
      res: { send(status: number, payload: unknown, cb: Callback): void },
    ) => void,
  ): void
  onMethod?(
    name: string,
    handler: (
      req: { payload: unknown },
      res: { send(status: number, payload: unknown, cb: Callback): void },
    ) => void,
  ): void
}
interface ClientFactory {
  fromConnectionString(cs: string, transport: unknown): SdkClient
}

const device = require('azure-iot-device') as {
  Client: ClientFactory
  ModuleClient: ClientFactory
  Message: new (data: string) => SdkMessage
}
const transports = require('azure-iot-device-mqtt') as Record<'Mqtt' | 'MqttWs', unknown>

const cs = process.env.DEVICE_CS ?? ''
const transport = transports[(process.env.TRANSPORT ?? 'Mqtt') as 'Mqtt' | 'MqttWs']
const factory = process.env.KIND === 'module' ? device.ModuleClient : device.Client
const client = factory.fromConnectionString(cs, transport)

try {
  client.on('error', (err: Error) => report({ step: 'error', message: err.message }))
  client.on('disconnect', () => report({ step: 'disconnect' }))
  if (process.env.KIND !== 'module') {
    client.on('message', (message: SdkMessage) => {
      report({
        step: 'c2d',
        data: message.data.toString(),
        messageId: message.messageId,
        properties: Object.fromEntries(message.properties.propertyList.map((p) => [p.key, p.value])),
      })
      client.complete?.(message, () => {})
    })
  }
  await promised((cb) => client.open(cb))
  report({ step: 'connected' })
  const onMethod = (client.onDeviceMethod ?? client.onMethod)?.bind(client)
  if (onMethod === undefined) throw new Error('the client has no method handler registration')
  onMethod('echo', (req, res) => {
    report({ step: 'method', name: 'echo', payload: req.payload })
    res.send(200, { echo: req.payload }, () => {})
  })
  onMethod('hang', () => report({ step: 'method', name: 'hang' }))
  const twin = await promised<SdkTwin>((cb) => client.getTwin((err, t) => cb(err ?? null, t)))
  report({ step: 'twin', desired: twin.properties.desired })
  twin.on('properties.desired', (patch) => report({ step: 'desired', patch }))
  await promised((cb) => twin.properties.reported.update({ firmware: '1.2.3' }, cb))
  report({ step: 'reported' })
  const message = new device.Message('hello')
  message.messageId = 'telemetry-1'
  message.contentType = 'text/plain'
  message.properties.add('alert', 'high & dry')
  await promised((cb) => client.sendEvent(message, cb))
  report({ step: 'sent' })
} catch (err) {
  report({ step: 'failed', message: (err as Error).message, name: (err as Error).name })
}

onStdinEnd(() => client.close(() => process.exit(0)))
