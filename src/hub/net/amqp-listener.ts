/**
 * The AMQP listener (5671 by default): AMQP is not served yet, so every AMQP client is refused
 * at once (amqp-refusal.ts) instead of waiting minutes for its own timeout, and a `warning`
 * event says so, counted per window.
 *
 * @module
 */
import { createServer as createTlsServer } from 'node:tls'
import type { Server as TlsServer } from 'node:tls'
import type { TlsMaterial } from '../tls/tls-material.js'
import { refuseAmqp } from './amqp-refusal.js'
import { type TlsHandshakeGuard, guardConnections } from './guard-listener.js'
import { WARNING_WINDOW_MS, type WarningThrottle } from './warning-throttle.js'

/** IoT Hub's AMQP over TLS port. */
export const AMQP_PORT = 5671

/** What {@link createAmqpListener} needs. */
export interface AmqpListenerOptions {
  /** The server certificate and key. */
  tls: TlsMaterial
  /** The handshake rules (timeout, cap, failure warnings). */
  handshakes: TlsHandshakeGuard
  /** Where the warnings about refused clients go. */
  warnings: WarningThrottle
}

const SERVED =
  'connect devices over MQTT or MQTT over WebSocket (the ready line has the ports); the service SDK’s registry and direct methods work over HTTPS'

/** Creates (does not bind) the AMQP listener that refuses every client at once. */
export function createAmqpListener(o: AmqpListenerOptions): TlsServer {
  const server = createTlsServer(
    { ...o.handshakes.serverOptions, cert: o.tls.server.cert, key: o.tls.server.key },
    guardConnections((socket) =>
      refuseAmqp(socket, (outcome) => {
        const address = server.address()
        const fields = {
          listener: 'amqp',
          ...(typeof address === 'object' && address !== null ? { port: address.port } : {}),
          protocol: outcome === 'refused' ? 'amqp' : 'unknown',
        }
        const what =
          outcome === 'refused'
            ? 'an AMQP client was refused at once (its protocol header answered, the connection closed)'
            : 'a client that does not speak AMQP was disconnected'
        o.warnings.report(
          `amqp:${outcome}`,
          { ...fields, message: `AMQP is not served yet: ${what}; ${SERVED}.` },
          (count) => ({
            ...fields,
            message: `AMQP is not served yet: ${count} more time${count === 1 ? '' : 's'} in the last ${WARNING_WINDOW_MS / 1000} s, ${what}; ${SERVED}.`,
          }),
        )
      }),
    ),
  )
  o.handshakes.watch(server, 'amqp')
  return server
}
