/**
 * Why a hub (or DPS) would refuse an MQTT CONNECT, or would drop the connection later: the
 * reasons a real hub never gives (it answers CONNACK 5, "not authorized", and nothing else).
 *
 * {@link diagnoseConnect} reads the three fields a device sends (client id, username, password)
 * with the core's own parsers and checks, and returns one {@link Finding} per problem: an
 * `ERR_*` the hub refuses, a `WARN_*` that works but bites later. A CONNECT that is right
 * gives `[]`. It handles IoT Hub CONNECTs (`{hub}/{deviceId}[/{moduleId}]/?api-version=…`)
 * and DPS CONNECTs (`{idScope}/registrations/{registrationId}/api-version=…`).
 *
 * Everything the device sent is untrusted: any text gives findings, never an exception. No
 * finding ever contains a key, a signature or the password.
 *
 * @module
 */
import {
  toConnectionString,
  type ConnectionString,
  type IotHubConnectionString,
} from './connection-string.js'
import { SasTokenError } from './errors.js'
import { epochMs } from './expiry.js'
import { assertDeviceId, assertHostName, assertIdScope, assertRegistrationId } from './identity.js'
import { decodeKey, deriveDeviceKey } from './keys.js'
import {
  DEFAULT_API_VERSION,
  DPS_API_VERSION,
  isApiVersion,
  isDtmi,
  parseMqttUsername,
} from './mqtt/credentials.js'
import {
  DEFAULT_CLOCK_SKEW_SECONDS,
  DPS_KEY_NAME,
  deviceResourceUri,
  parseSasToken,
  resourceCovers,
  verifySasToken,
  type ParsedSasToken,
} from './sas-token.js'

/** The fields of an MQTT CONNECT that IoT Hub and DPS authenticate. */
export interface MqttConnect {
  /** The CONNECT packet's client identifier. */
  clientId: string
  /** The CONNECT packet's username. */
  username: string
  /** The SAS token; absent for X.509 identities. */
  password?: string
  /**
   * The thumbprints (SHA-1 and SHA-256, hex, colons and case ignored) of the client certificate
   * the TLS handshake presented; absent or empty when it presented none.
   */
  certificateThumbprints?: readonly string[]
}

/** Why a client certificate chain does not authenticate an X.509 CA identity (the TLS layer decides it). */
export interface CertificateChainProblem {
  /** Which check failed. */
  code:
    | 'ERR_X509_NO_CA_REGISTERED'
    | 'ERR_X509_CA_NOT_VERIFIED'
    | 'ERR_X509_CHAIN_UNTRUSTED'
    | 'ERR_X509_CERT_EXPIRED'
    | 'ERR_X509_CERT_NOT_YET_VALID'
    | 'ERR_X509_CN_MISMATCH'
  /** What is wrong and how to fix it. */
  message: string
  /** The facts behind it, which become the finding's: `subject`, `issuer`, `caName`, … */
  facts?: Readonly<Partial<Record<CertificateFact, string>>>
}

/** The facts a certificate finding may carry. */
export type CertificateFact =
  | 'subject'
  | 'issuer'
  | 'caName'
  | 'certificate'
  | 'validFrom'
  | 'validTo'
  | 'tlsError'
  | 'commonName'
  | 'expectedCommonName'

/** What a registry knows about a device or module identity. */
export interface RegisteredIdentity {
  /** `disabled`: the hub refuses it. For a module, the status of its device. */
  status: 'enabled' | 'disabled'
  /** How it authenticates. */
  authentication:
    | {
        /** Symmetric keys: a SAS token signed with one of them. */
        type: 'sas'
        /** The primary and secondary keys (base64). */
        keys: readonly string[]
      }
    | {
        /** X.509 self-signed: a client certificate with one of these thumbprints. */
        type: 'selfSigned'
        /** The primary and secondary thumbprints (SHA-1 or SHA-256 hex); empty ones are ignored. */
        thumbprints: readonly string[]
      }
    | {
        /** X.509 CA-signed: a client certificate chained to a registered, verified CA. */
        type: 'certificateAuthority'
        /** Why the presented chain does not authenticate this identity; absent when it does. */
        chainProblem?: CertificateChainProblem
      }
}

/** What a DPS knows about an enrollment. */
export interface RegisteredEnrollment {
  /** `disabled`: DPS refuses the registration. */
  status: 'enabled' | 'disabled'
  /** The enrollment's primary and secondary keys (base64); a group's keys derive each device's. */
  keys: readonly string[]
}

/** A DPS enrollment group: device keys are derived from its keys for each registration id. */
export interface RegisteredEnrollmentGroup extends RegisteredEnrollment {
  /** The group's name. */
  enrollmentGroupId: string
}

/**
 * What the hub's registry (and the DPS's enrollment list) knows, looked up for the identity the
 * username names. Given it, {@link diagnoseConnect} decides as the hub does: an unknown or
 * disabled identity, a password for an X.509 identity or a certificate for a keyed one, and a
 * registration with no enrollment are findings, and the keys come from here.
 */
export interface ConnectRegistry {
  /** The device (`moduleId` absent) or module identity, or `undefined` when the registry has none. */
  identity?(deviceId: string, moduleId?: string): RegisteredIdentity | undefined
  /** The individual enrollment of a registration id, or `undefined` when there is none. */
  enrollment?(registrationId: string): RegisteredEnrollment | undefined
  /** The enrollment groups; a registration with no individual enrollment may use an enabled one's derived key. */
  enrollmentGroups?: readonly RegisteredEnrollmentGroup[]
}

/** A shared access policy of the hub, for policy tokens (`skn`) used as a device's password. */
export interface HubPolicy {
  /** The policy has the DeviceConnect permission, so its tokens may connect as a device. */
  deviceConnect: boolean
  /** The policy's base64 key (or its primary and secondary keys), to check the tokens it signs. */
  key?: string | readonly string[]
}

/**
 * The shared access policies of a new IoT hub. `iothubowner` and `device` have DeviceConnect;
 * `service`, `registryRead` and `registryReadWrite` do not.
 */
export const DEFAULT_HUB_POLICIES: Readonly<Record<string, Readonly<HubPolicy>>> = Object.freeze({
  iothubowner: Object.freeze({ deviceConnect: true }),
  service: Object.freeze({ deviceConnect: false }),
  device: Object.freeze({ deviceConnect: true }),
  registryRead: Object.freeze({ deviceConnect: false }),
  registryReadWrite: Object.freeze({ deviceConnect: false }),
})

