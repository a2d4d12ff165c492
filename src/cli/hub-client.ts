/**
 * A small client for IoT Hub's service REST API (api-version 2021-04-12) over `node:https`: the
 * registry (`/devices/{id}`, modules), twins (`/twins/{id}`), direct methods
 * (`POST /twins/{id}/methods`), and the two emulator-only endpoints of `sas-token hub`
 * (`POST /_emulator/devices/{id}/messages` for C2D, `GET /_emulator/events` for the event stream).
 *
 * Every request carries `Authorization: SharedAccessSignature sr={host}&sig=…&se=…&skn={policy}`,
 * signed by the core from a hub (service) connection string, as the official service SDKs sign
 * it, so the same calls work against a real hub. TLS trusts the system CAs plus
 * `NODE_EXTRA_CA_CERTS` (node reads it at start), plus the `ca` option.
 *
 * Every failure is a {@link SasTokenError} with an `ERR_HUB_*` code, the HTTP `status` and the
 * hub's own `hubErrorCode` as fields, and a message that says what to do. No message holds a key
 * or a token.
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { request } from 'node:https'
import { rootCertificates } from 'node:tls'
import type { ServiceConnectionString } from '../connection-string.js'
import { SasTokenError, type SasTokenErrorCode } from '../errors.js'
import { tokenFromConnectionString } from '../token-from-connection-string.js'

/** The service API version every request names. */
export const HUB_API_VERSION = '2021-04-12'

/** How long a plain request may take before it fails with `ERR_HUB_UNREACHABLE`. */
const REQUEST_TIMEOUT_MS = 30_000

/** Options of {@link createHubClient}. */
export interface HubClientOptions {
  /** The hub connection string, parsed: a policy (`SharedAccessKeyName`) with its key. */
  connectionString: ServiceConnectionString
  /** `https://host[:port]`; default `https://{HostName}` (port 443). */
  endpoint?: string
  /** A PEM CA certificate (or bundle) to trust besides the system ones. */
  ca?: string
  /** Epoch milliseconds; default `Date.now()`. For the tokens. */
  now?: () => number
}

/** An answer of the hub. */
export interface HubResponse {
  status: number
  headers: IncomingHttpHeaders
  /** The JSON body, parsed; `undefined` when there was none. */
  body: unknown
}

/** The facts a hub failure carries besides its code and message. */
export interface HubErrorFacts {
  /** The HTTP status, when the hub answered. */
  status?: number
  /** The hub's own error code (`404103`, `DeviceNotFound`, …), when it gave one. */
  hubErrorCode?: string
}

/** A device or module as the registry describes it (the fields the CLI reads). */
export interface HubDevice {
  deviceId: string
  moduleId?: string
  status?: string
  connectionState?: string
  etag?: string
  cloudToDeviceMessageCount?: number
  authentication?: {
    type?: string
    symmetricKey?: { primaryKey?: string | null | undefined; secondaryKey?: string | null | undefined }
    x509Thumbprint?: {
      primaryThumbprint?: string | null | undefined
      secondaryThumbprint?: string | null | undefined
    }
  }
  [field: string]: unknown
}

/** A device twin or module twin (the JSON as the hub sends it). */
export type HubTwin = Record<string, unknown>

/** What a direct method call answered: the device's status and payload. */
export interface MethodResponse {
  status: number
  payload: unknown
}

/** A C2D message for {@link HubClient.sendC2d}, as the emulator's endpoint takes it. */
export interface C2dMessage {
  payload: string
  payloadEncoding?: 'utf8' | 'base64'
  properties?: Record<string, string>
  messageId?: string
  correlationId?: string
  userId?: string
  contentType?: string
  contentEncoding?: string
  expiryTimeUtc?: string
}

/** One event of the hub's log (`event`, `time`, and the event's own fields). */
export interface HubEvent {
  event: string
  time: string
  deviceId?: string
  moduleId?: string
  [field: string]: unknown
}

/** An identity: a device, or a module of one. */
export interface DeviceOrModule {
  deviceId: string
  moduleId?: string | undefined
}

