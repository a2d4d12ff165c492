/**
 * The findings of a CONNECT diagnosis: their codes, their shape, and the helpers that write them
 * (untrusted text quoted and cut short, spans and dates, and the redaction every finding passes
 * through so that no key, signature or password reaches one).
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import type { CertificateChainProblem } from './certificate.js'
import { MESSAGES, type MessageArgs } from './messages.js'

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
  // service tokens (the hub's policies: REST, AMQP CBS and SASL PLAIN)
  | 'ERR_HUB_UNAUTHORIZED'
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

/** A finding of `code`, its message written by the {@link MESSAGES} table from `args`, with its facts. */
export function finding<C extends DiagnosisCode>(
  code: C,
  args: MessageArgs[C],
  facts: Omit<Finding, 'severity' | 'code' | 'message'> = {},
): Finding {
  const message = MESSAGES[code](args)
  return { severity: code.startsWith('WARN_') ? 'warning' : 'error', code, message, ...facts }
}

/** The message of a core check that failed, or `undefined` when it passed. */
export function problem(check: () => unknown): string | undefined {
  try {
    check()
    return undefined
  } catch (err) {
    if (err instanceof SasTokenError) return err.message
    throw err
  }
}

/** Removes every secret from the text fields of a finding (defence in depth: none should be there). */
export function redact(f: Finding, secrets: readonly string[]): Finding {
  const clean = (text: string): string =>
    secrets.reduce((t, secret) => (secret.length >= 4 ? t.split(secret).join('<redacted>') : t), text)
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(f)) out[name] = typeof value === 'string' ? clean(value) : value
  return { ...f, ...out }
}

/** The signature of a token-like password, raw and decoded, for redaction. */
export function signatureOf(password: string): string[] {
  const raw = /(?:^|[&\s])sig=([^&\s]*)/.exec(password)?.[1]
  if (raw === undefined || raw === '') return []
  try {
    return [raw, decodeURIComponent(raw)]
  } catch {
    return [raw]
  }
}
