/**
 * The hub's events, one type: a union discriminated on `event`, each kind with exactly its
 * facts. The hub publishes them (`HubEvents`), the CLI logs them and the console page
 * shows them; both import this file's types only. Events never carry a password, key or token.
 *
 * This file holds types alone (no runtime import), so the browser page can type-check against
 * it.
 *
 * @module
 */
import type { Finding } from '../diagnose/index.js'
import type { SubscriptionKind, Transport } from './state/sessions.js'

/** What every event has: its time, and the identity it is about (when it is about one). */
interface EventBase {
  /** When it was published, ISO 8601 (from the hub's clock). */
  time: string
}

/** An event about a device, or a module of one. */
interface AboutIdentity extends EventBase {
  /** The device the event is about. */
  deviceId: string
  /** The module the event is about, if it is about a module (of `deviceId`). */
  moduleId?: string
}

/** An event about no identity: `deviceId` and `moduleId` are absent. */
interface AboutNoIdentity extends EventBase {
  /** Absent: the event is about no identity. */
  deviceId?: never
  /** Absent: the event is about no identity. */
  moduleId?: never
}

/** The Event Hub-compatible endpoint of a hub, as the `ready` event describes it. */
export interface EventHubInfo {
  /** The event hub's name (`EntityPath=`): the first label of the hub's host name. */
  name: string
  /** The partition count. */
  partitions: number
  /** The consumer groups, `$Default` first. */
  consumerGroups: string[]
  /** What each partition keeps: at most this many messages, bytes, and seconds of age. */
  retention: {
    /** Messages per partition. */
    maxMessages: number
    /** Bytes of messages per partition. */
    maxBytes: number
    /** Seconds a message is kept. */
    maxAgeSeconds: number
  }
}

/** The hub is listening: the first event, with what a client needs to reach it. */
export interface HubReadyEvent extends AboutNoIdentity {
  /** The event's name. */
  event: 'ready'
  /** The `iothubowner` connection string (it holds the owner key; the CLI prints it on purpose). */
  hubConnectionString: string
  /**
   * The Event Hub-compatible endpoint's connection string (it holds the owner key), or `null`
   * when the AMQP port is off.
   */
  eventHubConnectionString: string | null
  /**
   * The same with `UseDevelopmentEmulator=true` on the plain loopback AMQP port, or `null` when
   * that port is off.
   */
  eventHubDevelopmentConnectionString: string | null
  /** The Event Hub-compatible endpoint: its name, partitions, consumer groups and retention. */
  eventHub: EventHubInfo
  /** The `provisioningserviceowner` connection string of DPS's service API (it holds DPS's owner key; printed on purpose). */
  dpsConnectionString: string
  /** The CA certificate's path, or `null` in memory. */
  caPath: string | null
  /** The CA certificate (PEM), when it has no path (in memory). */
  ca?: string
  /** The host name in connection strings (`HostName=`). */
  hostName: string
  /** The DPS ID scope. */
  idScope: string
  /** The address the listeners bind. */
  host: string
  /** The bound ports; 0 for a listener that is off. */
  ports: {
    /** MQTT over TLS (devices and DPS). */
    mqtt: number
    /** HTTPS (REST API, MQTT and AMQP over WebSocket). */
    https: number
    /** AMQP over TLS. */
    amqp: number
    /** Plain AMQP on the loopback address (`UseDevelopmentEmulator=true`). */
    amqpPlain: number
  }
  /** The state directory, or `null` in memory. */
  stateDir: string | null
  /** The console's URL with its access token, or `null` without a console. */
  consoleUrl: string | null
  /** The connection string of each device created at start (they hold the devices' keys). */
  devices: Record<string, string>
  /** The IoT Hub tier the hub throttles as (`startHub({ tier })`, `--tier`); absent without one. */
  tier?: {
    /** `F1`, `S1`, `S2` or `S3`. */
    name: 'F1' | 'S1' | 'S2' | 'S3'
    /** Its units. */
    units: number
    /** The daily message quota, in metered messages. */
    messagesPerDay: number
    /** The bytes one metered message stands for (4096; 512 on F1). */
    meterBytes: number
  }
}

