/**
 * The AMQP address table: every address kind the hub serves (link-address.ts says what an entry
 * is), one handler file each under links/. To serve a new one, append its entries here.
 *
 * @module
 */
import { c2dAddresses } from './links/c2d.js'
import { cbsAddresses } from './links/cbs.js'
import { feedbackAddresses } from './links/feedback.js'
import { serviceC2dAddresses } from './links/service-c2d.js'
import { eventHubManagementAddresses } from './links/event-hub-management.js'
import { eventHubPartitionAddresses } from './links/event-hub-partition.js'
import { telemetryAddresses } from './links/telemetry.js'
import { methodAddresses } from './links/methods.js'
import { moduleInputAddresses } from './links/module-input.js'
import { twinAddresses } from './links/twin.js'
import type { AddressParams, AmqpAddress } from './link-address.js'
import { normalizeAddress } from './link-address.js'

/** Every address the hub serves over AMQP. */
export const ADDRESSES: readonly AmqpAddress[] = [
  // one line per handler file; append yours
  ...cbsAddresses,
  ...telemetryAddresses,
  ...c2dAddresses,
  ...twinAddresses,
  ...methodAddresses,
  ...moduleInputAddresses,
  ...serviceC2dAddresses,
  ...feedbackAddresses,
  ...eventHubPartitionAddresses,
  ...eventHubManagementAddresses,
]

/** The entry serving `address` for a client attaching as `role`, with its parameters. */
export function findAddress(
  address: string,
  role: 'sender' | 'receiver',
  table: readonly AmqpAddress[] = ADDRESSES,
): { entry: AmqpAddress; params: AddressParams } | undefined {
  const normalized = normalizeAddress(address)
  for (const entry of table) {
    if (entry.role !== role) continue
    const params = entry.match(normalized)
    if (params !== undefined) return { entry, params }
  }
  return undefined
}

/** What the hub serves, for a not-found description. */
export function servedAddresses(table: readonly AmqpAddress[] = ADDRESSES): string {
  return table.map((e) => `${e.pattern} (${e.what}; the client attaches a ${e.role})`).join(', ')
}
