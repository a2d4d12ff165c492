// fast-check arbitraries for the values the hub accepts: ids with every allowed special
// character, base64 keys of any length, host names and expiries.
import fc from 'fast-check'

const ID_CHARS = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.%_*?!(),:=@$'"]

/** A device or module id the hub accepts: 1 to 128 of the allowed characters. */
export const deviceId = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 128 })

/** A base64 key of 16 to 64 random bytes, standard alphabet with padding. */
export const key = fc
  .uint8Array({ minLength: 16, maxLength: 64 })
  .map((bytes) => Buffer.from(bytes).toString('base64'))

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/)

/** A host name such as `h-1.azure-devices.net`. */
export const hostName = fc
  .tuple(label, fc.constantFrom('azure-devices.net', 'azure-devices.cn', 'azure-devices.us'))
  .map(([hub, suffix]) => `${hub}.${suffix}`)

/** A policy name such as `iothubowner`. */
export const keyName = fc.stringMatching(/^[A-Za-z0-9_\-@.]{1,64}$/)

/** A clock and an expiry after it: epoch milliseconds and epoch seconds. */
export const clockAndExpiry = fc
  .tuple(fc.integer({ min: 1_000_000_000, max: 4_000_000_000 }), fc.integer({ min: 1, max: 400 * 86400 }))
  .map(([nowSeconds, ttl]) => ({ now: nowSeconds * 1000, expiresAt: nowSeconds + ttl }))
