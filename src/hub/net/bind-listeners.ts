/**
 * Binds the hub's listeners, with one rule for ports that cannot be bound: an explicitly asked
 * port is an error (`ERR_HUB_PORT_UNAVAILABLE`); a default one (the CLI's 8883, 443, 5671, 5672) stays
 * off with one `warning` event saying which port, why (in use, needs privileges) and what to do;
 * and a hub left with no listener that serves devices (neither MQTT nor HTTPS) is an error,
 * not a process that runs on serving nothing.
 *
 * @module
 */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:net'
import { SasTokenError } from '../../errors.js'
import type { HubEvents } from '../events.js'

/** The hub's listeners. */
export type ListenerName = 'mqtt' | 'https' | 'amqp' | 'amqpPlain'

/** One listener to bind. */
export interface ListenerToBind {
  /** Which. */
  name: ListenerName
  /** The server. */
  server: Server
  /** The port to bind (0: a free one). */
  port: number
  /** A default port: when it cannot be bound, a warning and the listener stays off (port 0). */
  optional: boolean
  /** The address to bind instead of the hub's (the plain AMQP listener: loopback only). */
  host?: string
}

const LABELS: Record<ListenerName, string> = {
  mqtt: 'MQTT/TLS',
  https: 'HTTPS+WebSocket',
  amqp: 'AMQP/TLS',
  amqpPlain: 'AMQP (plain, loopback)',
}

/** The CLI flag that sets each listener's port. */
const FLAGS: Record<ListenerName, string> = {
  mqtt: '--mqtt-port',
  https: '--https-port',
  amqp: '--amqp-port',
  amqpPlain: '--amqp-plain-port',
}

/** Why a bind failed, in words. */
function why(err: NodeJS.ErrnoException, port: number): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `it is in use (EADDRINUSE: another sas-token hub, or another server, has port ${port})`
    case 'EACCES':
    case 'EPERM':
      return `it needs privileges (${err.code}: ports below 1024 need root or CAP_NET_BIND_SERVICE)`
    case 'EADDRNOTAVAIL':
      return 'the address is not one of this machine’s (EADDRNOTAVAIL)'
    default:
      return err.code ?? err.message
  }
}

/** What to do when a default port of `name` stays off. */
function remedy(name: ListenerName, host: string): string {
  const local = host === '127.0.0.1' || host === '0.0.0.0' || host === '::' ? 'localhost' : host
  switch (name) {
    case 'https':
      return `To serve HTTPS (the REST API, MQTT over WebSocket, the console) as a non-root user, start with --https-port 8443 (httpsPort), then point the CLI's hub commands at it with --endpoint https://${local}:8443 or SAS_TOKEN_HUB_ENDPOINT=https://${local}:8443, and the SDKs with GatewayHostName=${local}:8443 in the connection string.`
    case 'mqtt':
      return `To serve MQTT, start with --mqtt-port 0 (a free port; the ready line shows it) or another free port (mqttPort), and point the SDKs at it with GatewayHostName=${local}:<port> in the connection string.`
    case 'amqp':
      return `To serve AMQP (the AMQP device transports, the service SDK's C2D, the Event Hub-compatible endpoint), start with --amqp-port 0 (a free port; the ready line shows it) or another free port (amqpPort), and point the SDKs at it with GatewayHostName=${local}:<port> (or, for Event Hubs, customEndpointAddress amqps://${local}:<port>); or none with --no-amqp (amqpPort: false).`
    case 'amqpPlain':
      return 'The Event Hubs SDKs’ UseDevelopmentEmulator=true dials 5672: choose another with --amqp-plain-port (amqpPlainPort) and put it in the Endpoint (sb://localhost:<port>), or none with --no-amqp-plain (amqpPlainPort: false).'
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** Closes a server if it listens; resolves once it is closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
  })
}

/**
 * Binds each listener in turn on `host`; returns the bound ports (0 for a default one that
 * stays off). On an error every listener bound so far is closed again.
 *
 * @throws {SasTokenError} `ERR_HUB_PORT_UNAVAILABLE` (with `port` and `listener`) when an
 *   explicitly asked port cannot be bound, or (with `unavailable`) when neither MQTT nor HTTPS
 *   could be bound.
 */
export async function bindListeners(
  listeners: ListenerToBind[],
  host: string,
  events: HubEvents,
): Promise<Record<ListenerName, number>> {
  const ports: Record<ListenerName, number> = { mqtt: 0, https: 0, amqp: 0, amqpPlain: 0 }
  const off: Array<{ listener: ListenerName; port: number; reason: string }> = []
  try {
    for (const l of listeners) {
      const on = l.host ?? host
      try {
        ports[l.name] = await listen(l.server, l.port, on)
      } catch (cause) {
        const reason = why(cause as NodeJS.ErrnoException, l.port)
        const where = `${on}:${l.port}`
        if (!l.optional) {
          throw Object.assign(
            new SasTokenError(
              'ERR_HUB_PORT_UNAVAILABLE',
              `The ${l.name} listener cannot bind ${where}: ${reason}; choose another with ${FLAGS[l.name]} (0 picks a free one).`,
              { cause },
            ),
            { port: l.port, listener: l.name },
          )
        }
        off.push({ listener: l.name, port: l.port, reason })
        events.publish({
          event: 'warning',
          listener: l.name,
          port: l.port,
          message: `${LABELS[l.name]} is off: the default port ${l.port} cannot be bound on ${on} because ${reason}. ${remedy(l.name, on)}`,
        })
      }
    }
    if (ports.mqtt === 0 && ports.https === 0) {
      const list = off.map((o) => `${LABELS[o.listener]} ${o.port} (${o.reason})`).join('; ')
      throw Object.assign(
        new SasTokenError(
          'ERR_HUB_PORT_UNAVAILABLE',
          `No listener of the hub could bind ${host}, so it would serve nothing: ${list}. Is another sas-token hub running? Stop it, or start this one on other ports: --mqtt-port 0 --https-port 0 (free ones, shown in the ready line), or --https-port 8443 as a non-root user.`,
        ),
        { unavailable: off },
      )
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => closeServer(l.server)))
    throw err
  }
  return ports
}
