/**
 * Shared access signature tokens: create, parse and verify.
 *
 * A token is `SharedAccessSignature sr={resource}&sig={signature}&se={expiry}`, plus `&skn={policy}`
 * when a shared access policy's key signed it. The signature is
 * `base64(HMAC-SHA256(base64decode(key), sr + "\n" + se))` over `sr` exactly as it appears in
 * the token. `sr` and `sig` are encoded the way the Node SDK (`azure-iot-common`) encodes them,
 * so device and module tokens are byte-identical to the SDK's.
 *
 * The Service Bus family (Event Hubs, Service Bus, Relay, Notification Hubs) uses the same
 * token with two differences: the HMAC key is the UTF-8 text of the key, not its base64-decoded
 * bytes, and `sr` is a URI with a scheme (`sb://ns.servicebus.windows.net/entity`), encoded with
 * plain `encodeURIComponent` as `@azure/core-amqp` does. A token's audience tells the two apart:
 * an `sr` with a scheme is the Service Bus family's, one without is IoT Hub's or DPS's. Both sign
 * through {@link signToken}.
 *
 * @module
 */
import { SasTokenError } from './errors.js'
import { resolveExpiry, epochMs, type Expiry } from './expiry.js'
import { hmacSha256Base64, signaturesEqual } from './hmac.js'
import { assertDeviceId, assertHostName, assertIdScope, assertRegistrationId } from './identity.js'
import { assertKeyName, decodeKey } from './keys.js'
import { readQuery } from './query-string.js'

const PREFIX = 'SharedAccessSignature '

/** The policy name DPS expects in a device's registration token. */
export const DPS_KEY_NAME = 'registration'

/** The clock skew IoT Hub allows when it checks `se`: five minutes. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 300

/** What to sign: a resource and a key, with an expiry. */
export interface CreateSasTokenOptions extends Expiry {
  /** The resource the token grants access to, not encoded, such as `myhub.azure-devices.net/devices/dev1`. */
  resourceUri: string
  /** The base64 key: a device or module key, or a shared access policy's key. */
  key: string
  /** The policy name (`skn`); give it only when `key` is a policy's key. */
  keyName?: string
}

/** What a Service Bus-family token needs: an audience, a policy and its key, an expiry. */
export interface CreateServiceBusSasTokenOptions extends Expiry {
  /**
   * The resource URI the token grants access to, not encoded, with its scheme:
   * `sb://ns.servicebus.windows.net/entity` for AMQP, `https://ns.servicebus.windows.net/entity`
   * for REST.
   */
  audience: string
  /** The policy's key, used as its UTF-8 text (not base64-decoded, unlike IoT Hub's). */
  key: string
  /** The policy name (`skn`), such as `RootManageSharedAccessKey`. */
  keyName: string
  /**
   * Lower-case the audience before signing, as `@azure/notification-hubs` does. The Event Hubs
   * and Service Bus SDKs do not. Default `false`.
   */
  lowercaseAudience?: boolean
}

/** What a DPS registration token needs. */
export interface CreateDpsSasTokenOptions extends Expiry {
  /** The DPS ID scope, such as `0ne00000A0A`. */
  idScope: string
  /** The registration id; for a group enrollment, the id the device key was derived for. */
  registrationId: string
  /** The enrollment's key: an individual enrollment key or a key from {@link deriveDeviceKey}. */
  key: string
}

/** A token taken apart. */
export interface ParsedSasToken {
  /** The resource, URL-decoded, such as `myhub.azure-devices.net/devices/dev1`. */
  resourceUri: string
  /** `sr` exactly as it appears in the token: the string the signature covers. */
  encodedResourceUri: string
  /** The signature, URL-decoded (standard base64). */
  signature: string
  /** `se`: epoch seconds. */
  expiresAt: number
  /** `skn`, when a policy key signed the token. */
  keyName?: string
  /** The first segment of the resource. */
  hostName?: string
  /** From `{host}/devices/{deviceId}…`. */
  deviceId?: string
  /** From `{host}/devices/{deviceId}/modules/{moduleId}`. */
  moduleId?: string
  /** From a DPS resource `{idScope}/registrations/{registrationId}`. */
  idScope?: string
  /** From a DPS resource `{idScope}/registrations/{registrationId}`. */
  registrationId?: string
  /** From a Service Bus-family audience `{scheme}://{host}/{entityPath}`: the entity, when named. */
  entityPath?: string
  /**
   * How the key signs, as the audience implies: `'iot-hub'` (IoT Hub and DPS: the key's
   * base64-decoded bytes) for an `sr` without a scheme, `'service-bus'` (Event Hubs, Service Bus,
   * Relay, Notification Hubs: the key's UTF-8 text) for an `sr` with one.
   */
  family: TokenFamily
}

