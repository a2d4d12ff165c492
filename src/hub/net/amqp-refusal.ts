/**
 * AMQP on 5671 is not served yet, but a client that dials it must not wait minutes for a
 * timeout: this listener answers the AMQP protocol header at once, as AMQP 1.0's protocol
 * negotiation (section 2.2) lets a server refuse, and closes the connection.
 *
 * - A SASL header (`AMQP 3 1 0 0`), what every Azure SDK sends, is answered with the plain AMQP
 *   header (`AMQP 0 1 0 0`: "not SASL") and the connection is closed: nothing the client sends
 *   (its credentials) is read. rhea and `@azure/event-hubs` fail at once, with an error they do
 *   not retry (`ProtocolError: Expecting SASL layer`). Answering the SASL exchange instead would
 *   only offer failures they retry (an `auth` outcome is `UnauthorizedError`), or an `open` that
 *   they take for a connection before its `close`, and then wait on.
 * - A plain AMQP header (`AMQP 0 1 0 0`) is answered with the header, `open`, and at once `close`
 *   with `amqp:not-implemented` and a description that names what the hub serves.
 *
 * Only those few frames are encoded here (AMQP 1.0 part 2.3, and part 1's type system).
 *
 * @module
 */
import type { Duplex } from 'node:stream'

/** What the `close` frame's error says to an AMQP client. */
export const AMQP_REFUSAL =
  'AMQP is not served yet by the sas-token hub: connect devices over MQTT (port 8883) or MQTT over WebSocket (443, /$iothub/websocket); the Event Hub-compatible endpoint is not served yet either.'

const AMQP_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0])

/** Descriptor codes of the performatives written here. */
const OPEN = 0x10
const CLOSE = 0x18
const ERROR = 0x1d

/** How long a client may take to send its protocol header, ms. */
const HEADER_MS = 5_000

/** How long a refused client may take to answer the `close` with its own, ms. */
const CLOSE_MS = 1_000

/** An encoded AMQP value. */
type Encoded = Buffer

function symbol(text: string): Encoded {
  const bytes = Buffer.from(text, 'ascii')
  return Buffer.concat([Buffer.from([0xa3, bytes.length]), bytes])
}

function string(text: string): Encoded {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length < 256) return Buffer.concat([Buffer.from([0xa1, bytes.length]), bytes])
  const head = Buffer.alloc(5)
  head[0] = 0xb1
  head.writeUInt32BE(bytes.length, 1)
  return Buffer.concat([head, bytes])
}

function list(items: Encoded[]): Encoded {
  const body = Buffer.concat(items)
  if (body.length + 1 < 256 && items.length < 256)
    return Buffer.concat([Buffer.from([0xc0, body.length + 1, items.length]), body])
  const head = Buffer.alloc(9)
  head[0] = 0xd0
  head.writeUInt32BE(body.length + 4, 1)
  head.writeUInt32BE(items.length, 5)
  return Buffer.concat([head, body])
}

function described(code: number, fields: Encoded[]): Encoded {
  return Buffer.concat([Buffer.from([0x00, 0x53, code]), list(fields)])
}

/** An AMQP frame (type 0) on channel 0. */
function frame(body: Encoded): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + body.length, 0)
  head[4] = 2 // data offset, in 4-byte words
  return Buffer.concat([head, body])
}

/** The `close` that refuses: `open`, then `close` with `amqp:not-implemented` and {@link AMQP_REFUSAL}. */
export function amqpRefusal(): Buffer {
  return Buffer.concat([
    AMQP_HEADER,
    frame(described(OPEN, [string('sas-token-hub')])),
    frame(described(CLOSE, [described(ERROR, [symbol('amqp:not-implemented'), string(AMQP_REFUSAL)])])),
  ])
}

/** What happened on one refused connection. */
export type AmqpOutcome =
  /** An AMQP (or SASL) header came and was refused. */
  | 'refused'
  /** The first bytes were not an AMQP header. */
  | 'not-amqp'

/**
 * Handles one (TLS) connection on the AMQP port: answers its protocol header as described
 * above and closes; `done` is called once the header tells what the client is.
 */
export function refuseAmqp(socket: Duplex, done: (outcome: AmqpOutcome) => void): void {
  let buffer = Buffer.alloc(0)
  const timer = setTimeout(() => socket.destroy(), HEADER_MS)
  timer.unref()
  socket.on('close', () => clearTimeout(timer))
  const read = (chunk: Buffer): void => {
    buffer = Buffer.concat([buffer, chunk])
    if (buffer.length < 8) return
    socket.off('data', read)
    const head = buffer.subarray(0, 8)
    if (head.subarray(0, 4).toString('latin1') !== 'AMQP') {
      done('not-amqp')
      socket.destroy()
      return
    }
    done('refused')
    if (head[4] !== 0) {
      // SASL (3), TLS (2) or another: "this server speaks plain AMQP", and close
      socket.end(AMQP_HEADER)
      return
    }
    socket.write(amqpRefusal())
    // the client answers with its own close (rhea does): end then, or after CLOSE_MS
    const finish = (): void => {
      socket.end()
    }
    socket.once('data', finish)
    timer.refresh()
    setTimeout(finish, CLOSE_MS).unref()
  }
  socket.on('data', read)
}
