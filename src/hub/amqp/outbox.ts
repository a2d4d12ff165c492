/**
 * Messages the hub sends on one of a client's receiver links (twin answers and desired patches,
 * method requests, module inputs): sent in order within the credit the client gave, the rest
 * waiting until it flows more (rhea's `send` does not wait for credit by itself). At most
 * {@link MAX_WAITING} wait: past that the oldest is dropped, and the caller is told.
 *
 * @module
 */
import type { Message, Sender } from 'rhea'
import type { AmqpDeviceLink } from './amqp-link.js'
import type { AmqpLink } from './context.js'

/** How many messages may wait for credit on one link. */
export const MAX_WAITING = 1000

const outboxes = new WeakMap<Sender, Outbox>()

/** The waiting messages of one link. */
export class Outbox {
  readonly #sender: Sender
  readonly #waiting: Message[] = []

  private constructor(sender: Sender) {
    this.#sender = sender
    sender.on('sendable', () => this.#drain())
  }

  /** The outbox of `sender` (one per link). */
  static of(sender: Sender): Outbox {
    let outbox = outboxes.get(sender)
    if (outbox === undefined) {
      outbox = new Outbox(sender)
      outboxes.set(sender, outbox)
    }
    return outbox
  }

  /**
   * Sends `message` now, or once the client gives credit.
   *
   * @returns `false` when the oldest waiting message had to be dropped to make room.
   */
  send(message: Message): boolean {
    this.#waiting.push(message)
    const full = this.#waiting.length > MAX_WAITING
    if (full) this.#waiting.shift()
    this.#drain()
    return !full
  }

  #drain(): void {
    while (this.#sender.is_open() && this.#sender.sendable() && this.#waiting.length > 0) {
      const next = this.#waiting.shift()
      if (next !== undefined) this.#sender.send(next)
    }
  }
}

function isSender(link: AmqpLink): link is Sender {
  return link.is_sender()
}

/** The open links the hub sends on that an identity's handlers registered under `kind`. */
export function openSenders(device: AmqpDeviceLink, kind: string): Sender[] {
  return [...(device.links.get(kind) ?? [])].filter(isSender).filter((sender) => sender.is_open())
}
