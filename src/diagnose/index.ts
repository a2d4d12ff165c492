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
import { SasTokenError } from '../errors.js'
import { parseSasToken, type ParsedSasToken } from '../sas-token.js'
import { checkCertificate, thumbprint } from './certificate.js'
import { checkDpsToken } from './dps-token.js'
import { checkExpiry } from './expiry.js'
import { type Finding, finding, redact, signatureOf } from './findings.js'
import { checkHubToken } from './hub-token.js'
import { checkIdentity } from './identity.js'
import type { MessageArgs } from './messages.js'
import { type DiagnoseConnectOptions, checkOptions } from './options.js'
import { type Candidate, type Known, candidates, lookUp } from './registry.js'
import { checkSignature } from './signature.js'
import { type Target, readUsername } from './username.js'

export type { CertificateChainProblem, CertificateFact } from './certificate.js'
export type { DiagnosisCode, Finding } from './findings.js'
export { DEFAULT_HUB_POLICIES } from './options.js'
export type { DiagnoseConnectOptions, HubPolicy } from './options.js'
export type {
  ConnectRegistry,
  RegisteredEnrollment,
  RegisteredEnrollmentGroup,
  RegisteredIdentity,
} from './registry.js'

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

/** What a password that is no token looks like, without repeating it. */
function notATokenHint(password: string, parseMessage: string): MessageArgs['ERR_PASSWORD_NOT_SAS_TOKEN'] {
  if (password === '') return { looks: 'empty' }
  if (/(?:^|;)\s*(?:HostName|SharedAccessKey|DeviceId)\s*=/i.test(password))
    return { looks: 'connection-string' }
  if (/^[A-Za-z0-9+/]{20,}={0,2}$/.test(password)) return { looks: 'bare-key' }
  return { looks: 'other', reason: parseMessage }
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
      out.push(finding('ERR_IDENTITY_NOT_X509', { what }))
    } else if (!x509) {
      out.push(finding('ERR_PASSWORD_MISSING', {}))
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
      out.push(finding('ERR_X509_WITH_PASSWORD', {}))
    } else if (token === undefined || typeof password !== 'string') {
      out.push(
        finding(
          'ERR_PASSWORD_NOT_SAS_TOKEN',
          notATokenHint(typeof password === 'string' ? password : '?', parseMessage),
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
