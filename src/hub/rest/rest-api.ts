/**
 * The operator HTTPS API: IoT Hub's own service REST paths and JSON (so the `azure-iothub` SDK
 * works unmodified), authenticated the same way (`Authorization: SharedAccessSignature …&skn=`,
 * verified with the core), plus emulator-only endpoints under `/_emulator/`.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SasTokenError, isSasTokenError } from '../../errors.js'
import { resolveExpiry } from '../../expiry.js'
import { createSasToken, deviceResourceUri, parseSasToken, verifySasToken } from '../../sas-token.js'
import { sendC2d, sendModuleInput } from '../state/c2d.js'
import type { C2dInput } from '../state/c2d.js'
import { caJson } from '../state/ca-registry.js'
import type { CaRegistry } from '../state/ca-registry.js'
import { enrollmentJson, groupJson, putEnrollment, putGroup } from '../state/dps.js'
import { streamEvents } from '../event-sinks.js'
import type { EventStreamOptions } from '../event-sinks.js'
import { guardRequests } from '../net/guard-listener.js'
import { MAX_JSON_DEPTH, jsonDepth } from './json-depth.js'
import type { MethodCalls, MethodInput } from '../state/methods.js'
import type { IdentityInput, Permission, Policy } from '../state/registry.js'
import type { HubService } from '../service.js'
import { reportUnserved } from './unserved.js'

/** The largest request body accepted, bytes. */
export const MAX_BODY_BYTES = 1024 * 1024

const ERRORS: Record<string, [number, string, number]> = {
  ERR_HUB_NOT_FOUND: [404, 'DeviceNotFound', 404001],
  ERR_HUB_CONFLICT: [409, 'DeviceAlreadyExists', 409001],
  ERR_HUB_PRECONDITION_FAILED: [412, 'PreconditionFailed', 412002],
  ERR_HUB_QUEUE_FULL: [403, 'DeviceMaximumQueueDepthExceeded', 403004],
  ERR_HUB_DEVICE_NOT_ONLINE: [404, 'DeviceNotOnline', 404103],
  ERR_HUB_METHOD_TIMEOUT: [504, 'GatewayTimeout', 504101],
  ERR_HUB_CLOSED: [503, 'ServiceUnavailable', 503001],
  ERR_HUB_STATE_IO: [507, 'InsufficientStorage', 507001],
}

class HttpError extends Error {
  readonly status: number
  readonly errorCode: string
  readonly numericCode: number
  constructor(status: number, errorCode: string, numericCode: number, message: string) {
    super(message)
    this.status = status
    this.errorCode = errorCode
    this.numericCode = numericCode
  }
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (isSasTokenError(err)) {
    const mapped = ERRORS[err.code]
    if (mapped) return new HttpError(mapped[0], mapped[1], mapped[2], err.message)
    return new HttpError(400, 'ArgumentInvalid', 400004, err.message)
  }
  return new HttpError(500, 'ServerError', 500001, 'Internal error in the emulator.')
}

/** Answers once every change made so far is on disk (an answer means durable); a failed write answers 507. */
function send(
  hub: HubService,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  hub.store
    .committed()
    .then(
      () => write(res, status, body, headers),
      (err: unknown) => sendError(res, toHttpError(err)),
    )
    .catch(() => res.destroy())
}

function write(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end()
    return
  }
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' }),
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  })
  res.end(text)
}

function sendError(res: ServerResponse, err: HttpError): void {
  write(res, err.status, {
    Message: `ErrorCode:${err.errorCode};${err.message}`,
    ExceptionMessage: `Tracking ID:sas-token-hub-G:0-TimeStamp:${new Date().toISOString()}`,
    errorCode: err.numericCode,
    code: err.errorCode,
  })
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > MAX_BODY_BYTES)
      throw new HttpError(413, 'MessageTooLarge', 413001, `The request body is over ${MAX_BODY_BYTES} bytes.`)
    chunks.push(buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return {}
  if (jsonDepth(text) > MAX_JSON_DEPTH)
    throw new HttpError(
      400,
      'ArgumentInvalid',
      400004,
      `The request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels.`,
    )
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'ArgumentInvalid', 400004, 'The request body is not valid JSON.')
  }
}

function object(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'ArgumentInvalid', 400004, 'The request body must be a JSON object.')
  }
  return Object.fromEntries(Object.entries(value))
}

