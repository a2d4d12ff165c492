/**
 * CONNECT authentication, as IoT Hub and DPS do it, decided by the core's `diagnoseConnect`
 * rules (its {@link decideConnect}): this file only gathers what the hub knows (its host names,
 * ID scope, clock, policies, the identity's keys or thumbprints and status, the client
 * certificate chain's verdict, the DPS enrollments) and maps the decision onto MQTT. The hub
 * refuses exactly when a finding is an error, and the refusal carries exactly those findings.
 * Nothing here throws on a device's input. Transports without a CONNECT (AMQP's CBS put-token and
 * SASL PLAIN, HTTPS's `Authorization` header) ask the same decision through
 * {@link authenticateToken}.
 *
 * @module
 */
import { decideConnect } from '../../diagnose/index.js'
import type {
  ConnectAcceptance,
  ConnectRegistry,
  DiagnoseConnectOptions,
  DiagnosisCode,
  Finding,
  HubPolicy,
  RegisteredIdentity,
} from '../../diagnose/index.js'
import { DEFAULT_API_VERSION, parseMqttUsername } from '../../mqtt/credentials.js'
import type { RegisteredCa } from '../state/ca-registry.js'
import type { FaultRefusal, FaultTarget } from '../state/faults.js'
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

/** An accepted hub connection: the decision's acceptance. */
export type AcceptedDevice = Extract<ConnectAcceptance, { kind: 'hub' }>

/** An accepted DPS connection: the decision's acceptance. */
export type AcceptedRegistration = Extract<ConnectAcceptance, { kind: 'dps' }>

/** The outcome of {@link authenticateConnect}: the findings either way (warnings on an accepted one). */
export type ConnectOutcome =
  | { ok: true; accepted: AcceptedDevice | AcceptedRegistration; findings: Finding[] }
  | {
      ok: false
      /** MQTT's CONNACK return code: 4 or 5 for findings, a fault's own code (1–5). */
      returnCode: 1 | 2 | 3 | 4 | 5
      /** Every finding; at least one is an error, unless a fault refused the connect. */
      findings: Finding[]
      identity?: { deviceId: string; moduleId?: string }
      /** The fault that refused a connect the findings accept. */
      fault?: FaultRefusal
    }

/** What the authenticator needs to know of the hub. */
export interface AuthContext {
  hostName: string
  /** Other names devices may give the hub (`localhost:8883`). */
  hostAliases: readonly string[]
  idScope: string
  now: number
  clockSkewSeconds: number
  policies: readonly Policy[]
  identity(deviceId: string, moduleId?: string): Identity | undefined
  enrollment(registrationId: string): Enrollment | undefined
  groups(): EnrollmentGroup[]
  /** The registered X.509 CA certificates; none when absent. */
  certificateAuthorities?(): RegisteredCa[]
  /** A fault refusing the identity's connects now (asked once the findings accept; uses one up). */
  faultRefusal?(target: FaultTarget): FaultRefusal | undefined
}

/**
 * The CONNACK return code of a refusal, by the code of its first error finding: 4 (bad user name
 * or password) for a password that is no SAS token, 5 (not authorized) for every other, as the
 * hub has always answered.
 */
const CONNACK_RETURN_CODES: Readonly<Partial<Record<DiagnosisCode, 4 | 5>>> = Object.freeze({
  ERR_PASSWORD_NOT_SAS_TOKEN: 4,
})

/** `true` when the username is (or tries to be) a DPS registration username. */
export function isDpsUsername(username: string | undefined): boolean {
  const parsed = parseMqttUsername(username)
  return parsed.kind === 'dps' || (parsed.kind === 'malformed' && parsed.service === 'dps')
}

/** The hub's policies in the table diagnoseConnect reads, both keys each. */
function diagnosisPolicies(policies: readonly Policy[]): Record<string, HubPolicy> {
  const table: Record<string, HubPolicy> = Object.create(null)
  for (const p of policies) {
    table[p.keyName] = {
      deviceConnect: p.rights.includes('DeviceConnect'),
      key: [p.primaryKey, p.secondaryKey].filter((k) => k !== ''),
    }
  }
  return table
}

/** What the registry knows of an identity, as the decision reads it. */
function registered(
  record: Identity,
  device: Identity | undefined,
  fields: ConnectFields,
  ctx: AuthContext,
): RegisteredIdentity {
  const status = device?.status === 'disabled' ? 'disabled' : 'enabled'
  const auth = record.authentication
  if (auth.type === 'sas') {
    return {
      status,
      authentication: { type: 'sas', keys: [auth.symmetricKey.primaryKey, auth.symmetricKey.secondaryKey] },
    }
  }
  if (auth.type === 'selfSigned') {
    const { primaryThumbprint, secondaryThumbprint } = auth.x509Thumbprint
    return {
      status,
      authentication: { type: 'selfSigned', thumbprints: [primaryThumbprint, secondaryThumbprint] },
    }
  }
  const checked = checkCaChain(
    fields.clientCertificate ?? { chain: [] },
    ctx.certificateAuthorities?.() ?? [],
    record.moduleId === undefined
      ? { deviceId: record.deviceId, now: ctx.now }
      : { deviceId: record.deviceId, moduleId: record.moduleId, now: ctx.now },
  )
  return {
    status,
    authentication: checked.ok
      ? { type: 'certificateAuthority' }
      : { type: 'certificateAuthority', chainProblem: checked.problem },
  }
}