/** Every code a {@link Finding} can carry: `ERR_*` the hub refuses, `WARN_*` works but bites later. */
export type DiagnosisCode =
  // the username
  | 'ERR_USERNAME_MISSING'
  | 'ERR_USERNAME_MALFORMED'
  | 'ERR_USERNAME_QUESTION_MARK_MISSING'
  | 'ERR_USERNAME_API_VERSION_MISSING'
  | 'WARN_USERNAME_API_VERSION_UNKNOWN'
  | 'ERR_USERNAME_HOST_MISMATCH'
  | 'WARN_USERNAME_GATEWAY_HOST'
  | 'ERR_ID_SCOPE_MISMATCH'
  | 'ERR_IDENTIFIER_INVALID'
  | 'WARN_MODEL_ID_NOT_DTMI'
  // the client id and the identity
  | 'ERR_CLIENT_ID_MISMATCH'
  | 'ERR_IDENTITY_MISMATCH'
  // what the registry knows (given `registry`)
  | 'ERR_IDENTITY_NOT_FOUND'
  | 'ERR_DEVICE_DISABLED'
  | 'ERR_ENROLLMENT_NOT_FOUND'
  | 'ERR_ENROLLMENT_DISABLED'
  // the password, or the client certificate
  | 'ERR_PASSWORD_MISSING'
  | 'ERR_PASSWORD_NOT_SAS_TOKEN'
  | 'ERR_X509_WITH_PASSWORD'
  | 'ERR_IDENTITY_NOT_X509'
  | 'ERR_CLIENT_CERTIFICATE_MISSING'
  | 'ERR_THUMBPRINT_MISMATCH'
  | CertificateChainProblem['code']
  // the token's resource
  | 'ERR_TOKEN_FOR_DPS'
  | 'ERR_TOKEN_FOR_HUB'
  | 'ERR_TOKEN_HOST_MISMATCH'
  | 'ERR_TOKEN_OTHER_DEVICE'
  | 'ERR_TOKEN_OTHER_MODULE'
  | 'ERR_TOKEN_DEVICE_FOR_MODULE'
  | 'ERR_TOKEN_MODULE_FOR_DEVICE'
  | 'ERR_TOKEN_OTHER_REGISTRATION'
  | 'ERR_TOKEN_RESOURCE_MISMATCH'
  | 'ERR_DPS_KEY_NAME'
  // policy tokens
  | 'WARN_POLICY_TOKEN'
  | 'ERR_POLICY_TOKEN_SCOPE'
  | 'ERR_POLICY_UNKNOWN'
  | 'ERR_POLICY_NO_DEVICE_CONNECT'
  // the signature
  | 'ERR_TOKEN_SIGNATURE_MISMATCH'
  | 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB'
  | 'ERR_TOKEN_SIGNED_WITH_GROUP_KEY'
  // the expiry
  | 'ERR_TOKEN_EXPIRED'
  | 'WARN_TOKEN_EXPIRED_WITHIN_SKEW'
  | 'WARN_TOKEN_EXPIRY_IN_MILLISECONDS'
  | 'WARN_TOKEN_EXPIRY_FAR_AHEAD'
  | 'WARN_TOKEN_EXPIRES_BEFORE_RENEWAL'

/**
 * One reason a CONNECT is refused (`error`) or will fail later (`warning`), with the facts
 * behind it as fields. Only the facts that apply are present. Never a key, a signature or the
 * password.
 */
export interface Finding {
  /** `error`: the hub refuses the CONNECT (or will drop it); `warning`: it connects, but this will bite. */
  severity: 'error' | 'warning'
  /** A stable code (`ERR_*` or `WARN_*`) for scripts. */
  code: DiagnosisCode
  /** What is wrong and how to fix it. */
  message: string
  /** The client id the device sent. */
  clientId?: string
  /** The client id it should have sent. */
  expectedClientId?: string
  /** The host name in the username. */
  hostName?: string
  /** The hub's host name. */
  expectedHostName?: string
  /** The identity in the username. */
  deviceId?: string
  /** The module id in the username. */
  moduleId?: string
  /** The DPS registration id in the username. */
  registrationId?: string
  /** The DPS ID scope in the username. */
  idScope?: string
  /** The identity the connection string names. */
  expectedDeviceId?: string
  /** The module id the connection string names. */
  expectedModuleId?: string
  /** The ID scope the device should use. */
  expectedIdScope?: string
  /** The token's resource (`sr`, decoded). */
  resourceUri?: string
  /** The resource the token must name (or, for a policy token, cover). */
  expectedResourceUri?: string
  /** The token's policy name (`skn`). */
  keyName?: string
  /** The `api-version` the username carries. */
  apiVersion?: string
  /** The `model-id` the username carries. */
  modelId?: string
  /** The token's expiry (`se`), epoch seconds. */
  expiresAt?: number
  /** Seconds from now to the expiry: negative once expired. */
  expiresIn?: number
  /** The clock skew the check allowed, in seconds. */
  clockSkewSeconds?: number
  /** When the device renews its token, in seconds after connecting. */
  renewAfterSeconds?: number
  /** The enrollment group whose own key signed the token. */
  enrollmentGroupId?: string
  /** The client certificate's subject (`ERR_X509_*`). */
  subject?: string
  /** The client certificate's issuer (`ERR_X509_*`). */
  issuer?: string
  /** The CA the chain leads to (`ERR_X509_*`). */
  caName?: string
  /** The certificate a date check is about (`ERR_X509_CERT_*`). */
  certificate?: string
  /** Its start of validity, ISO 8601 (`ERR_X509_CERT_*`). */
  validFrom?: string
  /** Its end of validity, ISO 8601 (`ERR_X509_CERT_*`). */
  validTo?: string
  /** OpenSSL's reason the handshake did not verify the chain (`ERR_X509_CHAIN_UNTRUSTED`). */
  tlsError?: string
  /** The certificate's subject CN (`ERR_X509_CN_MISMATCH`). */
  commonName?: string
  /** The CN it must have (`ERR_X509_CN_MISMATCH`). */
  expectedCommonName?: string
}

/** Options of {@link diagnoseConnect}: what the hub knows. Everything is optional. */
export interface DiagnoseConnectOptions {
  /**
   * The identity's base64 key (device, module, or DPS enrollment key), or its primary and
   * secondary keys: a token signed with none of them is named. Policy tokens are checked with
   * their policy's key instead (from `policies` or `connectionString`), or with this key when
   * neither has one.
   */
  key?: string | readonly string[]
  /**
   * What the device should use: its host name, identity, key, or `x509=true`. A service
   * (policy) string gives the policy's key, for policy tokens.
   */
  connectionString?: string | ConnectionString
  /**
   * A DPS enrollment group's key. The device key is derived from it for the registration (or
   * device) id, and a token signed with the group key itself is named as such.
   */
  groupKey?: string
  /** The hub's host name, such as `myhub.azure-devices.net`; default: the connection string's. */
  hubHostName?: string
  /**
   * Other names a username or token may give the hub and be right, such as `localhost:8883`
   * (a gateway's `host:port`).
   */
  hubHostAliases?: readonly string[]
  /**
   * What the hub's registry knows (identities, their status and keys or thumbprints; DPS
   * enrollments and groups). Given it, an unknown or disabled identity, a password for an X.509
   * identity, a certificate for a keyed one and a registration without enrollment are findings,
   * and the keys to check signatures with come from it (before `key` and `groupKey`).
   */
  registry?: ConnectRegistry
  /** The DPS ID scope, such as `0ne00000A0A`, for DPS CONNECTs. */
  idScope?: string
  /**
   * The hub's shared access policies, by name; this table replaces the default,
   * {@link DEFAULT_HUB_POLICIES}.
   */
  policies?: Readonly<Record<string, Readonly<HubPolicy>>>
  /** The identity authenticates with an X.509 certificate (as `x509=true` in a connection string says). */
  x509?: boolean
  /** The current time: epoch milliseconds or a `Date`. Defaults to `Date.now()`. */
  now?: number | Date
  /** How long past `se` a token is still accepted; IoT Hub's 300 seconds by default. */
  clockSkewSeconds?: number
  /**
   * When the device renews its token (reconnects with a new one), in seconds after connecting,
   * such as 2700 for the Node SDK's 45 minutes: a token that expires sooner is named.
   */
  renewAfterSeconds?: number
}

