/**
 * A token sent to DPS: its ID scope and registration id against the username's, its policy name,
 * and the key that must have signed it (an enrollment's, or one derived from a group's).
 *
 * @module
 */
import { assertRegistrationId } from '../identity.js'
import { deriveDeviceKey } from '../keys.js'
import { DPS_KEY_NAME, type ParsedSasToken } from '../sas-token.js'
import { type Finding, finding, problem } from './findings.js'
import { sameIdScope } from './identity.js'
import type { Context } from './options.js'
import { type Candidate, candidates } from './registry.js'
import { fact } from './text.js'
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
        { policy: token.keyName !== undefined, resourceUri: token.resourceUri, expected },
        facts,
      ),
    )
    return undefined
  }
  if (!sameIdScope(token.idScope, target.idScope)) {
    out.push(
      finding(
        'ERR_TOKEN_RESOURCE_MISMATCH',
        { of: 'dps-scope', idScope: token.idScope, target: target.idScope, expected },
        facts,
      ),
    )
  } else if (token.registrationId.toLowerCase() !== target.registrationId.toLowerCase()) {
    out.push(
      finding(
        'ERR_TOKEN_OTHER_REGISTRATION',
        { registrationId: token.registrationId, target: target.registrationId, expected },
        facts,
      ),
    )
  } else if (token.resourceUri.split('/').length !== 3) {
    out.push(finding('ERR_TOKEN_RESOURCE_MISMATCH', { of: 'dps-segments', expected }, facts))
  }
  if (token.keyName !== undefined && token.keyName !== DPS_KEY_NAME) {
    out.push(
      finding('ERR_DPS_KEY_NAME', { keyName: token.keyName }, { ...facts, keyName: fact(token.keyName) }),
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
