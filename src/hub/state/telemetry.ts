/**
 * Device-to-cloud messages, whatever the protocol: the hub stamps IoT Hub's system properties
 * (`iothub-connection-device-id`, `iothub-connection-auth-method`, `iothub-enqueuedtime`…) on
 * what a connected identity sent, appends it to the device-to-cloud log (d2c-log.ts: what the
 * Event Hub-compatible endpoint reads) and publishes it as a `telemetry` event, which the
 * console and `hub watch` read.
 *
 * @module
 */
import { isUtf8 } from 'node:buffer'
import type { ReceivedMessageProperties } from '../../mqtt/property-bag.js'
import type { HubService } from '../service.js'
import type { D2cRecord } from './d2c-log.js'
import { parseFaultRequest } from './faults.js'
import type { FaultRequest } from './faults.js'
import type { Identity } from './registry.js'
import type { Session } from './sessions.js'

/** One message a device or module sent. */
export interface TelemetryInput {
  /** The payload, as sent. */
  payload: Buffer
  /** Its system and application properties, decoded. */
  properties: ReceivedMessageProperties
  /** Properties the protocol itself adds (MQTT: `mqtt-retain`, a Will's `iothub-MessageType`). */
  protocolProperties?: Record<string, string>
  /** Where it came, for the log: the MQTT topic, or the AMQP link address. */
  address: string
  /** The delivery's QoS (0 or 1; AMQP: settled or not). */
  qos: number
}

/** Who sent a message: a live session, or (HTTPS) the identity one request authenticated. */
export type TelemetrySender = Pick<Session, 'deviceId' | 'moduleId' | 'authMethod' | 'protocol'>

/** The `iothub-connection-auth-method` of a sender: the same for each of its messages. */
const authMethods = new WeakMap<TelemetrySender, string>()

function authMethodOf(session: TelemetrySender): string {
  let text = authMethods.get(session)
  if (text === undefined) {
    const scope =
      session.authMethod === 'policy' ? 'hub' : session.moduleId === undefined ? 'device' : 'module'
    const type = session.authMethod === 'x509' ? 'x509Certificate' : 'sas'
    text = JSON.stringify({ scope, type, issuer: 'iothub', acceptingIpFilterRule: null })
    authMethods.set(session, text)
  }
  return text
}

/**
 * Records a message from an identity (for a session: the identity `touch` returned): appended
 * to the log (on disk once `hub.d2c.committed()` settles), then published.
 *
 * A message whose application properties ask for a fault (IoT Hub's
 * `AzIoTHub_FaultOperationType`, faults.ts) is logged like any other, then the fault is done;
 * one naming an unknown fault is a warning.
 *
 * @returns The message as the log keeps it, with its partition, sequence number and offset.
 * @throws {SasTokenError} `ERR_HUB_THROTTLED`, `ERR_HUB_QUOTA_EXCEEDED` or `ERR_HUB_FAULT_REFUSED`
 *   while a fault throttles or refuses the sender, or the hub's tier (throttle.ts) throttles it
 *   (nothing is logged), `ERR_HUB_CLOSED` when the hub is closing.
 */
export function ingestTelemetry(
  hub: HubService,
  session: TelemetrySender,
  identity: Identity,
  input: TelemetryInput,
): D2cRecord {
  hub.faults.admit(session)
  hub.throttle.admit('d2c', session, { bytes: meteredSize(input) })
  const app: Record<string, string | null> = { ...input.properties.properties, ...input.protocolProperties }
  const fault = faultOf(hub, session, app)
  // the bag's system fields are its strings (`properties`, the application ones, is an object)
  const systemProperties: Record<string, string> = {}
  for (const [name, value] of Object.entries(input.properties))
    if (typeof value === 'string') systemProperties[name] = value
  systemProperties['iothub-connection-device-id'] = session.deviceId
  if (session.moduleId !== undefined) systemProperties['iothub-connection-module-id'] = session.moduleId
  systemProperties['iothub-connection-auth-method'] = authMethodOf(session)
  systemProperties['iothub-connection-auth-generation-id'] = identity.generationId
  const enqueuedTime = hub.now()
  systemProperties['iothub-enqueuedtime'] = new Date(enqueuedTime).toISOString()
  systemProperties['iothub-message-source'] = 'Telemetry'
  const record = hub.d2c.append({
    enqueuedTime,
    partitionKey: session.deviceId,
    body: input.payload,
    properties: app,
    systemProperties,
  })
  const body = isUtf8(input.payload)
    ? { text: input.payload.toString('utf8') }
    : { base64: input.payload.toString('base64') }
  hub.events.publish({
    event: 'telemetry',
    deviceId: session.deviceId,
    ...(session.moduleId === undefined ? {} : { moduleId: session.moduleId }),
    protocol: session.protocol,
    topic: input.address,
    qos: input.qos,
    body,
    properties: app,
    systemProperties,
  })
  if (fault !== undefined) hub.faults.inject(session, fault, 'message')
  return record
}

/**
 * A message's size as IoT Hub meters it: the body, the system properties' values and the
 * application properties' names and values, in bytes (protocol framing aside).
 */
function meteredSize(input: TelemetryInput): number {
  let bytes = input.payload.length
  for (const value of Object.values(input.properties))
    if (typeof value === 'string') bytes += Buffer.byteLength(value)
  for (const [name, value] of Object.entries(input.properties.properties))
    bytes += Buffer.byteLength(name) + (value === null ? 0 : Buffer.byteLength(value))
  return bytes
}

/** The fault a message asks for; a malformed ask is a warning, and the message is still logged. */
function faultOf(
  hub: HubService,
  session: TelemetrySender,
  properties: Record<string, string | null>,
): FaultRequest | undefined {
  try {
    return parseFaultRequest(properties)
  } catch (err) {
    hub.events.publish({
      event: 'warning',
      message: `a fault-injection message was not acted on: ${err instanceof Error ? err.message : String(err)}`,
      deviceId: session.deviceId,
      ...(session.moduleId === undefined ? {} : { moduleId: session.moduleId }),
    })
    return undefined
  }
}
