/**
 * Which bind addresses are loopback: `localhost`, `::1`, and all of 127.0.0.0/8 (also written
 * as an IPv4-mapped IPv6 address), as the operating system routes them; and which name the
 * server certificate needs for a bind address, so that clients can dial that address.
 *
 * @module
 */
import { isIPv4 } from 'node:net'

/** Whether `host` is a loopback address or name. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h
  return isIPv4(v4) && v4.startsWith('127.')
}

/**
 * The name the server certificate must hold for clients that dial the bind address `host`
 * itself (`127.0.0.2`, `::1`, a LAN address): none for the wildcard addresses, which no client
 * dials. `localhost`, `127.0.0.1` and `::1` are always on the certificate.
 */
export function certificateNameOf(host: string): string[] {
  const h = host.toLowerCase()
  return h === '0.0.0.0' || h === '::' || h === '' ? [] : [h === '0:0:0:0:0:0:0:1' ? '::1' : h]
}
