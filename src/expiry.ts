/**
 * When a token expires: TTL text such as `15m` or `7d`, absolute expiries, and the injected
 * clock.
 *
 * A token's `se` is whole seconds since the Unix epoch. The classic bugs are a millisecond
 * value (`Date.now()` passed as `se`), a fractional value, and a TTL of zero; each gets its own
 * error code here.
 *
 * @module
 */
import { SasTokenError } from './errors.js'

/** How long a token lives when neither `ttl` nor `expiresAt` is given: one hour, like the SDKs. */
export const DEFAULT_TTL_SECONDS = 3600

/**
 * The expiry of a token, given either as an absolute time or as a time to live.
 *
 * Give at most one of `expiresAt` and `ttl`. Without either, the token lives
 * {@link DEFAULT_TTL_SECONDS}.
 */
export interface Expiry {
  /** Absolute expiry: epoch **seconds**, or a `Date` (its milliseconds are dropped). */
  expiresAt?: number | Date
  /** Time to live: seconds, or text such as `90s`, `15m`, `24h`, `7d`. */
  ttl?: number | string
  /** The current time: epoch **milliseconds**, or a `Date`. Defaults to `Date.now()`. */
  now?: number | Date
}

/** Above this an `se` is surely in milliseconds: 1e11 seconds is the year 5138. */
const LARGEST_PLAUSIBLE_SECONDS = 1e11

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const
const TTL_TEXT = /^(\d+)\s*([smhd]?)$/

/**
 * Reads a time to live: a positive whole number of seconds, or text `90s`, `15m`, `24h`, `7d`
 * (a bare number in text is seconds).
 *
 * @returns The TTL in seconds.
 * @throws {SasTokenError} `ERR_INVALID_TTL` when it is not positive, not whole, or not in that form.
 */
export function parseTtl(ttl: number | string): number {
  if (typeof ttl === 'string') {
    const match = TTL_TEXT.exec(ttl.trim())
    if (match === null) {
      throw new SasTokenError(
        'ERR_INVALID_TTL',
        `TTL ${JSON.stringify(ttl)} is not understood: give seconds (3600) or a number with a unit s, m, h or d (90s, 15m, 24h, 7d).`,
      )
    }
    const unit = (match[2] || 's') as keyof typeof UNIT_SECONDS
    return parseTtl(Number(match[1]) * UNIT_SECONDS[unit])
  }
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new SasTokenError(
      'ERR_INVALID_TTL',
      `TTL ${String(ttl)} is not valid: it must be a whole number of seconds greater than 0 (a token with TTL 0 is already expired).`,
    )
  }
  return ttl
}

/**
 * The injected clock, as epoch milliseconds.
 *
 * @param now Epoch milliseconds or a `Date`; `Date.now()` when absent.
 * @throws {SasTokenError} `ERR_INVALID_NOW` when it is not a finite time.
 */
export function epochMs(now?: number | Date): number {
  if (now === undefined) return Date.now()
  const ms = now instanceof Date ? now.getTime() : now
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new SasTokenError('ERR_INVALID_NOW', '`now` must be epoch milliseconds or a valid Date.')
  }
  return ms
}

/**
 * Checks an absolute expiry and returns it as epoch seconds.
 *
 * @throws {SasTokenError} `ERR_INVALID_EXPIRY` (not a whole, finite number or an invalid Date),
 *   `ERR_EXPIRY_IN_MILLISECONDS` (the value is clearly milliseconds), or `ERR_EXPIRY_IN_PAST`
 *   (before `nowSeconds`).
 */
export function checkExpiresAt(expiresAt: number | Date, nowSeconds: number): number {
  let seconds: number
  if (expiresAt instanceof Date) {
    const ms = expiresAt.getTime()
    if (!Number.isFinite(ms)) throw new SasTokenError('ERR_INVALID_EXPIRY', '`expiresAt` is an invalid Date.')
    seconds = Math.floor(ms / 1000)
  } else {
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || !Number.isInteger(expiresAt)) {
      throw new SasTokenError(
        'ERR_INVALID_EXPIRY',
        `expiresAt ${String(expiresAt)} is not valid: it must be a whole number of seconds since the Unix epoch.`,
      )
    }
    if (expiresAt > LARGEST_PLAUSIBLE_SECONDS) {
      throw new SasTokenError(
        'ERR_EXPIRY_IN_MILLISECONDS',
        `expiresAt ${expiresAt} looks like milliseconds: SAS expiry is in seconds, so divide by 1000 (or pass a Date).`,
      )
    }
    seconds = expiresAt
  }
  if (seconds < nowSeconds) {
    throw new SasTokenError(
      'ERR_EXPIRY_IN_PAST',
      `expiresAt ${new Date(seconds * 1000).toISOString()} is in the past (now is ${new Date(nowSeconds * 1000).toISOString()}): choose a later time or use a TTL.`,
    )
  }
  return seconds
}

/**
 * Resolves an {@link Expiry} to the token's `se`: epoch seconds, a whole number.
 *
 * With a TTL the result is `floor(now in seconds) + ttl`, as the Node SDK computes it.
 *
 * @example
 * ```ts
 * resolveExpiry({ ttl: '1h', now: Date.UTC(2024, 0, 1) }) // 1704070800
 * ```
 * @throws {SasTokenError} `ERR_INVALID_OPTION` when both `ttl` and `expiresAt` are given, and
 *   any code of {@link parseTtl}, {@link checkExpiresAt} and {@link epochMs}.
 */
export function resolveExpiry(o: Expiry = {}): number {
  const nowSeconds = Math.floor(epochMs(o.now) / 1000)
  if (o.expiresAt !== undefined && o.ttl !== undefined) {
    throw new SasTokenError('ERR_INVALID_OPTION', 'Give either `ttl` or `expiresAt`, not both.')
  }
  if (o.expiresAt !== undefined) return checkExpiresAt(o.expiresAt, nowSeconds)
  return nowSeconds + (o.ttl === undefined ? DEFAULT_TTL_SECONDS : parseTtl(o.ttl))
}
