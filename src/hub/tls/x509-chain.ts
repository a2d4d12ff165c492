/**
 * X.509 CA authentication, as IoT Hub does it: the client certificate chain must lead to a
 * verified CA registered with the hub (the leaf may be signed by intermediates the device
 * sends), every certificate on the path must be within its validity at the hub's clock, and
 * the leaf's subject CN must be the device id (`{deviceId}/{moduleId}` for a module).
 *
 * The TLS listener trusts the verified CAs, so OpenSSL verifies the chain in the handshake
 * (RFC 5280: signatures, basicConstraints, key usage, path length); its verdict is
 * `tlsVerified`/`tlsError`. The path is also walked here, with node:crypto's OpenSSL checks,
 * to name the CA it reaches (verified or not) and to check validity at the hub's clock
 * (OpenSSL reads the system clock; the hub's clock is injectable). Nothing here throws on a
 * device's input.
 *
 * @module
 */
import { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { SasTokenError } from '../../errors.js'
import {
  commonName,
  defaultCaName,
  parseCaCertificate,
  subjectLine,
  thumbprint256,
} from '../state/ca-registry.js'
import type { RegisteredCa } from '../state/ca-registry.js'
import type { CertificateChainProblem } from '../../diagnose/index.js'

/** The client certificate chain a device presented, leaf first, and the TLS verdict on it. */
export interface ClientCertificate {
  /** The leaf, then what the peer sent (and OpenSSL added) above it. */
  chain: X509Certificate[]
  /** `true` when the handshake verified the chain against the trusted (verified) CAs. */
  tlsVerified?: boolean
  /** OpenSSL's reason when it did not (`UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, …). */
  tlsError?: string
}

/** Why a chain does not authenticate, with the facts behind it (the core's type: the decision reads it). */
export type ChainProblem = CertificateChainProblem

/** OpenSSL errors about dates only: the hub's clock decides those. */
const DATE_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID'])
const MAX_DEPTH = 8

/**
 * The client certificate of a TLS socket, or `undefined` when none was presented (or the
 * connection is not TLS). Never throws.
 */
export function peerCertificate(socket: Partial<TLSSocket> | undefined): ClientCertificate | undefined {
  try {
    if (socket === undefined || typeof socket.getPeerCertificate !== 'function') return undefined
    const chain: X509Certificate[] = []
    const seen = new Set<string>()
    let detailed: unknown = socket.getPeerCertificate(true)
    while (
      detailed !== null &&
      typeof detailed === 'object' &&
      'raw' in detailed &&
      Buffer.isBuffer(detailed.raw) &&
      chain.length < MAX_DEPTH + 2
    ) {
      const cert = new X509Certificate(detailed.raw)
      const print = cert.fingerprint256
      if (seen.has(print)) break
      seen.add(print)
      chain.push(cert)
      detailed = 'issuerCertificate' in detailed ? detailed.issuerCertificate : undefined
    }
    if (chain.length === 0) return undefined
    const error: unknown = socket.authorizationError
    const tlsError =
      error === undefined || error === null
        ? undefined
        : typeof error === 'object' && 'code' in error
          ? String(error.code)
          : String(error)
    return {
      chain,
      tlsVerified: socket.authorized === true,
      ...(tlsError === undefined ? {} : { tlsError }),
    }
  } catch {
    return undefined
  }
}

/** Reads a PEM bundle (leaf first) as a chain; throws on text that holds no certificate. */
function chainFromPem(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new TypeError('no PEM certificate found')
  return blocks.map((b) => new X509Certificate(b))
}

function issued(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey)
  } catch {
    return false
  }
}

