/**
 * The operator HTTPS API: IoT Hub's own service REST paths and JSON (so the `azure-iothub` SDK
 * works unmodified), authenticated the same way (`Authorization: SharedAccessSignature …&skn=`,
 * verified with the core), DPS's service API (dps-routes.ts: its own paths and policies), plus
 * emulator-only endpoints under `/_emulator/`, and IoT Hub's device API (device-routes.ts, which
 * authenticates the device itself). This file is the
 * dispatcher: it finds the route (routes.ts), checks the policy, reads the body, and writes the
 * answer once the change is on disk; a failure is IoT Hub's error body (http-errors.ts).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { guardRequests } from '../net/guard-listener.js'
import type { HubService } from '../service.js'
import type { MethodCalls } from '../state/methods.js'
import { authorizePolicyToken } from '../auth/policy-auth.js'
import { HttpError, badRequest, messageTooLarge, toHttpError, writeBody, writeError } from './http-errors.js'
import { MAX_JSON_DEPTH, jsonDepth } from './json-depth.js'
import { dpsServiceRoutes } from './dps-routes.js'
import { restRoutes } from './routes.js'
import type { Answer, RawRequest, Route, RouteOptions } from './routes.js'

/** The largest request body accepted, bytes. */
export const MAX_BODY_BYTES = 1024 * 1024

/** The request body, as sent; over `max` bytes it is a 413 `MessageTooLarge` (IoT Hub's 413001). */
async function readBytes(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > max) throw messageTooLarge(`The request body is over ${max} bytes.`)
    chunks.push(buffer)
  }
  return Buffer.concat(chunks)
}

async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const text = (await readBytes(req, max)).toString('utf8')
  if (text.trim() === '') return {}
  if (jsonDepth(text) > MAX_JSON_DEPTH)
    throw badRequest(`The request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels.`)
  try {
    return JSON.parse(text)
  } catch {
    throw badRequest('The request body is not valid JSON.')
  }
}

function segments(pathname: string): string[] {
  const parts = pathname.split('/').filter((p) => p !== '')
  try {
    return parts.map((p) => decodeURIComponent(p))
  } catch {
    throw badRequest('The path has invalid percent-encoding.')
  }
}

/** A route's pattern split once: literal segments and `:name` parameters. */
interface CompiledRoute {
  readonly route: Route
  readonly parts: readonly string[]
}

/** The route's parameters when `path` fits its pattern, else `undefined`. */
function match(compiled: CompiledRoute, path: readonly string[]): Record<string, string> | undefined {
  if (compiled.parts.length !== path.length) return undefined
  const params: Record<string, string> = {}
  for (const [i, part] of compiled.parts.entries()) {
    const segment = path[i] ?? ''
    if (part.startsWith(':')) params[part.slice(1)] = segment
    // IoT Hub's paths are case-insensitive: the Node SDK sends `devicebound`, the docs `deviceBound`
    else if (part.toLowerCase() !== segment.toLowerCase()) return undefined
  }
  return params
}

/** What the operator API serves beside the hub's own state. */
export type RestApiOptions = RouteOptions

/** A request handler for the operator API, behind the listener guard (a bad target is a 400). */
export function createRestApi(
  hub: HubService,
  methods: MethodCalls,
  o: RestApiOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const table: CompiledRoute[] = [...restRoutes(hub, methods, o), ...dpsServiceRoutes(hub)].map((route) => ({
    route,
    parts: route.pattern.split('/').filter((p) => p !== ''),
  }))
  const dispatch = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const method = req.method ?? 'GET'
    const path = segments(url.pathname)
    const fits = table.flatMap((c) => {
      const params = match(c, path)
      return params === undefined ? [] : [{ route: c.route, params }]
    })
    const found = fits.find((f) => f.route.method === method)
    if (found === undefined)
      throw unmatched(
        hub,
        method,
        url.pathname,
        fits.map((f) => f.route.method),
      )
    if (found.route.rights.length > 0)
      authorizePolicyToken(hub, req.headers.authorization, found.route.rights, {
        ...(found.route.owner === undefined ? {} : { owner: found.route.owner }),
      })
    const ifMatch = req.headers['if-match']
    const request: RawRequest = {
      params: found.params,
      ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined,
      req,
      res,
      url,
      readJson: (max = MAX_BODY_BYTES) => readJson(req, max),
      readBytes: (max) => readBytes(req, max),
    }
    answer(hub, res, await found.route.run(request))
  }
  return guardRequests(
    (req, res, url) => dispatch(req, res, url).catch((err: unknown) => writeError(res, toHttpError(err))),
    (res, status, message) => writeError(res, status === 400 ? badRequest(message) : toHttpError(undefined)),
  )
}

const SERVED =
  "the hub serves IoT Hub's registry, bulk registry, query, statistics, jobs, twin and direct-method REST API (/devices/…, /statistics/…, /jobs/v2/…, /twins/…), its device API (/devices/{id}/messages/events, /devices/{id}/messages/deviceBound), DPS's service API (/enrollments/…, /enrollmentGroups/…, /registrations/…, with the DPS connection string) and /_emulator/…; configurations and file upload are not served yet"

/** A 405 (with `Allow`) when the path has routes for other methods, else a 404; both are logged. */
function unmatched(hub: HubService, method: string, pathname: string, allowed: string[]): HttpError {
  const path = pathname.slice(0, 200)
  const m = method.slice(0, 20)
  const status = allowed.length > 0 ? 405 : 404
  const why = allowed.length > 0 ? `that path takes ${allowed.join(', ')}` : SERVED
  hub.events.publish({
    event: 'warning',
    listener: 'https',
    method: m,
    path,
    message: `${m} ${JSON.stringify(path)} is not served (${status}): ${why}.`,
  })
  return allowed.length > 0
    ? new HttpError(405, 'MethodNotAllowed', 405001, `${m} is not allowed on ${path}: ${why}.`, {
        Allow: allowed.join(', '),
      })
    : new HttpError(404, 'NotFound', 404000, `No endpoint ${m} ${path}: ${why}.`)
}

/** Writes an answer once every change made so far is on disk (an answer means durable); a failed write is a 507. */
function answer(hub: HubService, res: ServerResponse, a: Answer): void {
  if (a === 'streamed') return
  hub.store
    .committed()
    .then(
      () => writeBody(res, a.status, a.body, a.headers),
      (err: unknown) => writeError(res, toHttpError(err)),
    )
    .catch(() => res.destroy())
}
