/**
 * DPS's service API, as the `azure-iot-provisioning-service` SDK's `ProvisioningServiceClient`
 * calls it unmodified: individual enrollments (`/enrollments/{id}`), enrollment groups
 * (`/enrollmentGroups/{id}`), registration states (`/registrations/{id}`), their query pages
 * (`POST …/query`, `x-ms-max-item-count`, `x-ms-continuation`) and `If-Match` etags. It shares
 * the HTTPS listener and host name with the hub, told apart by these paths (IoT Hub serves none
 * of them), and is signed with DPS's own policy (`provisioningserviceowner`, audience `dps`):
 * a hub policy opens none of these routes. Every handler is one operation of state/dps.ts, the
 * same owner the emulator's `/_emulator/dps/…` shortcut calls.
 *
 * @module
 */
import type { HubService } from '../service.js'
import {
  deleteEnrollment,
  deleteRegistration,
  enrollmentJson,
  getEnrollment,
  getRegistration,
  groupJson,
  putEnrollment,
  putGroup,
  queryEnrollments,
  queryGroupRegistrations,
} from '../state/dps.js'
import type { DpsPage, EnrollmentTable } from '../state/dps.js'
import { badRequest } from './http-errors.js'
import { BODIES } from './request-bodies.js'
import { header, route, withBody } from './routes.js'
import type { Answer, Route, RouteRequest } from './routes.js'

const ok = (body: unknown): Answer => ({ status: 200, body })
const noContent: Answer = { status: 204 }

function param(r: { params: Readonly<Record<string, string>> }, name: string): string {
  return r.params[name] ?? ''
}

/** A query page as DPS answers it: the items, and `x-ms-continuation` when more follow. */
function pageAnswer(p: DpsPage): Answer {
  return {
    status: 200,
    body: p.items,
    headers: p.continuation === undefined ? {} : { 'x-ms-continuation': p.continuation },
  }
}

function paging(r: RouteRequest<unknown>) {
  return { continuation: header(r, 'x-ms-continuation'), maxItemCount: header(r, 'x-ms-max-item-count') }
}

/** The body's id, when it names one, must be the path's. */
function sameId(body: Record<string, unknown>, field: string, id: string): void {
  const named = body[field]
  if (typeof named === 'string' && named !== '' && named !== id)
    throw badRequest(`The body's ${field} ${JSON.stringify(named)} is not the path's ${id}.`)
}

/** The routes of one enrollment table: create or update, get, delete, query, attestation. */
function enrollmentRoutes(hub: HubService, segment: string, kind: EnrollmentTable): Route[] {
  const base = `/${segment}`
  const put =
    kind === 'enrollments'
      ? withBody('PUT', `${base}/:id`, ['EnrollmentWrite'], BODIES.enrollment, (r) => {
          sameId(r.body, 'registrationId', param(r, 'id'))
          return ok(enrollmentJson(putEnrollment(hub, param(r, 'id'), r.body, r.ifMatch)))
        })
      : withBody('PUT', `${base}/:id`, ['EnrollmentWrite'], BODIES.group, (r) => {
          sameId(r.body, 'enrollmentGroupId', param(r, 'id'))
          return ok(groupJson(putGroup(hub, param(r, 'id'), r.body, r.ifMatch)))
        })
  return [
    put,
    route('GET', `${base}/:id`, ['EnrollmentRead'], (r) => ok(getEnrollment(hub, kind, param(r, 'id')))),
    route('DELETE', `${base}/:id`, ['EnrollmentWrite'], (r) => {
      deleteEnrollment(hub, kind, param(r, 'id'), r.ifMatch)
      return noContent
    }),
    withBody('POST', `${base}/query`, ['EnrollmentRead'], BODIES.dpsQuery, (r) =>
      pageAnswer(queryEnrollments(hub, kind, r.body.query, paging(r))),
    ),
  ]
}

/** `POST /{segment}/{id}/attestationmechanism`: the attestation (keys included) of one enrollment. */
function attestationRoute(hub: HubService, segment: string, kind: EnrollmentTable): Route {
  return route('POST', `/${segment}/:id/attestationmechanism`, ['EnrollmentRead'], (r) =>
    ok(getEnrollment(hub, kind, param(r, 'id')).attestation),
  )
}

/** Every route of DPS's service API, signed with DPS's policies. */
export function dpsServiceRoutes(hub: HubService): Route[] {
  const rows: Route[] = [
    ...enrollmentRoutes(hub, 'enrollments', 'enrollments'),
    ...enrollmentRoutes(hub, 'enrollmentGroups', 'groups'),
    attestationRoute(hub, 'enrollments', 'enrollments'),
    // the SDK's getEnrollmentGroupAttestationMechanism writes the path in lower case
    attestationRoute(hub, 'enrollmentgroups', 'groups'),
    route('GET', '/registrations/:id', ['RegistrationStatusRead'], (r) =>
      ok(getRegistration(hub, param(r, 'id'))),
    ),
    route('DELETE', '/registrations/:id', ['RegistrationStatusWrite'], (r) => {
      deleteRegistration(hub, param(r, 'id'), r.ifMatch)
      return noContent
    }),
    withBody('POST', '/registrations/:id/query', ['RegistrationStatusRead'], BODIES.dpsQuery, (r) =>
      pageAnswer(queryGroupRegistrations(hub, param(r, 'id'), r.body.query, paging(r))),
    ),
  ]
  return rows.map((r) => ({ ...r, owner: 'dps' }))
}
