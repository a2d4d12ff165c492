/**
 * Symmetric keys: strict base64 checking, DPS group-enrollment key derivation, and whether two
 * keys are the same key to HMAC.
 *
 * IoT Hub and DPS keys are base64 text whose decoded bytes are the HMAC key. The Node SDK
 * decodes leniently (`Buffer.from(key, 'base64')` never fails, so a truncated or mistyped key
 * signs garbage and the hub answers 401). Here a key must be canonical standard base64: the
 * `A–Z a–z 0–9 + /` alphabet, length a multiple of 4, correct `=` padding.
 *
 * @module
 */
import { SasTokenError } from './errors.js'
import { hmacKeyBytesEquivalent, hmacSha256Base64 } from './hmac.js'
import { assertRegistrationId } from './identity.js'

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Why `key` is not standard base64, as a hint that never repeats the key. */
function base64Hint(key: string): string {
  if (key.length === 0) return 'it is empty'
  if (/\s/.test(key)) return 'it contains whitespace or a line break; remove it (a copy-paste often adds one)'
  if (/[-_]/.test(key)) return "it uses the URL-safe alphabet ('-' or '_'); IoT Hub keys use '+' and '/'"
  if (/[^A-Za-z0-9+/=]/.test(key)) return 'it contains characters outside the base64 alphabet'
  if (/=[^=]/.test(key)) return "'=' may only appear as padding at the end"
  if (key.length % 4 !== 0)
    return `its length (${key.length}) is not a multiple of 4, so it is truncated or its '=' padding is missing`
  return 'its padding bits are not zero, so it was altered'
}

/**
 * Decodes a base64 key, refusing anything but canonical standard base64.
 *
 * @param what How to name the key in an error, such as `SharedAccessKey` or `--group-key`.
 * @returns The key bytes (a `Uint8Array`, so that the public types need no Node.js types).
 * @throws {SasTokenError} `ERR_INVALID_KEY` with a hint; the message never contains the key.
 */
export function decodeKey(key: string, what = 'SharedAccessKey'): Uint8Array {
  return Buffer.from(assertKey(key, what), 'base64')
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/**
 * Checks that a key is canonical standard base64 without decoding it: the alphabet, the length,
 * the `=` padding, and zero bits under the padding (so that exactly one text encodes the bytes).
 *
 * @param what How to name the key in an error, such as `SharedAccessKey` or `--group-key`.
 * @returns The key, unchanged.
 * @throws {SasTokenError} `ERR_INVALID_KEY` with a hint; the message never contains the key.
 */
export function assertKey(key: string, what = 'SharedAccessKey'): string {
  if (typeof key === 'string' && key.length > 0 && STANDARD_BASE64.test(key)) {
    const pad = key.endsWith('==') ? 2 : key.endsWith('=') ? 1 : 0
    // The last character before the padding carries 4 (for '==') or 2 (for '=') unused bits.
    const unused = pad === 0 ? 0 : ALPHABET.indexOf(key.charAt(key.length - pad - 1)) & (pad === 2 ? 15 : 3)
    if (unused === 0) return key
  }
  throw new SasTokenError(
    'ERR_INVALID_KEY',
    `${what} is not valid base64: ${typeof key === 'string' ? base64Hint(key) : 'it is not a string'}. ` +
      'Copy the key again from the portal or `az iot hub device-identity show`.',
  )
}

/**
 * Derives a device's key from a DPS enrollment-group key:
 * `base64(HMAC-SHA256(base64decode(groupKey), registrationId))`, as `az iot dps enrollment-group
 * compute-device-key` does. The group key itself must never sign a token.
 *
 * @example
 * ```ts
 * deriveDeviceKey(groupKey, 'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6')
 * ```
 * @throws {SasTokenError} `ERR_INVALID_KEY` for a bad group key, `ERR_INVALID_IDENTIFIER` for a
 *   bad registration id.
 */
export function deriveDeviceKey(groupKey: string, registrationId: string): string {
  assertRegistrationId(registrationId)
  return hmacSha256Base64(decodeKey(groupKey, 'group key'), registrationId)
}

/**
 * Whether two base64 keys sign every message alike: HMAC-SHA256 pads a key shorter than its
 * 64-byte block with zero bytes and hashes a longer one first, so `base64(key ‖ 0x00)` is the
 * same key as `key`. Use it, not `===`, to ask whether a key is a known (e.g. documented) one.
 *
 * @example
 * ```ts
 * hmacKeysEquivalent(ownerKey, DEVELOPMENT_OWNER_KEY)
 * ```
 * @throws {SasTokenError} `ERR_INVALID_KEY` when either key is not standard base64 (`what`
 *   names them in the message, which never contains a key).
 */
export function hmacKeysEquivalent(a: string, b: string, what: [string, string] = ['key', 'key']): boolean {
  return hmacKeyBytesEquivalent(decodeKey(a, what[0]), decodeKey(b, what[1]))
}

const KEY_NAME = /^[A-Za-z0-9_\-@.]{1,64}$/

/**
 * Checks a shared access policy name (`skn`), such as `iothubowner` or `registryRead`.
 *
 * @returns The name, unchanged.
 * @throws {SasTokenError} `ERR_INVALID_KEY_NAME`.
 */
export function assertKeyName(keyName: string, what = 'SharedAccessKeyName'): string {
  if (typeof keyName !== 'string' || !KEY_NAME.test(keyName)) {
    throw new SasTokenError(
      'ERR_INVALID_KEY_NAME',
      `${what} is not a valid policy name: use 1 to 64 letters, digits and _ - @ . (for example iothubowner).`,
    )
  }
  return keyName
}
