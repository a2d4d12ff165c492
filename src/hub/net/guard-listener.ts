/**
 * The guards every listener of the hub (and its console) stands behind, one per listener type,
 * so no request, upgrade or connection can end the process and no handler needs its own
 * try/catch for the rule:
 *
 * - {@link guardRequests}: an HTTP(S) request handler gets its target parsed once (a target
 *   that is not a URL is a 400, in the listener's own error shape) and never lets a throw or a
 *   rejection escape (a 500, or the socket destroyed once the answer has begun).
 * - {@link guardUpgrades}: the same for an HTTP upgrade (WebSocket): a bad target or a throw
 *   ends that socket only.
 * - {@link guardConnections}: a raw socket handler (MQTT over TLS): socket errors are absorbed,
 *   a throw destroys that socket.
 * - {@link TlsHandshakeGuard}: every TLS listener closes a connection that has not finished its
 *   handshake in time, and drops new connections at once while too many are in handshake,
 *   with a `warning` event at most once per window; a handshake that fails (a client that does
 *   not trust the hub's CA, one that does not speak TLS) is a `warning` too, counted per window.
 * - {@link httpTimeouts}: how long an HTTP server waits for headers and for a whole request.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import { positiveInteger } from '../option-checks.js'
import type { HubEvents } from '../events.js'
import { WARNING_WINDOW_MS, WarningThrottle } from './warning-throttle.js'

/** How long a TLS connection may take to finish its handshake, ms, unless told otherwise. */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 20_000

/** How many connections may be in TLS handshake at once (all TLS listeners together). */
export const DEFAULT_MAX_TLS_HANDSHAKES = 256

/** How often at most a `warning` reports the connections dropped over the cap, ms. */
export const HANDSHAKE_WARNING_WINDOW_MS = 10_000

/** How long an HTTP server waits for a request's headers, ms. */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000

/** How long an HTTP server waits for a whole request (headers and body), ms. */
export const HTTP_REQUEST_TIMEOUT_MS = 30_000

/** Answers a refused request in the listener's own shape (IoT Hub's error JSON on the hub). */
export type RefuseRequest = (res: ServerResponse, status: 400 | 500, message: string) => void

/** A request handler behind {@link guardRequests}: it gets the parsed target. */
export type GuardedHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>

const BASE = 'http://listener.invalid'

/** The request target as a URL (relative to a placeholder origin), or `undefined` when it is not one. */
function requestTarget(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', BASE)
  } catch {
    return undefined
  }
}

function fail(res: ServerResponse, refuse: RefuseRequest): void {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  try {
    refuse(res, 500, 'Internal error in the emulator.')
  } catch {
    res.destroy()
  }
}

/**
 * Wraps an HTTP request handler: a target that is not a URL is answered 400, and a throw or a
 * rejection is answered 500 (or ends the response once it has begun); nothing escapes.
 */
export function guardRequests(
  handler: GuardedHandler,
  refuse: RefuseRequest,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = requestTarget(req)
    if (url === undefined) {
      fail400(res, refuse, req)
      return
    }
    try {
      const done = handler(req, res, url)
      if (done !== undefined) done.catch(() => fail(res, refuse))
    } catch {
      fail(res, refuse)
    }
  }
}

function fail400(res: ServerResponse, refuse: RefuseRequest, req: IncomingMessage): void {
  try {
    refuse(
      res,
      400,
      `The request target ${JSON.stringify((req.url ?? '').slice(0, 100))} is not a valid path: send an absolute path such as /devices/dev1.`,
    )
  } catch {
    res.destroy()
  }
}

/** A bare HTTP answer on an upgrade socket (no response object exists there). */
function endSocket(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * Wraps an HTTP `upgrade` handler: socket errors are absorbed, a target that is not a URL is
 * answered 400, and a throw ends that socket only.
 */
export function guardUpgrades(
  handler: (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on('error', () => undefined)
    const url = requestTarget(req)
    if (url === undefined) {
      endSocket(socket, '400 Bad Request')
      return
    }
    try {
      handler(req, socket, head, url)
    } catch {
      socket.destroy()
    }
  }
}

/**
 * Wraps a connection handler: socket errors are absorbed and a throw destroys that socket only.
 * While `paused()` (an outage on purpose, faults.ts), a new connection is destroyed at once: the
 * client sees it reset, never left waiting.
 */
export function guardConnections<S extends Duplex>(
  handler: (socket: S) => void,
  paused: () => boolean = () => false,
): (socket: S) => void {
  return (socket) => {
    socket.on('error', () => undefined)
    if (paused()) {
      socket.destroy()
      return
    }
    try {
      handler(socket)
    } catch {
      socket.destroy()
    }
  }
}

/**
 * The options an HTTP(S) server is created with: how long it waits for a request's headers and
 * for the whole request (a response, an event stream too, may then take as long as it takes),
 * and how often it checks (Node's default, 30 s, would double a short timeout).
 */
export function httpTimeouts(o: { headersTimeoutMs?: number; requestTimeoutMs?: number } = {}): {
  requestTimeout: number
  headersTimeout: number
  connectionsCheckingInterval: number
} {
  const requestTimeout = o.requestTimeoutMs ?? HTTP_REQUEST_TIMEOUT_MS
  return {
    requestTimeout,
    headersTimeout: Math.min(o.headersTimeoutMs ?? HTTP_HEADERS_TIMEOUT_MS, requestTimeout),
    connectionsCheckingInterval: Math.max(100, Math.min(5000, Math.floor(requestTimeout / 4))),
  }
}

/** Options of {@link TlsHandshakeGuard}. */
export interface TlsHandshakeGuardOptions {
  /** Where the `warning` about dropped connections goes. */
  events: HubEvents
  /** How long a handshake may take, ms; default {@link DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS}. */
  timeoutMs?: number
  /** How many connections may be in handshake at once; default {@link DEFAULT_MAX_TLS_HANDSHAKES}. */
  maxPending?: number
  /** What a client must trust, for the warning about a failed handshake (e.g. the CA's path). */
  trust?: string
}

/** Why a TLS handshake failed, in words, from the error Node gives `tlsClientError`. */
export function handshakeFailure(err: Error & { code?: string }): string {
  const code = err.code ?? ''
  const alert = /ALERT_([A-Z_]+)$/.exec(code)?.[1]
  if (
    alert !== undefined &&
    /UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE/.test(alert)
  )
    return `the client does not trust the hub's certificate (TLS alert ${alert.toLowerCase().replaceAll('_', ' ')})`
  if (alert !== undefined)
    return `the client ended it with the TLS alert ${alert.toLowerCase().replaceAll('_', ' ')}`
  if (code === 'ECONNRESET')
    return "the client closed the connection during it (as a client does that does not trust the hub's certificate)"
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'it did not finish in time'
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|UNKNOWN_PROTOCOL|RECORD_LAYER/.test(code))
    return 'the client does not speak TLS (plain TCP or HTTP?)'
  return code === '' ? err.message : code
}

