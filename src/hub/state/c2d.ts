/**
 * Cloud-to-device messages as an operator sends them: read and checked here, then queued (at
 * most 50 per device) by the hub's C2D queue (`c2d-queue.ts`), which delivers them at QoS 1 on
 * `devices/{id}/messages/devicebound/{bag}` once the device has subscribed (a CleanSession 0
 * subscription counts across reconnects and hub restarts) and keeps each until the device
 * completes it. The bag is built by the core's {@link encodePropertyBag}: system properties
 * with `$.` names, application properties bare. Module inputs are sent here, not queued.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { SasTokenError, isSasTokenError } from '../../errors.js'
import { encodePropertyBag } from '../../mqtt/property-bag.js'
import { moduleInputTopic } from '../../mqtt/topics.js'
import type { MessageProperties } from '../../mqtt/property-bag.js'
import { MAX_C2D_QUEUE } from './registry.js'
import type { QueuedC2d } from './registry.js'
import type { HubService } from '../service.js'

/** What an operator sends (the body of `POST /_emulator/devices/{id}/messages`). */
export interface C2dInput {
  /** The body: text, or base64 when `payloadEncoding` is `base64`; default empty; at most 64 KB. */
  payload?: unknown
  /** How `payload` is written: `utf8` (default) or `base64`. */
  payloadEncoding?: unknown
  /** Application properties: an object of string values. */
  properties?: unknown
  /** The `$.mid` system property (a non-empty string); default a random UUID. */
  messageId?: unknown
  /** The `$.cid` system property (a non-empty string). */
  correlationId?: unknown
  /** The `$.uid` system property (a non-empty string). */
  userId?: unknown
  /** The `$.ct` system property (a non-empty string). */
  contentType?: unknown
  /** The `$.ce` system property (a non-empty string). */
  contentEncoding?: unknown
  /** The `$.exp` system property (a non-empty string). */
  expiryTimeUtc?: unknown
}

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value === '') throw bad(`${name} must be a non-empty string.`)
  return value
}

/**
 * Reads an operator's message.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`.
 */
export function readC2d(deviceId: string, input: C2dInput, now: number): QueuedC2d {
  const encoding = input.payloadEncoding ?? 'utf8'
  if (encoding !== 'utf8' && encoding !== 'base64') throw bad('payloadEncoding must be "utf8" or "base64".')
  const text = input.payload ?? ''
  if (typeof text !== 'string')
    throw bad('payload must be a string (use payloadEncoding "base64" for bytes).')
  if (encoding === 'base64' && Buffer.from(text, 'base64').toString('base64') !== text)
    throw bad('payload is not valid base64.')
  const body = encoding === 'base64' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8')
  if (body.length > 64 * 1024)
    throw bad(`The message is ${body.length} bytes; C2D messages are at most 64 KB.`)
  const properties: MessageProperties = { to: `/devices/${deviceId}/messages/devicebound` }
  const messageId = optionalString(input.messageId, 'messageId') ?? randomUUID()
  properties.messageId = messageId
  for (const name of [
    'correlationId',
    'userId',
    'contentType',
    'contentEncoding',
    'expiryTimeUtc',
  ] as const) {
    const value = optionalString(input[name], name)
    if (value !== undefined) properties[name] = value
  }
  if (input.properties !== undefined && input.properties !== null) {
    if (typeof input.properties !== 'object' || Array.isArray(input.properties))
      throw bad('properties must be an object of strings.')
    const app: Record<string, string> = Object.create(null)
    for (const [k, v] of Object.entries(input.properties)) {
      if (typeof v !== 'string') throw bad(`Property ${JSON.stringify(k)} must have a string value.`)
      app[k] = v
    }
    properties.properties = app
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
  }
}

/**
 * Queues a message for a device and delivers it at once if the device listens (the queue,
 * `c2d-queue.ts`, then waits for the device to complete it). `delivered`: handed to a
 * connected, subscribed device; `queued`: waiting for one.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_QUEUE_FULL`.
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
  if (hub.c2d.count(deviceId) >= MAX_C2D_QUEUE) {
    throw new SasTokenError(
      'ERR_HUB_QUEUE_FULL',
      `Device ${deviceId} already has ${MAX_C2D_QUEUE} messages queued (IoT Hub's limit): let it connect, subscribe to devices/${deviceId}/messages/devicebound/# and complete them (PUBACK).`,
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
  const topic = moduleInputTopic({ deviceId, moduleId, inputName }, message.properties)
  hub.deliver(session, 'messages', topic, Buffer.from(message.payload, 'base64'), 1)
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
