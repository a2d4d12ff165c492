/**
 * What every MQTT packet handler (handlers/) is given: the hub's operations, the method calls
 * in flight, and the adapter's own table of connections (aedes client → the accepted identity,
 * its session and its {@link MqttLink}).
 *
 * @module
 */
import type { Client } from 'aedes'
import type { Finding } from '../../diagnose/index.js'
import type { HubService } from '../service.js'
import type { MethodCalls } from '../state/methods.js'
import type { Session } from '../state/sessions.js'
import type { AcceptedDevice, AcceptedRegistration } from '../auth/device-auth.js'
import type { MqttLink } from './mqtt-link.js'

/** One authenticated MQTT connection. */
export interface Connection {
  accepted: AcceptedDevice | AcceptedRegistration
  session: Session
  link: MqttLink
  /** The decision's warnings, for the connect event. */
  warnings: Finding[]
}

/** The adapter's state and helpers, shared by its handlers. */
export interface MqttContext {
  readonly hub: HubService
  readonly methods: MethodCalls
  readonly connections: WeakMap<Client, Connection>
  /** Publishes a `warning` event. */
  warn(message: string): void
  /** Marks a client to be closed for breaking a hub rule, with why (for the log); the error to give aedes. */
  violate(client: Client, reason: string): Error
}

/** Creates the context of one broker. */
export function mqttContext(hub: HubService, methods: MethodCalls): MqttContext {
  const connections = new WeakMap<Client, Connection>()
  return {
    hub,
    methods,
    connections,
    warn: (message) => hub.events.publish({ event: 'warning', message }),
    violate(client, reason) {
      const c = connections.get(client)
      if (c) c.session.closeReason = reason
      return new Error(reason)
    },
  }
}

/** An identity's ids, with no `moduleId` key for a device (state/sessions.ts, shared by the adapters). */
export { idFields } from '../state/sessions.js'

/** `mqtt-ws` for a connection that came over WebSocket, else `mqtt`. */
export function protocolOf(client: Client): 'mqtt' | 'mqtt-ws' {
  return client.req ? 'mqtt-ws' : 'mqtt'
}
