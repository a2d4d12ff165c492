/**
 * The token's expiry as of `now`: expired (with the likely clock fault), within the skew, in
 * milliseconds, far ahead, or before the device renews it.
 *
 * @module
 */
import type { ParsedSasToken } from '../sas-token.js'
import { type Finding, finding } from './findings.js'
import type { MessageArgs } from './messages.js'
import type { Context } from './options.js'

/** Above this an `se` is surely in milliseconds: 1e11 seconds is the year 5138. */
const LARGEST_PLAUSIBLE_SECONDS = 1e11
/** An expiry further ahead than this is named: no device means a token to live that long. */
const FAR_AHEAD_SECONDS = 366 * 86400
/** Before 2016: a device clock that was never set (it counts from 1970 after a reset). */
const UNSET_CLOCK_SECONDS = 1_451_606_400

export function checkExpiry(token: ParsedSasToken, ctx: Context, out: Finding[]): void {
  const expiresAt = token.expiresAt
  const expiresIn = expiresAt - ctx.nowSeconds
  const facts = { expiresAt, expiresIn, clockSkewSeconds: ctx.skew }
  if (expiresAt > LARGEST_PLAUSIBLE_SECONDS) {
    out.push(finding('WARN_TOKEN_EXPIRY_IN_MILLISECONDS', { expiresAt }, facts))
    return
  }
  if (expiresIn + ctx.skew < 0) {
    const ago = -expiresIn
    const clock: MessageArgs['ERR_TOKEN_EXPIRED']['clock'] =
      expiresAt < UNSET_CLOCK_SECONDS
        ? 'unset'
        : ago < 3600
          ? 'behind'
          : ago <= 14 * 3600 && Math.abs(ago - Math.round(ago / 3600) * 3600) <= 120
            ? { hoursOff: Math.round(ago / 3600) }
            : 'none'
    out.push(finding('ERR_TOKEN_EXPIRED', { expiresAt, ago, skew: ctx.skew, clock }, facts))
    return
  }
  if (expiresIn < 0) {
    out.push(finding('WARN_TOKEN_EXPIRED_WITHIN_SKEW', { expiresIn, skew: ctx.skew }, facts))
    return
  }
  if (expiresIn > FAR_AHEAD_SECONDS) {
    out.push(finding('WARN_TOKEN_EXPIRY_FAR_AHEAD', { expiresAt, expiresIn }, facts))
  }
  if (ctx.renewAfter !== undefined && expiresIn < ctx.renewAfter) {
    out.push(
      finding(
        'WARN_TOKEN_EXPIRES_BEFORE_RENEWAL',
        { expiresIn, renewAfter: ctx.renewAfter },
        { ...facts, renewAfterSeconds: ctx.renewAfter },
      ),
    )
  }
}
