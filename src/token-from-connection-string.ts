/**
 * A token for the identity a connection string names: the common case in one call. An IoT Hub
 * string signs for its device, module or hub; a Service Bus-family string (`Endpoint=sb://…`)
 * signs for its namespace or entity, with the key as text.
 *
 * @module
 */
import {
  toAnyConnectionString,
  type ConnectionString,
  type IotHubConnectionString,
} from './connection-string.js'
import { SasTokenError } from './errors.js'
import { epochMs, type Expiry } from './expiry.js'
import { assertDeviceId } from './identity.js'
import { parseSasToken, sign, signServiceBus, type SignedToken } from './sas-token.js'
import {
  assertEntityPath,
  serviceBusAudience,
  type ServiceBusConnectionString,
} from './service-bus-connection-string.js'

/** Options of {@link tokenFromConnectionString}. */
export interface TokenFromConnectionStringOptions extends Expiry {
  /** With a service (policy) connection string: the device to scope the token to. */
  deviceId?: string
  /** With a service connection string and `deviceId`: the module to scope the token to. */
  moduleId?: string
  /**
   * With a Service Bus-family string without `EntityPath`: the event hub, queue or topic to sign
   * for (the audience becomes `sb://{namespace}/{entityPath}`).
   */
  entityPath?: string
  /**
   * With a Service Bus-family string: the resource URI to sign for instead of the string's own,
   * such as `https://myns.servicebus.windows.net/myhub` for REST.
   */
  audience?: string
  /** With a Service Bus-family string: lower-case the audience first, as Notification Hubs do. */
  lowercaseAudience?: boolean
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
function resourceOf(cs: IotHubConnectionString, o: TokenFromConnectionStringOptions): string {
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
      assertDeviceId(o.deviceId),
      o.moduleId === undefined ? undefined : assertDeviceId(o.moduleId, 'ModuleId'),
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
  if (cs.kind === 'service-bus')
    serviceBusResource(cs, o) // refuses another entity
  else if (cs.kind !== 'service') resourceOf(cs, o) // refuses another identity
  if (
    o.ttl !== undefined ||
    o.expiresAt !== undefined ||
    (cs.kind === 'service' && o.deviceId !== undefined) ||
    (cs.kind === 'service-bus' && (o.entityPath !== undefined || o.audience !== undefined))
  ) {
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      'The connection string carries a ready-made SharedAccessSignature and no key, so it cannot sign a new token (with a new expiry or for another device); leave the expiry out to use its token as it is, or use a connection string with SharedAccessKey.',
      {
        facts: {
          option:
            o.ttl !== undefined
              ? 'ttl'
              : o.expiresAt !== undefined
                ? 'expiresAt'
                : cs.kind === 'service-bus'
                  ? o.audience !== undefined
                    ? 'audience'
                    : 'entityPath'
                  : 'deviceId',
        },
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
  if (cs.kind === 'service-bus') {
    // The parser makes SharedAccessKey come with SharedAccessKeyName, or a token instead.
    const { sharedAccessKey = '', sharedAccessKeyName = '' } = cs
    return signServiceBus(
      serviceBusResource(cs, o),
      sharedAccessKey,
      sharedAccessKeyName,
      o,
      o.lowercaseAudience === true,
    )
  }
  if (cs.sharedAccessKey === undefined) {
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      'This identity authenticates with an X.509 certificate (x509=true); it has no key to sign a token with.',
    )
  }
  return sign(ownResource(cs, o), cs.sharedAccessKey, cs.sharedAccessKeyName, o)
}

/**
 * The audience a Service Bus-family string signs for: `o.audience` as given, or
 * `sb://{namespace}/{entity}` with the string's `EntityPath` or `o.entityPath` (a string that
 * names an entity signs for that one only: its policy may be the entity's).
 */
function serviceBusResource(cs: ServiceBusConnectionString, o: TokenFromConnectionStringOptions): string {
  if (o.deviceId !== undefined || o.moduleId !== undefined) {
    throw new SasTokenError(
      'ERR_IDENTITY_MISMATCH',
      'A Service Bus-family connection string (Endpoint=sb://…) names no device; give entityPath or audience instead of deviceId or moduleId.',
      { facts: { option: o.deviceId !== undefined ? 'deviceId' : 'moduleId' } },
    )
  }
  if (o.audience !== undefined) return o.audience
  if (o.entityPath === undefined) return serviceBusAudience(cs)
  assertEntityPath(o.entityPath, 'entityPath')
  if (cs.entityPath !== undefined && cs.entityPath !== o.entityPath) {
    throw new SasTokenError(
      'ERR_IDENTITY_MISMATCH',
      `The connection string is for the entity ${cs.entityPath}; its policy may be that entity's alone. Use the namespace's connection string (without EntityPath) to sign for other entities, or give audience.`,
      { facts: { option: 'entityPath' } },
    )
  }
  return serviceBusAudience({ ...cs, entityPath: o.entityPath })
}

/** The last checked connection string signed for its own identity, and that resource. */
let lastOwner: IotHubConnectionString | undefined
let lastResource = ''

/**
 * {@link resourceOf}, remembered for the last checked object when no other identity is asked
 * for: signing for the same identity again is the common case (a loop, a token source), and a
 * checked object's fields do not change under it (a changed object comes back from the check
 * as a new one).
 */
function ownResource(cs: IotHubConnectionString, o: TokenFromConnectionStringOptions): string {
  if (o.deviceId !== undefined || o.moduleId !== undefined) return resourceOf(cs, o)
  if (cs !== lastOwner) {
    lastResource = resourceOf(cs, o)
    lastOwner = cs
  }
  return lastResource
}

/**
 * Signs a token for the identity a connection string names.
 *
 * - Device and module strings give a device or module token, byte-identical to the Node SDK's
 *   (with `SharedAccessKeyName`, a policy token for that device, `skn` last).
 * - A service (policy) string gives a token with `skn` for the hub, or, with `deviceId`
 *   (and `moduleId`), one scoped to that device or module.
 * - A Service Bus-family string (`Endpoint=sb://…`) gives a policy token for
 *   `sb://{namespace}/{EntityPath}` (or `o.entityPath`, or `o.audience`), signed with the key's
 *   text as `@azure/core-amqp` signs.
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
 *   a `deviceId`/`moduleId` other than a device or module string's own (or any, with a Service
 *   Bus-family string, or an `entityPath` other than its own); `ERR_INVALID_ENTITY_PATH`,
 *   `ERR_INVALID_RESOURCE_URI` (an `audience` without a scheme); and the expiry codes.
 */
export function tokenFromConnectionString(
  cs: string | ConnectionString,
  o: TokenFromConnectionStringOptions = {},
): string {
  if (typeof o !== 'object' || o === null)
    throw new SasTokenError('ERR_INVALID_ARGUMENT', 'tokenFromConnectionString takes an options object.', {
      facts: { given: o === null ? 'null' : typeof o },
    })
  return signConnectionString(toAnyConnectionString(cs, 'tokenFromConnectionString'), o).token
}
