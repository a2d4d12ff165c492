/**
 * Device-to-cloud messages, whatever the protocol: the hub stamps IoT Hub's system properties
 * (`iothub-connection-device-id`, `iothub-connection-auth-method`, `iothub-enqueuedtime`…) on
 * what a connected identity sent and publishes it as a `telemetry` event, which the log, the
 * console and `hub watch` read.
 *
 * @module
 */
import type { ReceivedMessageProperties } from '../../mqtt/property-bag.js'
import type { HubService } from '../service.js'
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

/** Records a message from a connected identity (the one `touch` returned). */
export function ingestTelemetry(
  hub: HubService,
  session: Session,
  identity: Identity,
  input: TelemetryInput,
): void {
  const { properties, ...system } = input.properties
  const app: Record<string, string | null> = { ...properties, ...input.protocolProperties }
  const scope = session.authMethod === 'policy' ? 'hub' : session.moduleId === undefined ? 'device' : 'module'
  const systemProperties: Record<string, string> = {
    ...Object.fromEntries(
      Object.entries(system).filter((e): e is [string, string] => typeof e[1] === 'string'),
    ),
    'iothub-connection-device-id': session.deviceId,
    ...(session.moduleId === undefined ? {} : { 'iothub-connection-module-id': session.moduleId }),
    'iothub-connection-auth-method': JSON.stringify({
      scope,
      type: session.authMethod === 'x509' ? 'x509Certificate' : 'sas',
      issuer: 'iothub',
      acceptingIpFilterRule: null,
    }),
    'iothub-connection-auth-generation-id': identity.generationId,
    'iothub-enqueuedtime': new Date(hub.now()).toISOString(),
    'iothub-message-source': 'Telemetry',
  }
  const text = input.payload.toString('utf8')
  const body = Buffer.from(text, 'utf8').equals(input.payload)
    ? { text }
    : { base64: input.payload.toString('base64') }
  hub.events.publish({
    event: 'telemetry',
    deviceId: session.deviceId,
    ...(session.moduleId === undefined ? {} : { moduleId: session.moduleId }),
    topic: input.address,
    qos: input.qos,
    body,
    properties: app,
    systemProperties,
  })
}