/** The options, checked once. */
interface Context {
  nowSeconds: number
  skew: number
  /** The identity's keys, never empty. */
  keys?: readonly string[]
  groupKey?: string
  cs?: IotHubConnectionString
  hubHostName?: string
  idScope?: string
  policies: Readonly<Record<string, Readonly<HubPolicy>>>
  x509: boolean
  renewAfter?: number
  /** Other names of the hub (`localhost:8883`). */
  aliases: readonly string[]
  registry?: ConnectRegistry
  /** Every secret a finding must never show: keys, derived keys, the signature, the password. */
  secrets: string[]
}

/** What the username names. */
type Target =
  | { kind: 'hub'; hostName: string; deviceId: string; moduleId?: string; valid: boolean }
  | { kind: 'dps'; idScope: string; registrationId: string; valid: boolean }

/** Above this an `se` is surely in milliseconds: 1e11 seconds is the year 5138. */
const LARGEST_PLAUSIBLE_SECONDS = 1e11
/** An expiry further ahead than this is named: no device means a token to live that long. */
const FAR_AHEAD_SECONDS = 366 * 86400
/** Before 2016: a device clock that was never set (it counts from 1970 after a reset). */
const UNSET_CLOCK_SECONDS = 1_451_606_400

const HUB_USERNAME = `{hub}/{deviceId}/?api-version=${DEFAULT_API_VERSION} (a module: {hub}/{deviceId}/{moduleId}/?api-version=${DEFAULT_API_VERSION})`
const DPS_USERNAME = `{idScope}/registrations/{registrationId}/api-version=${DPS_API_VERSION}`

function finding(
  code: DiagnosisCode,
  message: string,
  facts: Omit<Finding, 'severity' | 'code' | 'message'> = {},
): Finding {
  return { severity: code.startsWith('WARN_') ? 'warning' : 'error', code, message, ...facts }
}

/** Untrusted text, quoted and cut short for a message. */
function quote(text: string): string {
  return JSON.stringify(text.length > 130 ? `${text.slice(0, 128)}…` : text)
}

/** Untrusted text, cut short for a fact. */
function fact(text: string): string {
  return text.length > 256 ? `${text.slice(0, 255)}…` : text
}

/** `3 minutes`, `2 hours`, `26 years`: a rough reading of a span in seconds. */
function span(seconds: number): string {
  const abs = Math.abs(seconds)
  const units: Array<[string, number]> = [
    ['year', 365 * 86400],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ]
  const [unit, size] = units.find(([name, s]) => abs >= (name === 'year' ? 2 * s : s)) ?? ['second', 1]
  const n = Math.floor(abs / size)
  return `${n} ${unit}${n === 1 ? '' : 's'}`
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()

/** A key or keys, checked, as a list (`undefined` for none); each is remembered as a secret. */
function keyList(
  key: string | readonly string[] | undefined,
  what: string,
  secrets: string[],
): readonly string[] | undefined {
  if (key === undefined) return undefined
  const keys: readonly string[] = typeof key === 'string' ? [key] : key
  if (!Array.isArray(keys))
    throw new SasTokenError('ERR_INVALID_OPTION', `${what} must be a key or a list of keys.`)
  if (keys.length === 0) return undefined
  for (const [i, k] of keys.entries()) {
    decodeKey(k, keys.length === 1 ? what : `${what}[${i}]`)
    secrets.push(k)
  }
  return keys
}

function checkOptions(o: DiagnoseConnectOptions): Context {
  if (typeof o !== 'object' || o === null)
    throw new SasTokenError('ERR_INVALID_OPTION', 'diagnoseConnect takes an options object.')
  const nowSeconds = Math.floor(epochMs(o.now) / 1000)
  const skew = o.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS
  if (!Number.isSafeInteger(skew) || skew < 0) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'clockSkewSeconds must be a whole number of seconds, 0 or more.',
    )
  }
  const renewAfter = o.renewAfterSeconds
  if (renewAfter !== undefined && (!Number.isSafeInteger(renewAfter) || renewAfter <= 0)) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'renewAfterSeconds must be a whole number of seconds, above 0.',
    )
  }
  const secrets: string[] = []
  const keys = keyList(o.key, 'key', secrets)
  if (o.groupKey !== undefined) {
    decodeKey(o.groupKey, 'groupKey')
    secrets.push(o.groupKey)
  }
  const cs =
    o.connectionString === undefined ? undefined : toConnectionString(o.connectionString, 'diagnoseConnect')
  if (cs?.sharedAccessKey !== undefined) secrets.push(cs.sharedAccessKey)
  const policies = o.policies ?? DEFAULT_HUB_POLICIES
  if (typeof policies !== 'object' || policies === null)
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'policies must map policy names to { deviceConnect, key? }.',
    )
  for (const [name, policy] of Object.entries(policies)) {
    if (typeof policy !== 'object' || policy === null || typeof policy.deviceConnect !== 'boolean') {
      throw new SasTokenError(
        'ERR_INVALID_OPTION',
        `policies.${name} must be { deviceConnect: boolean, key?: string }.`,
      )
    }
    keyList(policy.key, `policies.${name}.key`, secrets)
  }
  const aliases = o.hubHostAliases ?? []
  if (!Array.isArray(aliases) || aliases.some((a) => typeof a !== 'string'))
    throw new SasTokenError('ERR_INVALID_OPTION', 'hubHostAliases must be a list of host names.')
  const registry = o.registry
  if (registry !== undefined && (typeof registry !== 'object' || registry === null))
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'registry must be { identity?(deviceId, moduleId?), enrollment?(registrationId), enrollmentGroups? }.',
    )
  const ctx: Context = {
    nowSeconds,
    skew,
    policies,
    x509: o.x509 === true || cs?.x509 === true,
    secrets,
    aliases,
  }
  if (registry !== undefined) ctx.registry = registry
  if (keys !== undefined) ctx.keys = keys
  if (o.groupKey !== undefined) ctx.groupKey = o.groupKey
  if (cs !== undefined) ctx.cs = cs
  const hubHostName =
    o.hubHostName === undefined ? cs?.hostName : assertHostName(o.hubHostName, 'hubHostName')
  if (hubHostName !== undefined) ctx.hubHostName = hubHostName
  if (o.idScope !== undefined) ctx.idScope = assertIdScope(o.idScope)
  if (renewAfter !== undefined) ctx.renewAfter = renewAfter
  return ctx
}

/** The message of a core check that failed, or `undefined` when it passed. */
function problem(check: () => unknown): string | undefined {
  try {
    check()
    return undefined
  } catch (err) {
    if (err instanceof SasTokenError) return err.message
    throw err
  }
}

function checkApiVersion(params: ReadonlyMap<string, string>, dps: boolean, out: Finding[]): void {
  const apiVersion = params.get('api-version')
  const form = dps ? DPS_USERNAME : HUB_USERNAME
  if (apiVersion === undefined) {
    out.push(
      finding(
        'ERR_USERNAME_API_VERSION_MISSING',
        `The username has no api-version: write it as ${form}. ${dps ? 'DPS requires it' : 'Without it the hub may connect, but twin updates fail (400) and IoT Edge refuses the connection'}.`,
      ),
    )
  } else if (!isApiVersion(apiVersion)) {
    out.push(
      finding(
        'WARN_USERNAME_API_VERSION_UNKNOWN',
        `The username's api-version ${quote(apiVersion)} is no api-version (a date such as ${dps ? DPS_API_VERSION : DEFAULT_API_VERSION}): ${dps ? 'DPS' : 'the hub'} does not check its value at CONNECT, but the features of a version depend on it; use ${dps ? DPS_API_VERSION : DEFAULT_API_VERSION}.`,
        { apiVersion: fact(apiVersion) },
      ),
    )
  }
}

