/**
 * The public handle of a running hub ({@link Hub}): what `startHub()` returns. Each method is
 * an operation of the hub's service that answers once its change is on disk; `close()` ends the
 * listeners (given by the start) and then the service's timers, and writes the state.
 *
 * @module
 */
import { formatConnectionString } from '../connection-string.js'
import { eventHubConnectionString, eventHubName } from './event-hub-endpoint.js'
import type { EventHubInfo } from './event-types.js'
import type { HubEvent, HubEvents } from './events.js'
import type { HubService } from './service.js'
import { sendC2d, sendModuleInput } from './state/c2d.js'
import type { C2dInput } from './state/c2d.js'
import { DPS_OWNER_POLICY, putEnrollment, putGroup } from './state/dps.js'
import type { ActiveFault, FaultOutcome, OperatorFault } from './state/faults.js'
import type { MethodCalls } from './state/methods.js'
import type { IdentityInput } from './state/registry.js'
import type { JsonObject } from './state/twin.js'

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
  /**
   * The Event Hub-compatible endpoint's connection string (`Endpoint=sb://…/;SharedAccessKeyName=
   * iothubowner;SharedAccessKey=…;EntityPath={hub name}`) on the AMQP over TLS port, for
   * `@azure/event-hubs`; absent when that port is off.
   */
  eventHubConnectionString?: string
  /**
   * The same with `UseDevelopmentEmulator=true` on the plain loopback AMQP port (no TLS, no CA to
   * trust); absent when that port is off.
   */
  eventHubDevelopmentConnectionString?: string
  /** The Event Hub-compatible endpoint: its name, partitions, consumer groups and retention. */
  eventHub: EventHubInfo
  /**
   * `HostName=…;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=…`: DPS's service
   * API (the `azure-iot-provisioning-service` SDK's `ProvisioningServiceClient.fromConnectionString`),
   * on the HTTPS listener and host name of the hub, with DPS's own key.
   */
  dpsConnectionString: string
  /** The local CA certificate (PEM): trust it in clients. */
  ca: string
  /** The CA certificate's path, when a state directory is used. */
  caPath?: string
  /** The host name in connection strings (`HostName=`). */
  hostName: string
  /** The DPS ID scope. */
  idScope: string
  /** The bound ports (0 for a default listener that could not bind, or one that is off). */
  ports: {
    /** The MQTT over TLS port (devices and DPS). */
    mqtt: number
    /** The HTTPS port (REST API, MQTT over WebSocket). */
    https: number
    /** The AMQP over TLS port. */
    amqp: number
    /** The plain AMQP port on the loopback address (`UseDevelopmentEmulator=true`). */
    amqpPlain: number
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
  /**
   * Breaks something on purpose, now, as `POST /_emulator/faults` does: drops an identity's
   * connection, refuses its next connects with a chosen CONNACK code, expires its token, delays
   * or drops its direct-method answers, pauses the device listeners (an outage), or clears
   * faults. Each is bounded in time (`durationSeconds` 1–3600, default 60) and is a `fault`
   * event with `source: 'api'`.
   *
   * @example
   * ```ts
   * await hub.fault({ kind: 'refuse', deviceId: 'dev1', count: 2, returnCode: 3 })
   * await hub.fault({ kind: 'outage', durationSeconds: 30 })
   * ```
   * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` (a value out of its bounds, no `deviceId`),
   *   `ERR_HUB_NOT_FOUND` (no such identity), `ERR_HUB_DEVICE_NOT_ONLINE` (`drop` or `expire`
   *   of an identity that is not connected).
   */
  fault(request: OperatorFault): Promise<FaultOutcome>
  /** The faults in force now (refusals, throttling windows, methods faults, the outage). */
  activeFaults(): Promise<ActiveFault[]>
  /** Every event; also async-iterable from now on. */
  events: HubEvents & AsyncIterable<HubEvent>
  /** Writes pending state now. */
  flush(): Promise<void>
  /** Closes every connection and listener and writes the state. */
  close(): Promise<void>
}

