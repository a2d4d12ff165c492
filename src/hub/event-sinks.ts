/**
 * The SSE sink of `GET /_emulator/events`: a subscriber may lose events, never the hub its
 * memory. Each subscriber has a bounded buffer (bytes not yet taken by its socket); an event that
 * does not fit is dropped and counted, and when the subscriber has caught up (its socket drained)
 * it gets one `warning` event with the count. A subscriber that stays behind longer than its
 * stall time is disconnected, with a `warning` in the hub's log.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SasTokenError } from '../errors.js'
import type { HubEvent, HubEventOf } from './event-types.js'
import type { HubEvents } from './events.js'

/** Bounds of every SSE subscriber (`startHub({ eventStream })`). */
export interface EventStreamOptions {
  /** Bytes a subscriber may have waiting before events are dropped; default 1 MiB. */
  bufferBytes?: number
  /** Seconds a subscriber may stay behind (without catching up) before it is disconnected; default 10. */
  stallSeconds?: number
}

/** The default of {@link EventStreamOptions.bufferBytes}. */
export const DEFAULT_EVENT_STREAM_BUFFER_BYTES = 1024 * 1024
/** The default of {@link EventStreamOptions.stallSeconds}. */
export const DEFAULT_EVENT_STREAM_STALL_SECONDS = 10

const HEARTBEAT_MS = 15_000

/**
 * Checks the bounds of {@link EventStreamOptions}.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` when a bound is not a positive number.
 */
export function checkEventStreamOptions(o: EventStreamOptions): EventStreamOptions {
  for (const [name, value] of Object.entries(o)) {
    if (value !== undefined && (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value))) {
      throw new SasTokenError(
        'ERR_INVALID_OPTION',
        `eventStream.${name} must be a positive number (got ${String(value)}); leave it out for the default.`,
      )
    }
  }
  return o
}

/**
 * Streams events as server-sent events until the client goes away or falls too far behind.
 *
 * @throws Never.
 */
export function streamEvents(
  events: HubEvents,
  req: IncomingMessage,
  res: ServerResponse,
  deviceId: string | null,
  o: EventStreamOptions = {},
): void {
  const bound = o.bufferBytes ?? DEFAULT_EVENT_STREAM_BUFFER_BYTES
  const stallMs = (o.stallSeconds ?? DEFAULT_EVENT_STREAM_STALL_SECONDS) * 1000
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  })
  res.write(': sas-token hub events\n\n')
  let dropped = 0
  let stall: NodeJS.Timeout | undefined
  const send = (text: string): void => {
    // below its highWaterMark a response takes one more event whatever its size; over it, an
    // event that does not fit the bound waits for nothing: it is dropped (a drain is due)
    if (res.writableNeedDrain && res.writableLength + Buffer.byteLength(text) > bound) {
      dropped += 1
      stall ??= setTimeout(tooSlow, stallMs)
      return
    }
    res.write(text)
  }
  const onEvent = (event: HubEvent): void => {
    // `ready` holds the owner key and the devices' keys: a ServiceConnect token must not get them
    if (event.event === 'ready') return
    if (deviceId !== null && event.deviceId !== deviceId) return
    send(`data: ${JSON.stringify(event)}\n\n`)
  }
  const onDrain = (): void => {
    clearTimeout(stall)
    stall = undefined
    if (dropped === 0) return
    const warning: HubEventOf<'warning'> = {
      event: 'warning',
      time: new Date().toISOString(),
      dropped,
      message: `${dropped} events were dropped: this subscriber read more slowly than the hub published (each may have ${bound} bytes waiting).`,
    }
    dropped = 0
    res.write(`data: ${JSON.stringify(warning)}\n\n`)
  }
  const tooSlow = (): void => {
    stall = undefined
    stop()
    events.publish({
      event: 'warning',
      dropped,
      message: `An event stream (GET /_emulator/events) was disconnected: it had not caught up after ${stallMs / 1000} s (${res.writableLength} bytes waiting), and ${dropped} events were dropped. Read the stream as fast as the hub publishes, or filter it with ?deviceId=.`,
    })
    res.destroy()
  }
  // a subscriber that is behind has bytes on the way: it needs no keep-alive, and none is counted
  const heartbeat = setInterval(() => {
    if (!res.writableNeedDrain) res.write(': keep-alive\n\n')
  }, HEARTBEAT_MS)
  const stop = (): void => {
    clearInterval(heartbeat)
    clearTimeout(stall)
    events.off('event', onEvent)
    events.off('end', end)
    res.off('drain', onDrain)
  }
  const end = (): void => {
    stop()
    res.end()
  }
  events.on('event', onEvent)
  events.on('end', end)
  res.on('drain', onDrain)
  req.on('close', stop)
  res.on('close', stop)
}
