/**
 * A bound on what one AMQP client can make the hub buffer: the hub announces a maximum frame size
 * in its `open` (rhea clients, the SDKs' among them, split larger transfers to fit), and this
 * guard reads the frame sizes on the wire (the 4-byte size each frame starts with; a protocol
 * header, `AMQP` and 4 bytes, where a SASL exchange ends) and ends the connection at the first
 * frame declared larger, before rhea would wait for all of it. rhea itself checks no size.
 *
 * @module
 */
import type { Duplex } from 'node:stream'

/** The largest frame the hub accepts (and announces), bytes. */
export const AMQP_MAX_FRAME_BYTES = 64 * 1024

/** `AMQP` as a frame size would read it: the start of a protocol header. */
const HEADER = 0x414d5150

/**
 * Watches `socket`'s input; calls `refuse` with the declared size (and stops watching) when a
 * frame is larger than `max`.
 */
export function guardFrames(socket: Duplex, max: number, refuse: (size: number) => void): void {
  let skip = 0
  const head = Buffer.alloc(4)
  let have = 0
  const watch = (chunk: Buffer | string): void => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    let i = 0
    while (i < data.length) {
      if (skip > 0) {
        const n = Math.min(skip, data.length - i)
        skip -= n
        i += n
        continue
      }
      const n = Math.min(4 - have, data.length - i)
      data.copy(head, have, i, i + n)
      have += n
      i += n
      if (have < 4) return
      have = 0
      const size = head.readUInt32BE(0)
      if (size === HEADER) {
        skip = 4
      } else if (size > max || size < 8) {
        socket.off('data', watch)
        refuse(size)
        return
      } else {
        skip = size - 4
      }
    }
  }
  socket.on('data', watch)
}
