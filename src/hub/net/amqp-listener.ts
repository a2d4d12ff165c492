/**
 * The AMQP listeners: AMQP over TLS on 5671 (IoT Hub's port), and plain AMQP on 5672 for the
 * SDKs' `UseDevelopmentEmulator=true`, bound on the loopback address only, so nothing unencrypted
 * is ever offered beyond this machine. Both hand each connection to the hub's AMQP adapter
 * (amqp/server.ts); the TLS one stands behind the handshake guard, both behind the connection
 * guard (guard-listener.ts).
 *
 * @module
 */
import { createServer as createNetServer } from 'node:net'
import type { Server as NetServer } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import type { Server as TlsServer } from 'node:tls'
import type { TlsMaterial } from '../tls/tls-material.js'
import { type TlsHandshakeGuard, guardConnections } from './guard-listener.js'

/** IoT Hub's AMQP over TLS port. */
export const AMQP_PORT = 5671

/** The plain AMQP port of the development emulator convention (`UseDevelopmentEmulator=true`). */
export const AMQP_PLAIN_PORT = 5672

/** The address the plain AMQP listener binds, whatever the hub's bind address. */
export const AMQP_PLAIN_HOST = '127.0.0.1'

/** What {@link createAmqpListener} needs. */
export interface AmqpListenerOptions {
  /** The server certificate and key. */
  tls: TlsMaterial
  /** The handshake rules (timeout, cap, failure warnings). */
  handshakes: TlsHandshakeGuard
  /** The AMQP adapter's connection handler. */
  handle: (socket: Duplex) => void
  /** `true` while an outage pauses the listener: a new connection is closed at once. */
  paused?: () => boolean
}

/** Creates (does not bind) the AMQP over TLS listener. */
export function createAmqpListener(o: AmqpListenerOptions): TlsServer {
  const server = createTlsServer(
    { ...o.handshakes.serverOptions, cert: o.tls.server.cert, key: o.tls.server.key },
    guardConnections((socket) => o.handle(socket), o.paused),
  )
  o.handshakes.watch(server, 'amqp')
  return server
}

/** Creates (does not bind) the plain AMQP listener; bind it on {@link AMQP_PLAIN_HOST} only. */
export function createAmqpPlainListener(o: {
  handle: (socket: Duplex) => void
  paused?: () => boolean
}): NetServer {
  return createNetServer(guardConnections((socket) => o.handle(socket), o.paused))
}