/** Reads the username into what it names, with a finding for each thing wrong with its shape. */
function readUsername(
  username: unknown,
  ctx: Context,
  out: Finding[],
): (Target & { params: ReadonlyMap<string, string> }) | undefined {
  const parsed = parseMqttUsername(username)
  if (parsed.kind === 'missing') {
    out.push(
      finding(
        'ERR_USERNAME_MISSING',
        `The CONNECT has no username: send ${HUB_USERNAME}, or for DPS ${DPS_USERNAME}.`,
      ),
    )
    return undefined
  }
  if (parsed.kind === 'malformed') {
    const ids = parsed.ids ?? 0
    out.push(
      finding(
        'ERR_USERNAME_MALFORMED',
        parsed.service === 'dps'
          ? `The DPS username is malformed: write it as ${DPS_USERNAME}.`
          : `The username is malformed: ${
              ids > 2
                ? `it has ${ids} ids after the host name, at most 2 (device and module)`
                : 'it needs a host name and a device id'
            }; write it as ${HUB_USERNAME}.`,
      ),
    )
    return undefined
  }
  const params = parsed.params
  if (parsed.kind === 'dps') {
    const { idScope, registrationId } = parsed
    checkApiVersion(params, true, out)
    const scopeProblem = problem(() => assertIdScope(idScope))
    const idProblem = problem(() => assertRegistrationId(registrationId, "The username's registration id"))
    for (const message of [scopeProblem, idProblem]) {
      if (message !== undefined) out.push(finding('ERR_IDENTIFIER_INVALID', message))
    }
    const valid = scopeProblem === undefined && idProblem === undefined
    return { kind: 'dps', idScope, registrationId, valid, params }
  }
  const { hostName, deviceId, moduleId } = parsed
  // an alias (`localhost:8883`) is the hub's own name, port and all
  const hostProblem = ctx.aliases.some((alias) => sameHost(hostName, alias))
    ? undefined
    : problem(() => assertHostName(hostName, "The username's host name"))
  if (hostProblem !== undefined)
    out.push(finding('ERR_USERNAME_MALFORMED', `${hostProblem} Write the username as ${HUB_USERNAME}.`))
  if (parsed.form === 'no-slash') {
    out.push(
      finding(
        'ERR_USERNAME_MALFORMED',
        `The username needs a '/' between the identity and '?': write it as ${HUB_USERNAME}.`,
      ),
    )
  }
  if (parsed.form === 'legacy') {
    out.push(
      finding(
        'ERR_USERNAME_QUESTION_MARK_MISSING',
        `The username has no '?' before its parameters (an old form): write it as ${HUB_USERNAME}; modules and newer features need the '?'.`,
      ),
    )
  }
  checkApiVersion(params, false, out)
  const idProblems = [
    problem(() => assertDeviceId(deviceId, "The username's device id")),
    moduleId === undefined ? undefined : problem(() => assertDeviceId(moduleId, "The username's module id")),
  ].filter((m): m is string => m !== undefined)
  for (const message of idProblems) out.push(finding('ERR_IDENTIFIER_INVALID', message))
  const modelId = params.get('model-id')
  if (modelId !== undefined && !isDtmi(modelId)) {
    out.push(
      finding(
        'WARN_MODEL_ID_NOT_DTMI',
        `The username's model-id ${quote(modelId)} is not a DTMI: the hub connects the device, but IoT Plug and Play tools find no model for it; use the form dtmi:com:example:Thermostat;1 (percent-encoded in the username), or leave model-id out.`,
        { modelId: fact(modelId) },
      ),
    )
  }
  return {
    kind: 'hub',
    hostName,
    deviceId,
    ...(moduleId !== undefined && { moduleId }),
    valid: hostProblem === undefined && idProblems.length === 0,
    params,
  }
}

const sameHost = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** `host` is the hub's name or one of its aliases (case-insensitively, as DNS names are). */
const isHub = (host: string, hub: string, ctx: Context): boolean =>
  sameHost(host, hub) || ctx.aliases.some((alias) => sameHost(host, alias))

/**
 * ID scopes are compared case-insensitively, as host names are: DPS assigns them (`0ne…`) and
 * routes on them, and the diagnosis has always read them so.
 */
const sameIdScope = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** The hub's host name, the identity and the client id against what the username names. */
function checkIdentity(target: Target, clientId: unknown, ctx: Context, out: Finding[]): void {
  const identity =
    target.kind === 'dps'
      ? target.registrationId
      : target.moduleId === undefined
        ? target.deviceId
        : `${target.deviceId}/${target.moduleId}`
  if (clientId !== identity) {
    const sent =
      typeof clientId === 'string' && clientId !== ''
        ? `The clientId ${quote(clientId)}`
        : 'The clientId is empty and'
    out.push(
      finding(
        'ERR_CLIENT_ID_MISMATCH',
        `${sent} is not the identity the username names: set the clientId to ${quote(identity)} (it is compared exactly, case-sensitively${target.kind === 'hub' ? '; a module sends {deviceId}/{moduleId}' : ''}).`,
        {
          ...(typeof clientId === 'string' && { clientId: fact(clientId) }),
          expectedClientId: fact(identity),
        },
      ),
    )
  }
  if (target.kind === 'dps') {
    if (ctx.idScope !== undefined && !sameIdScope(target.idScope, ctx.idScope)) {
      out.push(
        finding(
          'ERR_ID_SCOPE_MISMATCH',
          `The username's ID scope ${quote(target.idScope)} is not this DPS's, ${ctx.idScope}: copy the ID scope from the DPS overview.`,
          { idScope: fact(target.idScope), expectedIdScope: ctx.idScope },
        ),
      )
    }
    return
  }
  const hub = ctx.hubHostName
  if (hub !== undefined && !isHub(target.hostName, hub, ctx)) {
    const gateway = ctx.cs?.gatewayHostName
    out.push(
      gateway !== undefined && sameHost(target.hostName, gateway)
        ? finding(
            'WARN_USERNAME_GATEWAY_HOST',
            `The username names the gateway ${gateway}, not the hub ${hub}: the C# SDK does this and IoT Edge accepts it, but the other SDKs send the hub's host name; prefer ${hub}.`,
            { hostName: fact(target.hostName), expectedHostName: hub },
          )
        : finding(
            'ERR_USERNAME_HOST_MISMATCH',
            `The username's host ${quote(target.hostName)} is not this hub's, ${hub}: start the username with ${hub}/ (the connection string's HostName).`,
            { hostName: fact(target.hostName), expectedHostName: hub },
          ),
    )
  }
  const cs = ctx.cs
  if (
    cs !== undefined &&
    cs.kind !== 'service' &&
    (cs.deviceId !== target.deviceId || cs.moduleId !== target.moduleId)
  ) {
    const named = cs.moduleId === undefined ? `device ${cs.deviceId}` : `module ${cs.deviceId}/${cs.moduleId}`
    out.push(
      finding(
        'ERR_IDENTITY_MISMATCH',
        `The CONNECT is for ${quote(identity)}, but the connection string is for ${named}: connect as ${named}, or use that identity's connection string.`,
        {
          deviceId: fact(target.deviceId),
          ...(target.moduleId !== undefined && { moduleId: fact(target.moduleId) }),
          expectedDeviceId: cs.deviceId,
          ...(cs.moduleId !== undefined && { expectedModuleId: cs.moduleId }),
        },
      ),
    )
  }
}

