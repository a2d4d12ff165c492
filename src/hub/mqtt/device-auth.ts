/**
 * CONNECT authentication, as IoT Hub and DPS do it: the username, the client id and the SAS
 * token (checked with the core's {@link verifySasToken}, 300 s of clock skew), or the client
 * certificate's thumbprint. The answer is an accepted identity, or a refusal with its CONNACK
 * return code and the reason. Nothing here throws on a device's input.
 *
 * @module
 */
import { isSasTokenError } from '../../errors.js'
import { deriveDeviceKey } from '../../keys.js'
import { parseSasToken, resourceCovers, verifySasToken } from '../../sas-token.js'
import type { ParsedSasToken } from '../../sas-token.js'
import type { RegisteredCa } from '../state/ca-registry.js'
import type { Identity, Policy } from '../state/registry.js'
import type { Enrollment, EnrollmentGroup } from '../state/state-store.js'
import { checkCaChain } from '../tls/x509-chain.js'
import type { ClientCertificate } from '../tls/x509-chain.js'

/** What the device sent in CONNECT, plus its TLS client certificate's fingerprints. */
export interface ConnectFields {
  clientId: string
  username: string | undefined
  password: Buffer | undefined
  /** SHA-1 and SHA-256 fingerprints of the client certificate, upper-case hex without colons. */
  certificateThumbprints?: string[]
  /** The client certificate chain and the TLS verdict on it (X.509 CA identities). */
  clientCertificate?: ClientCertificate
}

/** Why a CONNECT was refused. */
export interface RefusalReason {
  code: `ERR_${string}`
  message: string
  /** The facts behind it (certificate subjects, dates), for the finding. */
  facts?: Record<string, string>
}

/** An accepted hub connection. */
export interface AcceptedDevice {
  kind: 'device'
  deviceId: string
  moduleId?: string
  /** `sas` (own key), `policy` (a policy token with DeviceConnect) or `x509`. */
  authMethod: 'sas' | 'policy' | 'x509'
  keyName?: string
  /** Epoch seconds when the token expires (SAS only). */
  expiresAt?: number
  apiVersion: string
}

/** An accepted DPS connection. */
export interface AcceptedRegistration {
  kind: 'dps'
  registrationId: string
  /** The device key the registration proved (the derived key for a group). */
  deviceKey: string
  enrollmentGroupId?: string
  expiresAt: number
}

/** The outcome of {@link authenticateConnect}. */
export type ConnectOutcome =
  | { ok: true; accepted: AcceptedDevice | AcceptedRegistration }
  | {
      ok: false
      returnCode: 4 | 5
      reason: RefusalReason
      identity?: { deviceId: string; moduleId?: string }
    }

/** What the authenticator needs to know of the hub. */
export interface AuthContext {
  hostName: string
  /** `true` for the hub's host name, or it with one of the hub's ports. */
  isOwnHost(host: string): boolean
  idScope: string
  now: number
  policy(keyName: string): Policy | undefined
  identity(deviceId: string, moduleId?: string): Identity | undefined
  enrollment(registrationId: string): Enrollment | undefined
  groups(): EnrollmentGroup[]
  /** The registered X.509 CA certificates; none when absent. */
  certificateAuthorities?(): RegisteredCa[]
}

const DPS_USERNAME = /^([^/]+)\/registrations\/([^/]+)\/(.*)$/

function refuse(
  code: `ERR_${string}`,
  message: string,
  returnCode: 4 | 5 = 5,
  identity?: { deviceId: string; moduleId?: string },
): ConnectOutcome {
  return identity === undefined
    ? { ok: false, returnCode, reason: { code, message } }
    : { ok: false, returnCode, reason: { code, message }, identity }
}

/** `true` when the username is a DPS registration username. */
export function isDpsUsername(username: string | undefined): boolean {
  return username !== undefined && DPS_USERNAME.test(username) && !username.includes('/?')
}

/**
 * Decides a CONNECT. Never throws.
 */
export function authenticateConnect(fields: ConnectFields, ctx: AuthContext): ConnectOutcome {
  const username = fields.username
  if (username === undefined || username.length === 0) {
    return refuse(
      'ERR_USERNAME_MISSING',
      `The CONNECT has no username: send {hub}/{deviceId}/?api-version=… (IoT Hub) or {idScope}/registrations/{registrationId}/api-version=… (DPS).`,
    )
  }
  if (isDpsUsername(username)) return authenticateRegistration(fields, username, ctx)
  return authenticateDevice(fields, username, ctx)
}