/**
 * Checks the `Authorization` header: a SAS token signed by one of the hub's policies, for the
 * hub, unexpired, and that policy has one of `rights`.
 *
 * @throws {HttpError} 401.
 */
function authorize(hub: HubService, header: string | undefined, rights: Permission[]): Policy {
  const unauthorized = (why: string): HttpError =>
    new HttpError(401, 'IotHubUnauthorizedAccess', 401002, `Unauthorized: ${why}`)
  if (header === undefined || header === '')
    throw unauthorized('send Authorization: SharedAccessSignature sr=…&sig=…&se=…&skn=<policy>.')
  let keyName: string | undefined
  let host = hub.hostName
  try {
    const parsed = parseSasToken(header)
    keyName = parsed.keyName
    const tokenHost = parsed.resourceUri.split('/')[0] ?? ''
    if (hub.isOwnHost(tokenHost)) host = tokenHost
  } catch (err) {
    throw unauthorized(isSasTokenError(err) ? err.message : 'the Authorization header is not a SAS token.')
  }
  if (keyName === undefined)
    throw unauthorized('the token has no skn: sign it with a shared access policy such as iothubowner.')
  const policy = hub.policy(keyName)
  if (policy === undefined) throw unauthorized(`this hub has no policy ${JSON.stringify(keyName)}.`)
  let lastError: unknown
  for (const key of [policy.primaryKey, policy.secondaryKey]) {
    try {
      verifySasToken(header, {
        key,
        now: hub.now(),
        resourceUri: host,
        clockSkewSeconds: hub.clockSkewSeconds,
      })
      lastError = undefined
      break
    } catch (err) {
      // a signature mismatch with the other key says less than an expiry with the right one
      if (lastError === undefined || isSasTokenError(lastError, 'ERR_TOKEN_SIGNATURE_MISMATCH'))
        lastError = err
    }
  }
  if (lastError !== undefined)
    throw unauthorized(isSasTokenError(lastError) ? lastError.message : 'the token does not verify.')
  if (!rights.some((r) => policy.rights.includes(r))) {
    throw unauthorized(`policy ${policy.keyName} lacks ${rights.join(' or ')}.`)
  }
  return policy
}

function segments(pathname: string): string[] {
  const parts = pathname.split('/').filter((p) => p !== '')
  try {
    return parts.map((p) => decodeURIComponent(p))
  } catch {
    throw new HttpError(400, 'ArgumentInvalid', 400004, 'The path has invalid percent-encoding.')
  }
}

function ifMatch(req: IncomingMessage): string | undefined {
  const value = req.headers['if-match']
  return typeof value === 'string' ? value : undefined
}

/** What the operator API serves beside the hub's own state. */
export interface RestApiOptions {
  /** The registered X.509 CAs (`/_emulator/certificates`). */
  certificates?: CaRegistry
  /** The bounds of each `GET /_emulator/events` subscriber. */
  eventStream?: EventStreamOptions
}

/** A request handler for the operator API, behind the listener guard (a bad target is a 400). */
export function createRestApi(
  hub: HubService,
  methods: MethodCalls,
  o: RestApiOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  return guardRequests(
    (req, res, url) =>
      handle(hub, methods, req, res, url, o).catch((err: unknown) =>
        sendError(res, reportUnserved(hub.events, req.method, url, toHttpError(err))),
      ),
    (res, status, message) =>
      sendError(
        res,
        status === 400 ? new HttpError(400, 'ArgumentInvalid', 400004, message) : toHttpError(undefined),
      ),
  )
}

