/**
 * The token's signature against the keys that may have signed it: which one did, or why none
 * did (another key, a group's own key, the key's text as Service Bus signs, no enrollment).
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { verifySasToken } from '../sas-token.js'
import { type Finding, finding } from './findings.js'
import { type Candidate, type Known, noEnrollment } from './registry.js'

/**
 * Whether `key` signed `password` (its expiry and resource aside): `'as-text'` when it did, but
 * with the key's text instead of its decoded bytes (the Service Bus family's convention).
 */
function signedWith(password: string, key: string): boolean | 'as-text' {
  try {
    verifySasToken(password, { key, now: 0, clockSkewSeconds: 0 })
    return true
  } catch (err) {
    if (err instanceof SasTokenError && err.code === 'ERR_TOKEN_SIGNATURE_MISMATCH') return false
    if (err instanceof SasTokenError && err.code === 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB') return 'as-text'
    throw err
  }
}

export function checkSignature(
  password: string,
  keys: readonly Candidate[] | undefined,
  known: Known,
  out: Finding[],
): Candidate | undefined {
  const signed: Array<boolean | 'as-text'> = []
  for (const candidate of keys ?? []) {
    const verdict = signedWith(password, candidate.key)
    if (verdict === true) return candidate
    signed.push(verdict)
  }
  const group = known.groupKeys.find((g) => signedWith(password, g.key) === true)
  if (group !== undefined) {
    out.push(
      finding(
        'ERR_TOKEN_SIGNED_WITH_GROUP_KEY',
        { enrollmentGroupId: group.enrollmentGroupId },
        group.enrollmentGroupId === undefined ? {} : { enrollmentGroupId: group.enrollmentGroupId },
      ),
    )
    return undefined
  }
  if (signed.includes('as-text')) {
    out.push(finding('ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB', {}))
    return undefined
  }
  if (keys === undefined || keys.length === 0) return undefined
  if (known.withoutEnrollment !== undefined) {
    out.push(noEnrollment(known.withoutEnrollment.registrationId, known.withoutEnrollment.groups))
    return undefined
  }
  out.push(finding('ERR_TOKEN_SIGNATURE_MISMATCH', {}))
  return undefined
}
