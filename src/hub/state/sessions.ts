/**
 * A connected device, module or DPS client, and the subscriptions it may hold: only the
 * documented filters, for its own identity. Messages to it are published to its connection
 * alone (topics such as `$iothub/twin/res/#` are the same for every device).
 *
 * @module
 */
import { DPS_RESPONSES_FILTER, filterKind } from '../../mqtt/topics.js'
import type { FilterKind } from '../../mqtt/topics.js'

/** What a subscription is for. */
export type SubscriptionKind = FilterKind | 'dps'

/** The part of an aedes client the hub uses. */
export interface SessionClient {
  publish(
    packet: {
      cmd: 'publish'
      topic: string
      payload: Buffer
      qos: 0 | 1
      retain: false
      dup: false
      brokerId: string
    },
    done: (err?: Error) => void,
  ): void
  close(done?: () => void): void
}

/** A live connection. */
export interface Session {
  clientId: string
  kind: 'device' | 'dps'
  deviceId: string
  moduleId?: string
  protocol: 'mqtt' | 'mqtt-ws'
  authMethod: 'sas' | 'policy' | 'x509'
  clean: boolean
  client: SessionClient
  /** Granted QoS per subscription kind. */
  subscriptions: Map<SubscriptionKind, 0 | 1>
  /** Set before the hub closes the connection, for the log. */
  closeReason?: string
  expiryTimer?: NodeJS.Timeout
  /** DPS operations of this connection. */
  operations: Map<string, { registrationId: string; polls: number }>
}

/**
 * The kind of a subscription filter for an identity, or `undefined` when the hub does not
 * support it (another identity's topic, a wildcard, an undocumented topic).
 */
export function subscriptionKind(
  filter: string,
  id: { kind: 'device' | 'dps'; deviceId: string; moduleId?: string },
): SubscriptionKind | undefined {
  if (id.kind === 'dps') return filter === DPS_RESPONSES_FILTER ? 'dps' : undefined
  return filterKind(filter, id)
}
