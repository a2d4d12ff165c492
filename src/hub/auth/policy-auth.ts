/**
 * The service side's one token rule: a request (REST, AMQP's CBS put-token and SASL PLAIN) is
 * authorized by a SAS token signed with one of the hub's shared access policies (`skn`), for
 * this hub, unexpired (with the hub's clock skew), whose policy has one of the rights the
 * operation needs. Verified with the core, against both of the policy's keys. The resource is
 * the hub's host name, or the audience a CBS put-token names: one with a scheme (the Event
 * Hub-compatible endpoint's `sb://{host}/{eventHub}…`) is verified in the Service Bus
 * convention, the policy key's text as the HMAC key, as the Event Hubs SDKs sign. DPS's service
 * API asks the same rule with its own policies (`provisioningserviceowner`, DPS's rights): a hub
 * policy opens no DPS route, and a DPS policy no hub route.
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
export type PolicyOwner = 'iothub' | 'dps'

function unauthorized(why: string): SasTokenError {
  return new SasTokenError('ERR_HUB_UNAUTHORIZED', `Unauthorized: ${why}`)
}

/** Every right a policy can have: "any right" for a token whose operation is not known yet. */
export const ANY_RIGHT: readonly Permission[] = Object.freeze([
  'RegistryRead',
  'RegistryWrite',
  'ServiceConnect',
  'DeviceConnect',
])

/** What {@link authorizePolicyToken} checks beyond the token and the rights. */
export interface PolicyTokenOptions {
  /**
   * The resource the token must cover (decoded), instead of the hub's host name: a CBS
   * put-token's audience, `{host}/…` or `sb://{host}/{eventHub}…`. Its host must be this hub's.
   */
  audience?: string
  /** Whose policies may sign it: the hub's (the default) or DPS's service API's. */
  owner?: PolicyOwner
}

/** The host of an audience (`sb://host:5671/x` or `host/x`), lower-case. */
function hostOf(audience: string): string {
  const rest = audience.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
  return (rest.split('/')[0] ?? '').toLowerCase()
}

/**
 * The policy a service token was signed with, when it may do an operation that needs one of
 * `rights`: one of the hub's, or with `owner: 'dps'`, one of DPS's service API's.
 *
 * @throws {SasTokenError} `ERR_HUB_UNAUTHORIZED`, saying what is wrong with the token.
 */
export function authorizePolicyToken(
  hub: HubService,
  token: string | undefined,
  rights: readonly (Permission | DpsPermission)[],
  o: PolicyTokenOptions = {},
): Policy | DpsPolicy {
  if (token === undefined || token === '')
    throw unauthorized('send Authorization: SharedAccessSignature sr=…&sig=…&se=…&skn=<policy>.')
  if (o.audience !== undefined && !hub.isOwnHost(hostOf(o.audience)))
    throw unauthorized(
      `the audience ${JSON.stringify(o.audience.slice(0, 200))} is not this hub's (${hub.hostName}).`,
    )
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
  const dps = o.owner === 'dps'
  const policy = dps ? dpsPolicy(hub, keyName) : hub.policy(keyName)
  if (policy === undefined)
    throw unauthorized(
      dps
        ? `DPS's service API has no policy ${JSON.stringify(keyName)}: sign with provisioningserviceowner (the DPS connection string's), not a hub policy.`
        : `this hub has no policy ${JSON.stringify(keyName)}.`,
    )
  let lastError: unknown
  for (const key of [policy.primaryKey, policy.secondaryKey]) {
    try {
      verifySasToken(token, {
        key,
        now: hub.now(),
        resourceUri: o.audience ?? host,
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
