/**
 * The Device Provisioning Service: individual enrollments and enrollment groups (symmetric
 * keys; a group's device keys are derived per registration id), and the MQTT registration
 * flow the provisioning SDKs use: register → 202 `{operationId, status: 'assigning'}`, poll →
 * 202, then 200 `{status: 'assigned', registrationState: {assignedHub, deviceId, …}}`, when
 * the hub's registry gets the device with the proven key.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { SasTokenError } from '../../errors.js'
import { assertRegistrationId } from '../../identity.js'
import { deriveDeviceKey } from '../../keys.js'
import type { ConnectAcceptance } from '../../diagnose/index.js'
import type { EnrollmentBody, GroupBody } from '../rest/request-bodies.js'
import { readAuthentication } from './registry.js'
import type { HubService } from '../service.js'
import type { Session } from './sessions.js'
import type { Enrollment, EnrollmentGroup } from './state-store.js'

/** The ID scope the emulator's DPS uses unless told otherwise. */
export const DEFAULT_ID_SCOPE = '0ne00000000'

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

function keysOf(input: GroupBody): { primaryKey: string; secondaryKey: string } {
  const symmetricKey = input.attestation?.symmetricKey ?? {
    primaryKey: input.primaryKey,
    secondaryKey: input.secondaryKey,
  }
  const auth = readAuthentication({ type: 'sas', symmetricKey })
  if (auth.type !== 'sas') throw bad('Only symmetric-key attestation is supported.')
  return auth.symmetricKey
}

/** The DPS JSON of an enrollment (the service API's shape, symmetric keys). */
export function enrollmentJson(e: Enrollment): Record<string, unknown> {
  return {
    registrationId: e.registrationId,
    deviceId: e.deviceId ?? e.registrationId,
    attestation: {
      type: 'symmetricKey',
      symmetricKey: { primaryKey: e.primaryKey, secondaryKey: e.secondaryKey },
    },
    provisioningStatus: e.provisioningStatus,
    createdDateTimeUtc: e.createdDateTimeUtc,
  }
}

/** The DPS JSON of an enrollment group. */
export function groupJson(g: EnrollmentGroup): Record<string, unknown> {
  return {
    enrollmentGroupId: g.enrollmentGroupId,
    attestation: {
      type: 'symmetricKey',
      symmetricKey: { primaryKey: g.primaryKey, secondaryKey: g.secondaryKey },
    },
    provisioningStatus: g.provisioningStatus,
    createdDateTimeUtc: g.createdDateTimeUtc,
  }
}

/**
 * Creates or replaces an individual enrollment (empty keys are generated).
 *
 * @returns The enrollment as stored (with its keys).
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST`.
 */
export function putEnrollment(hub: HubService, registrationId: string, input: EnrollmentBody): Enrollment {
  assertRegistrationId(registrationId)
  const enrollment: Enrollment = {
    registrationId,
    ...keysOf(input),
    provisioningStatus: input.provisioningStatus ?? 'enabled',
    createdDateTimeUtc: new Date(hub.now()).toISOString(),
  }
  if (typeof input.deviceId === 'string' && input.deviceId !== '') enrollment.deviceId = input.deviceId
  hub.state.dps.enrollments[registrationId] = enrollment
  hub.store.changed()
  return enrollment
}

/**
 * Creates or replaces an enrollment group (empty keys are generated).
 *
 * @returns The group as stored (with its keys).
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST`.
 */
export function putGroup(hub: HubService, groupId: string, input: GroupBody): EnrollmentGroup {
  assertRegistrationId(groupId, 'enrollment group id')
  const group: EnrollmentGroup = {
    enrollmentGroupId: groupId,
    ...keysOf(input),
    provisioningStatus: input.provisioningStatus ?? 'enabled',
    createdDateTimeUtc: new Date(hub.now()).toISOString(),
  }
  hub.state.dps.groups[groupId] = group
  hub.store.changed()
  return group
}

/** Individual enrollments (`enrollments`) or enrollment groups (`groups`). */
export type EnrollmentTable = 'enrollments' | 'groups'

function stored(hub: HubService, kind: EnrollmentTable, id: string): Enrollment | EnrollmentGroup {
  const table = kind === 'enrollments' ? hub.state.dps.enrollments : hub.state.dps.groups
  const found = Object.hasOwn(table, id) ? table[id] : undefined
  if (found === undefined) {
    const what = kind === 'enrollments' ? 'Enrollment' : 'Enrollment group'
    throw new SasTokenError('ERR_HUB_NOT_FOUND', `${what} ${id} does not exist.`)
  }
  return found
}

function json(value: Enrollment | EnrollmentGroup): Record<string, unknown> {
  return 'registrationId' in value ? enrollmentJson(value) : groupJson(value)
}

/** Every enrollment of a kind, as DPS's service API shows them. */
export function listEnrollments(hub: HubService, kind: EnrollmentTable): Record<string, unknown>[] {
  return Object.values(kind === 'enrollments' ? hub.state.dps.enrollments : hub.state.dps.groups).map((v) =>
    json(v),
  )
}

