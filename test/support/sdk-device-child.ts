// What the device child programs (sdk-device-client.ts, sdk-amqp-ops-client.ts, sdk-c2d-device.ts)
// share: the official device SDK azure-iot-device, unmodified, typed as far as they use it, and
// the client their environment names:
//   env DEVICE_CS  the device or module connection string
//   env TRANSPORT  Mqtt | MqttWs (azure-iot-device-mqtt) or Amqp | AmqpWs (azure-iot-device-amqp)
//   env KIND       device (the default) | module
import { createRequire } from 'node:module'
import { promised, report } from './child-report.js'
import type { Callback, SdkMessage } from './sdk-device-message.js'

const require = createRequire(import.meta.url)

export interface SdkTwin {
  properties: {
    desired: Record<string, unknown>
    reported: Record<string, unknown> & { update(patch: unknown, cb: Callback): void }
  }
  on(event: 'properties.desired', listener: (patch: Record<string, unknown>) => void): void
}

export type MethodHandler = (
  req: { payload: unknown },
  res: { send(status: number, payload: unknown, cb: Callback): void },
) => void

/** A device client or a module client, in its callback form. */
export interface SdkClient {
  open(cb: Callback): void
  close(cb: Callback): void
  on(event: 'message', listener: (message: SdkMessage) => void): void
  on(event: 'inputMessage', listener: (inputName: string, message: SdkMessage) => void): void
  on(event: 'error' | 'disconnect', listener: (err?: Error) => void): void
  sendEvent(message: SdkMessage, cb: Callback): void
  complete(message: SdkMessage, cb: Callback): void
  reject(message: SdkMessage, cb: Callback): void
  abandon(message: SdkMessage, cb: Callback): void
  getTwin(cb: (err: Error | undefined, twin: SdkTwin) => void): void
  /** Device clients name it onDeviceMethod, module clients onMethod. */
  onDeviceMethod?(name: string, handler: MethodHandler): void
  onMethod?(name: string, handler: MethodHandler): void
  sendOutputEvent?(output: string, message: SdkMessage, cb: Callback): void
}

interface ClientFactory {
  fromConnectionString(cs: string, transport: unknown): SdkClient
}

export const device = require('azure-iot-device') as {
  Client: ClientFactory
  ModuleClient: ClientFactory
  Message: new (data: string) => SdkMessage
}

/** A message's application properties, as one object. */
export const propertiesOf = (message: SdkMessage): Record<string, string> =>
  Object.fromEntries(message.properties.propertyList.map((p) => [p.key, p.value]))

/**
 * The client DEVICE_CS, TRANSPORT and KIND name (not yet open), reporting its `error` and
 * `disconnect` steps.
 * @param defaultTransport the transport when TRANSPORT is not set.
 */
export function clientFromEnv(defaultTransport: 'Mqtt' | 'Amqp'): SdkClient {
  const name = process.env.TRANSPORT ?? defaultTransport
  const transports = (
    name.startsWith('Amqp') ? require('azure-iot-device-amqp') : require('azure-iot-device-mqtt')
  ) as Record<string, unknown>
  const factory = process.env.KIND === 'module' ? device.ModuleClient : device.Client
  const client = factory.fromConnectionString(process.env.DEVICE_CS ?? '', transports[name])
  client.on('error', (err) => report({ step: 'error', message: err?.message }))
  client.on('disconnect', () => report({ step: 'disconnect' }))
  return client
}

/**
 * Answers direct method `name` with `handler`, on a device or a module client.
 * @throws Error when the client has neither onDeviceMethod nor onMethod.
 */
export function onMethod(client: SdkClient, name: string, handler: MethodHandler): void {
  const register = (client.onDeviceMethod ?? client.onMethod)?.bind(client)
  if (register === undefined) throw new Error('the client has no method handler registration')
  register(name, handler)
}

/**
 * The client's twin.
 * @throws the SDK's error when it cannot get it.
 */
export function getTwin(client: SdkClient): Promise<SdkTwin> {
  return promised<SdkTwin>((cb) => client.getTwin((err, twin) => cb(err ?? null, twin)))
}
