/**
 * The owner of the hub's C2D delivery feedback, protocol-neutral: what a cloud-to-device message
 * asked for (`iothub-ack`) decides whether its end is recorded, and the records wait here until a
 * feedback receiver (AMQP `/messages/serviceBound/feedback`, the service SDKs'
 * `getFeedbackReceiver`) takes them in batches (learn: iot-hub-devguide-messages-c2d,
 * "Message feedback").
 *
 * The ack rules ({@link wantsFeedback}): `none` (the default) records nothing; `positive` records
 * `Success`; `negative` records `Expired`, `DeliveryCountExceeded` and `Rejected` (the message
 * reached the dead-letter state); `full` records all four.
 *
 * Delivery: IoT Hub's feedback queue is a queue of its own, with the settings the hub's
 * `cloudToDevice.feedback` properties name (lock 1 minute, time to live 1 hour, max delivery
 * count 10), and competing receivers. Here:
 * - Records produced in one turn of the event loop, and every record waiting while no receiver
 *   could take one, go into one batch of at most {@link MAX_FEEDBACK_BATCH} records, handed to a
 *   receiver that is ready (AMQP: has credit). A batch holds each record once: a record is in at
 *   most one unsettled batch.
 * - The service completes a batch (the records are gone), rejects it (gone too: dead-lettered,
 *   as IoT Hub does with a rejected message), or abandons it (released, or the link is lost, or
 *   the batch lock expires): its records wait again and go out in the next batch, until a batch
 *   of them was delivered the max delivery count, when they are dropped.
 * - Records belong to the hub, not to a device: deleting a device leaves its records, as IoT
 *   Hub's feedback queue does (their `deviceGenerationId` tells a device made again under the
 *   same id apart). The messages still queued for a deleted device go with its entry
 *   (c2d-queue.ts finds none to expire, complete or abandon) and record nothing.
 * - Records are kept in memory only (a hub restart drops them, like C2D locks), at most
 *   {@link MAX_FEEDBACK} waiting or locked (the oldest waiting one makes room), each for the time
 *   to live after it was produced.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { positiveInteger } from '../option-checks.js'

/** IoT Hub's feedback status codes. */
export type C2dFeedbackCode = 'Success' | 'Expired' | 'DeliveryCountExceeded' | 'Rejected'

/** What a cloud-to-device message asks IoT Hub to report (its `iothub-ack`). */
export type C2dAck = 'none' | 'positive' | 'negative' | 'full'

/** Every {@link C2dAck}, in IoT Hub's order. */
export const C2D_ACKS: readonly C2dAck[] = ['none', 'positive', 'negative', 'full']

/** One feedback record, as IoT Hub's feedback message lists them. */
export interface C2dFeedback {
  /** The message id of the cloud-to-device message. */
  originalMessageId: string
  /** The device it was sent to. */
  deviceId: string
  /** The generation id of that device. */
  deviceGenerationId: string
  /** How the message ended. */
  statusCode: C2dFeedbackCode
  /** The status code in words. */
  description: string
  /** When the message ended, ISO 8601. */
  enqueuedTimeUtc: string
}

/** A batch of feedback records as a receiver gets it (one AMQP message). */
export interface C2dFeedbackBatch {
  /** The batch's own message id (a UUID). */
  messageId: string
  /** When the batch was made, ISO 8601 (its `iothub-enqueuedtime`). */
  enqueuedTime: string
  /** How many times this batch has been handed to a receiver, 1 the first time. */
  deliveryCount: number
  /** The records, oldest first. */
  records: readonly C2dFeedback[]
}

/** What a protocol adapter gives the feedback owner to reach a connected feedback receiver. */
export interface C2dFeedbackLink {
  /** `true` while the receiver can take a batch now (AMQP: the link has credit). */
  ready(): boolean
  /**
   * Hands a batch to the receiver under `lockToken` (only when {@link ready} said so). Answers
   * `'completed'` when the transport counts delivery as completion (a pre-settled delivery), else
   * `'locked'` (the adapter answers later with complete, reject or abandon).
   */
  send(batch: C2dFeedbackBatch, lockToken: string): 'locked' | 'completed'
}

/** How the feedback queue behaves (IoT Hub's defaults; smaller values for tests). */
export interface C2dFeedbackOptions {
  /** How long a batch handed to a receiver stays locked without an answer, ms; default 60 000. */
  lockMs?: number
  /** Deliveries of a record before it is dropped unanswered; default 10. */
  maxDeliveryCount?: number
  /** How long a record waits for a receiver, ms; default 1 hour. */
  ttlMs?: number
}

/** At most this many feedback records are kept (waiting or locked); the oldest waiting one goes first. */
export const MAX_FEEDBACK = 1000

/** A feedback batch holds at most this many records. */
export const MAX_FEEDBACK_BATCH = 100

/**
 * Does a message that asked for `ack` get a feedback record when it ends with `code`?
 * (`undefined`: the message asked for nothing, IoT Hub's default `none`.)
 */
export function wantsFeedback(ack: C2dAck | undefined, code: C2dFeedbackCode): boolean {
  switch (ack) {
    case 'full':
      return true
    case 'positive':
      return code === 'Success'
    case 'negative':
      return code !== 'Success'
    default:
      return false
  }
}