/** Options of {@link HubClient.invokeMethod}. */
export interface InvokeOptions {
  /** `responseTimeoutInSeconds`: 5–300, default 30. */
  timeoutSeconds?: number
  /** `connectTimeoutInSeconds`: how long to wait for an offline device, default 0. */
  connectTimeoutSeconds?: number
}

/** Options of {@link HubClient.events}. */
export interface EventsOptions {
  deviceId?: string
  /** Ends the stream. */
  signal?: AbortSignal
  /** Called once the hub has accepted the stream: events from now on will arrive. */
  onOpen?: () => void
}

/** The calls of {@link createHubClient}. */
export interface HubClient {
  /** The endpoint requests go to, like `https://myhub.azure-devices.net`. */
  readonly endpoint: string
  /** The hub's host name, from the connection string. */
  readonly hostName: string
  /** Creates a device or module; the hub generates its keys. */
  createDevice(target: DeviceOrModule, o?: { status?: 'enabled' | 'disabled' }): Promise<HubDevice>
  getDevice(target: DeviceOrModule): Promise<HubDevice>
  /** Every device (or, with a device id, every module of it). */
  listDevices(deviceId?: string): Promise<HubDevice[]>
  deleteDevice(target: DeviceOrModule): Promise<void>
  getTwin(target: DeviceOrModule): Promise<HubTwin>
  /** PATCHes tags and desired properties (`If-Match: *`); answers the new twin. */
  updateTwin(target: DeviceOrModule, patch: { tags?: unknown; desired?: unknown }): Promise<HubTwin>
  invokeMethod(
    target: DeviceOrModule,
    methodName: string,
    payload: unknown,
    o?: InvokeOptions,
  ): Promise<MethodResponse>
  /** Emulator only: queues a cloud-to-device message. */
  sendC2d(deviceId: string, message: C2dMessage): Promise<{ messageId: string; state: string }>
  /** Emulator only: the event stream (server-sent events), from now on. */
  events(o?: EventsOptions): AsyncGenerator<HubEvent>
  /** Any request; the JSON answer, whatever its status. */
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<HubResponse>
}

/** `/devices/{id}` or `/devices/{id}/modules/{mid}`, or the same under another root. */
function identityPath(root: 'devices' | 'twins', t: DeviceOrModule): string {
  const device = `/${root}/${encodeURIComponent(t.deviceId)}`
  return t.moduleId === undefined ? device : `${device}/modules/${encodeURIComponent(t.moduleId)}`
}

const describeTarget = (t: DeviceOrModule): string =>
  t.moduleId === undefined ? `device ${t.deviceId}` : `module ${t.deviceId}/${t.moduleId}`

/** A {@link SasTokenError} with {@link HubErrorFacts} as fields. */
function hubError(code: SasTokenErrorCode, message: string, facts: HubErrorFacts = {}, cause?: unknown) {
  return Object.assign(new SasTokenError(code, message, cause === undefined ? {} : { cause }), facts)
}

/**
 * The hub's own error code, from wherever the hub put it: the emulator's `errorCode` field, the
 * `iothub-errorcode` header, or real IoT Hub's `Message: "ErrorCode:DeviceNotFound;…"`.
 */
function hubErrorCodeOf(res: HubResponse): string | undefined {
  const body = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as Record<string, unknown>
  for (const field of ['errorCode', 'ErrorCode', 'code']) {
    const value = body[field]
    if (typeof value === 'string' || typeof value === 'number') return String(value)
  }
  const header = res.headers['iothub-errorcode']
  if (typeof header === 'string') return header
  const message = typeof body.Message === 'string' ? body.Message : ''
  return /ErrorCode:(\w+)/.exec(message)?.[1]
}

