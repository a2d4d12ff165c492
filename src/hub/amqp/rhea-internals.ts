/**
 * What the hub uses of rhea beyond its typings, in one place: a server `Connection` accepts a
 * socket the hub already has (TLS, plain TCP on the loopback development port, or a WebSocket
 * stream from the HTTPS listener) with `accept(socket)`, which rhea's own `listen` and
 * `websocket_accept` call but its typings do not declare. A rhea without it fails loudly here,
 * at the first connection, instead of somewhere inside.
 *
 * @module
 */
import type { Duplex } from 'node:stream'
import type { Connection } from 'rhea'

/** The part of a rhea server connection that takes a socket. */
interface Accepting {
  accept(socket: Duplex): unknown
}

function isAccepting(connection: object): connection is Accepting {
  return typeof Reflect.get(connection, 'accept') === 'function'
}

/**
 * Hands `socket` to a rhea connection created with `container.create_connection()`: it speaks
 * the server side of AMQP (and SASL) on it from now on.
 *
 * @throws {Error} when this rhea has no `Connection.accept` (a rhea the hub was not written for).
 */
export function acceptSocket(connection: Connection, socket: Duplex): void {
  if (!isAccepting(connection))
    throw new Error('This rhea has no Connection.accept: the hub cannot serve AMQP with it.')
  connection.accept(socket)
}
