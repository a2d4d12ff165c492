/**
 * What a token is for and when it expires, read back from the token itself: the JSON and env
 * output of `generate`, the interactive form and `inspect` all describe tokens this way.
 *
 * @module
 */
import { parseSasToken, type ParsedSasToken } from '../sas-token.js'

/** The kinds of token, by what they sign for. */
export type TokenKind = 'device' | 'module' | 'policy' | 'dps' | 'resource'

/** A token, described. */
export interface TokenSummary {
  token: string
  kind: TokenKind
  resourceUri: string
  hostName?: string
  deviceId?: string
  moduleId?: string
  idScope?: string
  registrationId?: string
  keyName: string | null
  /** UTC, ISO 8601. */
  expiresAt: string
  /** Epoch seconds. */
  expiresAtEpoch: number
  /** Seconds left (negative once expired). */
  expiresIn: number
}

/** The kind of a parsed token. */
export function tokenKind(parsed: ParsedSasToken): TokenKind {
  if (parsed.registrationId !== undefined) return 'dps'
  if (parsed.keyName !== undefined) return 'policy'
  if (parsed.moduleId !== undefined) return 'module'
  if (parsed.deviceId !== undefined) return 'device'
  return 'resource'
}

/** Describes `token` as of `nowMs`. */
export function summarizeToken(token: string, nowMs: number): TokenSummary {
  const parsed = parseSasToken(token)
  return {
    token,
    kind: tokenKind(parsed),
    resourceUri: parsed.resourceUri,
    ...(parsed.hostName !== undefined && { hostName: parsed.hostName }),
    ...(parsed.deviceId !== undefined && { deviceId: parsed.deviceId }),
    ...(parsed.moduleId !== undefined && { moduleId: parsed.moduleId }),
    ...(parsed.idScope !== undefined && { idScope: parsed.idScope }),
    ...(parsed.registrationId !== undefined && { registrationId: parsed.registrationId }),
    keyName: parsed.keyName ?? null,
    expiresAt: new Date(parsed.expiresAt * 1000).toISOString(),
    expiresAtEpoch: parsed.expiresAt,
    expiresIn: parsed.expiresAt - Math.floor(nowMs / 1000),
  }
}

/**
 * The warning for a policy token (one with `skn`) about to be used as a device's MQTT password,
 * a classic cause of "Connection refused: not authorised".
 */
export function policyPasswordWarning(keyName: string, deviceId: string | undefined): string {
  return deviceId === undefined
    ? `this is a hub-level policy token (skn=${keyName}); IoT Hub refuses it as a device's MQTT password: use a device token.`
    : `this is a policy token (skn=${keyName}); as device ${deviceId}'s MQTT password it works only if the policy has DeviceConnect permission: prefer a device token.`
}
