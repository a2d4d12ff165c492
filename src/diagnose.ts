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
import { DEFAULT_API_VERSION, DPS_API_VERSION, isApiVersion, isDtmi } from './mqtt/credentials.js'
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
  | 'ERR_USERNAME_API_VERSION_INVALID'
  | 'ERR_USERNAME_HOST_MISMATCH'
  | 'WARN_USERNAME_GATEWAY_HOST'
  | 'ERR_ID_SCOPE_MISMATCH'
  | 'ERR_IDENTIFIER_INVALID'
  | 'ERR_MODEL_ID_NOT_DTMI'
  // the client id and the identity
  | 'ERR_CLIENT_ID_MISMATCH'
  | 'ERR_IDENTITY_MISMATCH'
  // the password
  | 'ERR_PASSWORD_MISSING'
  | 'ERR_PASSWORD_NOT_SAS_TOKEN'
  | 'ERR_X509_WITH_PASSWORD'
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
/** The username's last segment is a parameter list (an old username without `?`). */
const PARAMS_SEGMENT = /(?:^|&)(?:api-version|DeviceClientType|model-id|ClientVersion)=/i

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
  const ctx: Context = {
    nowSeconds,
    skew,
    policies,
    x509: o.x509 === true || cs?.x509 === true,
    secrets,
  }
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

/** `name=value&…`, values percent-decoded where they can be; the first of a repeated name wins. */
function readParams(query: string): Map<string, string> {
  const params = new Map<string, string>()
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = eq === -1 ? part : part.slice(0, eq)
    const raw = eq === -1 ? '' : part.slice(eq + 1)
    let value = raw
    try {
      value = decodeURIComponent(raw)
    } catch {
      // kept as sent
    }
    if (!params.has(name)) params.set(name, value)
  }
  return params
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

function checkApiVersion(params: Map<string, string>, dps: boolean, out: Finding[]): void {
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
        'ERR_USERNAME_API_VERSION_INVALID',
        `The username's api-version ${quote(apiVersion)} is not an api-version: use a date such as ${dps ? DPS_API_VERSION : DEFAULT_API_VERSION}.`,
        { apiVersion: fact(apiVersion) },
      ),
    )
  }
}

