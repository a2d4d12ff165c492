/**
 * The token's expiry as of `now`: expired (with the likely clock fault), within the skew, in
 * milliseconds, far ahead, or before the device renews it.
 *
 * @module
 */
import type { ParsedSasToken } from '../sas-token.js'
import { type Finding, finding, iso, span } from './findings.js'
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
    out.push(
      finding(
        'WARN_TOKEN_EXPIRY_IN_MILLISECONDS',
        `The token's se (${expiresAt}) is in milliseconds: se is seconds since 1970, so the hub reads a token that never expires, and a leaked one works forever. Divide by 1000 (Math.floor(Date.now() / 1000) + ttl).`,
        facts,
      ),
    )
    return
  }
  if (expiresIn + ctx.skew < 0) {
    let hint = ''
    const ago = -expiresIn
    if (expiresAt < UNSET_CLOCK_SECONDS) {
      hint = ` The expiry is in ${new Date(expiresAt * 1000).getUTCFullYear()}: the device's clock looks unset (it counts from 1970 after a reset); set it with NTP or SNTP before signing.`
    } else if (ago < 3600) {
      hint =
        ' Device clock? An expiry only minutes off usually means the clock that signed the token is behind, or the token was signed earlier and kept.'
    } else if (ago <= 14 * 3600 && Math.abs(ago - Math.round(ago / 3600) * 3600) <= 120) {
      hint = ` Off by about ${Math.round(ago / 3600)} hour(s): does the device compute the expiry from local time instead of UTC?`
    }
    out.push(
      finding(
        'ERR_TOKEN_EXPIRED',
        `The token expired at ${iso(expiresAt)}, ${span(ago)} ago (the hub allows ${ctx.skew} s of clock skew): sign a new one right before connecting.${hint}`,
        facts,
      ),
    )
    return
  }
  if (expiresIn < 0) {
    out.push(
      finding(
        'WARN_TOKEN_EXPIRED_WITHIN_SKEW',
        `The token expired ${span(-expiresIn)} ago and is accepted only within the ${ctx.skew} s of clock skew the hub allows; it will be refused in ${span(expiresIn + ctx.skew)}. Device clock? Sign a new token right before connecting.`,
        facts,
      ),
    )
    return
  }
  if (expiresIn > FAR_AHEAD_SECONDS) {
    out.push(
      finding(
        'WARN_TOKEN_EXPIRY_FAR_AHEAD',
        `The token expires ${iso(expiresAt)}, in ${span(expiresIn)}: if a short TTL was meant, the clock that signed it is ahead (device clock?) or the TTL has the wrong unit; if it was meant, a token this long-lived is as good as a key when it leaks.`,
        facts,
      ),
    )
  }
  if (ctx.renewAfter !== undefined && expiresIn < ctx.renewAfter) {
    out.push(
      finding(
        'WARN_TOKEN_EXPIRES_BEFORE_RENEWAL',
        `The token expires in ${span(expiresIn)}, before the device renews it (after ${span(ctx.renewAfter)}): the hub disconnects the device when the token expires. Sign tokens that outlive the renewal, or renew sooner.`,
        { ...facts, renewAfterSeconds: ctx.renewAfter },
      ),
    )
  }
}
