/**
 * The bodies of the DPS emulator routes (`PUT /_emulator/dps/enrollments/{id}` and
 * `…/enrollmentGroups/{id}`), checked at the boundary with one schema each, so that nothing the
 * registration flow later relies on (a device id the registry accepts, a status) can be stored
 * wrong. Unknown fields are ignored, as DPS's service API ignores read-only ones. A refusal is
 * `ERR_HUB_BAD_REQUEST` naming the field.
 *
 * @module
 */
import * as z from 'zod/mini'
import { SasTokenError } from '../../errors.js'
import { assertDeviceId } from '../../identity.js'

const validDeviceId = (id: string): boolean => {
  try {
    assertDeviceId(id, 'deviceId')
    return true
  } catch {
    return false
  }
}

const keyPair = z.looseObject({
  primaryKey: z.nullish(z.string()),
  secondaryKey: z.nullish(z.string()),
})

const common = {
  attestation: z.nullish(z.looseObject({ type: z.optional(z.string()), symmetricKey: z.optional(keyPair) })),
  primaryKey: z.nullish(z.string()),
  secondaryKey: z.nullish(z.string()),
  provisioningStatus: z.nullish(z.enum(['enabled', 'disabled'])),
}

const enrollmentBody = z.looseObject({
  ...common,
  deviceId: z.nullish(
    z.string().check(
      z.refine((id) => id === '' || validDeviceId(id), {
        error:
          "must be a device id the hub accepts: at most 128 letters, digits and - . % _ * ? ! ( ) , : = @ $ '",
      }),
    ),
  ),
})

const groupBody = z.looseObject(common)

function parse<T>(schema: z.ZodMiniType<T>, input: unknown, what: string): T {
  const result = z.safeParse(schema, input)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'the body'
  throw new SasTokenError(
    'ERR_HUB_BAD_REQUEST',
    `The ${what} body is not valid: ${field} ${issue?.message ?? 'is malformed'}. Fix that field and send it again.`,
  )
}

/**
 * Checks an individual enrollment's body.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`, naming the field.
 */
export function readEnrollmentBody(input: unknown): {
  deviceId?: string | null | undefined
  provisioningStatus?: 'enabled' | 'disabled' | null | undefined
} {
  return parse(enrollmentBody, input, 'enrollment')
}

/**
 * Checks an enrollment group's body.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`, naming the field.
 */
export function readGroupBody(input: unknown): {
  provisioningStatus?: 'enabled' | 'disabled' | null | undefined
} {
  return parse(groupBody, input, 'enrollment group')
}