/** Why a password is not a token, without repeating it: one or more sentences. */
function notATokenHint(password: string, parseMessage: string): string {
  if (password === '') return 'The password is empty.'
  if (/(?:^|;)\s*(?:HostName|SharedAccessKey|DeviceId)\s*=/i.test(password))
    return 'The password is a connection string, not a token.'
  if (/^[A-Za-z0-9+/]{20,}={0,2}$/.test(password)) return 'The password looks like a bare key, not a token.'
  const reason = parseMessage.trim()
  return `The password is not a SAS token. ${reason}${/[.!?]$/.test(reason) ? '' : '.'}`
}

/** The checks of a token sent to the hub, by what it is for; returns the keys to verify it with. */
function checkHubToken(
  token: ParsedSasToken,
  target: Extract<Target, { kind: 'hub' }>,
  identityKeys: readonly Candidate[] | undefined,
  ctx: Context,
  out: Finding[],
): readonly Candidate[] | undefined {
  const resourceUri = fact(token.resourceUri)
  if (token.idScope !== undefined) {
    out.push(
      finding(
        'ERR_TOKEN_FOR_DPS',
        `The password is a DPS registration token (sr=${token.idScope}/registrations/…), which DPS accepts and the hub does not: after provisioning, sign a token for ${target.hostName}/devices/${target.deviceId} with the device key (for a group enrollment, the derived key).`,
        { resourceUri, ...(token.keyName !== undefined && { keyName: fact(token.keyName) }) },
      ),
    )
    return undefined
  }
  // The token names the hub, even when the username names a gateway (or the wrong host).
  const tokenHost = ctx.hubHostName ?? target.hostName
  const expected = target.valid ? deviceResourceUri(tokenHost, target.deviceId, target.moduleId) : undefined
  const cs = ctx.cs
  if (token.keyName !== undefined) {
    const keyName = token.keyName
    const facts = {
      resourceUri,
      keyName: fact(keyName),
      ...(expected !== undefined && { expectedResourceUri: expected }),
    }
    const covers = expected !== undefined && resourceCovers(token.resourceUri, expected, true)
    if (expected !== undefined && !covers) {
      out.push(
        finding(
          'ERR_POLICY_TOKEN_SCOPE',
          `The password is a policy token (skn=${quote(keyName)}) for ${quote(token.resourceUri)}, which does not cover ${expected}: scope it to ${expected} (or the hub), or better, use a device token.`,
          facts,
        ),
      )
    }
    const policy = Object.hasOwn(ctx.policies, keyName) ? ctx.policies[keyName] : undefined
    if (policy === undefined) {
      const near = Object.keys(ctx.policies).find((name) => name.toLowerCase() === keyName.toLowerCase())
      const hint =
        keyName === DPS_KEY_NAME
          ? ' (skn=registration belongs to DPS tokens)'
          : near !== undefined
            ? ` (did you mean ${near}? policy names are case-sensitive)`
            : ''
      out.push(
        finding(
          'ERR_POLICY_UNKNOWN',
          `The password is a policy token, but this hub has no policy ${quote(keyName)}${hint}: use a device token signed with the device's key.`,
          facts,
        ),
      )
    } else if (!policy.deviceConnect) {
      out.push(
        finding(
          'ERR_POLICY_NO_DEVICE_CONNECT',
          `The password is a token of the policy ${keyName}, which lacks the DeviceConnect permission: use a device token signed with the device's key (or a policy with DeviceConnect, such as device).`,
          facts,
        ),
      )
    } else if (covers) {
      out.push(
        finding(
          'WARN_POLICY_TOKEN',
          `The password is a token of the policy ${keyName}, which has DeviceConnect, so the hub accepts it; but it puts a hub-wide key on the device: sign a device token with the device's own key instead.`,
          facts,
        ),
      )
    }
    const policyKey = policy?.key ?? (cs?.sharedAccessKeyName === keyName ? cs.sharedAccessKey : undefined)
    return candidates(
      policyKey === undefined ? ctx.keys : typeof policyKey === 'string' ? [policyKey] : policyKey,
    )
  }

  // A device or module token: sr must be exactly {host}/devices/{deviceId}[/modules/{moduleId}].
  const found = (code: DiagnosisCode, message: string): void => {
    out.push(
      finding(code, message, {
        resourceUri,
        ...(expected !== undefined && { expectedResourceUri: expected }),
      }),
    )
  }
  const want = expected ?? 'the identity in the username'
  const [, devices, deviceId = '', modules, moduleId] = token.resourceUri.split('/')
  const segments = token.resourceUri.split('/').length
  const isDevice = segments === 3 && devices === 'devices' && deviceId !== ''
  const isModule =
    segments === 5 && devices === 'devices' && deviceId !== '' && modules === 'modules' && moduleId !== ''
  if (token.hostName !== undefined && !isHub(token.hostName, tokenHost, ctx)) {
    found(
      'ERR_TOKEN_HOST_MISMATCH',
      `The token is for the host ${quote(token.hostName)}, but the ${ctx.hubHostName === undefined ? 'username names' : 'hub is'} ${quote(tokenHost)}: sign the token for ${want}.`,
    )
  }
  if (!isDevice && !isModule) {
    found(
      'ERR_TOKEN_RESOURCE_MISMATCH',
      `The token is for ${quote(token.resourceUri)}, which is no device or module; a token without skn must be for exactly ${want} (modules: …/devices/{deviceId}/modules/{moduleId}).`,
    )
  } else if (deviceId !== target.deviceId) {
    found(
      'ERR_TOKEN_OTHER_DEVICE',
      `The token is for another device, ${quote(deviceId)}, not ${quote(target.deviceId)}: sign it with ${quote(target.deviceId)}'s key for ${want}.`,
    )
  } else if (isDevice && target.moduleId !== undefined) {
    found(
      'ERR_TOKEN_DEVICE_FOR_MODULE',
      `The token is the device's (sr ends in /devices/${deviceId}), but a module connects: sign it with the module's key for ${want}.`,
    )
  } else if (isModule && target.moduleId === undefined) {
    found(
      'ERR_TOKEN_MODULE_FOR_DEVICE',
      `The token is for the module ${quote(moduleId ?? '')}, but the device itself connects: sign it with the device's key for ${want}, or connect as the module (clientId ${deviceId}/${moduleId ?? ''}).`,
    )
  } else if (isModule && moduleId !== target.moduleId) {
    found(
      'ERR_TOKEN_OTHER_MODULE',
      `The token is for another module, ${quote(moduleId ?? '')}, not ${quote(target.moduleId ?? '')}: sign it with that module's key for ${want}.`,
    )
  }
  const csKey =
    cs !== undefined && cs.kind !== 'service' && cs.sharedAccessKeyName === undefined
      ? cs.sharedAccessKey
      : undefined
  return (
    identityKeys ??
    candidates(ctx.keys ?? (csKey === undefined ? undefined : [csKey]) ?? derivedKey(ctx, target.deviceId))
  )
}

