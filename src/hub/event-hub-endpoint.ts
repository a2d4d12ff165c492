/**
 * The hub's built-in Event Hub-compatible endpoint, as a backend names it: its event hub name
 * and the connection strings `@azure/event-hubs` takes (`EventHubConsumerClient`), one over TLS
 * on the AMQP port and one with `UseDevelopmentEmulator=true` on the plain loopback AMQP port.
 *
 * @module
 */
import { isIP } from 'node:net'
import { formatConnectionString } from '../connection-string.js'
import { serviceOf } from '../service-bus-connection-string.js'

/** The policy the connection strings sign as (the Azure portal's for this endpoint too). */
export const EVENT_HUB_POLICY = 'iothubowner'

/**
 * The event hub's name (`EntityPath=`): the hub's name, which is the first label of its host
 * name (`myhub` for `myhub.azure-devices.net`, `localhost` for `localhost`), as IoT Hub names
 * its built-in endpoint. A host name that is an IP address has no hub name in it, so the address
 * names the event hub whole (`127.0.0.2`; an IPv6 address with `-` for each `:`, which an entity
 * path may not hold), the way SASL PLAIN's `@sas.root.{hub}` accepts the whole host name too.
 *
 * @example
 * ```ts
 * eventHubName('myhub.azure-devices.net') // 'myhub'
 * eventHubName('127.0.0.2') // '127.0.0.2'
 * ```
 * @throws Never.
 */
export function eventHubName(hostName: string): string {
  const version = isIP(hostName)
  if (version === 4) return hostName
  if (version === 6) return hostName.replaceAll(':', '-')
  return hostName.split('.')[0] ?? hostName
}

/**
 * The namespace a client of the plain development port dials: `localhost` when the port is
 * bound on 127.0.0.1 or ::1 (both are `localhost`), else the loopback address it is bound on
 * (`127.0.0.2`: `localhost` would not reach it). The hub takes it, with that port, as its own
 * host in an Event Hubs audience.
 *
 * @throws Never.
 */
export function developmentNamespace(plainHost: string | undefined): string {
  const written = (plainHost ?? 'localhost').toLowerCase()
  // an IPv4-mapped IPv6 bind address (::ffff:127.0.0.3) takes IPv4 clients at its IPv4 address
  const h = written.startsWith('::ffff:') && isIP(written.slice(7)) === 4 ? written.slice(7) : written
  return h === 'localhost' || h === '127.0.0.1' || h === '::1' || h === '0:0:0:0:0:0:0:1' ? 'localhost' : h
}

/**
 * The Event Hub-compatible connection string:
 * `Endpoint=sb://{host}[:{port}]/;SharedAccessKeyName=iothubowner;SharedAccessKey={key};EntityPath={name}`
 * (the port is left out when it is AMQP's own, 5671), and with `development`,
 * `UseDevelopmentEmulator=true` on the plain port, whose host is where that port is bound
 * (`plainHost`, loopback only): `localhost` for 127.0.0.1 (the default), else the address.
 * The key is the owner key as written: Event Hubs clients sign with its text.
 *
 * @throws {SasTokenError} `ERR_INVALID_ENTITY_PATH` when the host name gives no valid event hub name.
 */
export function eventHubConnectionString(o: {
  hostName: string
  port: number
  ownerKey: string
  development?: boolean
  /** The address the plain port is bound on (default 127.0.0.1). */
  plainHost?: string
}): string {
  const namespace = o.development ? developmentNamespace(o.plainHost) : o.hostName
  const port = o.development ? o.port : o.port === 5671 ? undefined : o.port
  const entityPath = eventHubName(o.hostName)
  return formatConnectionString({
    kind: 'service-bus',
    namespace,
    ...(port === undefined ? {} : { port }),
    sharedAccessKeyName: EVENT_HUB_POLICY,
    sharedAccessKey: o.ownerKey,
    entityPath,
    ...(o.development ? { useDevelopmentEmulator: true } : {}),
    service: serviceOf(namespace, entityPath, o.development === true),
  })
}
