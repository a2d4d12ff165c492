/**
 * A token for the identity a connection string names: the common case in one call.
 *
 * @module
 */
import { toConnectionString, type ConnectionString } from './connection-string.js'
import { SasTokenError } from './errors.js'
import { epochMs, type Expiry } from './expiry.js'
import { createSasToken, deviceResourceUri, parseSasToken } from './sas-token.js'

/** Options of {@link tokenFromConnectionString}. */
export interface TokenFromConnectionStringOptions extends Expiry {
  /** With a service (policy) connection string: the device to scope the token to. */
  deviceId?: string
  /** With a service connection string and `deviceId`: the module to scope the token to. */
  moduleId?: string
}

/**
 * The resource a connection string's key signs for: the device or module, or, for a service
 * string, the hub itself or the device that `o` names.
 */
function resourceOf(cs: ConnectionString, o: TokenFromConnectionStringOptions): string {
  if (cs.kind === 'service') {
    if (o.deviceId === undefined) {
      if (o.moduleId !== undefined) {
        throw new SasTokenError(
          'ERR_DEVICE_ID_REQUIRED',
          'A module token needs the deviceId of the device the module belongs to.',
        )
      }
      return cs.hostName
    }
    return deviceResourceUri(cs.hostName, o.deviceId, o.moduleId)
  }
  if (
    (o.deviceId !== undefined && o.deviceId !== cs.deviceId) ||
    (o.moduleId !== undefined && o.moduleId !== cs.moduleId)
  ) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `The connection string is for ${deviceResourceUri(cs.hostName, cs.deviceId, cs.moduleId)}; its key cannot sign for another identity. Use a service (policy) connection string to scope a token to any device.`,
    )
  }
  return deviceResourceUri(cs.hostName, cs.deviceId, cs.moduleId)
}

/** The token a `SharedAccessSignature=` connection string carries, if it is still usable. */
function embeddedToken(cs: ConnectionString, token: string, o: TokenFromConnectionStringOptions): string {
  if (cs.kind !== 'service') resourceOf(cs, o) // refuses another identity
  if (
    o.ttl !== undefined ||
    o.expiresAt !== undefined ||
    (cs.kind === 'service' && o.deviceId !== undefined)
  ) {
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      'The connection string carries a ready-made SharedAccessSignature and no key, so it cannot sign a new token; use a connection string with SharedAccessKey.',
    )
  }
  const { expiresAt } = parseSasToken(token)
  if (expiresAt * 1000 < epochMs(o.now)) {
    throw new SasTokenError(
      'ERR_TOKEN_EXPIRED',
      `The connection string's SharedAccessSignature expired at ${new Date(expiresAt * 1000).toISOString()}: generate a new one.`,
    )
  }
  return token
}

/**
 * Signs a token for the identity a connection string names.
 *
 * - Device and module strings give a device or module token, byte-identical to the Node SDK's
 *   (with `SharedAccessKeyName`, a policy token for that device, `skn` last).
 * - A service (policy) string gives a token with `skn` for the hub, or, with `deviceId`
 *   (and `moduleId`), one scoped to that device or module.
 * - A `SharedAccessSignature=` string gives back its token, while it is unexpired.
 *
 * @example
 * ```ts
 * tokenFromConnectionString(process.env.IOTHUB_DEVICE_CONNECTION_STRING!, { ttl: '1h' })
 * ```
 * @throws {SasTokenError} any code of `parseConnectionString`; `ERR_KEY_REQUIRED` for
 *   X.509 strings and for a new expiry on a `SharedAccessSignature=` string; `ERR_TOKEN_EXPIRED`
 *   when that embedded token has expired; `ERR_DEVICE_ID_REQUIRED`, `ERR_INVALID_OPTION`; and the
 *   expiry codes.
 */
export function tokenFromConnectionString(
  cs: string | ConnectionString,
  o: TokenFromConnectionStringOptions = {},
): string {
  if (typeof o !== 'object' || o === null)
    throw new SasTokenError('ERR_INVALID_OPTION', 'tokenFromConnectionString takes an options object.')
  const parsed = toConnectionString(cs)
  if (parsed.sharedAccessSignature !== undefined)
    return embeddedToken(parsed, parsed.sharedAccessSignature, o)
  if (parsed.sharedAccessKey === undefined) {
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      'This identity authenticates with an X.509 certificate (x509=true); it has no key to sign a token with.',
    )
  }
  const resourceUri = resourceOf(parsed, o)
  const { deviceId: _d, moduleId: _m, ...expiry } = o
  return createSasToken({
    ...expiry,
    resourceUri,
    key: parsed.sharedAccessKey,
    ...(parsed.sharedAccessKeyName === undefined ? {} : { keyName: parsed.sharedAccessKeyName }),
  })
}
