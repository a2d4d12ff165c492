/**
 * Watches the MQTT framing of what a client sends and reports a packet whose declared length
 * is over a limit as soon as its fixed header arrives, so the hub closes the connection before
 * buffering the body (a device could otherwise declare up to 256 MB). It also reads the topic
 * names and filters of PUBLISH, SUBSCRIBE and UNSUBSCRIBE and reports one that contains U+0000,
 * which MQTT 3.1.1 (§1.5.3, §4.7.3) forbids. It only observes: the bytes still flow to the broker
 * unchanged.
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
  /** The current packet's type (the fixed header's high nibble). */
  #type = 0
  /** The current packet's body length. */
  #bodyLength = 0
  /** The leading body bytes kept to read topics, and how many are wanted. */
  #head: Buffer[] = []
  #headBytes = 0
  #want = 0

  /** Why the last `feed` stopped the connection other than for size, such as a U+0000 topic. */
  refusal: string | undefined

  constructor(limit: number) {
    this.#limit = limit
  }

  /** Feeds a chunk; returns the declared size of an oversized packet, or `undefined`. */
  feed(chunk: Buffer): number | undefined {
    let i = 0
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i)
        let kept = 0
        while (this.#headBytes < this.#want && kept < n) {
          const piece = chunk.subarray(i + kept, i + Math.min(n, kept + this.#want - this.#headBytes))
          this.#head.push(piece)
          this.#headBytes += piece.length
          kept += piece.length
          if (this.#headBytes >= this.#want && this.#inspect()) return undefined
        }
        this.#skip -= n
        i += n
        continue
      }
      const byte = chunk[i] ?? 0
      i++
      if (this.#state === 0) {
        this.#type = byte >> 4
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
      this.#bodyLength = this.#length
      this.#head = []
      this.#headBytes = 0
      // PUBLISH: the 2-byte topic length first; SUBSCRIBE/UNSUBSCRIBE: the whole (small) body
      this.#want =
        this.#type === 3
          ? Math.min(2, this.#length)
          : this.#type === 8 || this.#type === 10
            ? this.#length
            : 0
    }
    return undefined
  }

  /**
   * Reads the topics once the wanted bytes are kept (for PUBLISH, first its topic's length, then
   * asks for the topic); `true` (and `refusal` set) when one contains U+0000.
   */
  #inspect(): boolean {
    const head = this.#head.length === 1 ? (this.#head[0] ?? Buffer.alloc(0)) : Buffer.concat(this.#head)
    this.#head = [head]
    const topics: Buffer[] = []
    if (this.#type === 3) {
      if (head.length < 2) return false
      const want = Math.min(this.#bodyLength, 2 + head.readUInt16BE(0))
      if (head.length < want) {
        this.#want = want
        return false
      }
      this.#want = 0
      topics.push(head.subarray(2, want))
    } else {
      this.#want = 0
      let at = 2
      while (at + 2 <= head.length) {
        const length = head.readUInt16BE(at)
        topics.push(head.subarray(at + 2, at + 2 + length))
        at += 2 + length + (this.#type === 8 ? 1 : 0)
      }
    }
    if (!topics.some((t) => t.includes(0))) return false
    this.refusal = `a topic ${this.#type === 3 ? 'name' : 'filter'} contains U+0000, which MQTT 3.1.1 forbids`
    return true
  }
}
