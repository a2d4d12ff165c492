/**
 * The hub's event stream: every connect, refusal, subscription, message, twin change, method
 * call and close, as the log line, the `--json` NDJSON line and the SSE `data:` are made of.
 * Events never carry a password, key or token but `ready` (the ready document, with the
 * connection strings it exists to give): {@link HubEvents.publish} redacts every `sig=` and
 * `SharedAccessKey=` value in every string of the others, whatever field a client put it in, and
 * the SSE stream (`GET /_emulator/events`) never sends `ready`.
 *
 * `publish` is synchronous, so a sink that writes somewhere slow must decide what happens when it
 * falls behind. A sink that must not lose an event (the CLI's stdout log, an iterator) says so
 * with {@link HubEvents.behind} and {@link HubEvents.caughtUp}: meanwhile the hub reads no
 * device socket (ingress-gate.ts). A sink that may lose events (SSE, event-sinks.ts) drops them
 * over its bound and says how many.
 *
 * @module
 */
import { EventEmitter } from 'node:events'
import { IngressGate } from './mqtt/ingress-gate.js'
import { redactDeep } from './redact.js'
import type { HubEvent, HubEventInput } from './event-types.js'

// the types live in event-types.ts (types alone, for the console page); modules that import them from here keep working
export type { HubEvent, HubEventInput, HubEventName, HubEventOf } from './event-types.js'

/**
 * Events an iterator may hold unread before the hub stops reading device sockets for it (it
 * resumes when the iterator has taken them all).
 */
export const ITERATOR_QUEUE_EVENTS = 1024

/**
 * An EventEmitter of `'event'` ({@link HubEvent}) that is also an async iterable: each
 * iterator sees the events from the moment it was made (no replay) until `break` or hub close.
 * An iterator loses nothing: when it holds 1,024 events unread, the hub stops
 * reading device sockets until it has taken them (so end one you stop reading, with `break`).
 */
export class HubEvents extends EventEmitter implements AsyncIterable<HubEvent> {
  readonly #now: () => number
  #closed = false
  #reporting = false
  /**
   * Held while a sink that must not lose events is behind; the broker reads devices through it.
   *
   * @internal
   */
  readonly ingress = new IngressGate()

  constructor(now: () => number) {
    super()
    this.setMaxListeners(0)
    this.#now = now
  }

  /**
   * Stamps and emits an event, with anything shaped like a SAS token's signature or a
   * connection string's key redacted (but in `ready`, whose connection strings are its point). A
   * listener that throws is reported in a `warning` event to the others, and never reaches the
   * code that published (a timer, a socket handler): the hub goes on.
   */
  publish(input: HubEventInput): HubEvent {
    // `ready` is the one event that carries keys (the documented connection strings): it goes to
    // `onEvent` and the SSE stream leaves it out (event-sinks.ts)
    const kept = input.event === 'ready' ? input : redactDeep(input, { credentials: true })
    const event: HubEvent = { ...kept, time: new Date(this.#now()).toISOString() }
    for (const listener of this.rawListeners('event')) {
      try {
        ;(listener as (e: HubEvent) => void)(event)
      } catch (err) {
        if (this.#reporting) continue
        this.#reporting = true
        this.publish({
          event: 'warning',
          message: `An event listener threw on a ${event.event} event (${err instanceof Error ? err.message : String(err)}); the hub goes on.`,
        })
        this.#reporting = false
      }
    }
    return event
  }

  /**
   * A sink (any object, its identity) is behind: the hub stops reading device sockets until
   * every sink that said so has called {@link HubEvents.caughtUp}. Events published meanwhile
   * (from packets already read, or REST calls) still reach every listener.
   */
  behind(sink: object): void {
    this.ingress.hold(sink)
  }

  /** A sink caught up (see {@link HubEvents.behind}). */
  caughtUp(sink: object): void {
    this.ingress.release(sink)
  }

  /** Ends every iterator. */
  end(): void {
    this.#closed = true
    this.emit('end')
  }

  /** An iterator of the events published from now on; it ends at `break` or {@link HubEvents.end}. */
  [Symbol.asyncIterator](): AsyncIterator<HubEvent> {
    const queue: HubEvent[] = []
    let wake: (() => void) | undefined
    let done = this.#closed
    const sink = {}
    const onEvent = (e: HubEvent): void => {
      queue.push(e)
      if (queue.length === ITERATOR_QUEUE_EVENTS) this.ingress.hold(sink)
      wake?.()
    }
    const onEnd = (): void => {
      done = true
      wake?.()
    }
    this.on('event', onEvent)
    this.on('end', onEnd)
    const stop = (): void => {
      done = true
      this.off('event', onEvent)
      this.off('end', onEnd)
      this.ingress.release(sink)
    }
    return {
      next: async (): Promise<IteratorResult<HubEvent>> => {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
        const value = queue.shift()
        if (queue.length === 0) this.ingress.release(sink)
        if (value !== undefined) return { value, done: false }
        stop()
        return { value: undefined, done: true }
      },
      return: async (): Promise<IteratorResult<HubEvent>> => {
        stop()
        return { value: undefined, done: true }
      },
    }
  }
}
