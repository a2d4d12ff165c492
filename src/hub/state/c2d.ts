/**
 * Cloud-to-device messages as an operator or a service sends them (the REST send, the console,
 * the library, and a service over AMQP on `/messages/devicebound`): read and checked here, then
 * queued (at most 50 per device) by the hub's C2D queue (`c2d-queue.ts`), which delivers them to
 * the device's link (MQTT: at QoS 1 on `devices/{id}/messages/devicebound/{bag}` once the device
 * has subscribed; a CleanSession 0 subscription counts across reconnects and hub restarts) and
 * keeps each until the device completes it. The bag is built by the core's
 * {@link encodePropertyBag}: system properties with `$.` names, application properties bare. A
 * message's feedback request (`ack`, IoT Hub's `iothub-ack`) travels as the `iothub-ack`
 * property and is kept with it (c2d-feedback.ts has the rules). Module inputs are sent here, not
 * queued.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { SasTokenError, isSasTokenError } from '../../errors.js'
import { encodePropertyBag } from '../../mqtt/property-bag.js'
import type { MessageProperties } from '../../mqtt/property-bag.js'
import { C2D_ACKS } from './c2d-feedback.js'
import type { C2dAck } from './c2d-feedback.js'
import { MAX_C2D_QUEUE } from './registry.js'
import type { QueuedC2d } from './registry.js'
import type { HubService } from '../service.js'

/** What an operator sends (the body of `POST /_emulator/devices/{id}/messages`); `null` means absent. */
export interface C2dInput {
  /** The body: text, or base64 when `payloadEncoding` is `base64`; default empty; at most 64 KB. */
  payload?: string | undefined
  /** How `payload` is written: `utf8` (default) or `base64`. */
  payloadEncoding?: 'utf8' | 'base64' | undefined
  /** Application properties. */
  properties?: Record<string, string> | null | undefined
  /** The `$.mid` system property; default a random UUID. */
  messageId?: string | null | undefined
  /** The `$.cid` system property. */
  correlationId?: string | null | undefined
  /** The `$.uid` system property. */
  userId?: string | null | undefined
  /** The `$.ct` system property. */
  contentType?: string | null | undefined
  /** The `$.ce` system property. */
  contentEncoding?: string | null | undefined
  /** The `$.exp` system property. */
  expiryTimeUtc?: string | null | undefined
  /**
   * The delivery feedback it asks for (`iothub-ack`, delivered to the device beside the
   * application properties): `none` (default), `positive` (`Success`), `negative` (`Expired`,
   * `DeliveryCountExceeded`, `Rejected`) or `full` (all).
   */
  ack?: C2dAck | null | undefined
}

/** The property that carries a message's {@link C2dAck}. */
const ACK_PROPERTY = 'iothub-ack'

const isAck = (v: string): v is C2dAck => (C2D_ACKS as readonly string[]).includes(v)

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

/**
 * Reads an operator's message.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`.
 */
export function readC2d(deviceId: string, input: C2dInput, now: number): QueuedC2d {
  const text = input.payload ?? ''
  const base64 = input.payloadEncoding === 'base64'
  if (base64 && Buffer.from(text, 'base64').toString('base64') !== text)
    throw bad('payload is not valid base64.')
  const body = Buffer.from(text, base64 ? 'base64' : 'utf8')
  if (body.length > 64 * 1024)
    throw bad(`The message is ${body.length} bytes; C2D messages are at most 64 KB.`)
  const properties: MessageProperties = { to: `/devices/${deviceId}/messages/devicebound` }
  const messageId = input.messageId ?? randomUUID()
  properties.messageId = messageId
  for (const name of [
    'correlationId',
    'userId',
    'contentType',
    'contentEncoding',
    'expiryTimeUtc',
  ] as const) {
    const value = input[name]
    if (value) properties[name] = value
  }
  // the ack travels as the iothub-ack property (AMQP: an application property), so one given
  // there counts; the device gets it there, ahead of the application properties, as from IoT Hub
  const ack = input.ack ?? input.properties?.[ACK_PROPERTY]
  if (ack !== undefined && !isAck(ack))
    throw bad(`ack (${ACK_PROPERTY}) must be one of ${C2D_ACKS.join(', ')}.`)
  if (ack !== undefined || input.properties) {
    const first = ack === undefined ? {} : { [ACK_PROPERTY]: ack }
    properties.properties = Object.assign(Object.create(null), first, input.properties, first)
  }
  try {
    encodePropertyBag(properties)
  } catch (err) {
    throw bad(isSasTokenError(err) ? err.message : 'The message properties cannot be encoded.')
  }
  return {
    messageId,
    payload: body.toString('base64'),
    properties,
    enqueuedTime: new Date(now).toISOString(),
    deliveryCount: 0,
    ...(ack === undefined ? {} : { ack }),
  }
}