/** The path from the leaf to a registered CA, or where it stops. */
function walk(
  chain: readonly X509Certificate[],
  cas: ReadonlyArray<{ entry: RegisteredCa; cert: X509Certificate }>,
): { path: X509Certificate[]; anchor?: { entry: RegisteredCa; cert: X509Certificate } } {
  const [leaf] = chain
  if (leaf === undefined) return { path: [] }
  const path = [leaf]
  const ordered = [...cas].sort((a, b) => Number(b.entry.isVerified) - Number(a.entry.isVerified))
  let current = leaf
  for (let depth = 0; depth <= MAX_DEPTH; depth++) {
    const print = thumbprint256(current)
    const itself = ordered.find((c) => c.entry.thumbprint === print)
    if (itself !== undefined && depth > 0) return { path: path.slice(0, -1), anchor: itself }
    const anchor = ordered.find((c) => issued(current, c.cert))
    if (anchor !== undefined) return { path, anchor }
    const next = chain.find((c) => c !== current && c.ca && !path.includes(c) && issued(current, c))
    if (next === undefined) return { path }
    path.push(next)
    current = next
  }
  return { path }
}

/**
 * Checks a `certificateAuthority` identity's client certificate against the registered CAs.
 *
 * @returns `{ ok: true, ca }` (the CA's name), or the first problem: no verified CA, a chain
 *   that reaches an unverified CA or none, a certificate outside its validity at `now`, or a
 *   leaf CN that is not the identity. Never throws.
 */
export function checkCaChain(
  certificate: ClientCertificate,
  registered: readonly RegisteredCa[],
  o: { deviceId: string; moduleId?: string; now: number },
): { ok: true; ca: string } | { ok: false; problem: ChainProblem } {
  const fail = (
    code: ChainProblem['code'],
    message: string,
    facts: Record<string, string> = {},
  ): { ok: false; problem: ChainProblem } => ({ ok: false, problem: { code, message, facts } })
  const [leaf] = certificate.chain
  if (leaf === undefined) return fail('ERR_X509_CHAIN_UNTRUSTED', 'No client certificate was presented.')
  const cas: Array<{ entry: RegisteredCa; cert: X509Certificate }> = []
  for (const entry of registered) {
    try {
      cas.push({ entry, cert: new X509Certificate(entry.certificate) })
    } catch {
      // an unreadable stored CA authenticates nothing
    }
  }
  const leafFacts = { subject: subjectLine(leaf), issuer: leaf.issuer.split('\n').join(', ') }
  const verified = cas.filter((c) => c.entry.isVerified)
  const { path, anchor } = walk(certificate.chain, cas)
  if (anchor !== undefined && !anchor.entry.isVerified) {
    return fail(
      'ERR_X509_CA_NOT_VERIFIED',
      `The client certificate chains to CA ${anchor.entry.name}, which is registered but not verified: verify it (proof of possession: POST /_emulator/certificates/${anchor.entry.name}/generateVerificationCode, then …/verify with a certificate of that CN signed by the CA's key), or register it with isVerified: true.`,
      { ...leafFacts, caName: anchor.entry.name },
    )
  }
  if (verified.length === 0) {
    return fail(
      'ERR_X509_NO_CA_REGISTERED',
      `The identity uses X.509 CA authentication, but this hub has no verified CA certificate${cas.length > 0 ? ` (${cas.length} registered, none verified)` : ''}: register the CA that signs the device certificates (sas-token hub --x509-ca ca.pem, startHub({ x509Ca: [pem] }), or PUT /_emulator/certificates/{name} {"certificate": pem, "isVerified": true}).`,
      leafFacts,
    )
  }
  if (anchor === undefined) {
    return fail(
      'ERR_X509_CHAIN_UNTRUSTED',
      `The client certificate (${leafFacts.subject}, issued by ${leafFacts.issuer}) does not chain to a CA registered with this hub${path.length > 1 ? ` (the intermediates sent lead to ${subjectLine(path[path.length - 1] ?? leaf)})` : ''}: sign it with a registered CA, send the intermediates with it, or register its CA.`,
      leafFacts,
    )
  }
  const now = o.now
  for (const cert of [...path, anchor.cert]) {
    const what =
      cert === leaf
        ? 'The client certificate'
        : cert === anchor.cert
          ? `CA ${anchor.entry.name}`
          : 'The intermediate'
    const facts = {
      ...leafFacts,
      certificate: subjectLine(cert),
      validFrom: new Date(cert.validFrom).toISOString(),
      validTo: new Date(cert.validTo).toISOString(),
    }
    if (Date.parse(cert.validTo) < now) {
      return fail(
        'ERR_X509_CERT_EXPIRED',
        `${what} (${subjectLine(cert)}) expired at ${facts.validTo}: issue a new one.`,
        facts,
      )
    }
    if (Date.parse(cert.validFrom) > now) {
      return fail(
        'ERR_X509_CERT_NOT_YET_VALID',
        `${what} (${subjectLine(cert)}) is valid only from ${facts.validFrom}: check the clock of whatever issued it.`,
        facts,
      )
    }
  }
  const tlsError = certificate.tlsError
  if (certificate.tlsVerified === false && (tlsError === undefined || !DATE_ERRORS.has(tlsError))) {
    return fail(
      'ERR_X509_CHAIN_UNTRUSTED',
      `The client certificate chain did not verify in the TLS handshake (${tlsError ?? 'unverified'}) against CA ${anchor.entry.name}: check the intermediates' basicConstraints and keyUsage, and that the leaf is for client authentication.`,
      { ...leafFacts, caName: anchor.entry.name, ...(tlsError === undefined ? {} : { tlsError }) },
    )
  }
  const expected = o.moduleId === undefined ? o.deviceId : `${o.deviceId}/${o.moduleId}`
  const cn = commonName(leaf)
  if (cn !== expected) {
    return fail(
      'ERR_X509_CN_MISMATCH',
      `The client certificate's subject CN is ${cn === undefined ? 'missing' : JSON.stringify(cn)}, but it must be the ${o.moduleId === undefined ? 'device id' : 'module identity, {deviceId}/{moduleId},'} ${JSON.stringify(expected)}: issue the certificate with CN=${expected}.`,
      { ...leafFacts, ...(cn === undefined ? {} : { commonName: cn }), expectedCommonName: expected },
    )
  }
  return { ok: true, ca: anchor.entry.name }
}

