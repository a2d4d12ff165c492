/**
 * A token source for long-running device programs: it signs a token, hands it out, and signs a
 * new one a margin before the old one expires.
 *
 * MQTT cannot change the password of a live connection, so a device reconnects with the new
 * token when it is told of one (every SDK does the same):
 *
 * ```ts
 * const source = createTokenSource(connectionString, { ttl: '1h' })
 * const c = mqttCredentials(connectionString)
 * const client = mqtt.connect({ ...c, protocol: 'mqtts', password: source.current().token })
 * source.onRenew(({ token }) => {
 *   client.options.password = token
 *   client.end(false, () => client.reconnect())
 * })
 * ```
 *
 * The clock and the timer are injectable, and the default timer is `unref()`'d, so a token
 * source never keeps a process alive on its own.
 *
 * @module
 */
import { toConnectionString, type ConnectionString } from './connection-string.js'
import { SasTokenError } from './errors.js'
import { DEFAULT_TTL_SECONDS, epochMs, parseTtl } from './expiry.js'
import { signConnectionString } from './token-from-connection-string.js'

/** The share of the TTL left when a token is renewed by default: 15%, like the C# SDK. */
export const DEFAULT_RENEW_FRACTION = 0.15

/** The shortest TTL with a default renewal margin that leaves the token any life: 2 seconds. */
const MIN_TTL_SECONDS = 2

/** `setTimeout` cannot wait longer than this (about 24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** A token the source handed out. */
export interface IssuedToken {
  /** The SAS token, `SharedAccessSignature sr=…`: the MQTT password. */
  token: string
  /** When it expires (`se`), in epoch seconds. */
  expiresAt: number
  /** When the source replaces it, in epoch seconds. */
  renewAt: number
}

/** Options of {@link createTokenSource}. */
export interface TokenSourceOptions {
  /** Each token's time to live: seconds, or text such as `15m`, `24h`; default one hour. */
  ttl?: number | string
  /** Renew this many seconds before expiry; default 15% of the TTL, rounded up. */
  renewBefore?: number
  /** The clock: returns epoch milliseconds or a `Date`. Default `Date.now`. */
  now?: () => number | Date
  /** Schedules `callback` after `ms` milliseconds. Give it together with `clearTimer`. */
  setTimer?: (callback: () => void, ms: number) => unknown
  /** Cancels what `setTimer` returned. */
  clearTimer?: (handle: unknown) => void
  /**
   * Called with what a listener threw when the timer renewed the token (nobody else could catch
   * it there). Defaults to `process.emitWarning`: a faulty listener never stops the renewals, nor
   * crashes the program.
   */
  onError?: (err: unknown) => void
  /** With a service (policy) connection string: the device to sign for. */
  deviceId?: string
  /** With a service connection string and `deviceId`: the module to sign for. */
  moduleId?: string
}

/** A source of fresh tokens; see {@link createTokenSource}. */
export interface TokenSource {
  /**
   * The current token. If the clock says it is due for renewal (a sleeping machine can delay a
   * timer), it is renewed first.
   *
   * @throws {SasTokenError} `ERR_TOKEN_SOURCE_STOPPED` after {@link TokenSource.stop}; when it
   *   renews, whatever a listener throws, after every listener has run.
   */
  current(): IssuedToken
  /**
   * Signs a new token now, reschedules the next renewal and notifies the listeners.
   *
   * @throws {SasTokenError} `ERR_TOKEN_SOURCE_STOPPED` after {@link TokenSource.stop}; whatever
   *   a listener throws, after every listener has run.
   */
  renew(): IssuedToken
  /**
   * Calls `listener` with every new token. Returns a function that removes the listener.
   *
   * @throws {SasTokenError} `ERR_TOKEN_SOURCE_STOPPED` after {@link TokenSource.stop}.
   */
  onRenew(listener: (token: IssuedToken) => void): () => void
  /** Cancels the timer and drops the listeners. Calling it again does nothing. */
  stop(): void
}

function stoppedError(): SasTokenError {
  return new SasTokenError('ERR_TOKEN_SOURCE_STOPPED', 'This token source was stopped; create a new one.')
}

function defaultSetTimer(callback: () => void, ms: number): unknown {
  return setTimeout(callback, ms).unref()
}

function defaultClearTimer(handle: unknown): void {
  clearTimeout(handle as ReturnType<typeof setTimeout>)
}