/** Which key convention a token's audience implies; see {@link ParsedSasToken.family}. */
export type TokenFamily = 'iot-hub' | 'service-bus'

/** What {@link verifySasToken} checks against. */
export interface VerifySasTokenOptions {
  /**
   * The key the token should have been signed with: base64 for an IoT Hub or DPS token, the
   * policy key's text for a Service Bus-family one (its audience has a scheme).
   */
  key: string
  /** The current time: epoch milliseconds or a `Date`. Defaults to `Date.now()`. */
  now?: number | Date
  /** How long past `se` a token is still accepted; IoT Hub's 300 seconds by default. */
  clockSkewSeconds?: number
  /**
   * The resource being accessed. A token without `skn` must name exactly this resource; a
   * policy token (with `skn`) may name it or a parent of it, segment by segment.
   */
  resourceUri?: string
}

/** Text that `encodeURIComponent` leaves as it is, and so does the strict form. */
const UNRESERVED = /^[A-Za-z0-9\-._~]*$/

/**
 * `encodeURIComponent`, plus `! ' ( ) *` percent-encoded, exactly as the Node SDK's
 * `encodeUriComponentStrict` does it (including its lower-case `%2a` for `*`).
 *
 * @throws {SasTokenError} `ERR_INVALID_RESOURCE_URI` for text with a lone surrogate.
 */
export function encodeUriComponentStrict(text: string): string {
  if (typeof text !== 'string')
    throw new SasTokenError('ERR_INVALID_ARGUMENT', 'Only text can be URL-encoded.', {
      facts: { given: typeof text },
    })
  if (UNRESERVED.test(text)) return text // nothing to encode: most device ids
  let encoded: string
  try {
    encoded = encodeURIComponent(text)
  } catch (cause) {
    throw new SasTokenError(
      'ERR_INVALID_RESOURCE_URI',
      'The text holds a lone UTF-16 surrogate and cannot be URL-encoded.',
      { cause },
    )
  }
  return encoded.replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16))
}

/**
 * The resource URI of a device or module identity, not encoded:
 * `{hostName}/devices/{deviceId}[/modules/{moduleId}]`.
 *
 * @throws {SasTokenError} `ERR_INVALID_HOST_NAME` or `ERR_INVALID_IDENTIFIER`.
 */
export function deviceResourceUri(hostName: string, deviceId: string, moduleId?: string): string {
  const device = `${assertHostName(hostName)}/devices/${assertDeviceId(deviceId)}`
  return moduleId === undefined ? device : `${device}/modules/${assertDeviceId(moduleId, 'ModuleId')}`
}

/** A device's or module's resource, as text and as the token's `sr`. */
export interface DeviceResource {
  resourceUri: string
  sr: string
}

/**
 * The resources of one hub's devices and modules, for signing many: the host is checked and
 * encoded once, then each call checks and encodes only its ids. Internal; a batch of device ids
 * signs with it and {@link signEncoded}.
 *
 * @throws {SasTokenError} `ERR_INVALID_HOST_NAME`; the function it returns throws
 *   `ERR_INVALID_IDENTIFIER`.
 */
export function deviceResources(hostName: string): (deviceId: string, moduleId?: string) => DeviceResource {
  const devices = `${assertHostName(hostName)}/devices/`
  const encodedDevices = encodeUriComponentStrict(devices)
  return (deviceId, moduleId) => {
    const device = devices + assertDeviceId(deviceId)
    const sr = encodedDevices + encodeUriComponentStrict(deviceId)
    return moduleId === undefined
      ? { resourceUri: device, sr }
      : {
          resourceUri: `${device}/modules/${assertDeviceId(moduleId, 'ModuleId')}`,
          sr: `${sr}%2Fmodules%2F${encodeUriComponentStrict(moduleId)}`,
        }
  }
}

