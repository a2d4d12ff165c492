/**
 * The client certificate of an X.509 identity: its thumbprints against the registered ones
 * (self-signed), or the chain's verdict the TLS layer reached (CA-signed).
 *
 * @module
 */
import { type Finding, finding } from './findings.js'
import type { RegisteredIdentity } from './registry.js'

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

/** Upper-case hex without colons. */
export const thumbprint = (text: string): string => text.replaceAll(':', '').toUpperCase()

/** The certificate checks of an X.509 identity's CONNECT (no password); `true` when it authenticates. */
export function checkCertificate(
  auth: Exclude<RegisteredIdentity['authentication'], { type: 'sas' }>,
  presented: readonly string[],
  what: string,
  out: Finding[],
): boolean {
  if (presented.length === 0) {
    out.push(finding('ERR_CLIENT_CERTIFICATE_MISSING', { what }))
    return false
  }
  if (auth.type === 'selfSigned') {
    const allowed = auth.thumbprints.filter((t) => t !== '').map(thumbprint)
    if (presented.some((p) => allowed.includes(p))) return true
    out.push(finding('ERR_THUMBPRINT_MISMATCH', { what }))
    return false
  }
  const chain = auth.chainProblem
  if (chain === undefined) return true
  out.push(finding(chain.code, { message: chain.message }, { ...chain.facts }))
  return false
}
