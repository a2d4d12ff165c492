/**
 * Device-to-cloud telemetry: the device's (or module's) sender link to
 * `/devices/{deviceId}/messages/events` (`/devices/{d}/modules/{m}/messages/events`). Each
 * message is mapped (message-mapping.ts) and recorded (`ingestTelemetry`), then accepted; one
 * that cannot be read, or is larger than IoT Hub's 256 KB, is rejected with a condition that
 * says why, and the link goes on; so is one sent while a fault throttles the device
 * (`com.microsoft:device-container-throttled`) or has it over quota
 * (`amqp:resource-limit-exceeded`): nothing is logged, and the link stays up. Credit comes back as messages are recorded, and not while a
 * lossless event sink is behind (the ingress gate), so a device cannot outrun the log.
 *
 * @module
 */
import type { EventContext, Receiver } from 'rhea'
import { isSasTokenError } from '../../../errors.js'
import { ingestTelemetry } from '../../state/telemetry.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'
import { decodeMessage } from '../message-mapping.js'

/** IoT Hub's largest device-to-cloud message, bytes. */
export const MAX_TELEMETRY_BYTES = 256 * 1024

/** How many messages a device may have in flight on its telemetry link. */
export const TELEMETRY_CREDIT = 100

/**
 * The condition a message refused by a throttle or quota is rejected with: the ones
 * azure-iot-amqp-base translates to `ThrottlingError` (which the SDK's default retry policy
 * retries) and `IotHubQuotaExceededError` (which it does not).
 */
const REFUSED_CONDITIONS: Readonly<Partial<Record<string, string>>> = Object.freeze({
  ERR_HUB_THROTTLED: 'com.microsoft:device-container-throttled',
  ERR_HUB_QUOTA_EXCEEDED: 'amqp:resource-limit-exceeded',
})

function attachTelemetry(r: AttachRequest<Receiver>): void {
  if (r.grant.kind !== 'device') return
  const { ctx, link, address } = r
  const { hub } = ctx
  const { session, link: device } = r.grant.device
  device.hold('telemetry', link)
  // credit comes back in batches of half the window (one flow frame per 50 messages, not per
  // message), and only while no lossless event sink is behind
  let used = 0
  const credit = (): void => {
    used += 1
    if (used < TELEMETRY_CREDIT / 2) return
    const n = used
    used = 0
    hub.events.ingress.whenOpen(() => link.add_credit(n))
  }
  link.on('message', (context: EventContext) => {
    const message = context.message
    const delivery = context.delivery
    const settle = (error?: { condition: string; description: string }): void => {
      if (delivery === undefined || delivery.remote_settled) return
      if (error === undefined) delivery.accept()
      else delivery.reject(error)
    }
    credit()
    if (message === undefined) return
    const decoded = decodeMessage(message)
    if (!decoded.ok) return settle(decoded)
    if (decoded.payload.length > MAX_TELEMETRY_BYTES)
      return settle({
        condition: 'amqp:link:message-size-exceeded',
        description: `The message is ${decoded.payload.length} bytes; IoT Hub allows ${MAX_TELEMETRY_BYTES}.`,
      })
    const identity = hub.touch(session)
    if (identity === undefined)
      return settle({
        condition: 'amqp:not-found',
        description: 'The identity was deleted from the registry.',
      })
    try {
      ingestTelemetry(hub, session, identity, {
        payload: decoded.payload,
        properties: decoded.properties,
        address,
        qos: delivery?.remote_settled ? 0 : 1,
      })
    } catch (err) {
      if (!isSasTokenError(err)) throw err
      const condition = REFUSED_CONDITIONS[err.code]
      if (condition === undefined) throw err
      return settle({ condition, description: err.message })
    }
    settle()
  })
  link.add_credit(TELEMETRY_CREDIT)
}

/** The telemetry addresses of devices and modules. */
export const telemetryAddresses: readonly AmqpAddress[] = [
  {
    role: 'sender',
    pattern: '/devices/{deviceId}/messages/events',
    what: 'device telemetry',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/messages/events'),
    attach: attachTelemetry,
  },
  {
    role: 'sender',
    pattern: '/devices/{deviceId}/modules/{moduleId}/messages/events',
    what: 'module telemetry and outputs',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/modules/{moduleId}/messages/events'),
    attach: attachTelemetry,
  },
]
