/**
 * Every MQTT topic a device uses with IoT Hub and DPS, in both directions, in one table: for
 * each kind, the builder and the parser share its fixed text.
 *
 * - What a device sends (telemetry, twin GET and reported PATCH, method responses, DPS register
 *   and poll): {@link telemetryTopic} and the other builders, parsed by {@link parseDeviceTopic}
 *   (what the hub does with them).
 * - What the hub or DPS sends a device (C2D, module inputs, twin responses, desired patches,
 *   method requests, DPS responses): {@link c2dTopic} and the other builders (what the hub
 *   does), parsed by {@link parseTopic} (what a device does with them).
 * - The filters a device subscribes to.
 *
 * Device and module ids are checked with the hub's rules and then inserted raw (the hub does
 * not decode them). Request ids (`$rid`) are opaque tokens that the device echoes, so they are
 * checked, not encoded: see {@link assertRequestId}. Query strings are read by the core's one
 * reader, {@link readQuery}.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { assertDeviceId } from '../identity.js'
import { readQuery } from '../query-string.js'
import { decodePropertyBag, encodePropertyBag } from './property-bag.js'
import type { MessageProperties, ReceivedMessageProperties } from './property-bag.js'

/** The longest topic MQTT can carry, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 65_535

/**
 * The fixed text every `$iothub` and `$dps` topic kind starts with: what its builder writes and
 * its parser looks for. (Telemetry, C2D and module inputs start with `devices/{d}/…`.)
 */
const TOPIC_PREFIXES = Object.freeze({
  twinGet: '$iothub/twin/GET/',
  twinReported: '$iothub/twin/PATCH/properties/reported/',
  twinResponse: '$iothub/twin/res/',
  desiredPatch: '$iothub/twin/PATCH/properties/desired/',
  methodRequest: '$iothub/methods/POST/',
  methodResponse: '$iothub/methods/res/',
  dpsRegister: '$dps/registrations/PUT/iotdps-register/',
  dpsPoll: '$dps/registrations/GET/iotdps-get-operationstatus/',
  dpsResponse: '$dps/registrations/res/',
})

/** A device, or a module when `moduleId` is given. */
export interface TopicIdentity {
  /** The device id, checked and used raw. */
  deviceId: string
  /** The module id, for a module's topics. */
  moduleId?: string
}

/** Subscribe to this for twin GET and reported-PATCH responses. */
export const TWIN_RESPONSES_FILTER = `${TOPIC_PREFIXES.twinResponse}#`
/** Subscribe to this for desired-property patches. */
export const DESIRED_PATCHES_FILTER = `${TOPIC_PREFIXES.desiredPatch}#`
/** Subscribe to this for direct-method requests. */
export const METHOD_REQUESTS_FILTER = `${TOPIC_PREFIXES.methodRequest}#`
/** Subscribe to this (on the DPS connection) for registration responses. */
export const DPS_RESPONSES_FILTER = `${TOPIC_PREFIXES.dpsResponse}#`

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

function checkStatus(status: number, what: string, example: number): number {
  if (!Number.isSafeInteger(status) || status < 0) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `${what} ${String(status)} is not valid: use a non-negative integer such as ${example}.`,
    )
  }
  return status
}

function checkVersion(version: number, what: string): number {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new SasTokenError('ERR_INVALID_OPTION', `${what} ${String(version)} is not a non-negative integer.`)
  }
  return version
}

function percentEncoded(text: string, what: string, hint = ''): string {
  if (typeof text !== 'string' || text.length === 0) {
    throw new SasTokenError('ERR_INVALID_OPTION', `${what} is empty${hint}.`)
  }
  try {
    return encodeURIComponent(text)
  } catch (cause) {
    throw new SasTokenError('ERR_INVALID_OPTION', `${what} contains a lone UTF-16 surrogate.`, { cause })
  }
}

// ---------------------------------------------------------------------------------------------
// What a device sends

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
 * The topic that asks for the whole twin. The answer comes on {@link TWIN_RESPONSES_FILTER}.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid`.
 */
export function twinGetTopic(o: { rid: string }): string {
  return `${TOPIC_PREFIXES.twinGet}?$rid=${assertRequestId(o.rid)}`
}

/**
 * The topic that patches reported properties (the body is the JSON patch). The answer, with the
 * new version, comes on {@link TWIN_RESPONSES_FILTER}.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid`.
 */
export function twinReportedTopic(o: { rid: string }): string {
  return `${TOPIC_PREFIXES.twinReported}?$rid=${assertRequestId(o.rid)}`
}

