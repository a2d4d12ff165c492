/**
 * Every MQTT topic a device uses with IoT Hub and DPS: builders for what it publishes, the
 * filters it subscribes to, and {@link parseTopic} for everything the hub or DPS sends.
 *
 * Device and module ids are checked with the hub's rules and then inserted raw (the hub does
 * not decode them). Request ids (`$rid`) are opaque tokens that the device echoes, so they are
 * checked, not encoded: see {@link assertRequestId}.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { assertDeviceId } from '../identity.js'
import { decodePropertyBag, encodePropertyBag } from './property-bag.js'
import type { MessageProperties, ReceivedMessageProperties } from './property-bag.js'

/** The longest topic MQTT can carry, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 65_535

/** A device, or a module when `moduleId` is given. */
export interface TopicIdentity {
  /** The device id, checked and used raw. */
  deviceId: string
  /** The module id, for a module's topics. */
  moduleId?: string
}

/** Subscribe to this for twin GET and reported-PATCH responses. */
export const TWIN_RESPONSES_FILTER = '$iothub/twin/res/#'
/** Subscribe to this for desired-property patches. */
export const DESIRED_PATCHES_FILTER = '$iothub/twin/PATCH/properties/desired/#'
/** Subscribe to this for direct-method requests. */
export const METHOD_REQUESTS_FILTER = '$iothub/methods/POST/#'
/** Subscribe to this (on the DPS connection) for registration responses. */
export const DPS_RESPONSES_FILTER = '$dps/registrations/res/#'

const REQUEST_ID = /^[A-Za-z0-9\-._~:@!$'()*,;]+$/

/**
 * Checks a request id (`$rid`): one or more ASCII letters, digits or `- . _ ~ : @ ! $ ' ( ) * , ;`.
 * A UUID or a counter fits. `& = + ? # / %` and spaces are refused rather than encoded, so the
 * id the device sends is exactly the id the hub echoes back.
 *
 * @returns The id, unchanged.
 * @throws {SasTokenError} `ERR_INVALID_OPTION`.
 */
export function assertRequestId(rid: string): string {
  if (typeof rid !== 'string' || !REQUEST_ID.test(rid)) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `Request id ${JSON.stringify(String(rid))} is not valid: use letters, digits and - . _ ~ : @ ! $ ' ( ) * , ; (a UUID or a counter).`,
    )
  }
  return rid
}

function checkLength(topic: string): string {
  const bytes = Buffer.byteLength(topic, 'utf8')
  if (bytes > MAX_TOPIC_BYTES) {
    throw new SasTokenError(
      'ERR_TOPIC_TOO_LONG',
      `The topic is ${bytes} UTF-8 bytes; MQTT allows at most ${MAX_TOPIC_BYTES}. Send fewer or shorter properties.`,
    )
  }
  return topic
}

function identityPath(id: TopicIdentity): string {
  const device = `devices/${assertDeviceId(id.deviceId, 'deviceId')}`
  return id.moduleId === undefined ? device : `${device}/modules/${assertDeviceId(id.moduleId, 'moduleId')}`
}

/**
 * The telemetry topic of a device or module, with the message's property bag. It is also the
 * topic to give as the MQTT Will topic.
 *
 * @example
 * ```ts
 * telemetryTopic({ deviceId: 'dev1' }, { messageId: '42', properties: { alert: 'on' } })
 * // 'devices/dev1/messages/events/%24.mid=42&alert=on'
 * ```
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER` for a bad id; `ERR_INVALID_OPTION` for
 *   `outputName` without `moduleId` (outputs belong to modules); `ERR_PROPERTY_NAME_RESERVED`
 *   and `ERR_INVALID_PROPERTY` from {@link encodePropertyBag}; `ERR_TOPIC_TOO_LONG`.
 */
export function telemetryTopic(id: TopicIdentity, message: MessageProperties = {}): string {
  if (message.outputName !== undefined && id.moduleId === undefined) {
    throw new SasTokenError('ERR_INVALID_OPTION', 'outputName routes a module output: give moduleId too.')
  }
  return checkLength(`${identityPath(id)}/messages/events/${encodePropertyBag(message)}`)
}