/** The registry, looked up for the identity the username names. */
function registryOf(fields: ConnectFields, ctx: AuthContext): ConnectRegistry {
  return {
    identity(deviceId, moduleId) {
      const record = ctx.identity(deviceId, moduleId)
      if (record === undefined) return undefined
      const device = moduleId === undefined ? record : ctx.identity(deviceId)
      return registered(record, device, fields, ctx)
    },
    enrollment(registrationId) {
      const e = ctx.enrollment(registrationId)
      return e === undefined
        ? undefined
        : { status: e.provisioningStatus, keys: [e.primaryKey, e.secondaryKey] }
    },
    get enrollmentGroups() {
      return ctx.groups().map((g) => ({
        enrollmentGroupId: g.enrollmentGroupId,
        status: g.provisioningStatus,
        keys: [g.primaryKey, g.secondaryKey],
      }))
    },
  }
}

/**
 * Decides a CONNECT with the core's rules and what the hub knows.
 *
 * @throws {SasTokenError} only when the hub's own state holds a key that is not base64 (the
 *   state loader and the REST API refuse those); the broker's guard answers return code 3.
 */
export function authenticateConnect(fields: ConnectFields, ctx: AuthContext): ConnectOutcome {
  const password = fields.password === undefined || fields.password.length === 0 ? undefined : fields.password
  const o: DiagnoseConnectOptions = {
    hubHostName: ctx.hostName,
    hubHostAliases: ctx.hostAliases,
    idScope: ctx.idScope,
    now: ctx.now,
    clockSkewSeconds: ctx.clockSkewSeconds,
    policies: diagnosisPolicies(ctx.policies),
    registry: registryOf(fields, ctx),
  }
  const connect = {
    clientId: fields.clientId,
    username: fields.username ?? '',
    ...(password === undefined ? {} : { password: password.toString('utf8') }),
    ...(fields.certificateThumbprints === undefined
      ? {}
      : { certificateThumbprints: fields.certificateThumbprints }),
  }
  const { findings, accepted, named: identity } = decideConnect(connect, o)
  if (accepted !== undefined) {
    const target = accepted.kind === 'hub' ? idFields(accepted) : undefined
    const fault = target === undefined ? undefined : ctx.faultRefusal?.(target)
    if (fault === undefined) return { ok: true, accepted, findings }
    return {
      ok: false,
      returnCode: fault.returnCode,
      findings,
      ...(target ? { identity: target } : {}),
      fault,
    }
  }
  const first = findings.find((f) => f.severity === 'error')
  const returnCode = (first === undefined ? undefined : CONNACK_RETURN_CODES[first.code]) ?? 5
  return identity === undefined
    ? { ok: false, returnCode, findings }
    : { ok: false, returnCode, findings, identity }
}

function idFields(a: AcceptedDevice): FaultTarget {
  return a.moduleId === undefined ? { deviceId: a.deviceId } : { deviceId: a.deviceId, moduleId: a.moduleId }
}

/** What a transport without a CONNECT presents: the identity it names and a SAS token for it. */
export interface TokenFields {
  deviceId: string
  moduleId?: string
  /** The SAS token (`SharedAccessSignature sr=…`), as sent. */
  token: string
}

/**
 * Decides a SAS token presented for an identity (AMQP CBS put-token or SASL PLAIN, an HTTPS
 * `Authorization` header) with the CONNECT rules: the decision is asked about the CONNECT an
 * MQTT device of that identity would send with the token as its password, so every finding
 * (signature, expiry, audience, registry) is the one an MQTT refusal would carry. The
 * outcome's `returnCode` is MQTT's; other transports map the first error finding themselves.
 *
 * @throws {SasTokenError} as {@link authenticateConnect}.
 */
export function authenticateToken(fields: TokenFields, ctx: AuthContext): ConnectOutcome {
  const clientId = fields.moduleId === undefined ? fields.deviceId : `${fields.deviceId}/${fields.moduleId}`
  return authenticateConnect(
    {
      clientId,
      username: `${ctx.hostName}/${clientId}/?api-version=${DEFAULT_API_VERSION}`,
      password: Buffer.from(fields.token, 'utf8'),
    },
    ctx,
  )
}
