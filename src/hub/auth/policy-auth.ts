/**
 * The service side's one token rule: a request (REST today, AMQP's CBS next) is authorized by a
 * SAS token signed with one of the hub's shared access policies (`skn`), for this hub, unexpired
 * (with the hub's clock skew), whose policy has one of the rights the operation needs. Verified
 * with the core, against both of the policy's keys. DPS's service API asks the same rule with its
 * own policies (`provisioningserviceowner`, DPS's rights): a hub policy opens no DPS route, and
 * a DPS policy no hub route.
 *
 * @module
 */
import { SasTokenError, isSasTokenError } from '../../errors.js'
import { parseSasToken, verifySasToken } from '../../sas-token.js'
import type { HubService } from '../service.js'
import { dpsPolicy } from '../state/dps.js'
import type { Permission, Policy } from '../state/registry.js'
import type { DpsPermission, DpsPolicy } from '../state/state-store.js'

/** Whose policies sign a token: the hub's (`iothubowner`, …) or DPS's service API's (`provisioningserviceowner`). */
export type PolicyAudience = 'iothub' | 'dps'

function unauthorized(why: string): SasTokenError {
  return new SasTokenError('ERR_HUB_UNAUTHORIZED', `Unauthorized: ${why}`)
}

/**
 * The policy a service token was signed with, when it may do an operation that needs one of
 * `rights`: one of the hub's, or with `audience` `dps`, one of DPS's service API's.
 *
 * @throws {SasTokenError} `ERR_HUB_UNAUTHORIZED`, saying what is wrong with the token.
 */
export function authorizePolicyToken(
  hub: HubService,
  token: string | undefined,
  rights: readonly (Permission | DpsPermission)[],
  audience: PolicyAudience = 'iothub',
): Policy | DpsPolicy {
  if (token === undefined || token === '')
    throw unauthorized('send Authorization: SharedAccessSignature sr=…&sig=…&se=…&skn=<policy>.')
  let keyName: string | undefined
  let host = hub.hostName
  try {
    const parsed = parseSasToken(token)
    keyName = parsed.keyName
    const tokenHost = parsed.resourceUri.split('/')[0] ?? ''
    if (hub.isOwnHost(tokenHost)) host = tokenHost
  } catch (err) {
    throw unauthorized(isSasTokenError(err) ? err.message : 'the Authorization header is not a SAS token.')
  }
  if (keyName === undefined)
    throw unauthorized('the token has no skn: sign it with a shared access policy such as iothubowner.')
  const policy = audience === 'dps' ? dpsPolicy(hub, keyName) : hub.policy(keyName)
  if (policy === undefined)
    throw unauthorized(
      audience === 'dps'
        ? `DPS's service API has no policy ${JSON.stringify(keyName)}: sign with provisioningserviceowner (the DPS connection string's), not a hub policy.`
        : `this hub has no policy ${JSON.stringify(keyName)}.`,
    )
  let lastError: unknown
  for (const key of [policy.primaryKey, policy.secondaryKey]) {
    try {
      verifySasToken(token, {
        key,
        now: hub.now(),
        resourceUri: host,
        clockSkewSeconds: hub.clockSkewSeconds,
      })
      lastError = undefined
      break
    } catch (err) {
      // a signature mismatch with the other key says less than an expiry with the right one
      if (lastError === undefined || isSasTokenError(lastError, 'ERR_TOKEN_SIGNATURE_MISMATCH'))
        lastError = err
    }
  }
  if (lastError !== undefined)
    throw unauthorized(isSasTokenError(lastError) ? lastError.message : 'the token does not verify.')
  if (!rights.some((r) => policy.rights.some((have) => have === r)))
    throw unauthorized(`policy ${policy.keyName} lacks ${rights.join(' or ')}.`)
  return policy
}
