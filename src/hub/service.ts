/**
 * The hub's operations on its state, shared by the operator REST API, the `startHub()` handle
 * and the MQTT side: the registry (devices, modules), twins, and delivery to live sessions.
 * Every failure is a {@link SasTokenError} with an `ERR_HUB_*` code the REST API maps to IoT
 * Hub's status codes.
 *
 * @module
 */
import { SasTokenError, isSasTokenError } from '../errors.js'
import { assertDeviceId } from '../identity.js'
import { C2dQueue } from './state/c2d-queue.js'
import { HubFaults } from './state/faults.js'
import { HubThrottle } from './state/throttle.js'
import type { HubTier } from './state/throttle.js'
import type { C2dQueueOptions } from './state/c2d-queue.js'
import type { D2cLog } from './state/d2c-log.js'
import type { HubRefuseEvent } from './event-types.js'
import type { HubEvents } from './events.js'
import { redactDeep } from './redact.js'
import { checkIfMatch, identityJson, newIdentity, updatedIdentity } from './state/registry.js'
import type { DeviceEntry, Identity, IdentityInput, Policy } from './state/registry.js'
import type { AuthContext } from './auth/device-auth.js'
import type { Session } from './state/sessions.js'
import { idFields, isFilterKind } from './state/sessions.js'
import { idTable } from './state/id-table.js'
import type { StateStore } from './state/state-store.js'
import {
  MAX_PROPERTIES_BYTES,
  MAX_TAGS_BYTES,
  applyPatch,
  checkPatch,
  deviceTwinDocument,
  parsePatch,
  isJsonObject,
  plainJson,
} from './state/twin.js'
import type { JsonObject } from './state/twin.js'

/** A twin change: tags and desired properties, each a JSON object or absent (`null` too). */
export interface TwinPatch {
  /** The tags to merge (PATCH) or to set (PUT). */
  tags?: Record<string, unknown> | null | undefined
  /** The desired properties to merge (PATCH) or to set (PUT). */
  properties?: { desired?: Record<string, unknown> | null | undefined } | null | undefined
}

/** How a reported-properties patch ended: 204 with the new version, or a refusal IoT Hub's way. */
export type ReportedAnswer =
  | { status: 204; version: number }
  | { status: 400 | 403 | 404 | 429 | 500; errorCode: number; message: string }

/**
 * A tier's refusal (`ERR_HUB_THROTTLED`, `ERR_HUB_QUOTA_EXCEEDED`) as a twin answer's status and
 * IoT Hub's error code (MQTT's `$iothub/twin/res/429/…`); `undefined` for any other error.
 */
export function throttledAnswer(
  err: unknown,
): { status: 403 | 429; errorCode: number; message: string } | undefined {
  if (isSasTokenError(err, 'ERR_HUB_THROTTLED'))
    return { status: 429, errorCode: 429001, message: err.message }
  if (isSasTokenError(err, 'ERR_HUB_QUOTA_EXCEEDED'))
    return { status: 403, errorCode: 403002, message: err.message }
  return undefined
}

function idOf(id: { deviceId: string; moduleId?: string }): { deviceId: string; moduleId?: string } {
  return id.moduleId === undefined
    ? { deviceId: id.deviceId }
    : { deviceId: id.deviceId, moduleId: id.moduleId }
}

/** A refused CONNECT, as `GET /_emulator/refused` lists it: the `refuse` event without its name. */
export type RefusedConnect = Omit<HubRefuseEvent, 'event'>

/** How many refused CONNECTs `GET /_emulator/refused` keeps. */
export const MAX_REFUSED = 100

function notFound(what: string): SasTokenError {
  return new SasTokenError('ERR_HUB_NOT_FOUND', `${what} is not in the registry.`)
}

