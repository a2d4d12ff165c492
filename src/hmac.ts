/**
 * HMAC-SHA256, the one primitive every IoT Hub and DPS signature uses. This is the only file
 * that imports `node:crypto`.
 *
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** HMAC-SHA256's block size in bytes. */
const BLOCK_BYTES = 64

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

/**
 * The 64-byte block HMAC-SHA256 actually keys with (RFC 2104): a key longer than the block is
 * replaced by its SHA-256, then zero bytes pad it to the block. Two keys with the same block
 * sign every message alike.
 */
function hmacKeyBlock(key: Uint8Array): Buffer {
  const block = Buffer.alloc(BLOCK_BYTES)
  block.set(key.length > BLOCK_BYTES ? createHash('sha256').update(key).digest() : key)
  return block
}

/** Whether two HMAC-SHA256 keys are the same key to HMAC, in time that does not depend on them. */
export function hmacKeyBytesEquivalent(a: Uint8Array, b: Uint8Array): boolean {
  return timingSafeEqual(hmacKeyBlock(a), hmacKeyBlock(b))
}
