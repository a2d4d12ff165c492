/**
 * A bound on what the hub queues for one connection: every packet the broker sends (twin
 * responses, C2D, desired patches, method requests, PUBACKs, SUBACKs…) is written to the
 * connection's stream, and what the peer does not read stays buffered there. A device that sends
 * requests and never reads its socket would grow the hub without limit, so once more than the
 * bound waits unsent (`writableLength`) the connection is closed and the caller says why.
 *
 * @module
 */
import type { Duplex } from 'node:stream'

/** The default bound on a connection's unsent bytes: 4 MiB. */
export const DEFAULT_MAX_OUTBOUND_BYTES = 4 * 1024 * 1024

/**
 * Watches every write to `conn`; when more than `maxBytes` wait unsent, calls `over` once with
 * that amount, drops what is written after, and destroys the stream (on the next turn, so the
 * write in progress finishes).
 *
 * @throws Never.
 */
export function limitOutbound(conn: Duplex, maxBytes: number, over: (buffered: number) => void): void {
  const write = conn.write
  let tripped = false
  // one place every outgoing byte passes: the stream's own write, wrapped for this connection
  conn.write = function boundedWrite(this: Duplex, ...args: unknown[]): boolean {
    if (tripped) return false
    const ok: unknown = Reflect.apply(write, this, args)
    if (this.writableLength > maxBytes) {
      tripped = true
      const buffered = this.writableLength
      setImmediate(() => {
        try {
          over(buffered)
        } finally {
          this.destroy()
        }
      })
    }
    return ok === true
  }
}