async function handle(
  hub: HubService,
  methods: MethodCalls,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  { certificates, eventStream = {} }: RestApiOptions,
): Promise<void> {
  const method = req.method ?? 'GET'
  const path = segments(url.pathname)
  const auth = (...rights: Permission[]): Policy => authorize(hub, req.headers.authorization, rights)
  const [a, b, c, d] = path
  const notAllowed = (): never => {
    throw new HttpError(405, 'MethodNotAllowed', 405001, `${method} is not allowed on ${url.pathname}.`)
  }

  if (a === '_emulator') {
    if (b === 'health' && path.length === 2) return send(hub, res, 200, { status: 'ok' })
    if (b === 'events' && path.length === 2) {
      if (method !== 'GET') notAllowed()
      auth('ServiceConnect')
      return streamEvents(hub.events, req, res, url.searchParams.get('deviceId'), eventStream)
    }
    if (b === 'refused' && path.length === 2) {
      if (method !== 'GET') notAllowed()
      auth('ServiceConnect', 'RegistryRead')
      return send(hub, res, 200, hub.refused)
    }
    if (b === 'devices' && c !== undefined && d === 'messages' && path.length === 4) {
      if (method !== 'POST') notAllowed()
      auth('ServiceConnect')
      return send(hub, res, 202, sendC2d(hub, c, object(await readBody(req)) as C2dInput))
    }
    if (
      b === 'devices' &&
      c !== undefined &&
      d === 'modules' &&
      path.length === 8 &&
      path[5] === 'inputs' &&
      path[7] === 'messages'
    ) {
      if (method !== 'POST') notAllowed()
      auth('ServiceConnect')
      const body = object(await readBody(req)) as C2dInput
      return send(hub, res, 202, sendModuleInput(hub, c, path[4] ?? '', path[6] ?? '', body))
    }
    if (b === 'sas-token' && path.length === 2) {
      if (method !== 'POST') notAllowed()
      auth('RegistryRead')
      const body = object(await readBody(req))
      const deviceId = body.deviceId
      const moduleId = body.moduleId
      if (typeof deviceId !== 'string')
        throw new HttpError(400, 'ArgumentInvalid', 400004, 'deviceId is required.')
      if (moduleId !== undefined && typeof moduleId !== 'string')
        throw new HttpError(400, 'ArgumentInvalid', 400004, 'moduleId must be a string.')
      const identity = hub.requireIdentity(deviceId, moduleId)
      if (identity.authentication.type !== 'sas')
        throw new HttpError(
          400,
          'ArgumentInvalid',
          400004,
          'The identity uses X.509: it has no key to sign with.',
        )
      const which = body.key ?? 'primary'
      if (which !== 'primary' && which !== 'secondary')
        throw new HttpError(400, 'ArgumentInvalid', 400004, 'key must be "primary" or "secondary".')
      const key =
        which === 'primary'
          ? identity.authentication.symmetricKey.primaryKey
          : identity.authentication.symmetricKey.secondaryKey
      const resourceUri = deviceResourceUri(hub.hostName, deviceId, moduleId)
      const expiry: { ttl?: string | number; expiresAt?: number | Date; now: number } = { now: hub.now() }
      if (typeof body.ttl === 'string' || typeof body.ttl === 'number') expiry.ttl = body.ttl
      if (typeof body.expiresAt === 'number') expiry.expiresAt = body.expiresAt
      if (typeof body.expiresAt === 'string') expiry.expiresAt = new Date(body.expiresAt)
      const expiresAt = resolveExpiry(expiry)
      const token = createSasToken({ resourceUri, key, expiresAt, now: hub.now() })
      return send(hub, res, 200, { token, expiresAt, resourceUri })
    }
    if (b === 'certificates' && certificates !== undefined && path.length <= 4) {
      // X.509 CAs (ca-registry.ts): list, get, put, delete, and proof of possession
      if (c === undefined) {
        if (method !== 'GET') notAllowed()
        auth('RegistryRead')
        return send(hub, res, 200, certificates.list().map(caJson))
      }
      if (d === 'generateVerificationCode' || d === 'verify') {
        if (method !== 'POST') notAllowed()
        auth('RegistryWrite')
        if (d === 'verify')
          return send(hub, res, 200, caJson(certificates.verify(c, object(await readBody(req)).certificate)))
        const verificationCode = certificates.verificationCode(c)
        return send(hub, res, 200, { ...caJson(certificates.get(c)), verificationCode })
      }
      if (d !== undefined) notAllowed()
      if (method === 'GET') {
        auth('RegistryRead')
        return send(hub, res, 200, caJson(certificates.get(c)))
      }
      if (method === 'PUT') {
        auth('RegistryWrite')
        const body = object(await readBody(req))
        return send(
          hub,
          res,
          200,
          caJson(certificates.put(c, body.certificate, { isVerified: body.isVerified })),
        )
      }
      if (method === 'DELETE') {
        auth('RegistryWrite')
        certificates.delete(c)
        return send(hub, res, 204, undefined)
      }
      notAllowed()
    }
    if (b === 'dps' && (c === 'enrollments' || c === 'enrollmentGroups')) {
      const table = c === 'enrollments' ? hub.state.dps.enrollments : hub.state.dps.groups
      const toJson = (v: unknown): Record<string, unknown> =>
        c === 'enrollments'
          ? enrollmentJson(hub.state.dps.enrollments[String(v)] ?? missing())
          : groupJson(hub.state.dps.groups[String(v)] ?? missing())
      const missing = (): never => {
        throw new SasTokenError(
          'ERR_HUB_NOT_FOUND',
          `${c === 'enrollments' ? 'Enrollment' : 'Enrollment group'} ${d} does not exist.`,
        )
      }
      if (path.length === 3) {
        if (method !== 'GET') notAllowed()
        auth('RegistryRead')
        return send(hub, res, 200, Object.keys(table).map(toJson))
      }
      if (path.length === 4 && d !== undefined) {
        if (method === 'GET') {
          auth('RegistryRead')
          if (!Object.hasOwn(table, d)) missing()
          return send(hub, res, 200, toJson(d))
        }
        if (method === 'PUT') {
          auth('RegistryWrite')
          const body = object(await readBody(req))
          return send(
            hub,
            res,
            200,
            c === 'enrollments' ? putEnrollment(hub, d, body) : putGroup(hub, d, body),
          )
        }
        if (method === 'DELETE') {
          auth('RegistryWrite')
          if (!Object.hasOwn(table, d)) missing()
          delete table[d]
          hub.store.changed()
          return send(hub, res, 204, undefined)
        }
        notAllowed()
      }
    }
    throw new HttpError(404, 'NotFound', 404000, `No emulator endpoint ${method} ${url.pathname}.`)
  }

  if (a === 'devices') {
    if (path.length === 1) {
      if (method !== 'GET') notAllowed()
      auth('RegistryRead')
      return send(hub, res, 200, hub.listDevices())
    }
    if (b !== undefined && path.length === 2) {
      if (method === 'GET') {
        auth('RegistryRead')
        return send(hub, res, 200, hub.getDevice(b))
      }
      if (method === 'PUT') {
        auth('RegistryWrite')
        return send(
          hub,
          res,
          200,
          hub.putDevice(b, object(await readBody(req)) as IdentityInput, ifMatch(req)),
        )
      }
      if (method === 'DELETE') {
        auth('RegistryWrite')
        hub.deleteDevice(b, ifMatch(req))
        return send(hub, res, 204, undefined)
      }
      notAllowed()
    }
    if (b !== undefined && c === 'modules') {
      if (path.length === 3) {
        if (method !== 'GET') notAllowed()
        auth('RegistryRead')
        return send(hub, res, 200, hub.listModules(b))
      }
      if (d !== undefined && path.length === 4) {
        if (method === 'GET') {
          auth('RegistryRead')
          return send(hub, res, 200, hub.getModule(b, d))
        }
        if (method === 'PUT') {
          auth('RegistryWrite')
          return send(
            hub,
            res,
            200,
            hub.putModule(b, d, object(await readBody(req)) as IdentityInput, ifMatch(req)),
          )
        }
        if (method === 'DELETE') {
          auth('RegistryWrite')
          hub.deleteModule(b, d, ifMatch(req))
          return send(hub, res, 204, undefined)
        }
        notAllowed()
      }
    }
  }

  if (a === 'twins' && b !== undefined) {
    const moduleId = c === 'modules' ? d : undefined
    const rest = c === 'modules' ? path.slice(4) : path.slice(2)
    if (c !== undefined && c !== 'modules' && c !== 'methods')
      throw new HttpError(404, 'NotFound', 404000, `No endpoint ${url.pathname}.`)
    if (c === 'modules' && d === undefined)
      throw new HttpError(404, 'NotFound', 404000, `No endpoint ${url.pathname}.`)
    if (rest.length === 0) {
      if (method === 'GET') {
        auth('RegistryRead', 'ServiceConnect')
        return send(hub, res, 200, hub.getTwin(b, moduleId))
      }
      if (method === 'PATCH' || method === 'PUT') {
        auth('ServiceConnect', 'RegistryWrite')
        const body = await readBody(req)
        const match = ifMatch(req)
        return send(
          hub,
          res,
          200,
          hub.updateTwin(b, moduleId, body, {
            replace: method === 'PUT',
            ...(match === undefined ? {} : { ifMatch: match }),
          }),
        )
      }
      notAllowed()
    }
    if (rest.length === 1 && rest[0] === 'methods') {
      if (method !== 'POST') notAllowed()
      auth('ServiceConnect')
      const result = await methods.invoke(b, moduleId, object(await readBody(req)) as MethodInput)
      return send(hub, res, 200, result)
    }
  }
  throw new HttpError(404, 'NotFound', 404000, `No endpoint ${method} ${url.pathname}.`)
}