/** A device, module or DPS client connected. */
export interface HubConnectEvent extends AboutIdentity {
  /** The event's name. */
  event: 'connect'
  /** A DPS connection: the registration id (`deviceId` holds it too). */
  registrationId?: string
  /** `dps` for a DPS connection. */
  service?: 'dps'
  /** The MQTT client id; over AMQP, `deviceId` or `deviceId/moduleId`. */
  clientId: string
  /** `sas` (the identity's key), `policy` (a policy token with DeviceConnect) or `x509`. */
  authMethod: 'sas' | 'policy' | 'x509'
  /** The client's clean-session flag (`true` for AMQP, which keeps nothing). */
  cleanSession: boolean
  /** How it came: `mqtt` (TLS), `mqtt-ws`, `amqp` (TLS, or the plain development port) or `amqp-ws`. */
  protocol: Transport
  /** The subscriptions kept from an earlier session. */
  restoredSubscriptions?: SubscriptionKind[]
  /** What `diagnoseConnect` warned of in an accepted CONNECT (an unknown api-version, a model id that is no DTMI). */
  warnings?: Finding[]
}

/** A CONNECT the hub refused, with why; `GET /_emulator/refused` lists the same records. */
export interface HubRefuseEvent extends EventBase {
  /** The event's name. */
  event: 'refuse'
  /** The client id the client sent (HTTPS: the identity the path names, `deviceId[/moduleId]`). */
  clientId: string
  /** The username the client sent: MQTT's, or AMQP's SASL PLAIN one ('' when none, as over HTTPS). */
  username: string
  /** MQTT: the CONNACK return code. */
  returnCode?: number
  /** AMQP: the error condition the hub answered (`amqp:unauthorized-access`…). */
  condition?: string
  /** AMQP CBS: the audience (`name`) of the refused put-token. */
  audience?: string
  /** HTTPS: the status the hub answered (401). */
  status?: number
  /** How it came (`mqtt`, `mqtt-ws`, `amqp`, `amqp-ws`, `http`). */
  protocol: Transport
  /** The identity the client named, when it named one. */
  deviceId?: string
  /** The module the client named, if any. */
  moduleId?: string
  /** The first error finding: the headline of the refusal. */
  reason?: Finding
  /** Every finding of the core's `diagnoseConnect` given what the registry knows (at least one error, unless `fault` refused): what decided the refusal. */
  findings: Finding[]
  /** A fault on purpose refused a connect the findings accept (`AuthFailure`, the operator's refuse). */
  fault?: {
    /** The fault. */
    fault: string
    /** Why, and that the credentials are fine. */
    message: string
  }
}

/** How a connection ended. */
interface Ending extends AboutIdentity {
  /** The client id (`deviceId[/moduleId]`; MQTT: as the client sent it). */
  clientId: string
  /** How it came (`mqtt`, `mqtt-ws`, `amqp`, `amqp-ws`). */
  protocol: Transport
  /** Why it ended (`client disconnected`, `token expired`, a broken rule…). */
  reason: string
}

/** A connection ended (every connection that was accepted ends with one). */
export interface HubDisconnectEvent extends Ending {
  /** The event's name. */
  event: 'disconnect'
}

/** The hub closed a connection, and why (just before its `disconnect`). */
export interface HubCloseEvent extends Ending {
  /** The event's name. */
  event: 'close'
}

/**
 * A client subscribed (MQTT), or started listening (AMQP: it attached its method or module-input
 * receiver, or PUT the twin's desired-properties notifications).
 */