function tokenText(password: Buffer): string | undefined {
  const text = password.toString('utf8')
  return text.length === 0 ? undefined : text
}

/** Tries each key; the first that verifies wins, else the most telling error. */
function verifyWithKeys(
  token: string,
  keys: string[],
  o: { now: number; resourceUri: string },
): { parsed: ParsedSasToken } | { error: RefusalReason } {
  let error: RefusalReason | undefined
  for (const key of keys) {
    if (key === '') continue
    try {
      return { parsed: verifySasToken(token, { key, now: o.now, resourceUri: o.resourceUri }) }
    } catch (err) {
      const reason: RefusalReason = isSasTokenError(err)
        ? { code: err.code, message: err.message }
        : { code: 'ERR_TOKEN_MALFORMED', message: String(err) }
      // a signature mismatch on the primary key says less than any error with the secondary
      if (error === undefined || error.code === 'ERR_TOKEN_SIGNATURE_MISMATCH') error = reason
    }
  }
  return {
    error: error ?? { code: 'ERR_KEY_REQUIRED', message: 'The identity has no key to check the token with.' },
  }
}

function authenticateDevice(fields: ConnectFields, username: string, ctx: AuthContext): ConnectOutcome {
  const q = username.indexOf('/?')
  if (q === -1) {
    return refuse(
      'ERR_USERNAME_QUESTION_MARK_MISSING',
      `The username ${JSON.stringify(username)} has no '/?': IoT Hub expects {hub}/{deviceId}/?api-version=2021-04-12.`,
    )
  }
  const [host = '', deviceId = '', moduleId, ...extra] = username.slice(0, q).split('/')
  const query = new URLSearchParams(username.slice(q + 2))
  const identity = moduleId === undefined ? { deviceId } : { deviceId, moduleId }
  if (deviceId === '' || extra.length > 0 || moduleId === '') {
    return refuse(
      'ERR_USERNAME_MALFORMED',
      `The username ${JSON.stringify(username)} is not {hub}/{deviceId}[/{moduleId}]/?api-version=….`,
    )
  }
  if (!ctx.isOwnHost(host)) {
    return refuse(
      'ERR_USERNAME_HOST_MISMATCH',
      `The username names host ${JSON.stringify(host)}, but this hub is ${ctx.hostName}: use HostName=${ctx.hostName}.`,
      5,
      identity,
    )
  }
  const apiVersion = query.get('api-version')
  if (apiVersion === null || apiVersion === '') {
    return refuse(
      'ERR_USERNAME_API_VERSION_MISSING',
      'The username has no api-version: add ?api-version=2021-04-12 after the identity.',
      5,
      identity,
    )
  }
  const expectedClientId = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`
  if (fields.clientId !== expectedClientId) {
    return refuse(
      'ERR_CLIENT_ID_MISMATCH',
      `The client id ${JSON.stringify(fields.clientId)} is not the username's identity ${JSON.stringify(expectedClientId)}: they must be equal.`,
      5,
      identity,
    )
  }
  const record = ctx.identity(deviceId, moduleId)
  const what = moduleId === undefined ? `device ${deviceId}` : `module ${deviceId}/${moduleId}`
  if (record === undefined) {
    return refuse(
      'ERR_IDENTITY_NOT_FOUND',
      `There is no ${what} in this hub's registry: add it first.`,
      5,
      identity,
    )
  }
  const device = moduleId === undefined ? record : ctx.identity(deviceId)
  if (device?.status === 'disabled') {
    return refuse(
      'ERR_DEVICE_DISABLED',
      `Device ${deviceId} is disabled in the registry: enable it first.`,
      5,
      identity,
    )
  }
  const auth = record.authentication
  if (fields.password === undefined || fields.password.length === 0) {
    if (auth.type === 'sas') {
      return refuse(
        'ERR_PASSWORD_MISSING',
        `The CONNECT has no password, but ${what} uses symmetric keys: send a SAS token as the password.`,
        5,
        identity,
      )
    }
    const prints = fields.certificateThumbprints ?? []
    if (prints.length === 0) {
      return refuse(
        'ERR_CLIENT_CERTIFICATE_MISSING',
        `${what} uses X.509, but no client certificate was presented.`,
        5,
        identity,
      )
    }
    if (auth.type === 'certificateAuthority') {
      const checked = checkCaChain(
        fields.clientCertificate ?? { chain: [] },
        ctx.certificateAuthorities?.() ?? [],
        moduleId === undefined ? { deviceId, now: ctx.now } : { deviceId, moduleId, now: ctx.now },
      )
      if (!checked.ok) {
        const { code, message, facts } = checked.problem
        return { ok: false, returnCode: 5, reason: { code, message, facts }, identity }
      }
    }
    if (auth.type === 'selfSigned') {
      const allowed = [auth.x509Thumbprint.primaryThumbprint, auth.x509Thumbprint.secondaryThumbprint]
        .filter((t) => t !== '')
        .map((t) => t.toUpperCase())
      if (!prints.some((p) => allowed.includes(p))) {
        return refuse(
          'ERR_THUMBPRINT_MISMATCH',
          `The client certificate's thumbprint is not the primary or secondary thumbprint registered for ${what}.`,
          5,
          identity,
        )
      }
    }
    const accepted: AcceptedDevice = { kind: 'device', deviceId, authMethod: 'x509', apiVersion }
    if (moduleId !== undefined) accepted.moduleId = moduleId
    return { ok: true, accepted }
  }
  const token = tokenText(fields.password)
  let parsed: ParsedSasToken
  try {
    parsed = parseSasToken(token ?? '')
  } catch (err) {
    return refuse(
      'ERR_PASSWORD_NOT_SAS_TOKEN',
      isSasTokenError(err) ? err.message : 'The password is not a SAS token.',
      4,
      identity,
    )
  }
  if (auth.type !== 'sas' && parsed.keyName === undefined) {
    return refuse(
      'ERR_X509_WITH_PASSWORD',
      `${what} uses X.509: connect with its client certificate and no password.`,
      5,
      identity,
    )
  }
  const resourceUri = `${host}/devices/${deviceId}${moduleId === undefined ? '' : `/modules/${moduleId}`}`
  let keys: string[]
  let authMethod: AcceptedDevice['authMethod'] = 'sas'
  if (parsed.keyName !== undefined) {
    const policy = ctx.policy(parsed.keyName)
    if (policy === undefined) {
      return refuse(
        'ERR_POLICY_UNKNOWN',
        `The token is signed by policy ${JSON.stringify(parsed.keyName)}, which this hub does not have.`,
        5,
        identity,
      )
    }
    if (!policy.rights.includes('DeviceConnect')) {
      return refuse(
        'ERR_POLICY_NO_DEVICE_CONNECT',
        `Policy ${policy.keyName} does not have DeviceConnect, so its tokens cannot connect devices.`,
        5,
        identity,
      )
    }
    if (!resourceCovers(parsed.resourceUri, resourceUri, true)) {
      return refuse(
        'ERR_POLICY_TOKEN_SCOPE',
        `The policy token is for ${parsed.resourceUri}, which does not cover ${resourceUri}.`,
        5,
        identity,
      )
    }
    keys = [policy.primaryKey, policy.secondaryKey]
    authMethod = 'policy'
  } else {
    if (auth.type !== 'sas') return refuse('ERR_X509_WITH_PASSWORD', `${what} uses X.509.`, 5, identity)
    keys = [auth.symmetricKey.primaryKey, auth.symmetricKey.secondaryKey]
  }
  const verified = verifyWithKeys(token ?? '', keys, { now: ctx.now, resourceUri })
  if ('error' in verified) return { ok: false, returnCode: 5, reason: verified.error, identity }
  const accepted: AcceptedDevice = {
    kind: 'device',
    deviceId,
    authMethod,
    expiresAt: verified.parsed.expiresAt,
    apiVersion,
  }
  if (moduleId !== undefined) accepted.moduleId = moduleId
  if (parsed.keyName !== undefined) accepted.keyName = parsed.keyName
  return { ok: true, accepted }
}

