/**
 * Watches the MQTT framing of what a client sends and reports a packet whose declared length
 * is over a limit as soon as its fixed header arrives, so the hub closes the connection before
 * buffering the body (a device could otherwise declare up to 256 MB). It only observes: the
 * bytes still flow to the broker unchanged.
 *
 * @module
 */

/** Tracks packet boundaries across chunks. */
export class PacketSizeGuard {
  readonly #limit: number
  /** Bytes of the current packet body still to skip. */
  #skip = 0
  /** 0: expecting a fixed-header byte; 1: reading the remaining-length varint. */
  #state: 0 | 1 = 0
  #length = 0
  #multiplier = 1

  constructor(limit: number) {
    this.#limit = limit
  }

  /** Feeds a chunk; returns the declared size of an oversized packet, or `undefined`. */
  feed(chunk: Buffer): number | undefined {
    let i = 0
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i)
        this.#skip -= n
        i += n
        continue
      }
      const byte = chunk[i] ?? 0
      i++
      if (this.#state === 0) {
        this.#state = 1
        this.#length = 0
        this.#multiplier = 1
        continue
      }
      this.#length += (byte & 0x7f) * this.#multiplier
      this.#multiplier *= 128
      if (byte & 0x80) {
        if (this.#multiplier > 128 ** 4) return Number.POSITIVE_INFINITY // a malformed length
        continue
      }
      if (this.#length > this.#limit) return this.#length
      this.#skip = this.#length
      this.#state = 0
    }
    return undefined
  }
}
