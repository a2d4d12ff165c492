/**
 * The Device Provisioning Service: individual enrollments and enrollment groups (symmetric
 * keys; a group's device keys are derived per registration id), and the MQTT registration
 * flow the provisioning SDKs use: register → 202 `{operationId, status: 'assigning'}`, poll →
 * 202, then 200 `{status: 'assigned', registrationState: {assignedHub, deviceId, …}}`, when
 * the hub's registry gets the device with the proven key. DPS's service API (the
 * `azure-iot-provisioning-service` SDK's `ProvisioningServiceClient`) and the emulator's own
 * `/_emulator/dps/…` shortcut both come here: enrollments and groups with their etags (If-Match),
 * registration states, the query pages, and the DPS's own policy (`provisioningserviceowner`).
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { SasTokenError } from '../../errors.js'
import { assertRegistrationId } from '../../identity.js'
import { deriveDeviceKey } from '../../keys.js'
import type { ConnectAcceptance } from '../../diagnose/index.js'
import type { EnrollmentBody, GroupBody } from '../rest/request-bodies.js'
import { page, pageSize, pageStart } from '../query/paging.js'
import { checkIfMatch, generateKey, readAuthentication } from './registry.js'
import type { HubService } from '../service.js'
import type { Session } from './sessions.js'
import type {
  DpsPermission,
  DpsPolicy,
  Enrollment,
  EnrollmentGroup,
  Registration,
  StateStore,
} from './state-store.js'

/** The ID scope the emulator's DPS uses unless told otherwise. */
export const DEFAULT_ID_SCOPE = '0ne00000000'

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

/** The name of the DPS service API's owner policy. */
export const DPS_OWNER_POLICY = 'provisioningserviceowner'

/** The rights of a new DPS's owner policy: every one. */
export const DPS_OWNER_RIGHTS: readonly DpsPermission[] = [
  'ServiceConfig',
  'EnrollmentRead',
  'EnrollmentWrite',
  'RegistrationStatusRead',
  'RegistrationStatusWrite',
]

/**
 * The DPS service API's owner policy, made (with fresh keys) when the state has none: a new
 * hub, or a state file written before DPS's service API was served.
 */
export function useDpsPolicies(store: StateStore): DpsPolicy {
  const policies = store.state.dps.policies ?? []
  let owner = policies.find((p) => p.keyName === DPS_OWNER_POLICY)
  if (owner === undefined) {
    owner = {
      keyName: DPS_OWNER_POLICY,
      primaryKey: generateKey(),
      secondaryKey: generateKey(),
      rights: [...DPS_OWNER_RIGHTS],
    }
    store.state.dps.policies = [...policies, owner]
    store.changed()
  }
  return owner
}

/** The DPS service API policy named `keyName`. */
export function dpsPolicy(hub: HubService, keyName: string): DpsPolicy | undefined {
  return hub.state.dps.policies?.find((p) => p.keyName === keyName)
}

function keysOf(input: GroupBody): { primaryKey: string; secondaryKey: string } {
  const type = input.attestation?.type
  if (type !== undefined && type !== 'symmetricKey')
    throw bad(
      `The attestation type ${JSON.stringify(type)} is not served: the emulator's DPS attests with symmetric keys only ("symmetricKey").`,
    )
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
    lastUpdatedDateTimeUtc: e.lastUpdatedDateTimeUtc ?? e.createdDateTimeUtc,
    etag: etagOf(e),
  }
}

/** An enrollment's etag: the one kept, or (state written before etags were kept) its creation time's. */
function etagOf(e: Enrollment | EnrollmentGroup): string {
  return e.etag ?? Buffer.from(e.createdDateTimeUtc).toString('base64')
}

/** A new etag, base64 like DPS's. */
function newEtag(): string {
  return Buffer.from(randomUUID()).toString('base64')
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
    lastUpdatedDateTimeUtc: g.lastUpdatedDateTimeUtc ?? g.createdDateTimeUtc,
    etag: etagOf(g),
  }
}

