/**
 * IoT Hub's device REST API (the HTTPS device transport), as azure-iot-device-http speaks it:
 * send an event or a batch of events, and pull C2D messages and answer them by their ETag.
 * HTTPS has no session: each request carries `Authorization: SharedAccessSignature …` for the
 * identity its path names (the device's or module's own token, or a policy's with
 * DeviceConnect), decided by the CONNECT rules ({@link authenticateToken}). A refusal is IoT
 * Hub's 401 and the hub's `refuse` event, with the same findings an MQTT refusal carries. What
 * is accepted goes to the operations every transport uses: {@link ingestTelemetry} and the
 * C2D queue ({@link C2dQueue.lockNext}, complete, reject, abandon).
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'
import { authenticateToken } from '../auth/device-auth.js'
import type { HubService } from '../service.js'
import type { C2dPuller, C2dQueue } from '../state/c2d-queue.js'
import { ingestTelemetry } from '../state/telemetry.js'
import type { TelemetryInput, TelemetrySender } from '../state/telemetry.js'
import type { Identity } from '../state/registry.js'
import { c2dHeaders, headerPairs, propertiesFromHeaders } from './device-messages.js'
import { badRequest, lockLost, messageTooLarge } from './http-errors.js'
import { BODIES, readBody } from './request-bodies.js'
import type { Answer, HttpMethod, RawRequest, Route } from './routes.js'

/** The largest device-to-cloud message, and the largest batch, IoT Hub takes: 256 KB. */
export const MAX_EVENT_BYTES = 256 * 1024

/** The media type of a batch of events. */
export const BATCH_CONTENT_TYPE = 'application/vnd.microsoft.iothub.json'

/** Who pulls C2D messages over HTTPS (the queue's holder of what it locked). */
const HTTP_PULLER: C2dPuller = { transport: 'http' }

/** The identity a request authenticated, as a telemetry sender. */
type HttpSender = TelemetrySender & { protocol: 'http' }

const noContent: Answer = { status: 204 }

function refusedFor(id: { deviceId: string; moduleId?: string }): string {
  return id.moduleId === undefined ? `device ${id.deviceId}` : `module ${id.deviceId}/${id.moduleId}`
}

/**
 * The identity the path names, when the request's token is accepted for it; else the refusal is
 * recorded (`refuse` event, `GET /_emulator/refused`) and thrown as IoT Hub's 401 (a fault's
 * refusal, `AuthFailure`, as `ERR_HUB_FAULT_REFUSED`, its `refuse` event with the `fault`).
 */
