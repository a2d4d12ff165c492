/**
 * A token for the identity a connection string names: the common case in one call.
 *
 * @module
 */
import { toConnectionString, type ConnectionString } from './connection-string.js'
import { SasTokenError } from './errors.js'
import { epochMs, type Expiry } from './expiry.js'
import { assertDeviceId } from './identity.js'
import { parseSasToken, sign, type SignedToken } from './sas-token.js'

/** Options of {@link tokenFromConnectionString}. */
export interface TokenFromConnectionStringOptions extends Expiry {
  /** With a service (policy) connection string: the device to scope the token to. */
  deviceId?: string
  /** With a service connection string and `deviceId`: the module to scope the token to. */
  moduleId?: string
}

/** `{host}/devices/{deviceId}[/modules/{moduleId}]` from values already checked. */
function resourceUri(hostName: string, deviceId: string, moduleId: string | undefined): string {
  const device = hostName + '/devices/' + deviceId
  return moduleId === undefined ? device : device + '/modules/' + moduleId
}

/**
 * The resource a checked connection string's key signs for: the device or module, or, for a
 * service string, the hub itself or the device that `o` names.
 */
function resourceOf(cs: ConnectionString, o: TokenFromConnectionStringOptions): string {
  if (cs.kind === 'service') {
    if (o.deviceId === undefined) {
      if (o.moduleId !== undefined) {
        throw new SasTokenError(
          'ERR_DEVICE_ID_REQUIRED',
          'A module token needs the deviceId of the device the module belongs to.',
          { facts: { option: 'deviceId' } },
        )
      }
      return cs.hostName
    }
    return resourceUri(
      cs.hostName,
      assertDeviceId(o.deviceId, 'deviceId'),
      o.moduleId === undefined ? undefined : assertDeviceId(o.moduleId, 'moduleId'),
    )
  }
  if (
    (o.deviceId !== undefined && o.deviceId !== cs.deviceId) ||
    (o.moduleId !== undefined && o.moduleId !== cs.moduleId)
  ) {
    throw new SasTokenError(
      'ERR_IDENTITY_MISMATCH',
      `The connection string is for ${resourceUri(cs.hostName, cs.deviceId, cs.moduleId)}; its key cannot sign for another identity. Use a service (policy) connection string to scope a token to any device.`,
      { facts: { option: o.deviceId !== undefined && o.deviceId !== cs.deviceId ? 'deviceId' : 'moduleId' } },
    )
  }
  return resourceUri(cs.hostName, cs.deviceId, cs.moduleId)
}

/** The token a `SharedAccessSignature=` connection string carries, if it is still usable. */
function embeddedToken(
  cs: ConnectionString,
  token: string,
  o: TokenFromConnectionStringOptions,
): SignedToken {
  if (cs.kind !== 'service') resourceOf(cs, o) // refuses another identity
  if (
    o.ttl !== undefined ||
    o.expiresAt !== undefined ||
    (cs.kind === 'service' && o.deviceId !== undefined)
  ) {
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      'The connection string carries a ready-made SharedAccessSignature and no key, so it cannot sign a new token (with a new expiry or for another device); leave the expiry out to use its token as it is, or use a connection string with SharedAccessKey.',
      {
        facts: { option: o.ttl !== undefined ? 'ttl' : o.expiresAt !== undefined ? 'expiresAt' : 'deviceId' },
      },
    )
  }
  const parsed = parseSasToken(token)
  if (parsed.expiresAt * 1000 < epochMs(o.now)) {
    throw new SasTokenError(
      'ERR_TOKEN_EXPIRED',
      `The connection string's SharedAccessSignature expired at ${new Date(parsed.expiresAt * 1000).toISOString()}: generate a new one.`,
      { facts: { expiresAt: parsed.expiresAt } },
    )
  }
  return { token, expiresAt: parsed.expiresAt, resourceUri: parsed.resourceUri }
}

/**
 * {@link tokenFromConnectionString}, with the facts of the token: the one signing path for
 * connection strings. Internal; `cs` must come from `toConnectionString`.
 *
 * @throws {SasTokenError} as {@link tokenFromConnectionString}.
 */
export function signConnectionString(cs: ConnectionString, o: TokenFromConnectionStringOptions): SignedToken {
  if (cs.sharedAccessSignature !== undefined) return embeddedToken(cs, cs.sharedAccessSignature, o)
  if (cs.sharedAccessKey === undefined) {
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      'This identity authenticates with an X.509 certificate (x509=true); it has no key to sign a token with.',
    )
  }
  return sign(resourceOf(cs, o), cs.sharedAccessKey, cs.sharedAccessKeyName, o)
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
 * An object from `parseConnectionString` is trusted as checked while its fields are unchanged;
 * a hand-built or changed object is checked first, as text would be.
 *
 * @example
 * ```ts
 * tokenFromConnectionString(process.env.IOTHUB_DEVICE_CONNECTION_STRING!, { ttl: '1h' })
 * ```
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` when `cs` is neither text nor an object, or
 *   `o` is not an object; any code of `parseConnectionString`; `ERR_KEY_REQUIRED` for X.509
 *   strings and for a new expiry on a `SharedAccessSignature=` string; `ERR_TOKEN_EXPIRED`
 *   when that embedded token has expired; `ERR_DEVICE_ID_REQUIRED`; `ERR_IDENTITY_MISMATCH` for
 *   a `deviceId`/`moduleId` other than a device or module string's own; and the expiry codes.
 */
export function tokenFromConnectionString(
  cs: string | ConnectionString,
  o: TokenFromConnectionStringOptions = {},
): string {
  if (typeof o !== 'object' || o === null)
    throw new SasTokenError('ERR_INVALID_ARGUMENT', 'tokenFromConnectionString takes an options object.', {
      facts: { given: o === null ? 'null' : typeof o },
    })
  return signConnectionString(toConnectionString(cs, 'tokenFromConnectionString'), o).token
}
