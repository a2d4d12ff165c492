/**
 * Where an Event Hubs receiver starts: the selector filter `@azure/event-hubs` (and the other
 * Event Hubs SDKs) put on the link's source (`apache.org:selector-filter:string`), read into a
 * position of the device-to-cloud log. The forms the SDKs send:
 * `amqp.annotation.x-opt-offset > '…'` (or `>=`; `'-1'` is the start, `'@latest'` the end),
 * `amqp.annotation.x-opt-sequence-number > '…'` (or `>=`) and
 * `amqp.annotation.x-opt-enqueued-time > '…'` (epoch ms). No filter: the start.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'
import type { D2cPosition } from '../state/d2c-log.js'

/** The filter's name on the link source, and its descriptor code. */
export const SELECTOR_FILTER = 'apache.org:selector-filter:string'

const FILTER =
  /^\s*amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>|=)\s*'([^']*)'\s*$/i

/**
 * Reads a selector filter's text.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` for a filter the hub does not read, with the
 *   forms it does.
 */
export function parseEventPosition(filter: string | undefined): D2cPosition {
  if (filter === undefined) return { kind: 'earliest' }
  const m = FILTER.exec(filter)
  const bad = (why: string): SasTokenError =>
    new SasTokenError(
      'ERR_HUB_BAD_REQUEST',
      `The selector filter ${JSON.stringify(filter.slice(0, 200))} ${why}: the hub reads amqp.annotation.x-opt-offset, x-opt-sequence-number (> or >= '…') and x-opt-enqueued-time (> 'epoch ms').`,
    )
  if (m === null) throw bad('is not one the hub reads')
  const [, name = '', op = '', value = ''] = m
  const inclusive = op !== '>'
  switch (name.toLowerCase()) {
    case 'x-opt-offset':
      if (value === '@latest') return { kind: 'latest' }
      if (value === '-1') return { kind: 'earliest' }
      if (!/^\d{1,15}$/.test(value)) throw bad('names no offset (a byte position, -1 or @latest)')
      return { kind: 'offset', offset: value, inclusive }
    case 'x-opt-sequence-number':
      if (!/^-?\d{1,15}$/.test(value)) throw bad('names no sequence number')
      return Number(value) < 0
        ? { kind: 'earliest' }
        : { kind: 'sequence', sequenceNumber: Number(value), inclusive }
    default:
      if (!/^\d{1,15}$/.test(value)) throw bad('names no enqueued time (epoch ms)')
      return { kind: 'enqueued', time: Number(value) }
  }
}