/** The hub's state and operations. */
export class HubService {
  readonly store: StateStore
  readonly events: HubEvents
  readonly hostName: string
  readonly idScope: string
  readonly now: () => number
  readonly clockSkewSeconds: number
  /** Live connections by MQTT client id. */
  readonly sessions = new Map<string, Session>()
  readonly refused: RefusedConnect[] = []
  /** Ports devices and operators may add to the host name (`localhost:8883`), set once listening. */
  readonly ports = new Set<number>()
  /**
   * Other `host:port` names of this hub, set once listening: the plain AMQP port's
   * (`localhost:5672`), which the development Event Hub-compatible connection string names
   * whatever the host name.
   */
  readonly hostAliases = new Set<string>()
  /** Every device's C2D queue. */
  readonly c2d: C2dQueue
  /** The device-to-cloud log (what the Event Hub-compatible endpoint reads). */
  readonly d2c: D2cLog
  /** Faults on purpose: pending ones, throttling windows, refused connects (faults.ts). */
  readonly faults: HubFaults
  /** Throttling as an IoT Hub tier throttles, when started with one (throttle.ts); else nothing is throttled. */
  readonly throttle: HubThrottle
  /** The token-expiry timer of each session that has one. */
  readonly #expiry = new Map<Session, NodeJS.Timeout>()

  constructor(o: {
    store: StateStore
    events: HubEvents
    hostName: string
    idScope: string
    now: () => number
    clockSkewSeconds: number
    d2c: D2cLog
    c2d?: C2dQueueOptions
    tier?: HubTier | undefined
  }) {
    this.store = o.store
    this.events = o.events
    this.hostName = o.hostName
    this.idScope = o.idScope
    this.now = o.now
    this.clockSkewSeconds = o.clockSkewSeconds
    this.c2d = new C2dQueue({ store: o.store, events: o.events, now: o.now, ...o.c2d })
    this.d2c = o.d2c
    this.faults = new HubFaults({
      events: this.events,
      now: this.now,
      sessionOf: (d, m) => this.sessionOf(d, m),
      sessions: () => this.sessions.values(),
      requireIdentity: (d, m) => {
        this.requireIdentity(d, m)
      },
      // a token that expires now: the expiry closes the session (`token expired`) at once
      expire: (session) => this.renewToken(session, Math.floor(this.now() / 1000)),
    })
    this.throttle = new HubThrottle({
      events: this.events,
      now: this.now,
      hostName: this.hostName,
      tier: o.tier,
    })
    for (const entry of Object.values(this.store.state.devices)) {
      for (const identity of [entry.device, ...Object.values(entry.modules)])
        identity.connectionState = 'Disconnected'
    }
  }

  get state(): StateStore['state'] {
    return this.store.state
  }

  /**
   * `true` when `host` names this hub: its host name (any case), optionally with one of its
   * ports, as SDKs send it when the port is written into `HostName=`, or one of its
   * `hostAliases`.
   */
  isOwnHost(host: string): boolean {
    const lower = host.toLowerCase()
    const name = this.hostName.toLowerCase()
    if (lower === name || this.hostAliases.has(lower)) return true
    return lower.startsWith(`${name}:`) && this.ports.has(Number(lower.slice(name.length + 1)))
  }

  /** The policy named `keyName`. */
  policy(keyName: string): Policy | undefined {
    return this.state.policies.find((p) => p.keyName === keyName)
  }

  /** The device entry, or `undefined`. */
  entry(deviceId: string): DeviceEntry | undefined {
    return Object.hasOwn(this.state.devices, deviceId) ? this.state.devices[deviceId] : undefined
  }

  /** A device or module identity, or `undefined`. */
  identity(deviceId: string, moduleId?: string): Identity | undefined {
    const entry = this.entry(deviceId)
    if (entry === undefined) return undefined
    if (moduleId === undefined) return entry.device
    return Object.hasOwn(entry.modules, moduleId) ? entry.modules[moduleId] : undefined
  }