/**
 * The filter a device subscribes to for cloud-to-device messages.
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`.
 */
export function c2dFilter(id: { deviceId: string }): string {
  return `devices/${assertDeviceId(id.deviceId, 'deviceId')}/messages/devicebound/#`
}

/**
 * The filter a module subscribes to for messages routed to its inputs.
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`.
 */
export function moduleInputsFilter(id: { deviceId: string; moduleId: string }): string {
  return `${identityPath(id)}/inputs/#`
}

/**
 * The filters a device or module subscribes to for everything the hub may send it: C2D messages
 * (a module: its inputs), direct methods, twin responses and desired-property patches.
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`.
 */
export function deviceSubscriptions(id: TopicIdentity): string[] {
  const messages =
    id.moduleId === undefined
      ? c2dFilter(id)
      : moduleInputsFilter({ deviceId: id.deviceId, moduleId: id.moduleId })
  return [messages, METHOD_REQUESTS_FILTER, TWIN_RESPONSES_FILTER, DESIRED_PATCHES_FILTER]
}

/**
 * The topic that asks for the whole twin. The answer comes on {@link TWIN_RESPONSES_FILTER}.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid`.
 */
export function twinGetTopic(o: { rid: string }): string {
  return `$iothub/twin/GET/?$rid=${assertRequestId(o.rid)}`
}

/**
 * The topic that patches reported properties (the body is the JSON patch). The answer, with the
 * new version, comes on {@link TWIN_RESPONSES_FILTER}.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid`.
 */
export function twinReportedTopic(o: { rid: string }): string {
  return `$iothub/twin/PATCH/properties/reported/?$rid=${assertRequestId(o.rid)}`
}

/**
 * The topic that answers a direct-method request; `rid` is the one from the request.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a status that is not a non-negative integer
 *   or a bad `rid`.
 */
export function methodResponseTopic(o: { status: number; rid: string }): string {
  if (!Number.isSafeInteger(o.status) || o.status < 0) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `Method status ${String(o.status)} is not valid: use a non-negative integer such as 200.`,
    )
  }
  return `$iothub/methods/res/${o.status}/?$rid=${assertRequestId(o.rid)}`
}

/**
 * The DPS topic that starts a registration (the body is `{"registrationId":"…"}`).
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid`.
 */
export function dpsRegisterTopic(o: { rid: string }): string {
  return `$dps/registrations/PUT/iotdps-register/?$rid=${assertRequestId(o.rid)}`
}

/**
 * The DPS topic that polls a registration. `operationId` comes from the body of the 202
 * answer; it is percent-encoded as a query value.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid` or an empty `operationId`.
 */
export function dpsPollTopic(o: { rid: string; operationId: string }): string {
  if (typeof o.operationId !== 'string' || o.operationId.length === 0) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'operationId is empty: take it from the body of the 202 response.',
    )
  }
  let operationId: string
  try {
    operationId = encodeURIComponent(o.operationId)
  } catch (cause) {
    throw new SasTokenError('ERR_INVALID_OPTION', 'operationId contains a lone UTF-16 surrogate.', { cause })
  }
  return checkLength(
    `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${assertRequestId(o.rid)}&operationId=${operationId}`,
  )
}

/** A cloud-to-device message. */
export type C2dTopic = {
  /** A cloud-to-device message. */
  type: 'c2d'
  /** The device it is for. */
  deviceId: string
} & ReceivedMessageProperties
/** A message routed to a module input. */
export type ModuleInputTopic = {
  /** A message routed to a module input. */
  type: 'module-input'
  /** The device the module runs on. */
  deviceId: string
  /** The module it is for. */
  moduleId: string
  /** The input it arrived on, decoded. */
  inputName: string
} & ReceivedMessageProperties
/** The answer to a twin GET (status 200) or a reported PATCH (204, with the new `version`). */
export type TwinResponseTopic = {
  /** A twin response. */
  type: 'twin-response'
  /** The HTTP-like status: 200 for a GET, 204 for a reported PATCH, 4xx/5xx for a failure. */
  status: number
  /** The request id the device sent. */
  rid: string
  /** The reported properties' new version, after a PATCH. */
  version?: number
}
/** A desired-property patch; the body is the patch. */
export type DesiredPatchTopic = {
  /** A desired-property patch. */
  type: 'desired-patch'
  /** The desired properties' version after the patch. */
  version: number
}
/** A direct-method request; answer it with {@link methodResponseTopic} and the same `rid`. */
export type MethodRequestTopic = {
  /** A direct-method request. */
  type: 'method-request'
  /** The method name, decoded. */
  method: string
  /** The request id to answer with. */
  rid: string
}
/** A DPS answer: 202 means poll again after `retryAfter` seconds, 200 means done. */
export type DpsResponseTopic = {
  /** A DPS response. */
  type: 'dps-response'
  /** 202 (in progress: poll), 200 (done), 4xx/5xx (refused). */
  status: number
  /** The request id the device sent. */
  rid: string
  /** Seconds to wait before polling again (`retry-after`). */
  retryAfter?: number
}