function authenticate(hub: HubService, r: RawRequest): HttpSender {
  const deviceId = r.params.id ?? ''
  const moduleId = r.params.moduleId
  const id = moduleId === undefined ? { deviceId } : { deviceId, moduleId }
  const header = r.req.headers.authorization
  const outcome = authenticateToken({ ...id, token: header ?? '' }, hub.authContext())
  if (outcome.ok && outcome.accepted.kind === 'hub')
    return { ...id, authMethod: outcome.accepted.authMethod, protocol: 'http' }
  const findings = outcome.findings
  const fault = outcome.ok ? undefined : outcome.fault
  hub.refuse({
    time: new Date(hub.now()).toISOString(),
    clientId: moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`,
    username: '',
    status: 401,
    protocol: 'http',
    ...id,
    findings,
    ...(fault === undefined ? {} : { fault: { fault: fault.fault, message: fault.message } }),
  })
  // a fault on purpose refused credentials the findings accept: say so, not why they are wrong
  if (fault !== undefined)
    throw new SasTokenError('ERR_HUB_FAULT_REFUSED', `The request of ${refusedFor(id)} is ${fault.message}`)
  // the findings speak of a CONNECT and its password: say what that is over HTTPS
  const first = findings.find((f) => f.severity === 'error')
  throw new SasTokenError(
    'ERR_HUB_UNAUTHORIZED',
    `The Authorization header is refused for ${refusedFor(id)} by the rules of an MQTT CONNECT whose password it would be: ${first?.message ?? 'unauthorized.'}`,
  )
}

/** A device route: authenticated by its own token, then handled. */
function deviceRoute(
  hub: HubService,
  method: HttpMethod,
  pattern: string,
  handler: (r: RawRequest, sender: HttpSender, identity: Identity) => Promise<Answer> | Answer,
): Route {
  return {
    method,
    pattern,
    rights: [],
    run: (r) => {
      const sender = authenticate(hub, r)
      const identity = hub.touch(sender)
      if (identity === undefined) throw new SasTokenError('ERR_HUB_NOT_FOUND', 'The identity was deleted.')
      return handler(r, sender, identity)
    },
  }
}

function isBatch(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === BATCH_CONTENT_TYPE
}

/** The messages of a request: its body with its headers' properties, or each entry of a batch. */
async function eventsOf(r: RawRequest): Promise<Array<Omit<TelemetryInput, 'address' | 'qos'>>> {
  if (!isBatch(r.req.headers['content-type'])) {
    const payload = await r.readBytes(MAX_EVENT_BYTES)
    return [{ payload, properties: propertiesFromHeaders(headerPairs(r.req.rawHeaders)) }]
  }
  const batch = readBody(BODIES.eventBatch, await r.readJson(MAX_EVENT_BYTES))
  if (batch.length === 0) throw badRequest('The event batch is empty: send at least one message.')
  return batch.map((entry, i) => {
    const base64 = entry.base64Encoded !== false
    if (base64 && Buffer.from(entry.body, 'base64').toString('base64') !== entry.body)
      throw badRequest(
        `The event batch is not valid: [${i}].body is not base64 (set "base64Encoded": false for text).`,
      )
    const payload = Buffer.from(entry.body, base64 ? 'base64' : 'utf8')
    if (payload.length > MAX_EVENT_BYTES)
      throw messageTooLarge(
        `The body of batch entry ${i} is ${payload.length} bytes; IoT Hub takes at most ${MAX_EVENT_BYTES} bytes.`,
      )
    return { payload, properties: propertiesFromHeaders(Object.entries(entry.properties ?? {})) }
  })
}

/** The lock token of a `…/deviceBound/{etag}` path: the SDK sends it bare, curl users may quote it. */
function lockTokenOf(r: RawRequest, queue: C2dQueue, deviceId: string): string {
  const etag = (r.params.etag ?? '').replace(/^"(.*)"$/, '$1')
  if (!queue.isLocked(etag, deviceId)) {
    throw lockLost(
      `No message of device ${deviceId} is locked with ${JSON.stringify(etag.slice(0, 64))}: its lock expired or it was answered already. Receive it again.`,
    )
  }
  return etag
}

/** The device API's routes. */
export function deviceRoutes(hub: HubService): Route[] {
  const queue = hub.c2d
  const sendEvents = async (r: RawRequest, sender: HttpSender, identity: Identity): Promise<Answer> => {
    for (const event of await eventsOf(r))
      ingestTelemetry(hub, sender, identity, { ...event, address: r.url.pathname, qos: 1 })
    return noContent
  }
  const bound = '/devices/:id/messages/deviceBound'
  return [
    deviceRoute(hub, 'POST', '/devices/:id/messages/events', sendEvents),
    deviceRoute(hub, 'POST', '/devices/:id/modules/:moduleId/messages/events', sendEvents),
    deviceRoute(hub, 'GET', bound, (_r, sender) => {
      const pulled = queue.lockNext(sender.deviceId, HTTP_PULLER)
      if (pulled === undefined) return noContent
      const body = Buffer.from(pulled.message.payload, 'base64')
      return { status: 200, body, headers: c2dHeaders(pulled.message, pulled.lockToken) }
    }),
    deviceRoute(hub, 'DELETE', `${bound}/:etag`, (r, sender) => {
      const token = lockTokenOf(r, queue, sender.deviceId)
      if (r.url.searchParams.has('reject')) queue.reject(token)
      else queue.complete(token)
      return noContent
    }),
    deviceRoute(hub, 'POST', `${bound}/:etag/abandon`, (r, sender) => {
      queue.abandon(lockTokenOf(r, queue, sender.deviceId))
      return noContent
    }),
  ]
}
