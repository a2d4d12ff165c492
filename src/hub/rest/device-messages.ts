/**
 * IoT Hub's device REST API carries a message's properties as HTTP headers, the way
 * azure-iot-device-http writes them and azure-iot-http-base reads them back: application
 * properties as `iothub-app-{name}`, system properties under names of their own
 * (`iothub-messageid`, `iothub-correlationid`, `iothub-contenttype`…), the component name as
 * `dt-subject`. A batch of events names each entry's properties the same way. This file is that
 * one table, both ways: what a device sent, and the headers of a C2D message it pulls.
 *
 * @module
 */
import type { MessageProperties, ReceivedMessageProperties } from '../../mqtt/property-bag.js'
import type { QueuedC2d } from '../state/registry.js'

/** The prefix of an application property's header. */
export const APP_PROPERTY_PREFIX = 'iothub-app-'

type SystemField = Exclude<keyof ReceivedMessageProperties, 'properties'>

/** The system properties a device may send, by header name (lower case). */
const SENT: ReadonlyMap<string, SystemField> = new Map<string, SystemField>([
  ['iothub-messageid', 'messageId'],
  ['iothub-correlationid', 'correlationId'],
  ['iothub-userid', 'userId'],
  ['iothub-to', 'to'],
  ['iothub-expiry', 'expiryTimeUtc'],
  ['iothub-contenttype', 'contentType'],
  ['iothub-contentencoding', 'contentEncoding'],
  ['iothub-interface-id', 'interfaceId'],
  ['iothub-creation-time-utc', 'creationTimeUtc'],
  ['dt-subject', 'componentName'],
])

/** The system properties of a C2D message, as the headers of its `GET …/deviceBound` answer. */
const DELIVERED: ReadonlyArray<readonly [string, Exclude<keyof MessageProperties, 'properties'>]> = [
  ['iothub-messageid', 'messageId'],
  ['iothub-to', 'to'],
  ['iothub-correlationid', 'correlationId'],
  ['iothub-userid', 'userId'],
  ['iothub-expiry', 'expiryTimeUtc'],
  ['iothub-contenttype', 'contentType'],
  ['iothub-contentencoding', 'contentEncoding'],
]

/**
 * A message's properties from its headers (or a batch entry's `properties`), in the order sent:
 * `iothub-app-{name}` is the application property `{name}` (the name as sent, case kept), a
 * system header its field; any other header is no property (`Authorization`, `User-Agent`…).
 */
export function propertiesFromHeaders(
  headers: Iterable<readonly [string, string]>,
): ReceivedMessageProperties {
  const properties: ReceivedMessageProperties = { properties: Object.create(null) }
  for (const [name, value] of headers) {
    const lower = name.toLowerCase()
    if (lower.startsWith(APP_PROPERTY_PREFIX) && lower.length > APP_PROPERTY_PREFIX.length) {
      properties.properties[name.slice(APP_PROPERTY_PREFIX.length)] = value
      continue
    }
    const field = SENT.get(lower)
    if (field !== undefined) properties[field] = value
  }
  return properties
}

/** The name and value pairs of Node's `rawHeaders` (names as sent). */
export function headerPairs(raw: readonly string[]): Array<readonly [string, string]> {
  const pairs: Array<readonly [string, string]> = []
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i] ?? '', raw[i + 1] ?? ''])
  return pairs
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Printable ASCII: what a header value carries the same for every client (no Latin-1 guess). */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/

/** `text` as a header carries it: as it is when it can, else the rest percent-encoded (UTF-8). */
function headerSafe(text: string, allowed: RegExp): string {
  if (allowed.test(text)) return text
  const encode = (c: string): string =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
  return [...text].map((c) => (allowed.test(c) && c !== '%' ? c : encode(c))).join('')
}

/**
 * The headers of a pulled C2D message: `ETag` (its lock token, quoted: the SDK strips the quotes),
 * its system properties, `iothub-deliverycount`, `iothub-enqueuedtime`, and each application
 * property as `iothub-app-{name}`. A name that is no header token, or a value that is not
 * printable ASCII, has those characters (and then `%`) percent-encoded as UTF-8.
 */
export function c2dHeaders(message: QueuedC2d, lockToken: string): Record<string, string> {
  const headers: Record<string, string> = { ETag: `"${lockToken}"` }
  for (const [header, field] of DELIVERED) {
    const value = message.properties[field]
    if (value !== undefined) {
      const text = value instanceof Date ? value.toISOString() : value
      headers[header] = headerSafe(text, FIELD_VALUE)
    }
  }
  headers['iothub-deliverycount'] = String(message.deliveryCount)
  headers['iothub-enqueuedtime'] = message.enqueuedTime
  for (const [name, value] of Object.entries(message.properties.properties ?? {}))
    headers[`${APP_PROPERTY_PREFIX}${headerSafe(name, TOKEN)}`] = headerSafe(value, FIELD_VALUE)
  return headers
}