export interface HubSubscribeEvent extends AboutIdentity {
  /** The event's name. */
  event: 'subscribe'
  /** The filters and the QoS asked for (AMQP: the link's address or the twin resource; QoS 1 where deliveries are settled by the client). */
  topics: Array<{
    /** The filter. */
    topic: string
    /** The QoS asked for. */
    qos: number
  }>
}

/** A client unsubscribed (AMQP: detached that link, or DELETEd the desired notifications). */
export interface HubUnsubscribeEvent extends AboutIdentity {
  /** The event's name. */
  event: 'unsubscribe'
  /** The filters (AMQP: addresses, or the twin resource). */
  topics: string[]
}

/** A message's payload: UTF-8 text, or base64 when it is not UTF-8. */
export type TelemetryBody =
  | {
      /** The payload, when it is UTF-8. */
      text: string
      /** Absent: the payload is text. */
      base64?: never
    }
  | {
      /** The payload, base64, when it is not UTF-8. */
      base64: string
      /** Absent: the payload is not UTF-8. */
      text?: never
    }

/** A device-to-cloud message (or a Will, with `iothub-MessageType: Will`). */
export interface HubTelemetryEvent extends AboutIdentity {
  /** The event's name. */
  event: 'telemetry'
  /** How it came. */
  protocol: Transport
  /** The topic it came on (AMQP: the link's address; HTTPS: the request path). */
  topic: string
  /** The QoS it came with (HTTPS: 1, the answer acknowledges it). */
  qos: number
  /** The payload: UTF-8 text, or base64 when it is not UTF-8. */
  body: TelemetryBody
  /** The application properties (a bare `key` is `null`). */
  properties: Record<string, string | null>
  /**
   * The system properties: the bag's (`messageId`, `outputName`, `contentType`…) and the hub's
   * (`iothub-connection-device-id`, `iothub-enqueuedtime`…).
   */
  systemProperties: Record<string, string>
}

/** A twin GET. */
export interface HubTwinGetEvent extends AboutIdentity {
  /** The event's name. */
  event: 'twin-get'
}

/** A twin patch that was applied. */
interface AppliedPatch extends AboutIdentity {
  /** The patch as applied. */
  patch: { [key: string]: unknown }
  /** The properties' version after it. */
  version: number
  /** Absent: the patch was applied (see {@link HubTwinRefusedEvent}). */
  status?: never
  /** Absent: the patch was applied. */
  error?: never
}

/** The device patched its reported properties. */
export interface HubTwinReportedEvent extends AppliedPatch {
  /** The event's name. */
  event: 'twin-reported'
}

/** The service patched (or replaced: then `patch` is the whole) desired properties. */
export interface HubTwinDesiredEvent extends AppliedPatch {
  /** The event's name. */
  event: 'twin-desired'
}

/** A reported-properties patch the hub refused (answered 400). */
export interface HubTwinRefusedEvent extends AboutIdentity {
  /** The event's name. */
  event: 'twin-reported'
  /** The status the device was answered. */
  status: 400
  /** Why. */
  error: string
  /** Absent: nothing was applied. */
  patch?: never
  /** Absent: the version did not change. */
  version?: never
}

/** A direct method call and how it ended. */
export interface HubMethodEvent extends AboutIdentity {
  /** The event's name. */
  event: 'method'
  /** The method's name. */
  methodName: string
  /** The device's status, or 404 (not online), 504 (no answer in time). */
  status: number
}

/** A step of a cloud-to-device message (to a module input: `moduleId` and `inputName`). */
export interface HubC2dEvent extends AboutIdentity {
  /** The event's name. */
  event: 'c2d'
  /** The module input it was delivered to. */
  inputName?: string
  /** The message's id. */
  messageId: string
  /** What happened to it. */
  state: 'queued' | 'delivered' | 'completed' | 'rejected' | 'abandoned' | 'expired' | 'dead-lettered'
  /** How many times it was delivered. */
  deliveryCount?: number
  /** The feedback code of a finished message. */
  statusCode?: 'Success' | 'Expired' | 'DeliveryCountExceeded' | 'Rejected'
  /** Why it was abandoned. */
  reason?: string
}

