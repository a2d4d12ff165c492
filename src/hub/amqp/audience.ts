/**
 * What an AMQP audience (a CBS put-token's `name`, or what SASL PLAIN's username implies) names,
 * and the canonical form an authorization is kept under: the audience classes IoT Hub knows.
 *
 * - `{host}/devices/{id}` and `{host}/devices/{id}/modules/{mid}`: a device or module; its token
 *   is decided by the CONNECT rules (auth/device-auth.ts `authenticateToken`).
 * - `{host}` and paths under it: the hub, for a policy token (auth/policy-auth.ts).
 * - `sb://{host}/{eventHub}…` (any scheme): the Event Hub-compatible endpoint, for a policy token
 *   signed in the Service Bus convention.
 *
 * @module
 */

/** A classified audience; `canonical` is written with the hub's own host name. */
export type Audience =
  | { kind: 'device'; deviceId: string; moduleId?: string; canonical: string; host: string }
  | { kind: 'policy'; path: string; canonical: string; host: string }
  | { kind: 'event-hub'; scheme: string; path: string; canonical: string; host: string }

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

function decoded(text: string): string {
  if (!text.includes('%')) return text
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/**
 * Classifies an audience as sent (URL-encoded or not). `hostName` is the hub's host name the
 * canonical form is written with; the host as sent is in `host` for the caller to check.
 */
export function classifyAudience(sent: string, hostName: string): Audience {
  const text = decoded(sent.trim())
  const scheme = SCHEME.exec(text)
  const rest = scheme === null ? text : text.slice(scheme[0].length)
  const slash = rest.indexOf('/')
  const host = (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase()
  const path = (slash === -1 ? '' : rest.slice(slash + 1)).replace(/\/+$/, '')
  if (scheme !== null) {
    const s = (scheme[1] ?? 'sb').toLowerCase()
    return { kind: 'event-hub', scheme: s, path, host, canonical: `${s}://${hostName}/${path}` }
  }
  const segments = path.split('/')
  if (segments[0] === 'devices' && segments[1] !== undefined && segments[1] !== '') {
    const deviceId = segments[1]
    const moduleId = segments[2] === 'modules' && segments[3] ? segments[3] : undefined
    return moduleId === undefined
      ? { kind: 'device', deviceId, host, canonical: deviceAudience(hostName, deviceId) }
      : { kind: 'device', deviceId, moduleId, host, canonical: deviceAudience(hostName, deviceId, moduleId) }
  }
  return { kind: 'policy', path, host, canonical: path === '' ? hostName : `${hostName}/${path}` }
}

/** The canonical audience of a device or module. */
export function deviceAudience(hostName: string, deviceId: string, moduleId?: string): string {
  return moduleId === undefined
    ? `${hostName}/devices/${deviceId}`
    : `${hostName}/devices/${deviceId}/modules/${moduleId}`
}

/** `true` when the authorization's audience covers `needed`, segment by segment (both canonical:
 * the host written as the hub's, ids as sent). */
export function audienceCovers(granted: string, needed: string): boolean {
  return needed === granted || needed.startsWith(granted.endsWith('/') ? granted : `${granted}/`)
}
