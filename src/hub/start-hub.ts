/**
 * `startHub()`: a local IoT Hub + DPS in this process. MQTT over TLS (DPS on the same
 * listener), HTTPS with MQTT and AMQP over WebSocket at `/$iothub/websocket` and the operator
 * REST API, AMQP over TLS, and plain AMQP on the loopback address (the SDKs'
 * `UseDevelopmentEmulator=true`). In memory and on free loopback ports unless told otherwise.
 *
 * This file is the wiring: state, service, broker, listeners (`net/`), the public handle
 * (`hub-handle.ts`); `ready.ts` builds the `ready` event.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { assertHostName, assertIdScope } from '../identity.js'
import { decodeKey, hmacKeysEquivalent } from '../keys.js'
import { DEFAULT_CLOCK_SKEW_SECONDS } from '../sas-token.js'
import { checkEventStreamOptions } from './event-sinks.js'
import type { EventStreamOptions } from './event-sinks.js'
import { HubEvents } from './events.js'
import type { HubEvent } from './events.js'
import { developmentNamespace } from './event-hub-endpoint.js'
import { createHubHandle } from './hub-handle.js'
import type { Hub } from './hub-handle.js'
import { createAmqpServer } from './amqp/server.js'
import { createBroker } from './mqtt/broker.js'
import { AMQP_PLAIN_HOST, createAmqpListener, createAmqpPlainListener } from './net/amqp-listener.js'
import { bindListeners, closeServer } from './net/bind-listeners.js'
import type { ListenerToBind } from './net/bind-listeners.js'
import { TlsHandshakeGuard } from './net/guard-listener.js'
import { createHttpsListener } from './net/https-listener.js'
import { certificateNameOf, isLoopbackHost } from './net/loopback.js'
import { createMqttListener } from './net/mqtt-listener.js'
import { WarningThrottle } from './net/warning-throttle.js'
import { publishReady } from './ready.js'
import { createRestApi } from './rest/rest-api.js'
import { HubService } from './service.js'
import { CaRegistry, defaultCaName, parseCaCertificate } from './state/ca-registry.js'
import type { C2dQueueOptions } from './state/c2d-queue.js'
import { checkTier } from './state/throttle.js'
import type { HubTier } from './state/throttle.js'
import { D2cLog } from './state/d2c-log.js'
import type { D2cRetention } from './state/d2c-log.js'
import { DEFAULT_ID_SCOPE, useDpsPolicies } from './state/dps.js'
import { idTable } from './state/id-table.js'
import { Jobs } from './state/jobs.js'
import { MethodCalls } from './state/methods.js'
import { DEVELOPMENT_OWNER_KEY, defaultPolicies, useOwnerKey } from './state/registry.js'
import { StateStore } from './state/state-store.js'
import type { HubState } from './state/state-store.js'
import { loadTlsMaterial } from './tls/tls-material.js'

export type { AddIdentityOptions, Hub } from './hub-handle.js'

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
  /** The AMQP over TLS port (IoT Hub's is 5671); 0 (default) picks a free one, `false` opens none. */
  amqpPort?: number | false
  /**
   * The plain (unencrypted) AMQP port, for `UseDevelopmentEmulator=true` (the Event Hubs SDKs dial
   * 5672): bound on the bind address when it is loopback, else on 127.0.0.1, never beyond this
   * machine. 0 (default) picks a free one, `false` opens none.
   */
  amqpPlainPort?: number | false
  /**
   * Listeners whose port is a default that may fail to bind (the CLI's 8883, 443 and 5671): each
   * that cannot is off (its port reads 0), with one `warning` event saying which port, why and
   * what to do; the others are errors. Neither MQTT nor HTTPS bound is an error either way.
   */
  optionalListeners?: Array<'mqtt' | 'https' | 'amqp' | 'amqpPlain'>
  /**
   * Called with every event from the first one on, so the warnings published while the hub
   * starts (a default port that stays off) and `ready` reach it too.
   */
  onEvent?: (event: HubEvent) => void
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
  /**
   * Partitions of the device-to-cloud log (the Event Hub-compatible endpoint), 1 to 128;
   * default 4. A device's messages always go to one; a state directory keeps its count.
   */
  partitions?: number
  /** Consumer groups of the Event Hub-compatible endpoint besides `$Default`. */
  consumerGroups?: string[]
  /**
   * How long the device-to-cloud log keeps messages, per partition: at most `maxMessages`
   * (default 10 000), `maxBytes` (default 64 MiB) and `maxAgeSeconds` (default 86 400, 1 day).
   */
  retention?: D2cRetention
  /** A connection with more than this many bytes waiting unsent is closed; default 4 MiB. */
  maxOutboundBytes?: number
  /**
   * Bounds of each `GET /_emulator/events` subscriber: events beyond `bufferBytes` waiting are
   * dropped and counted (a `warning` tells it), and one behind for `stallSeconds` is disconnected.
   */
  eventStream?: EventStreamOptions
  /**
   * Throttle as IoT Hub's tier `name` with `units` (default 1) throttles: its documented
   * per-unit rates (device-to-cloud sends, C2D, twin reads and updates, direct methods,
   * registry, queries, jobs, new connections) and its daily message quota, answered with IoT
   * Hub's errors. Default: no tier, nothing throttled.
   */
  tier?: HubTier
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

