// An operator program written with the official service SDK azure-iothub (Registry, Client),
// plus one device on azure-iot-device to answer a method, all unmodified: run as a child process
// with NODE_EXTRA_CA_CERTS set to the hub's CA. It reports each step on stdout as a JSON line.
//   env IOTHUB_CONNECTION_STRING  the hub connection string
//   env DEVICE_ID                 the device to create, use and delete
// After `device-ready` it waits for a line on stdin before it invokes the method.
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const require = createRequire(import.meta.url)

type Callback<T = unknown> = (err: (Error & { responseBody?: string }) | null | undefined, result?: T) => void
interface Registry {
  create(device: unknown, cb: Callback<Record<string, unknown>>): void
  get(id: string, cb: Callback<Record<string, unknown>>): void
  list(cb: Callback<Array<Record<string, unknown>>>): void
  delete(id: string, cb: Callback): void
  addModule(module: unknown, cb: Callback<Record<string, unknown>>): void
  getModulesOnDevice(id: string, cb: Callback<Array<Record<string, unknown>>>): void
  updateTwin(id: string, patch: unknown, etag: string, cb: Callback<Record<string, unknown>>): void
  getTwin(id: string, cb: Callback<Record<string, unknown>>): void
}
const iothub = require('azure-iothub') as {
  Registry: { fromConnectionString(cs: string): Registry }
  Client: {
    fromConnectionString(cs: string): {
      invokeDeviceMethod(id: string, params: unknown, cb: Callback<Record<string, unknown>>): void
      close(cb: Callback): void
    }
  }
}
const { Client } = require('azure-iot-device') as {
  Client: {
    fromConnectionString(
      cs: string,
      transport: unknown,
    ): {
      open(cb: Callback): void
      close(cb: Callback): void
      onDeviceMethod(
        name: string,
        handler: (
          req: { payload: unknown },
          res: { send(s: number, p: unknown, cb: Callback): void },
        ) => void,
      ): void
    }
  }
}
const { Mqtt } = require('azure-iot-device-mqtt') as { Mqtt: unknown }

const out = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}
const call = <T>(f: (cb: Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, result) => (err ? reject(err) : resolve(result as T))))

const hubCs = process.env.IOTHUB_CONNECTION_STRING ?? ''
const deviceId = process.env.DEVICE_ID ?? 'svc-dev'
const hostName = /HostName=([^;]+)/.exec(hubCs)?.[1] ?? ''
const registry = iothub.Registry.fromConnectionString(hubCs)
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

try {
  const created = await call<Record<string, unknown>>((cb) =>
    registry.create({ deviceId, status: 'enabled' }, cb),
  )
  const keys = (created.authentication as { symmetricKey: { primaryKey: string; secondaryKey: string } })
    .symmetricKey
  out({
    step: 'created',
    deviceId: created.deviceId,
    status: created.status,
    keyLength: Buffer.from(keys.primaryKey, 'base64').length,
    keysDiffer: keys.primaryKey !== keys.secondaryKey,
  })
  const got = await call<Record<string, unknown>>((cb) => registry.get(deviceId, cb))
  out({ step: 'got', deviceId: got.deviceId, status: got.status, connectionState: got.connectionState })
  const listed = await call<Array<Record<string, unknown>>>((cb) => registry.list(cb))
  out({ step: 'listed', ids: listed.map((d) => d.deviceId) })
  const module = await call<Record<string, unknown>>((cb) =>
    registry.addModule({ deviceId, moduleId: 'm1' }, cb),
  )
  const modules = await call<Array<Record<string, unknown>>>((cb) =>
    registry.getModulesOnDevice(deviceId, cb),
  )
  out({ step: 'modules', added: module.moduleId, ids: modules.map((m) => m.moduleId) })
  const updated = await call<Record<string, unknown>>((cb) =>
    registry.updateTwin(deviceId, { tags: { site: 'lab' }, properties: { desired: { temp: 21 } } }, '*', cb),
  )
  const twin = await call<Record<string, unknown>>((cb) => registry.getTwin(deviceId, cb))
  out({
    step: 'twin',
    updated: (updated.properties as { desired: unknown }).desired,
    read: twin.properties,
    tags: twin.tags,
  })

  const device = Client.fromConnectionString(
    `HostName=${hostName};DeviceId=${deviceId};SharedAccessKey=${keys.primaryKey}`,
    Mqtt,
  )
  await call((cb) => device.open(cb))
  device.onDeviceMethod('ping', (req, res) => res.send(201, { pong: req.payload }, () => {}))
  out({ step: 'device-ready' })
  await lines.next()
  const service = iothub.Client.fromConnectionString(hubCs)
  const result = await call<Record<string, unknown>>((cb) =>
    service.invokeDeviceMethod(
      deviceId,
      { methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 10 },
      cb,
    ),
  )
  out({ step: 'invoked', result })
  await call((cb) => device.close(cb))
  await call((cb) => service.close(cb))

  await call((cb) => registry.delete(deviceId, cb))
  out({ step: 'deleted' })
  try {
    await call((cb) => registry.get(deviceId, cb))
    out({ step: 'still-there' })
  } catch (err) {
    out({ step: 'gone', error: (err as Error).name })
  }
} catch (err) {
  out({
    step: 'failed',
    name: (err as Error).name,
    message: (err as Error).message,
    body: (err as { responseBody?: string }).responseBody,
  })
}
process.exit(0)
