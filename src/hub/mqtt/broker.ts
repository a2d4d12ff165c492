/**
 * The device-facing MQTT side, on aedes: CONNECT authentication (refusals answered with a
 * CONNACK code and explained in the log), one connection per identity, token expiry, the
 * documented topics only, and routing of what devices send to telemetry, twins, methods and
 * DPS. Messages to a device are published to its connection alone; aedes never forwards one
 * device's publish to another.
 *
 * @module
 */
import type { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { Aedes } from 'aedes'
import type { AedesOptions, AuthenticateError, Client, Subscription } from 'aedes'
import { isSasTokenError } from '../../errors.js'
import { dpsResponseTopic, parseDeviceTopic, twinResponseTopic } from '../../mqtt/topics.js'
import type { OutgoingTopic } from '../../mqtt/topics.js'
import { authenticateConnect } from './device-auth.js'
import type { AcceptedDevice, AcceptedRegistration } from './device-auth.js'
import { handlePoll, handleRegister } from '../state/dps.js'
import { gateReads } from './ingress-gate.js'
import { brokerClientId, sentClientId } from './client-ids.js'
import { guardBrokerOptions, guardedListener } from './handler-guard.js'
import { DEFAULT_MAX_OUTBOUND_BYTES, limitOutbound } from './outbound-limit.js'
import { positiveInteger } from '../option-checks.js'
import { PacketSizeGuard } from './packet-guard.js'
import type { MethodCalls } from '../state/methods.js'
import { attachC2d, c2dForwardable, detachC2d, pubackC2d } from './c2d-link.js'
import { DIRECT_BROKER_ID, MqttLink } from './mqtt-link.js'
import type { HubService } from '../service.js'
import { subscriptionKind } from '../state/sessions.js'
import type { Session, SubscriptionKind } from '../state/sessions.js'
import { deviceTwinDocument } from '../state/twin.js'
import { peerCertificate } from '../tls/x509-chain.js'

/** Messages over this many bytes close the connection (IoT Hub's 256 KB). */
export const MAX_MESSAGE_BYTES = 256 * 1024

interface Connection {
  accepted: AcceptedDevice | AcceptedRegistration
  session: Session
  link: MqttLink
}

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

function idFields(s: { deviceId: string; moduleId?: string }): { deviceId: string; moduleId?: string } {
  return s.moduleId === undefined ? { deviceId: s.deviceId } : { deviceId: s.deviceId, moduleId: s.moduleId }
}

/**
 * IoT Hub grants a QoS 2 subscription as QoS 1. aedes grants what was asked, so the SUBSCRIBE
 * packet is changed as it leaves the parser, before aedes handles it.
 */
function grantQos1ForQos2(client: Client): void {
  const parser = (client as Client & { _parser?: EventEmitter })._parser
  parser?.prependListener('packet', (packet: { cmd?: string; subscriptions?: Array<{ qos: number }> }) => {
    if (packet.cmd !== 'subscribe' || !Array.isArray(packet.subscriptions)) return
    for (const sub of packet.subscriptions) if (sub.qos === 2) sub.qos = 1
  })
}

/** The broker and the function that hands it a new connection. */
export interface HubBroker {
  broker: Aedes
  handle(conn: Duplex, req?: IncomingMessage): void
}

/**
 * Creates the aedes broker for a hub.
 *
 * @throws Never (aedes setup errors only).
 */
export async function createBroker(
  hub: HubService,
  methods: MethodCalls,
  o: { maxOutboundBytes?: number } = {},
): Promise<HubBroker> {
  const maxOutbound = positiveInteger(o.maxOutboundBytes, DEFAULT_MAX_OUTBOUND_BYTES, 'maxOutboundBytes')
  let ungated = false
  const connections = new WeakMap<Client, Connection>()

  const protocolOf = (client: Client): 'mqtt' | 'mqtt-ws' => (client.req ? 'mqtt-ws' : 'mqtt')

  /** Closes a client for breaking a hub rule, and says why. */
  const violate = (client: Client, reason: string): Error => {
    const c = connections.get(client)
    if (c) c.session.closeReason = reason
    return new Error(reason)
  }

  const warn = (message: string): void => {
    hub.events.publish({ event: 'warning', message })
  }

  const options: AedesOptions = {
    id: `sas-token-hub-${process.pid}`,
    maxClientsIdLength: 260,
    connectTimeout: 30_000,
    heartbeatInterval: 60_000,

    preConnect(_client, packet, done) {
      // U+0000 is no MQTT string's, and it opens the DPS client-id space (client-ids.ts)
      if (packet.clientId.includes('\u0000')) {
        warn('refused a CONNECT whose client id holds U+0000, which MQTT forbids')
        done(new Error('client id holds U+0000'), false)
        return
      }
      packet.clientId = brokerClientId(packet.clientId, packet.username)
      done(null, true)
    },

    authenticate(client, username, password, done) {
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
        {
          hostName: hub.hostName,
          hostAliases: [...hub.ports].map((port) => `${hub.hostName}:${port}`),
          idScope: hub.idScope,
          now: hub.now(),
          clockSkewSeconds: hub.clockSkewSeconds,
          policies: hub.state.policies,
          identity: (d, m) => hub.identity(d, m),
          enrollment: (r) =>
            Object.hasOwn(hub.state.dps.enrollments, r) ? hub.state.dps.enrollments[r] : undefined,
          groups: () => Object.values(hub.state.dps.groups),
          certificateAuthorities: () => Object.values(hub.state.certificates ?? {}),
        },
      )
      if (!outcome.ok) {
        const { findings } = outcome
        const first = findings.find((f) => f.severity === 'error')
        const record = {
          time: new Date(hub.now()).toISOString(),
          clientId,
          username: username ?? '',
          returnCode: outcome.returnCode,
          protocol: protocolOf(client),
          ...(outcome.identity ? idFields(outcome.identity) : {}),
          ...(first === undefined ? {} : { reason: first }),
          findings,
        }
        hub.events.publish({ event: 'refuse', ...hub.recordRefused(record) })
        const err: AuthenticateError = Object.assign(new Error(first?.message ?? 'not authorized'), {
          returnCode: outcome.returnCode,
        })
        done(err, false)
        return
      }
      const accepted = outcome.accepted
      const identity = accepted.kind === 'device' ? idFields(accepted) : { deviceId: accepted.registrationId }
      const subscriptions = new Map<SubscriptionKind, 0 | 1>()
      const link = new MqttLink(client, identity, subscriptions)
      const session: Session = {
        clientId,
        kind: accepted.kind,
        ...identity,
        protocol: protocolOf(client),
        authMethod: accepted.kind === 'device' ? accepted.authMethod : 'sas',
        clean: true,
        link,
        subscriptions,
        operations: new Map(),
      }
      const previous = session.kind === 'device' ? hub.sessions.get(clientId) : undefined
      if (previous) previous.closeReason = 'replaced by a new connection'
      connections.set(client, { accepted, session, link })
      done(null, true)
    },

    authorizePublish(client, packet, done) {
      if (client === null) return done(null)
      const c = connections.get(client)
      if (c === undefined) return done(new Error('not authenticated'))
      const { session, accepted } = c
      const will = client.closed
      if (packet.qos === 2) return done(violate(client, 'QoS 2 publish (IoT Hub supports QoS 0 and 1)'))
      const size = packet.payload.length
      if (size > MAX_MESSAGE_BYTES) {
        return done(violate(client, `message too large: ${size} bytes, IoT Hub allows ${MAX_MESSAGE_BYTES}`))
      }
      if (packet.topic.includes('\u0000'))
        return done(violate(client, 'topic not supported: it holds U+0000, which MQTT forbids in a topic'))
      let topic: OutgoingTopic
      try {
        topic = parseDeviceTopic(packet.topic)
      } catch (err) {
        if (!isSasTokenError(err)) throw err
        return done(violate(client, `topic not supported: ${err.message}`))
      }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      if (accepted.kind === 'dps') {
        if (topic.type !== 'dps-register' && topic.type !== 'dps-poll')
          return done(
            violate(client, `topic not supported on a DPS connection: ${JSON.stringify(packet.topic)}`),
          )
        const { status, body, retryAfter } =
          topic.type === 'dps-poll'
            ? handlePoll(hub, session, accepted, topic.operationId)
            : handleRegister(session, accepted, payload)
        const out =
          retryAfter === undefined ? { status, rid: topic.rid } : { status, rid: topic.rid, retryAfter }
        if (session.subscriptions.has('dps'))
          c.link.publish('dps', dpsResponseTopic(out), JSON.stringify(body))
        return done(null)
      }
      const identity = hub.touch(session)
      if (identity === undefined) return done(violate(client, 'identity deleted'))
      switch (topic.type) {
        case 'telemetry': {
          if (topic.deviceId !== session.deviceId || topic.moduleId !== session.moduleId) {
            return done(violate(client, `telemetry for another identity: ${JSON.stringify(packet.topic)}`))
          }
          const { type: _type, deviceId: _deviceId, moduleId: _moduleId, properties, ...system } = topic
          const app: Record<string, string | null> = { ...properties }
          if (packet.retain) app['mqtt-retain'] = 'true'
          if (will) app['iothub-MessageType'] = 'Will'
          const systemProperties: Record<string, string> = {
            ...Object.fromEntries(
              Object.entries(system).filter((e): e is [string, string] => typeof e[1] === 'string'),
            ),
            'iothub-connection-device-id': session.deviceId,
            ...(session.moduleId === undefined ? {} : { 'iothub-connection-module-id': session.moduleId }),
            'iothub-connection-auth-method': JSON.stringify({
              scope:
                accepted.authMethod === 'policy'
                  ? 'hub'
                  : session.moduleId === undefined
                    ? 'device'
                    : 'module',
              type: accepted.authMethod === 'x509' ? 'x509Certificate' : 'sas',
              issuer: 'iothub',
              acceptingIpFilterRule: null,
            }),
            'iothub-connection-auth-generation-id': identity.generationId,
            'iothub-enqueuedtime': new Date(hub.now()).toISOString(),
            'iothub-message-source': 'Telemetry',
          }
          const text = payload.toString('utf8')
          const body = Buffer.from(text, 'utf8').equals(payload)
            ? { text }
            : { base64: payload.toString('base64') }
          hub.events.publish({
            event: 'telemetry',
            ...idFields(session),
            topic: packet.topic,
            qos: packet.qos,
            body,
            properties: app,
            systemProperties,
          })
          if (will) return done(new Error('will recorded'))
          return done(null)
        }
        case 'twin-get': {
          hub.events.publish({ event: 'twin-get', ...idFields(session) })
          if (session.subscriptions.has('twin-responses')) {
            c.link.publish(
              'twin-responses',
              twinResponseTopic({ status: 200, rid: topic.rid }),
              JSON.stringify(deviceTwinDocument(identity.twin)),
            )
          }
          return done(null)
        }
        case 'twin-reported': {
          const rid = topic.rid
          hub
            .patchReported(session, payload.toString('utf8'))
            .then((a) => {
              if (!session.subscriptions.has('twin-responses')) return
              const answer =
                a.status === 204 ? { status: 204, rid, version: a.version } : { status: a.status, rid }
              const body =
                a.status === 204 ? '' : JSON.stringify({ errorCode: a.errorCode, message: a.message })
              c.link.publish('twin-responses', twinResponseTopic(answer), body)
            })
            .catch((err: unknown) => warn(`A twin answer could not be sent (${(err as Error).message}).`))
          return done(null)
        }
        case 'method-response': {
          methods.answer(session, topic.rid, topic.status, payload)
          return done(null)
        }
        default:
          return done(violate(client, `DPS topic on a hub connection: ${JSON.stringify(packet.topic)}`))
      }
    },

    authorizeSubscribe(client, sub, done) {
      const c = connections.get(client)
      if (c === undefined) return done(new Error('not authenticated'))
      const kind = subscriptionKind(sub.topic, c.session)
      if (kind === undefined) {
        c.session.closeReason = `subscription not supported: ${JSON.stringify(sub.topic)}`
        return done(new Error(c.session.closeReason))
      }
      const qos: 0 | 1 = sub.qos === 0 ? 0 : 1
      c.session.subscriptions.set(kind, qos)
      const granted: Subscription = { ...sub, qos }
      done(null, granted)
    },

    authorizeForward(_client, packet) {
      return packet.brokerId === DIRECT_BROKER_ID || c2dForwardable(hub, packet.brokerId) ? packet : null
    },
  }
  const broker = await Aedes.createBroker(guardBrokerOptions(warn, options))

  broker.on(
    'clientReady',
    guardedListener('The clientReady handler', warn, (client) => {
      const c = connections.get(client)
      if (c === undefined) return
      const { session } = c
      session.clean = client.clean
      hub.attach(session)
      const expiresAt = c.accepted.expiresAt
      if (expiresAt !== undefined) {
        const arm = (): void => {
          const left = expiresAt * 1000 - hub.now()
          if (left <= 0) {
            session.closeReason = 'token expired'
            client.close()
            return
          }
          session.expiryTimer = setTimeout(arm, Math.min(left, 2 ** 31 - 1))
        }
        arm()
      }
      hub.events.publish({
        event: 'connect',
        ...idFields(session),
        ...(session.kind === 'dps' ? { registrationId: session.deviceId, service: 'dps' as const } : {}),
        clientId: session.clientId,
        authMethod: session.authMethod,
        cleanSession: client.clean,
        protocol: session.protocol,
        ...(session.subscriptions.size > 0
          ? { restoredSubscriptions: [...session.subscriptions.keys()] }
          : {}),
      })
      attachC2d(hub, session, c.link)
    }),
  )

  broker.on(
    'subscribe',
    guardedListener('The subscribe handler', warn, (subscriptions, client) => {
      const c = connections.get(client)
      if (c === undefined) return
      hub.events.publish({
        event: 'subscribe',
        ...idFields(c.session),
        topics: subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })),
      })
      hub.subscriptionsChanged(c.session)
      attachC2d(hub, c.session, c.link)
    }),
  )

  broker.on(
    'ack',
    guardedListener('The ack handler', warn, (packet, client) => {
      const c = connections.get(client)
      if (c) pubackC2d(hub, c.session, packet)
    }),
  )

  broker.on(
    'unsubscribe',
    guardedListener('The unsubscribe handler', warn, (topics, client) => {
      const c = connections.get(client)
      if (c === undefined) return
      for (const topic of topics) {
        const kind = subscriptionKind(topic, c.session)
        if (kind) c.session.subscriptions.delete(kind)
        // no more C2D to a device that unsubscribed; what it holds unanswered goes back
        if (kind === 'messages') detachC2d(hub, c.session)
      }
      hub.events.publish({ event: 'unsubscribe', ...idFields(c.session), topics })
      hub.subscriptionsChanged(c.session)
    }),
  )

  broker.on(
    'keepaliveTimeout',
    guardedListener('The keepaliveTimeout handler', warn, (client) => {
      const c = connections.get(client)
      if (c) c.session.closeReason = 'keep-alive timeout (1.5 × the client keep-alive without a packet)'
    }),
  )

  broker.on(
    'clientDisconnect',
    guardedListener('The clientDisconnect handler', warn, (client) => {
      const c = connections.get(client)
      if (c === undefined) return
      const { session } = c
      clearTimeout(session.expiryTimer)
      detachC2d(hub, session)
      hub.detach(session)
      if (session.closeReason !== undefined) {
        hub.events.publish({
          event: 'close',
          ...idFields(session),
          clientId: session.clientId,
          reason: session.closeReason,
        })
      }
      hub.events.publish({
        event: 'disconnect',
        ...idFields(session),
        clientId: session.clientId,
        reason: session.closeReason ?? 'client disconnected',
      })
    }),
  )

  broker.on(
    'clientError',
    guardedListener('The clientError handler', warn, (client, err) => {
      const c = connections.get(client)
      if (c && c.session.closeReason === undefined) c.session.closeReason = `connection error: ${err.message}`
    }),
  )

  return {
    broker,
    handle(conn, req) {
      const client = broker.handle(conn, req)
      grantQos1ForQos2(client)
      // no device input is read while a lossless event sink is behind (ingress-gate.ts)
      if (!gateReads(client, conn, hub.events.ingress) && !ungated) {
        ungated = true
        warn(
          'This aedes has no _nextBatch: device input is not held while the log is behind (events may pile up).',
        )
      }
      limitOutbound(conn, maxOutbound, (buffered) => {
        const c = connections.get(client)
        const reason = `outbound queue over ${maxOutbound} bytes (${buffered} unsent): the client is not reading its socket`
        if (c) c.session.closeReason = reason
        hub.events.publish({
          event: 'warning',
          ...(c ? { ...idFields(c.session), clientId: c.session.clientId } : {}),
          message: `closing a connection: ${reason}`,
        })
      })
      // a publish of 256 KB plus its topic and headers fits; anything declared larger is closed
      const guard = new PacketSizeGuard(MAX_MESSAGE_BYTES + 70 * 1024)
      const watch = (chunk: Buffer | string): void => {
        const size = guard.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
        if (size === undefined && guard.refusal === undefined) return
        conn.off('data', watch)
        const c = connections.get(client)
        if (c)
          c.session.closeReason =
            guard.refusal ??
            `message too large: a packet of ${size} bytes, IoT Hub allows ${MAX_MESSAGE_BYTES}`
        conn.destroy()
      }
      conn.on('data', watch)
    },
  }
}
