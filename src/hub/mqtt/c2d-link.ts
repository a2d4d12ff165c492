/**
 * The MQTT side of the C2D queue: a device connection subscribed to
 * `devices/{id}/messages/devicebound/#` is a {@link C2dLink}. A message goes out at the granted
 * QoS on `devices/{id}/messages/devicebound/{bag}`; at QoS 1 the device's PUBACK completes it
 * (MQTT cannot reject or abandon), at QoS 0 delivery is completion. A lost connection abandons
 * what it held (the queue puts it back).
 *
 * Each delivery's packet carries its lock token in `brokerId`, so a PUBACK names its message
 * when aedes kept the packet (CleanSession 0: aedes' `ack` event gives it), and a resend by
 * aedes of a packet whose lock is gone (a CleanSession 0 reconnect) is dropped in
 * `authorizeForward`: the queue delivers it again itself, counted. For CleanSession 1 aedes'
 * `ack` event has no packet; the PUBACK answers the oldest unanswered delivery, because MQTT
 * 3.1.1 (4.6) has a client send PUBACKs in the order of the PUBLISHes.
 *
 * @module
 */
import { c2dTopic } from '../../mqtt/topics.js'
import type { C2dLink } from '../state/c2d-queue.js'
import type { QueuedC2d } from '../state/registry.js'
import type { HubService } from '../service.js'
import type { Session } from '../state/sessions.js'
import type { MqttLink } from './mqtt-link.js'

/** The `brokerId` prefix of a C2D delivery; the lock token follows. */
export const C2D_BROKER_PREFIX = 'sas-token-hub-c2d/'

class MqttC2dLink implements C2dLink {
  readonly #session: Session
  readonly #link: MqttLink
  /** Lock tokens of the deliveries not yet answered, in the order they were sent. */
  readonly inflight: string[] = []

  constructor(session: Session, link: MqttLink) {
    this.#session = session
    this.#link = link
  }

  send(message: QueuedC2d, lockToken: string): 'locked' | 'completed' {
    const topic = c2dTopic(this.#session, message.properties)
    const payload = Buffer.from(message.payload, 'base64')
    const qos = this.#link.publish('messages', topic, payload, {
      qos: 1,
      brokerId: `${C2D_BROKER_PREFIX}${lockToken}`,
    })
    if (qos === 0) return 'completed'
    this.inflight.push(lockToken)
    return 'locked'
  }
}

const links = new WeakMap<Session, MqttC2dLink>()

/** Attaches a device session subscribed to C2D (again: only delivers what is Enqueued). */
export function attachC2d(hub: HubService, session: Session, mqtt: MqttLink): void {
  if (session.kind !== 'device' || session.moduleId !== undefined || !session.subscriptions.has('messages'))
    return
  let link = links.get(session)
  if (link === undefined) {
    link = new MqttC2dLink(session, mqtt)
    links.set(session, link)
  }
  hub.c2d.attach(session.deviceId, link)
}

/** The session's connection is gone: what it held unanswered goes back to the queue. */
export function detachC2d(hub: HubService, session: Session): void {
  const link = links.get(session)
  if (link === undefined) return
  links.delete(session)
  hub.c2d.detach(session.deviceId, link)
}

/** A PUBACK on a device connection (aedes' `ack` event: the packet when aedes kept it). */
export function pubackC2d(hub: HubService, session: Session, packet: object | undefined): void {
  const link = links.get(session)
  if (link === undefined) return
  let token: string | undefined
  const brokerId = packet !== undefined && 'brokerId' in packet ? packet.brokerId : undefined
  if (typeof brokerId === 'string') {
    if (!brokerId.startsWith(C2D_BROKER_PREFIX)) return
    token = brokerId.slice(C2D_BROKER_PREFIX.length)
    const i = link.inflight.indexOf(token)
    if (i !== -1) link.inflight.splice(i, 1)
  } else if (session.clean) {
    token = link.inflight.shift()
  }
  if (token !== undefined) hub.c2d.complete(token)
}

/** `true` when a C2D packet aedes is about to send still holds its lock. */
export function c2dForwardable(hub: HubService, brokerId: string): boolean {
  return brokerId.startsWith(C2D_BROKER_PREFIX) && hub.c2d.isLocked(brokerId.slice(C2D_BROKER_PREFIX.length))
}