/**
 * Remembers the last result of a pure one-argument function. Signing with the same key and
 * resource again is the common case (a token source, a batch, a loop), and decoding the key and
 * encoding the resource would otherwise cost a quarter of the signing time.
 */
function rememberLast<T>(fn: (input: string) => T): (input: string) => T {
  let lastInput: string | undefined
  let lastOutput: T
  return (input) => {
    if (input !== lastInput) {
      lastOutput = fn(input)
      lastInput = input
    }
    return lastOutput
  }
}

const signingKey = rememberLast((key) => decodeKey(key, 'key'))
const encodedResource = rememberLast((resourceUri) => {
  if (typeof resourceUri !== 'string' || resourceUri.length === 0 || /\s/.test(resourceUri)) {
    throw new SasTokenError(
      'ERR_INVALID_RESOURCE_URI',
      'resourceUri must be a non-empty resource without whitespace, such as myhub.azure-devices.net/devices/dev1.',
    )
  }
  if (SCHEMED.test(resourceUri)) {
    // IoT Hub's signer decodes the key; a Service Bus-family audience needs its text.
    throw new SasTokenError(
      'ERR_INVALID_RESOURCE_URI',
      "resourceUri has a scheme, so it is a Service Bus-family audience (Event Hubs, Service Bus, Relay, Notification Hubs), whose key signs as its text, not base64-decoded: use createServiceBusSasToken (on the command line, -c 'Endpoint=sb://…' with --audience).",
    )
  }
  return encodeUriComponentStrict(resourceUri)
})

const checkedKeyName = rememberLast((keyName) => assertKeyName(keyName, 'keyName'))

/**
 * A Service Bus-family key as HMAC key bytes: its UTF-8 text, as the SDKs sign with it. Any
 * non-empty text without whitespace is a key (a portal key is base64 text, but it is not decoded).
 */
const textSigningKey = rememberLast((key) => Buffer.from(assertTextKey(key, 'key'), 'utf8'))

/**
 * Checks a Service Bus-family key: non-empty text without whitespace or control characters.
 *
 * @throws {SasTokenError} `ERR_INVALID_KEY`; the message never contains the key.
 */
export function assertTextKey(key: string, what = 'SharedAccessKey'): string {
  if (typeof key === 'string' && key.length > 0 && !/[\s\p{Cc}]/u.test(key)) return key
  throw new SasTokenError(
    'ERR_INVALID_KEY',
    `${what} is not a usable key: ${typeof key !== 'string' ? 'it is not a string' : key.length === 0 ? 'it is empty' : 'it contains whitespace, a line break or a control character; remove it (a copy-paste often adds one)'}. Copy the key again from the portal's shared access policy.`,
  )
}

/** `encodeURIComponent` with a coded error for a lone surrogate. */
function encodeComponent(text: string, what: string): string {
  try {
    return encodeURIComponent(text)
  } catch (cause) {
    throw new SasTokenError(
      'ERR_INVALID_RESOURCE_URI',
      `${what} holds a lone UTF-16 surrogate and cannot be URL-encoded.`,
      {
        cause,
      },
    )
  }
}

/** A Service Bus-family audience: non-empty, without whitespace, with a scheme. */
const encodedAudience = rememberLast((audience) => {
  if (typeof audience !== 'string' || !SCHEMED.test(audience) || /\s/.test(audience)) {
    throw new SasTokenError(
      'ERR_INVALID_RESOURCE_URI',
      'audience must be a resource URI with a scheme and without whitespace, such as sb://myns.servicebus.windows.net/myhub.',
    )
  }
  return encodeComponent(audience, 'audience')
})

const encodedPolicy = rememberLast((keyName) => encodeComponent(assertKeyName(keyName, 'keyName'), 'keyName'))

/** A resource with a scheme (`sb://`, `https://`, `amqps://`): the Service Bus family's audience. */
const SCHEMED = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]/

/** The key convention a (decoded) resource implies: a scheme means the Service Bus family. */
export function familyOf(resourceUri: string): TokenFamily {
  return SCHEMED.test(resourceUri) ? 'service-bus' : 'iot-hub'
}

