/**
 * Which bind addresses are loopback: `localhost`, `::1`, and all of 127.0.0.0/8 (also written
 * as an IPv4-mapped IPv6 address), as the operating system routes them.
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
