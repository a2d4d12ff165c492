/**
 * `startHub()`: a local IoT Hub + DPS in this process. MQTT over TLS (DPS on the same
 * listener), and HTTPS with MQTT over WebSocket at `/$iothub/websocket` and the operator REST
 * API. In memory and on free loopback ports unless told otherwise.
 *
 * @module
 */
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import type { Server as TlsServer } from 'node:tls'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { formatConnectionString } from '../connection-string.js'
import { SasTokenError } from '../errors.js'
import { assertHostName, assertIdScope } from '../identity.js'
import { decodeKey, hmacKeysEquivalent } from '../keys.js'
import { DEFAULT_CLOCK_SKEW_SECONDS } from '../sas-token.js'
import { createBroker } from './mqtt/broker.js'
import { CaRegistry, defaultCaName, parseCaCertificate } from './state/ca-registry.js'
import { sendC2d, sendModuleInput } from './state/c2d.js'
import type { C2dInput } from './state/c2d.js'
import type { C2dQueueOptions } from './state/c2d-queue.js'
import { DEFAULT_ID_SCOPE, putEnrollment, putGroup } from './state/dps.js'
import { checkEventStreamOptions } from './event-sinks.js'
import type { EventStreamOptions } from './event-sinks.js'
import { HubEvents } from './events.js'
import type { HubEvent } from './events.js'
import { MethodCalls } from './state/methods.js'
import { DEVELOPMENT_OWNER_KEY, defaultPolicies } from './state/registry.js'
import type { IdentityInput } from './state/registry.js'
import { certificateNameOf, isLoopbackHost } from './net/loopback.js'
import { createRestApi } from './rest/rest-api.js'
import { HubService } from './service.js'
import { idTable } from './state/id-table.js'
import { StateStore } from './state/state-store.js'
import type { HubState } from './state/state-store.js'
import { loadTlsMaterial } from './tls/tls-material.js'
import { TlsHandshakeGuard, guardConnections, guardUpgrades, httpTimeouts } from './net/guard-listener.js'
import type { JsonObject } from './state/twin.js'

/** Options of {@link startHub}. */
export interface StartHubOptions {
  /** Where state (registry, twins, queued C2D, sessions, CA) is kept; default: in memory. */
  stateDir?: string
  /** Keep nothing, even when `stateDir` is given. */
  inMemory?: boolean
  /** MQTT over TLS port; 0 (default) picks a free one. */
  mqttPort?: number
  /** HTTPS (REST API, MQTT over WebSocket) port; 0 (default) picks a free one. */
  httpsPort?: number
  /**
   * Listeners that may fail to bind (the CLI's default 8883 and 443): a `warning` event is
   * emitted, the port reads 0, and the hub goes on without it.
   */
  optionalListeners?: Array<'mqtt' | 'https'>
  /** The host name devices use in `HostName=`; default `localhost`. */
  hostName?: string
  /** The bind address; default `127.0.0.1`. Beyond loopback, `ownerKey` must be your own. */
  host?: string
  /** Devices to create at start (when missing). */
  devices?: string[]
  /** The `iothubowner` key; default the documented development key. */
  ownerKey?: string
  /** The DPS ID scope; default `0ne00000000`. */
  idScope?: string
  /** Clock skew allowed on tokens, seconds; default 300. */
  clockSkewSeconds?: number
  /** The clock, epoch ms; default `Date.now`. */
  now?: () => number
  /** How long a TLS connection may take to finish its handshake, ms; default 20000. */
  tlsHandshakeTimeoutMs?: number
  /** How many connections may be in TLS handshake at once; over it, new ones are closed; default 256. */
  maxTlsHandshakes?: number
  /**
   * X.509 CA certificates (PEM, one each) to register, verified, at start: devices and modules
   * with `certificateAuthority` authentication connect with a chain to one of them and CN =
   * their id. Each is named after its CN (or `ca-{thumbprint}`); one of that name is replaced.
   */
  x509Ca?: string[]
  /** C2D lifecycle settings (IoT Hub's defaults: lock 1 minute, max delivery count 10, TTL 1 hour). */
  c2d?: C2dQueueOptions
  /** A connection with more than this many bytes waiting unsent is closed; default 4 MiB. */
  maxOutboundBytes?: number
  /**
   * Bounds of each `GET /_emulator/events` subscriber: events beyond `bufferBytes` waiting are
   * dropped and counted (a `warning` tells it), and one behind for `stallSeconds` is disconnected.
   */
  eventStream?: EventStreamOptions
}

