/**
 * The HTTPS listener: the operator REST API, and MQTT and AMQP over WebSocket at
 * `/$iothub/websocket` (subprotocols `mqtt` and `AMQPWSB10`, as IoT Hub serves them). Any other
 * upgrade is answered 400, with a `warning` event that says what came (path and subprotocols)
 * and what the hub serves, counted per window so a storm does not flood the log.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { TlsMaterial } from '../tls/tls-material.js'
import { type TlsHandshakeGuard, guardUpgrades, httpTimeouts } from './guard-listener.js'
import { WARNING_WINDOW_MS, type WarningThrottle } from './warning-throttle.js'

/** Where MQTT over WebSocket is served. */
export const WEBSOCKET_PATH = '/$iothub/websocket'

/** The WebSocket subprotocol of MQTT served there. */
export const WEBSOCKET_PROTOCOL = 'mqtt'

/** The WebSocket subprotocol of AMQP served there (AMQP 1.0 over WebSocket, binary). */
export const AMQP_WEBSOCKET_PROTOCOL = 'AMQPWSB10'

/** What {@link createHttpsListener} needs. */
export interface HttpsListenerOptions {
  /** The server certificate and key. */
  tls: TlsMaterial
  /** The handshake rules (timeout, cap, failure warnings). */
  handshakes: TlsHandshakeGuard
  /** The REST API's request handler. */
  api: (req: IncomingMessage, res: ServerResponse) => void
  /** The broker's connection handler, for MQTT over WebSocket. */
  handle: (stream: Duplex, req: IncomingMessage) => void
  /** The AMQP adapter's connection handler, for AMQP over WebSocket. */
  handleAmqp: (stream: Duplex) => void
  /** Where the warnings about refused upgrades go. */
  warnings: WarningThrottle
  /**
   * `true` while an outage pauses the device listeners: an MQTT or AMQP over WebSocket upgrade
   * is answered 503 at once (the REST API goes on).
   */
  paused?: () => boolean
}

/** A created (not bound) HTTPS listener. */
export interface HttpsListener {
  /** The server, to bind. */
  server: HttpsServer
  /** Ends every MQTT and AMQP over WebSocket connection. */
  terminateWebSockets(): void
}

/** What the hub says about an upgrade it does not serve. */
function refusedUpgrade(path: string, offered: string[]): string {
  const came = `subprotocol ${offered.length === 0 ? '(none)' : offered.map((p) => JSON.stringify(p)).join(', ')}`
  return `Refused a WebSocket upgrade (400) to ${JSON.stringify(path.slice(0, 200))} with ${came}: the hub serves MQTT over WebSocket (subprotocol ${WEBSOCKET_PROTOCOL}) and AMQP over WebSocket (subprotocol ${AMQP_WEBSOCKET_PROTOCOL}) at ${WEBSOCKET_PATH}, nothing else.`
}

/** Creates (does not bind) the HTTPS listener. */
export function createHttpsListener(o: HttpsListenerOptions): HttpsListener {
  const server = createHttpsServer(
    { ...o.handshakes.serverOptions, ...httpTimeouts(), cert: o.tls.server.cert, key: o.tls.server.key },
    o.api,
  )
  o.handshakes.watch(server, 'https')
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 512 * 1024,
    handleProtocols: (protocols) =>
      protocols.has(WEBSOCKET_PROTOCOL)
        ? WEBSOCKET_PROTOCOL
        : protocols.has(AMQP_WEBSOCKET_PROTOCOL)
          ? AMQP_WEBSOCKET_PROTOCOL
          : false,
  })
  server.on(
    'upgrade',
    guardUpgrades((req, socket, head, url) => {
      const path = url.pathname
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '')
      const served = offered.includes(WEBSOCKET_PROTOCOL) || offered.includes(AMQP_WEBSOCKET_PROTOCOL)
      if (path !== WEBSOCKET_PATH || !served) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        const address = server.address()
        const fields = {
          listener: 'https',
          ...(typeof address === 'object' && address !== null ? { port: address.port } : {}),
          path: path.slice(0, 200),
          protocol: offered.join(', ').slice(0, 200),
        }
        o.warnings.report('upgrade', { ...fields, message: refusedUpgrade(path, offered) }, (count) => ({
          ...fields,
          message: `${count} more refused WebSocket upgrade${count === 1 ? '' : 's'} in the last ${WARNING_WINDOW_MS / 1000} s; the last: ${refusedUpgrade(path, offered)}`,
        }))
        return
      }
      if (o.paused?.() === true) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws)
        stream.on('error', () => undefined)
        if (ws.protocol === AMQP_WEBSOCKET_PROTOCOL) o.handleAmqp(stream)
        else o.handle(stream, req)
      })
    }),
  )
  return {
    server,
    terminateWebSockets() {
      for (const client of wss.clients) client.terminate()
    },
  }
}
