/**
 * CONNECT: `preConnect` keeps device and DPS client ids apart, `authenticate` asks the hub's one
 * rule set (device-auth.ts, the core's `diagnoseConnect`) and answers a refusal with its CONNACK
 * code and findings, and `clientReady` makes the connection the identity's session (the hub
 * closes it when its token expires) and logs the connect.
 *
 * @module
 */
import type { AuthenticateError, Client, PreConnectHandler } from 'aedes'
import type { TLSSocket } from 'node:tls'
import type { Session, SubscriptionKind } from '../../state/sessions.js'
import { peerCertificate } from '../../tls/x509-chain.js'
import { attachC2d } from '../c2d-link.js'
import { brokerClientId, sentClientId } from '../client-ids.js'
import { idFields, protocolOf } from '../context.js'
import type { MqttContext } from '../context.js'
import { authenticateConnect } from '../../auth/device-auth.js'
import { MqttLink } from '../mqtt-link.js'

function tlsSocket(client: Client): Partial<TLSSocket> {
  return (client.req?.socket ?? client.conn) as Partial<TLSSocket>
}

function thumbprints(client: Client): string[] {
  const socket = tlsSocket(client)
  if (typeof socket.getPeerCertificate !== 'function') return []
  const cert = socket.getPeerCertificate()
  if (cert === null || typeof cert !== 'object' || !cert.fingerprint) return []
  return [cert.fingerprint, cert.fingerprint256]
    .filter(Boolean)
    .map((f) => f.replaceAll(':', '').toUpperCase())
}

/** Before CONNECT is handled: refuses a client id with U+0000 and gives DPS clients their own id space. */
export function preConnect(ctx: MqttContext): PreConnectHandler {
  return (_client, packet, done) => {
    // U+0000 is no MQTT string's, and it opens the DPS client-id space (client-ids.ts)
    if (packet.clientId.includes('\u0000')) {
      ctx.warn('refused a CONNECT whose client id holds U+0000, which MQTT forbids')
      done(new Error('client id holds U+0000'), false)
      return
    }
    packet.clientId = brokerClientId(packet.clientId, packet.username)
    done(null, true)
  }
}

/** CONNECT's credentials: accepted as a session, or refused with the decision's findings. */
export function authenticate(ctx: MqttContext) {
  const { hub } = ctx
  return (
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (err: AuthenticateError | null, success: boolean | null) => void,
  ): void => {
    const clientId = sentClientId(client.id)
    const certificate = peerCertificate(tlsSocket(client))
    const outcome = authenticateConnect(
      {
        clientId,
        username,
        password,
        certificateThumbprints: thumbprints(client),
        ...(certificate === undefined ? {} : { clientCertificate: certificate }),
      },
      hub.authContext({ connect: true }),
    )
    if (!outcome.ok) {
      const { findings } = outcome
      const first = findings.find((f) => f.severity === 'error')
      hub.refuse({
        time: new Date(hub.now()).toISOString(),
        clientId,
        username: username ?? '',
        returnCode: outcome.returnCode,
        protocol: protocolOf(client),
        ...(outcome.identity ? idFields(outcome.identity) : {}),
        findings,
        ...(outcome.fault === undefined
          ? {}
          : { fault: { fault: outcome.fault.fault, message: outcome.fault.message } }),
      })
      const err: AuthenticateError = Object.assign(
        new Error(first?.message ?? outcome.fault?.message ?? 'not authorized'),
        {
          returnCode: outcome.returnCode,
        },
      )
      done(err, false)
      return
    }
    const accepted = outcome.accepted
    const identity = accepted.kind === 'hub' ? idFields(accepted) : { deviceId: accepted.registrationId }
    const subscriptions = new Map<SubscriptionKind, 0 | 1>()
    const link = new MqttLink(client, identity, subscriptions)
    const session: Session = {
      clientId,
      kind: accepted.kind === 'hub' ? 'device' : 'dps',
      ...identity,
      protocol: protocolOf(client),
      authMethod: accepted.kind === 'hub' ? accepted.authMethod : 'sas',
      clean: true,
      link,
      subscriptions,
      operations: new Map(),
    }
    const previous = session.kind === 'device' ? hub.sessions.get(clientId) : undefined
    if (previous) previous.closeReason = 'replaced by a new connection'
    // aedes replaces an MQTT connection of the same client id itself; another transport's the hub closes
    if (previous && previous.protocol !== 'mqtt' && previous.protocol !== 'mqtt-ws') previous.link.close()
    const warnings = outcome.findings.filter((f) => f.severity === 'warning')
    ctx.connections.set(client, { accepted, session, link, warnings })
    done(null, true)
  }
}

/** CONNACK sent: the connection becomes the identity's session, with its token's expiry armed. */
export function clientReady(ctx: MqttContext) {
  const { hub } = ctx
  return (client: Client): void => {
    const c = ctx.connections.get(client)
    if (c === undefined) return
    const { session } = c
    session.clean = client.clean
    const expiresAt = c.accepted.expiresAt
    if (expiresAt !== undefined) session.tokenExpiresAt = expiresAt
    hub.attach(session)
    hub.events.publish({
      event: 'connect',
      ...idFields(session),
      ...(session.kind === 'dps' ? { registrationId: session.deviceId, service: 'dps' as const } : {}),
      clientId: session.clientId,
      authMethod: session.authMethod,
      cleanSession: client.clean,
      protocol: session.protocol,
      ...(session.subscriptions.size > 0 ? { restoredSubscriptions: [...session.subscriptions.keys()] } : {}),
      ...(c.warnings.length > 0 ? { warnings: c.warnings } : {}),
    })
    attachC2d(hub, session, c.link)
  }
}