/** Options of {@link Hub.addDevice} and {@link Hub.addModule}. */
export interface AddIdentityOptions {
  /** The primary symmetric key (base64); absent or empty: one is generated. */
  primaryKey?: string
  /** The secondary symmetric key (base64); absent or empty: one is generated. */
  secondaryKey?: string
  /** Whether the identity may connect; default `enabled` (disabling closes its connection). */
  status?: 'enabled' | 'disabled'
  /**
   * X.509 CA signed: no keys; the device connects with a certificate chained to a verified CA
   * registered with the hub (`x509Ca`) whose CN is its id (`{deviceId}/{moduleId}` for a module).
   */
  certificateAuthority?: boolean
  /** X.509 self-signed: the certificate thumbprints instead of keys. */
  x509Thumbprint?: {
    /** The primary certificate's thumbprint: SHA-1 (40 hex digits) or SHA-256 (64). */
    primaryThumbprint: string
    /** The secondary certificate's thumbprint, SHA-1 or SHA-256; default none. */
    secondaryThumbprint?: string
  }
}

/** A running hub. */
export interface Hub {
  /** `HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…` */
  hubConnectionString: string
  /** The local CA certificate (PEM): trust it in clients. */
  ca: string
  /** The CA certificate's path, when a state directory is used. */
  caPath?: string
  /** The host name in connection strings (`HostName=`). */
  hostName: string
  /** The DPS ID scope. */
  idScope: string
  /** The bound ports (0 for an optional listener that could not bind). */
  ports: {
    /** The MQTT over TLS port (devices and DPS). */
    mqtt: number
    /** The HTTPS port (REST API, MQTT over WebSocket). */
    https: number
  }
  /**
   * Creates (or returns) a device; its connection string uses the primary key. Given options
   * update an existing device.
   *
   * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST` (keys, thumbprints).
   */
  addDevice(
    id: string,
    o?: AddIdentityOptions,
  ): Promise<{
    /** The device's connection string (`x509=true` for an X.509 identity). */
    connectionString: string
    /** The primary key (SAS identities only). */
    primaryKey?: string
    /** The secondary key (SAS identities only). */
    secondaryKey?: string
  }>
  /**
   * Creates (or returns) a module of an existing device; its connection string uses the
   * primary key. Given options update an existing module.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND` (no such device), `ERR_INVALID_IDENTIFIER`,
   *   `ERR_HUB_BAD_REQUEST` (keys, thumbprints).
   */
  addModule(
    deviceId: string,
    moduleId: string,
    o?: AddIdentityOptions,
  ): Promise<{
    /** The module's connection string (`x509=true` for an X.509 identity). */
    connectionString: string
    /** The primary key (SAS identities only). */
    primaryKey?: string
    /** The secondary key (SAS identities only). */
    secondaryKey?: string
  }>
  /**
   * Queues a cloud-to-device message (a `Buffer` is sent as its bytes) and delivers it at once
   * if the device is connected and subscribed.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_QUEUE_FULL`.
   */
  sendC2d(
    deviceId: string,
    payload: string | Buffer,
    o?: Omit<C2dInput, 'payload' | 'payloadEncoding'>,
  ): Promise<{
    /** The message id (given, or a random UUID). */
    messageId: string
    /** `delivered` when the device received it now, else `queued`. */
    state: 'queued' | 'delivered'
  }>
  /**
   * Sends a message to a connected module's input (what IoT Edge routing does).
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_DEVICE_NOT_ONLINE`.
   */
  sendToModuleInput(
    deviceId: string,
    moduleId: string,
    inputName: string,
    payload: string | Buffer,
    o?: Omit<C2dInput, 'payload' | 'payloadEncoding'>,
  ): Promise<{
    /** The message id (given, or a random UUID). */
    messageId: string
    /** Always `delivered`: module inputs are not queued. */
    state: 'delivered'
  }>
  /**
   * Invokes a direct method on a connected device (or module) and waits for its answer;
   * `timeoutSeconds` is 5 to 300, default 30.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST` (name, timeout, payload over
   *   128 KB), `ERR_HUB_DEVICE_NOT_ONLINE`, `ERR_HUB_METHOD_TIMEOUT`, `ERR_HUB_CLOSED`.
   */
  invokeMethod(
    deviceId: string,
    methodName: string,
    payload?: unknown,
    o?: { moduleId?: string; timeoutSeconds?: number },
  ): Promise<{
    /** The status code the device answered with. */
    status: number
    /** The device's answer: parsed JSON, else the text (`null` when empty). */
    payload: unknown
  }>
  /**
   * Merges a patch into the twin's desired properties (sent to a subscribed device); returns
   * the twin.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`.
   */
  updateDesired(deviceId: string, patch: JsonObject, o?: { moduleId?: string }): Promise<JsonObject>
  /**
   * Merges a patch into the twin's tags; returns the twin.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`.
   */
  updateTags(deviceId: string, patch: JsonObject, o?: { moduleId?: string }): Promise<JsonObject>
  /**
   * The twin of a device (or module), as IoT Hub's service JSON.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  getTwin(deviceId: string, o?: { moduleId?: string }): Promise<JsonObject>
  /**
   * A DPS individual enrollment (empty keys are generated); returns its keys.
   *
   * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_NOT_FOUND`.
   */
  addEnrollment(
    registrationId: string,
    o?: {
      /** The primary key (base64); absent or empty: one is generated. */
      primaryKey?: string
      /** The secondary key (base64); absent or empty: one is generated. */
      secondaryKey?: string
      /** The device id a registration gets; default the registration id. */
      deviceId?: string
    },
  ): Promise<{
    /** The enrollment's primary key. */
    primaryKey: string
    /** The enrollment's secondary key. */
    secondaryKey: string
  }>
  /**
   * A DPS enrollment group (empty keys are generated); returns its keys.
   *
   * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_NOT_FOUND`.
   */
  addEnrollmentGroup(
    groupId: string,
    o?: {
      /** The group's primary key (base64); absent or empty: one is generated. */
      primaryKey?: string
      /** The group's secondary key (base64); absent or empty: one is generated. */
      secondaryKey?: string
    },
  ): Promise<{
    /** The group's primary key. */
    primaryKey: string
    /** The group's secondary key. */
    secondaryKey: string
  }>
  /** Every event; also async-iterable from now on. */
  events: HubEvents & AsyncIterable<HubEvent>
  /** Writes pending state now. */
  flush(): Promise<void>
  /** Closes every connection and listener and writes the state. */
  close(): Promise<void>
}

