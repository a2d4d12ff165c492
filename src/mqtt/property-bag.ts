/**
 * The `{property_bag}` at the end of telemetry, C2D and module-input topics: encode what a
 * device sends, decode what the hub delivers.
 *
 * On the wire a bag is `name=value` pairs joined by `&`, each name and value percent-encoded
 * with `encodeURIComponent`. System properties use `$.`-prefixed names (so `$.mid` is sent as
 * `%24.mid`, as the Node, Python and C SDKs send it); everything else is an application
 * property.
 *
 * Outgoing order: `$.on $.mid $.cid $.uid $.to $.ct $.ce $.ifid $.exp $.sub`, then application
 * properties in the object's own enumeration order (JavaScript puts integer-like names such as
 * `"42"` first). Incoming bags decode with `decodeURIComponent`, so `+` stays `+`; a bare `key`
 * (no `=`) means null.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { readQuery } from '../query-string.js'

/**
 * What a device can say about a message it sends. Every field is optional; absent fields are
 * not sent.
 */
export interface MessageProperties {
  /** `$.on`: the module output the message leaves on (module telemetry only). */
  outputName?: string
  /** `$.mid`: the message id. */
  messageId?: string
  /** `$.cid`: the correlation id. */
  correlationId?: string
  /** `$.uid`: the user id. */
  userId?: string
  /** `$.to`: the destination. */
  to?: string
  /** `$.ct`: the body's content type, such as `application/json` (needed to route on the body). */
  contentType?: string
  /** `$.ce`: the body's content encoding, such as `utf-8` (needed to route on the body). */
  contentEncoding?: string
  /** `$.ifid`: the interface id, such as `urn:azureiot:Security:SecurityAgent:1`. */
  interfaceId?: string
  /** `$.exp`: the absolute expiry; a `Date` is sent as `toISOString()`. */
  expiryTimeUtc?: string | Date
  /** `$.sub`: the IoT Plug and Play component the telemetry belongs to. */
  componentName?: string
  /**
   * Application properties. Names starting with `$.` are the hub's system namespace and are
   * refused; use the fields above instead.
   */
  properties?: Record<string, string>
}

/**
 * A decoded incoming bag: the system properties under their {@link MessageProperties} names
 * (plus the ones only the hub sets), and the application properties.
 *
 * A system property the hub sends as a bare name (null) is left out. `expiryTimeUtc` and
 * `creationTimeUtc` stay strings exactly as sent: the hub uses 7 fractional digits, which
 * `Date` cannot hold.
 */
export interface ReceivedMessageProperties {
  /** `$.mid`: the message id. */
  messageId?: string
  /** `$.cid`: the correlation id. */
  correlationId?: string
  /** `$.uid`: the user id. */
  userId?: string
  /** `$.to`: the destination. */
  to?: string
  /** `$.ct`: the body's content type. */
  contentType?: string
  /** `$.ce`: the body's content encoding. */
  contentEncoding?: string
  /** `$.on`: the output name a module sent it on. */
  outputName?: string
  /** `$.ifid`: the interface id. */
  interfaceId?: string
  /** `$.exp`: when the message expires, as sent (ISO 8601). */
  expiryTimeUtc?: string
  /** `$.sub`: the IoT Plug and Play component name. */
  componentName?: string
  /** `$.ctime`: when the message was created. */
  creationTimeUtc?: string
  /** `$.cdid`: the device that sent the message (module-to-module routing). */
  connectionDeviceId?: string
  /** `$.cmid`: the module that sent the message (module-to-module routing). */
  connectionModuleId?: string
  /** `$.schema`: the message schema. */
  messageSchema?: string
  /**
   * Application properties in the order received, decoded; `null` for a bare name. Also holds
   * `$.`-names this library does not know, under the decoded name. The object has no
   * prototype, so a property named `__proto__` or `toString` is just a property.
   */
  properties: Record<string, string | null>
}

type OutgoingSystemField = Exclude<keyof MessageProperties, 'properties'>
type IncomingSystemField = Exclude<keyof ReceivedMessageProperties, 'properties'>

/** Outgoing system properties, in the order they are sent. */
const OUTGOING: ReadonlyArray<readonly [OutgoingSystemField, string]> = [
  ['outputName', '$.on'],
  ['messageId', '$.mid'],
  ['correlationId', '$.cid'],
  ['userId', '$.uid'],
  ['to', '$.to'],
  ['contentType', '$.ct'],
  ['contentEncoding', '$.ce'],
  ['interfaceId', '$.ifid'],
  ['expiryTimeUtc', '$.exp'],
  ['componentName', '$.sub'],
]

/** Every system property name the library maps, with its field. */
const INCOMING: ReadonlyMap<string, IncomingSystemField> = new Map<string, IncomingSystemField>([
  ...OUTGOING.map(([field, name]) => [name, field] as const),
  ['$.ctime', 'creationTimeUtc'],
  ['$.cdid', 'connectionDeviceId'],
  ['$.cmid', 'connectionModuleId'],
  ['$.schema', 'messageSchema'],
])

