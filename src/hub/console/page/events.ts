/**
 * The live event stream: `GET /api/_emulator/events` read as server-sent events through
 * `fetch`, because `EventSource` cannot send the access token in a header. The stream starts
 * now (the hub replays nothing); on a drop it reconnects with a growing pause.
 *
 * @module
 */

import type { HubEvent } from '../../event-types.js'
import { authHeaders } from './api.js'

// one hub event as the hub's log and SSE stream carry it; every string in it is device-influenced
export type { HubEvent } from '../../event-types.js'

/** What the stream tells its owner besides events. */
export type StreamState = 'connecting' | 'live' | 'down' | 'unauthorized'

/** An event of the page's own hub: a named, timed object is trusted to be one. */
function isHubEvent(value: unknown): value is HubEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    'event' in value &&
    typeof value.event === 'string' &&
    'time' in value &&
    typeof value.time === 'string'
  )
}

/** Parses one SSE frame's `data:` lines into an event, or `undefined` when it is not one. */
export function parseFrame(frame: string): HubEvent | undefined {
  const data = frame
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
    .join('\n')
  if (data === '') return undefined
  try {
    const value: unknown = JSON.parse(data)
    if (isHubEvent(value)) return value
  } catch {
    // a malformed frame is skipped; the next one may be fine
  }
  return undefined
}

/** Opens the stream and keeps it open; `stop()` ends it for good. */
export function openEvents(
  onEvent: (event: HubEvent) => void,
  onState: (state: StreamState) => void,
): { stop(): void } {
  let stopped = false
  let controller = new AbortController()
  let pause = 500

  async function once(): Promise<void> {
    onState('connecting')
    const res = await fetch('/api/_emulator/events', {
      headers: { ...authHeaders(), accept: 'text/event-stream' },
      signal: controller.signal,
      cache: 'no-store',
    })
    if (res.status === 401) {
      onState('unauthorized')
      stopped = true
      return
    }
    if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}`)
    onState('live')
    pause = 500
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value.replace(/\r\n?/g, '\n')
      let end = buffer.indexOf('\n\n')
      while (end !== -1) {
        const event = parseFrame(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
        if (event) onEvent(event)
        end = buffer.indexOf('\n\n')
      }
    }
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      try {
        await once()
      } catch {
        // dropped or refused: reconnect below
      }
      if (stopped) break
      onState('down')
      await new Promise((resolve) => setTimeout(resolve, pause))
      pause = Math.min(pause * 2, 10_000)
      controller = new AbortController()
    }
  }
  void loop()
  return {
    stop() {
      stopped = true
      controller.abort()
    },
  }
}
