/**
 * The Event Hub-compatible endpoint's partitions: a backend (`@azure/event-hubs`'
 * `EventHubConsumerClient`) attaches a receiver on `{eventHub}/ConsumerGroups/{group}/Partitions/{n}`
 * under a token for that address (a policy with ServiceConnect, signed as Event Hubs sign). The
 * hub's end sends the partition's messages from the device-to-cloud log (state/d2c-log.ts): from
 * the start position the link's selector filter names (event-position.ts), then each new one as
 * it comes, never more than the link's credit. The event hub name, the consumer group and the
 * partition are checked as Event Hubs does (`amqp:not-found`, `com.microsoft:argument-out-of-range`).
 * An owner level (`com.microsoft:epoch`) is honoured per consumer group and partition: a higher
 * one takes the partition over (the others are detached with `amqp:link:stolen`), a lower one,
 * or none while one holds it, is refused.
 *
 * @module
 */
import type { Sender } from 'rhea'
import { isSasTokenError } from '../../../errors.js'
import { eventHubName } from '../../event-hub-endpoint.js'
import type { D2cLog } from '../../state/d2c-log.js'
import { eventHubMessage } from '../event-hub-message.js'
import { SELECTOR_FILTER, parseEventPosition } from '../event-position.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'

const PATTERN = '{eventHub}/ConsumerGroups/{group}/Partitions/{partition}'
const EPOCH = 'com.microsoft:epoch'
const RUNTIME_METRIC = 'com.microsoft:enable-receiver-runtime-metric'

/** The receivers of one consumer group's partition, and the owner level that holds it. */
interface Owners {
  epoch: number | undefined
  links: Set<Sender>
}

/** Per log, per `{group}/{partition}` (the group lower-cased). */
const owners = new WeakMap<D2cLog, Map<string, Owners>>()

/** The text of a described or plain filter value (rhea gives a described type as `{value}`). */
function filterText(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'object' && value !== null && 'value' in value) return filterText(value.value)
  return undefined
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'object' && value !== null && 'value' in value) return numberOf(value.value)
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0))
  return undefined
}

/** Checks the address against the hub's event hub; the partition number, or why not. */
function resolve(
  r: AttachRequest<Sender>,
): { log: D2cLog; partition: number; group: string } | { condition: string; description: string } {
  const { hub } = r.ctx
  const log = hub.d2c
  const name = eventHubName(hub.hostName)
  const { eventHub = '', group = '', partition = '' } = r.params
  if (eventHub.toLowerCase() !== name.toLowerCase())
    return {
      condition: 'amqp:not-found',
      description: `The messaging entity 'sb://${hub.hostName}/${eventHub}' could not be found: this hub's Event Hub-compatible name is '${name}' (EntityPath=${name}).`,
    }
  const known = log.consumerGroup(group)
  if (known === undefined)
    return {
      condition: 'amqp:not-found',
      description: `The messaging entity 'sb://${hub.hostName}/${name}/ConsumerGroups/${group}' could not be found: the consumer groups are ${log.consumerGroups.join(', ')} (add one with --consumer-group, option consumerGroups).`,
    }
  const n = /^\d{1,3}$/.test(partition) ? Number(partition) : Number.NaN
  if (!(n < log.partitionCount))
    return {
      condition: 'com.microsoft:argument-out-of-range',
      description: `The partition '${partition}' does not exist: the partitions are 0 to ${log.partitionCount - 1}.`,
    }
  return { log, partition: n, group: known }
}

/** Takes the partition for a receiver of owner level `epoch`, or says why not. */
function own(log: D2cLog, key: string, link: Sender, epoch: number | undefined): string | undefined {
  let byKey = owners.get(log)
  if (byKey === undefined) {
    byKey = new Map()
    owners.set(log, byKey)
  }
  const current = byKey.get(key) ?? { epoch: undefined, links: new Set<Sender>() }
  for (const l of current.links) if (!l.is_open()) current.links.delete(l)
  if (current.links.size === 0) current.epoch = undefined
  if (current.epoch !== undefined && (epoch === undefined || epoch < current.epoch))
    return `A receiver with owner level (epoch) ${current.epoch} holds this partition: ${epoch === undefined ? 'one without an owner level' : `owner level ${epoch}`} may not receive from it.`
  if (epoch !== undefined && (current.epoch === undefined || epoch > current.epoch)) {
    for (const l of current.links)
      l.close({
        condition: 'amqp:link:stolen',
        description: `A receiver with a higher owner level (epoch ${epoch}) took this partition over.`,
      })
    current.links.clear()
    current.epoch = epoch
  }
  current.links.add(link)
  byKey.set(key, current)
  return undefined
}

function attach(r: AttachRequest<Sender>): void {
  const { link, conn } = r
  const target = resolve(r)
  if ('condition' in target) {
    link.close(target)
    r.ctx.warn(
      `Refused an Event Hubs receiver on ${JSON.stringify(r.address.slice(0, 200))}: ${target.description}`,
    )
    return
  }
  const { log, partition, group } = target
  let next: number
  try {
    const filter = link.source?.filter as Record<string, unknown> | undefined
    next = log.startOf(partition, parseEventPosition(filterText(filter?.[SELECTOR_FILTER])))
  } catch (err) {
    link.close({
      condition: 'amqp:invalid-field',
      description: isSasTokenError(err) ? err.message : 'The selector filter could not be read.',
    })
    return
  }
  const stolen = own(log, `${group.toLowerCase()}/${partition}`, link, numberOf(link.properties?.[EPOCH]))
  if (stolen !== undefined) {
    link.close({ condition: 'amqp:link:stolen', description: stolen })
    return
  }
  const desired: unknown = link.desired_capabilities
  const runtime = Array.isArray(desired) ? desired.includes(RUNTIME_METRIC) : desired === RUNTIME_METRIC
  let stop: (() => void) | undefined
  const pump = (): void => {
    if (conn.closed || !link.is_open()) {
      stop?.()
      return
    }
    while (link.sendable()) {
      const batch = log.read(partition, next, 64)
      if (batch.length === 0) return
      const info = runtime ? log.partition(partition) : undefined
      for (const record of batch) {
        if (!link.sendable()) return
        link.send(eventHubMessage(record, info))
        next = record.sequenceNumber + 1
      }
    }
  }
  stop = log.tail(partition, pump)
  link.on('sendable', pump)
  link.once('sender_close', () => stop?.())
  pump()
}

/** The partitions of the Event Hub-compatible endpoint. */
export const eventHubPartitionAddresses: readonly AmqpAddress[] = [
  {
    role: 'receiver',
    pattern: PATTERN,
    what: "the Event Hub-compatible endpoint's partitions (device-to-cloud messages)",
    needs: {
      kind: 'service',
      rights: ['ServiceConnect'],
      audience: (p, host) => `sb://${host}/${p.eventHub}/ConsumerGroups/${p.group}/Partitions/${p.partition}`,
    },
    match: pattern(PATTERN),
    attach,
  },
]