/**
 * The topic that answers a direct-method request; `rid` is the one from the request.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a status that is not a non-negative integer
 *   or a bad `rid`.
 */
export function methodResponseTopic(o: { status: number; rid: string }): string {
  const status = checkStatus(o.status, 'Method status', 200)
  return `${TOPIC_PREFIXES.methodResponse}${status}/?$rid=${assertRequestId(o.rid)}`
}

/**
 * The DPS topic that starts a registration (the body is `{"registrationId":"…"}`).
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid`.
 */
export function dpsRegisterTopic(o: { rid: string }): string {
  return `${TOPIC_PREFIXES.dpsRegister}?$rid=${assertRequestId(o.rid)}`
}

/**
 * The DPS topic that polls a registration. `operationId` comes from the body of the 202
 * answer; it is percent-encoded as a query value.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad `rid` or an empty `operationId`.
 */
export function dpsPollTopic(o: { rid: string; operationId: string }): string {
  const rid = assertRequestId(o.rid)
  const operationId = percentEncoded(
    o.operationId,
    'operationId',
    ': take it from the body of the 202 response',
  )
  return checkLength(`${TOPIC_PREFIXES.dpsPoll}?$rid=${rid}&operationId=${operationId}`)
}

// ---------------------------------------------------------------------------------------------
// What a device subscribes to

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

/** What a device's subscription filter is for: C2D (a module: its inputs), methods, twin answers or desired patches. */
export type FilterKind = 'messages' | 'methods' | 'twin-responses' | 'desired'

/**
 * What a filter a device or module subscribes to is for, or `undefined` when IoT Hub does not
 * support it for that identity (another identity's topic, a wildcard, an undocumented topic).
 * A module's inputs may also be subscribed as `devices/{d}/modules/{m}/#`, as the C SDK does.
 *
 * @example
 * ```ts
 * filterKind('$iothub/methods/POST/#', { deviceId: 'dev1' }) // 'methods'
 * ```
 */