function assertOptions(o: unknown, of: string): void {
  if (typeof o !== 'object' || o === null)
    throw new SasTokenError('ERR_INVALID_ARGUMENT', `${of} takes an options object.`, {
      facts: { given: o === null ? 'null' : typeof o },
    })
}

/** A token just made, with the facts it holds, so that nobody parses a token they just made. */
export interface SignedToken {
  /** `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]`. */
  token: string
  /** `se`: epoch seconds. */
  expiresAt: number
  /** The resource it signs for, not encoded. */
  resourceUri: string
}

/**
 * The one signer: a token for `resourceUri` with `key` (a policy's, when `keyName` is given),
 * expiring as `expiry` says. Internal; {@link createSasToken} is the public form.
 *
 * @throws {SasTokenError} as {@link createSasToken}.
 */
export function sign(
  resourceUri: string,
  key: string,
  keyName: string | undefined,
  expiry: Expiry,
): SignedToken {
  return signEncoded(resourceUri, encodedResource(resourceUri), key, keyName, expiry)
}

/**
 * {@link sign}, for a caller that has `sr`, the encoded `resourceUri`, already (see
 * {@link deviceResources}). Internal.
 *
 * @throws {SasTokenError} as {@link createSasToken}.
 */
export function signEncoded(
  resourceUri: string,
  sr: string,
  key: string,
  keyName: string | undefined,
  expiry: Expiry,
): SignedToken {
  const expiresAt = resolveExpiry(expiry)
  const token = signToken(
    sr,
    signingKey(key),
    expiresAt,
    keyName === undefined ? undefined : encodeUriComponentStrict(checkedKeyName(keyName)),
  )
  return { token, expiresAt, resourceUri }
}

/**
 * The Service Bus-family signer: `sr` is the audience (lower-cased first when asked, as
 * Notification Hubs do) encoded with `encodeURIComponent`, the HMAC key is the key's UTF-8
 * text, and `skn` is always there. Internal; {@link createServiceBusSasToken} is the public form.
 *
 * @throws {SasTokenError} as {@link createServiceBusSasToken}.
 */
export function signServiceBus(
  audience: string,
  key: string,
  keyName: string,
  expiry: Expiry,
  lowercaseAudience = false,
): SignedToken {
  const resourceUri = lowercaseAudience && typeof audience === 'string' ? audience.toLowerCase() : audience
  const sr = encodedAudience(resourceUri)
  const expiresAt = resolveExpiry(expiry)
  return {
    token: signToken(sr, textSigningKey(key), expiresAt, encodedPolicy(keyName)),
    expiresAt,
    resourceUri,
  }
}

/**
 * Builds the token text: the one place a signature is made. Everything has been checked; `sr`
 * and `skn` are already encoded, `key` is the HMAC key's bytes in the convention of the family.
 */
function signToken(
  sr: string,
  key: Parameters<typeof hmacSha256Base64>[0],
  se: number,
  skn: string | undefined,
): string {
  const sig = encodeURIComponent(hmacSha256Base64(key, sr + '\n' + se))
  const token = PREFIX + 'sr=' + sr + '&sig=' + sig + '&se=' + se
  return skn === undefined ? token : token + '&skn=' + skn
}

/**
 * Signs a token for any resource.
 *
 * @example
 * ```ts
 * createSasToken({ resourceUri: 'myhub.azure-devices.net/devices/dev1', key, ttl: '1h' })
 * // 'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=…&se=…'
 * ```
 * @throws {SasTokenError} `ERR_INVALID_KEY`, `ERR_INVALID_KEY_NAME`, `ERR_INVALID_RESOURCE_URI`
 *   (also for a resource with a scheme, `sb://…`: that is {@link createServiceBusSasToken}'s),
 *   and the expiry codes of {@link resolveExpiry}.
 */
export function createSasToken(o: CreateSasTokenOptions): string {
  assertOptions(o, 'createSasToken')
  return sign(o.resourceUri, o.key, o.keyName, o).token
}

