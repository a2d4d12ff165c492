/**
 * The owner of every device's cloud-to-device queue, protocol-neutral: IoT Hub's C2D lifecycle
 * (learn: iot-hub-devguide-messages-c2d). A message is *Enqueued*; delivering it to a device
 * link locks it (*Invisible*, 1 minute) and counts a delivery; the device completes it
 * (feedback `Success`, gone from the queue), rejects it (`Rejected`) or abandons it (back to
 * Enqueued, its count kept). A lost link or an expired lock abandons what it held. A message
 * abandoned after the max delivery count (default 10) is dead-lettered
 * (`DeliveryCountExceeded`); one past its expiry time (default 1 hour after it was enqueued, or
 * its `expiryTimeUtc`) is dead-lettered as `Expired` instead of delivered. Queued messages and
 * their delivery counts live in the hub state (`devices.{id}.c2d`); locks do not (a restart is
 * a lost link). A transport without a link (HTTPS) pulls instead: {@link C2dQueue.lockNext}
 * locks the oldest Enqueued message for it, and its answer ends the lock the same way. Each
 * change is a `c2d` event. A finished message whose `ack` asks for it
 * (`c2d-feedback.ts`: `positive`, `negative`, `full`) leaves a feedback record with the hub's
 * feedback owner, {@link C2dQueue.feedback}, from which a feedback receiver takes it.
 *
 * A protocol adapter implements a {@link C2dLink} (MQTT: PUBACK completes; a QoS 0 subscription
 * completes on delivery) and calls {@link C2dQueue.complete}, {@link C2dQueue.reject} and
 * {@link C2dQueue.abandon} with the lock token it was given.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { HubC2dEvent } from '../event-types.js'
import type { HubEvents } from '../events.js'
import { positiveInteger } from '../option-checks.js'
import { C2dFeedbackQueue, wantsFeedback } from './c2d-feedback.js'
import type { C2dFeedbackCode, C2dFeedbackOptions } from './c2d-feedback.js'
import type { DeviceEntry, QueuedC2d } from './registry.js'
import type { StateStore } from './state-store.js'

/** How the queue behaves (IoT Hub's defaults; smaller values for tests). */
export interface C2dQueueOptions {
  /** How long a delivered message stays locked without an answer, ms; default 60 000. */
  lockMs?: number
  /** Deliveries before an abandoned message is dead-lettered; default 10. */
  maxDeliveryCount?: number
  /** Time to live of a message without `expiryTimeUtc`, ms; default 1 hour. */
  defaultTtlMs?: number
  /** How the feedback queue behaves (`c2d-feedback.ts`). */
  feedback?: C2dFeedbackOptions
}

/** What a protocol adapter gives the queue to reach a connected device. */
export interface C2dLink {
  /**
   * Hands a message to the device under `lockToken`. Answers `'completed'` when the transport
   * counts delivery as completion (MQTT at QoS 0), else `'locked'` (an answer comes later).
   */
  send(message: QueuedC2d, lockToken: string): 'locked' | 'completed'
}

interface Lock {
  deviceId: string
  messageId: string
  /** Who holds it: the link it was sent on, or the puller that took it ({@link C2dQueue.lockNext}). */
  link: C2dLink | C2dPuller
  timer: NodeJS.Timeout
}

/**
 * A transport that pulls messages instead of holding a link (HTTPS: `GET …/messages/deviceBound`):
 * it has no connection to lose, so only an answer or the lock's expiry ends what it holds.
 */
export interface C2dPuller {
  /** The transport, for the log. */
  readonly transport: string
}

/** A message a puller locked: its lock token is what the device answers with. */
export interface PulledC2d {
  readonly message: QueuedC2d
  readonly lockToken: string
}

/** The C2D queues of a hub. */
export class C2dQueue {
  readonly #store: StateStore
  readonly #events: HubEvents
  readonly #now: () => number
  readonly #lockMs: number
  readonly #maxDeliveryCount: number
  readonly #ttlMs: number
  readonly #links = new Map<string, C2dLink>()
  readonly #locks = new Map<string, Lock>()
  /** A timer per queued message, at its expiry time (so it expires, with its feedback, unasked). */
  readonly #expiries = new Map<QueuedC2d, NodeJS.Timeout>()
  /** The feedback records of finished messages that asked for them, for the feedback receivers. */
  readonly feedback: C2dFeedbackQueue