export function filterKind(filter: string, id: TopicIdentity): FilterKind | undefined {
  if (filter === METHOD_REQUESTS_FILTER) return 'methods'
  if (filter === TWIN_RESPONSES_FILTER) return 'twin-responses'
  if (filter === DESIRED_PATCHES_FILTER) return 'desired'
  try {
    if (id.moduleId === undefined) return filter === c2dFilter(id) ? 'messages' : undefined
    const inputs = moduleInputsFilter({ deviceId: id.deviceId, moduleId: id.moduleId })
    return filter === inputs || filter === `${identityPath(id)}/#` ? 'messages' : undefined
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// What the hub or DPS sends a device

/**
 * The topic a cloud-to-device message reaches a device on, with the message's property bag.
 *
 * @example
 * ```ts
 * c2dTopic({ deviceId: 'dev1' }, { messageId: '7' }) // 'devices/dev1/messages/devicebound/%24.mid=7'
 * ```
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`; `ERR_INVALID_PROPERTY` and
 *   `ERR_PROPERTY_NAME_RESERVED` from {@link encodePropertyBag}; `ERR_TOPIC_TOO_LONG`.
 */
export function c2dTopic(id: { deviceId: string }, message: MessageProperties = {}): string {
  const device = assertDeviceId(id.deviceId, 'deviceId')
  return checkLength(`devices/${device}/messages/devicebound/${encodePropertyBag(message)}`)
}

/**
 * The topic a message routed to a module input reaches the module on. The input name is
 * percent-encoded (as {@link parseTopic} decodes it).
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`; `ERR_INVALID_OPTION` for an empty input
 *   name; `ERR_INVALID_PROPERTY` and `ERR_PROPERTY_NAME_RESERVED` from
 *   {@link encodePropertyBag}; `ERR_TOPIC_TOO_LONG`.
 */
export function moduleInputTopic(
  id: { deviceId: string; moduleId: string; inputName: string },
  message: MessageProperties = {},
): string {
  const input = percentEncoded(id.inputName, 'The input name')
  return checkLength(`${identityPath(id)}/inputs/${input}/${encodePropertyBag(message)}`)
}

/**
 * The topic that answers a twin GET (200) or a reported PATCH (204 with the new `version`), or
 * refuses either (4xx, 5xx).
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad status, version or `rid`.
 */
export function twinResponseTopic(o: { status: number; rid: string; version?: number }): string {
  const status = checkStatus(o.status, 'Twin status', 200)
  const version = o.version === undefined ? '' : `&$version=${checkVersion(o.version, 'The twin version')}`
  return `${TOPIC_PREFIXES.twinResponse}${status}/?$rid=${assertRequestId(o.rid)}${version}`
}

/**
 * The topic a desired-property patch reaches a device on; `version` is the desired properties'
 * version after the patch.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a version that is not a non-negative integer.
 */
export function desiredPatchTopic(o: { version: number }): string {
  return `${TOPIC_PREFIXES.desiredPatch}?$version=${checkVersion(o.version, 'The desired version')}`
}

/**
 * The topic a direct-method request reaches a device on. The method name goes in raw, as IoT
 * Hub sends it (the Node SDK reads the level without decoding), so it may not hold a level
 * separator, a wildcard, `?` or whitespace.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for such a method name or a bad `rid`.
 */
export function methodRequestTopic(o: { method: string; rid: string }): string {
  if (typeof o.method !== 'string' || o.method === '' || /[/#+?\s]/.test(o.method)) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `Method name ${JSON.stringify(String(o.method))} is not valid: use a non-empty name without / # + ? or whitespace.`,
    )
  }
  return checkLength(`${TOPIC_PREFIXES.methodRequest}${o.method}/?$rid=${assertRequestId(o.rid)}`)
}

/**
 * The topic DPS answers a register or poll on: 202 with `retryAfter` seconds while it works,
 * 200 when done, 4xx/5xx when refused.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for a bad status, `retryAfter` or `rid`.
 */
export function dpsResponseTopic(o: { status: number; rid: string; retryAfter?: number }): string {
  const status = checkStatus(o.status, 'DPS status', 202)
  const retry = o.retryAfter === undefined ? '' : `&retry-after=${checkVersion(o.retryAfter, 'retry-after')}`
  return `${TOPIC_PREFIXES.dpsResponse}${status}/?$rid=${assertRequestId(o.rid)}${retry}`
}

// ---------------------------------------------------------------------------------------------
// Parsers

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

/** A device's or module's telemetry (or Will), with its decoded property bag. */
export type TelemetryTopic = {
  /** Telemetry. */
  type: 'telemetry'
  /** The device that sent it, as written in the topic. */
  deviceId: string
  /** The module that sent it, for module telemetry. */
  moduleId?: string
} & ReceivedMessageProperties
/** A request that carries only a request id: twin GET, reported PATCH, DPS register. */
export type DeviceRequestTopic = {
  /** Which request. */
  type: 'twin-get' | 'twin-reported' | 'dps-register'
  /** The request id to echo in the answer. */
  rid: string
}
/** A device's answer to a direct-method request. */
export type MethodResponseTopic = {
  /** A method response. */
  type: 'method-response'
  /** The status the device's method returned. */
  status: number
  /** The request id of the request it answers. */
  rid: string
}
/** A DPS poll for the state of a registration. */
export type DpsPollTopic = {
  /** A DPS poll. */
  type: 'dps-poll'
  /** The request id to echo in the answer. */
  rid: string
  /** The operation id from the 202 answer, decoded. */
  operationId: string
}

/** Everything a device sends the hub or DPS, discriminated on `type`. */
export type OutgoingTopic = TelemetryTopic | DeviceRequestTopic | MethodResponseTopic | DpsPollTopic

function malformed(topic: string, why: string): SasTokenError {
  return new SasTokenError('ERR_TOPIC_MALFORMED', `Topic ${JSON.stringify(topic)} is malformed: ${why}.`)
}

/** One decoded level (method or input name) or query value. */
function decoded(topic: string, text: string | undefined, what: string): string {
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

const NUMBER = /^(?:0|[1-9][0-9]{0,14})$/
const STATUS = /^[1-5][0-9]{2}$/
const METHOD_STATUS = /^[0-9]{1,9}$/

function integer(topic: string, text: string | undefined, what: string, pattern = NUMBER): number {
  if (text === undefined || !pattern.test(text))
    throw malformed(topic, `${what} ${JSON.stringify(text ?? '')} is not a valid number`)
  return Number(text)
}

/** The bag after a fixed prefix: `''`, `/`, `/bag` or `/bag/`. */
function bagAfter(topic: string, rest: string): ReceivedMessageProperties {
  if (rest !== '' && !rest.startsWith('/')) throw malformed(topic, 'unexpected text after the fixed levels')
  const bag = rest.endsWith('/') ? rest.slice(1, -1) : rest.slice(1)
  if (bag.includes('/')) throw malformed(topic, "the property bag contains a raw '/'")
  return decodePropertyBag(bag)
}

/** A `devices/{d}[/modules/{m}]/…` topic's levels, with the ids checked non-empty. */
function deviceLevels(topic: string): { levels: string[]; deviceId: string } {
  const levels = topic.split('/')
  const deviceId = levels[1]
  if (deviceId === undefined || deviceId.length === 0) throw malformed(topic, 'the device id is empty')
  return { levels, deviceId }
}

function moduleIdOf(topic: string, levels: string[]): string {
  const moduleId = levels[3]
  if (moduleId === undefined || moduleId.length === 0) throw malformed(topic, 'the module id is empty')
  return moduleId
}

/**
 * Splits `{prefix}{levels}/?{query}` into the levels between and the query's fields. Empty
 * fields are skipped and a bare `name` has the value `''`; a name given twice is malformed.
 */
function request(topic: string, prefix: string): { levels: string[]; query: Map<string, string> } {
  const q = topic.indexOf('/?', prefix.length - 1)
  if (q === -1) throw malformed(topic, "it has no '/?' query")
  const between = topic.slice(prefix.length, q)
  const query = new Map<string, string>()
  for (const { name, value } of readQuery(topic.slice(q + 2))) {
    if (name === '' && value === undefined) continue
    if (query.has(name)) throw malformed(topic, `the query names ${name} twice`)
    query.set(name, value ?? '')
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

/** The levels of a request topic, which must number `count`. */
function levelsOf(topic: string, prefix: string, count: number, shape: string) {
  const parts = request(topic, prefix)
  if (parts.levels.length !== count) throw malformed(topic, `expected ${shape}`)
  return parts
}

function unknown(topic: string, sender: 'device' | 'hub'): SasTokenError {
  return new SasTokenError(
    'ERR_TOPIC_UNKNOWN',
    sender === 'hub'
      ? `Topic ${JSON.stringify(topic)} is not one IoT Hub or DPS sends to a device (C2D, module input, twin, desired patch, method or DPS response).`
      : `Topic ${JSON.stringify(topic)} is not one a device sends to IoT Hub or DPS (telemetry, twin GET or reported PATCH, method response, DPS register or poll).`,
  )
}

function incomingDeviceTopic(topic: string): IncomingTopic {
  const { levels, deviceId } = deviceLevels(topic)
  if (levels[2] === 'messages' && levels[3] === 'devicebound') {
    const rest = topic.slice(`devices/${deviceId}/messages/devicebound`.length)
    return { type: 'c2d', deviceId, ...bagAfter(topic, rest) }
  }
  if (levels[2] === 'modules' && levels[4] === 'inputs') {
    const moduleId = moduleIdOf(topic, levels)
    const inputName = decoded(topic, levels[5], 'input name')
    const rest = topic.slice(`devices/${deviceId}/modules/${moduleId}/inputs/${levels[5]}`.length)
    return { type: 'module-input', deviceId, moduleId, inputName, ...bagAfter(topic, rest) }
  }
  throw unknown(topic, 'hub')
}

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
 * @throws {SasTokenError} `ERR_TOPIC_UNKNOWN` for a topic that is not one the hub or DPS sends
 *   (a topic a device sends is {@link parseDeviceTopic}'s); `ERR_TOPIC_MALFORMED` for a known
 *   kind with missing, duplicate or invalid parts.
 */
export function parseTopic(topic: string): IncomingTopic {
  if (typeof topic !== 'string') throw unknown(String(topic), 'hub')
  const p = TOPIC_PREFIXES
  if (topic.startsWith('devices/')) return incomingDeviceTopic(topic)
  if (topic.startsWith(p.twinResponse)) {
    const { levels, query } = levelsOf(topic, p.twinResponse, 1, '$iothub/twin/res/{status}/?$rid={rid}')
    const result: TwinResponseTopic = {
      type: 'twin-response',
      status: integer(topic, levels[0], 'status', STATUS),
      rid: rid(topic, query),
    }
    const version = query.get('$version')
    if (version !== undefined) result.version = integer(topic, version, '$version')
    return result
  }
  if (topic.startsWith(p.desiredPatch)) {
    const { query } = levelsOf(
      topic,
      p.desiredPatch,
      0,
      '$iothub/twin/PATCH/properties/desired/?$version={version}',
    )
    return { type: 'desired-patch', version: integer(topic, query.get('$version'), '$version') }
  }
  if (topic.startsWith(p.methodRequest)) {
    const { levels, query } = levelsOf(topic, p.methodRequest, 1, '$iothub/methods/POST/{method}/?$rid={rid}')
    return {
      type: 'method-request',
      method: decoded(topic, levels[0], 'method name'),
      rid: rid(topic, query),
    }
  }
  if (topic.startsWith(p.dpsResponse)) {
    const { levels, query } = levelsOf(topic, p.dpsResponse, 1, '$dps/registrations/res/{status}/?$rid={rid}')
    const result: DpsResponseTopic = {
      type: 'dps-response',
      status: integer(topic, levels[0], 'status', STATUS),
      rid: rid(topic, query),
    }
    const retryAfter = query.get('retry-after')
    if (retryAfter !== undefined) result.retryAfter = integer(topic, retryAfter, 'retry-after')
    return result
  }
  throw unknown(topic, 'hub')
}

const DEVICES = 'devices/'
const MODULES = 'modules/'
const EVENTS = 'messages/events'

/** `devices/{d}[/modules/{m}]/messages/events[/{bag}[/]]`, read by position (it is the hot path). */
function telemetry(topic: string): TelemetryTopic {
  const deviceEnd = topic.indexOf('/', DEVICES.length)
  if (deviceEnd === -1) throw unknown(topic, 'device')
  const deviceId = topic.slice(DEVICES.length, deviceEnd)
  if (deviceId === '') throw malformed(topic, 'the device id is empty')
  let at = deviceEnd + 1
  let moduleId: string | undefined
  if (topic.startsWith(MODULES, at)) {
    const moduleEnd = topic.indexOf('/', at + MODULES.length)
    if (moduleEnd === -1) throw unknown(topic, 'device')
    moduleId = topic.slice(at + MODULES.length, moduleEnd)
    if (moduleId === '') throw malformed(topic, 'the module id is empty')
    at = moduleEnd + 1
  }
  const rest = at + EVENTS.length
  if (!topic.startsWith(EVENTS, at) || (rest < topic.length && topic[rest] !== '/'))
    throw unknown(topic, 'device')
  const bag = bagAfter(topic, topic.slice(rest))
  return moduleId === undefined
    ? { type: 'telemetry', deviceId, ...bag }
    : { type: 'telemetry', deviceId, moduleId, ...bag }
}

/**
 * Parses any topic a device publishes to IoT Hub or DPS into a typed value, discriminated on
 * `type`: what the hub does with it. The inverse of {@link telemetryTopic},
 * {@link twinGetTopic}, {@link twinReportedTopic}, {@link methodResponseTopic},
 * {@link dpsRegisterTopic} and {@link dpsPollTopic}.
 *
 * Ids are returned as written (the hub then checks them against the connection's identity);
 * the property bag and the operation id are percent-decoded. Query fields this library does
 * not know are ignored.
 *
 * @example
 * ```ts
 * parseDeviceTopic('$iothub/twin/GET/?$rid=4') // { type: 'twin-get', rid: '4' }
 * ```
 * @throws {SasTokenError} `ERR_TOPIC_UNKNOWN` for a topic that is not one a device sends (a
 *   topic the hub sends is {@link parseTopic}'s); `ERR_TOPIC_MALFORMED` for a known kind with
 *   missing, duplicate or invalid parts.
 */
export function parseDeviceTopic(topic: string): OutgoingTopic {
  if (typeof topic !== 'string') throw unknown(String(topic), 'device')
  const p = TOPIC_PREFIXES
  if (topic.startsWith('devices/')) return telemetry(topic)
  for (const [prefix, type] of [
    [p.twinGet, 'twin-get'],
    [p.twinReported, 'twin-reported'],
    [p.dpsRegister, 'dps-register'],
  ] as const) {
    if (topic.startsWith(prefix))
      return { type, rid: rid(topic, levelsOf(topic, prefix, 0, `${prefix}?$rid={rid}`).query) }
  }
  if (topic.startsWith(p.methodResponse)) {
    const { levels, query } = levelsOf(topic, p.methodResponse, 1, '$iothub/methods/res/{status}/?$rid={rid}')
    return {
      type: 'method-response',
      status: integer(topic, levels[0], 'status', METHOD_STATUS),
      rid: rid(topic, query),
    }
  }
  if (topic.startsWith(p.dpsPoll)) {
    const { query } = levelsOf(topic, p.dpsPoll, 0, `${p.dpsPoll}?$rid={rid}&operationId={id}`)
    return {
      type: 'dps-poll',
      rid: rid(topic, query),
      operationId: decoded(topic, query.get('operationId'), 'operationId'),
    }
  }
  throw unknown(topic, 'device')
}
