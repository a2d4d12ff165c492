/**
 * A connected device, module or DPS client, and the subscriptions it may hold: only the
 * documented filters, for its own identity. Messages to it are published to its connection
 * alone (topics such as `$iothub/twin/res/#` are the same for every device).
 *
 * @module
 */
import {
  DESIRED_PATCHES_FILTER,
  DPS_RESPONSES_FILTER,
  METHOD_REQUESTS_FILTER,
  TWIN_RESPONSES_FILTER,
  c2dFilter,
  moduleInputsFilter,
} from '../../mqtt/topics.js'

/** What a subscription is for. */
export type SubscriptionKind = 'messages' | 'methods' | 'twin-responses' | 'desired' | 'dps'

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
  if (filter === METHOD_REQUESTS_FILTER) return 'methods'
  if (filter === TWIN_RESPONSES_FILTER) return 'twin-responses'
  if (filter === DESIRED_PATCHES_FILTER) return 'desired'
  try {
    if (id.moduleId === undefined)
      return filter === c2dFilter({ deviceId: id.deviceId }) ? 'messages' : undefined
    const inputs = moduleInputsFilter({ deviceId: id.deviceId, moduleId: id.moduleId })
    // the C SDK subscribes to devices/{d}/modules/{m}/# for inputs
    return filter === inputs || filter === `devices/${id.deviceId}/modules/${id.moduleId}/#`
      ? 'messages'
      : undefined
  } catch {
    return undefined
  }
}
