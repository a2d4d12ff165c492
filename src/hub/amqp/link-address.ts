/**
 * The shape of the AMQP address table (addresses.ts), like rest/routes.ts: each address kind the
 * hub serves is one entry —
 * its pattern, which end the client attaches (it attaches a `sender` to send to the hub, a
 * `receiver` to receive from it), what authorization it needs, and its attach handler (one file
 * per kind under links/). The wiring (server.ts) matches a link's address here, checks the
 * authorization, and hands the handler the link with what the authorization gave (the
 * identity's session, or the service authorization). An address no entry serves is detached
 * with `amqp:not-found` and a description of what is served.
 *
 * To serve a new address: write its handler in links/ (its entries built with {@link pattern}),
 * export its entries, and append them to the table in addresses.ts.
 *
 * @module
 */
import type { Receiver, Sender } from 'rhea'
import type { Permission } from '../state/registry.js'
import type { AmqpConnection, AmqpContext, AmqpLink, Authorization, DeviceSession } from './context.js'

/** The parameters a pattern's `{name}` segments took, URL-decoded. */
export type AddressParams = Readonly<Record<string, string>>

/** What a link needs before it may attach. */
export type AddressNeeds =
  /** Nothing (the `$cbs` node, where tokens are put). */
  | { kind: 'none' }
  /** A live device authorization for the identity the pattern's `{deviceId}` (and `{moduleId}`) name. */
  | { kind: 'device' }
  /**
   * A live service authorization (a hub policy's, or an Event Hub-compatible one) whose policy has
   * one of `rights`, and whose audience covers `audience(params, hostName)` (default: the hub's
   * host name, which only a hub policy token covers).
   */
  | {
      kind: 'service'
      rights: readonly Permission[]
      audience?: (params: AddressParams, hostName: string) => string
    }

/** What the authorization gave an attaching link. */
export type Grant =
  | { kind: 'none' }
  | { kind: 'device'; device: DeviceSession }
  | { kind: 'service'; authorization: Authorization }

/** What an attach handler is given. */
export interface AttachRequest<L extends AmqpLink> {
  ctx: AmqpContext
  conn: AmqpConnection
  /** The hub's end of the link: a `Receiver` when the client sends, a `Sender` when it receives. */
  link: L
  /** The address as the client sent it. */
  address: string
  params: AddressParams
  grant: Grant
}

interface AddressBase {
  /** The pattern, for the not-found description and the README (`/devices/{deviceId}/messages/events`). */
  pattern: string
  /** What it is, in a few words (`device telemetry`). */
  what: string
  needs: AddressNeeds
  /** The parameters when `address` (normalized: no `amqps://host`, no leading `/`) is this kind's. */
  match(address: string): AddressParams | undefined
}

/** An address kind the client sends to (the hub's end is a `Receiver`). */
export interface ClientSendsTo extends AddressBase {
  role: 'sender'
  attach(r: AttachRequest<Receiver>): void
}

/** An address kind the client receives from (the hub's end is a `Sender`). */
export interface ClientReceivesFrom extends AddressBase {
  role: 'receiver'
  attach(r: AttachRequest<Sender>): void
}

/** One entry of the table. */
export type AmqpAddress = ClientSendsTo | ClientReceivesFrom

/**
 * A matcher for a pattern of `/`-separated segments, `{name}` taking one non-empty segment
 * (URL-decoded; one that does not decode does not match). A leading `/` is optional on both.
 */
export function pattern(text: string): (address: string) => AddressParams | undefined {
  const parts = text.replace(/^\//, '').split('/')
  return (address) => {
    const segments = address.split('/')
    if (segments.length !== parts.length) return undefined
    const params: Record<string, string> = Object.create(null)
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? ''
      const segment = segments[i] ?? ''
      if (part.startsWith('{') && part.endsWith('}')) {
        if (segment === '') return undefined
        try {
          params[part.slice(1, -1)] = decodeURIComponent(segment)
        } catch {
          return undefined
        }
      } else if (part.toLowerCase() !== segment.toLowerCase()) {
        return undefined
      }
    }
    return params
  }
}

/** An address as the table matches it: without `amqps://host[:port]` and without a leading `/`. */
export function normalizeAddress(address: string): string {
  return address.replace(/^(?:amqps?|wss?|sb):\/\/[^/]*/i, '').replace(/^\/+/, '')
}
