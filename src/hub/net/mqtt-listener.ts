/**
 * The MQTT over TLS listener (devices, modules and DPS): client certificates are asked for and
 * checked against the verified CAs, but a chain that does not verify still connects, so the
 * CONNECT is refused with the reason instead of a bare TLS failure.
 *
 * @module
 */
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import type { Server as TlsServer } from 'node:tls'
import type { CaRegistry } from '../state/ca-registry.js'
import type { TlsMaterial } from '../tls/tls-material.js'
import { type TlsHandshakeGuard, guardConnections } from './guard-listener.js'

/** What {@link createMqttListener} needs. */
export interface MqttListenerOptions {
  /** The server certificate and key. */
  tls: TlsMaterial
  /** The registered X.509 CAs: the verified ones are the listener's client CAs, kept current. */
  certificates: CaRegistry
  /** The handshake rules (timeout, cap, failure warnings). */
  handshakes: TlsHandshakeGuard
  /** The broker's connection handler. */
  handle: (stream: Duplex) => void
  /** `true` while an outage pauses the listener: a new connection is closed at once. */
  paused?: () => boolean
}

/** Creates (does not bind) the MQTT over TLS listener. */
export function createMqttListener(o: MqttListenerOptions): TlsServer {
  // The verified CAs are the TLS listener's client CAs, so OpenSSL verifies each chain (an
  // unverified one still connects: the CONNECT is refused with the reason).
  const context = () => ({
    cert: o.tls.server.cert,
    key: o.tls.server.key,
    ca: o.certificates.verifiedPems(),
    allowPartialTrustChain: true,
  })
  const server = createTlsServer(
    { ...o.handshakes.serverOptions, ...context(), requestCert: true, rejectUnauthorized: false },
    guardConnections((socket) => o.handle(socket), o.paused),
  )
  o.handshakes.watch(server, 'mqtt')
  o.certificates.onChange(() => server.setSecureContext(context()))
  return server
}