/**
 * Signs a Service Bus-family token (Event Hubs, Service Bus, Relay, Notification Hubs):
 * `SharedAccessSignature sr=…&sig=…&se=…&skn=…`, byte-identical to `@azure/core-amqp`'s SAS
 * token provider (and, with `lowercaseAudience`, to `@azure/notification-hubs`'). The key is
 * signed with as its UTF-8 text: it is not base64-decoded, as an IoT Hub key is by
 * {@link createSasToken}.
 *
 * @example
 * ```ts
 * createServiceBusSasToken({ audience: 'sb://myns.servicebus.windows.net/orders', keyName: 'RootManageSharedAccessKey', key, ttl: '1h' })
 * // 'SharedAccessSignature sr=sb%3A%2F%2Fmyns.servicebus.windows.net%2Forders&sig=…&se=…&skn=RootManageSharedAccessKey'
 * ```
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` (no options object), `ERR_INVALID_KEY`,
 *   `ERR_INVALID_KEY_NAME`, `ERR_INVALID_RESOURCE_URI` (an audience without a scheme, or with
 *   whitespace), and the expiry codes of {@link resolveExpiry}.
 */
export function createServiceBusSasToken(o: CreateServiceBusSasTokenOptions): string {
  assertOptions(o, 'createServiceBusSasToken')
  return signServiceBus(o.audience, o.key, o.keyName, o, o.lowercaseAudience === true).token
}

/**
 * Signs a DPS registration token: `sr` is the encoded `{idScope}/registrations/{registrationId}`
 * and `skn` is `registration`.
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_INVALID_KEY`, and the expiry codes.
 */
export function createDpsSasToken(o: CreateDpsSasTokenOptions): string {
  return signDps(o).token
}

/**
 * {@link createDpsSasToken}, with the facts of the token it made. Internal.
 *
 * @throws {SasTokenError} as {@link createDpsSasToken}.
 */
export function signDps(o: CreateDpsSasTokenOptions): SignedToken {
  assertOptions(o, 'createDpsSasToken')
  const resourceUri = `${assertIdScope(o.idScope)}/registrations/${assertRegistrationId(o.registrationId)}`
  return sign(resourceUri, o.key, DPS_KEY_NAME, o)
}

function malformed(reason: string): SasTokenError {
  return new SasTokenError('ERR_TOKEN_MALFORMED', `The SAS token is malformed: ${reason}.`)
}

function decodeField(name: string, value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw malformed(`'${name}' has invalid percent-encoding`)
  }
}

const FIELD_NAMES = new Set(['sr', 'sig', 'se', 'skn'])

/** Splits a token into its raw fields, checking the shape but decoding nothing. */
function splitToken(token: string): Record<'sr' | 'sig' | 'se', string> & { skn?: string } {
  if (typeof token !== 'string') throw malformed('it is not a string')
  if (!token.startsWith(PREFIX)) {
    const hint = /^SharedAccessSignature=/i.test(token)
      ? "this is a connection-string field; drop the leading 'SharedAccessSignature='"
      : "it must start with 'SharedAccessSignature ' (one space), then sr=…&sig=…&se=…"
    throw malformed(hint)
  }
  const fields: Record<string, string> = {}
  for (const { name, value = '' } of readQuery(token.slice(PREFIX.length))) {
    if (!FIELD_NAMES.has(name)) {
      throw malformed(
        /^[A-Za-z]{1,16}$/.test(name)
          ? `unknown field '${name}'; a token has only sr, sig, se and skn`
          : "every field must be name=value with a name among sr, sig, se and skn, separated by '&'",
      )
    }
    if (name in fields) throw malformed(`'${name}' appears twice`)
    if (value === '') throw malformed(`'${name}' is empty`)
    fields[name] = value
  }
  for (const name of ['sr', 'sig', 'se'] as const) {
    if (!(name in fields)) throw malformed(`'${name}' is missing`)
  }
  return fields as Record<'sr' | 'sig' | 'se', string> & { skn?: string }
}

/**
 * Takes a token apart, without checking its signature or expiry.
 *
 * @example
 * ```ts
 * parseSasToken(token).expiresAt // epoch seconds
 * ```
 * @throws {SasTokenError} `ERR_TOKEN_MALFORMED`: wrong prefix, a missing, duplicate, empty or
 *   unknown field, a non-numeric `se`, a signature that is not a base64 HMAC-SHA256, or invalid
 *   percent-encoding.
 */
export function parseSasToken(token: string): ParsedSasToken {
  return dissect(token).parsed
}

