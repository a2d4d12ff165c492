// An operator program written with the official service SDK azure-iothub (Registry, Client),
// plus one device on azure-iot-device to answer a method, all unmodified: run as a child process
// with NODE_EXTRA_CA_CERTS set to the hub's CA. It reports each step on stdout as a JSON line.
//   env IOTHUB_CONNECTION_STRING  the hub connection string
//   env DEVICE_ID                 the device to create, use and delete
// After `device-ready` it waits for a line on stdin before it invokes the method.
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { promised, report } from './child-report.js'

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

const hubCs = process.env.IOTHUB_CONNECTION_STRING ?? ''
const deviceId = process.env.DEVICE_ID ?? 'svc-dev'
const hostName = /HostName=([^;]+)/.exec(hubCs)?.[1] ?? ''
const registry = iothub.Registry.fromConnectionString(hubCs)
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

try {
  const created = await promised<Record<string, unknown>>((cb) =>
    registry.create({ deviceId, status: 'enabled' }, cb),
  )
  const keys = (created.authentication as { symmetricKey: { primaryKey: string; secondaryKey: string } })
    .symmetricKey
  report({
    step: 'created',
    deviceId: created.deviceId,
    status: created.status,
    keyLength: Buffer.from(keys.primaryKey, 'base64').length,
    keysDiffer: keys.primaryKey !== keys.secondaryKey,
  })
  const got = await promised<Record<string, unknown>>((cb) => registry.get(deviceId, cb))
  report({ step: 'got', deviceId: got.deviceId, status: got.status, connectionState: got.connectionState })
  const listed = await promised<Array<Record<string, unknown>>>((cb) => registry.list(cb))
  report({ step: 'listed', ids: listed.map((d) => d.deviceId) })
  const module = await promised<Record<string, unknown>>((cb) =>
    registry.addModule({ deviceId, moduleId: 'm1' }, cb),
  )
  const modules = await promised<Array<Record<string, unknown>>>((cb) =>
    registry.getModulesOnDevice(deviceId, cb),
  )
  report({ step: 'modules', added: module.moduleId, ids: modules.map((m) => m.moduleId) })
  const updated = await promised<Record<string, unknown>>((cb) =>
    registry.updateTwin(deviceId, { tags: { site: 'lab' }, properties: { desired: { temp: 21 } } }, '*', cb),
  )
  const twin = await promised<Record<string, unknown>>((cb) => registry.getTwin(deviceId, cb))
  report({
    step: 'twin',
    updated: (updated.properties as { desired: unknown }).desired,
    read: twin.properties,
    tags: twin.tags,
  })

  const device = Client.fromConnectionString(
    `HostName=${hostName};DeviceId=${deviceId};SharedAccessKey=${keys.primaryKey}`,
    Mqtt,
  )
  await promised((cb) => device.open(cb))
  device.onDeviceMethod('ping', (req, res) => res.send(201, { pong: req.payload }, () => {}))
  report({ step: 'device-ready' })
  await lines.next()
  const service = iothub.Client.fromConnectionString(hubCs)
  const result = await promised<Record<string, unknown>>((cb) =>
    service.invokeDeviceMethod(
      deviceId,
      { methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 10 },
      cb,
    ),
  )
  report({ step: 'invoked', result })
  await promised((cb) => device.close(cb))
  await promised((cb) => service.close(cb))

  await promised((cb) => registry.delete(deviceId, cb))
  report({ step: 'deleted' })
  try {
    await promised((cb) => registry.get(deviceId, cb))
    report({ step: 'still-there' })
  } catch (err) {
    report({ step: 'gone', error: (err as Error).name })
  }
} catch (err) {
  report({
    step: 'failed',
    name: (err as Error).name,
    message: (err as Error).message,
    body: (err as { responseBody?: string }).responseBody,
  })
}
process.exit(0)
