/**
 * Who may talk to the console: a request must name the console itself in `Host` (no DNS
 * rebinding), come from the console's own origin when it says where it comes from (`Origin`,
 * `Sec-Fetch-Site`), and carry the access token. Pure functions over the request headers.
 *
 * @module
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** A fresh access token: 32 random bytes, base64url (43 characters). */
export function newAccessToken(): string {
  return randomBytes(32).toString('base64url')
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokenMatches(presented: string | undefined | null, expected: string): boolean {
  if (typeof presented !== 'string' || presented === '') return false
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/** The token of an `Authorization: Bearer …` header, if any. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization
  if (typeof value !== 'string') return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value)
  return match?.[1]
}

/** The `Host` values the console answers to, for a console bound on loopback at `port`. */
export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`])
}

/** Why a request is refused before its token is even looked at, or `undefined` if it may go on. */
export function originProblem(headers: IncomingHttpHeaders, hosts: Set<string>): string | undefined {
  const host = headers.host?.toLowerCase()
  if (!host || !hosts.has(host)) return 'the Host header does not name this console'
  const origin = headers.origin
  if (origin !== undefined && origin !== `http://${host}`) return 'requests from another origin are refused'
  const site = headers['sec-fetch-site']
  if (site === 'cross-site' || site === 'same-site') return 'requests from another site are refused'
  return undefined
}
