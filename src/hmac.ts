/**
 * HMAC-SHA256, the one primitive every IoT Hub and DPS signature uses. This is the only file
 * that imports `node:crypto`.
 *
 * @module
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'

/** A key prepared once for many signatures: HMAC with a `KeyObject` skips a copy per call. */
export function hmacKey(bytes: Uint8Array): KeyObject {
  return createSecretKey(bytes)
}

/** `base64(HMAC-SHA256(key, UTF-8(message)))`, standard alphabet with padding. */
export function hmacSha256Base64(key: KeyObject | Uint8Array, message: string): string {
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
