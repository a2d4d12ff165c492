/**
 * PUBLISH from a device: the hub's rules for every packet (no QoS 2, at most 256 KB, no U+0000,
 * only the documented topics, read with the core's topic table), then one handler per topic
 * kind: telemetry, twin, method response, DPS.
 *
 * @module
 */
import type { AuthorizePublishHandler } from 'aedes'
import { isSasTokenError } from '../../../errors.js'
import type { OutgoingTopic } from '../../../mqtt/topics.js'
import { parseDeviceTopic } from '../../../mqtt/topics.js'
import type { MqttContext } from '../context.js'
import { dpsRequest } from './dps.js'
import { telemetry } from './telemetry.js'
import { twinGet, twinReported } from './twin.js'

/** Messages over this many bytes close the connection (IoT Hub's 256 KB). */
export const MAX_MESSAGE_BYTES = 256 * 1024

/** What a topic handler is given: the packet's parsed topic and payload, the connection's state. */
export interface PublishRequest<T extends OutgoingTopic = OutgoingTopic> {
  readonly topic: T
  readonly payload: Buffer
  /** The topic as sent. */
  readonly address: string
  readonly qos: number
  readonly retain: boolean
  /** `true` for the connection's Will, published as it closes. */
  readonly will: boolean
}

/** Checks a device's PUBLISH and hands it to the handler of its topic kind. */
export function authorizePublish(ctx: MqttContext): AuthorizePublishHandler {
  const { hub } = ctx
  return (client, packet, done) => {
    if (client === null) return done(null)
    const c = ctx.connections.get(client)
    if (c === undefined) return done(new Error('not authenticated'))
    const refuse = (reason: string): void => done(ctx.violate(client, reason))
    if (packet.qos === 2) return refuse('QoS 2 publish (IoT Hub supports QoS 0 and 1)')
    const size = packet.payload.length
    if (size > MAX_MESSAGE_BYTES)
      return refuse(`message too large: ${size} bytes, IoT Hub allows ${MAX_MESSAGE_BYTES}`)
    if (packet.topic.includes('\u0000'))
      return refuse('topic not supported: it holds U+0000, which MQTT forbids in a topic')
    let topic: OutgoingTopic
    try {
      topic = parseDeviceTopic(packet.topic)
    } catch (err) {
      if (!isSasTokenError(err)) throw err
      return refuse(`topic not supported: ${err.message}`)
    }
    const request = {
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      address: packet.topic,
      qos: packet.qos,
      retain: packet.retain,
      will: client.closed,
    }
    const { session } = c
    if (session.kind === 'dps') {
      if (topic.type !== 'dps-register' && topic.type !== 'dps-poll')
        return refuse(`topic not supported on a DPS connection: ${JSON.stringify(packet.topic)}`)
      dpsRequest(ctx, c, { ...request, topic })
      return done(null)
    }
    const identity = hub.touch(session)
    if (identity === undefined) return refuse('identity deleted')
    switch (topic.type) {
      case 'telemetry': {
        const refusal = telemetry(ctx, c, identity, { ...request, topic })
        if (refusal !== undefined) return refuse(refusal)
        // a Will is recorded as telemetry; aedes must not also deliver it
        return done(request.will ? new Error('will recorded') : null)
      }
      case 'twin-get':
        twinGet(c, identity, topic.rid, hub)
        return done(null)
      case 'twin-reported':
        twinReported(ctx, c, { ...request, topic })
        return done(null)
      case 'method-response':
        ctx.methods.answer(session, topic.rid, topic.status, request.payload)
        return done(null)
      default:
        return refuse(`DPS topic on a hub connection: ${JSON.stringify(packet.topic)}`)
    }
  }
}