/** Everything the hub or DPS sends a device, discriminated on `type`. */
export type IncomingTopic =
  | C2dTopic
  | ModuleInputTopic
  | TwinResponseTopic
  | DesiredPatchTopic
  | MethodRequestTopic
  | DpsResponseTopic

function malformed(topic: string, why: string): SasTokenError {
  return new SasTokenError('ERR_TOPIC_MALFORMED', `Topic ${JSON.stringify(topic)} is malformed: ${why}.`)
}

/** One decoded level (method or input name). */
function level(topic: string, text: string | undefined, what: string): string {
  if (text === undefined || text.length === 0) throw malformed(topic, `the ${what} is empty`)
  try {
    return decodeURIComponent(text)
  } catch (cause) {
    throw new SasTokenError(
      'ERR_TOPIC_MALFORMED',
      `Topic ${JSON.stringify(topic)} has invalid percent-encoding in the ${what}.`,
      { cause },
    )
  }
}

function integer(
  topic: string,
  text: string | undefined,
  what: string,
  pattern = /^(?:0|[1-9][0-9]{0,14})$/,
): number {
  if (text === undefined || !pattern.test(text))
    throw malformed(topic, `${what} ${JSON.stringify(text ?? '')} is not a valid number`)
  return Number(text)
}

const STATUS = /^[1-5][0-9]{2}$/

/** The bag after a fixed prefix: `''`, `/`, `/bag` or `/bag/`. */
function bagAfter(topic: string, rest: string): ReceivedMessageProperties {
  if (rest !== '' && !rest.startsWith('/')) throw malformed(topic, 'unexpected text after the fixed levels')
  const bag = rest.slice(1).replace(/\/$/, '')
  if (bag.includes('/')) throw malformed(topic, "the property bag contains a raw '/'")
  return decodePropertyBag(bag)
}

function deviceTopic(topic: string): IncomingTopic {
  const levels = topic.split('/')
  const deviceId = levels[1]
  if (deviceId === undefined || deviceId.length === 0) throw malformed(topic, 'the device id is empty')
  if (levels[2] === 'messages' && levels[3] === 'devicebound') {
    const rest = topic.slice(`devices/${deviceId}/messages/devicebound`.length)
    return { type: 'c2d', deviceId, ...bagAfter(topic, rest) }
  }
  if (levels[2] === 'modules' && levels[4] === 'inputs') {
    const moduleId = levels[3]
    if (moduleId === undefined || moduleId.length === 0) throw malformed(topic, 'the module id is empty')
    const inputName = level(topic, levels[5], 'input name')
    const rest = topic.slice(`devices/${deviceId}/modules/${moduleId}/inputs/${levels[5]}`.length)
    return { type: 'module-input', deviceId, moduleId, inputName, ...bagAfter(topic, rest) }
  }
  throw unknown(topic)
}

/** Splits `path/?a=1&b=2` after `prefix` into the levels between and the query pairs. */
function request(topic: string, prefix: string): { levels: string[]; query: Map<string, string> } {
  const q = topic.indexOf('/?')
  if (q < prefix.length - 1) throw malformed(topic, "it has no '/?' query")
  const between = topic.slice(prefix.length, q)
  const query = new Map<string, string>()
  for (const pair of topic.slice(q + 2).split('&')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw malformed(topic, `query field ${JSON.stringify(pair)} is not name=value`)
    const name = pair.slice(0, eq)
    if (query.has(name)) throw malformed(topic, `the query names ${name} twice`)
    query.set(name, pair.slice(eq + 1))
  }
  return { levels: between === '' ? [] : between.split('/'), query }
}

