/**
 * HMAC-SHA256, the one primitive every IoT Hub and DPS signature uses. This is the only file
 * that imports `node:crypto`.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * `base64(HMAC-SHA256(key, UTF-8(message)))`, standard alphabet with padding. The key is plain
 * bytes: a `KeyObject` signs no faster and costs about 2 µs to make, which a batch whose keys
 * change from line to line would pay on every line.
 */
export function hmacSha256Base64(key: Uint8Array, message: string): string {
  return createHmac('sha256', key).update(message).digest('base64')
}

/**
 * Compares two base64 signatures as text, as the hub does, in time that does not depend on
 * where they differ. (Comparing decoded bytes would accept altered padding bits.)
 */
export function signaturesEqual(expectedBase64: string, actualBase64: string): boolean {
  const expected = Buffer.from(expectedBase64)
  const actual = Buffer.from(actualBase64)
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
