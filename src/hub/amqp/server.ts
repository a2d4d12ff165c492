/**
 * The hub's AMQP 1.0 adapter, on rhea: wiring only. Each client connection (AMQP over TLS, plain
 * AMQP on the loopback development port, or AMQP over WebSocket from the HTTPS listener) is
 * served by a rhea server connection of its own container, whose SASL layer offers ANONYMOUS
 * (then CBS, links/cbs.ts) and PLAIN (sasl.ts). A link the client attaches is matched in the
 * address table (addresses.ts), authorized by the connection's live tokens (a device link makes
 * the identity's session, device-session.ts), and handed to its handler in links/; one the hub
 * does not serve is detached with `amqp:not-found` saying what is served, one not authorized
 * with `amqp:unauthorized-access` saying which token to put; both are `warning` events. A
 * handler that throws detaches its link only.
 *
 * @module
 */
import type { Duplex } from 'node:stream'
import rhea from 'rhea'
import type { EventContext, Receiver, Sender } from 'rhea'
import type { HubService } from '../service.js'
import type { MethodCalls } from '../state/methods.js'
import { ADDRESSES, findAddress, servedAddresses } from './addresses.js'
import { audienceCovers, deviceAudience } from './audience.js'
import { AmqpConnection } from './context.js'
import type { AmqpContext, AmqpLink, AmqpProtocol } from './context.js'
import { deviceSession, endDeviceSession } from './device-session.js'
import type { AddressNeeds, AddressParams, AmqpAddress, Grant } from './link-address.js'
import { acceptSocket, socketGone } from './rhea-internals.js'
import { AMQP_MAX_FRAME_BYTES, guardFrames } from './frame-guard.js'
import { saslPlain } from './sasl.js'

/** The hub's AMQP side: hands it a connection, closes them all. */
export interface AmqpServer {
  /** Serves one client connection (TLS, plain loopback TCP, or a WebSocket stream). */
  handle(socket: Duplex, protocol: AmqpProtocol): void
  /** Closes every connection (hub close). */
  close(): void
}

/** How long a client may take from its first byte to AMQP `open` (SASL included), ms. */
export const AMQP_OPEN_TIMEOUT_MS = 30_000

/** The idle timeout the hub announces (IoT Hub's 240 s): rhea clients send heartbeats within it. */
export const AMQP_IDLE_TIMEOUT_MS = 240_000

type Refusal = { refused: string }

function hubName(hub: HubService): string {
  return hub.hostName.split('.')[0] ?? hub.hostName
}

/** What the connection's live tokens grant a link that needs `needs`, or why they do not. */
function authorizeLink(
  ctx: AmqpContext,
  conn: AmqpConnection,
  needs: AddressNeeds,
  params: AddressParams,
  link: AmqpLink,
): Grant | Refusal {
  const { hub } = ctx
  if (needs.kind === 'none') return { kind: 'none' }
  if (needs.kind === 'device') {
    const deviceId = params.deviceId ?? ''
    const moduleId = params.moduleId
    const audience = deviceAudience(hub.hostName, deviceId, moduleId)
    const authorization = conn.live(audience)
    if (authorization === undefined || authorization.kind !== 'device') {
      const user = moduleId === undefined ? deviceId : `${deviceId}/modules/${moduleId}`
      return {
        refused: `No live token for ${audience} on this connection: put one on $cbs (name ${audience}) first, or connect with SASL PLAIN as ${user}@sas.${hubName(hub)}.`,
      }
    }
    return { kind: 'device', device: deviceSession(ctx, conn, authorization) }
  }
  const needed = needs.audience?.(params, hub.hostName) ?? hub.hostName
  for (const authorization of conn.authorizations.values()) {
    if (authorization.kind === 'device' || conn.live(authorization.audience) !== authorization) continue
    if (!audienceCovers(authorization.audience, needed)) continue
    const policy = authorization.keyName === undefined ? undefined : hub.policy(authorization.keyName)
    if (policy === undefined || !needs.rights.some((r) => policy.rights.includes(r))) continue
    conn.holdServiceLink(authorization.audience, link)
    return { kind: 'service', authorization }
  }
  return {
    refused: `No live token covers ${needed} with ${needs.rights.join(' or ')} on this connection: put a token of a policy with ${needs.rights.join(' or ')} on $cbs first (or connect with SASL PLAIN as {policy}@sas.root.${hubName(hub)}).`,
  }
}

