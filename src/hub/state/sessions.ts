/**
 * A connected device, module or DPS client, and the subscriptions it may hold: only the
 * documented filters, for its own identity. Messages to it are published to its connection
 * alone (topics such as `$iothub/twin/res/#` are the same for every device).
 *
 * @module
 */
import type { LinkFault } from './faults.js'
import { DPS_RESPONSES_FILTER, filterKind } from '../../mqtt/topics.js'
import type { FilterKind } from '../../mqtt/topics.js'
import type { MessageProperties } from '../../mqtt/property-bag.js'

/** What a subscription is for. */
export type SubscriptionKind = FilterKind | 'dps'

/**
 * How the hub reaches one connected identity, whatever its protocol: what a protocol adapter
 * implements (MQTT: mqtt/mqtt-link.ts). The owners call it only for what the identity has
 * subscribed to ({@link Session.subscriptions}); C2D has its own link with acknowledgement
 * (c2d-queue.ts).
 */
export interface DeviceLink {
  /** Sends a desired-properties patch; `body` is the patch with its `$version`. */
  sendDesired(version: number, body: string): void
  /** Sends a direct-method request; the answer comes back to `MethodCalls.answer` with `rid`. */
  sendMethod(method: string, rid: string, body: string): void
  /** Sends a message to one of a module's inputs. */
  sendInput(inputName: string, properties: MessageProperties, payload: Buffer): void
  /** Closes the connection (the reason is in {@link Session.closeReason}). */
  close(): void
  /**
   * Does a fault to this connection (faults.ts); `false` when it does not apply to this
   * transport (an AMQP link fault on MQTT).
   */
  fault(fault: LinkFault): boolean
}

/**
 * How a connection came: MQTT over TLS or WebSocket, AMQP over TLS (or plain on the loopback
 * development port) or WebSocket, or HTTPS (one request at a time, no live session).
 */
export type Transport = 'mqtt' | 'mqtt-ws' | 'amqp' | 'amqp-ws' | 'http'

/** An identity's ids, with no `moduleId` key for a device (what events and records carry). */
export function idFields(s: { deviceId: string; moduleId?: string }): {
  deviceId: string
  moduleId?: string
} {
  return s.moduleId === undefined ? { deviceId: s.deviceId } : { deviceId: s.deviceId, moduleId: s.moduleId }
}

/** A live connection. */
export interface Session {
  clientId: string
  kind: 'device' | 'dps'
  deviceId: string
  moduleId?: string
  protocol: Transport
  authMethod: 'sas' | 'policy' | 'x509'
  /** MQTT's CleanSession flag; `true` for the other transports (nothing is kept). */
  clean: boolean
  link: DeviceLink
  /** Granted QoS per subscription kind. */
  subscriptions: Map<SubscriptionKind, 0 | 1>
  /** Set before the hub closes the connection, for the log. */
  closeReason?: string
  /**
   * When the token it authenticated with expires, epoch seconds: the hub closes the session then
   * (`HubService.attach`) unless `HubService.renewToken` moved it (AMQP's put-token).
   */
  tokenExpiresAt?: number
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

/** `true` for a kind a device subscription can have (what `state.json` keeps per session). */
export function isFilterKind(kind: string): kind is FilterKind {
  return kind === 'messages' || kind === 'methods' || kind === 'twin-responses' || kind === 'desired'
}