function freshState(ownerKey: string): HubState {
  return {
    format: 'sas-token-hub-state',
    version: 1,
    policies: defaultPolicies(ownerKey),
    devices: idTable(),
    sessions: idTable(),
    dps: { enrollments: idTable(), groups: idTable(), registrations: idTable() },
  }
}

async function listen(
  server: TlsServer | HttpsServer,
  port: number,
  host: string,
  name: string,
  optional: boolean,
  events: HubEvents,
): Promise<number> {
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      server.once('error', onError)
      server.listen(port, host, () => {
        server.off('error', onError)
        resolve()
      })
    })
  } catch (cause) {
    const message = `The ${name} listener cannot bind ${host}:${port} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`
    if (optional) {
      events.publish({
        event: 'warning',
        listener: name,
        port,
        message: `${message}; going on without it (choose one with --${name}-port).`,
      })
      return 0
    }
    throw Object.assign(
      new SasTokenError(
        'ERR_HUB_PORT_UNAVAILABLE',
        `${message}: choose another with --${name}-port (0 picks a free one).`,
        { cause },
      ),
      { port },
    )
  }
  return (server.address() as AddressInfo).port
}

function closeServer(server: TlsServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
  })
}

/**
 * Starts a hub.
 *
 * @example
 * ```ts
 * const hub = await startHub({ devices: ['dev1'] })
 * const { connectionString } = await hub.addDevice('dev2')
 * for await (const e of hub.events) if (e.event === 'telemetry') break
 * await hub.close()
 * ```
 * @throws {SasTokenError} `ERR_HUB_INSECURE_BIND` (beyond loopback with the development key),
 *   `ERR_INVALID_OPTION` (the TLS handshake timeout or cap, an `eventStream` bound), `ERR_INVALID_KEY`,
 *   `ERR_INVALID_HOST_NAME`, `ERR_HUB_STATE_CORRUPT`, `ERR_HUB_STATE_IO`, `ERR_HUB_PORT_UNAVAILABLE`,
 *   `ERR_HUB_BAD_REQUEST` (an `x509Ca` entry that is not a CA certificate).
 */