/**
 * Queues a message for a device and delivers it at once if the device listens (the queue,
 * `c2d-queue.ts`, then waits for the device to complete it). `delivered`: handed to a
 * connected, subscribed device; `queued`: waiting for one.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_QUEUE_FULL`,
 *   `ERR_HUB_THROTTLED` / `ERR_HUB_QUOTA_EXCEEDED` (the hub's tier, throttle.ts).
 */
export function sendC2d(
  hub: HubService,
  deviceId: string,
  input: C2dInput,
): { messageId: string; state: 'queued' | 'delivered' } {
  const entry = hub.entry(deviceId)
  if (entry === undefined)
    throw new SasTokenError('ERR_HUB_NOT_FOUND', `Device ${deviceId} is not in the registry.`)
  const message = readC2d(deviceId, input, hub.now())
  hub.throttle.admit('c2dSend', { deviceId }, { bytes: Buffer.byteLength(message.payload, 'base64') })
  if (hub.c2d.count(deviceId) >= MAX_C2D_QUEUE) {
    throw new SasTokenError(
      'ERR_HUB_QUEUE_FULL',
      `Device ${deviceId} already has ${MAX_C2D_QUEUE} messages queued (IoT Hub's limit): let it connect and complete them (MQTT: subscribe to devices/${deviceId}/messages/devicebound/# and PUBACK; AMQP: accept on /devices/${deviceId}/messages/devicebound).`,
    )
  }
  return { messageId: message.messageId, state: hub.c2d.enqueue(deviceId, entry, message) }
}

/**
 * Sends a message to a module's input (what IoT Edge routing does), on
 * `devices/{d}/modules/{m}/inputs/{input}/{bag}` at QoS 1. Inputs are not queued: the module must
 * be connected and subscribed to its inputs.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_DEVICE_NOT_ONLINE`.
 */
export function sendModuleInput(
  hub: HubService,
  deviceId: string,
  moduleId: string,
  inputName: string,
  input: C2dInput,
): { messageId: string; state: 'delivered' } {
  hub.requireIdentity(deviceId, moduleId)
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(inputName))
    throw bad('The input name must be letters, digits and _ . - (at most 128).')
  const message = readC2d(deviceId, input, hub.now())
  message.properties.to = `/devices/${deviceId}/modules/${moduleId}/inputs/${inputName}`
  const session = hub.sessionOf(deviceId, moduleId)
  if (session === undefined || !session.subscriptions.has('messages')) {
    throw new SasTokenError(
      'ERR_HUB_DEVICE_NOT_ONLINE',
      `Module ${deviceId}/${moduleId} is not connected and subscribed to its inputs.`,
    )
  }
  session.link.sendInput(inputName, message.properties, Buffer.from(message.payload, 'base64'))
  hub.events.publish({
    event: 'c2d',
    deviceId,
    moduleId,
    inputName,
    messageId: message.messageId,
    state: 'delivered',
  })
  return { messageId: message.messageId, state: 'delivered' }
}
