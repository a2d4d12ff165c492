/**
 * How the `hub dps` commands show an enrollment or a group: as `name  value` lines, as one
 * tab-separated line, with its keys redacted unless asked for (they are registered as secrets
 * either way).
 *
 * @module
 */
import type { DpsEnrollment } from '../../hub-client.js'
import { registerSecret } from '../../secrets.js'
import { table } from '../../table.js'

/** The id of an enrollment or a group. */
const idOf = (e: DpsEnrollment): string => e.registrationId ?? e.enrollmentGroupId ?? ''

/** The enrollment with its keys replaced by `<redacted>`, unless asked for; the keys are secrets either way. */
export function redacted<E extends DpsEnrollment>(e: E, show: boolean): E {
  const keys = e.attestation?.symmetricKey
  registerSecret(keys?.primaryKey ?? undefined)
  registerSecret(keys?.secondaryKey ?? undefined)
  if (show || keys === undefined) return e
  const hide = (k: string | null | undefined) => (typeof k === 'string' && k !== '' ? '<redacted>' : k)
  return {
    ...e,
    attestation: {
      ...e.attestation,
      symmetricKey: { primaryKey: hide(keys.primaryKey), secondaryKey: hide(keys.secondaryKey) },
    },
  }
}

/** One enrollment as `name  value` lines. */
export function describe(e: DpsEnrollment, show: boolean): string {
  const keys = redacted(e, show).attestation?.symmetricKey
  return table([
    [e.enrollmentGroupId === undefined ? 'registrationId' : 'enrollmentGroupId', idOf(e)],
    ['deviceId', e.deviceId],
    ['status', e.provisioningStatus],
    ['attestation', e.attestation?.type],
    ['primaryKey', keys?.primaryKey ?? undefined],
    ['secondaryKey', keys?.secondaryKey ?? undefined],
  ])
}

/** One enrollment as a tab-separated line: id, status, device id (and, shown, the primary key). */
export function line(e: DpsEnrollment, show: boolean): string {
  const row = [idOf(e), e.provisioningStatus ?? '', e.deviceId ?? '']
  return (show ? [...row, redacted(e, show).attestation?.symmetricKey?.primaryKey ?? ''] : row).join('\t')
}