function authenticateRegistration(fields: ConnectFields, username: string, ctx: AuthContext): ConnectOutcome {
  const [, idScope = '', registrationId = '', rest = ''] = DPS_USERNAME.exec(username) ?? []
  const identity = { deviceId: registrationId }
  if (idScope !== ctx.idScope) {
    return refuse(
      'ERR_ID_SCOPE_MISMATCH',
      `The username names ID scope ${JSON.stringify(idScope)}, but this DPS is ${ctx.idScope}.`,
      5,
      identity,
    )
  }
  if (!rest.startsWith('api-version=')) {
    return refuse(
      'ERR_USERNAME_API_VERSION_MISSING',
      'The DPS username has no api-version: end it with /api-version=2019-03-31.',
      5,
      identity,
    )
  }
  if (fields.clientId !== registrationId) {
    return refuse(
      'ERR_CLIENT_ID_MISMATCH',
      `The client id ${JSON.stringify(fields.clientId)} is not the registration id ${JSON.stringify(registrationId)}.`,
      5,
      identity,
    )
  }
  const token = fields.password === undefined ? undefined : tokenText(fields.password)
  if (token === undefined) {
    return refuse(
      'ERR_PASSWORD_MISSING',
      'The DPS CONNECT has no password: send a DPS SAS token (sr={idScope}/registrations/{id}, skn=registration).',
      5,
      identity,
    )
  }
  try {
    parseSasToken(token)
  } catch (err) {
    return refuse(
      'ERR_PASSWORD_NOT_SAS_TOKEN',
      isSasTokenError(err) ? err.message : 'The password is not a SAS token.',
      4,
      identity,
    )
  }
  const resourceUri = `${idScope}/registrations/${registrationId}`
  const enrollment = ctx.enrollment(registrationId)
  if (enrollment !== undefined) {
    if (enrollment.provisioningStatus === 'disabled') {
      return refuse(
        'ERR_ENROLLMENT_DISABLED',
        `The enrollment of ${registrationId} is disabled.`,
        5,
        identity,
      )
    }
    for (const key of [enrollment.primaryKey, enrollment.secondaryKey]) {
      const v = verifyWithKeys(token, [key], { now: ctx.now, resourceUri })
      if ('parsed' in v)
        return {
          ok: true,
          accepted: { kind: 'dps', registrationId, deviceKey: key, expiresAt: v.parsed.expiresAt },
        }
    }
    const v = verifyWithKeys(token, [enrollment.primaryKey, enrollment.secondaryKey], {
      now: ctx.now,
      resourceUri,
    })
    return {
      ok: false,
      returnCode: 5,
      reason: 'error' in v ? v.error : { code: 'ERR_TOKEN_SIGNATURE_MISMATCH', message: 'bad signature' },
      identity,
    }
  }
  const groups = ctx.groups().filter((g) => g.provisioningStatus === 'enabled')
  if (groups.length === 0) {
    return refuse(
      'ERR_ENROLLMENT_NOT_FOUND',
      `There is no enrollment for ${registrationId} and no enabled enrollment group.`,
      5,
      identity,
    )
  }
  let last: RefusalReason | undefined
  for (const group of groups) {
    for (const groupKey of [group.primaryKey, group.secondaryKey]) {
      let deviceKey: string
      try {
        deviceKey = deriveDeviceKey(groupKey, registrationId)
      } catch (err) {
        last = isSasTokenError(err) ? { code: err.code, message: err.message } : last
        continue
      }
      const v = verifyWithKeys(token, [deviceKey], { now: ctx.now, resourceUri })
      if ('parsed' in v) {
        return {
          ok: true,
          accepted: {
            kind: 'dps',
            registrationId,
            deviceKey,
            enrollmentGroupId: group.enrollmentGroupId,
            expiresAt: v.parsed.expiresAt,
          },
        }
      }
      if (last === undefined || v.error.code !== 'ERR_TOKEN_SIGNATURE_MISMATCH') last = v.error
      const underived = verifyWithKeys(token, [groupKey], { now: ctx.now, resourceUri })
      if ('parsed' in underived) {
        return refuse(
          'ERR_TOKEN_SIGNED_WITH_GROUP_KEY',
          `The token was signed with enrollment group ${group.enrollmentGroupId}'s key itself: sign with the device key derived from it (sas-token derive-key, or deriveDeviceKey(groupKey, '${registrationId}')).`,
          5,
          identity,
        )
      }
    }
  }
  return {
    ok: false,
    returnCode: 5,
    reason: last ?? { code: 'ERR_TOKEN_SIGNATURE_MISMATCH', message: 'The signature matches no enrollment.' },
    identity,
  }
}