interface Waiting {
  record: C2dFeedback
  /** When it was produced, epoch ms (for the time to live). */
  at: number
  /** How many batches it was in. */
  deliveries: number
}

interface Lock {
  link: C2dFeedbackLink
  items: Waiting[]
  timer: NodeJS.Timeout
}

/** The feedback records of a hub and the receivers they go to. */
export class C2dFeedbackQueue {
  readonly #now: () => number
  readonly #lockMs: number
  readonly #maxDeliveryCount: number
  readonly #ttlMs: number
  readonly #links = new Set<C2dFeedbackLink>()
  readonly #locks = new Map<string, Lock>()
  /** Records waiting for a batch, oldest first. */
  #waiting: Waiting[] = []
  #scheduled = false
  #closed = false

  /** @throws {SasTokenError} `ERR_INVALID_OPTION` for an option that is not a whole number, 1 or more. */
  constructor(o: { now: () => number } & C2dFeedbackOptions) {
    this.#now = o.now
    this.#lockMs = positiveInteger(o.lockMs, 60_000, 'c2d.feedback.lockMs')
    this.#maxDeliveryCount = positiveInteger(o.maxDeliveryCount, 10, 'c2d.feedback.maxDeliveryCount')
    this.#ttlMs = positiveInteger(o.ttlMs, 60 * 60 * 1000, 'c2d.feedback.ttlMs')
  }

  /** The records waiting for a batch (not in an unsettled one), oldest first. */
  get waiting(): readonly C2dFeedback[] {
    this.#dropExpired()
    return this.#waiting.map((w) => w.record)
  }

  /** How many records are kept: waiting, and in batches not yet settled. */
  get size(): number {
    let n = this.#waiting.length
    for (const lock of this.#locks.values()) n += lock.items.length
    return n
  }

  /** Records how a message ended; it goes out with the next batch. */
  add(record: C2dFeedback): void {
    this.#waiting.push({ record, at: this.#now(), deliveries: 0 })
    while (this.size > MAX_FEEDBACK && this.#waiting.length > 0) this.#waiting.shift()
    this.#schedule()
  }

  /** Attaches a feedback receiver; what waits goes to it once it is ready. */
  attach(link: C2dFeedbackLink): void {
    this.#links.add(link)
    this.#schedule()
  }

  /** Detaches a receiver (its link is gone): the batches it held unsettled are abandoned. */
  detach(link: C2dFeedbackLink): void {
    this.#links.delete(link)
    for (const [token, lock] of [...this.#locks]) if (lock.link === link) this.abandon(token)
  }

  /** Hands what waits to the ready receivers now (an adapter calls it when a receiver gets credit). */
  flush(): void {
    this.#scheduled = false
    if (this.#closed) return
    this.#dropExpired()
    for (const link of this.#links) {
      while (this.#waiting.length > 0 && this.#links.has(link) && link.ready()) {
        const items = this.#waiting.splice(0, MAX_FEEDBACK_BATCH)
        let deliveryCount = 0
        for (const item of items) {
          item.deliveries += 1
          deliveryCount = Math.max(deliveryCount, item.deliveries)
        }
        const token = randomUUID()
        const timer = setTimeout(() => this.abandon(token), this.#lockMs)
        timer.unref()
        this.#locks.set(token, { link, items, timer })
        const batch: C2dFeedbackBatch = {
          messageId: randomUUID(),
          enqueuedTime: new Date(this.#now()).toISOString(),
          deliveryCount,
          records: items.map((i) => i.record),
        }
        if (link.send(batch, token) === 'completed') this.complete(token)
      }
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed) return
    this.#scheduled = true
    setImmediate(() => this.flush())
  }

  #dropExpired(): void {
    const oldest = this.#now() - this.#ttlMs
    if (this.#waiting.some((w) => w.at <= oldest)) this.#waiting = this.#waiting.filter((w) => w.at > oldest)
  }

  #take(lockToken: string): Lock | undefined {
    const lock = this.#locks.get(lockToken)
    if (lock === undefined) return undefined
    this.#locks.delete(lockToken)
    clearTimeout(lock.timer)
    return lock
  }

  /** The receiver completed a batch: its records are gone. `false` for an unknown or expired lock. */
  complete(lockToken: string): boolean {
    return this.#take(lockToken) !== undefined
  }

  /** The receiver rejected a batch: its records are dropped (dead-lettered). */
  reject(lockToken: string): boolean {
    return this.#take(lockToken) !== undefined
  }

  /**
   * The batch was not taken (released, its link lost, its lock expired): its records wait again,
   * ahead of newer ones, except those already delivered the max delivery count, which are dropped.
   */
  abandon(lockToken: string): boolean {
    const lock = this.#take(lockToken)
    if (lock === undefined) return false
    const again = lock.items.filter((i) => i.deliveries < this.#maxDeliveryCount)
    this.#waiting = [...again, ...this.#waiting].sort((a, b) => a.at - b.at)
    this.#schedule()
    return true
  }

  /** Clears the lock timers (hub close); nothing is delivered after. */
  close(): void {
    this.#closed = true
    for (const lock of this.#locks.values()) clearTimeout(lock.timer)
  }
}