function dissect(token: string): { parsed: ParsedSasToken; raw: ReturnType<typeof splitToken> } {
  const raw = splitToken(token)
  if (!/^\d{1,15}$/.test(raw.se)) throw malformed("'se' must be whole seconds since the Unix epoch")
  const signature = decodeField('sig', raw.sig)
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(signature)) throw malformed("'sig' is not a base64 HMAC-SHA256 signature")
  const resourceUri = decodeField('sr', raw.sr)
  const parsed: ParsedSasToken = {
    resourceUri,
    encodedResourceUri: raw.sr,
    signature,
    expiresAt: Number(raw.se),
    family: familyOf(resourceUri),
  }
  if (raw.skn !== undefined) parsed.keyName = decodeField('skn', raw.skn)
  Object.assign(parsed, resourceFacts(resourceUri))
  return { parsed, raw }
}

/** What a resource URI names, segment by segment. */
export type ResourceFacts = Pick<
  ParsedSasToken,
  'hostName' | 'deviceId' | 'moduleId' | 'idScope' | 'registrationId' | 'entityPath'
>

/**
 * The hub, device, module or DPS registration a (decoded) resource URI names: what
 * {@link parseSasToken} reports about `sr`, for a token the caller has just made. Internal.
 */
export function resourceFacts(resourceUri: string): ResourceFacts {
  const facts: ResourceFacts = {}
  const scheme = SCHEMED.exec(resourceUri)
  if (scheme !== null) {
    // {scheme}://{host}[:port]/{entity path}: the Service Bus family's audience
    const rest = resourceUri.slice(scheme[0].length - 1)
    const slash = rest.indexOf('/')
    const authority = slash === -1 ? rest : rest.slice(0, slash)
    const path = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '')
    facts.hostName = authority.replace(/:\d*$/, '')
    if (path !== '') facts.entityPath = path
    return facts
  }
  const [first, kind, id, sub, subId] = resourceUri.split('/')
  if (kind === 'registrations' && first && id) {
    facts.idScope = first
    facts.registrationId = id
  } else if (first) {
    facts.hostName = first
    if (kind === 'devices' && id) facts.deviceId = id
    if (kind === 'devices' && id && sub === 'modules' && subId) facts.moduleId = subId
  }
  return facts
}

/** A resource with its host name lower-cased: host names are case-insensitive, ids are not. */
function canonicalResource(resourceUri: string): string {
  const scheme = SCHEMED.exec(resourceUri)
  const slash = resourceUri.indexOf('/', scheme === null ? 0 : scheme[0].length)
  return slash === -1
    ? resourceUri.toLowerCase()
    : resourceUri.slice(0, slash).toLowerCase() + resourceUri.slice(slash)
}

/**
 * `true` when a token for `granted` covers `requested`: the same resource, or, with `byPrefix`
 * (policy tokens), a parent of it segment by segment, as the hub authorises.
 */
export function resourceCovers(granted: string, requested: string, byPrefix: boolean): boolean {
  const g = canonicalResource(granted)
  const r = canonicalResource(requested)
  return g === r || (byPrefix && r.startsWith(g.endsWith('/') ? g : g + '/'))
}

/**
 * Checks a token's signature only: whether `key` signed it, whatever its expiry. For tools that
 * report expiry apart from the signature (an expired token was still signed with some key).
 * The signature is compared in constant time.
 *
 * @example
 * ```ts
 * verifySasTokenSignature(token, key).expiresAt // epoch seconds, maybe in the past
 * ```
 * The key is used in the convention the token's audience implies ({@link ParsedSasToken.family}):
 * base64-decoded for IoT Hub and DPS, as its text for the Service Bus family. A token signed with
 * the right key in the other convention gets its own code, since that is the mistake to fix.
 *
 * @returns The parsed token.
 * @throws {SasTokenError} `ERR_TOKEN_MALFORMED`, `ERR_INVALID_KEY`, `ERR_TOKEN_SIGNATURE_MISMATCH`,
 *   `ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS` (a Service Bus-family token signed with the key's
 *   base64-decoded bytes) or `ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB` (an IoT Hub or DPS token signed with
 *   the key's text).
 */