/** The checks of a token sent to DPS; returns the keys to verify it with. */
function checkDpsToken(
  token: ParsedSasToken,
  target: Extract<Target, { kind: 'dps' }>,
  enrollmentKeys: readonly Candidate[] | undefined,
  ctx: Context,
  out: Finding[],
): readonly Candidate[] | undefined {
  const expected = `${target.idScope}/registrations/${target.registrationId}`
  const facts = { resourceUri: fact(token.resourceUri), expectedResourceUri: fact(expected) }
  if (token.registrationId === undefined || token.idScope === undefined) {
    out.push(
      finding(
        'ERR_TOKEN_FOR_HUB',
        `The password is ${token.keyName === undefined ? 'an IoT Hub token' : 'a hub policy token'} (sr=${quote(token.resourceUri)}), but this is a DPS registration: sign sr=${quote(expected)} with skn=registration and the enrollment's key (for a group, the derived key).`,
        facts,
      ),
    )
    return undefined
  }
  if (!sameIdScope(token.idScope, target.idScope)) {
    out.push(
      finding(
        'ERR_TOKEN_RESOURCE_MISMATCH',
        `The token is for the ID scope ${quote(token.idScope)}, but the username names ${quote(target.idScope)}: sign sr=${quote(expected)}.`,
        facts,
      ),
    )
  } else if (token.registrationId.toLowerCase() !== target.registrationId.toLowerCase()) {
    out.push(
      finding(
        'ERR_TOKEN_OTHER_REGISTRATION',
        `The token is for another registration, ${quote(token.registrationId)}, not ${quote(target.registrationId)}: sign sr=${quote(expected)} (the registration id of the token, username, clientId and request must agree).`,
        facts,
      ),
    )
  } else if (token.resourceUri.split('/').length !== 3) {
    out.push(
      finding(
        'ERR_TOKEN_RESOURCE_MISMATCH',
        `The token's resource has extra segments: sign exactly sr=${quote(expected)}.`,
        facts,
      ),
    )
  }
  if (token.keyName !== undefined && token.keyName !== DPS_KEY_NAME) {
    out.push(
      finding(
        'ERR_DPS_KEY_NAME',
        `The DPS token's skn is ${quote(token.keyName)}: a device registers with skn=registration and its enrollment key, not a service policy.`,
        { ...facts, keyName: fact(token.keyName) },
      ),
    )
  }
  return enrollmentKeys ?? candidates(ctx.keys ?? derivedKey(ctx, target.registrationId))
}

/** A key that may sign the identity's token, with the enrollment group it was derived from. */
interface Candidate {
  key: string
  enrollmentGroupId?: string
}

/** Keys as candidates. */
const candidates = (keys: readonly string[] | undefined): readonly Candidate[] | undefined =>
  keys?.map((key) => ({ key }))

/** What the registry (and the options) say about the identity the username names. */
interface Known {
  /** The identity's own keys, from the registry. */
  keys?: readonly Candidate[]
  /** Group keys, whose own signature is named. */
  groupKeys: readonly Candidate[]
  /** The identity's authentication, when the registry knows the identity. */
  authentication?: RegisteredIdentity['authentication']
  /** A registration id without individual enrollment: its keys are the enabled groups' derived ones. */
  withoutEnrollment?: { registrationId: string; groups: number }
}

/** Keys the registry gave, checked and remembered as secrets. */
function registryKeys(keys: unknown, what: string, ctx: Context): readonly string[] {
  if (!Array.isArray(keys)) throw new SasTokenError('ERR_INVALID_OPTION', `${what} must be a list of keys.`)
  return (
    keyList(
      keys.filter((k) => k !== ''),
      what,
      ctx.secrets,
    ) ?? []
  )
}

/** Asks the registry about the identity `target` names: a finding for each refusal it knows of. */
function lookUp(target: Target, ctx: Context, out: Finding[]): Known {
  const groupKeys: Candidate[] = ctx.groupKey === undefined ? [] : [{ key: ctx.groupKey }]
  const registry = ctx.registry
  if (registry === undefined || !target.valid) return { groupKeys }
  if (target.kind === 'hub') {
    if (typeof registry.identity !== 'function') return { groupKeys }
    const { deviceId, moduleId } = target
    const record = registry.identity(deviceId, moduleId)
    const what = moduleId === undefined ? `device ${deviceId}` : `module ${deviceId}/${moduleId}`
    const ids = { deviceId: fact(deviceId), ...(moduleId !== undefined && { moduleId: fact(moduleId) }) }
    if (record === undefined) {
      out.push(
        finding(
          'ERR_IDENTITY_NOT_FOUND',
          `There is no ${what} in this hub's registry: add it first (sas-token hub devices add ${moduleId === undefined ? deviceId : `${deviceId} --module ${moduleId}`}).`,
          ids,
        ),
      )
      return { groupKeys }
    }
    if (record.status === 'disabled') {
      out.push(
        finding(
          'ERR_DEVICE_DISABLED',
          `Device ${quote(deviceId)} is disabled in the registry${moduleId === undefined ? '' : ', and with it its modules'}: enable it first.`,
          ids,
        ),
      )
    }
    const auth = record.authentication
    if (auth.type !== 'sas') return { groupKeys, authentication: auth }
    return {
      groupKeys,
      authentication: auth,
      keys: candidates(registryKeys(auth.keys, `the registry's keys of ${what}`, ctx)) ?? [],
    }
  }
  const { registrationId } = target
  const enrollment =
    typeof registry.enrollment === 'function' ? registry.enrollment(registrationId) : undefined
  if (enrollment !== undefined) {
    if (enrollment.status === 'disabled') {
      out.push(
        finding(
          'ERR_ENROLLMENT_DISABLED',
          `The enrollment of ${quote(registrationId)} is disabled: enable it to register.`,
          { registrationId: fact(registrationId) },
        ),
      )
    }
    return {
      groupKeys,
      keys: candidates(registryKeys(enrollment.keys, `the enrollment keys of ${registrationId}`, ctx)) ?? [],
    }
  }
  if (registry.enrollmentGroups === undefined && registry.enrollment === undefined) return { groupKeys }
  const groups = (registry.enrollmentGroups ?? []).filter((g) => g.status === 'enabled')
  if (groups.length === 0) {
    out.push(noEnrollment(registrationId, 0))
    return { groupKeys }
  }
  const keys: Candidate[] = []
  for (const group of groups) {
    for (const key of registryKeys(
      group.keys,
      `the keys of enrollment group ${group.enrollmentGroupId}`,
      ctx,
    )) {
      const derived = deriveDeviceKey(key, registrationId)
      ctx.secrets.push(derived)
      keys.push({ key: derived, enrollmentGroupId: group.enrollmentGroupId })
      groupKeys.push({ key, enrollmentGroupId: group.enrollmentGroupId })
    }
  }
  return { groupKeys, keys, withoutEnrollment: { registrationId, groups: groups.length } }
}

/** The device key derived from the group key for `id`, if a group key was given and `id` is valid. */
function derivedKey(ctx: Context, id: string): readonly string[] | undefined {
  if (ctx.groupKey === undefined || problem(() => assertRegistrationId(id)) !== undefined) return undefined
  const key = deriveDeviceKey(ctx.groupKey, id)
  ctx.secrets.push(key)
  return [key]
}

