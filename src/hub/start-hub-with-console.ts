/**
 * `startHubWithConsole()`: what `sas-token hub` runs, for the CLI and the library alike. The hub
 * on IoT Hub's own ports (each default that cannot be bound stays off with a warning), the web
 * console (on 8884, or a free port when that is taken), and one `ready` document for both.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { startConsole } from './console/server.js'
import type { HubConsole } from './console/server.js'
import { DEFAULT_PORTS } from './default-ports.js'
import type { Hub } from './hub-handle.js'
import { publishReady } from './ready.js'
import type { ReadyDocument } from './ready.js'
import { launchHub } from './start-hub.js'
import type { StartHubOptions } from './start-hub.js'

/** Options of {@link startHubWithConsole}: those of `startHub`, with other port defaults. */
export interface StartHubWithConsoleOptions extends Omit<StartHubOptions, 'optionalListeners'> {
  /** MQTT over TLS port; default 8883, off with a `warning` when it cannot be bound. */
  mqttPort?: number
  /** HTTPS port; default 443, off with a `warning` when it cannot be bound (443 needs privileges). */
  httpsPort?: number
  /** AMQP over TLS port; default 5671, off with a `warning` when it cannot be bound; `false`: none. */
  amqpPort?: number | false
  /** Plain AMQP port on the loopback address; default 5672, off with a `warning` when it cannot be bound; `false`: none. */
  amqpPlainPort?: number | false
  /**
   * The web console: `false` for none; `port` default 8884 (a free one, with a `warning`, when
   * it is taken; a port given that cannot be bound is an error).
   */
  console?:
    | false
    | {
        /** The console's port on 127.0.0.1; default 8884, or a free one when that is taken. */
        port?: number
      }
}

/** A hub started with {@link startHubWithConsole}. */
export interface HubWithConsole {
  /** The hub. */
  hub: Hub
  /** The console, unless off (`console: false`, or no HTTPS listener to front). */
  console?: HubConsole
  /** What was published as the `ready` event. */
  ready: ReadyDocument
  /** Closes the console, then the hub (and writes its state). */
  close(): Promise<void>
}

/**
 * Starts a hub and its web console as `sas-token hub` does: ports not given are IoT Hub's own
 * (8883, 443, 5671, 5672) and the console's 8884, and one that cannot be bound is not an error: that
 * listener stays off with one `warning` event saying which port, why and what to do (the
 * console moves to a free port). A hub left with neither MQTT nor HTTPS is an error. Give
 * `onEvent` to see those warnings: they are published before this resolves.
 *
 * @example
 * ```ts
 * const { hub, ready, close } = await startHubWithConsole({ inMemory: true, onEvent: console.log })
 * ready.consoleUrl // http://127.0.0.1:8884/?token=…
 * await close()
 * ```
 * @throws {SasTokenError} those of `startHub`: `ERR_HUB_PORT_UNAVAILABLE` when a port given
 *   (the console's too) cannot be bound or neither MQTT nor HTTPS can; `ERR_INVALID_OPTION` when
 *   the console's port is not a port, or the console page is not built.
 */
export async function startHubWithConsole(o: StartHubWithConsoleOptions = {}): Promise<HubWithConsole> {
  const optional: Array<'mqtt' | 'https' | 'amqp' | 'amqpPlain'> = []
  if (o.mqttPort === undefined) optional.push('mqtt')
  if (o.httpsPort === undefined) optional.push('https')
  if (o.amqpPort === undefined) optional.push('amqp')
  if (o.amqpPlainPort === undefined) optional.push('amqpPlain')
  const launched = await launchHub({
    ...o,
    mqttPort: o.mqttPort ?? DEFAULT_PORTS.mqtt,
    httpsPort: o.httpsPort ?? DEFAULT_PORTS.https,
    amqpPort: o.amqpPort ?? DEFAULT_PORTS.amqp,
    amqpPlainPort: o.amqpPlainPort ?? DEFAULT_PORTS.amqpPlain,
    optionalListeners: optional,
  })
  const { hub } = launched
  let web: HubConsole | undefined
  try {
    web = await openConsole(hub, o)
  } catch (err) {
    await hub.close()
    throw err
  }
  const ready = publishReady(launched, web)
  return {
    hub,
    ...(web === undefined ? {} : { console: web }),
    ready,
    close: async () => {
      await Promise.all([web?.close(), hub.close()])
    },
  }
}

async function openConsole(hub: Hub, o: StartHubWithConsoleOptions): Promise<HubConsole | undefined> {
  if (o.console === false) return undefined
  if (hub.ports.https === 0) {
    hub.events.publish({
      event: 'warning',
      listener: 'console',
      message:
        'No web console: it fronts the HTTPS listener, which is off (start with --https-port 8443, or 0 for any free port).',
    })
    return undefined
  }
  const host = o.host
  const options = {
    hub,
    ...(host === undefined || host === '0.0.0.0' || host === '::' ? {} : { hubAddress: host }),
  }
  const port = o.console?.port
  if (port !== undefined) return startConsole({ ...options, port })
  try {
    return await startConsole({ ...options, port: DEFAULT_PORTS.console })
  } catch (err) {
    if (!(err instanceof SasTokenError) || err.code !== 'ERR_HUB_PORT_UNAVAILABLE') throw err
    hub.events.publish({
      event: 'warning',
      listener: 'console',
      port: DEFAULT_PORTS.console,
      message: `The console's default port ${DEFAULT_PORTS.console} is taken; using a free one (choose one with --console-port).`,
    })
    return startConsole({ ...options, port: 0 })
  }
}
