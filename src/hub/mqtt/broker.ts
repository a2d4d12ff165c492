/**
 * The device-facing MQTT adapter, on aedes: wiring only. Each packet and connection event has
 * its handler in handlers/ (connect, publish with one handler per topic kind, subscribe, close),
 * as aedes lays out its own; they authenticate with the hub's one rule set, call the hub's
 * operations and render the answers as MQTT. Messages to a device are published to its
 * connection alone (mqtt-link.ts); aedes never forwards one device's publish to another.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { Aedes } from 'aedes'
import type { AedesOptions, Client } from 'aedes'
import { positiveInteger } from '../option-checks.js'
import type { HubService } from '../service.js'
import type { MethodCalls } from '../state/methods.js'
import { packetParser } from './aedes-internals.js'
import { c2dForwardable, pubackC2d } from './c2d-link.js'
import { idFields, mqttContext } from './context.js'
import type { MqttContext } from './context.js'
import { clientDisconnect, clientError, keepaliveTimeout } from './handlers/close.js'
import { authenticate, clientReady, preConnect } from './handlers/connect.js'
import { MAX_MESSAGE_BYTES, authorizePublish } from './handlers/publish.js'
import { authorizeSubscribe, subscribed, unsubscribed } from './handlers/subscribe.js'
import { guardBrokerOptions, guardedListener } from './handler-guard.js'
import { gateReads } from './ingress-gate.js'
import { DIRECT_BROKER_ID } from './mqtt-link.js'
import { DEFAULT_MAX_OUTBOUND_BYTES, limitOutbound } from './outbound-limit.js'
import { PacketSizeGuard } from './packet-guard.js'

/** The broker and the function that hands it a new connection. */
export interface HubBroker {
  broker: Aedes
  handle(conn: Duplex, req?: IncomingMessage): void
}

/**
 * IoT Hub grants a QoS 2 subscription as QoS 1. aedes grants what was asked, so the SUBSCRIBE
 * packet is changed as it leaves the parser, before aedes handles it.
 */
function grantQos1ForQos2(ctx: MqttContext, client: Client): void {
  const parser = packetParser(client)
  if (parser === undefined) {
    ctx.warn('This aedes has no _parser: a QoS 2 subscription is granted as 2, not as IoT Hub’s 1.')
    return
  }
  parser.prependListener('packet', (packet: { cmd?: string; subscriptions?: Array<{ qos: number }> }) => {
    if (packet.cmd !== 'subscribe' || !Array.isArray(packet.subscriptions)) return
    for (const sub of packet.subscriptions) if (sub.qos === 2) sub.qos = 1
  })
}

/** A connection's socket: its outbound bound, and no packet declared over the hub's limit. */
function guardSocket(ctx: MqttContext, client: Client, conn: Duplex, maxOutbound: number): void {
  limitOutbound(conn, maxOutbound, (buffered) => {
    const c = ctx.connections.get(client)
    const reason = `outbound queue over ${maxOutbound} bytes (${buffered} unsent): the client is not reading its socket`
    if (c) c.session.closeReason = reason
    ctx.hub.events.publish({
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
    const c = ctx.connections.get(client)
    if (c)
      c.session.closeReason =
        guard.refusal ?? `message too large: a packet of ${size} bytes, IoT Hub allows ${MAX_MESSAGE_BYTES}`
    conn.destroy()
  }
  conn.on('data', watch)
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
  const ctx = mqttContext(hub, methods)
  const { warn } = ctx
  const options: AedesOptions = {
    id: `sas-token-hub-${process.pid}`,
    maxClientsIdLength: 260,
    connectTimeout: 30_000,
    heartbeatInterval: 60_000,
    preConnect: preConnect(ctx),
    authenticate: authenticate(ctx),
    authorizePublish: authorizePublish(ctx),
    authorizeSubscribe: authorizeSubscribe(ctx),
    // only what the hub addressed to one connection, and C2D whose lock still holds
    authorizeForward: (_client, packet) =>
      packet.brokerId === DIRECT_BROKER_ID || c2dForwardable(hub, packet.brokerId) ? packet : null,
  }
  const broker = await Aedes.createBroker(guardBrokerOptions(warn, options))
  broker.on('clientReady', guardedListener('The clientReady handler', warn, clientReady(ctx)))
  broker.on('subscribe', guardedListener('The subscribe handler', warn, subscribed(ctx)))
  broker.on('unsubscribe', guardedListener('The unsubscribe handler', warn, unsubscribed(ctx)))
  broker.on(
    'ack',
    guardedListener('The ack handler', warn, (packet, client) => {
      const c = ctx.connections.get(client)
      if (c) pubackC2d(hub, c.session, packet)
    }),
  )
  broker.on('keepaliveTimeout', guardedListener('The keepaliveTimeout handler', warn, keepaliveTimeout(ctx)))
  broker.on('clientDisconnect', guardedListener('The clientDisconnect handler', warn, clientDisconnect(ctx)))
  broker.on('clientError', guardedListener('The clientError handler', warn, clientError(ctx)))

  let ungated = false
  return {
    broker,
    handle(conn, req) {
      const client = broker.handle(conn, req)
      grantQos1ForQos2(ctx, client)
      // no device input is read while a lossless event sink is behind (ingress-gate.ts)
      if (!gateReads(client, conn, hub.events.ingress) && !ungated) {
        ungated = true
        warn(
          'This aedes has no _nextBatch: device input is not held while the log is behind (events may pile up).',
        )
      }
      guardSocket(ctx, client, conn, maxOutbound)
    },
  }
}