export function verifySasTokenSignature(token: string, key: string): ParsedSasToken {
  const { parsed, raw } = dissect(token)
  const message = raw.sr + '\n' + raw.se
  const actual = parsed.signature.length === 43 ? parsed.signature + '=' : parsed.signature
  const serviceBus = parsed.family === 'service-bus'
  if (signaturesEqual(hmacSha256Base64(serviceBus ? textSigningKey(key) : signingKey(key), message), actual))
    return parsed
  // The other convention: decoding needs base64 text, and IoT Hub's check above already had it.
  const other = serviceBus
    ? isBase64Key(key) && signaturesEqual(hmacSha256Base64(signingKey(key), message), actual)
    : !/[\s\p{Cc}]/u.test(key) && signaturesEqual(hmacSha256Base64(textSigningKey(key), message), actual)
  if (other && serviceBus) {
    throw new SasTokenError(
      'ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS',
      `The token is for ${parsed.resourceUri}, a Service Bus-family audience, but it was signed with the key's base64-decoded bytes, as IoT Hub signs; Event Hubs, Service Bus, Relay and Notification Hubs sign with the key's text as it is: sign it again that way (sas-token generate -c 'Endpoint=…', or createServiceBusSasToken).`,
      { facts: { family: parsed.family } },
    )
  }
  if (other) {
    throw new SasTokenError(
      'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB',
      `The token is for ${parsed.resourceUri}, an IoT Hub or DPS resource, but it was signed with the key's text, as the Service Bus family signs; IoT Hub and DPS sign with the key's base64-decoded bytes: sign it again that way (createSasToken).`,
      { facts: { family: parsed.family } },
    )
  }
  throw new SasTokenError(
    'ERR_TOKEN_SIGNATURE_MISMATCH',
    'The signature does not match: the token was signed with another key, or was altered after signing.',
  )
}

/** `true` when `key` is canonical base64, so that it can be decoded as IoT Hub does. */
function isBase64Key(key: string): boolean {
  try {
    signingKey(key)
    return true
  } catch {
    return false
  }
}

/**
 * Checks a token's signature, expiry and, optionally, its resource, as IoT Hub would.
 * The signature is compared in constant time.
 *
 * @example
 * ```ts
 * verifySasToken(token, { key, resourceUri: 'myhub.azure-devices.net/devices/dev1' })
 * ```
 * @returns The parsed token.
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` (no options object), `ERR_INVALID_OPTION`
 *   (a bad `clockSkewSeconds` or `resourceUri`), `ERR_INVALID_NOW`, `ERR_TOKEN_MALFORMED`,
 *   `ERR_INVALID_KEY`, `ERR_TOKEN_SIGNATURE_MISMATCH`, `ERR_TOKEN_EXPIRED` (past `se` plus the
 *   allowed skew) or `ERR_TOKEN_RESOURCE_MISMATCH`.
 */
export function verifySasToken(token: string, o: VerifySasTokenOptions): ParsedSasToken {
  assertOptions(o, 'verifySasToken')
  const skew = o.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS
  if (!Number.isSafeInteger(skew) || skew < 0) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'clockSkewSeconds must be a whole number of seconds, 0 or more.',
    )
  }
  if (o.resourceUri !== undefined && typeof o.resourceUri !== 'string') {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'resourceUri must be text, such as myhub.azure-devices.net/devices/dev1.',
    )
  }
  const nowSeconds = Math.floor(epochMs(o.now) / 1000)
  const parsed = verifySasTokenSignature(token, o.key)
  if (parsed.expiresAt + skew < nowSeconds) {
    throw new SasTokenError(
      'ERR_TOKEN_EXPIRED',
      `The token expired at ${new Date(parsed.expiresAt * 1000).toISOString()} (${nowSeconds - parsed.expiresAt} s ago, ${skew} s of clock skew allowed): sign a new one.`,
      { facts: { expiresAt: parsed.expiresAt, clockSkewSeconds: skew } },
    )
  }
  if (
    o.resourceUri !== undefined &&
    !resourceCovers(parsed.resourceUri, o.resourceUri, parsed.keyName !== undefined)
  ) {
    throw new SasTokenError(
      'ERR_TOKEN_RESOURCE_MISMATCH',
      `The token is for ${parsed.resourceUri}, which does not cover ${o.resourceUri}.`,
    )
  }
  return parsed
}
