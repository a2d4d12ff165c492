/**
 * Service C2D: the service's sender link to `/messages/devicebound` (azure-iothub `Client.send`),
 * under a hub policy token with `ServiceConnect`. Each message names its device in `to`
 * (`/devices/{deviceId}/messages/devicebound`, the id URL-encoded, as the SDK builds it); it is
 * mapped (message-mapping.ts: message id, correlation id, user id, content type and encoding,
 * `absolute_expiry_time` as the expiry, the application properties, among them `iothub-ack`,
 * the feedback it asks for) and queued by `sendC2d` (state/c2d.ts), the same queue as the REST
 * and console sends, then accepted. Refused ones are rejected with the condition the SDK
 * translates into IoT Hub's error: an unknown device `amqp:not-found` (DeviceNotFoundError), a
 * full queue (50) `amqp:resource-limit-exceeded` (DeviceMaximumQueueDepthExceededError), over
 * 64 KB `amqp:link:message-size-exceeded` (MessageTooLargeError), a bad `to`, `iothub-ack` or
 * property `com.microsoft:argument-error` (ArgumentError). The link goes on after a refusal.
 *
 * @module
 */
import type { EventContext, Receiver } from 'rhea'
import { isSasTokenError } from '../../../errors.js'
import { sendC2d } from '../../state/c2d.js'
import type { C2dInput } from '../../state/c2d.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'
import { decodeMessage } from '../message-mapping.js'
import type { DecodedMessage } from '../message-mapping.js'

/** IoT Hub's largest cloud-to-device message, bytes. */
export const MAX_C2D_BYTES = 64 * 1024

/** How many messages a service may have in flight on its C2D link. */
export const SERVICE_C2D_CREDIT = 100

/** An AMQP error a delivery is rejected with. */
interface Refusal {
  condition: string
  description: string
}

const TO = pattern('devices/{deviceId}/messages/devicebound')

/** The device a message's `to` names, or why it names none. */
function targetOf(to: string | undefined): { deviceId: string } | Refusal {
  const params = to === undefined ? undefined : TO(to.replace(/^\/+/, ''))
  const deviceId = params?.deviceId
  if (deviceId === undefined)
    return {
      condition: 'com.microsoft:argument-error',
      description: `The message's to must be /devices/{deviceId}/messages/devicebound; it is ${to === undefined ? 'missing' : JSON.stringify(to.slice(0, 200))}.`,
    }
  return { deviceId }
}

/** A decoded message as the C2D queue takes it. */
function inputOf(decoded: Extract<DecodedMessage, { ok: true }>): C2dInput {
  const p = decoded.properties
  const properties: Record<string, string> = Object.create(null)
  for (const [name, value] of Object.entries(p.properties)) properties[name] = value ?? ''
  return {
    payload: decoded.payload.toString('base64'),
    payloadEncoding: 'base64',
    properties,
    messageId: p.messageId,
    correlationId: p.correlationId,
    userId: p.userId,
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    expiryTimeUtc: p.expiryTimeUtc,
  }
}

/** The condition the SDK translates into IoT Hub's error for a refused send. */
function refusalOf(err: unknown): Refusal | undefined {
  if (!isSasTokenError(err)) return undefined
  const condition =
    err.code === 'ERR_HUB_NOT_FOUND'
      ? 'amqp:not-found'
      : err.code === 'ERR_HUB_QUEUE_FULL'
        ? 'amqp:resource-limit-exceeded'
        : err.code === 'ERR_HUB_BAD_REQUEST'
          ? 'com.microsoft:argument-error'
          : undefined
  return condition === undefined ? undefined : { condition, description: err.message }
}

function attachServiceC2d(r: AttachRequest<Receiver>): void {
  if (r.grant.kind !== 'service') return
  const { ctx, link } = r
  link.on('message', (context: EventContext) => {
    const { message, delivery } = context
    const settle = (error?: Refusal): void => {
      if (delivery !== undefined && !delivery.remote_settled) {
        if (error === undefined) delivery.accept()
        else delivery.reject(error)
      }
      link.add_credit(1)
    }
    if (message === undefined) return settle()
    const decoded = decodeMessage(message)
    if (!decoded.ok) return settle(decoded)
    if (decoded.payload.length > MAX_C2D_BYTES)
      return settle({
        condition: 'amqp:link:message-size-exceeded',
        description: `The message is ${decoded.payload.length} bytes; C2D messages are at most ${MAX_C2D_BYTES}.`,
      })
    const target = targetOf(decoded.properties.to)
    if (!('deviceId' in target)) return settle(target)
    try {
      sendC2d(ctx.hub, target.deviceId, inputOf(decoded))
      settle()
    } catch (err) {
      const refusal = refusalOf(err)
      if (refusal === undefined) {
        ctx.warn(`A service C2D send failed: ${(err as Error)?.message ?? String(err)}`, target)
        return settle({
          condition: 'amqp:internal-error',
          description: 'The hub failed to queue the message.',
        })
      }
      settle(refusal)
    }
  })
  link.add_credit(SERVICE_C2D_CREDIT)
}

/** The service's C2D address. */
export const serviceC2dAddresses: readonly AmqpAddress[] = [
  {
    role: 'sender',
    pattern: '/messages/devicebound',
    what: 'service cloud-to-device messages (to: /devices/{deviceId}/messages/devicebound)',
    needs: { kind: 'service', rights: ['ServiceConnect'] },
    match: pattern('messages/devicebound'),
    attach: attachServiceC2d,
  },
]