function rid(topic: string, query: Map<string, string>): string {
  const value = query.get('$rid')
  if (value === undefined) throw malformed(topic, 'it has no $rid')
  if (!REQUEST_ID.test(value))
    throw malformed(topic, `$rid ${JSON.stringify(value)} is not a valid request id`)
  return value
}

function unknown(topic: string): SasTokenError {
  return new SasTokenError(
    'ERR_TOPIC_UNKNOWN',
    `Topic ${JSON.stringify(topic)} is not one IoT Hub or DPS sends to a device (C2D, module input, twin, desired patch, method or DPS response).`,
  )
}

const TWIN_RESPONSE = '$iothub/twin/res/'
const DESIRED_PATCH = '$iothub/twin/PATCH/properties/desired/'
const METHOD_REQUEST = '$iothub/methods/POST/'
const DPS_RESPONSE = '$dps/registrations/res/'

/**
 * Parses any topic IoT Hub or DPS publishes to a device into a typed value, discriminated on
 * `type`. Optional fields are absent (never `undefined`) when the topic does not carry them.
 *
 * Device and module ids are returned as sent (the hub is the authority on its ids, and older
 * hubs allowed `+` and `#`). Method and input names and property bags are percent-decoded;
 * request ids are returned raw, ready to echo. Query fields this library does not know are
 * ignored, so a hub that adds one does not break a device.
 *
 * @example
 * ```ts
 * const t = parseTopic('$iothub/methods/POST/reboot/?$rid=7')
 * if (t.type === 'method-request') publish(methodResponseTopic({ status: 200, rid: t.rid }), '{}')
 * ```
 * @throws {SasTokenError} `ERR_TOPIC_UNKNOWN` for a topic that is not one the hub or DPS sends;
 *   `ERR_TOPIC_MALFORMED` for a known kind with missing, duplicate or invalid parts.
 */
export function parseTopic(topic: string): IncomingTopic {
  if (typeof topic !== 'string') throw unknown(String(topic))
  if (topic.startsWith('devices/')) return deviceTopic(topic)
  if (topic.startsWith(TWIN_RESPONSE)) {
    const { levels, query } = request(topic, TWIN_RESPONSE)
    if (levels.length !== 1) throw malformed(topic, 'expected $iothub/twin/res/{status}/?$rid={rid}')
    const result: TwinResponseTopic = {
      type: 'twin-response',
      status: integer(topic, levels[0], 'status', STATUS),
      rid: rid(topic, query),
    }
    const version = query.get('$version')
    if (version !== undefined) result.version = integer(topic, version, '$version')
    return result
  }
  if (topic.startsWith(DESIRED_PATCH)) {
    const { levels, query } = request(topic, DESIRED_PATCH)
    if (levels.length !== 0)
      throw malformed(topic, 'expected $iothub/twin/PATCH/properties/desired/?$version={version}')
    return { type: 'desired-patch', version: integer(topic, query.get('$version'), '$version') }
  }
  if (topic.startsWith(METHOD_REQUEST)) {
    const { levels, query } = request(topic, METHOD_REQUEST)
    if (levels.length !== 1) throw malformed(topic, 'expected $iothub/methods/POST/{method}/?$rid={rid}')
    return { type: 'method-request', method: level(topic, levels[0], 'method name'), rid: rid(topic, query) }
  }
  if (topic.startsWith(DPS_RESPONSE)) {
    const { levels, query } = request(topic, DPS_RESPONSE)
    if (levels.length !== 1) throw malformed(topic, 'expected $dps/registrations/res/{status}/?$rid={rid}')
    const result: DpsResponseTopic = {
      type: 'dps-response',
      status: integer(topic, levels[0], 'status', STATUS),
      rid: rid(topic, query),
    }
    const retryAfter = query.get('retry-after')
    if (retryAfter !== undefined) result.retryAfter = integer(topic, retryAfter, 'retry-after')
    return result
  }
  throw unknown(topic)
}
