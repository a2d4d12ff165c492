/**
 * A token sent to DPS: its ID scope and registration id against the username's, its policy name,
 * and the key that must have signed it (an enrollment's, or one derived from a group's).
 *
 * @module
 */
import { assertRegistrationId } from '../identity.js'
import { deriveDeviceKey } from '../keys.js'
import { DPS_KEY_NAME, type ParsedSasToken } from '../sas-token.js'
import { type Finding, fact, finding, problem, quote } from './findings.js'
import { sameIdScope } from './identity.js'
import type { Context } from './options.js'
import { type Candidate, candidates } from './registry.js'
import type { Target } from './username.js'

/** The checks of a token sent to DPS; returns the keys to verify it with. */
export function checkDpsToken(
  token: ParsedSasToken,
  target: Extract<Target, { kind: 'dps' }>,
  enrollmentKeys: readonly Candidate[] | undefined,
  ctx: Context,
  out: Finding[],
): readonly Candidate[] | undefined {
  const expected = `${target.idScope}/registrations/${target.registrationId}`
  const facts = { resourceUri: fact(token.resourceUri), expectedResourceUri: fact(expected) }
  if (token.registrationId === undefined || token.idScope === undefined) {
    out.push(
      finding(
        'ERR_TOKEN_FOR_HUB',
        `The password is ${token.keyName === undefined ? 'an IoT Hub token' : 'a hub policy token'} (sr=${quote(token.resourceUri)}), but this is a DPS registration: sign sr=${quote(expected)} with skn=registration and the enrollment's key (for a group, the derived key).`,
        facts,
      ),
    )
    return undefined
  }
  if (!sameIdScope(token.idScope, target.idScope)) {
    out.push(
      finding(
        'ERR_TOKEN_RESOURCE_MISMATCH',
        `The token is for the ID scope ${quote(token.idScope)}, but the username names ${quote(target.idScope)}: sign sr=${quote(expected)}.`,
        facts,
      ),
    )
  } else if (token.registrationId.toLowerCase() !== target.registrationId.toLowerCase()) {
    out.push(
      finding(
        'ERR_TOKEN_OTHER_REGISTRATION',
        `The token is for another registration, ${quote(token.registrationId)}, not ${quote(target.registrationId)}: sign sr=${quote(expected)} (the registration id of the token, username, clientId and request must agree).`,
        facts,
      ),
    )
  } else if (token.resourceUri.split('/').length !== 3) {
    out.push(
      finding(
        'ERR_TOKEN_RESOURCE_MISMATCH',
        `The token's resource has extra segments: sign exactly sr=${quote(expected)}.`,
        facts,
      ),
    )
  }
  if (token.keyName !== undefined && token.keyName !== DPS_KEY_NAME) {
    out.push(
      finding(
        'ERR_DPS_KEY_NAME',
        `The DPS token's skn is ${quote(token.keyName)}: a device registers with skn=registration and its enrollment key, not a service policy.`,
        { ...facts, keyName: fact(token.keyName) },
      ),
    )
  }
  return enrollmentKeys ?? candidates(ctx.keys ?? derivedKey(ctx, target.registrationId))
}

/** The device key derived from the group key for `id`, if a group key was given and `id` is valid. */
export function derivedKey(ctx: Context, id: string): readonly string[] | undefined {
  if (ctx.groupKey === undefined || problem(() => assertRegistrationId(id)) !== undefined) return undefined
  const key = deriveDeviceKey(ctx.groupKey, id)
  ctx.secrets.push(key)
  return [key]
}