/**
 * What a write with `If-Match` may replace: `undefined` (nothing there) only without one or
 * with `*`; else the etag must be the stored one's.
 *
 * @throws {SasTokenError} `ERR_HUB_PRECONDITION_FAILED`.
 */
function checkWrite(existing: Enrollment | EnrollmentGroup | undefined, ifMatch: string | undefined): void {
  if (existing !== undefined) checkIfMatch(ifMatch, etagOf(existing))
  else if (ifMatch !== undefined && ifMatch.trim() !== '*')
    throw new SasTokenError(
      'ERR_HUB_PRECONDITION_FAILED',
      'If-Match names an etag, but there is nothing to match: create it without one.',
    )
}

/**
 * Creates or replaces an individual enrollment (empty keys are generated); with `ifMatch`, only
 * the one of that etag (or any, `*`).
 *
 * @returns The enrollment as stored (with its keys).
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST` (a bad key, an
 *   attestation other than symmetric key), `ERR_HUB_PRECONDITION_FAILED`.
 */
export function putEnrollment(
  hub: HubService,
  registrationId: string,
  input: EnrollmentBody,
  ifMatch?: string,
): Enrollment {
  assertRegistrationId(registrationId)
  const existing = Object.hasOwn(hub.state.dps.enrollments, registrationId)
    ? hub.state.dps.enrollments[registrationId]
    : undefined
  checkWrite(existing, ifMatch)
  const now = new Date(hub.now()).toISOString()
  const enrollment: Enrollment = {
    registrationId,
    ...keysOf(input),
    provisioningStatus: input.provisioningStatus ?? 'enabled',
    createdDateTimeUtc: existing?.createdDateTimeUtc ?? now,
    lastUpdatedDateTimeUtc: now,
    etag: newEtag(),
  }
  if (typeof input.deviceId === 'string' && input.deviceId !== '') enrollment.deviceId = input.deviceId
  hub.state.dps.enrollments[registrationId] = enrollment
  hub.store.changed()
  return enrollment
}

/**
 * Creates or replaces an enrollment group (empty keys are generated); with `ifMatch`, only the
 * one of that etag (or any, `*`).
 *
 * @returns The group as stored (with its keys).
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST` (a bad key, an
 *   attestation other than symmetric key), `ERR_HUB_PRECONDITION_FAILED`.
 */