/**
 * The handshake rules of the hub's TLS listeners: give {@link serverOptions} to each
 * `tls.createServer` / `https.createServer` and {@link watch} each server. A connection still in
 * handshake after the timeout is closed; while `maxPending` connections (over all watched
 * servers) are in handshake, a new one is closed at once, and a `warning` event says how many
 * were dropped, at most once per {@link HANDSHAKE_WARNING_WINDOW_MS}.
 */
export class TlsHandshakeGuard {
  /** The options each TLS server is created with (`handshakeTimeout`). */
  readonly serverOptions: { handshakeTimeout: number }
  readonly #events: HubEvents
  readonly #maxPending: number
  readonly #trust: string
  readonly #failures: WarningThrottle
  // in handshake = TCP connections open − TLS connections open (no map from one to the other)
  #open = 0
  #secure = 0
  #dropped = 0
  #window: NodeJS.Timeout | undefined

  /**
   * @throws {SasTokenError} `ERR_INVALID_OPTION` when the timeout or the cap is not a whole
   *   number, 1 or more.
   */
  constructor(o: TlsHandshakeGuardOptions) {
    this.#events = o.events
    this.serverOptions = {
      handshakeTimeout: positiveInteger(
        o.timeoutMs,
        DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
        'tlsHandshakeTimeoutMs',
      ),
    }
    this.#maxPending = positiveInteger(o.maxPending, DEFAULT_MAX_TLS_HANDSHAKES, 'maxTlsHandshakes')
    this.#trust = o.trust ?? "the hub's CA"
    this.#failures = new WarningThrottle(o.events)
  }

  /** Connections in handshake now, over every watched server. */
  get pending(): number {
    return Math.max(0, this.#open - this.#secure)
  }

  /**
   * Applies the rules to a TLS (or HTTPS) server; `listener` names it in warnings (`mqtt`,
   * `https`, `amqp`).
   */
  watch(server: TlsServer, listener = 'tls'): void {
    // Node leaves a socket that failed its handshake (the timeout too) open while anyone listens
    // to tlsClientError: close it here
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      socket.destroy()
      this.#failed(server, listener, err)
    })
    server.on('connection', (raw: Socket) => {
      if (this.pending >= this.#maxPending) {
        raw.destroy()
        this.#drop()
        return
      }
      this.#open++
      raw.once('close', () => this.#open--)
    })
    server.on('secureConnection', (socket: TLSSocket) => {
      this.#secure++
      socket.once('close', () => this.#secure--)
    })
  }

  #failed(server: TlsServer, listener: string, err: Error): void {
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : undefined
    const where = `the ${listener} listener${port === undefined ? '' : ` (port ${port})`}`
    const why = handshakeFailure(err)
    const trust = `clients must trust ${this.#trust} (Node: NODE_EXTRA_CA_CERTS; mosquitto: --cafile; paho: tls_set(ca_certs=…))`
    const fields = { listener, ...(port === undefined ? {} : { port }), protocol: 'tls' }
    this.#failures.report(
      `handshake:${listener}`,
      { ...fields, message: `A TLS handshake on ${where} failed: ${why}; ${trust}.` },
      (count) => ({
        ...fields,
        message: `${count} more TLS handshake${count === 1 ? '' : 's'} on ${where} failed in the last ${WARNING_WINDOW_MS / 1000} s (the last: ${why}); ${trust}.`,
      }),
    )
  }

  #drop(): void {
    this.#dropped++
    if (this.#window === undefined) this.#report()
  }

  // reports now, then at most once more per window while drops go on
  #report(): void {
    this.#publish()
    this.#window = setTimeout(() => {
      this.#window = undefined
      if (this.#dropped > 0) this.#report()
    }, HANDSHAKE_WARNING_WINDOW_MS)
    this.#window.unref()
  }

  #publish(): void {
    const dropped = this.#dropped
    this.#dropped = 0
    this.#events.publish({
      event: 'warning',
      dropped,
      maxTlsHandshakes: this.#maxPending,
      message: `Dropped ${dropped} new TLS connection${dropped === 1 ? '' : 's'}: ${this.#maxPending} were already in handshake (the cap); a flood of unfinished handshakes, or raise the cap (maxTlsHandshakes).`,
    })
  }

  /** Stops the warning windows' timers. */
  close(): void {
    this.#failures.close()
    clearTimeout(this.#window)
    this.#window = undefined
  }
}