/** A DPS registration was assigned. */
export interface HubDpsRegisterEvent extends EventBase {
  /** The event's name. */
  event: 'dps-register'
  /** The registration id. */
  registrationId: string
  /** The hub it was assigned to. */
  assignedHub: string
  /** The device it became. */
  deviceId: string
  /** Absent: a registration is a device. */
  moduleId?: never
  /** The enrollment group it came through, if any. */
  enrollmentGroupId?: string
}

/** A device or module was created, updated or deleted. */
export interface HubRegistryEvent extends AboutIdentity {
  /** The event's name. */
  event: 'registry'
  /** What happened. */
  action: 'create' | 'update' | 'delete'
}

/**
 * A fault done on purpose: asked by a device's fault-injection message (IoT Hub's
 * `AzIoTHub_FaultOperationType`) or by the operator API, when it is done.
 */
export interface HubFaultEvent extends EventBase {
  /** The event's name. */
  event: 'fault'
  /** The device it hits; absent for a fault of the whole hub (an outage). */
  deviceId?: string
  /** The module it hits. */
  moduleId?: string
  /** The fault: IoT Hub's fault type (`KillTcp`, `InvokeThrottling`, …) or the operator's action. */
  fault: string
  /** Who asked: a device's fault-injection message, or the operator API. */
  source: 'message' | 'api'
  /** What the hub did (`kill-tcp done`, `throttled for 5 s`, `nothing to do: not connected`). */
  action: string
  /** The transport of the connection it hit. */
  protocol?: Transport
  /** When a window or a refusal ends, ISO 8601. */
  until?: string
}

/**
 * Something an operator should know: a listener that could not bind, a protocol or path the hub
 * does not serve, a dropped connection or events, a state write that failed.
 */
export interface HubWarningEvent extends EventBase {
  /** The event's name. */
  event: 'warning'
  /** What happened and what to do. */
  message: string
  /** The port it is about. */
  port?: number
  /** The listener it is about (`mqtt`, `https`, …). */
  listener?: string
  /** The protocol that came (a WebSocket subprotocol, AMQP…). */
  protocol?: string
  /** The device it is about. */
  deviceId?: string
  /** The module it is about. */
  moduleId?: string
  /** The MQTT client id it is about. */
  clientId?: string
  /** How many connections or events were dropped. */
  dropped?: number
  /** The cap of TLS connections in handshake. */
  maxTlsHandshakes?: number
  /** The request path it is about. */
  path?: string
  /** The request method it is about. */
  method?: string
}

/** One event: `event` names its kind and decides its fields; `time` is ISO 8601. */
export type HubEvent =
  | HubReadyEvent
  | HubConnectEvent
  | HubRefuseEvent
  | HubDisconnectEvent
  | HubCloseEvent
  | HubSubscribeEvent
  | HubUnsubscribeEvent
  | HubTelemetryEvent
  | HubTwinGetEvent
  | HubTwinReportedEvent
  | HubTwinDesiredEvent
  | HubTwinRefusedEvent
  | HubMethodEvent
  | HubC2dEvent
  | HubDpsRegisterEvent
  | HubRegistryEvent
  | HubFaultEvent
  | HubWarningEvent

/** The names of the events the hub emits. */
export type HubEventName = HubEvent['event']

/** The events named `N`, e.g. `HubEventOf<'refuse'>`. */
export type HubEventOf<N extends HubEventName> = Extract<
  HubEvent,
  {
    /** The name asked for. */
    event: N
  }
>

/** What a caller gives to `HubEvents.publish`: an event without its time (each kind's own fields). */
export type HubEventInput = HubEvent extends infer E ? (E extends HubEvent ? Omit<E, 'time'> : never) : never
