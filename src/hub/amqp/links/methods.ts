/**
 * Direct methods, `/devices/{deviceId}/methods/devicebound` (a module's:
 * `/devices/{d}/modules/{m}/methods/devicebound`), as azure-iot-device-amqp's
 * `AmqpDeviceMethodClient` uses it: the device attaches a sender (its answers) and a receiver
 * (the requests) to the same address, both with the link properties `com.microsoft:api-version`
 * and `com.microsoft:channel-correlation-id` = `methods:{uuid}`. While its receiver is attached
 * the identity listens for methods (the `methods` subscription; `subscribe` / `unsubscribe`
 * events). A request is a message with the application property `IoThub-methodname`, a UUID
 * `correlation_id` (16 bytes, as IoT Hub sends it; the SDK answers with the same) and the JSON
 * payload as its body; the answer has the application property `IoThub-status` (an int), the
 * request's `correlation_id` and the JSON payload. Answers go to `MethodCalls.answer` (the same
 * `method` events as over MQTT) and are accepted; one without a status is rejected.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import rhea from 'rhea'
import type { EventContext, Message, Receiver, Sender } from 'rhea'
import { idFields } from '../../state/sessions.js'
import type { AmqpDeviceLink } from '../amqp-link.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'
import { decodeMessage, idText } from '../message-mapping.js'
import { Outbox, openSenders } from '../outbox.js'

/** The application property of a request's method name. */
export const METHOD_NAME_PROPERTY = 'IoThub-methodname'
/** The application property of an answer's status. */
export const METHOD_STATUS_PROPERTY = 'IoThub-status'
/** How many answers a device may have in flight on its link. */
export const METHOD_CREDIT = 10
/** How many requests of one connection may wait for an answer (the oldest is forgotten past it). */
const MAX_PENDING = 1000

/** The request ids (MethodCalls') of the correlation ids (UUIDs) sent on each device's link. */
const pendingOf = new WeakMap<AmqpDeviceLink, Map<string, string>>()

function pending(device: AmqpDeviceLink): Map<string, string> {
  let map = pendingOf.get(device)
  if (map === undefined) {
    map = new Map()
    pendingOf.set(device, map)
  }
  return map
}

/** The AMQP message of a method request. */
export function methodRequestMessage(method: string, correlationId: string, body: string): Message {
  return {
    body: rhea.message.data_section(Buffer.from(body, 'utf8')),
    correlation_id: rhea.string_to_uuid(correlationId),
    application_properties: { [METHOD_NAME_PROPERTY]: method },
  }
}

/** A status as the SDKs send it (an int; text digits are taken too), or `undefined`. */
function statusOf(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : value
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 999 ? n : undefined
}

function methodSenders(device: AmqpDeviceLink): Sender[] {
  return openSenders(device, 'methods')
}

/** The device's method receiver link: the requests go there. */
function attachRequests(r: AttachRequest<Sender>): void {
  if (r.grant.kind !== 'device') return
  const { ctx, link, address } = r
  const { hub } = ctx
  const { session, link: device } = r.grant.device
  device.hold('methods', link)
  device.senders.sendMethod = (method, rid, body) => {
    const sender = methodSenders(device)[0]
    if (sender === undefined) return
    const correlationId = randomUUID()
    const map = pending(device)
    map.set(correlationId, rid)
    if (map.size > MAX_PENDING) map.delete(map.keys().next().value ?? '')
    if (!Outbox.of(sender).send(methodRequestMessage(method, correlationId, body)))
      ctx.warn('A method request was dropped: the device gives its method link no credit.', idFields(session))
  }
  if (!session.subscriptions.has('methods')) {
    session.subscriptions.set('methods', 0)
    hub.subscriptionsChanged(session)
    hub.events.publish({ event: 'subscribe', ...idFields(session), topics: [{ topic: address, qos: 0 }] })
  }
  link.once('sender_close', () => {
    if (methodSenders(device).length > 0) return
    delete device.senders.sendMethod
    if (session.subscriptions.delete('methods')) {
      hub.subscriptionsChanged(session)
      hub.events.publish({ event: 'unsubscribe', ...idFields(session), topics: [address] })
    }
  })
}

/** The device's method sender link: its answers. */
function attachAnswers(r: AttachRequest<Receiver>): void {
  if (r.grant.kind !== 'device') return
  const { ctx, link } = r
  const { session, link: device } = r.grant.device
  device.hold('method-answers', link)
  link.on('message', (context: EventContext) => {
    const { message, delivery } = context
    link.add_credit(1)
    const settle = (error?: { condition: string; description: string }): void => {
      if (delivery === undefined || delivery.remote_settled) return
      if (error === undefined) delivery.accept()
      else delivery.reject(error)
    }
    if (message === undefined) return settle()
    const decoded = decodeMessage(message)
    if (!decoded.ok) return settle(decoded)
    const status = statusOf(message.application_properties?.[METHOD_STATUS_PROPERTY])
    if (status === undefined)
      return settle({
        condition: 'amqp:decode-error',
        description: `A method answer needs the application property ${METHOD_STATUS_PROPERTY} (an int status).`,
      })
    const correlationId = idText(message.correlation_id) ?? ''
    const map = pending(device)
    const rid = map.get(correlationId) ?? correlationId
    map.delete(correlationId)
    ctx.methods.answer(session, rid, status, decoded.payload)
    settle()
  })
  link.add_credit(METHOD_CREDIT)
}

/** The method addresses of devices and modules. */
export const methodAddresses: readonly AmqpAddress[] = [
  {
    role: 'receiver',
    pattern: '/devices/{deviceId}/methods/devicebound',
    what: 'direct-method requests to a device',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/methods/devicebound'),
    attach: attachRequests,
  },
  {
    role: 'sender',
    pattern: '/devices/{deviceId}/methods/devicebound',
    what: "a device's direct-method answers",
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/methods/devicebound'),
    attach: attachAnswers,
  },
  {
    role: 'receiver',
    pattern: '/devices/{deviceId}/modules/{moduleId}/methods/devicebound',
    what: 'direct-method requests to a module',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/modules/{moduleId}/methods/devicebound'),
    attach: attachRequests,
  },
  {
    role: 'sender',
    pattern: '/devices/{deviceId}/modules/{moduleId}/methods/devicebound',
    what: "a module's direct-method answers",
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/modules/{moduleId}/methods/devicebound'),
    attach: attachAnswers,
  },
]
