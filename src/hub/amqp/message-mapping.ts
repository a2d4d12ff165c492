/**
 * The one mapping between an AMQP message and the hub's message model (the system properties of
 * the MQTT property bag, and the application properties), as azure-iot-amqp-base's
 * `AmqpMessage` encodes a `Message` (and decodes one): `message_id` and `correlation_id` (a UUID
 * travels as 16 bytes), `user_id` (binary), `to`, `content_type`, `content_encoding`,
 * `absolute_expiry_time`, `creation_time`; the application properties; the message annotations
 * `iothub-interface-id` and `dt-subject` (a component name); a module's output name is the
 * application property `iothub-outputname`. The body is one or more data sections (any other
 * body section is taken as its UTF-8 or JSON text). Telemetry, C2D, module inputs and the
 * service's C2D sender all map through here.
 *
 * @module
 */
import rhea from 'rhea'
import type { Message } from 'rhea'
import type { MessageProperties, ReceivedMessageProperties } from '../../mqtt/property-bag.js'

/** A decoded AMQP message, or why it cannot be one. */
export type DecodedMessage =
  | { ok: true; payload: Buffer; properties: ReceivedMessageProperties }
  | { ok: false; condition: 'amqp:decode-error'; description: string }

/** The application property a module's output name travels in. */
export const OUTPUT_NAME_PROPERTY = 'iothub-outputname'

/** A `message_id` or `correlation_id` as text: a 16-byte binary is a UUID, as the SDKs send one. */
export function idText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (Buffer.isBuffer(value)) return value.length === 16 ? rhea.uuid_to_string(value) : value.toString('hex')
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  return undefined
}

/** An AMQP timestamp (a `Date`, or epoch ms) as ISO 8601. */
function isoTime(value: unknown): string | undefined {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Number.NaN
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined
}

/** A property value as text (numbers, booleans, timestamps too). */
function text(value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (value instanceof Date) return value.toISOString()
  if (Buffer.isBuffer(value)) return value.toString('base64')
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** The body of a received message as bytes. */
function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return Buffer.alloc(0)
  if (Buffer.isBuffer(body)) return body
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (typeof body === 'object' && 'typecode' in body && 'content' in body) {
    const { typecode, content } = body
    if (typecode === 0x75) {
      if (Buffer.isBuffer(content)) return content
      if (Array.isArray(content) && content.every((c) => Buffer.isBuffer(c))) return Buffer.concat(content)
      return undefined
    }
    return Buffer.from(JSON.stringify(content), 'utf8')
  }
  if (body instanceof Uint8Array) return Buffer.from(body)
  try {
    return Buffer.from(JSON.stringify(body), 'utf8')
  } catch {
    return undefined
  }
}

/** Decodes a message a device (or module) sent into the hub's model. */
export function decodeMessage(m: Message): DecodedMessage {
  const payload = bodyBytes(m.body)
  if (payload === undefined)
    return {
      ok: false,
      condition: 'amqp:decode-error',
      description: 'The message body is not one the hub can read: send it as data sections (bytes).',
    }
  const properties: ReceivedMessageProperties = { properties: Object.create(null) }
  const messageId = idText(m.message_id)
  if (messageId !== undefined) properties.messageId = messageId
  const correlationId = idText(m.correlation_id)
  if (correlationId !== undefined) properties.correlationId = correlationId
  if (Buffer.isBuffer(m.user_id)) properties.userId = m.user_id.toString('utf8')
  else if (typeof m.user_id === 'string') properties.userId = m.user_id
  if (typeof m.to === 'string') properties.to = m.to
  if (typeof m.content_type === 'string') properties.contentType = m.content_type
  if (typeof m.content_encoding === 'string') properties.contentEncoding = m.content_encoding
  const expiry = isoTime(m.absolute_expiry_time)
  if (expiry !== undefined) properties.expiryTimeUtc = expiry
  const created = isoTime(m.creation_time)
  if (created !== undefined) properties.creationTimeUtc = created
  const annotations = m.message_annotations ?? {}
  const interfaceId = annotations['iothub-interface-id']
  if (typeof interfaceId === 'string') properties.interfaceId = interfaceId
  const subject = annotations['dt-subject']
  if (typeof subject === 'string') properties.componentName = subject
  for (const [name, value] of Object.entries(m.application_properties ?? {})) {
    if (name === OUTPUT_NAME_PROPERTY && typeof value === 'string') properties.outputName = value
    else properties.properties[name] = text(value)
  }
  return { ok: true, payload, properties }
}

/** What {@link encodeMessage} adds beyond the message's own properties. */
export interface EncodeOptions {
  /** The `to` address (C2D: `/devices/{id}/messages/devicebound`). */
  to?: string
  /** Message annotations (`iothub-enqueuedtime`, `x-opt-…`). */
  annotations?: Record<string, unknown>
  /** Extra application properties (`iothub-ack`). */
  applicationProperties?: Record<string, string>
}

/** A message id as AMQP sends it: a UUID as 16 bytes (as the SDKs decode one), other text as is. */
function idValue(id: string): string | Buffer {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
    ? rhea.string_to_uuid(id)
    : id
}

/** Encodes a message of the hub's model (C2D, a module input) as AMQP, body as one data section. */
export function encodeMessage(payload: Buffer, p: MessageProperties, o: EncodeOptions = {}): Message {
  const m: Message = { body: rhea.message.data_section(payload) }
  if (p.messageId !== undefined) m.message_id = idValue(p.messageId)
  if (p.correlationId !== undefined) m.correlation_id = idValue(p.correlationId)
  // AMQP's user-id is binary (rhea's typings say string; it encodes what it is given as binary)
  if (p.userId !== undefined) Object.assign(m, { user_id: Buffer.from(p.userId, 'utf8') })
  const to = o.to ?? p.to
  if (to !== undefined) m.to = to
  if (p.contentType !== undefined) m.content_type = p.contentType
  if (p.contentEncoding !== undefined) m.content_encoding = p.contentEncoding
  if (p.expiryTimeUtc !== undefined) {
    const at = new Date(p.expiryTimeUtc)
    if (Number.isFinite(at.getTime())) m.absolute_expiry_time = at
  }
  const annotations: Record<string, unknown> = { ...o.annotations }
  if (p.interfaceId !== undefined) annotations['iothub-interface-id'] = p.interfaceId
  if (p.componentName !== undefined) annotations['dt-subject'] = p.componentName
  if (Object.keys(annotations).length > 0) m.message_annotations = annotations
  const app: Record<string, string> = { ...p.properties, ...o.applicationProperties }
  if (p.outputName !== undefined) app[OUTPUT_NAME_PROPERTY] = p.outputName
  if (Object.keys(app).length > 0) m.application_properties = app
  return m
}
