/**
 * The hub's built-in Event Hub-compatible endpoint, as a backend names it: its event hub name
 * and the connection strings `@azure/event-hubs` takes (`EventHubConsumerClient`), one over TLS
 * on the AMQP port and one with `UseDevelopmentEmulator=true` on the plain loopback AMQP port.
 *
 * @module
 */
import { formatConnectionString } from '../connection-string.js'
import { serviceOf } from '../service-bus-connection-string.js'

/** The policy the connection strings sign as (the Azure portal's for this endpoint too). */
export const EVENT_HUB_POLICY = 'iothubowner'

/**
 * The event hub's name (`EntityPath=`): the hub's name, which is the first label of its host
 * name (`myhub` for `myhub.azure-devices.net`, `localhost` for `localhost`), as IoT Hub names
 * its built-in endpoint.
 */
export function eventHubName(hostName: string): string {
  return hostName.split('.')[0] ?? hostName
}

/**
 * The Event Hub-compatible connection string:
 * `Endpoint=sb://{host}[:{port}]/;SharedAccessKeyName=iothubowner;SharedAccessKey={key};EntityPath={name}`
 * (the port is left out when it is AMQP's own, 5671), and with `development`,
 * `UseDevelopmentEmulator=true` on the plain port (host `localhost`: that port is loopback only).
 * The key is the owner key as written: Event Hubs clients sign with its text.
 *
 * @throws {SasTokenError} `ERR_INVALID_ENTITY_PATH` when the host name gives no valid event hub name.
 */
export function eventHubConnectionString(o: {
  hostName: string
  port: number
  ownerKey: string
  development?: boolean
}): string {
  const namespace = o.development ? 'localhost' : o.hostName
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
