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

/** The latest time a `Date` can hold, in milliseconds. */
const LARGEST_DATE_MS = 8.64e15

/**
 * A `now` between these is surely epoch *seconds* passed as milliseconds: it would put the
 * clock in January to March 1973. Smaller values stay allowed, for fixed test clocks.
 */
const SECONDS_AS_MS = [1e9, 1e11] as const

/**
 * A value as a message may show it: quoted when short, otherwise only its length. A long value
 * given where a TTL or a date belongs may be a key pasted into the wrong option.
 */
function shown(text: string): string {
  return text.length <= 11 ? JSON.stringify(text) : `(${text.length} characters, not shown)`
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()

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
  let seconds = ttl
  if (typeof ttl === 'string') {
    const match = TTL_TEXT.exec(ttl.trim())
    if (match === null) {
      throw new SasTokenError(
        'ERR_INVALID_TTL',
        `TTL ${shown(ttl)} is not understood: give seconds (3600) or a number with a unit s, m, h or d (90s, 15m, 24h, 7d).`,
        { facts: { option: 'ttl' } },
      )
    }
    seconds = Number(match[1]) * UNIT_SECONDS[(match[2] || 's') as keyof typeof UNIT_SECONDS]
  }
  if (
    typeof seconds !== 'number' ||
    !Number.isInteger(seconds) ||
    seconds <= 0 ||
    seconds >= LARGEST_PLAUSIBLE_SECONDS
  ) {
    throw new SasTokenError(
      'ERR_INVALID_TTL',
      `TTL ${typeof ttl === 'string' ? shown(ttl) : String(ttl)} is not valid: it must be a whole number of seconds greater than 0 (a token with TTL 0 is already expired) and less than 1e11.`,
      { facts: { option: 'ttl', limit: LARGEST_PLAUSIBLE_SECONDS } },
    )
  }
  return seconds
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
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > LARGEST_DATE_MS) {
    throw new SasTokenError(
      'ERR_INVALID_NOW',
      '`now` must be epoch milliseconds (0 or later) or a valid Date.',
    )
  }
  if (ms >= SECONDS_AS_MS[0] && ms < SECONDS_AS_MS[1]) {
    throw new SasTokenError(
      'ERR_INVALID_NOW',
      `\`now\` ${ms} looks like epoch seconds: it is epoch milliseconds, so multiply by 1000 (or pass a Date).`,
    )
  }
  return ms
}

/**
 * Checks an absolute expiry and returns it as epoch seconds.
 *
 * @param nowMs The current time, epoch milliseconds.
 * @throws {SasTokenError} `ERR_INVALID_EXPIRY` (not a whole, non-negative, finite number or an
 *   invalid Date), `ERR_EXPIRY_IN_MILLISECONDS` (the value is clearly milliseconds), or
 *   `ERR_EXPIRY_IN_PAST` (not after `nowMs`: such a token would be born expired).
 */
export function checkExpiresAt(expiresAt: number | Date, nowMs: number): number {
  let seconds: number
  if (expiresAt instanceof Date) {
    const ms = expiresAt.getTime()
    if (!Number.isFinite(ms)) throw new SasTokenError('ERR_INVALID_EXPIRY', '`expiresAt` is an invalid Date.')
    seconds = Math.floor(ms / 1000)
  } else {
    if (typeof expiresAt !== 'number' || !Number.isInteger(expiresAt) || expiresAt < 0) {
      throw new SasTokenError(
        'ERR_INVALID_EXPIRY',
        `expiresAt ${String(expiresAt)} is not valid: it must be a whole number of seconds since the Unix epoch.`,
      )
    }
    if (expiresAt > LARGEST_PLAUSIBLE_SECONDS) {
      throw new SasTokenError(
        'ERR_EXPIRY_IN_MILLISECONDS',
        `expiresAt ${expiresAt} looks like milliseconds: SAS expiry is in seconds, so divide by 1000 (or pass a Date).`,
        { facts: { option: 'expiresAt', expiresAt, limit: LARGEST_PLAUSIBLE_SECONDS } },
      )
    }
    seconds = expiresAt
  }
  if (seconds * 1000 <= nowMs) {
    throw new SasTokenError(
      'ERR_EXPIRY_IN_PAST',
      `expiresAt ${iso(seconds)} is not in the future (now is ${new Date(nowMs).toISOString()}): choose a later time or use a TTL.`,
      { facts: { option: 'expiresAt', expiresAt: seconds, now: nowMs } },
    )
  }
  if (seconds > LARGEST_PLAUSIBLE_SECONDS) {
    throw new SasTokenError(
      'ERR_INVALID_EXPIRY',
      `expiresAt ${iso(seconds)} is too far away: keep it before the year 5138.`,
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
 * @throws {SasTokenError} `ERR_EXPIRY_CONFLICT` when both `ttl` and `expiresAt` are given,
 *   `ERR_INVALID_ARGUMENT` when `o` is not an object, and
 *   any code of {@link parseTtl}, {@link checkExpiresAt} and {@link epochMs}.
 */
export function resolveExpiry(o: Expiry = {}): number {
  if (typeof o !== 'object' || o === null)
    throw new SasTokenError('ERR_INVALID_ARGUMENT', 'The expiry options must be an object.', {
      facts: { given: o === null ? 'null' : typeof o },
    })
  const nowMs = epochMs(o.now)
  if (o.expiresAt !== undefined && o.ttl !== undefined) {
    throw new SasTokenError('ERR_EXPIRY_CONFLICT', 'Give either `ttl` or `expiresAt`, not both.', {
      facts: { option: 'ttl' },
    })
  }
  if (o.expiresAt !== undefined) return checkExpiresAt(o.expiresAt, nowMs)
  const se = Math.floor(nowMs / 1000) + (o.ttl === undefined ? DEFAULT_TTL_SECONDS : parseTtl(o.ttl))
  if (se > LARGEST_PLAUSIBLE_SECONDS) {
    throw new SasTokenError(
      'ERR_INVALID_TTL',
      `The TTL puts the expiry at ${iso(se)}, too far away: keep it before the year 5138.`,
    )
  }
  return se
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/

/**
 * Reads an absolute expiry written as text: epoch seconds (`1893456000`) or an ISO 8601 date
 * (`2030-01-01`, `2030-01-01T00:00Z`, `2030-01-01T02:00:00+02:00`). A time needs its zone, `Z`
 * or an offset, so the same text means the same instant on every machine; a date that does not
 * exist (`2030-02-30`) is refused rather than rolled over.
 *
 * @returns Epoch seconds, or a `Date`, for {@link Expiry.expiresAt}.
 * @throws {SasTokenError} `ERR_INVALID_EXPIRY`.
 */
export function parseExpiresAt(text: string): number | Date {
  if (typeof text === 'string' && /^\d{1,15}$/.test(text)) return Number(text)
  const match = typeof text === 'string' ? ISO_DATE.exec(text) : null
  const date = match === null ? undefined : new Date(text)
  const [, year, month, day] = match ?? []
  const lastDay = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate()
  if (
    date === undefined ||
    Number.isNaN(date.getTime()) ||
    Number(month) < 1 ||
    Number(day) < 1 ||
    Number(day) > lastDay
  ) {
    throw new SasTokenError(
      'ERR_INVALID_EXPIRY',
      `expiry ${shown(String(text))} is neither epoch seconds nor an ISO 8601 date with a zone, like 2030-01-01T00:00Z.`,
      { facts: { option: 'expiresAt' } },
    )
  }
  return date
}
