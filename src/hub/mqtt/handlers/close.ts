/**
 * How a connection ends: a keep-alive timeout or a socket error names the reason, and on
 * disconnect the session is let go (C2D it held goes back to the queue) and the `close` (when
 * the hub closed it, with why) and `disconnect` events are logged.
 *
 * @module
 */
import type { Client } from 'aedes'
import { detachC2d } from '../c2d-link.js'
import type { MqttContext } from '../context.js'

/** No packet for 1.5 × the client's keep-alive. */
export function keepaliveTimeout(ctx: MqttContext) {
  return (client: Client): void => {
    const c = ctx.connections.get(client)
    if (c) c.session.closeReason = 'keep-alive timeout (1.5 × the client keep-alive without a packet)'
  }
}

/** The socket failed. */
export function clientError(ctx: MqttContext) {
  return (client: Client, err: Error): void => {
    const c = ctx.connections.get(client)
    if (c && c.session.closeReason === undefined) c.session.closeReason = `connection error: ${err.message}`
  }
}

/** The connection is gone. */
export function clientDisconnect(ctx: MqttContext) {
  const { hub } = ctx
  return (client: Client): void => {
    const c = ctx.connections.get(client)
    if (c === undefined) return
    const { session } = c
    detachC2d(hub, session)
    hub.detach(session)
  }
}