export async function startHub(o: StartHubOptions = {}): Promise<Hub> {
  const now = o.now ?? Date.now
  const hostName = assertHostName(o.hostName ?? 'localhost', 'hostName')
  const idScope = assertIdScope(o.idScope ?? DEFAULT_ID_SCOPE)
  const host = o.host ?? '127.0.0.1'
  if (o.ownerKey !== undefined) decodeKey(o.ownerKey, 'ownerKey')
  const events = new HubEvents(now)
  const dir = o.inMemory ? undefined : o.stateDir
  const onStoreError = (err: unknown): void => {
    events.publish({ event: 'warning', message: `Could not write the state: ${(err as Error).message}` })
  }
  const { store } = await StateStore.open(
    dir,
    () => freshState(o.ownerKey ?? DEVELOPMENT_OWNER_KEY),
    onStoreError,
  )
  const owner = store.state.policies.find((p) => p.keyName === 'iothubowner')
  if (owner && o.ownerKey !== undefined && owner.primaryKey !== o.ownerKey) {
    owner.primaryKey = o.ownerKey
    store.changed()
  }
  const ownerKey = owner?.primaryKey ?? DEVELOPMENT_OWNER_KEY
  if (!isLoopbackHost(host) && hmacKeysEquivalent(ownerKey, DEVELOPMENT_OWNER_KEY, ['ownerKey', 'key'])) {
    throw new SasTokenError(
      'ERR_HUB_INSECURE_BIND',
      `Listening on ${host} (beyond loopback) with the documented development owner key would let anyone on the network control the hub: give your own key (--owner-key or SAS_TOKEN_HUB_OWNER_KEY; make one with \`openssl rand -base64 32\` or any 32 random bytes, base64).`,
    )
  }
  const names = [...new Set(['localhost', '127.0.0.1', '::1', hostName, ...certificateNameOf(host)])]
  const tls = await loadTlsMaterial(dir, names, now())
  const hub = new HubService({
    store,
    events,
    hostName,
    idScope,
    now,
    clockSkewSeconds: o.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    ...(o.c2d === undefined ? {} : { c2d: o.c2d }),
  })
  const certificates = new CaRegistry(store, now)
  const startCas = (o.x509Ca ?? []).map((pem, i) => ({ pem, cert: parseCaCertificate(pem, `x509Ca[${i}]`) }))
  for (const { pem, cert } of startCas) certificates.put(defaultCaName(cert), pem, { isVerified: true })
  const methods = new MethodCalls(hub)
  const { broker, handle } = await createBroker(
    hub,
    methods,
    o.maxOutboundBytes === undefined ? {} : { maxOutboundBytes: o.maxOutboundBytes },
  )

  const handshakes = new TlsHandshakeGuard({
    events,
    ...(o.tlsHandshakeTimeoutMs === undefined ? {} : { timeoutMs: o.tlsHandshakeTimeoutMs }),
    ...(o.maxTlsHandshakes === undefined ? {} : { maxPending: o.maxTlsHandshakes }),
  })
  // The verified CAs are the TLS listener's client CAs, so OpenSSL verifies each chain (an
  // unverified one still connects: the CONNECT is refused with the reason).
  const mqttContext = () => ({
    cert: tls.server.cert,
    key: tls.server.key,
    ca: certificates.verifiedPems(),
    allowPartialTrustChain: true,
  })
  const mqttServer = createTlsServer(
    { ...handshakes.serverOptions, ...mqttContext(), requestCert: true, rejectUnauthorized: false },
    guardConnections((socket) => handle(socket)),
  )
  handshakes.watch(mqttServer)
  certificates.onChange(() => mqttServer.setSecureContext(mqttContext()))

  const api = createRestApi(hub, methods, {
    certificates,
    eventStream: checkEventStreamOptions(o.eventStream ?? {}),
  })
  const httpsServer = createHttpsServer(
    { ...handshakes.serverOptions, ...httpTimeouts(), cert: tls.server.cert, key: tls.server.key },
    api,
  )
  handshakes.watch(httpsServer)
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 512 * 1024,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
  })
  httpsServer.on(
    'upgrade',
    guardUpgrades((req, socket, head, url) => {
      const path = url.pathname
      const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim())
      if (path !== '/$iothub/websocket' || !protocols.includes('mqtt')) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws)
        stream.on('error', () => undefined)
        handle(stream, req)
      })
    }),
  )

  const optional = new Set(o.optionalListeners ?? [])
  let mqttPort: number
  let httpsPort: number
  try {
    mqttPort = await listen(mqttServer, o.mqttPort ?? 0, host, 'mqtt', optional.has('mqtt'), events)
    httpsPort = await listen(httpsServer, o.httpsPort ?? 0, host, 'https', optional.has('https'), events)
  } catch (err) {
    await Promise.all([closeServer(mqttServer), closeServer(httpsServer)])
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    throw err
  }

  for (const p of [mqttPort, httpsPort]) if (p !== 0) hub.ports.add(p)

  const connectionString = (
    deviceId: string,
    moduleId: string | undefined,
  ): { connectionString: string; primaryKey?: string; secondaryKey?: string } => {
    const identity = hub.requireIdentity(deviceId, moduleId)
    const auth = identity.authentication
    const base =
      moduleId === undefined
        ? ({ kind: 'device', hostName, deviceId } as const)
        : ({ kind: 'module', hostName, deviceId, moduleId } as const)
    if (auth.type !== 'sas') return { connectionString: formatConnectionString({ ...base, x509: true }) }
    return {
      connectionString: formatConnectionString({ ...base, sharedAccessKey: auth.symmetricKey.primaryKey }),
      primaryKey: auth.symmetricKey.primaryKey,
      secondaryKey: auth.symmetricKey.secondaryKey,
    }
  }
  const identityInput = (x: AddIdentityOptions = {}): IdentityInput => ({
    ...(x.status === undefined ? {} : { status: x.status }),
    authentication: x.certificateAuthority
      ? { type: 'certificateAuthority' }
      : x.x509Thumbprint
        ? { type: 'selfSigned', x509Thumbprint: x.x509Thumbprint }
        : {
            type: 'sas',
            symmetricKey: { primaryKey: x.primaryKey ?? '', secondaryKey: x.secondaryKey ?? '' },
          },
  })

  for (const id of o.devices ?? []) {
    if (hub.entry(id) === undefined) hub.putDevice(id, identityInput())
  }

  let closed: Promise<void> | undefined
  const result: Hub = {
    hubConnectionString: formatConnectionString({
      kind: 'service',
      hostName,
      sharedAccessKeyName: 'iothubowner',
      sharedAccessKey: ownerKey,
    }),
    ca: tls.ca.cert,
    ...(tls.caPath === undefined ? {} : { caPath: tls.caPath }),
    hostName,
    idScope,
    ports: { mqtt: mqttPort, https: httpsPort },
    async addDevice(id, x) {
      if (hub.entry(id) === undefined) hub.putDevice(id, identityInput(x))
      else if (x !== undefined) hub.putDevice(id, identityInput(x), '*')
      const answer = connectionString(id, undefined)
      await store.committed()
      return answer
    },
    async addModule(deviceId, moduleId, x) {
      if (hub.identity(deviceId, moduleId) === undefined) hub.putModule(deviceId, moduleId, identityInput(x))
      else if (x !== undefined) hub.putModule(deviceId, moduleId, identityInput(x), '*')
      const answer = connectionString(deviceId, moduleId)
      await store.committed()
      return answer
    },
    async sendC2d(deviceId, payload, x = {}) {
      const input: C2dInput =
        typeof payload === 'string'
          ? { ...x, payload }
          : { ...x, payload: payload.toString('base64'), payloadEncoding: 'base64' }
      const answer = sendC2d(hub, deviceId, input)
      await store.committed()
      return answer
    },
    async sendToModuleInput(deviceId, moduleId, inputName, payload, x = {}) {
      const input: C2dInput =
        typeof payload === 'string'
          ? { ...x, payload }
          : { ...x, payload: payload.toString('base64'), payloadEncoding: 'base64' }
      const answer = sendModuleInput(hub, deviceId, moduleId, inputName, input)
      await store.committed()
      return answer
    },
    async invokeMethod(deviceId, methodName, payload, x = {}) {
      return methods.invoke(deviceId, x.moduleId, {
        methodName,
        payload,
        ...(x.timeoutSeconds === undefined ? {} : { responseTimeoutInSeconds: x.timeoutSeconds }),
      })
    },
    async updateDesired(deviceId, patch, x = {}) {
      const answer = hub.updateTwin(deviceId, x.moduleId, { properties: { desired: patch } })
      await store.committed()
      return answer
    },
    async updateTags(deviceId, patch, x = {}) {
      const answer = hub.updateTwin(deviceId, x.moduleId, { tags: patch })
      await store.committed()
      return answer
    },
    async getTwin(deviceId, x = {}) {
      return hub.getTwin(deviceId, x.moduleId)
    },
    async addEnrollment(registrationId, x = {}) {
      putEnrollment(hub, registrationId, {
        primaryKey: x.primaryKey ?? '',
        secondaryKey: x.secondaryKey ?? '',
        ...(x.deviceId === undefined ? {} : { deviceId: x.deviceId }),
      })
      const e = hub.state.dps.enrollments[registrationId]
      if (e === undefined)
        throw new SasTokenError('ERR_HUB_NOT_FOUND', `Enrollment ${registrationId} was not stored.`)
      const answer = { primaryKey: e.primaryKey, secondaryKey: e.secondaryKey }
      await store.committed()
      return answer
    },
    async addEnrollmentGroup(groupId, x = {}) {
      putGroup(hub, groupId, { primaryKey: x.primaryKey ?? '', secondaryKey: x.secondaryKey ?? '' })
      const g = hub.state.dps.groups[groupId]
      if (g === undefined)
        throw new SasTokenError('ERR_HUB_NOT_FOUND', `Enrollment group ${groupId} was not stored.`)
      const answer = { primaryKey: g.primaryKey, secondaryKey: g.secondaryKey }
      await store.committed()
      return answer
    },
    events,
    flush: () => store.flush(),
    close() {
      closed ??= (async () => {
        methods.close()
        handshakes.close()
        for (const client of wss.clients) client.terminate()
        await Promise.all([
          closeServer(mqttServer),
          closeServer(httpsServer),
          new Promise<void>((resolve) => broker.close(() => resolve())),
        ])
        httpsServer.closeAllConnections()
        for (const session of hub.sessions.values()) clearTimeout(session.expiryTimer)
        hub.c2d.close()
        try {
          await store.flush()
        } finally {
          events.end()
        }
      })()
      return closed
    },
  }
  events.publish({
    event: 'ready',
    hubConnectionString: result.hubConnectionString,
    ...(tls.caPath === undefined ? {} : { caPath: tls.caPath }),
    hostName,
    idScope,
    host,
    ports: result.ports,
    stateDir: dir ?? null,
  })
  return result
}