/**
 * Opens (or makes) the state, with the owner key given (kept in it), and refuses a bind beyond
 * loopback with the development key.
 *
 * @throws {SasTokenError} `ERR_HUB_STATE_CORRUPT`, `ERR_HUB_STATE_IO`, `ERR_HUB_INSECURE_BIND`.
 */
async function openState(
  o: StartHubOptions,
  events: HubEvents,
  host: string,
): Promise<{ store: StateStore; ownerKey: string; dpsOwnerKey: string; dir: string | undefined }> {
  const dir = o.inMemory ? undefined : o.stateDir
  const onStoreError = (err: unknown): void => {
    events.publish({ event: 'warning', message: `Could not write the state: ${(err as Error).message}` })
  }
  const { store } = await StateStore.open(
    dir,
    () => freshState(o.ownerKey ?? DEVELOPMENT_OWNER_KEY),
    onStoreError,
  )
  const ownerKey = useOwnerKey(store, o.ownerKey) ?? DEVELOPMENT_OWNER_KEY
  const dpsOwnerKey = useDpsPolicies(store).primaryKey
  if (!isLoopbackHost(host) && hmacKeysEquivalent(ownerKey, DEVELOPMENT_OWNER_KEY, ['ownerKey', 'key'])) {
    throw new SasTokenError(
      'ERR_HUB_INSECURE_BIND',
      `Listening on ${host} (beyond loopback) with the documented development owner key would let anyone on the network control the hub: give your own key (--owner-key or SAS_TOKEN_HUB_OWNER_KEY; make one with \`openssl rand -base64 32\` or any 32 random bytes, base64).`,
    )
  }
  return { store, ownerKey, dpsOwnerKey, dir }
}

/** A hub started but not yet announced (no `ready` event): what {@link launchHub} gives. */
export interface LaunchedHub {
  /** The public handle. */
  hub: Hub
  /** The bind address. */
  host: string
  /** The state directory, or `undefined` in memory. */
  stateDir: string | undefined
  /** The connection string of each device created at start. */
  devices: Record<string, string>
  /** The tier the hub throttles as, or `undefined`. */
  tier: Required<HubTier> | undefined
}

/**
 * Starts a hub without publishing `ready` (its caller does, with what it adds: the console).
 *
 * @throws {SasTokenError} as {@link startHub}.
 * @internal
 */
