/**
 * The hub's event stream: every connect, refusal, subscription, message, twin change, method
 * call and close, as the log line, the `--json` NDJSON line and the SSE `data:` are made of.
 * Events never carry a password, key or token: {@link HubEvents.publish} redacts every `sig=`
 * value in every string of an event, whatever field a client put a token in.
 *
 * @module
 */
import { EventEmitter } from 'node:events'
import { redactDeep } from './redact.js'

/** The names of the events the hub emits. */
export type HubEventName =
  | 'ready'
  | 'connect'
  | 'refuse'
  | 'disconnect'
  | 'close'
  | 'subscribe'
  | 'unsubscribe'
  | 'telemetry'
  | 'twin-get'
  | 'twin-reported'
  | 'twin-desired'
  | 'method'
  | 'c2d'
  | 'dps-register'
  | 'registry'
  | 'warning'

/** What a caller gives to {@link HubEvents.publish}: an event without its time. */
export interface HubEventInput {
  /** The event's name. */
  event: HubEventName
  /** The device the event is about, if any. */
  deviceId?: string
  /** The module the event is about, if any (with its `deviceId`). */
  moduleId?: string
  /** The event's other facts (never a password, key or token). */
  [fact: string]: unknown
}

/** One event: its name, an ISO 8601 time, the identity it is about, and its facts. */
export interface HubEvent extends HubEventInput {
  /** When it was published, ISO 8601 (from the hub's clock). */
  time: string
}

/**
 * An EventEmitter of `'event'` ({@link HubEvent}) that is also an async iterable: each
 * iterator sees the events from the moment it was made (no replay) until `break` or hub close.
 */
export class HubEvents extends EventEmitter implements AsyncIterable<HubEvent> {
  readonly #now: () => number
  #closed = false

  constructor(now: () => number) {
    super()
    this.setMaxListeners(0)
    this.#now = now
  }

  /** Stamps and emits an event, with anything shaped like a SAS token's signature redacted. */
  publish(input: HubEventInput): HubEvent {
    const event: HubEvent = { ...redactDeep(input), time: new Date(this.#now()).toISOString() }
    this.emit('event', event)
    return event
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
    const onEvent = (e: HubEvent): void => {
      queue.push(e)
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
    }
    return {
      next: async (): Promise<IteratorResult<HubEvent>> => {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
        const value = queue.shift()
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