function encode(text: string, what: string): string {
  try {
    return encodeURIComponent(text)
  } catch (cause) {
    throw new SasTokenError(
      'ERR_INVALID_PROPERTY',
      `${what} contains a lone UTF-16 surrogate and cannot be encoded.`,
      { cause },
    )
  }
}

function systemValue(field: OutgoingSystemField, value: unknown): string {
  if (value instanceof Date) {
    if (field !== 'expiryTimeUtc' || Number.isNaN(value.getTime())) {
      throw new SasTokenError('ERR_INVALID_PROPERTY', `${field} must be a valid date or an ISO 8601 string.`)
    }
    return value.toISOString()
  }
  if (typeof value !== 'string' || value.length === 0) {
    throw new SasTokenError(
      'ERR_INVALID_PROPERTY',
      `${field} must be a non-empty string; leave it out to send none.`,
    )
  }
  return value
}

/**
 * Encodes message properties as a `{property_bag}`: system properties first, in the fixed order
 * `$.on $.mid $.cid $.uid $.to $.ct $.ce $.ifid $.exp $.sub`, then application properties.
 *
 * @example
 * ```ts
 * encodePropertyBag({ contentType: 'application/json', properties: { alert: 'on' } })
 * // '%24.ct=application%2Fjson&alert=on'
 * ```
 * @returns The bag; `''` when there is nothing to send.
 * @throws {SasTokenError} `ERR_PROPERTY_NAME_RESERVED` for an application property named
 *   `$.…` (the hub reads every such name as a system property); `ERR_INVALID_PROPERTY` for an
 *   empty name, a value that is not a string, an empty system value, an invalid date or a lone
 *   surrogate.
 */
export function encodePropertyBag(message: MessageProperties): string {
  const pairs: string[] = []
  for (const [field, name] of OUTGOING) {
    const value = message[field]
    if (value !== undefined) pairs.push(`${encode(name, name)}=${encode(systemValue(field, value), field)}`)
  }
  for (const [name, value] of Object.entries(message.properties ?? {})) {
    if (name.length === 0) {
      throw new SasTokenError('ERR_INVALID_PROPERTY', 'An application property has an empty name.')
    }
    if (name.startsWith('$.')) {
      const field = OUTGOING.find(([, system]) => system === name)?.[0]
      throw new SasTokenError(
        'ERR_PROPERTY_NAME_RESERVED',
        `Application property ${JSON.stringify(name)} is in the hub's system namespace ('$.'). ` +
          (field ? `Set it with the ${field} field instead.` : 'Rename it.'),
      )
    }
    if (typeof value !== 'string') {
      throw new SasTokenError(
        'ERR_INVALID_PROPERTY',
        `Application property ${JSON.stringify(name)} must have a string value.`,
      )
    }
    pairs.push(
      `${encode(name, `Property name ${JSON.stringify(name)}`)}=${encode(value, `Property ${JSON.stringify(name)}`)}`,
    )
  }
  return pairs.join('&')
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch (cause) {
    throw new SasTokenError(
      'ERR_TOPIC_MALFORMED',
      `The property bag has invalid percent-encoding in ${JSON.stringify(text)}.`,
      { cause },
    )
  }
}

/**
 * Decodes a `{property_bag}` the hub delivered (the part of a C2D or module-input topic after
 * the fixed levels, without a trailing `/`).
 *
 * Pairs split on `&`, then on the first `=`; names and values decode with
 * `decodeURIComponent` (`+` stays `+`). A bare `name` is null.
 *
 * @example
 * ```ts
 * decodePropertyBag('%24.mid=42&prop1&prop2=&prop3=a%20string')
 * // { messageId: '42', properties: { prop1: null, prop2: '', prop3: 'a string' } }
 * ```
 * @throws {SasTokenError} `ERR_TOPIC_MALFORMED` for invalid percent-encoding, an empty name
 *   (`&&`, `=x`, a trailing `&`) or a name given twice.
 */
export function decodePropertyBag(bag: string): ReceivedMessageProperties {
  const result: ReceivedMessageProperties = {
    properties: Object.create(null) as Record<string, string | null>,
  }
  if (bag.length === 0) return result
  const seen = new Set<string>()
  for (const pair of readQuery(bag)) {
    const name = decode(pair.name)
    const value = pair.value === undefined ? null : decode(pair.value)
    if (name.length === 0) {
      throw new SasTokenError(
        'ERR_TOPIC_MALFORMED',
        `The property bag has an empty property name in ${JSON.stringify(bag)}.`,
      )
    }
    if (seen.has(name)) {
      throw new SasTokenError('ERR_TOPIC_MALFORMED', `The property bag names ${JSON.stringify(name)} twice.`)
    }
    seen.add(name)
    const field = INCOMING.get(name)
    if (field === undefined) result.properties[name] = value
    else if (value !== null) result[field] = value
  }
  return result
}
