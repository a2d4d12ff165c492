/**
 * The `ready` document, built once: the event a started hub publishes, and what
 * `sas-token hub` prints (its `--json` first line as it is, its human lines from its fields).
 *
 * @module
 */
import type { HubConsole } from './console/server.js'
import type { LaunchedHub } from './start-hub.js'

/** What a started hub says first: how to reach it. It holds the owner key and device keys. */
export interface ReadyDocument {
  /** Always `ready`. */
  event: 'ready'
  /** The owner connection string (`iothubowner`). */
  hubConnectionString: string
  /** The CA certificate's path, or `null` in memory. */
  caPath: string | null
  /** The CA certificate (PEM), when it has no path (in memory). */
  ca?: string
  /** The host name in connection strings. */
  hostName: string
  /** The DPS ID scope. */
  idScope: string
  /** The bind address. */
  host: string
  /** The bound ports; 0 for a listener that is off. */
  ports: {
    /** MQTT over TLS (devices and DPS). */
    mqtt: number
    /** HTTPS (REST API, MQTT over WebSocket). */
    https: number
    /** AMQP (refused at once). */
    amqp: number
  }
  /** The state directory, or `null` in memory. */
  stateDir: string | null
  /** The console's URL with its access token, or `null` without a console. */
  consoleUrl: string | null
  /** The connection string of each device created at start. */
  devices: Record<string, string>
  /** When it was published, ISO 8601. */
  time: string
}

/**
 * Builds the `ready` document of a started hub (and its console), publishes it as the `ready`
 * event and returns it.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND` when a device created at start was removed already.
 */
export async function publishReady(launched: LaunchedHub, web?: HubConsole): Promise<ReadyDocument> {
  const { hub } = launched
  const devices: Record<string, string> = {}
  for (const id of launched.devices) devices[id] = (await hub.addDevice(id)).connectionString
  const document: Omit<ReadyDocument, 'time'> = {
    event: 'ready',
    hubConnectionString: hub.hubConnectionString,
    caPath: hub.caPath ?? null,
    ...(hub.caPath === undefined ? { ca: hub.ca } : {}),
    hostName: hub.hostName,
    idScope: hub.idScope,
    host: launched.host,
    ports: { ...hub.ports },
    stateDir: launched.stateDir ?? null,
    consoleUrl: web?.url ?? null,
    devices,
  }
  const { time } = hub.events.publish(document)
  return { ...document, time }
}