/** Echoes the client's termini, so an accepted link is attached with its address. */
function echoTermini(link: AmqpLink): void {
  if (link.source !== undefined && link.source !== null) link.set_source(link.source)
  if (link.target !== undefined && link.target !== null) link.set_target(link.target)
}

/**
 * Matches and authorizes a link the client attached as `role`; detaches it (with a warning)
 * when it is not served or not authorized.
 */
function admit(
  ctx: AmqpContext,
  conn: AmqpConnection,
  link: AmqpLink,
  role: 'sender' | 'receiver',
  table: readonly AmqpAddress[],
): { entry: AmqpAddress; params: AddressParams; grant: Grant; address: string } | undefined {
  echoTermini(link)
  const terminus = role === 'sender' ? link.target : link.source
  const address = typeof terminus?.address === 'string' ? terminus.address : ''
  const found = address === '' ? undefined : findAddress(address, role, table)
  if (found === undefined) {
    const description = `The hub serves no ${role === 'sender' ? 'address to send to' : 'address to receive from'} at ${JSON.stringify(address.slice(0, 200))}. It serves: ${servedAddresses(table)}.`
    link.close({ condition: 'amqp:not-found', description })
    ctx.warn(`Refused an AMQP link (${conn.protocol}, amqp:not-found): ${description}`)
    return undefined
  }
  const grant = authorizeLink(ctx, conn, found.entry.needs, found.params, link)
  if ('refused' in grant) {
    link.close({ condition: 'amqp:unauthorized-access', description: grant.refused })
    ctx.warn(
      `Refused an AMQP link to ${JSON.stringify(address.slice(0, 200))} (${conn.protocol}, amqp:unauthorized-access): ${grant.refused}`,
    )
    return undefined
  }
  conn.holdLink(link)
  return { ...found, grant, address }
}

function failed(ctx: AmqpContext, link: AmqpLink, entry: AmqpAddress, err: unknown): void {
  link.close({ condition: 'amqp:internal-error', description: 'The hub failed to attach this link.' })
  ctx.warn(`The AMQP attach handler of ${entry.pattern} failed: ${(err as Error)?.message ?? String(err)}`)
}

/** The client attached a sender: the hub's end is a receiver. */
function clientSender(
  ctx: AmqpContext,
  conn: AmqpConnection,
  link: Receiver,
  table: readonly AmqpAddress[],
): void {
  const admitted = admit(ctx, conn, link, 'sender', table)
  if (admitted === undefined) return
  const { entry, params, grant, address } = admitted
  if (entry.role !== 'sender') return
  try {
    entry.attach({ ctx, conn, link, address, params, grant })
  } catch (err) {
    failed(ctx, link, entry, err)
  }
}

/** The client attached a receiver: the hub's end is a sender. */
function clientReceiver(
  ctx: AmqpContext,
  conn: AmqpConnection,
  link: Sender,
  table: readonly AmqpAddress[],
): void {
  const admitted = admit(ctx, conn, link, 'receiver', table)
  if (admitted === undefined) return
  const { entry, params, grant, address } = admitted
  if (entry.role !== 'receiver') return
  try {
    entry.attach({ ctx, conn, link, address, params, grant })
  } catch (err) {
    failed(ctx, link, entry, err)
  }
}

/** The connection is gone: every session on it ends. */
function ended(ctx: AmqpContext, conn: AmqpConnection): void {
  if (conn.closed) return
  conn.dispose()
  for (const clientId of [...conn.devices.keys()]) endDeviceSession(ctx, conn, clientId)
}