/** A finding of {@link diagnoseClientCertificate}, as `diagnoseConnect`'s are shaped. */
export interface CertificateFinding {
  /** Always `error`: the hub refuses the CONNECT. */
  severity: 'error'
  /** Which check failed. */
  code: ChainProblem['code']
  /** What is wrong and how to fix it. */
  message: string
  /** The facts ({@link ChainProblem.facts}). */
  [fact: string]: string
}

/**
 * Why the hub would refuse a `certificateAuthority` identity's client certificate, without a
 * hub: the same checks as the CONNECT (the CAs given count as registered and verified; there
 * is no TLS handshake, so the chain is checked by the walk alone). For `sas-token doctor
 * --cert --ca`.
 *
 * @param certificatePem The client certificate, PEM, then any intermediates it sends.
 * @param caPems The CA certificates the hub has registered (verified).
 * @returns `[]` when the hub would accept it, else one error finding.
 * @throws {SasTokenError} `ERR_INVALID_OPTION` when `certificatePem` holds no certificate,
 *   `ERR_HUB_BAD_REQUEST` when a CA is not a CA certificate.
 */
export function diagnoseClientCertificate(
  certificatePem: string,
  caPems: readonly string[],
  o: { deviceId: string; moduleId?: string; now?: number },
): CertificateFinding[] {
  let chain: X509Certificate[]
  try {
    chain = chainFromPem(certificatePem)
  } catch (cause) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'The client certificate is not a PEM certificate (chain).',
      {
        cause,
      },
    )
  }
  const now = o.now ?? Date.now()
  const time = new Date(now).toISOString()
  const registered = caPems.map((pem, i): RegisteredCa => {
    const cert = parseCaCertificate(pem, `CA ${i + 1}`)
    return {
      name: defaultCaName(cert),
      certificate: pem,
      thumbprint: thumbprint256(cert),
      subject: subjectLine(cert),
      expiry: new Date(cert.validTo).toISOString(),
      isVerified: true,
      created: time,
      updated: time,
    }
  })
  const checked = checkCaChain({ chain }, registered, { ...o, now })
  if (checked.ok) return []
  const { code, message, facts } = checked.problem
  return [{ ...facts, severity: 'error', code, message }]
}
