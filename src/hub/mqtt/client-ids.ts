/**
 * DPS and the hub are separate services that share one MQTT listener and one aedes broker, so
 * they must not share one client-id space: a device registering with DPS under the id of a
 * connected device (they are usually equal) would otherwise replace that device's connection.
 * A DPS connection's client id is namespaced on the broker with a prefix that starts with
 * U+0000, a character no MQTT client id may hold (MQTT 3.1.1 §1.5.3), so it can collide with
 * no device's; the hub's own code sees the client id the client sent.
 *
 * @module
 */
import { isDpsUsername } from '../auth/device-auth.js'

const DPS_PREFIX = '\u0000dps/'

/** The id aedes keeps a connection under: DPS connections (by their username) in their own space. */
export function brokerClientId(clientId: string, username: string | undefined): string {
  return isDpsUsername(username) ? DPS_PREFIX + clientId : clientId
}

/** The client id a connection sent, from the id aedes keeps it under. */
export function sentClientId(brokerId: string): string {
  return brokerId.startsWith(DPS_PREFIX) ? brokerId.slice(DPS_PREFIX.length) : brokerId
}
