/**
 * The two aedes internals the hub relies on, where aedes has no public hook, in this one place
 * (test/hub-aedes-internals.test.ts fails when an aedes upgrade changes them):
 *
 * - `client._parser`, the connection's MQTT packet parser (an EventEmitter of `packet`): the hub
 *   changes a SUBSCRIBE's QoS 2 to 1 there, before aedes grants it.
 * - `client._nextBatch`, the function aedes calls to read the connection's next batch of
 *   packets: the ingress gate (ingress-gate.ts) wraps it to stop reading devices.
 *
 * Each returns `undefined` when the internal is gone, so the caller can say so.
 *
 * @module
 */
import type { EventEmitter } from 'node:events'
import type { Client } from 'aedes'

interface Internals {
  _parser?: unknown
  _nextBatch?: unknown
}

function internals(client: Client): Internals {
  return client as Client & Internals
}

/** The connection's packet parser, or `undefined` when aedes has none where it used to. */
export function packetParser(client: Client): EventEmitter | undefined {
  const parser = internals(client)._parser
  return parser !== null && typeof parser === 'object' && 'prependListener' in parser
    ? (parser as EventEmitter)
    : undefined
}

/** aedes' read-the-next-batch function (the very one it listens to `readable` with), and a way to put another in its place. */
export interface BatchReader {
  readonly next: (err?: Error | null) => void
  replace(fn: (err?: Error | null) => void): void
}

/** The connection's batch reader, or `undefined` when aedes has none where it used to. */
export function batchReader(client: Client): BatchReader | undefined {
  const i = internals(client)
  const next = i._nextBatch
  if (typeof next !== 'function') return undefined
  return {
    // aedes binds it to the client and listens to the stream's `readable` with it
    next: next as (err?: Error | null) => void,
    replace(fn) {
      i._nextBatch = fn
    },
  }
}
