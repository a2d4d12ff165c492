/**
 * A token presented over AMQP (a CBS put-token, or SASL PLAIN's password), decided by the hub's
 * one rule set by the class of its audience (audience.ts): a device or module token by the
 * CONNECT rules (`authenticateToken`), a hub or Event Hub-compatible policy token by
 * `authorizePolicyToken`. Nothing is re-implemented here: this file only maps the outcome onto
 * an {@link Authorization}, or onto the findings a refusal carries (a policy refusal has no
 * CONNECT findings, so it gets one, `ERR_HUB_UNAUTHORIZED`, with the policy rule's message). A
 * device token the findings accept may still be refused by a fault on purpose (`AuthFailure`,
 * the operator's refuse: the CONNECT rule asks faults.ts); the refusal then carries `fault`, and
 * gets the condition any refusal gets, `amqp:unauthorized-access`.
 *
 * @module
 */
import { finding } from '../../diagnose/findings.js'
import type { Finding } from '../../diagnose/index.js'
import { isSasTokenError } from '../../errors.js'
import { parseSasToken } from '../../sas-token.js'
import { authenticateToken } from '../auth/device-auth.js'
import { ANY_RIGHT, authorizePolicyToken } from '../auth/policy-auth.js'
import type { HubService } from '../service.js'
import type { FaultRefusal } from '../state/faults.js'
import { classifyAudience } from './audience.js'
import type { Authorization } from './context.js'

/** How a token was decided. */
export type TokenDecision =
  | { ok: true; authorization: Authorization }
  | {
      ok: false
      /** The AMQP error condition to answer. */
      condition: 'amqp:unauthorized-access'
      /** Every finding; at least one is an error. */
      findings: Finding[]
      /** The identity the audience names, if it names one. */
      identity?: { deviceId: string; moduleId?: string }
      /** A fault on purpose refused a token the findings accept (then no finding is an error). */
      fault?: FaultRefusal
    }

function refused(why: string): TokenDecision {
  return {
    ok: false,
    condition: 'amqp:unauthorized-access',
    findings: [finding('ERR_HUB_UNAUTHORIZED', { why })],
  }
}

/** The expiry (`se`) of a token the policy rule accepted, epoch seconds. */
function expiryOf(token: string): number {
  return parseSasToken(token).expiresAt
}

/**
 * Decides `token` for `audience` (as the client sent it).
 *
 * @throws {SasTokenError} only as `authenticateToken` does (a key in the hub's own state that is
 *   not base64).
 */
export function decideToken(
  hub: HubService,
  audience: string,
  token: string,
  via: Authorization['via'],
): TokenDecision {
  const a = classifyAudience(audience, hub.hostName)
  if (a.kind === 'device') {
    const identity =
      a.moduleId === undefined ? { deviceId: a.deviceId } : { deviceId: a.deviceId, moduleId: a.moduleId }
    const outcome = authenticateToken({ ...identity, token }, hub.authContext())
    if (!outcome.ok)
      return {
        ok: false,
        condition: 'amqp:unauthorized-access',
        findings: outcome.findings,
        identity,
        ...(outcome.fault === undefined ? {} : { fault: outcome.fault }),
      }
    if (outcome.accepted.kind !== 'hub')
      return refused('the token is a DPS registration token, not a device token for this hub.')
    return {
      ok: true,
      authorization: {
        audience: a.canonical,
        kind: 'device',
        identity,
        authMethod: outcome.accepted.authMethod,
        ...(outcome.accepted.expiresAt === undefined ? {} : { expiresAt: outcome.accepted.expiresAt }),
        warnings: outcome.findings.filter((f) => f.severity === 'warning'),
        via,
      },
    }
  }
  try {
    const policy = authorizePolicyToken(hub, token, ANY_RIGHT, {
      audience:
        a.kind === 'event-hub'
          ? `${a.scheme}://${a.host}/${a.path}`.replace(/\/$/, '')
          : a.path === ''
            ? a.host
            : `${a.host}/${a.path}`,
    })
    const expiresAt = expiryOf(token)
    return {
      ok: true,
      authorization: {
        audience: a.canonical,
        kind: a.kind,
        keyName: policy.keyName,
        expiresAt,
        warnings: [],
        via,
      },
    }
  } catch (err) {
    if (isSasTokenError(err, 'ERR_HUB_UNAUTHORIZED')) return refused(err.message)
    throw err
  }
}
