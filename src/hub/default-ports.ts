/**
 * The ports `sas-token hub` (and `startHubWithConsole()`) use unless told otherwise: IoT Hub's
 * own, so the official SDKs connect with only `HostName` changed, and the console's. Nothing
 * here loads the hub, so the CLI bundle may import it.
 *
 * @module
 */

/** IoT Hub's ports and the console's. */
export const DEFAULT_PORTS: {
  /** MQTT over TLS (devices, modules, DPS). */
  readonly mqtt: 8883
  /** HTTPS: the REST API and MQTT over WebSocket. */
  readonly https: 443
  /** AMQP over TLS (devices, the service SDK, the Event Hub-compatible endpoint). */
  readonly amqp: 5671
  /** Plain AMQP on the loopback address, for `UseDevelopmentEmulator=true`. */
  readonly amqpPlain: 5672
  /** The web console, on 127.0.0.1. */
  readonly console: 8884
} = { mqtt: 8883, https: 443, amqp: 5671, amqpPlain: 5672, console: 8884 }