/**
 * Creates the AMQP side of a hub; `table` is the address table (default: every address served).
 *
 * @throws Never.
 */
export function createAmqpServer(
  hub: HubService,
  methods: MethodCalls,
  table: readonly AmqpAddress[] = ADDRESSES,
): AmqpServer {
  const ctx: AmqpContext = {
    hub,
    methods,
    warn: (message, fields = {}) => hub.events.publish({ event: 'warning', ...fields, message }),
  }
  const live = new Set<AmqpConnection>()
  return {
    handle(socket, protocol) {
      // handlers settle and give credit themselves
      const container = rhea.create_container({
        id: `sas-token-hub-${process.pid}`,
        autoaccept: false,
        credit_window: 0,
      })
      // a server connection: rhea's typings only know client options (`port` is never dialled);
      // without options rhea would read a client connect configuration from the environment
      const connection = container.create_connection({
        port: 0,
        idle_time_out: AMQP_IDLE_TIMEOUT_MS,
        max_frame_size: AMQP_MAX_FRAME_BYTES,
        reconnect: false,
      })
      const conn = new AmqpConnection(protocol, connection, socket, hub.now)
      container.sasl_server_mechanisms.enable_anonymous()
      container.sasl_server_mechanisms.enable_plain((username: unknown, password: unknown): boolean => {
        try {
          return saslPlain(ctx, conn, String(username ?? ''), String(password ?? ''))
        } catch (err) {
          ctx.warn(`The SASL PLAIN check failed: ${(err as Error)?.message ?? String(err)}`)
          return false
        }
      })
      const opening = setTimeout(() => {
        if (!connection.is_open()) socket.destroy()
      }, AMQP_OPEN_TIMEOUT_MS)
      opening.unref()
      const guard =
        <C>(what: string, run: (context: C) => void) =>
        (context: C): void => {
          try {
            run(context)
          } catch (err) {
            ctx.warn(`The AMQP ${what} handler failed: ${(err as Error)?.message ?? String(err)}`)
          }
        }
      connection.on(
        'connection_open',
        guard('open', () => clearTimeout(opening)),
      )
      connection.on(
        'receiver_open',
        guard('attach', (c: EventContext) => {
          if (c.receiver !== undefined) clientSender(ctx, conn, c.receiver, table)
        }),
      )
      connection.on(
        'sender_open',
        guard('attach', (c: EventContext) => {
          if (c.sender !== undefined) clientReceiver(ctx, conn, c.sender, table)
        }),
      )
      const end = guard('close', () => {
        clearTimeout(opening)
        live.delete(conn)
        ended(ctx, conn)
      })
      let disconnected = false
      connection.on('connection_close', end)
      connection.on('disconnected', (context: EventContext) => {
        disconnected = true
        end(context)
      })
      socket.once('close', () => {
        end(undefined)
        if (!disconnected) socketGone(connection)
      })
      // rhea raises these on the connection when no link or session handles them; they are
      // the client's own errors (its close carries them), nothing for the hub to do
      for (const name of [
        'connection_error',
        'session_error',
        'sender_error',
        'receiver_error',
        'protocol_error',
        'error',
      ])
        connection.on(name, () => undefined)
      live.add(conn)
      guardFrames(socket, AMQP_MAX_FRAME_BYTES, (size) => {
        ctx.warn(
          `Closed an AMQP connection (${protocol}): it sent a frame of ${size} bytes; the hub announces a maximum frame size of ${AMQP_MAX_FRAME_BYTES} bytes.`,
        )
        socket.destroy()
      })
      acceptSocket(connection, socket)
    },
    close() {
      for (const conn of [...live]) {
        for (const { session } of conn.devices.values()) session.closeReason ??= 'the hub is shutting down'
        ended(ctx, conn)
        conn.closeWith({ condition: 'amqp:connection:forced', description: 'The hub is shutting down.' })
      }
      live.clear()
    },
  }
}