/** The hub's human message, cut short and stripped of anything token-shaped. */
function hubMessageOf(res: HubResponse): string | undefined {
  const body = res.body
  let text: string | undefined
  if (typeof body === 'string') text = body
  else if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>
    const value = b.Message ?? b.message ?? b.ExceptionMessage
    if (typeof value === 'string') text = value
  }
  if (text === undefined || text.trim() === '') return undefined
  text = text.replace(/^ErrorCode:\w+;/, '').replace(/(sig=)[^&\s"]+/gi, '$1<redacted>')
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

/**
 * Turns a hub answer that is not a success into a {@link SasTokenError}: `what` says what was
 * asked (`get device dev1`).
 */
function failure(res: HubResponse, what: string): SasTokenError & HubErrorFacts {
  const hubErrorCode = hubErrorCodeOf(res)
  const facts: HubErrorFacts = {
    status: res.status,
    ...(hubErrorCode !== undefined && { hubErrorCode }),
  }
  const said = hubMessageOf(res)
  const tail = `(HTTP ${res.status}${hubErrorCode === undefined ? '' : ` ${hubErrorCode}`}${said === undefined ? '' : `: ${said}`})`
  const s = res.status
  if (s === 401 || (s === 403 && !isQueueFull(hubErrorCode)))
    return hubError(
      'ERR_HUB_UNAUTHORIZED',
      `${what}: the hub refused the credentials ${tail}. Check the hub connection string (-c or $IOTHUB_CONNECTION_STRING): its SharedAccessKeyName must be a policy with the needed rights, and its key that policy's key.`,
      facts,
    )
  if (s === 403)
    return hubError(
      'ERR_HUB_QUEUE_FULL',
      `${what}: the device already has 50 cloud-to-device messages queued ${tail}. Let it connect and receive them first.`,
      facts,
    )
  if (s === 404 && isNotOnline(hubErrorCode))
    return hubError(
      'ERR_HUB_DEVICE_NOT_ONLINE',
      `${what}: the device is not connected, or has not subscribed to direct methods ${tail}.`,
      facts,
    )
  if (s === 404)
    return hubError(
      'ERR_HUB_NOT_FOUND',
      `${what}: not found ${tail}. Check the id ('sas-token hub devices list').`,
      facts,
    )
  if (s === 504)
    return hubError(
      'ERR_HUB_METHOD_TIMEOUT',
      `${what}: the device did not answer in time ${tail}. Give it longer with --timeout (5-300 s).`,
      facts,
    )
  if (s === 409) return hubError('ERR_HUB_CONFLICT', `${what}: it already exists ${tail}.`, facts)
  if (s === 412)
    return hubError(
      'ERR_HUB_PRECONDITION_FAILED',
      `${what}: it changed meanwhile (etag mismatch) ${tail}. Try again.`,
      facts,
    )
  if (s === 400 || s === 413)
    return hubError('ERR_HUB_BAD_REQUEST', `${what}: the hub rejected the request ${tail}.`, facts)
  return hubError('ERR_HUB_REQUEST_FAILED', `${what}: the hub answered ${tail}.`, facts)
}

const isQueueFull = (code: string | undefined): boolean =>
  code === '403004' || code === 'DeviceMaximumQueueDepthExceeded'
const isNotOnline = (code: string | undefined): boolean => code === '404103' || code === 'DeviceNotOnline'

/** Network and TLS failures, with the way out. */
function transportError(err: NodeJS.ErrnoException, endpoint: string): SasTokenError {
  const code = err.code ?? 'error'
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/i.test(code))
    return hubError(
      'ERR_HUB_TLS',
      `cannot trust ${endpoint}: ${code}. For 'sas-token hub', trust its CA: set NODE_EXTRA_CA_CERTS to its ca.pem (the path is in its 'ready' line), or pass --ca.`,
      {},
      err,
    )
  return hubError(
    'ERR_HUB_UNREACHABLE',
    `cannot reach ${endpoint}: ${code === 'error' ? err.message : code}. Is the hub running ('sas-token hub'), and is the endpoint right (--endpoint https://host:port)?`,
    {},
    err,
  )
}

/** Parses a JSON body; the text itself when it is not JSON; `undefined` when empty. */
function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function expectDevice(body: unknown, what: string): HubDevice {
  if (isObject(body) && typeof body.deviceId === 'string') return body as HubDevice
  throw hubError('ERR_HUB_BAD_RESPONSE', `${what}: the hub's answer is not a device description.`)
}

/**
 * A client for one hub, from its connection string.
 *
 * @example
 * ```ts
 * const hub = createHubClient({ connectionString: parseConnectionString(text) as ServiceConnectionString })
 * const device = await hub.createDevice({ deviceId: 'dev1' })
 * ```
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for an endpoint that is not an https URL; the
 *   calls throw the `ERR_HUB_*` codes.
 */
export function createHubClient(o: HubClientOptions): HubClient {
  const cs = o.connectionString
  const hostName = cs.hostName
  const endpoint = (o.endpoint ?? `https://${hostName}`).replace(/\/+$/, '')
  let base: URL
  try {
    base = new URL(endpoint)
  } catch {
    base = new URL('invalid:')
  }
  if (base.protocol !== 'https:' || (base.pathname !== '/' && base.pathname !== '') || base.search !== '')
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `--endpoint ${JSON.stringify(endpoint)} is not an https URL with a host and an optional port, like https://localhost:8443.`,
    )
  const ca = o.ca === undefined ? undefined : [...rootCertificates, o.ca]
  let token: { value: string; renewAt: number } | undefined

  /** The policy token, signed once and reused for most of its hour. */
  function authorization(): string {
    const now = o.now?.() ?? Date.now()
    if (token === undefined || now >= token.renewAt) {
      token = { value: tokenFromConnectionString(cs, { ttl: 3600, now }), renewAt: now + 3000_000 }
    }
    return token.value
  }

  function open(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<IncomingMessage> {
    const url = new URL(`${path}${path.includes('?') ? '&' : '?'}api-version=${HUB_API_VERSION}`, base)
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method,
        headers: {
          Authorization: authorization(),
          Accept: 'application/json',
          'Request-Id': crypto.randomUUID(),
          'User-Agent': 'sas-token',
          ...(body !== undefined && {
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Length': String(Buffer.byteLength(body)),
          }),
          ...headers,
        },
        ...(ca !== undefined && { ca }),
      })
      req.setTimeout(timeoutMs, () => {
        const err: NodeJS.ErrnoException = new Error(`no answer in ${Math.round(timeoutMs / 1000)} s`)
        req.destroy(err)
      })
      req.on('error', (err: NodeJS.ErrnoException) => reject(transportError(err, endpoint)))
      req.on('response', resolve)
      req.end(body)
    })
  }

  async function send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<HubResponse> {
    const res = await open(
      method,
      path,
      headers,
      body === undefined ? undefined : JSON.stringify(body),
      timeoutMs,
    )
    const chunks: Buffer[] = []
    try {
      for await (const chunk of res) chunks.push(chunk as Buffer)
    } catch (err) {
      throw transportError(err as NodeJS.ErrnoException, endpoint)
    }
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      body: parseBody(Buffer.concat(chunks).toString('utf8')),
    }
  }

  /** Sends and fails on anything but 2xx. */
  async function call(
    what: string,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    timeoutMs?: number,
  ): Promise<unknown> {
    const res = await send(method, path, body, headers, timeoutMs)
    if (res.status < 200 || res.status > 299) throw failure(res, what)
    return res.body
  }

  return {
    endpoint,
    hostName,

    async createDevice(t, opts = {}) {
      const what = `add ${describeTarget(t)}`
      const body = {
        deviceId: t.deviceId,
        ...(t.moduleId !== undefined && { moduleId: t.moduleId }),
        ...(t.moduleId === undefined && { status: opts.status ?? 'enabled' }),
        authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
      }
      return expectDevice(await call(what, 'PUT', identityPath('devices', t), body), what)
    },

    async getDevice(t) {
      const what = `show ${describeTarget(t)}`
      return expectDevice(await call(what, 'GET', identityPath('devices', t)), what)
    },

    async listDevices(deviceId) {
      const what = deviceId === undefined ? 'list devices' : `list the modules of device ${deviceId}`
      // The SDK lists with a trailing slash; modules have none.
      const path = deviceId === undefined ? '/devices/' : `${identityPath('devices', { deviceId })}/modules`
      const body = await call(what, 'GET', path)
      if (!Array.isArray(body) || !body.every((d) => isObject(d) && typeof d.deviceId === 'string'))
        throw hubError('ERR_HUB_BAD_RESPONSE', `${what}: the hub's answer is not a list of devices.`)
      return body as HubDevice[]
    },

    async deleteDevice(t) {
      await call(`remove ${describeTarget(t)}`, 'DELETE', identityPath('devices', t), undefined, {
        'If-Match': '"*"',
      })
    },

    async getTwin(t) {
      const what = `get the twin of ${describeTarget(t)}`
      const body = await call(what, 'GET', identityPath('twins', t))
      if (!isObject(body)) throw hubError('ERR_HUB_BAD_RESPONSE', `${what}: the hub's answer is not a twin.`)
      return body
    },

    async updateTwin(t, patch) {
      const what = `update the twin of ${describeTarget(t)}`
      const body = {
        ...(patch.tags !== undefined && { tags: patch.tags }),
        ...(patch.desired !== undefined && { properties: { desired: patch.desired } }),
      }
      const twin = await call(what, 'PATCH', identityPath('twins', t), body, { 'If-Match': '"*"' })
      if (!isObject(twin)) throw hubError('ERR_HUB_BAD_RESPONSE', `${what}: the hub's answer is not a twin.`)
      return twin
    },

    async invokeMethod(t, methodName, payload, opts = {}) {
      const what = `call ${methodName} on ${describeTarget(t)}`
      const responseTimeoutInSeconds = opts.timeoutSeconds ?? 30
      const connectTimeoutInSeconds = opts.connectTimeoutSeconds ?? 0
      const body = await call(
        what,
        'POST',
        `${identityPath('twins', t)}/methods`,
        { methodName, payload: payload ?? null, responseTimeoutInSeconds, connectTimeoutInSeconds },
        {},
        (responseTimeoutInSeconds + connectTimeoutInSeconds + 15) * 1000,
      )
      if (!isObject(body) || typeof body.status !== 'number')
        throw hubError('ERR_HUB_BAD_RESPONSE', `${what}: the hub's answer has no status.`)
      return { status: body.status, payload: body.payload ?? null }
    },

    async sendC2d(deviceId, message) {
      const what = `send to device ${deviceId}`
      const body = await call(
        what,
        'POST',
        `/_emulator/devices/${encodeURIComponent(deviceId)}/messages`,
        message,
      )
      if (!isObject(body) || typeof body.messageId !== 'string')
        throw hubError('ERR_HUB_BAD_RESPONSE', `${what}: the hub's answer has no messageId.`)
      return { messageId: body.messageId, state: typeof body.state === 'string' ? body.state : 'queued' }
    },

    async *events(opts = {}) {
      const query = opts.deviceId === undefined ? '' : `?deviceId=${encodeURIComponent(opts.deviceId)}`
      // No timeout: the stream is idle for as long as the hub is.
      const res = await open(
        'GET',
        `/_emulator/events${query}`,
        { Accept: 'text/event-stream' },
        undefined,
        0,
      )
      if ((res.statusCode ?? 0) !== 200) {
        const chunks: Buffer[] = []
        for await (const chunk of res) chunks.push(chunk as Buffer)
        throw failure(
          {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: parseBody(Buffer.concat(chunks).toString('utf8')),
          },
          'watch events',
        )
      }
      const stop = (): void => {
        res.destroy()
      }
      opts.signal?.addEventListener('abort', stop, { once: true })
      if (opts.signal?.aborted === true) stop()
      opts.onOpen?.()
      try {
        yield* parseEventStream(res)
      } catch (err) {
        if (opts.signal?.aborted !== true) throw transportError(err as NodeJS.ErrnoException, endpoint)
      } finally {
        opts.signal?.removeEventListener('abort', stop)
        res.destroy()
      }
    },

    request: (method, path, body, headers) => send(method, path, body, headers),
  }
}

/**
 * The events of a server-sent event stream: each block's `data:` lines, joined, parsed as JSON.
 * Comments (`: ping`) and blocks that are not a JSON event are skipped.
 */
async function* parseEventStream(stream: AsyncIterable<Buffer | string>): AsyncGenerator<HubEvent> {
  let buffer = ''
  for await (const chunk of stream) {
    buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    let end = buffer.search(/\r?\n\r?\n/)
    while (end !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '')
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n')
      if (data !== '') {
        let event: unknown
        try {
          event = JSON.parse(data)
        } catch {
          event = undefined
        }
        if (isObject(event) && typeof event.event === 'string') yield event as HubEvent
      }
      end = buffer.search(/\r?\n\r?\n/)
    }
  }
}
