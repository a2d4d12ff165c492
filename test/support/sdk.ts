// The reference implementation we must match byte for byte: the Node SDK's azure-iot-common,
// composed the way azure-iot-device composes it for device and module identities
// (sak_authentication_provider.ts: encodeUriComponentStrict(host + '/devices/' + id [+ '/modules/' + m])).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const common = require('azure-iot-common') as {
  encodeUriComponentStrict(text: string): string
  SharedAccessSignature: {
    create(sr: string, keyName: string | null, key: string, expiry: number): { toString(): string }
  }
  ConnectionString: { parse(text: string, required?: string[]): Record<string, string> }
}

export const sdk = common

/** The token azure-iot-device signs for a device or module. */
export function sdkDeviceToken(
  host: string,
  deviceId: string,
  key: string,
  expiry: number,
  moduleId?: string,
): string {
  const resource = host + '/devices/' + deviceId + (moduleId === undefined ? '' : '/modules/' + moduleId)
  return common.SharedAccessSignature.create(
    common.encodeUriComponentStrict(resource),
    null,
    key,
    expiry,
  ).toString()
}