/**
 * Whether `key` signed `password` (its expiry and resource aside): `'as-text'` when it did, but
 * with the key's text instead of its decoded bytes (the Service Bus family's convention).
 */
function signedWith(password: string, key: string): boolean | 'as-text' {
  try {
    verifySasToken(password, { key, now: 0, clockSkewSeconds: 0 })
    return true
  } catch (err) {
    if (err instanceof SasTokenError && err.code === 'ERR_TOKEN_SIGNATURE_MISMATCH') return false
    if (err instanceof SasTokenError && err.code === 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB') return 'as-text'
    throw err
  }
}

function checkSignature(
  password: string,
  keys: readonly Candidate[] | undefined,
  known: Known,
  out: Finding[],
): Candidate | undefined {
  const signed: Array<boolean | 'as-text'> = []
  for (const candidate of keys ?? []) {
    const verdict = signedWith(password, candidate.key)
    if (verdict === true) return candidate
    signed.push(verdict)
  }
  const group = known.groupKeys.find((g) => signedWith(password, g.key) === true)
  if (group !== undefined) {
    out.push(
      finding(
        'ERR_TOKEN_SIGNED_WITH_GROUP_KEY',
        `The token was signed with the enrollment group${group.enrollmentGroupId === undefined ? "'s" : ` ${group.enrollmentGroupId}'s`} key itself, which never signs a token: derive the device's key first, base64(HMAC-SHA256(groupKey, registrationId)) (\`sas-token derive-key\`), and sign with that.`,
        group.enrollmentGroupId === undefined ? {} : { enrollmentGroupId: group.enrollmentGroupId },
      ),
    )
    return undefined
  }
  if (signed.includes('as-text')) {
    out.push(
      finding(
        'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB',
        "The token was signed with the identity's key used as text, as Event Hubs and Service Bus sign; IoT Hub and DPS sign with the key's base64-decoded bytes. Sign again with an IoT Hub signer (sas-token generate, createSasToken).",
      ),
    )
    return undefined
  }
  if (keys === undefined || keys.length === 0) return undefined
  if (known.withoutEnrollment !== undefined) {
    out.push(noEnrollment(known.withoutEnrollment.registrationId, known.withoutEnrollment.groups))
    return undefined
  }
  out.push(
    finding(
      'ERR_TOKEN_SIGNATURE_MISMATCH',
      "The signature does not match the key: the token was signed with another key (the other of primary and secondary? another identity's? a regenerated one?), or sr was changed after signing. Sign again with the identity's current key.",
    ),
  )
  return undefined
}

/** `ERR_ENROLLMENT_NOT_FOUND` for `registrationId`, which `groups` enabled groups' derived keys did not sign. */
function noEnrollment(registrationId: string, groups: number): Finding {
  return finding(
    'ERR_ENROLLMENT_NOT_FOUND',
    groups === 0
      ? `There is no enrollment for the registration id ${quote(registrationId)}, and no enabled enrollment group: create an individual enrollment for it, or an enrollment group and sign with the key derived from the group's.`
      : `There is no individual enrollment for the registration id ${quote(registrationId)}, and the token is signed with no key derived from the ${groups === 1 ? "enabled enrollment group's keys" : `${groups} enabled enrollment groups' keys`}: create an enrollment for ${quote(registrationId)}, or sign with deriveDeviceKey(groupKey, ${quote(registrationId)}) (\`sas-token derive-key\`).`,
    { registrationId: fact(registrationId) },
  )
}

function checkExpiry(token: ParsedSasToken, ctx: Context, out: Finding[]): void {
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

/** Removes every secret from the text fields of a finding (defence in depth: none should be there). */
function redact(f: Finding, secrets: readonly string[]): Finding {
  const clean = (text: string): string =>
    secrets.reduce((t, secret) => (secret.length >= 4 ? t.split(secret).join('<redacted>') : t), text)
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(f)) out[name] = typeof value === 'string' ? clean(value) : value
  return { ...f, ...out }
}

/** The signature of a token-like password, raw and decoded, for redaction. */
function signatureOf(password: string): string[] {
  const raw = /(?:^|[&\s])sig=([^&\s]*)/.exec(password)?.[1]
  if (raw === undefined || raw === '') return []
  try {
    return [raw, decodeURIComponent(raw)]
  } catch {
    return [raw]
  }
}

/**
 * Says why IoT Hub or DPS would refuse this CONNECT, or drop the connection later, with the
 * core's own parsers: the username's shape and api-version, the host, the client id against
 * the username, the password as a SAS token, what the token is for (another device, a module
 * token used by the device or the reverse, a DPS token on the hub, a policy token), its
 * signature (when a key is known), and its expiry, as of `now` with the clock skew allowed.
 * Given `registry` (what the hub knows), it is the hub's decision: an unknown or disabled
 * identity, the wrong credential kind for it and a registration without enrollment are
 * findings too, and `sas-token/hub` refuses a CONNECT exactly when one is an error.
 *
 * Pure: it reads no clock when `now` is given, and nothing but the `registry` it is given.
 *
 * @example
 * ```ts
 * const findings = diagnoseConnect(
 *   { clientId: 'dev1', username: 'myhub.azure-devices.net/dev1/?api-version=2021-04-12', password },
 *   { connectionString: 'HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=…' },
 * )
 * for (const f of findings) console.log(f.severity, f.code, f.message)
 * // error ERR_TOKEN_EXPIRED The token expired at 2026-12-01T10:00:00.000Z, 4 minutes ago …
 * ```
 * @returns One finding per problem, errors and warnings; `[]` when the CONNECT is right.
 *   Whatever the device sent, it never throws and no finding contains a key, a signature or
 *   the password.
 * @throws {SasTokenError} only for bad options: `ERR_INVALID_OPTION`, `ERR_INVALID_NOW`,
 *   `ERR_INVALID_KEY` (`key`, `groupKey`, a policy's key or a key the `registry` gives), `ERR_INVALID_HOST_NAME`,
 *   `ERR_INVALID_IDENTIFIER` (`idScope`), and any code of `parseConnectionString`.
 */
export function diagnoseConnect(connect: MqttConnect, o: DiagnoseConnectOptions = {}): Finding[] {
  return decideConnect(connect, o).findings
}

/** Who a CONNECT {@link decideConnect} accepted is, and how it proved it. */
export type ConnectAcceptance =
  | {
      kind: 'hub'
      deviceId: string
      moduleId?: string
      /** `sas` (the identity's key), `policy` (a policy token with DeviceConnect) or `x509`. */
      authMethod: 'sas' | 'policy' | 'x509'
      /** The policy of a policy token. */
      keyName?: string
      /** When the token expires, epoch seconds (SAS only). */
      expiresAt?: number
      /** The username's api-version. */
      apiVersion: string
    }
  | {
      kind: 'dps'
      registrationId: string
      /** The key that signed the token: the enrollment's, or the one derived from a group's. */
      deviceKey: string
      /** The group whose derived key signed it. */
      enrollmentGroupId?: string
      expiresAt: number
    }

/** The decision on a CONNECT: every finding, and who it is when no finding is an error and a key or certificate proved it. */
export interface ConnectDecision {
  findings: Finding[]
  accepted?: ConnectAcceptance
  /** The identity a well-formed username names (a DPS registration id as `deviceId`), accepted or not. */
  named?: { deviceId: string; moduleId?: string }
}

/** Upper-case hex without colons. */
const thumbprint = (text: string): string => text.replaceAll(':', '').toUpperCase()

/** The certificate checks of an X.509 identity's CONNECT (no password); `true` when it authenticates. */
function checkCertificate(
  auth: Exclude<RegisteredIdentity['authentication'], { type: 'sas' }>,
  presented: readonly string[],
  what: string,
  out: Finding[],
): boolean {
  if (presented.length === 0) {
    out.push(
      finding(
        'ERR_CLIENT_CERTIFICATE_MISSING',
        `${what} uses X.509, but the TLS handshake presented no client certificate: connect with the device's certificate and key (mqtt.js: key, cert; mosquitto: --cert, --key).`,
      ),
    )
    return false
  }
  if (auth.type === 'selfSigned') {
    const allowed = auth.thumbprints.filter((t) => t !== '').map(thumbprint)
    if (presented.some((p) => allowed.includes(p))) return true
    out.push(
      finding(
        'ERR_THUMBPRINT_MISMATCH',
        `The client certificate's thumbprint is not the primary or secondary thumbprint registered for ${what}: register this certificate's SHA-1 or SHA-256 thumbprint, or connect with the registered one.`,
      ),
    )
    return false
  }
  const chain = auth.chainProblem
  if (chain === undefined) return true
  out.push(finding(chain.code, chain.message, { ...chain.facts }))
  return false
}

/**
 * The CONNECT decision the hub makes (and {@link diagnoseConnect} explains): every finding, and,
 * when none is an error and a key, thumbprint or chain proved the identity, who it is.
 *
 * @internal The hub's; {@link diagnoseConnect} is the public face.
 * @throws {SasTokenError} as {@link diagnoseConnect}, for bad options only.
 */
export function decideConnect(connect: MqttConnect, o: DiagnoseConnectOptions = {}): ConnectDecision {
  const ctx = checkOptions(o)
  const fields: Partial<Record<keyof MqttConnect, unknown>> =
    typeof connect === 'object' && connect !== null ? connect : {}
  const password = fields.password
  if (typeof password === 'string') {
    ctx.secrets.push(...signatureOf(password).filter((sig) => sig.length >= 8))
    if (password.length >= 16) ctx.secrets.push(password)
  }
  const prints = Array.isArray(fields.certificateThumbprints)
    ? fields.certificateThumbprints
        .filter((t): t is string => typeof t === 'string' && t !== '')
        .map(thumbprint)
    : []
  const out: Finding[] = []

  const target = readUsername(fields.username, ctx, out)
  if (target !== undefined) checkIdentity(target, fields.clientId, ctx, out)
  const known: Known =
    target === undefined
      ? { groupKeys: ctx.groupKey === undefined ? [] : [{ key: ctx.groupKey }] }
      : lookUp(target, ctx, out)
  const auth = known.authentication
  const x509 = auth === undefined ? ctx.x509 : auth.type !== 'sas'
  const what =
    target?.kind === 'hub'
      ? target.moduleId === undefined
        ? `device ${target.deviceId}`
        : `module ${target.deviceId}/${target.moduleId}`
      : 'This identity'
  let accepted: ConnectAcceptance | undefined

  if (password === undefined || password === null) {
    if (auth !== undefined && auth.type !== 'sas') {
      if (checkCertificate(auth, prints, what, out) && target?.kind === 'hub')
        accepted = hubAcceptance(target, 'x509')
    } else if (auth?.type === 'sas' && prints.length > 0) {
      out.push(
        finding(
          'ERR_IDENTITY_NOT_X509',
          `The CONNECT presents a client certificate and no password, but ${what} is registered with symmetric keys, not X.509: send a SAS token as the password, or register it with the certificate's thumbprint (or as CA-signed).`,
        ),
      )
    } else if (!x509) {
      out.push(
        finding(
          'ERR_PASSWORD_MISSING',
          'The CONNECT has no password: a device with a symmetric key sends a SAS token (SharedAccessSignature sr=…&sig=…&se=…) as the password. (An X.509 device sends none; then this identity must be registered with a certificate.)',
        ),
      )
    }
  } else {
    let token: ParsedSasToken | undefined
    let parseMessage = 'it is not text'
    if (typeof password === 'string') {
      try {
        token = parseSasToken(password)
      } catch (err) {
        if (!(err instanceof SasTokenError)) throw err
        parseMessage = err.message
      }
    }
    if (x509 && !(token?.keyName !== undefined && target?.kind === 'hub')) {
      out.push(
        finding(
          'ERR_X509_WITH_PASSWORD',
          'This identity authenticates with an X.509 certificate, yet the CONNECT sends a password: send no password, and present the client certificate in the TLS handshake.',
        ),
      )
    } else if (token === undefined || typeof password !== 'string') {
      out.push(
        finding(
          'ERR_PASSWORD_NOT_SAS_TOKEN',
          `${notATokenHint(typeof password === 'string' ? password : '?', parseMessage)} The password must be a SAS token, SharedAccessSignature sr=…&sig=…&se=…, signed with the identity's key (\`sas-token generate\`).`,
        ),
      )
    } else {
      let keys: readonly Candidate[] | undefined
      if (target?.kind === 'hub') keys = checkHubToken(token, target, x509 ? undefined : known.keys, ctx, out)
      else if (target?.kind === 'dps') keys = checkDpsToken(token, target, known.keys, ctx, out)
      else keys = candidates(ctx.keys)
      const signer = checkSignature(password, keys, known, out)
      checkExpiry(token, ctx, out)
      if (signer !== undefined && target?.kind === 'hub') {
        accepted = hubAcceptance(target, token.keyName === undefined ? 'sas' : 'policy', token)
      } else if (signer !== undefined && target?.kind === 'dps') {
        accepted = {
          kind: 'dps',
          registrationId: target.registrationId,
          deviceKey: signer.key,
          ...(signer.enrollmentGroupId !== undefined && { enrollmentGroupId: signer.enrollmentGroupId }),
          expiresAt: token.expiresAt,
        }
      }
    }
  }
  const findings = out.map((f) => redact(f, ctx.secrets))
  const decision: ConnectDecision = { findings }
  if (accepted !== undefined && !findings.some((f) => f.severity === 'error')) decision.accepted = accepted
  if (target?.kind === 'dps') decision.named = { deviceId: target.registrationId }
  else if (target !== undefined)
    decision.named =
      target.moduleId === undefined
        ? { deviceId: target.deviceId }
        : { deviceId: target.deviceId, moduleId: target.moduleId }
  return decision
}

/** Who a hub CONNECT proved to be. */
function hubAcceptance(
  target: Extract<Target, { kind: 'hub' }> & { params: ReadonlyMap<string, string> },
  authMethod: 'sas' | 'policy' | 'x509',
  token?: ParsedSasToken,
): ConnectAcceptance {
  return {
    kind: 'hub',
    deviceId: target.deviceId,
    ...(target.moduleId !== undefined && { moduleId: target.moduleId }),
    authMethod,
    ...(token?.keyName !== undefined && { keyName: token.keyName }),
    ...(token !== undefined && { expiresAt: token.expiresAt }),
    apiVersion: target.params.get('api-version') ?? '',
  }
}
