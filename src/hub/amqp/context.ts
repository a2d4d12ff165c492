/**
 * What every AMQP handler (links/, sasl.ts, cbs) is given: the hub's operations, the method
 * calls in flight, and one {@link AmqpConnection} per client connection, which holds the
 * authorizations its tokens proved (audience → what it allows, until when), the identities it
 * has a session for, and the links attached under each service authorization.
 *
 * @module
 */
import type { Duplex } from 'node:stream'
import type { Connection, Receiver, Sender, Session as RheaSession } from 'rhea'
import type { Finding } from '../../diagnose/index.js'
import type { HubService } from '../service.js'
import type { MethodCalls } from '../state/methods.js'
import type { Session } from '../state/sessions.js'
import type { AmqpDeviceLink } from './amqp-link.js'

/** How an AMQP connection came: TLS (or the plain loopback development port), or WebSocket. */
export type AmqpProtocol = 'amqp' | 'amqp-ws'

/** A link of either direction, as the hub holds it. */
export type AmqpLink = Sender | Receiver

/** What one proven token allows on its connection. */
export interface Authorization {
  /** The audience, canonical (audience.ts): what the token covers. */
  audience: string
  /** `device`: a device or module token; `policy`: a hub policy's; `event-hub`: a policy's for `sb://…`. */
  kind: 'device' | 'policy' | 'event-hub'
  /** The device or module it proves (kind `device`). */
  identity?: { deviceId: string; moduleId?: string }
  /** How the identity authenticated (kind `device`). */
  authMethod?: 'sas' | 'policy' | 'x509'
  /** The policy that signed it (kinds `policy` and `event-hub`). */
  keyName?: string
  /** When the token expires, epoch seconds. */
  expiresAt?: number
  /** The decision's warnings (kind `device`), for the connect event. */
  warnings: Finding[]
  /** CBS put-token, or SASL PLAIN at connection open. */
  via: 'cbs' | 'sasl-plain'
}

/** An identity's session on one connection, and the link the hub reaches it through. */
export interface DeviceSession {
  session: Session
  link: AmqpDeviceLink
}

/** The adapter's state of one client connection. */
export class AmqpConnection {
  readonly protocol: AmqpProtocol
  readonly rhea: Connection
  /** The socket (TLS, plain TCP, or the WebSocket stream) the connection is spoken on. */
  readonly socket: Duplex
  /** Proven tokens by canonical audience. */
  readonly authorizations = new Map<string, Authorization>()
  /** The identities with a session on this connection, by client id (`deviceId[/moduleId]`). */
  readonly devices = new Map<string, DeviceSession>()
  /** Links attached under a service authorization, by its audience: detached when it expires. */
  readonly serviceLinks = new Map<string, Set<AmqpLink>>()
  /** Every link attached (and not yet closed) on the connection. */
  readonly links = new Set<AmqpLink>()
  /** The `$cbs` reply links (the client's receivers on `$cbs`), by link name. */
  readonly cbsReplies = new Map<string, Sender>()
  /** The `$cbs` request links (the client's senders to `$cbs`). */
  readonly cbsRequests = new Set<Receiver>()
  /** SASL PLAIN's username, for the refusal records ('' for ANONYMOUS or no SASL). */
  saslUsername = ''
  /** Set once the connection is gone. */
  closed = false
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #now: () => number

  constructor(protocol: AmqpProtocol, connection: Connection, socket: Duplex, now: () => number) {
    this.protocol = protocol
    this.rhea = connection
    this.socket = socket
    this.#now = now
  }

  /**
   * Keeps (or renews) an authorization. A service authorization's expiry is armed here: when it
   * passes, the links attached under it are detached (`amqp:unauthorized-access`); a device
   * authorization's expiry is its session's (the hub arms it).
   */
  grant(a: Authorization): void {
    this.authorizations.set(a.audience, a)
    clearTimeout(this.#timers.get(a.audience))
    this.#timers.delete(a.audience)
    if (a.kind === 'device' || a.expiresAt === undefined) return
    const arm = (): void => {
      const left = (a.expiresAt ?? 0) * 1000 - this.#now()
      if (this.authorizations.get(a.audience) !== a) return
      if (left > 0) {
        this.#timers.set(a.audience, setTimeout(arm, Math.min(left, 2 ** 31 - 1)))
        return
      }
      this.authorizations.delete(a.audience)
      for (const link of this.serviceLinks.get(a.audience) ?? [])
        link.close({
          condition: 'amqp:unauthorized-access',
          description: `The token for ${a.audience} expired: put a new one on $cbs before it expires.`,
        })
      this.serviceLinks.delete(a.audience)
    }
    arm()
  }

  /** A live authorization for `audience`, or `undefined`. */
  live(audience: string): Authorization | undefined {
    const a = this.authorizations.get(audience)
    if (a === undefined) return undefined
    if (a.expiresAt !== undefined && a.expiresAt * 1000 <= this.#now()) return undefined
    return a
  }

  /** Remembers a link attached under a service authorization (detached when that expires). */
  holdServiceLink(audience: string, link: AmqpLink): void {
    let links = this.serviceLinks.get(audience)
    if (links === undefined) {
      links = new Set()
      this.serviceLinks.set(audience, links)
    }
    links.add(link)
  }

  /** Keeps a link attached on the connection until it closes. */
  holdLink(link: AmqpLink): void {
    this.links.add(link)
    link.once(link.is_sender() ? 'sender_close' : 'receiver_close', () => this.links.delete(link))
  }

  /**
   * Closes the connection with `error` (none: a clean close), its links and then their
   * sessions first: azure-iot-amqp-base waits for each of its links to be detached, and for its
   * session to be ended, before it reports the connection gone (45 s otherwise).
   */
  closeWith(error?: { condition: string; description: string }): void {
    const sessions = new Set<RheaSession>()
    for (const link of this.links) {
      sessions.add(link.session)
      link.close(error)
    }
    this.links.clear()
    for (const session of sessions) session.close(error)
    this.rhea.close(error)
  }

  /** The connection is gone: its timers are cleared. */
  dispose(): void {
    this.closed = true
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }
}

/** The adapter's state and helpers, shared by its handlers. */
export interface AmqpContext {
  readonly hub: HubService
  readonly methods: MethodCalls
  /** Publishes a `warning` event. */
  warn(message: string, fields?: { deviceId?: string; moduleId?: string; clientId?: string }): void
}

/** The client id of an identity over AMQP: `deviceId` or `deviceId/moduleId`. */
export function clientIdOf(s: { deviceId: string; moduleId?: string }): string {
  return s.moduleId === undefined ? s.deviceId : `${s.deviceId}/${s.moduleId}`
}