/**
 * One enrollment, as DPS's service API shows it.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
 */
export function getEnrollment(hub: HubService, kind: EnrollmentTable, id: string): Record<string, unknown> {
  return json(stored(hub, kind, id))
}

/**
 * Deletes an enrollment.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
 */
export function deleteEnrollment(hub: HubService, kind: EnrollmentTable, id: string): void {
  stored(hub, kind, id)
  delete (kind === 'enrollments' ? hub.state.dps.enrollments : hub.state.dps.groups)[id]
  hub.store.changed()
}

/** What DPS answers a register or poll: the status, the JSON body and, with 202, when to poll. */
export interface DpsAnswer {
  status: number
  body: unknown
  retryAfter?: number
}

function answer(status: number, body: unknown, retryAfter?: number): DpsAnswer {
  return retryAfter === undefined ? { status, body } : { status, body, retryAfter }
}

/** Starts a registration (`$dps/registrations/PUT/iotdps-register/…` over MQTT): a 202 with the operation to poll. */
export function handleRegister(
  session: Session,
  accepted: Extract<ConnectAcceptance, { kind: 'dps' }>,
  body: Buffer,
): DpsAnswer {
  let registrationId: unknown
  try {
    registrationId = (JSON.parse(body.toString('utf8')) as { registrationId?: unknown }).registrationId
  } catch {
    return answer(400, {
      errorCode: 400004,
      message: 'The registration request body is not valid JSON.',
    })
  }
  if (registrationId !== accepted.registrationId) {
    return answer(400, {
      errorCode: 400004,
      message: `The body's registrationId must be ${accepted.registrationId}, the one the connection authenticated.`,
    })
  }
  const operationId = `4.${randomUUID()}`
  session.operations.set(operationId, { registrationId: accepted.registrationId, polls: 0 })
  return answer(202, { operationId, status: 'assigning' }, 1)
}

/** Polls a registration (`$dps/registrations/GET/iotdps-get-operationstatus/…` over MQTT): 202 until assigned, then 200 once the assigned device is on disk. */
export async function handlePoll(
  hub: HubService,
  session: Session,
  accepted: Extract<ConnectAcceptance, { kind: 'dps' }>,
  operationId: string,
): Promise<DpsAnswer> {
  const operation = session.operations.get(operationId)
  if (operation === undefined) {
    return answer(404, {
      errorCode: 404201,
      message: `Operation ${operationId} is unknown on this connection.`,
    })
  }
  operation.polls += 1
  if (operation.polls < 2) {
    return answer(202, { operationId, status: 'assigning' }, 1)
  }
  const registrationId = accepted.registrationId
  const enrollment = hub.state.dps.enrollments[registrationId]
  const deviceId = enrollment?.deviceId ?? registrationId
  const group =
    accepted.enrollmentGroupId === undefined ? undefined : hub.state.dps.groups[accepted.enrollmentGroupId]
  const keys = group
    ? {
        primaryKey: deriveDeviceKey(group.primaryKey, registrationId),
        secondaryKey: deriveDeviceKey(group.secondaryKey, registrationId),
      }
    : enrollment
      ? { primaryKey: enrollment.primaryKey, secondaryKey: enrollment.secondaryKey }
      : { primaryKey: accepted.deviceKey, secondaryKey: accepted.deviceKey }
  const authentication = { type: 'sas', symmetricKey: keys }
  const existing = hub.entry(deviceId)
  if (existing === undefined) hub.putDevice(deviceId, { authentication })
  else hub.putDevice(deviceId, { authentication }, '*')
  const now = new Date(hub.now()).toISOString()
  const registrationState = {
    registrationId,
    createdDateTimeUtc: now,
    assignedHub: hub.hostName,
    deviceId,
    status: 'assigned',
    substatus: existing === undefined ? 'initialAssignment' : 'reprovisionedToInitialAssignment',
    lastUpdatedDateTimeUtc: now,
    etag: Buffer.from(now).toString('base64'),
  }
  hub.state.dps.registrations[registrationId] = {
    registrationId,
    deviceId,
    assignedHub: hub.hostName,
    ...(accepted.enrollmentGroupId === undefined ? {} : { enrollmentGroupId: accepted.enrollmentGroupId }),
    createdDateTimeUtc: now,
  }
  hub.store.changed()
  session.operations.delete(operationId)
  hub.events.publish({
    event: 'dps-register',
    registrationId,
    assignedHub: hub.hostName,
    deviceId,
    ...(accepted.enrollmentGroupId === undefined ? {} : { enrollmentGroupId: accepted.enrollmentGroupId }),
  })
  // the answer means durable: the device it assigned is on disk first
  try {
    await hub.store.committed()
  } catch {
    return answer(500, { errorCode: 500001, message: 'The hub could not write its state; try again.' })
  }
  return answer(200, { operationId, status: 'assigned', registrationState })
}
