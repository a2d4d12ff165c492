/**
 * The operator API's routes, as a table: each is `{method, pattern, rights, handler}`, with the
 * schema of its body when it takes one (request-bodies.ts). IoT Hub's own service paths (so the
 * `azure-iothub` SDK works unmodified), its device paths (device-routes.ts, for
 * azure-iot-device-http), then the emulator's under `/_emulator/`. A handler maps
 * the checked request to one operation of the hub and returns its answer; it never checks a
 * field's type again.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { resolveExpiry } from '../../expiry.js'
import { createSasToken, deviceResourceUri } from '../../sas-token.js'
import { streamEvents } from '../event-sinks.js'
import type { EventStreamOptions } from '../event-sinks.js'
import type { HubService } from '../service.js'
import { caJson } from '../state/ca-registry.js'
import type { CaRegistry } from '../state/ca-registry.js'
import { sendC2d, sendModuleInput } from '../state/c2d.js'
import {
  deleteEnrollment,
  enrollmentJson,
  getEnrollment,
  groupJson,
  listEnrollments,
  putEnrollment,
  putGroup,
} from '../state/dps.js'
import type { EnrollmentTable } from '../state/dps.js'
import type { MethodCalls } from '../state/methods.js'
import { bulkRegistry } from '../state/bulk.js'
import type { BulkOutcome } from '../state/bulk.js'
import { Jobs } from '../state/jobs.js'
import { queryTwins } from '../state/query.js'
import type { Permission } from '../state/registry.js'
import type { DpsPermission } from '../state/state-store.js'
import type { PolicyOwner } from '../auth/policy-auth.js'
import { registryStatistics, serviceStatistics } from '../state/statistics.js'
import type { ThrottledOperation } from '../state/throttle.js'
import { deviceRoutes } from './device-routes.js'
import { badRequest, toHttpError } from './http-errors.js'
import { BODIES, readBody } from './request-bodies.js'
import type { BodySchema, IdentityBody, TwinBody } from './request-bodies.js'

/** The HTTP methods the API serves. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** What a handler is given: the path's parameters (decoded), the checked body and the request. */
export interface RouteRequest<B> {
  readonly params: Readonly<Record<string, string>>
  readonly body: B
  readonly ifMatch: string | undefined
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly url: URL
}

/**
 * A handler's answer, written once the change it made is on disk: JSON, or a `Buffer` as it is,
 * with extra headers; `streamed` when it answered itself.
 */
export type Answer =
  | { status: number; body?: unknown; headers?: Readonly<Record<string, string>> | undefined }
  | 'streamed'

/** A request before its body is read: what the dispatcher gives a route. */
export type RawRequest = Omit<RouteRequest<never>, 'body'> & {
  /** The body as JSON (`{}` when empty); over `max` bytes (default 1 MB) a 413. */
  readJson(max?: number): Promise<unknown>
  /** The body as sent; over `max` bytes a 413. */
  readBytes(max: number): Promise<Buffer>
}

/** One row of the table. */
export interface Route {
  readonly method: HttpMethod
  /** `/devices/:id/modules/:moduleId`: literal segments and `:name` parameters. */
  readonly pattern: string
  /**
   * The policy must have one of these; none for a route anyone may call, or one that
   * authenticates a device itself (device-routes.ts).
   */
  readonly rights: readonly (Permission | DpsPermission)[]
  /** Whose policies sign its token: the hub's (the default) or DPS's service API's (dps-routes.ts). */
  readonly owner?: PolicyOwner
  run(request: RawRequest): Promise<Answer> | Answer
}

/** A route without a body. */
export function route(
  method: HttpMethod,
  pattern: string,
  rights: readonly (Permission | DpsPermission)[],
  handler: (r: RouteRequest<undefined>) => Promise<Answer> | Answer,
): Route {
  return { method, pattern, rights, run: (r) => handler({ ...r, body: undefined }) }
}

/** A route whose body is checked with `schema` first. */
export function withBody<B>(
  method: HttpMethod,
  pattern: string,
  rights: readonly (Permission | DpsPermission)[],
  schema: BodySchema<B>,
  handler: (r: RouteRequest<B>) => Promise<Answer> | Answer,
): Route {
  return {
    method,
    pattern,
    rights,
    run: async (r) => handler({ ...r, body: readBody(schema, await r.readJson()) }),
  }
}

/**
 * `r` throttled as `operation` by the hub's tier (throttle.ts) before it runs: over the rate,
 * IoT Hub's 429 `IotHubThrottled` with `Retry-After`.
 */