export function putGroup(
  hub: HubService,
  groupId: string,
  input: GroupBody,
  ifMatch?: string,
): EnrollmentGroup {
  assertRegistrationId(groupId, 'enrollment group id')
  const existing = Object.hasOwn(hub.state.dps.groups, groupId) ? hub.state.dps.groups[groupId] : undefined
  checkWrite(existing, ifMatch)
  const now = new Date(hub.now()).toISOString()
  const group: EnrollmentGroup = {
    enrollmentGroupId: groupId,
    ...keysOf(input),
    provisioningStatus: input.provisioningStatus ?? 'enabled',
    createdDateTimeUtc: existing?.createdDateTimeUtc ?? now,
    lastUpdatedDateTimeUtc: now,
    etag: newEtag(),
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
 * Deletes an enrollment; with `ifMatch`, only the one of that etag (or any, `*`).
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_PRECONDITION_FAILED`.
 */
export function deleteEnrollment(hub: HubService, kind: EnrollmentTable, id: string, ifMatch?: string): void {
  checkIfMatch(ifMatch, etagOf(stored(hub, kind, id)))
  delete (kind === 'enrollments' ? hub.state.dps.enrollments : hub.state.dps.groups)[id]
  hub.store.changed()
}

/** Where a query page starts and how many it holds: DPS's `x-ms-continuation` and `x-ms-max-item-count`. */
export interface DpsPaging {
  continuation: string | undefined
  maxItemCount: string | undefined
}

/** A page of a DPS query: its items, and the token of the next page when there is one. */
export interface DpsPage {
  items: Record<string, unknown>[]
  continuation: string | undefined
}

/**
 * The query text DPS's service API serves: `*` or `SELECT * FROM {what}` (every record); any
 * other is refused, saying so.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`.
 */
function checkQuery(query: string, what: string): void {
  const q = query.trim().replace(/\s+/g, ' ')
  if (q === '*' || q.toLowerCase() === `select * from ${what.toLowerCase()}`) return
  throw bad(
    `The query ${JSON.stringify(query.slice(0, 100))} is not served: the emulator's DPS answers "*" (or "SELECT * FROM ${what}") with every record, in pages.`,
  )
}

/**
 * A page of every enrollment (or group), ordered by id, as DPS's `POST /enrollments/query`.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` (the query, a paging header).
 */
export function queryEnrollments(
  hub: HubService,
  kind: EnrollmentTable,
  query: string,
  paging: DpsPaging,
): DpsPage {
  checkQuery(query, kind === 'enrollments' ? 'enrollments' : 'enrollmentGroups')
  const rows = listEnrollments(hub, kind).sort((a, b) => compareIds(idOf(a), idOf(b)))
  return page(rows, pageStart(paging.continuation), pageSize(paging.maxItemCount))
}

const idOf = (row: Record<string, unknown>): string =>
  String(row.registrationId ?? row.enrollmentGroupId ?? '')
const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** DPS's `DeviceRegistrationState` of a finished registration. */
export function registrationJson(r: Registration): Record<string, unknown> {
  return {
    registrationId: r.registrationId,
    createdDateTimeUtc: r.createdDateTimeUtc,
    assignedHub: r.assignedHub,
    deviceId: r.deviceId,
    status: 'assigned',
    substatus: 'initialAssignment',
    lastUpdatedDateTimeUtc: r.createdDateTimeUtc,
    etag: Buffer.from(r.createdDateTimeUtc).toString('base64'),
  }
}

function storedRegistration(hub: HubService, registrationId: string): Registration {
  const table = hub.state.dps.registrations
  const found = Object.hasOwn(table, registrationId) ? table[registrationId] : undefined
  if (found === undefined)
    throw new SasTokenError('ERR_HUB_NOT_FOUND', `Registration ${registrationId} does not exist.`)
  return found
}

/**
 * One registration's state, as DPS's `GET /registrations/{id}`.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
 */
export function getRegistration(hub: HubService, registrationId: string): Record<string, unknown> {
  return registrationJson(storedRegistration(hub, registrationId))
}

/**
 * Deletes a registration's state (the device stays in the hub's registry, as with DPS); with
 * `ifMatch`, only the one of that etag (or any, `*`).
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_PRECONDITION_FAILED`.
 */
export function deleteRegistration(hub: HubService, registrationId: string, ifMatch?: string): void {
  const found = storedRegistration(hub, registrationId)
  checkIfMatch(ifMatch, String(registrationJson(found).etag))
  delete hub.state.dps.registrations[registrationId]
  hub.store.changed()
}

/**
 * A page of the registration states of one enrollment group's devices, ordered by registration
 * id, as DPS's `POST /registrations/{groupId}/query`.
 *
 * @throws {SasTokenError} `ERR_HUB_NOT_FOUND` (no such group), `ERR_HUB_BAD_REQUEST` (the query, a paging header).
 */
export function queryGroupRegistrations(
  hub: HubService,
  groupId: string,
  query: string,
  paging: DpsPaging,
): DpsPage {
  stored(hub, 'groups', groupId)
  checkQuery(query, 'registrations')
  const rows = Object.values(hub.state.dps.registrations)
    .filter((r) => r.enrollmentGroupId === groupId)
    .sort((a, b) => compareIds(a.registrationId, b.registrationId))
    .map(registrationJson)
  return page(rows, pageStart(paging.continuation), pageSize(paging.maxItemCount))
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
