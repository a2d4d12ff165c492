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
 * `fault(kind)` carries out a fault on purpose (state/faults.ts decides it): `kill-tcp` destroys
 * the socket with no goodbye; `shutdown-amqp` closes the connection cleanly (no error);
 * `amqp-connection` closes it with an error; `amqp-session` ends the AMQP session(s) the
 * identity's links are on with an error (the identity's session ends with it); each link fault
 * detaches the identity's links of that kind with an error (the `$cbs` request or reply links,
 * telemetry, C2D or module inputs, the twin and method request or response links). The error is
 * `amqp:internal-error` (the real hub's condition is not documented: azure-iot-device-amqp maps
 * this one to its retryable `InternalServerError`, and its e2e tests expect it to recover from
 * each of these faults without a `disconnect`). It is done once what is being written has gone
 * out: over AMQP, IoT Hub settles the fault-injection message before the fault takes effect.
 *
 * @module
 */
import rhea from 'rhea'
import type { Delivery, Sender, Session as RheaSession } from 'rhea'
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

/** The kinds (as the address handlers `hold` them) each link fault detaches. */
const FAULT_LINK_KINDS: Readonly<Partial<Record<LinkFault, readonly string[]>>> = Object.freeze({
  'amqp-d2c': ['telemetry'],
  'amqp-c2d': ['c2d', 'inputs'],
  'amqp-twin-request': ['twin-requests'],
  'amqp-twin-response': ['twin'],
  'amqp-method-request': ['methods'],
  'amqp-method-response': ['method-answers'],
})

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

  /**
   * Carries out `fault` on the identity's connection, session or links; `false` when it does
   * not apply (an MQTT fault, no such link attached, the connection already gone).
   */
  fault(fault: LinkFault): boolean {
    if (this.#closed || this.#conn.closed) return false
    const action = this.#faultAction(fault)
    if (action === undefined) return false
    // once what rhea writes now (the fault-injection message's settlement) has gone out
    setImmediate(() => {
      if (!this.#conn.closed) action()
    })
    return true
  }

  #faultAction(fault: LinkFault): (() => void) | undefined {
    const conn = this.#conn
    const error = {
      condition: 'amqp:internal-error',
      description: `Fault injection: the hub did ${fault} on purpose.`,
    }
    if (fault === 'kill-tcp') return () => conn.socket.destroy()
    if (fault === 'shutdown-amqp') return () => conn.closeWith()
    if (fault === 'amqp-connection') return () => conn.closeWith(error)
    if (fault === 'amqp-session') {
      const sessions = new Set<RheaSession>()
      for (const set of this.links.values()) for (const link of set) sessions.add(link.session)
      if (sessions.size === 0) return undefined
      return () => this.#endSessions(sessions, error)
    }
    const links: AmqpLink[] =
      fault === 'amqp-cbs-request'
        ? [...conn.cbsRequests]
        : fault === 'amqp-cbs-response'
          ? [...conn.cbsReplies.values()]
          : (FAULT_LINK_KINDS[fault] ?? []).flatMap((kind) => [...(this.links.get(kind) ?? [])])
    if (links.length === 0) return undefined
    return () => {
      for (const link of links) link.close(error)
    }
  }

  /**
   * Ends AMQP sessions with `error`; the identity's session ends with them, and so does that of
   * every other identity with a link on them (a gateway's devices multiplexed on one session).
   * rhea raises no link close for the links of an ended session, so the connection forgets
   * them here.
   */
  #endSessions(sessions: ReadonlySet<RheaSession>, error: { condition: string; description: string }): void {
    const conn = this.#conn
    for (const link of [...conn.links]) if (sessions.has(link.session)) conn.links.delete(link)
    for (const link of [...conn.cbsRequests]) if (sessions.has(link.session)) conn.cbsRequests.delete(link)
    for (const [name, link] of [...conn.cbsReplies])
      if (sessions.has(link.session)) conn.cbsReplies.delete(name)
    for (const session of sessions) session.close(error)
    for (const { link, session } of [...conn.devices.values()]) {
      if (link === this || !link.#uses(sessions)) continue
      session.closeReason ??= 'the AMQP session it shared with a faulted identity was ended'
      link.#end()
    }
    this.#end()
  }

  /** Whether one of the identity's links is on one of `sessions`. */
  #uses(sessions: ReadonlySet<RheaSession>): boolean {
    for (const set of this.links.values()) for (const link of set) if (sessions.has(link.session)) return true
    return false
  }

  /** The identity's session is over (once). */
  #end(): void {
    if (this.#closed) return
    this.#closed = true
    this.onClose()
  }

  close(): void {
    if (this.#closed) return
    const reason = this.closeReason() ?? 'closed by the hub'
    const error = { condition: conditionOf(reason), description: `The hub ended the session: ${reason}.` }
    const others = [...this.#conn.devices.values()].some((d) => d.link !== this)
    const services = [...this.#conn.serviceLinks.values()].some((s) => s.size > 0)
    if (!others && !services) {
      this.#conn.closeWith(error)
    } else {
      for (const set of this.links.values()) for (const link of set) link.close(error)
    }
    this.#end()
  }
}