  /**
   * The identity, or an error.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  requireIdentity(deviceId: string, moduleId?: string): Identity {
    const identity = this.identity(deviceId, moduleId)
    if (identity === undefined)
      throw notFound(moduleId === undefined ? `Device ${deviceId}` : `Module ${deviceId}/${moduleId}`)
    return identity
  }

  /** The live session of an identity. */
  sessionOf(deviceId: string, moduleId?: string): Session | undefined {
    return this.sessions.get(moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`)
  }

  // ---- registry ---------------------------------------------------------------------------

  /** Every device, as IoT Hub's JSON. */
  listDevices(): Record<string, unknown>[] {
    return Object.values(this.state.devices).map((e) => identityJson(e.device, e.c2d.length))
  }

  /**
   * A device as IoT Hub's JSON.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  getDevice(deviceId: string): Record<string, unknown> {
    const entry = this.entry(deviceId)
    if (entry === undefined) throw notFound(`Device ${deviceId}`)
    return identityJson(entry.device, entry.c2d.length)
  }

  /**
   * Creates (no If-Match) or updates (If-Match) a device, as `PUT /devices/{id}`.
   *
   * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST`,
   *   `ERR_HUB_CONFLICT` (exists, no If-Match), `ERR_HUB_NOT_FOUND` (If-Match, absent),
   *   `ERR_HUB_PRECONDITION_FAILED`.
   */
  putDevice(deviceId: string, input: IdentityInput, ifMatch?: string): Record<string, unknown> {
    assertDeviceId(deviceId, 'deviceId')
    const entry = this.entry(deviceId)
    if (entry === undefined) {
      if (ifMatch !== undefined && ifMatch.trim() !== '*') throw notFound(`Device ${deviceId}`)
      const created: DeviceEntry = {
        device: newIdentity(deviceId, undefined, input, this.now()),
        modules: idTable(),
        c2d: [],
      }
      this.state.devices[deviceId] = created
      this.store.changed()
      this.events.publish({ event: 'registry', action: 'create', deviceId })
      return identityJson(created.device, 0)
    }
    if (ifMatch === undefined) {
      throw new SasTokenError(
        'ERR_HUB_CONFLICT',
        `Device ${deviceId} already exists: update it with If-Match: "*" (or its etag).`,
      )
    }
    checkIfMatch(ifMatch, entry.device.etag)
    entry.device = updatedIdentity(entry.device, input)
    this.store.changed()
    this.events.publish({ event: 'registry', action: 'update', deviceId })
    if (entry.device.status === 'disabled') {
      // its modules connect only while it is enabled (the CONNECT rule), so they go too
      this.dropSession(deviceId, undefined, 'device disabled')
      for (const moduleId of Object.keys(entry.modules))
        this.dropSession(deviceId, moduleId, 'device disabled')
    }
    return identityJson(entry.device, entry.c2d.length)
  }

  /**
   * Deletes a device and its modules, as `DELETE /devices/{id}`.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_PRECONDITION_FAILED`.
   */
  deleteDevice(deviceId: string, ifMatch?: string): void {
    const entry = this.entry(deviceId)
    if (entry === undefined) throw notFound(`Device ${deviceId}`)
    checkIfMatch(ifMatch, entry.device.etag)
    delete this.state.devices[deviceId]
    this.store.changed()
    for (const moduleId of Object.keys(entry.modules))
      this.dropSession(deviceId, moduleId, 'identity deleted')
    this.dropSession(deviceId, undefined, 'identity deleted')
    this.events.publish({ event: 'registry', action: 'delete', deviceId })
  }

  /**
   * The modules of a device.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  listModules(deviceId: string): Record<string, unknown>[] {
    const entry = this.entry(deviceId)
    if (entry === undefined) throw notFound(`Device ${deviceId}`)
    return Object.values(entry.modules).map((m) => identityJson(m))
  }

  /**
   * A module as IoT Hub's JSON.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  getModule(deviceId: string, moduleId: string): Record<string, unknown> {
    return identityJson(this.requireIdentity(deviceId, moduleId))
  }

  /**
   * Creates or updates a module, as `PUT /devices/{id}/modules/{mid}`.
   *
   * @throws {SasTokenError} as {@link putDevice}.
   */
  putModule(
    deviceId: string,
    moduleId: string,
    input: IdentityInput,
    ifMatch?: string,
  ): Record<string, unknown> {
    assertDeviceId(moduleId, 'moduleId')
    const entry = this.entry(deviceId)
    if (entry === undefined) throw notFound(`Device ${deviceId}`)
    const current = Object.hasOwn(entry.modules, moduleId) ? entry.modules[moduleId] : undefined
    if (current === undefined) {
      if (ifMatch !== undefined && ifMatch.trim() !== '*') throw notFound(`Module ${deviceId}/${moduleId}`)
      const created = newIdentity(deviceId, moduleId, input, this.now())
      entry.modules[moduleId] = created
      this.store.changed()
      this.events.publish({ event: 'registry', action: 'create', deviceId, moduleId })
      return identityJson(created)
    }
    if (ifMatch === undefined) {
      throw new SasTokenError(
        'ERR_HUB_CONFLICT',
        `Module ${deviceId}/${moduleId} already exists: update it with If-Match: "*".`,
      )
    }
    checkIfMatch(ifMatch, current.etag)
    const updated = updatedIdentity(current, input)
    entry.modules[moduleId] = updated
    this.store.changed()
    this.events.publish({ event: 'registry', action: 'update', deviceId, moduleId })
    return identityJson(updated)
  }

  /**
   * Deletes a module.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_PRECONDITION_FAILED`.
   */
  deleteModule(deviceId: string, moduleId: string, ifMatch?: string): void {
    const entry = this.entry(deviceId)
    const current = this.identity(deviceId, moduleId)
    if (entry === undefined || current === undefined) throw notFound(`Module ${deviceId}/${moduleId}`)
    checkIfMatch(ifMatch, current.etag)
    delete entry.modules[moduleId]
    this.store.changed()
    this.dropSession(deviceId, moduleId, 'identity deleted')
    this.events.publish({ event: 'registry', action: 'delete', deviceId, moduleId })
  }

  /** Closes an identity's live connection, with the reason for the log. */
  dropSession(deviceId: string, moduleId: string | undefined, reason: string): void {
    const session = this.sessionOf(deviceId, moduleId)
    if (session === undefined) return
    session.closeReason = reason
    session.link.close()
  }

  /**
   * What the CONNECT decision needs to know of this hub and its registry, now. For a new
   * connection (`connect`: MQTT's CONNECT, AMQP's), the tier's connect rate is asked too, after
   * the faults: a throttled connect is refused with CONNACK 3.
   */
  authContext(o: { connect?: boolean } = {}): AuthContext {
    const { dps } = this.state
    return {
      hostName: this.hostName,
      hostAliases: [...this.ports].map((port) => `${this.hostName}:${port}`),
      idScope: this.idScope,
      now: this.now(),
      clockSkewSeconds: this.clockSkewSeconds,
      policies: this.state.policies,
      identity: (d, m) => this.identity(d, m),
      enrollment: (r) => (Object.hasOwn(dps.enrollments, r) ? dps.enrollments[r] : undefined),
      groups: () => Object.values(dps.groups),
      certificateAuthorities: () => Object.values(this.state.certificates ?? {}),
      faultRefusal: o.connect
        ? (target) => this.faults.refusal(target) ?? this.throttle.connectRefusal(target)
        : (target) => this.faults.refusal(target),
    }
  }

  // ---- sessions ---------------------------------------------------------------------------

  /**
   * A device or module connection is up: it becomes the identity's session (a DPS connection
   * is no identity's), its CleanSession 0 subscriptions come back, and the identity shows
   * `Connected`. A session with a {@link Session.tokenExpiresAt} is closed when its token expires,
   * with `token expired` as the reason.
   */
  attach(session: Session): void {
    this.#armExpiry(session)
    if (session.kind !== 'device') return
    const kept = Object.hasOwn(this.state.sessions, session.clientId)
      ? this.state.sessions[session.clientId]
      : undefined
    if (session.clean && kept !== undefined) {
      delete this.state.sessions[session.clientId]
      this.store.changed()
    } else if (!session.clean) {
      for (const kind of kept ?? []) {
        if (isFilterKind(kind) && !session.subscriptions.has(kind)) session.subscriptions.set(kind, 1)
      }
    }
    this.sessions.set(session.clientId, session)
    this.#connectionState(session, 'Connected')
  }

  /** A session's subscriptions changed: a CleanSession 0 device keeps them for its next connection. */
  subscriptionsChanged(session: Session): void {
    if (session.clean || session.kind !== 'device') return
    this.state.sessions[session.clientId] = [...session.subscriptions.keys()]
    this.store.changed()
  }

  /**
   * A connection is gone: the identity shows `Disconnected` unless a newer one replaced it, and
   * the `close` (when the hub ended it: {@link Session.closeReason}) and `disconnect` events say
   * why, `fallbackReason` when the hub did not end it.
   */
  detach(session: Session, fallbackReason = 'client disconnected'): void {
    clearTimeout(this.#expiry.get(session))
    this.#expiry.delete(session)
    if (this.sessions.get(session.clientId) === session) {
      this.sessions.delete(session.clientId)
      this.#connectionState(session, 'Disconnected')
    }
    const who = { ...idFields(session), clientId: session.clientId, protocol: session.protocol }
    if (session.closeReason !== undefined)
      this.events.publish({ event: 'close', ...who, reason: session.closeReason })
    this.events.publish({ event: 'disconnect', ...who, reason: session.closeReason ?? fallbackReason })
  }

  /**
   * A session proved a new token (AMQP's CBS put-token on a live connection): its expiry moves
   * to the new token's.
   */
  renewToken(session: Session, expiresAt: number | undefined): void {
    if (expiresAt === undefined) delete session.tokenExpiresAt
    else session.tokenExpiresAt = expiresAt
    this.#armExpiry(session)
  }

  #armExpiry(session: Session): void {
    clearTimeout(this.#expiry.get(session))
    this.#expiry.delete(session)
    const expiresAt = session.tokenExpiresAt
    if (expiresAt === undefined) return
    const left = expiresAt * 1000 - this.now()
    if (left <= 0) {
      session.closeReason = 'token expired'
      session.link.close()
      return
    }
    const timer = setTimeout(() => this.#armExpiry(session), Math.min(left, 2 ** 31 - 1))
    this.#expiry.set(session, timer)
  }

  /** Clears every session's token-expiry timer (hub close). */
  closeSessions(): void {
    for (const timer of this.#expiry.values()) clearTimeout(timer)
    this.#expiry.clear()
    this.faults.close()
    this.throttle.close()
  }

  #connectionState(session: Session, state: 'Connected' | 'Disconnected'): void {
    const identity = session.kind === 'device' ? this.identity(session.deviceId, session.moduleId) : undefined
    if (identity === undefined) return
    identity.connectionState = state
    identity.connectionStateUpdatedTime = new Date(this.now()).toISOString()
  }

  /**
   * Something came from an identity: a connected one's session, or the identity an HTTPS request
   * authenticated (its last activity is now).
   *
   * @returns The identity, or `undefined` when it was deleted meanwhile.
   */
  touch(session: Pick<Session, 'deviceId' | 'moduleId'>): Identity | undefined {
    const identity = this.identity(session.deviceId, session.moduleId)
    if (identity !== undefined) identity.lastActivityTime = new Date(this.now()).toISOString()
    return identity
  }

  // ---- twins ------------------------------------------------------------------------------

  /**
   * Patches a connected identity's reported properties with what it sent (a twin PATCH of
   * reported properties, whatever the protocol). It answers once the change is on disk: 204
   * with the new version, 400 for a patch IoT Hub would refuse, 429 (or 403 over quota) when the
   * hub's tier throttles twin updates, 500 when the state cannot be written.
   */
  async patchReported(id: { deviceId: string; moduleId?: string }, text: string): Promise<ReportedAnswer> {
    const identity = this.identity(id.deviceId, id.moduleId)
    if (identity === undefined)
      return { status: 404, errorCode: 404001, message: 'The identity was deleted.' }
    try {
      this.throttle.admit('twinUpdate', idOf(id), { bytes: Buffer.byteLength(text) })
    } catch (err) {
      const answer = throttledAnswer(err)
      if (answer === undefined) throw err
      return answer
    }
    const twin = identity.twin
    try {
      const patch = parsePatch(text, 'reported properties')
      twin.reported = applyPatch(twin.reported, patch, 'reported properties', MAX_PROPERTIES_BYTES)
      twin.reportedVersion += 1
      twin.version += 1
      this.store.changed()
      this.events.publish({ event: 'twin-reported', ...idOf(id), patch, version: twin.reportedVersion })
    } catch (err) {
      const message = isSasTokenError(err) ? err.message : 'The patch could not be applied.'
      this.events.publish({ event: 'twin-reported', ...idOf(id), status: 400, error: message })
      return { status: 400, errorCode: 400004, message }
    }
    const version = twin.reportedVersion
    try {
      await this.store.committed()
    } catch {
      return { status: 500, errorCode: 500001, message: 'The hub could not write its state; try again.' }
    }
    return { status: 204, version }
  }

  /**
   * A connected identity reads its own twin (MQTT's `$iothub/twin/GET`, AMQP's GET): its
   * desired and reported properties, once the hub's tier admits a twin read.
   *
   * @throws {SasTokenError} `ERR_HUB_THROTTLED`, `ERR_HUB_QUOTA_EXCEEDED` (the tier, throttle.ts).
   */
  deviceTwin(id: { deviceId: string; moduleId?: string }, identity: Identity): JsonObject {
    const document = deviceTwinDocument(identity.twin)
    this.throttle.admit('twinRead', idOf(id), { bytes: Buffer.byteLength(JSON.stringify(document)) })
    return document
  }

  /**
   * The twin as IoT Hub's service JSON.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_THROTTLED`, `ERR_HUB_QUOTA_EXCEEDED`
   *   (the hub's tier, throttle.ts).
   */
  getTwin(deviceId: string, moduleId?: string): JsonObject {
    const json = this.twinJson(deviceId, moduleId)
    this.throttle.admit('twinRead', idOf({ deviceId, ...(moduleId === undefined ? {} : { moduleId }) }), {
      bytes: Buffer.byteLength(JSON.stringify(json)),
    })
    return json
  }

  /**
   * The twin as IoT Hub's service JSON, not metered (what a query renders; the query is
   * throttled as one).
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  twinJson(deviceId: string, moduleId?: string): JsonObject {
    const identity = this.requireIdentity(deviceId, moduleId)
    const entry = this.entry(deviceId)
    const twin = identity.twin
    const etag = twinEtag(twin.version)
    const json: JsonObject = {
      deviceId,
      ...(moduleId === undefined ? {} : { moduleId }),
      etag,
      deviceEtag: identity.etag,
      status: entry?.device.status ?? 'enabled',
      statusUpdateTime: '0001-01-01T00:00:00Z',
      connectionState: identity.connectionState,
      lastActivityTime: identity.lastActivityTime,
      cloudToDeviceMessageCount: moduleId === undefined ? (entry?.c2d.length ?? 0) : 0,
      authenticationType: identity.authentication.type,
      x509Thumbprint:
        identity.authentication.type === 'selfSigned'
          ? identity.authentication.x509Thumbprint
          : { primaryThumbprint: null, secondaryThumbprint: null },
      modelId: '',
      version: twin.version,
      tags: plainJson(twin.tags),
      properties: {
        desired: {
          ...plainJson(twin.desired),
          $metadata: { $lastUpdated: identity.connectionStateUpdatedTime },
          $version: twin.desiredVersion,
        },
        reported: {
          ...plainJson(twin.reported),
          $metadata: { $lastUpdated: identity.connectionStateUpdatedTime },
          $version: twin.reportedVersion,
        },
      },
    }
    if (moduleId === undefined) json.capabilities = { iotEdge: identity.capabilities?.iotEdge ?? false }
    return json
  }

  /**
   * Updates tags and desired properties, as `PATCH /twins/{id}` (merge) or `PUT` (replace).
   * A desired change reaches a subscribed device on `…/desired/?$version=N`.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST`, `ERR_HUB_PRECONDITION_FAILED`,
   *   `ERR_HUB_THROTTLED`, `ERR_HUB_QUOTA_EXCEEDED` (the hub's tier, throttle.ts).
   */
  updateTwin(
    deviceId: string,
    moduleId: string | undefined,
    body: TwinPatch,
    o: { replace?: boolean; ifMatch?: string } = {},
  ): JsonObject {
    const identity = this.requireIdentity(deviceId, moduleId)
    this.throttle.admit('twinUpdate', idOf({ deviceId, ...(moduleId === undefined ? {} : { moduleId }) }), {
      bytes: Buffer.byteLength(JSON.stringify(body)),
    })
    checkIfMatch(o.ifMatch, twinEtag(identity.twin.version))
    const twin = identity.twin
    const tags = body.tags ? checkPatch(body.tags, 'tags', MAX_TAGS_BYTES) : undefined
    const desiredIn = body.properties?.desired
    const desired = desiredIn ? checkPatch(stripMeta(desiredIn), 'desired properties') : undefined
    if (tags !== undefined) twin.tags = o.replace ? tags : applyPatch(twin.tags, tags, 'tags', MAX_TAGS_BYTES)
    if (desired !== undefined) {
      twin.desired = o.replace
        ? applyPatch({}, desired, 'desired properties', MAX_PROPERTIES_BYTES)
        : applyPatch(twin.desired, desired, 'desired properties', MAX_PROPERTIES_BYTES)
      twin.desiredVersion += 1
    }
    if (tags !== undefined || desired !== undefined) {
      twin.version += 1
      this.store.changed()
    }
    if (desired !== undefined) {
      const patch = o.replace ? plainJson(twin.desired) : desired
      this.events.publish({
        event: 'twin-desired',
        deviceId,
        ...(moduleId === undefined ? {} : { moduleId }),
        patch,
        version: twin.desiredVersion,
      })
      const session = this.sessionOf(deviceId, moduleId)
      if (session?.subscriptions.has('desired')) {
        session.link.sendDesired(
          twin.desiredVersion,
          JSON.stringify({ ...patch, $version: twin.desiredVersion }),
        )
      }
    }
    return this.twinJson(deviceId, moduleId)
  }

  /**
   * Records a refused CONNECT (bounded), with every signature and key a client sent in it
   * redacted (a token or connection string in the wrong field).
   *
   * @returns The record as kept: what the `refuse` event carries too.
   */
  recordRefused(record: RefusedConnect): RefusedConnect {
    const kept = redactDeep(record, { credentials: true })
    this.refused.push(kept)
    if (this.refused.length > MAX_REFUSED) this.refused.shift()
    return kept
  }

  /**
   * A refused connection or token, whatever the transport: recorded ({@link recordRefused}) and
   * published as a `refuse` event whose `reason` is the first error finding.
   */
  refuse(record: Omit<RefusedConnect, 'reason'>): void {
    const reason = record.findings.find((f) => f.severity === 'error')
    const kept = this.recordRefused(reason === undefined ? record : { ...record, reason })
    this.events.publish({ event: 'refuse', ...kept })
  }
}

function stripMeta(value: unknown): unknown {
  if (!isJsonObject(value)) return value
  const { $metadata: _m, $version: _v, ...rest } = value
  return rest
}

/** A twin etag as IoT Hub writes one (base64 of the version, 8 bytes big-endian). */
export function twinEtag(version: number): string {
  const bytes = Buffer.alloc(8)
  bytes.writeBigUInt64BE(BigInt(version))
  return bytes.toString('base64')
}
