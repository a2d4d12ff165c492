/**
 * The AMQP adapter's {@link DeviceLink} and {@link C2dLink}: how the hub's protocol-neutral
 * owners reach one identity connected over AMQP. The identity's links on its connection are
 * kept by kind (the address table's handlers register them); C2D goes out on the device's
 * receiver link `/devices/{id}/messages/devicebound` within the credit the device gave (what
 * does not fit waits, in order, until it flows more), each delivery tagged with its lock token;
 * the device's outcome settles it: accepted → complete, rejected → reject, released or modified
 * → abandon. Desired patches, method requests and module inputs go on the links amqp-ops'
 * handlers register (`twin`, `methods`, `inputs`): until one is there the send is a warning.
 *
 * `close()` ends the identity's session: its links are detached with the reason (the whole
 * connection is closed when it serves no other identity and no service link, which is what
 * azure-iot-device-amqp reconnects on).
 *
 * @module
 */
import rhea from 'rhea'
import type { Delivery, Sender } from 'rhea'
import type { MessageProperties } from '../../mqtt/property-bag.js'
import type { C2dLink } from '../state/c2d-queue.js'
import type { QueuedC2d } from '../state/registry.js'
import type { LinkFault } from '../state/faults.js'
import type { DeviceLink } from '../state/sessions.js'
import type { AmqpConnection, AmqpContext, AmqpLink } from './context.js'
import { encodeMessage } from './message-mapping.js'

/** What the owners' sends need from the links amqp-ops registers. */
export interface DeviceLinkSenders {
  sendDesired?(version: number, body: string): void
  sendMethod?(method: string, rid: string, body: string): void
  sendInput?(inputName: string, properties: MessageProperties, payload: Buffer): void
}

/** The AMQP error condition a session's close reason is answered with. */
function conditionOf(reason: string | undefined): string {
  return reason === 'token expired' ? 'amqp:unauthorized-access' : 'amqp:connection:forced'
}

/** One identity connected over AMQP. */
export class AmqpDeviceLink implements DeviceLink, C2dLink {
  readonly identity: { deviceId: string; moduleId?: string }
  readonly #ctx: AmqpContext
  readonly #conn: AmqpConnection
  /** The identity's links on the connection, by kind (`telemetry`, `c2d`, `twin`…). */
  readonly links = new Map<string, Set<AmqpLink>>()
  /** The owners' sends over the links amqp-ops registers. */
  senders: DeviceLinkSenders = {}
  /** Why the session ends, set by the hub before close(). */
  closeReason: () => string | undefined = () => undefined
  /** Called once when close() ends the session. */
  onClose: () => void = () => undefined
  #c2d: Sender | undefined
  readonly #waiting: Array<{ message: QueuedC2d; lockToken: string }> = []
  readonly #tokens = new WeakMap<Delivery, string>()
  #closed = false

  constructor(ctx: AmqpContext, conn: AmqpConnection, identity: { deviceId: string; moduleId?: string }) {
    this.#ctx = ctx
    this.#conn = conn
    this.identity = identity
  }

  /** Registers one of the identity's links under `kind`; it is forgotten when it closes. */
  hold(kind: string, link: AmqpLink): void {
    let set = this.links.get(kind)
    if (set === undefined) {
      set = new Set()
      this.links.set(kind, set)
    }
    set.add(link)
    const forget = (): void => {
      set.delete(link)
    }
    link.once(link.is_sender() ? 'sender_close' : 'receiver_close', forget)
  }

  /** Whether `kind` has an open link. */
  has(kind: string): boolean {
    return (this.links.get(kind)?.size ?? 0) > 0
  }

  // ---- C2D ---------------------------------------------------------------------------------

  /** The device's C2D receiver link attached: the hub's sender on it. */
  attachC2d(sender: Sender): void {
    this.#c2d = sender
    sender.on('sendable', () => this.#drain())
    const settle = (outcome: 'complete' | 'reject' | 'abandon') => (context: { delivery?: Delivery }) => {
      const token = context.delivery === undefined ? undefined : this.#tokens.get(context.delivery)
      if (token === undefined) return
      if (outcome === 'complete') this.#ctx.hub.c2d.complete(token)
      else if (outcome === 'reject') this.#ctx.hub.c2d.reject(token)
      else if (this.#ctx.hub.c2d.abandon(token)) this.#ctx.hub.c2d.flush(this.identity.deviceId)
    }
    sender.on('accepted', settle('complete'))
    sender.on('rejected', settle('reject'))
    // rhea reports `modified` as `released` (treat_modified_as_released)
    sender.on('released', settle('abandon'))
  }

  /** The C2D link is gone: what waits for credit is dropped (the queue abandons its locks). */
  detachC2d(): void {
    this.#c2d = undefined
    this.#waiting.length = 0
  }

  send(message: QueuedC2d, lockToken: string): 'locked' | 'completed' {
    this.#waiting.push({ message, lockToken })
    this.#drain()
    return 'locked'
  }

  #drain(): void {
    const sender = this.#c2d
    while (sender?.sendable() && this.#waiting.length > 0) {
      const next = this.#waiting.shift()
      if (next === undefined || !this.#ctx.hub.c2d.isLocked(next.lockToken)) continue
      const { message, lockToken } = next
      const amqp = encodeMessage(Buffer.from(message.payload, 'base64'), message.properties, {
        to: `/devices/${this.identity.deviceId}/messages/devicebound`,
        annotations: {
          'iothub-enqueuedtime': new Date(message.enqueuedTime),
          'iothub-deliverycount': message.deliveryCount,
        },
      })
      const delivery = sender.send(amqp, rhea.string_to_uuid(lockToken))
      this.#tokens.set(delivery, lockToken)
    }
  }

  // ---- the owners' sends (amqp-ops registers the links) --------------------------------------

  #missing(what: string): void {
    this.#ctx.warn(`${what} is not delivered: the identity has no AMQP link for it.`, {
      ...this.identity,
      clientId: this.#clientId(),
    })
  }

  #clientId(): string {
    const { deviceId, moduleId } = this.identity
    return moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`
  }

  sendDesired(version: number, body: string): void {
    if (this.senders.sendDesired) this.senders.sendDesired(version, body)
    else this.#missing('A desired-properties patch')
  }

  sendMethod(method: string, rid: string, body: string): void {
    if (this.senders.sendMethod) this.senders.sendMethod(method, rid, body)
    else this.#missing('A direct-method request')
  }

  sendInput(inputName: string, properties: MessageProperties, payload: Buffer): void {
    if (this.senders.sendInput) this.senders.sendInput(inputName, properties, payload)
    else this.#missing('A module input message')
  }

  // ---- the end -----------------------------------------------------------------------------

  /** No AMQP fault is served yet: each is `false` (the fault event says it did not apply). */
  fault(_fault: LinkFault): boolean {
    return false
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    const reason = this.closeReason() ?? 'closed by the hub'
    const error = { condition: conditionOf(reason), description: `The hub ended the session: ${reason}.` }
    const others = [...this.#conn.devices.values()].some((d) => d.link !== this)
    const services = [...this.#conn.serviceLinks.values()].some((s) => s.size > 0)
    if (!others && !services) {
      this.#conn.closeWith(error)
    } else {
      for (const set of this.links.values()) for (const link of set) link.close(error)
    }
    this.onClose()
  }
}
