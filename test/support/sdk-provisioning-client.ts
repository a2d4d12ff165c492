// A device program written with the official provisioning SDK (azure-iot-provisioning-device,
// its Mqtt transport, azure-iot-security-symmetric-key), unmodified: it registers through DPS,
// then connects to the hub it was assigned with azure-iot-device and sends one message. Run as a
// child process with NODE_EXTRA_CA_CERTS set to the hub's CA; one JSON line per step.
//   env PROVISIONING_HOST, ID_SCOPE, REGISTRATION_ID, DEVICE_KEY (derived from the group key)
import { createRequire } from 'node:module'
import { promised, report } from './child-report.js'

const require = createRequire(import.meta.url)

type Callback<T = unknown> = (err: Error | null | undefined, result?: T) => void
const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device') as {
  ProvisioningDeviceClient: {
    create(
      host: string,
      idScope: string,
      transport: unknown,
      security: unknown,
    ): { register(cb: Callback<{ assignedHub: string; deviceId: string }>): void }
  }
}
const { Mqtt: ProvisioningMqtt } = require('azure-iot-provisioning-device-mqtt') as {
  Mqtt: new () => unknown
}
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key') as {
  SymmetricKeySecurityClient: new (registrationId: string, key: string) => unknown
}
const { Client, Message } = require('azure-iot-device') as {
  Client: {
    fromConnectionString(
      cs: string,
      transport: unknown,
    ): {
      open(cb: Callback): void
      close(cb: Callback): void
      sendEvent(m: unknown, cb: Callback): void
    }
  }
  Message: new (data: string) => unknown
}
const { Mqtt } = require('azure-iot-device-mqtt') as { Mqtt: unknown }

const env = (name: string): string => process.env[name] ?? ''
try {
  const security = new SymmetricKeySecurityClient(env('REGISTRATION_ID'), env('DEVICE_KEY'))
  const provisioning = ProvisioningDeviceClient.create(
    env('PROVISIONING_HOST'),
    env('ID_SCOPE'),
    new ProvisioningMqtt(),
    security,
  )
  const result = await promised<{ assignedHub: string; deviceId: string }>((cb) => provisioning.register(cb))
  report({ step: 'registered', assignedHub: result.assignedHub, deviceId: result.deviceId })
  if (env('CONNECT') === 'no') process.exit(0)
  const client = Client.fromConnectionString(
    `HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${env('DEVICE_KEY')}`,
    Mqtt,
  )
  await promised((cb) => client.open(cb))
  report({ step: 'connected' })
  await promised((cb) => client.sendEvent(new Message('provisioned'), cb))
  report({ step: 'sent' })
  await promised((cb) => client.close(cb))
} catch (err) {
  report({ step: 'failed', name: (err as Error).name, message: (err as Error).message })
}
process.exit(0)