/** Reads the username into what it names, with a finding for each thing wrong with its shape. */
function readUsername(
  username: unknown,
  out: Finding[],
): (Target & { params: Map<string, string> }) | undefined {
  if (typeof username !== 'string' || username === '') {
    out.push(
      finding(
        'ERR_USERNAME_MISSING',
        `The CONNECT has no username: send ${HUB_USERNAME}, or for DPS ${DPS_USERNAME}.`,
      ),
    )
    return undefined
  }
  const q = username.indexOf('?')
  let path = username
  let query: string | undefined
  let legacy = ''
  if (q !== -1) {
    path = username.slice(0, q)
    query = username.slice(q + 1)
  } else {
    const slash = username.lastIndexOf('/')
    const last = username.slice(slash + 1)
    if (PARAMS_SEGMENT.test(last)) {
      path = username.slice(0, slash + 1)
      legacy = last
    }
  }
  const segments = path.split('/')

  if (segments[1] === 'registrations') {
    const [idScope = '', , registrationId = '', rest] = segments
    if (segments.length !== 4 || rest !== '' || idScope === '' || registrationId === '') {
      out.push(
        finding('ERR_USERNAME_MALFORMED', `The DPS username is malformed: write it as ${DPS_USERNAME}.`),
      )
      return undefined
    }
    const params = readParams(query ?? legacy)
    checkApiVersion(params, true, out)
    const scopeProblem = problem(() => assertIdScope(idScope))
    const idProblem = problem(() => assertRegistrationId(registrationId, "The username's registration id"))
    for (const message of [scopeProblem, idProblem]) {
      if (message !== undefined) out.push(finding('ERR_IDENTIFIER_INVALID', message))
    }
    const valid = scopeProblem === undefined && idProblem === undefined
    return { kind: 'dps', idScope, registrationId, valid, params }
  }

  const ids = segments.slice(1, segments[segments.length - 1] === '' ? -1 : undefined)
  const [hostName = '', deviceId = '', moduleId] = [segments[0], ...ids]
  if (hostName === '' || ids.length < 1 || ids.length > 2 || ids.some((id) => id === '')) {
    out.push(
      finding(
        'ERR_USERNAME_MALFORMED',
        `The username is malformed: ${
          ids.length > 2
            ? `it has ${ids.length} ids after the host name, at most 2 (device and module)`
            : 'it needs a host name and a device id'
        }; write it as ${HUB_USERNAME}.`,
      ),
    )
    return undefined
  }
  const hostProblem = problem(() => assertHostName(hostName, "The username's host name"))
  if (hostProblem !== undefined)
    out.push(finding('ERR_USERNAME_MALFORMED', `${hostProblem} Write the username as ${HUB_USERNAME}.`))
  if (query !== undefined && !path.endsWith('/')) {
    out.push(
      finding(
        'ERR_USERNAME_MALFORMED',
        `The username needs a '/' between the identity and '?': write it as ${HUB_USERNAME}.`,
      ),
    )
  }
  const params = readParams(query ?? legacy)
  if (query === undefined && legacy !== '') {
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
        'ERR_MODEL_ID_NOT_DTMI',
        `The username's model-id ${quote(modelId)} is not a DTMI: use the form dtmi:com:example:Thermostat;1 (percent-encoded in the username), or leave model-id out.`,
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
    if (ctx.idScope !== undefined && target.idScope.toLowerCase() !== ctx.idScope.toLowerCase()) {
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
  if (hub !== undefined && !sameHost(target.hostName, hub)) {
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

/** Why a password is not a token, without repeating it. */
function notATokenHint(password: string, parseMessage: string): string {
  if (password === '') return 'The password is empty'
  if (/(?:^|;)\s*(?:HostName|SharedAccessKey|DeviceId)\s*=/i.test(password))
    return 'The password is a connection string, not a token'
  if (/^[A-Za-z0-9+/]{20,}={0,2}$/.test(password)) return 'The password looks like a bare key, not a token'
  return `The password is not a SAS token: ${parseMessage}`
}

/** The checks of a token sent to the hub, by what it is for; returns the key to verify it with. */
function checkHubToken(
  token: ParsedSasToken,
  target: Extract<Target, { kind: 'hub' }>,
  ctx: Context,
  out: Finding[],
): readonly string[] | undefined {
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
    return policyKey === undefined ? ctx.keys : typeof policyKey === 'string' ? [policyKey] : policyKey
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
  if (token.hostName !== undefined && !sameHost(token.hostName, tokenHost)) {
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
  return ctx.keys ?? (csKey === undefined ? undefined : [csKey]) ?? derivedKey(ctx, target.deviceId)
}

/** The checks of a token sent to DPS; returns the key to verify it with. */
function checkDpsToken(
  token: ParsedSasToken,
  target: Extract<Target, { kind: 'dps' }>,
  ctx: Context,
  out: Finding[],
): readonly string[] | undefined {
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
  if (token.idScope.toLowerCase() !== target.idScope.toLowerCase()) {
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
  return ctx.keys ?? derivedKey(ctx, target.registrationId)
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
  keys: readonly string[] | undefined,
  ctx: Context,
  out: Finding[],
): void {
  if (ctx.groupKey !== undefined && signedWith(password, ctx.groupKey) === true) {
    out.push(
      finding(
        'ERR_TOKEN_SIGNED_WITH_GROUP_KEY',
        "The token was signed with the enrollment group's key itself, which never signs a token: derive the device's key first, base64(HMAC-SHA256(groupKey, registrationId)) (`sas-token derive-key`), and sign with that.",
      ),
    )
    return
  }
  const signed = keys?.map((key) => signedWith(password, key))
  if (signed !== undefined && !signed.includes(true) && signed.includes('as-text')) {
    out.push(
      finding(
        'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB',
        "The token was signed with the identity's key used as text, as Event Hubs and Service Bus sign; IoT Hub and DPS sign with the key's base64-decoded bytes. Sign again with an IoT Hub signer (sas-token generate, createSasToken).",
      ),
    )
    return
  }
  if (signed !== undefined && !signed.includes(true)) {
    out.push(
      finding(
        'ERR_TOKEN_SIGNATURE_MISMATCH',
        "The signature does not match the key: the token was signed with another key (the other of primary and secondary? another identity's? a regenerated one?), or sr was changed after signing. Sign again with the identity's current key.",
      ),
    )
  }
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
 *
 * Pure: it reads no clock when `now` is given, and nothing else.
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
 *   `ERR_INVALID_KEY` (`key`, `groupKey` or a policy's key), `ERR_INVALID_HOST_NAME`,
 *   `ERR_INVALID_IDENTIFIER` (`idScope`), and any code of `parseConnectionString`.
 */
export function diagnoseConnect(connect: MqttConnect, o: DiagnoseConnectOptions = {}): Finding[] {
  const ctx = checkOptions(o)
  const fields: Partial<Record<keyof MqttConnect, unknown>> =
    typeof connect === 'object' && connect !== null ? connect : {}
  const password = fields.password
  if (typeof password === 'string') {
    ctx.secrets.push(...signatureOf(password).filter((sig) => sig.length >= 8))
    if (password.length >= 16) ctx.secrets.push(password)
  }
  const out: Finding[] = []

  const target = readUsername(fields.username, out)
  if (target !== undefined) checkIdentity(target, fields.clientId, ctx, out)

  if (password === undefined || password === null) {
    if (!ctx.x509) {
      out.push(
        finding(
          'ERR_PASSWORD_MISSING',
          'The CONNECT has no password: a device with a symmetric key sends a SAS token (SharedAccessSignature sr=…&sig=…&se=…) as the password. (An X.509 device sends none; then this identity must be registered with a certificate.)',
        ),
      )
    }
  } else if (ctx.x509) {
    out.push(
      finding(
        'ERR_X509_WITH_PASSWORD',
        'This identity authenticates with an X.509 certificate, yet the CONNECT sends a password: send no password, and present the client certificate in the TLS handshake.',
      ),
    )
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
    if (token === undefined || typeof password !== 'string') {
      out.push(
        finding(
          'ERR_PASSWORD_NOT_SAS_TOKEN',
          `${notATokenHint(typeof password === 'string' ? password : '?', parseMessage)}: the password must be a SAS token, SharedAccessSignature sr=…&sig=…&se=…, signed with the identity's key (\`sas-token generate\`).`,
        ),
      )
    } else {
      let keys: readonly string[] | undefined
      if (target?.kind === 'hub') keys = checkHubToken(token, target, ctx, out)
      else if (target?.kind === 'dps') keys = checkDpsToken(token, target, ctx, out)
      else keys = ctx.keys
      checkSignature(password, keys, ctx, out)
      checkExpiry(token, ctx, out)
    }
  }
  return out.map((f) => redact(f, ctx.secrets))
}
