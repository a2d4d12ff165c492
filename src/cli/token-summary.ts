/**
 * What a token is for and when it expires: the JSON and env output of `generate`, the
 * interactive form and `inspect` all describe tokens this way. A token the CLI has just made is
 * described from the facts its signer returned; only a token given to `inspect` (or carried by
 * a connection string) is parsed.
 *
 * @module
 */
import { familyOf, resourceFacts } from '../sas-token.js'
import { describeService, serviceOf } from '../service-bus-connection-string.js'

/** The kinds of token, by what they sign for (`service-bus`: an `sb://` or `https://` audience). */
export type TokenKind = 'device' | 'module' | 'policy' | 'dps' | 'resource' | 'service-bus'

/** The facts of a token, made or parsed. */
export interface TokenFacts {
  token: string
  /** Decoded. */
  resourceUri: string
  /** Epoch seconds. */
  expiresAt: number
  keyName?: string | undefined
}

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
  /** A Service Bus-family token's event hub, queue or topic. */
  entityPath?: string
  /** A Service Bus-family token's service, as its host tells it. */
  service?: string
  keyName: string | null
  /** UTC, ISO 8601. */
  expiresAt: string
  /** Epoch seconds. */
  expiresAtEpoch: number
  /** Seconds left (negative once expired). */
  expiresIn: number
}

/** Describes a token as of `nowMs`. */
export function summarizeToken(t: TokenFacts, nowMs: number): TokenSummary {
  const r = resourceFacts(t.resourceUri)
  const serviceBus = familyOf(t.resourceUri) === 'service-bus'
  const kind: TokenKind = serviceBus
    ? 'service-bus'
    : r.registrationId !== undefined
      ? 'dps'
      : t.keyName !== undefined
        ? 'policy'
        : r.moduleId !== undefined
          ? 'module'
          : r.deviceId !== undefined
            ? 'device'
            : 'resource'
  return {
    token: t.token,
    kind,
    resourceUri: t.resourceUri,
    ...r,
    ...(serviceBus && { service: describeService(serviceOf(r.hostName ?? '', r.entityPath, false)) }),
    keyName: t.keyName ?? null,
    expiresAt: new Date(t.expiresAt * 1000).toISOString(),
    expiresAtEpoch: t.expiresAt,
    expiresIn: t.expiresAt - Math.floor(nowMs / 1000),
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
