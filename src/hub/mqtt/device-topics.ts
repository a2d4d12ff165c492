/**
 * The topics a device publishes to the hub or DPS, parsed on the hub side: telemetry (with its
 * property bag, decoded by the core's {@link decodePropertyBag}), twin GET and reported PATCH,
 * method responses and DPS register and poll. The inverse of the core's builders
 * (`telemetryTopic`, `twinGetTopic`, `twinReportedTopic`, `methodResponseTopic`,
 * `dpsRegisterTopic`, `dpsPollTopic`). Anything else is `undefined`: the hub closes the
 * connection.
 *
 * @module
 */
import { isSasTokenError } from '../../errors.js'
import { decodePropertyBag } from '../../mqtt/property-bag.js'
import type { ReceivedMessageProperties } from '../../mqtt/property-bag.js'
import { assertRequestId } from '../../mqtt/topics.js'

/** A device-to-cloud topic, or why it is not one. */
export type DeviceTopic =
  | { type: 'telemetry'; deviceId: string; moduleId?: string; bag: ReceivedMessageProperties }
  | { type: 'twin-get'; rid: string }
  | { type: 'twin-reported'; rid: string }
  | { type: 'method-response'; status: number; rid: string }
  | { type: 'dps-register'; rid: string }
  | { type: 'dps-poll'; rid: string; operationId: string }
  | { type: 'invalid'; reason: string }

function query(text: string): Map<string, string> | string {
  const result = new Map<string, string>()
  for (const pair of text.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    const value = eq === -1 ? '' : pair.slice(eq + 1)
    if (result.has(name)) return `the query names ${name} twice`
    result.set(name, value)
  }
  return result
}

function ridOf(q: Map<string, string>): string | undefined {
  const rid = q.get('$rid')
  if (rid === undefined) return undefined
  try {
    return assertRequestId(rid)
  } catch {
    return undefined
  }
}

const TELEMETRY = /^devices\/([^/]+)(?:\/modules\/([^/]+))?\/messages\/events(?:\/(.*))?$/

function withQuery(topic: string, prefix: string): Map<string, string> | string | undefined {
  if (!topic.startsWith(prefix)) return undefined
  return query(topic.slice(prefix.length))
}

/**
 * Parses a topic a device published. Never throws.
 */
export function parseDeviceTopic(topic: string): DeviceTopic | undefined {
  if (topic.includes('\u0000'))
    return { type: 'invalid', reason: 'the topic holds U+0000, which MQTT forbids in a topic' }
  const t = TELEMETRY.exec(topic)
  if (t) {
    const [, deviceId = '', moduleId, rest = ''] = t
    const bagText = rest.endsWith('/') ? rest.slice(0, -1) : rest
    if (bagText.includes('/')) return { type: 'invalid', reason: "the property bag contains a raw '/'" }
    let bag: ReceivedMessageProperties
    try {
      bag = decodePropertyBag(bagText)
    } catch (err) {
      return { type: 'invalid', reason: isSasTokenError(err) ? err.message : 'the property bag is malformed' }
    }
    return moduleId === undefined
      ? { type: 'telemetry', deviceId, bag }
      : { type: 'telemetry', deviceId, moduleId, bag }
  }
  const requests: Array<[string, 'twin-get' | 'twin-reported' | 'dps-register' | 'dps-poll']> = [
    ['$iothub/twin/GET/?', 'twin-get'],
    ['$iothub/twin/PATCH/properties/reported/?', 'twin-reported'],
    ['$dps/registrations/PUT/iotdps-register/?', 'dps-register'],
    ['$dps/registrations/GET/iotdps-get-operationstatus/?', 'dps-poll'],
  ]
  for (const [prefix, type] of requests) {
    const q = withQuery(topic, prefix)
    if (q === undefined) continue
    if (typeof q === 'string') return { type: 'invalid', reason: q }
    const rid = ridOf(q)
    if (rid === undefined) return { type: 'invalid', reason: 'it has no valid $rid' }
    if (type !== 'dps-poll') return { type, rid }
    const operationId = q.get('operationId')
    if (operationId === undefined || operationId === '')
      return { type: 'invalid', reason: 'it has no operationId' }
    try {
      return { type, rid, operationId: decodeURIComponent(operationId) }
    } catch {
      return { type: 'invalid', reason: 'the operationId has invalid percent-encoding' }
    }
  }
  const m = /^\$iothub\/methods\/res\/([0-9]{1,9})\/\?(.*)$/.exec(topic)
  if (m) {
    const q = query(m[2] ?? '')
    if (typeof q === 'string') return { type: 'invalid', reason: q }
    const rid = ridOf(q)
    if (rid === undefined) return { type: 'invalid', reason: 'it has no valid $rid' }
    return { type: 'method-response', status: Number(m[1]), rid }
  }
  return undefined
}