function connectionString(
  hub: HubService,
  deviceId: string,
  moduleId: string | undefined,
): { connectionString: string; primaryKey?: string; secondaryKey?: string } {
  const hostName = hub.hostName
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

/** A message the library gives (text or bytes, and its properties) as the hub reads one. */
function c2dInput(
  payload: string | Buffer,
  properties: Omit<C2dInput, 'payload' | 'payloadEncoding'>,
): C2dInput {
  return typeof payload === 'string'
    ? { ...properties, payload }
    : { ...properties, payload: payload.toString('base64'), payloadEncoding: 'base64' }
}

/** The registry's input for an identity made with {@link AddIdentityOptions}. */
function identityInput(x: AddIdentityOptions = {}): IdentityInput {
  return {
    ...(x.status === undefined ? {} : { status: x.status }),
    authentication: x.certificateAuthority
      ? { type: 'certificateAuthority' }
      : x.x509Thumbprint
        ? { type: 'selfSigned', x509Thumbprint: x.x509Thumbprint }
        : {
            type: 'sas',
            symmetricKey: { primaryKey: x.primaryKey ?? '', secondaryKey: x.secondaryKey ?? '' },
          },
  }
}

/** What {@link createHubHandle} is made of. */
export interface HubParts {
  /** The hub's operations. */
  service: HubService
  /** The pending direct method calls. */
  methods: MethodCalls
  /** The owner's key (`iothubowner`). */
  ownerKey: string
  /** The DPS service API owner's key (`provisioningserviceowner`). */
  dpsOwnerKey: string
  /** The CA certificate (PEM) and, when kept in a state directory, its path. */
  ca: { cert: string; path?: string }
  /** The bound ports. */
  ports: Hub['ports']
  /** The address the plain AMQP port is bound on (loopback). */
  amqpPlainHost: string
  /** Closes the listeners and the broker (every connection). */
  closeListeners(): Promise<void>
}

/** The public handle over a started hub's parts. */
export function createHubHandle(parts: HubParts): Hub {
  const { service: hub, methods } = parts
  const { store, events, hostName, idScope } = hub
  let closed: Promise<void> | undefined
  return {
    hubConnectionString: formatConnectionString({
      kind: 'service',
      hostName,
      sharedAccessKeyName: 'iothubowner',
      sharedAccessKey: parts.ownerKey,
    }),
    ...(parts.ports.amqp === 0
      ? {}
      : {
          eventHubConnectionString: eventHubConnectionString({
            hostName,
            port: parts.ports.amqp,
            ownerKey: parts.ownerKey,
          }),
        }),
    ...(parts.ports.amqpPlain === 0
      ? {}
      : {
          eventHubDevelopmentConnectionString: eventHubConnectionString({
            hostName,
            port: parts.ports.amqpPlain,
            ownerKey: parts.ownerKey,
            development: true,
            plainHost: parts.amqpPlainHost,
          }),
        }),
    eventHub: {
      name: eventHubName(hostName),
      partitions: hub.d2c.partitionCount,
      consumerGroups: [...hub.d2c.consumerGroups],
      retention: { ...hub.d2c.retention },
    },
    dpsConnectionString: formatConnectionString({
      kind: 'service',
      hostName,
      sharedAccessKeyName: DPS_OWNER_POLICY,
      sharedAccessKey: parts.dpsOwnerKey,
    }),
    ca: parts.ca.cert,
    ...(parts.ca.path === undefined ? {} : { caPath: parts.ca.path }),
    hostName,
    idScope,
    ports: parts.ports,
    async addDevice(id, x) {
      if (hub.entry(id) === undefined) hub.putDevice(id, identityInput(x))
      else if (x !== undefined) hub.putDevice(id, identityInput(x), '*')
      const answer = connectionString(hub, id, undefined)
      await store.committed()
      return answer
    },
    async addModule(deviceId, moduleId, x) {
      if (hub.identity(deviceId, moduleId) === undefined) hub.putModule(deviceId, moduleId, identityInput(x))
      else if (x !== undefined) hub.putModule(deviceId, moduleId, identityInput(x), '*')
      const answer = connectionString(hub, deviceId, moduleId)
      await store.committed()
      return answer
    },
    async sendC2d(deviceId, payload, x = {}) {
      const answer = sendC2d(hub, deviceId, c2dInput(payload, x))
      await store.committed()
      return answer
    },
    async sendToModuleInput(deviceId, moduleId, inputName, payload, x = {}) {
      const answer = sendModuleInput(hub, deviceId, moduleId, inputName, c2dInput(payload, x))
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
      const { primaryKey, secondaryKey } = putEnrollment(hub, registrationId, {
        primaryKey: x.primaryKey ?? '',
        secondaryKey: x.secondaryKey ?? '',
        ...(x.deviceId === undefined ? {} : { deviceId: x.deviceId }),
      })
      await store.committed()
      return { primaryKey, secondaryKey }
    },
    async addEnrollmentGroup(groupId, x = {}) {
      const group = { primaryKey: x.primaryKey ?? '', secondaryKey: x.secondaryKey ?? '' }
      const { primaryKey, secondaryKey } = putGroup(hub, groupId, group)
      await store.committed()
      return { primaryKey, secondaryKey }
    },
    async fault(request) {
      return hub.faults.operate(request)
    },
    async activeFaults() {
      return hub.faults.active()
    },
    events,
    flush: () => store.flush(),
    close() {
      closed ??= (async () => {
        methods.close()
        await parts.closeListeners()
        hub.closeSessions()
        hub.c2d.close()
        try {
          await Promise.all([store.flush(), hub.d2c.close()])
        } finally {
          events.end()
        }
      })()
      return closed
    },
  }
}