export async function launchHub(o: StartHubOptions = {}): Promise<LaunchedHub> {
  const now = o.now ?? Date.now
  const hostName = assertHostName(o.hostName ?? 'localhost', 'hostName')
  const idScope = assertIdScope(o.idScope ?? DEFAULT_ID_SCOPE)
  const host = o.host ?? '127.0.0.1'
  if (o.ownerKey !== undefined) decodeKey(o.ownerKey, 'ownerKey')
  const tier = o.tier === undefined ? undefined : checkTier(o.tier)
  const events = new HubEvents(now)
  if (o.onEvent !== undefined) events.on('event', o.onEvent)
  const { store, ownerKey, dpsOwnerKey, dir } = await openState(o, events, host)
  const d2c = await D2cLog.open(
    dir,
    {
      ...(o.partitions === undefined ? {} : { partitions: o.partitions }),
      ...(o.consumerGroups === undefined ? {} : { consumerGroups: o.consumerGroups }),
      ...(o.retention === undefined ? {} : { retention: o.retention }),
    },
    now,
    (message) => events.publish({ event: 'warning', message }),
  )
  const names = [...new Set(['localhost', '127.0.0.1', '::1', hostName, ...certificateNameOf(host)])]
  const tls = await loadTlsMaterial(dir, names, now())
  const service = new HubService({
    store,
    events,
    hostName,
    idScope,
    now,
    clockSkewSeconds: o.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    d2c,
    ...(o.c2d === undefined ? {} : { c2d: o.c2d }),
    tier,
  })
  const certificates = new CaRegistry(store, now)
  const startCas = (o.x509Ca ?? []).map((pem, i) => ({ pem, cert: parseCaCertificate(pem, `x509Ca[${i}]`) }))
  for (const { pem, cert } of startCas) certificates.put(defaultCaName(cert), pem, { isVerified: true })
  const methods = new MethodCalls(service)
  const { broker, handle } = await createBroker(
    service,
    methods,
    o.maxOutboundBytes === undefined ? {} : { maxOutboundBytes: o.maxOutboundBytes },
  )
  const closeBroker = (): Promise<void> => new Promise<void>((resolve) => broker.close(() => resolve()))
  const amqpServer = createAmqpServer(service, methods)

  const warnings = new WarningThrottle(events)
  const handshakes = new TlsHandshakeGuard({
    events,
    trust: tls.caPath === undefined ? "the hub's CA (hub.ca)" : `the hub's CA, ${tls.caPath}`,
    ...(o.tlsHandshakeTimeoutMs === undefined ? {} : { timeoutMs: o.tlsHandshakeTimeoutMs }),
    ...(o.maxTlsHandshakes === undefined ? {} : { maxPending: o.maxTlsHandshakes }),
  })
  // an outage on purpose (faults.ts) pauses every device listener
  const paused = (): boolean => service.faults.inOutage()
  const mqtt = createMqttListener({ tls, certificates, handshakes, handle, paused })
  const jobs = new Jobs(service, methods)
  const api = createRestApi(service, methods, {
    jobs,
    certificates,
    eventStream: checkEventStreamOptions(o.eventStream ?? {}),
  })
  const https = createHttpsListener({
    tls,
    handshakes,
    api,
    handle,
    handleAmqp: (stream) => amqpServer.handle(stream, 'amqp-ws'),
    warnings,
    paused,
  })
  const amqp =
    o.amqpPort === false
      ? undefined
      : createAmqpListener({ tls, handshakes, handle: (socket) => amqpServer.handle(socket, 'amqp'), paused })
  const amqpPlain =
    o.amqpPlainPort === false
      ? undefined
      : createAmqpPlainListener({ handle: (socket) => amqpServer.handle(socket, 'amqp'), paused })

  const optional = new Set(o.optionalListeners ?? [])
  const amqpPlainHost = isLoopbackHost(host) ? host : AMQP_PLAIN_HOST
  const toBind: ListenerToBind[] = [
    { name: 'mqtt', server: mqtt, port: o.mqttPort ?? 0, optional: optional.has('mqtt') },
    { name: 'https', server: https.server, port: o.httpsPort ?? 0, optional: optional.has('https') },
  ]
  if (amqp !== undefined)
    toBind.push({ name: 'amqp', server: amqp, port: o.amqpPort || 0, optional: optional.has('amqp') })
  if (amqpPlain !== undefined)
    toBind.push({
      name: 'amqpPlain',
      server: amqpPlain,
      port: o.amqpPlainPort || 0,
      optional: optional.has('amqpPlain'),
      host: amqpPlainHost,
    })
  let ports: Hub['ports']
  try {
    ports = await bindListeners(toBind, host, events)
  } catch (err) {
    warnings.close()
    handshakes.close()
    await Promise.all([closeBroker(), d2c.close()])
    throw err
  }
  for (const p of [ports.mqtt, ports.https, ports.amqp, ports.amqpPlain]) if (p !== 0) service.ports.add(p)
  if (ports.amqpPlain !== 0)
    service.hostAliases.add(`${developmentNamespace(amqpPlainHost)}:${ports.amqpPlain}`.toLowerCase())

  const hub = createHubHandle({
    service,
    methods,
    ownerKey,
    dpsOwnerKey,
    ca: { cert: tls.ca.cert, ...(tls.caPath === undefined ? {} : { path: tls.caPath }) },
    ports,
    amqpPlainHost,
    async closeListeners() {
      jobs.close()
      handshakes.close()
      warnings.close()
      amqpServer.close()
      https.terminateWebSockets()
      await Promise.all([
        closeServer(mqtt),
        closeServer(https.server),
        ...(amqp === undefined ? [] : [closeServer(amqp)]),
        ...(amqpPlain === undefined ? [] : [closeServer(amqpPlain)]),
        closeBroker(),
      ])
      https.server.closeAllConnections()
    },
  })
  // the devices asked for at start, created once (an existing one keeps its keys)
  const devices: Record<string, string> = {}
  try {
    for (const id of o.devices ?? []) devices[id] = (await hub.addDevice(id)).connectionString
  } catch (err) {
    await hub.close()
    throw err
  }
  return { hub, host, stateDir: dir, devices, tier }
}

/**
 * Starts a hub. A port given is bound or is an error; one left out is a free one. For IoT Hub's
 * own ports with a fallback, and the console, see {@link startHubWithConsole}.
 *
 * @example
 * ```ts
 * const hub = await startHub({ devices: ['dev1'] })
 * const { connectionString } = await hub.addDevice('dev2')
 * for await (const e of hub.events) if (e.event === 'telemetry') break
 * await hub.close()
 * ```
 * @throws {SasTokenError} `ERR_HUB_INSECURE_BIND` (beyond loopback with the development key),
 *   `ERR_INVALID_OPTION` (the TLS handshake timeout or cap, an `eventStream` bound, a `tier`
 *   that is not F1, S1, S2 or S3 or units it cannot have), `ERR_INVALID_KEY`,
 *   `ERR_INVALID_HOST_NAME`, `ERR_HUB_STATE_CORRUPT`, `ERR_HUB_STATE_IO`, `ERR_HUB_PORT_UNAVAILABLE`
 *   (a port given that cannot be bound, or neither MQTT nor HTTPS bound),
 *   `ERR_HUB_BAD_REQUEST` (an `x509Ca` entry that is not a CA certificate).
 */
export async function startHub(o: StartHubOptions = {}): Promise<Hub> {
  const launched = await launchHub(o)
  publishReady(launched)
  return launched.hub
}
