/**
 * Warnings about what arrives at a listener unasked (a failed TLS handshake, a WebSocket upgrade
 * for another protocol, an AMQP client), published so a storm of them does not flood the log:
 * the first of a kind is published at once; the ones after it within the window are counted,
 * and one warning at the window's end says how many came (then the next window starts).
 *
 * @module
 */
import type { HubEvents } from '../events.js'

/** How long, ms, warnings of one kind are counted after one is published. */
export const WARNING_WINDOW_MS = 10_000

/** A `warning` event's fields (its `event` aside). */
export interface ListenerWarning {
  /** What happened, what came and what the hub serves instead. */
  message: string
  /** The listener it arrived at: `mqtt`, `https` or `amqp`. */
  listener?: string
  /** The port it arrived at. */
  port?: number
  /** The protocol that came. */
  protocol?: string
  /** The request path, for HTTP. */
  path?: string
  /** The request method, for HTTP. */
  method?: string
}

interface Window {
  timer: NodeJS.Timeout
  count: number
  again: (count: number) => ListenerWarning
}

/** Publishes `warning` events, one per kind at most once per {@link WARNING_WINDOW_MS}, with counts. */
export class WarningThrottle {
  readonly #events: HubEvents
  readonly #windowMs: number
  readonly #windows = new Map<string, Window>()

  /**
   * @param windowMs How long warnings of one kind are counted after one; default {@link WARNING_WINDOW_MS}.
   */
  constructor(events: HubEvents, windowMs: number = WARNING_WINDOW_MS) {
    this.#events = events
    this.#windowMs = windowMs
  }

  /**
   * Publishes `warning` now when none of this `kind` was within the window; else counts it, and
   * `again(count)` is the warning published at the window's end.
   */
  report(kind: string, warning: ListenerWarning, again: (count: number) => ListenerWarning): void {
    const open = this.#windows.get(kind)
    if (open !== undefined) {
      open.count++
      open.again = again
      return
    }
    this.#events.publish({ event: 'warning', ...warning })
    this.#open(kind, again)
  }

  #open(kind: string, again: (count: number) => ListenerWarning): void {
    const window: Window = {
      count: 0,
      again,
      timer: setTimeout(() => {
        this.#windows.delete(kind)
        if (window.count === 0) return
        this.#events.publish({ event: 'warning', ...window.again(window.count) })
        this.#open(kind, window.again)
      }, this.#windowMs),
    }
    window.timer.unref()
    this.#windows.set(kind, window)
  }

  /** Stops every window's timer (what was counted and not yet published is dropped). */
  close(): void {
    for (const window of this.#windows.values()) clearTimeout(window.timer)
    this.#windows.clear()
  }
}