  constructor(o: { store: StateStore; events: HubEvents; now: () => number } & C2dQueueOptions) {
    this.#store = o.store
    this.#events = o.events
    this.#now = o.now
    this.#lockMs = positiveInteger(o.lockMs, 60_000, 'c2d.lockMs')
    this.#maxDeliveryCount = positiveInteger(o.maxDeliveryCount, 10, 'c2d.maxDeliveryCount')
    this.#ttlMs = positiveInteger(o.defaultTtlMs, 60 * 60 * 1000, 'c2d.defaultTtlMs')
    this.feedback = new C2dFeedbackQueue({ now: o.now, ...o.feedback })
    // state written before delivery counts were kept: none delivered yet
    for (const entry of Object.values(o.store.state.devices))
      for (const m of entry.c2d) if (typeof m.deliveryCount !== 'number') m.deliveryCount = 0
    for (const [deviceId, entry] of Object.entries(o.store.state.devices))
      for (const m of entry.c2d) this.#armExpiry(deviceId, m)
  }

  #entry(deviceId: string): DeviceEntry | undefined {
    const devices = this.#store.state.devices
    return Object.hasOwn(devices, deviceId) ? devices[deviceId] : undefined
  }

  /** The expiry time of a message, epoch ms. */
  expiryOf(m: QueuedC2d): number {
    const given = m.properties.expiryTimeUtc
    const at = given === undefined ? Number.NaN : new Date(given).getTime()
    return Number.isFinite(at) ? at : new Date(m.enqueuedTime).getTime() + this.#ttlMs
  }

  #publish(
    deviceId: string,
    m: QueuedC2d,
    state: HubC2dEvent['state'],
    facts: Pick<HubC2dEvent, 'statusCode' | 'reason'> = {},
  ): void {
    this.#events.publish({
      event: 'c2d',
      deviceId,
      messageId: m.messageId,
      state,
      deliveryCount: m.deliveryCount,
      ...facts,
    })
  }

  #finish(
    deviceId: string,
    m: QueuedC2d,
    state: HubC2dEvent['state'],
    code: C2dFeedbackCode,
    description: string,
  ): void {
    const entry = this.#entry(deviceId)
    if (entry) {
      const i = entry.c2d.indexOf(m)
      if (i !== -1) entry.c2d.splice(i, 1)
    }
    clearTimeout(this.#expiries.get(m))
    this.#expiries.delete(m)
    this.#store.changed()
    if (wantsFeedback(m.ack, code))
      this.feedback.add({
        originalMessageId: m.messageId,
        deviceId,
        deviceGenerationId: entry?.device.generationId ?? '',
        statusCode: code,
        description,
        enqueuedTimeUtc: new Date(this.#now()).toISOString(),
      })
    this.#publish(deviceId, m, state, { statusCode: code })
  }

  #locked(deviceId: string): Set<string> {
    const ids = new Set<string>()
    for (const lock of this.#locks.values()) if (lock.deviceId === deviceId) ids.add(lock.messageId)
    return ids
  }

  /**
   * Expires a message at its expiry time, whether or not its device is connected (a message
   * locked then expires when it comes back, see {@link abandon}). Timers are capped at Node's
   * longest delay and re-armed.
   */
  #armExpiry(deviceId: string, m: QueuedC2d): void {
    clearTimeout(this.#expiries.get(m))
    const delay = Math.min(Math.max(this.expiryOf(m) - this.#now(), 0), 2 ** 31 - 1)
    const timer = setTimeout(() => {
      this.#expiries.delete(m)
      this.expire(deviceId)
      if (this.#entry(deviceId)?.c2d.includes(m) && this.expiryOf(m) > this.#now())
        this.#armExpiry(deviceId, m)
    }, delay)
    timer.unref()
    this.#expiries.set(m, timer)
  }

  /** Dead-letters the Enqueued messages of a device that are past their expiry time. */
  expire(deviceId: string): void {
    const entry = this.#entry(deviceId)
    if (entry === undefined) return
    const locked = this.#locked(deviceId)
    const now = this.#now()
    for (const m of [...entry.c2d]) {
      if (!locked.has(m.messageId) && this.expiryOf(m) <= now)
        this.#finish(deviceId, m, 'expired', 'Expired', 'Message expired')
    }
  }

  /** The messages waiting for a device (Enqueued and Invisible), after dropping the expired. */
  count(deviceId: string): number {
    this.expire(deviceId)
    return this.#entry(deviceId)?.c2d.length ?? 0
  }

  /** Adds a message to a device's queue and delivers it if a link is attached; `delivered` when it was handed over. */
  enqueue(deviceId: string, entry: DeviceEntry, message: QueuedC2d): 'queued' | 'delivered' {
    entry.c2d.push(message)
    this.#armExpiry(deviceId, message)
    this.#store.changed()
    const delivered = this.flush(deviceId).includes(message.messageId)
    if (!delivered) this.#publish(deviceId, message, 'queued')
    return delivered ? 'delivered' : 'queued'
  }

  /** Attaches the link of a connected, subscribed device and delivers its queue. */
  attach(deviceId: string, link: C2dLink): void {
    this.#links.set(deviceId, link)
    this.flush(deviceId)
  }

  /** Detaches a link (the connection is gone): what it held unanswered is abandoned. */
  detach(deviceId: string, link: C2dLink): void {
    if (this.#links.get(deviceId) === link) this.#links.delete(deviceId)
    for (const [token, lock] of [...this.#locks]) {
      if (lock.link === link) this.abandon(token, 'link lost before the device completed the message')
    }
  }

  /**
   * `true` while `lockToken` holds a message (a transport may drop a resend of a stale one), of
   * `deviceId` when given (a device answers only its own messages).
   */
  isLocked(lockToken: string, deviceId?: string): boolean {
    const lock = this.#locks.get(lockToken)
    return lock !== undefined && (deviceId === undefined || lock.deviceId === deviceId)
  }

  /** Delivers every Enqueued message of a device to its link; returns the delivered ids. */
  flush(deviceId: string): string[] {
    const link = this.#links.get(deviceId)
    const entry = this.#entry(deviceId)
    if (link === undefined || entry === undefined) return []
    this.expire(deviceId)
    const locked = this.#locked(deviceId)
    const delivered: string[] = []
    for (const m of [...entry.c2d]) {
      if (locked.has(m.messageId)) continue
      const token = this.#lock(deviceId, m, link)
      delivered.push(m.messageId)
      if (link.send(m, token) === 'completed') this.complete(token)
    }
    return delivered
  }

  /** Locks a message for a holder (Enqueued → Invisible), counts the delivery; the lock token. */
  #lock(deviceId: string, m: QueuedC2d, link: C2dLink | C2dPuller): string {
    m.deliveryCount += 1
    this.#store.changed()
    const token = randomUUID()
    const timer = setTimeout(() => {
      if (this.abandon(token, 'lock expired')) this.flush(deviceId)
    }, this.#lockMs)
    timer.unref()
    this.#locks.set(token, { deviceId, messageId: m.messageId, link, timer })
    this.#publish(deviceId, m, 'delivered')
    return token
  }

  /**
   * A puller takes the oldest Enqueued message of a device (after dropping the expired): it is
   * locked and counted as a delivery, as a link's would be, and answered with the same
   * {@link complete}, {@link reject} and {@link abandon}. `undefined` when none waits.
   */
  lockNext(deviceId: string, puller: C2dPuller): PulledC2d | undefined {
    const entry = this.#entry(deviceId)
    if (entry === undefined) return undefined
    this.expire(deviceId)
    const locked = this.#locked(deviceId)
    const message = entry.c2d.find((m) => !locked.has(m.messageId))
    return message === undefined ? undefined : { message, lockToken: this.#lock(deviceId, message, puller) }
  }

  #take(lockToken: string): { lock: Lock; message: QueuedC2d } | undefined {
    const lock = this.#locks.get(lockToken)
    if (lock === undefined) return undefined
    this.#locks.delete(lockToken)
    clearTimeout(lock.timer)
    const message = this.#entry(lock.deviceId)?.c2d.find((m) => m.messageId === lock.messageId)
    return message === undefined ? undefined : { lock, message }
  }

  /** The device completed the message: `Success`, gone. `false` for an unknown or expired lock. */
  complete(lockToken: string): boolean {
    const taken = this.#take(lockToken)
    if (taken === undefined) return false
    this.#finish(taken.lock.deviceId, taken.message, 'completed', 'Success', 'Success')
    return true
  }

  /** The device rejected the message: dead-lettered, `Rejected`. */
  reject(lockToken: string): boolean {
    const taken = this.#take(lockToken)
    if (taken === undefined) return false
    this.#finish(taken.lock.deviceId, taken.message, 'rejected', 'Rejected', 'Message rejected')
    return true
  }

  /**
   * The message goes back to Enqueued with its delivery count, or is dead-lettered
   * (`DeliveryCountExceeded`) once that reached the max delivery count.
   */
  abandon(lockToken: string, reason = 'abandoned by the device'): boolean {
    const taken = this.#take(lockToken)
    if (taken === undefined) return false
    const { lock, message } = taken
    if (message.deliveryCount >= this.#maxDeliveryCount) {
      this.#finish(
        lock.deviceId,
        message,
        'dead-lettered',
        'DeliveryCountExceeded',
        'Message delivery count exceeded',
      )
    } else {
      this.#publish(lock.deviceId, message, 'abandoned', { reason })
      // back in the queue past its expiry time: it expires now, not at the next delivery
      this.expire(lock.deviceId)
    }
    return true
  }

  /** Clears the lock timers (hub close). */
  close(): void {
    for (const lock of this.#locks.values()) clearTimeout(lock.timer)
    for (const timer of this.#expiries.values()) clearTimeout(timer)
    this.feedback.close()
  }
}
