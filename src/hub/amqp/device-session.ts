/**
 * An identity's session over AMQP: made when a token for it is accepted (a CBS put-token, or
 * SASL PLAIN), as an MQTT CONNECT makes one (the hub's `attach`: one session per identity across
 * transports, the token's expiry armed by the hub), or when a device link attaches under a live
 * device authorization whose session ended; renewed by a put-token on the same audience; ended when
 * the hub closes it (`AmqpDeviceLink.close`: token expired, replaced, identity deleted or
 * disabled) or the connection goes. Logged as MQTT's are: `connect`, then `close` (when the hub
 * ended it, with why) and `disconnect`.
 *
 * @module
 */
import type { Session, SubscriptionKind } from '../state/sessions.js'
import { AmqpDeviceLink } from './amqp-link.js'
import { deviceAudience } from './audience.js'
import { clientIdOf } from './context.js'
import { idFields } from '../state/sessions.js'
import type { AmqpConnection, AmqpContext, Authorization, DeviceSession } from './context.js'

/**
 * The session of the identity `authorization` proves on this connection: the existing one, or
 * a new one that replaces the identity's session on any other connection.
 */
export function deviceSession(
  ctx: AmqpContext,
  conn: AmqpConnection,
  authorization: Authorization,
): DeviceSession {
  const identity = idFields(authorization.identity ?? { deviceId: '' })
  const clientId = clientIdOf(identity)
  const existing = conn.devices.get(clientId)
  if (existing !== undefined) return existing
  const { hub } = ctx
  const link = new AmqpDeviceLink(ctx, conn, identity)
  const subscriptions = new Map<SubscriptionKind, 0 | 1>()
  const session: Session = {
    clientId,
    kind: 'device',
    ...identity,
    protocol: conn.protocol,
    authMethod: authorization.authMethod ?? 'sas',
    clean: true,
    link,
    subscriptions,
    operations: new Map(),
    ...(authorization.expiresAt === undefined ? {} : { tokenExpiresAt: authorization.expiresAt }),
  }
  link.closeReason = () => session.closeReason
  link.onClose = () => endDeviceSession(ctx, conn, clientId)
  const previous = hub.sessions.get(clientId)
  if (previous !== undefined && previous !== session) {
    previous.closeReason = 'replaced by a new connection'
    previous.link.close()
  }
  const created: DeviceSession = { session, link }
  conn.devices.set(clientId, created)
  hub.attach(session)
  hub.events.publish({
    event: 'connect',
    ...identity,
    clientId,
    authMethod: session.authMethod,
    cleanSession: true,
    protocol: session.protocol,
    ...(authorization.warnings.length > 0 ? { warnings: authorization.warnings } : {}),
  })
  return created
}

/**
 * A device authorization was granted (a put-token, SASL PLAIN): the identity is connected now,
 * as an MQTT CONNECT would make it; on a connection that already has its session, the session
 * takes the new token's expiry (a renewal).
 */
export function authenticatedDevice(
  ctx: AmqpContext,
  conn: AmqpConnection,
  authorization: Authorization,
): void {
  const ds = conn.devices.get(clientIdOf(authorization.identity ?? { deviceId: '' }))
  if (ds !== undefined) ctx.hub.renewToken(ds.session, authorization.expiresAt)
  else deviceSession(ctx, conn, authorization)
}

/** Ends an identity's session on this connection (the hub closed it, or the connection is gone). */
export function endDeviceSession(
  ctx: AmqpContext,
  conn: AmqpConnection,
  clientId: string,
  fallbackReason = 'client disconnected',
): void {
  const ds = conn.devices.get(clientId)
  if (ds === undefined) return
  conn.devices.delete(clientId)
  const { hub } = ctx
  const { session, link } = ds
  conn.authorizations.delete(deviceAudience(hub.hostName, session.deviceId, session.moduleId))
  hub.c2d.detach(session.deviceId, link)
  link.detachC2d()
  hub.detach(session, fallbackReason)
}
