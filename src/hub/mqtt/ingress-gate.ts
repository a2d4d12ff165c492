/**
 * Backpressure from the event sinks that must not lose an event (the CLI's stdout log, an
 * `for await` iterator of `hub.events`) to the device sockets. A sink that falls behind says so
 * with {@link IngressGate.hold}; while any sink is held, the broker reads no device connection
 * (MQTT/TLS, MQTT over WebSocket, new connections too): the packets already read are handled, so
 * nothing is lost and nothing new is acknowledged, and TCP flow control slows the devices. When
 * the last sink calls {@link IngressGate.release}, reading resumes.
 *
 * @module
 */
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'
import { batchReader } from './aedes-internals.js'

/** Who is behind (sinks), and what waits for every one of them to catch up. */
export class IngressGate {
  readonly #held = new Set<object>()
  #waiting: Array<() => void> = []

  /** Whether device input is read now (no sink is behind). */
  get open(): boolean {
    return this.#held.size === 0
  }

  /** A sink is behind: device input stops until it (and every other) calls {@link release}. */
  hold(sink: object): void {
    this.#held.add(sink)
  }

  /** A sink caught up; when none is behind, what was waiting runs (in order). */
  release(sink: object): void {
    if (!this.#held.delete(sink) || this.#held.size > 0) return
    const waiting = this.#waiting
    this.#waiting = []
    for (const run of waiting) run()
  }

  /** Runs `run` now when open, else when the last sink catches up. */
  whenOpen(run: () => void): void {
    if (this.open) run()
    else this.#waiting.push(run)
  }
}

/**
 * Puts an aedes connection's read loop behind the gate. aedes reads its stream in batches: on
 * `readable`, and each time every packet of the batch is handled, it calls `_nextBatch`, which
 * counts down and reads the next batch. While the gate is held those calls are counted and
 * replayed when it opens, so the stream's buffer fills, the socket stops reading and the kernel's
 * window closes on the device. `_nextBatch` is aedes' own, not its API (aedes-internals.ts);
 * `false` says it is gone (an aedes upgrade), so the caller can say so.
 */
export function gateReads(client: Client, conn: Duplex, gate: IngressGate): boolean {
  const reader = batchReader(client)
  if (reader === undefined) return false
  const { next } = reader
  let deferred = 0
  const replay = (): void => {
    const n = deferred
    deferred = 0
    for (let i = 0; i < n; i++) gated()
  }
  // aedes calls it with nothing, `null` or an error; only an error passes a held gate
  const gated = (err?: Error | null): void => {
    if (err || gate.open) {
      next(err)
      return
    }
    deferred += 1
    if (deferred === 1) gate.whenOpen(replay)
  }
  reader.replace(gated)
  conn.off('readable', next)
  conn.on('readable', gated)
  return true
}