function throttled(hub: HubService, operation: ThrottledOperation, r: Route): Route {
  return {
    ...r,
    run: (request) => {
      hub.throttle.admit(operation)
      return r.run(request)
    },
  }
}

const ok = (body: unknown): Answer => ({ status: 200, body })
const accepted = (body: unknown): Answer => ({ status: 202, body })
const noContent: Answer = { status: 204 }

function param(r: { params: Readonly<Record<string, string>> }, name: string): string {
  return r.params[name] ?? ''
}

/** The module id of a `…/modules/:moduleId` route, or `undefined` for a device's. */
function moduleOf(r: { params: Readonly<Record<string, string>> }): string | undefined {
  return r.params.moduleId
}

function sameDevice(body: IdentityBody, id: string): void {
  if (body.deviceId !== undefined && body.deviceId !== id)
    throw badRequest(`The body's deviceId ${JSON.stringify(body.deviceId)} is not the path's ${id}.`)
}

/** A request header's value (the first, when sent twice). */
export function header(r: RouteRequest<unknown>, name: string): string | undefined {
  const value = r.req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * IoT Hub's `BulkRegistryOperationResult`: 200 when every item succeeded, else 400 with the
 * errors (what succeeded stays), each with the IoT Hub error code and message of its refusal.
 */
function bulkAnswer(outcomes: readonly BulkOutcome[]): Answer {
  const errors = outcomes.flatMap((o) => {
    if (o.error === undefined) return []
    const err = toHttpError(o.error)
    return [
      {
        deviceId: o.deviceId,
        ...(o.moduleId === undefined ? {} : { moduleId: o.moduleId }),
        errorCode: err.errorCode,
        errorStatus: err.message,
        operation: o.operation,
      },
    ]
  })
  return {
    status: errors.length === 0 ? 200 : 400,
    body: { isSuccessful: errors.length === 0, errors, warnings: [] },
  }
}

/** The query language, bulk registry, statistics and jobs routes. */
function queryRoutes(hub: HubService, jobs: Jobs): Route[] {
  const jobRights = ['ServiceConnect', 'RegistryWrite'] as const
  const jobRoutes: Route[] = [
    route('GET', '/jobs/v2/query', ['RegistryRead', 'ServiceConnect'], (r) => {
      const { items, continuation } = jobs.list(
        r.url.searchParams.get('jobType') ?? undefined,
        r.url.searchParams.get('jobStatus') ?? undefined,
        { continuation: header(r, 'x-ms-continuation'), maxItemCount: header(r, 'x-ms-max-item-count') },
      )
      return { status: 200, body: items, headers: continuation ? { 'x-ms-continuation': continuation } : {} }
    }),
    withBody('PUT', '/jobs/v2/:id', jobRights, BODIES.job, (r) => {
      if (r.body.jobId && r.body.jobId !== param(r, 'id'))
        throw badRequest(
          `The body's jobId ${JSON.stringify(r.body.jobId)} is not the path's ${param(r, 'id')}.`,
        )
      return ok(jobs.schedule(param(r, 'id'), r.body))
    }),
    route('GET', '/jobs/v2/:id', ['RegistryRead', 'ServiceConnect'], (r) => ok(jobs.get(param(r, 'id')))),
    route('POST', '/jobs/v2/:id/cancel', jobRights, (r) => ok(jobs.cancel(param(r, 'id')))),
  ]
  return [
    throttled(
      hub,
      'queries',
      withBody('POST', '/devices/query', ['RegistryRead'], BODIES.query, (r) => {
        const result = queryTwins(hub, r.body.query, {
          continuation: header(r, 'x-ms-continuation'),
          maxItemCount: header(r, 'x-ms-max-item-count'),
          deviceJobs: () => jobs.deviceJobs(),
        })
        const headers: Record<string, string> = { 'x-ms-item-type': result.itemType }
        if (result.continuation !== undefined) headers['x-ms-continuation'] = result.continuation
        return { status: 200, body: result.items, headers }
      }),
    ),
    // a bulk request is as many registry operations as it has items (IoT Hub's quotas page)
    withBody('POST', '/devices', ['RegistryWrite'], BODIES.bulk, (r) => {
      hub.throttle.admit('registry', undefined, { operations: r.body.length })
      return bulkAnswer(bulkRegistry(hub, r.body))
    }),
    route('GET', '/statistics/devices', ['RegistryRead'], () => ok(registryStatistics(hub))),
    route('GET', '/statistics/service', ['ServiceConnect', 'RegistryRead'], () => ok(serviceStatistics(hub))),
    ...jobRoutes.map((r) => throttled(hub, 'jobs', r)),
  ]
}

/** What the routes serve beside the hub's own state. */
export interface RouteOptions {
  /** The hub's jobs (`/jobs/v2`), stopped when it closes; default a table of the routes' own. */
  jobs?: Jobs | undefined
  /** The registered X.509 CAs (`/_emulator/certificates`). */
  certificates?: CaRegistry | undefined
  /** The bounds of each `GET /_emulator/events` subscriber. */
  eventStream?: EventStreamOptions | undefined
}

/** IoT Hub's service paths: the registry, twins and direct methods. */
function serviceRoutes(hub: HubService, methods: MethodCalls): Route[] {
  const read = ['RegistryRead'] as const
  const write = ['RegistryWrite'] as const
  const twinRead = ['RegistryRead', 'ServiceConnect'] as const
  const twinWrite = ['ServiceConnect', 'RegistryWrite'] as const
  const twinUpdate = (replace: boolean) => (r: RouteRequest<TwinBody>) => {
    const options = r.ifMatch === undefined ? { replace } : { replace, ifMatch: r.ifMatch }
    return ok(hub.updateTwin(param(r, 'id'), moduleOf(r), r.body, options))
  }
  const registry: Route[] = [
    route('GET', '/devices', read, () => ok(hub.listDevices())),
    route('GET', '/devices/:id', read, (r) => ok(hub.getDevice(param(r, 'id')))),
    withBody('PUT', '/devices/:id', write, BODIES.identity, (r) => {
      sameDevice(r.body, param(r, 'id'))
      return ok(hub.putDevice(param(r, 'id'), r.body, r.ifMatch))
    }),
    route('DELETE', '/devices/:id', write, (r) => {
      hub.deleteDevice(param(r, 'id'), r.ifMatch)
      return noContent
    }),
    route('GET', '/devices/:id/modules', read, (r) => ok(hub.listModules(param(r, 'id')))),
    route('GET', '/devices/:id/modules/:moduleId', read, (r) =>
      ok(hub.getModule(param(r, 'id'), param(r, 'moduleId'))),
    ),
    withBody('PUT', '/devices/:id/modules/:moduleId', write, BODIES.identity, (r) => {
      sameDevice(r.body, param(r, 'id'))
      return ok(hub.putModule(param(r, 'id'), param(r, 'moduleId'), r.body, r.ifMatch))
    }),
    route('DELETE', '/devices/:id/modules/:moduleId', write, (r) => {
      hub.deleteModule(param(r, 'id'), param(r, 'moduleId'), r.ifMatch)
      return noContent
    }),
  ]
  const rows = registry.map((r) => throttled(hub, 'registry', r))
  for (const base of ['/twins/:id', '/twins/:id/modules/:moduleId']) {
    rows.push(
      route('GET', base, twinRead, (r) => ok(hub.getTwin(param(r, 'id'), moduleOf(r)))),
      withBody('PATCH', base, twinWrite, BODIES.twin, twinUpdate(false)),
      withBody('PUT', base, twinWrite, BODIES.twin, twinUpdate(true)),
      withBody('POST', `${base}/methods`, ['ServiceConnect'], BODIES.method, async (r) =>
        ok(await methods.invoke(param(r, 'id'), moduleOf(r), r.body)),
      ),
    )
  }
  return rows
}

/** The emulator's own paths under `/_emulator/`. */
function emulatorRoutes(hub: HubService, o: RouteOptions): Route[] {
  const rows: Route[] = [
    route('GET', '/_emulator/health', [], () => ok({ status: 'ok' })),
    route('GET', '/_emulator/events', ['ServiceConnect'], (r) => {
      streamEvents(hub.events, r.req, r.res, r.url.searchParams.get('deviceId'), o.eventStream ?? {})
      return 'streamed'
    }),
    route('GET', '/_emulator/refused', ['ServiceConnect', 'RegistryRead'], () => ok(hub.refused)),
    // faults on purpose (faults.ts): do one, list those in force, clear them
    withBody('POST', '/_emulator/faults', ['ServiceConnect'], BODIES.fault, (r) =>
      ok(hub.faults.operate(r.body)),
    ),
    route('GET', '/_emulator/faults', ['ServiceConnect'], () => ok(hub.faults.active())),
    route('DELETE', '/_emulator/faults', ['ServiceConnect'], (r) => {
      const deviceId = r.url.searchParams.get('deviceId') ?? undefined
      const moduleId = r.url.searchParams.get('moduleId') ?? undefined
      return ok(hub.faults.operate({ kind: 'clear', deviceId, moduleId }))
    }),
    withBody('POST', '/_emulator/devices/:id/messages', ['ServiceConnect'], BODIES.c2d, (r) =>
      accepted(sendC2d(hub, param(r, 'id'), r.body)),
    ),
    withBody(
      'POST',
      '/_emulator/devices/:id/modules/:moduleId/inputs/:input/messages',
      ['ServiceConnect'],
      BODIES.c2d,
      (r) => accepted(sendModuleInput(hub, param(r, 'id'), param(r, 'moduleId'), param(r, 'input'), r.body)),
    ),
    withBody('POST', '/_emulator/sas-token', ['RegistryRead'], BODIES.sasToken, (r) => {
      const { deviceId, moduleId, key = 'primary', ttl, expiresAt: until } = r.body
      const identity = hub.requireIdentity(deviceId, moduleId)
      if (identity.authentication.type !== 'sas')
        throw badRequest('The identity uses X.509: it has no key to sign with.')
      const keys = identity.authentication.symmetricKey
      const resourceUri = deviceResourceUri(hub.hostName, deviceId, moduleId)
      const expiresAt = resolveExpiry({
        now: hub.now(),
        ...(ttl === undefined ? {} : { ttl }),
        ...(until === undefined ? {} : { expiresAt: typeof until === 'string' ? new Date(until) : until }),
      })
      const signing = key === 'primary' ? keys.primaryKey : keys.secondaryKey
      return ok({
        token: createSasToken({ resourceUri, key: signing, expiresAt, now: hub.now() }),
        expiresAt,
        resourceUri,
      })
    }),
  ]
  for (const [segment, kind] of [
    ['enrollments', 'enrollments'],
    ['enrollmentGroups', 'groups'],
  ] as const satisfies ReadonlyArray<readonly [string, EnrollmentTable]>) {
    const base = `/_emulator/dps/${segment}`
    rows.push(
      route('GET', base, ['RegistryRead'], () => ok(listEnrollments(hub, kind))),
      route('GET', `${base}/:id`, ['RegistryRead'], (r) => ok(getEnrollment(hub, kind, param(r, 'id')))),
      kind === 'enrollments'
        ? withBody('PUT', `${base}/:id`, ['RegistryWrite'], BODIES.enrollment, (r) =>
            ok(enrollmentJson(putEnrollment(hub, param(r, 'id'), r.body))),
          )
        : withBody('PUT', `${base}/:id`, ['RegistryWrite'], BODIES.group, (r) =>
            ok(groupJson(putGroup(hub, param(r, 'id'), r.body))),
          ),
      route('DELETE', `${base}/:id`, ['RegistryWrite'], (r) => {
        deleteEnrollment(hub, kind, param(r, 'id'))
        return noContent
      }),
    )
  }
  const cas = o.certificates
  if (cas !== undefined) {
    rows.push(
      route('GET', '/_emulator/certificates', ['RegistryRead'], () => ok(cas.list().map(caJson))),
      route('GET', '/_emulator/certificates/:name', ['RegistryRead'], (r) =>
        ok(caJson(cas.get(param(r, 'name')))),
      ),
      withBody('PUT', '/_emulator/certificates/:name', ['RegistryWrite'], BODIES.certificate, (r) =>
        ok(caJson(cas.put(param(r, 'name'), r.body.certificate, { isVerified: r.body.isVerified }))),
      ),
      route('DELETE', '/_emulator/certificates/:name', ['RegistryWrite'], (r) => {
        cas.delete(param(r, 'name'))
        return noContent
      }),
      route('POST', '/_emulator/certificates/:name/generateVerificationCode', ['RegistryWrite'], (r) => {
        const name = param(r, 'name')
        const verificationCode = cas.verificationCode(name)
        return ok({ ...caJson(cas.get(name)), verificationCode })
      }),
      withBody('POST', '/_emulator/certificates/:name/verify', ['RegistryWrite'], BODIES.certificate, (r) =>
        ok(caJson(cas.verify(param(r, 'name'), r.body.certificate))),
      ),
    )
  }
  return rows
}

/** Every route the HTTPS listener serves: the service API, IoT Hub's device API, the emulator's. */
export function restRoutes(hub: HubService, methods: MethodCalls, o: RouteOptions = {}): Route[] {
  return [
    ...serviceRoutes(hub, methods),
    ...queryRoutes(hub, o.jobs ?? new Jobs(hub, methods)),
    ...deviceRoutes(hub),
    ...emulatorRoutes(hub, o),
  ]
}
