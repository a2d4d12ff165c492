/**
 * Telemetry (and a Will): only on the connection's own identity's topic; MQTT's RETAIN becomes
 * the `mqtt-retain` property and a Will is marked `iothub-MessageType: Will`, as IoT Hub does.
 * A message a fault throttles, has over quota or refuses closes the connection before its
 * PUBACK: MQTT 3.1.1 has no way to answer a PUBLISH with an error, and IoT Hub drops it too.
 *
 * @module
 */
import { isSasTokenError } from '../../../errors.js'
import type { TelemetryTopic } from '../../../mqtt/topics.js'
import type { Identity } from '../../state/registry.js'
import { ingestTelemetry } from '../../state/telemetry.js'
import type { Connection, MqttContext } from '../context.js'
import type { PublishRequest } from './publish.js'

/** Records a device's telemetry; the reason to close the connection when it is not its own. */
export function telemetry(
  ctx: MqttContext,
  c: Connection,
  identity: Identity,
  r: PublishRequest<TelemetryTopic>,
): string | undefined {
  const { session } = c
  const { type: _type, deviceId, moduleId, ...properties } = r.topic
  if (deviceId !== session.deviceId || moduleId !== session.moduleId)
    return `telemetry for another identity: ${JSON.stringify(r.address)}`
  const protocolProperties: Record<string, string> = {}
  if (r.retain) protocolProperties['mqtt-retain'] = 'true'
  if (r.will) protocolProperties['iothub-MessageType'] = 'Will'
  try {
    ingestTelemetry(ctx.hub, session, identity, {
      payload: r.payload,
      properties,
      protocolProperties,
      address: r.address,
      qos: r.qos,
    })
  } catch (err) {
    if (isSasTokenError(err) && FAULT_CODES.has(err.code)) return err.message
    throw err
  }
  return undefined
}

/** What a fault's window answers an operation with (faults.ts `admit`). */
const FAULT_CODES: ReadonlySet<string> = new Set([
  'ERR_HUB_THROTTLED',
  'ERR_HUB_QUOTA_EXCEEDED',
  'ERR_HUB_FAULT_REFUSED',
])
