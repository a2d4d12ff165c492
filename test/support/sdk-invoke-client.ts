// One direct-method call made with the official service SDK azure-iothub (Client.invokeDeviceMethod,
// over HTTPS), unmodified: run as a child process with NODE_EXTRA_CA_CERTS set to the hub's CA. It
// prints one JSON line, {result} or {error}, and exits.
//   env IOTHUB_CONNECTION_STRING  the hub connection string
//   env DEVICE_ID, MODULE_ID      the target (MODULE_ID may be empty)
//   env METHOD, PAYLOAD           the method's name and its JSON payload
import { createRequire } from 'node:module'
import { report } from './child-report.js'

const require = createRequire(import.meta.url)

type Callback<T = unknown> = (err: (Error & { responseBody?: string }) | null | undefined, result?: T) => void
interface MethodParams {
  methodName: string
  payload: unknown
  responseTimeoutInSeconds: number
}
interface ServiceClient {
  invokeDeviceMethod(deviceId: string, params: MethodParams, cb: Callback): void
  invokeDeviceMethod(deviceId: string, moduleId: string, params: MethodParams, cb: Callback): void
  close(cb: Callback): void
}
const iothub = require('azure-iothub') as { Client: { fromConnectionString(cs: string): ServiceClient } }

const service = iothub.Client.fromConnectionString(process.env.IOTHUB_CONNECTION_STRING ?? '')
const deviceId = process.env.DEVICE_ID ?? ''
const moduleId = process.env.MODULE_ID ?? ''
const params: MethodParams = {
  methodName: process.env.METHOD ?? 'echo',
  payload: JSON.parse(process.env.PAYLOAD ?? 'null'),
  responseTimeoutInSeconds: 10,
}
const result = await new Promise<Record<string, unknown>>((resolve) => {
  const done: Callback = (err, r) =>
    resolve(err ? { error: err.name, message: err.message, body: err.responseBody } : { result: r })
  if (moduleId === '') service.invokeDeviceMethod(deviceId, params, done)
  else service.invokeDeviceMethod(deviceId, moduleId, params, done)
})
report(result)
service.close(() => process.exit(0))