/**
 * Creates a token source for the identity a connection string names (or, for a service string,
 * the `deviceId`/`moduleId` given). The first token is signed at once.
 *
 * @example
 * ```ts
 * const source = createTokenSource(process.env.IOTHUB_DEVICE_CONNECTION_STRING!, { ttl: '1h' })
 * source.current().token // renewed 9 minutes before it expires
 * source.stop()
 * ```
 * @throws {SasTokenError} any code of `parseConnectionString` and `tokenFromConnectionString`;
 *   `ERR_KEY_REQUIRED` for a string without a key (X.509, `SharedAccessSignature=`), which
 *   cannot sign new tokens; `ERR_INVALID_TTL` (also for a ttl under 2 s with the default
 *   renewal margin); `ERR_INVALID_RENEW_BEFORE` for a `renewBefore` that is not a positive number
 *   of seconds below the TTL; `ERR_INVALID_OPTION` for only one of `setTimer` and `clearTimer`.
 */
export function createTokenSource(
  source: string | ConnectionString,
  o: TokenSourceOptions = {},
): TokenSource {
  const cs = toConnectionString(source, 'createTokenSource')
  if (cs.sharedAccessKey === undefined) {
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      'A token source signs new tokens, so it needs a connection string with SharedAccessKey (not x509 or SharedAccessSignature).',
    )
  }
  const ttl = parseTtl(o.ttl ?? DEFAULT_TTL_SECONDS)
  if (o.renewBefore === undefined && ttl < MIN_TTL_SECONDS) {
    throw new SasTokenError(
      'ERR_INVALID_TTL',
      `ttl ${ttl} s is too short for a token source, which must renew each token before it expires: give a ttl of at least ${MIN_TTL_SECONDS} s (or a renewBefore below the ttl).`,
      { facts: { option: 'ttl', limit: MIN_TTL_SECONDS } },
    )
  }
  const renewBefore = o.renewBefore ?? Math.ceil(ttl * DEFAULT_RENEW_FRACTION)
  if (typeof renewBefore !== 'number' || !(renewBefore > 0) || renewBefore >= ttl) {
    throw new SasTokenError(
      'ERR_INVALID_RENEW_BEFORE',
      `renewBefore ${String(renewBefore)} is not valid: give seconds greater than 0 and less than the TTL (${ttl}).`,
      { facts: { option: 'renewBefore', limit: ttl } },
    )
  }
  if ((o.setTimer === undefined) !== (o.clearTimer === undefined)) {
    throw new SasTokenError('ERR_INVALID_OPTION', 'Give setTimer and clearTimer together, or neither.')
  }
  const clock = o.now ?? Date.now
  const onError =
    o.onError ?? ((err: unknown) => process.emitWarning(err instanceof Error ? err : String(err)))
  const setTimer = o.setTimer ?? defaultSetTimer
  const clearTimer = o.clearTimer ?? defaultClearTimer
  const ids = {
    ...(o.deviceId === undefined ? {} : { deviceId: o.deviceId }),
    ...(o.moduleId === undefined ? {} : { moduleId: o.moduleId }),
  }
  const listeners = new Set<(token: IssuedToken) => void>()
  let stopped = false
  let timer: unknown
  let timerSet = false

  const nowMs = (): number => epochMs(clock())

  function sign(): IssuedToken {
    const { token, expiresAt } = signConnectionString(cs, { ...ids, ttl, now: nowMs() })
    return { token, expiresAt, renewAt: expiresAt - renewBefore }
  }

  function schedule(): void {
    const wait = Math.min(Math.max(0, issued.renewAt * 1000 - nowMs()), MAX_TIMER_MS)
    timer = setTimer(onTimer, wait)
    timerSet = true
  }

  function onTimer(): void {
    timerSet = false
    if (stopped) return
    if (nowMs() < issued.renewAt * 1000) return schedule()
    try {
      renew()
    } catch (err) {
      onError(err)
    }
  }

  function assertRunning(): void {
    if (stopped) throw stoppedError()
  }

  function renew(): IssuedToken {
    assertRunning()
    if (timerSet) clearTimer(timer)
    timerSet = false
    issued = sign()
    schedule()
    const current = issued
    const errors: unknown[] = []
    for (const listener of [...listeners]) {
      try {
        listener(current)
      } catch (err) {
        errors.push(err)
      }
    }
    if (errors.length > 0) throw errors[0]
    return current
  }

  let issued = sign()
  schedule()

  return {
    current() {
      assertRunning()
      return nowMs() >= issued.renewAt * 1000 ? renew() : issued
    },
    renew,
    onRenew(listener) {
      assertRunning()
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
    stop() {
      if (stopped) return
      stopped = true
      if (timerSet) clearTimer(timer)
      timerSet = false
      listeners.clear()
    },
  }
}
