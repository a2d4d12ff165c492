/**
 * The hub's TLS material: a local certificate authority and a server certificate it signs, with
 * subjectAltName for every name a device may dial. Keys are ECDSA P-256 from node:crypto; the
 * certificates are X.509 v3, DER-encoded by {@link ./der.ts} (no openssl, no extra dependency).
 *
 * @module
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto'
import { isIP } from 'node:net'
import {
  bitString,
  boolean,
  explicit,
  implicit,
  objectIdentifier,
  octetString,
  sequence,
  set,
  time,
  unsignedInteger,
  utf8String,
} from './der.js'

/** A certificate and its private key, both PEM. */
export interface CertificateKeyPair {
  /** The certificate, PEM. */
  cert: string
  /** Its private key (P-256 ECDSA), PEM. */
  key: string
}

const ECDSA_WITH_SHA256 = sequence(objectIdentifier('1.2.840.10045.4.3.2'))
const DAY_MS = 86_400_000

function name(commonName: string): Buffer {
  return sequence(
    set(sequence(objectIdentifier('2.5.4.10'), utf8String('sas-token hub'))),
    set(sequence(objectIdentifier('2.5.4.3'), utf8String(commonName))),
  )
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(objectIdentifier(oid), boolean(true), octetString(value))
    : sequence(objectIdentifier(oid), octetString(value))
}

/** keyUsage bits, first bit = digitalSignature (bit 0). */
function keyUsage(bitsSet: number[]): Buffer {
  let byte = 0
  for (const bit of bitsSet) byte |= 0x80 >> bit
  const unused = 7 - Math.max(...bitsSet)
  return Buffer.from([0x03, 0x02, unused, byte])
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`
}

function keyId(spki: Buffer): Buffer {
  return createHash('sha1').update(spki).digest()
}

function serialNumber(): Buffer {
  const serial = randomBytes(16)
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01
  return serial
}

function subjectAltName(names: readonly string[]): Buffer {
  const entries = names.map((n) => {
    const family = isIP(n)
    if (family === 4) return implicit(7, Buffer.from(n.split('.').map(Number)))
    if (family === 6) return implicit(7, ipv6Bytes(n))
    return implicit(2, Buffer.from(n, 'ascii'))
  })
  return sequence(...entries)
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::')
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16))
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  const out = Buffer.alloc(16)
  for (const [i, g] of groups.entries()) out.writeUInt16BE(g, i * 2)
  return out
}

interface IssueOptions {
  subject: string
  issuer: string
  issuerKey: string
  authorityKeyId: Buffer | undefined
  spki: Buffer
  notBefore: Date
  notAfter: Date
  extensions: Buffer[]
}

function issue(o: IssueOptions): string {
  const tbs = sequence(
    explicit(0, unsignedInteger(Buffer.from([2]))),
    unsignedInteger(serialNumber()),
    ECDSA_WITH_SHA256,
    name(o.issuer),
    sequence(time(o.notBefore), time(o.notAfter)),
    name(o.subject),
    o.spki,
    explicit(
      3,
      sequence(
        ...o.extensions,
        extension('2.5.29.14', false, octetString(keyId(o.spki))),
        ...(o.authorityKeyId ? [extension('2.5.29.35', false, sequence(implicit(0, o.authorityKeyId)))] : []),
      ),
    ),
  )
  const signature = sign('sha256', tbs, createPrivateKey(o.issuerKey))
  return pem('CERTIFICATE', sequence(tbs, ECDSA_WITH_SHA256, bitString(signature)))
}

function newKey(): { spki: Buffer; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  }
}

/** The common name of the local CA. */
export const CA_COMMON_NAME = 'sas-token hub local CA'

/**
 * A new self-signed CA (basicConstraints CA, keyUsage keyCertSign and cRLSign), valid from a
 * day before `now` for ten years.
 *
 * @throws Never for valid input (node:crypto errors only).
 */
export function createCertificateAuthority(o: { now?: number } = {}): CertificateKeyPair {
  const now = o.now ?? Date.now()
  const { spki, key } = newKey()
  const cert = issue({
    subject: CA_COMMON_NAME,
    issuer: CA_COMMON_NAME,
    issuerKey: key,
    authorityKeyId: undefined,
    spki,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 3650 * DAY_MS),
    extensions: [
      extension('2.5.29.19', true, sequence(boolean(true))),
      extension('2.5.29.15', true, keyUsage([5, 6])),
    ],
  })
  return { cert, key }
}

/**
 * A TLS server certificate signed by `ca`, with a subjectAltName entry (DNS or IP) for each of
 * `names` (the first is also the common name), keyUsage digitalSignature and extKeyUsage
 * serverAuth, valid from a day before `now` for 825 days (the longest clients accept).
 *
 * @throws Never for valid input (node:crypto errors only).
 */
export function createServerCertificate(
  ca: CertificateKeyPair,
  names: readonly string[],
  o: { now?: number } = {},
): CertificateKeyPair {
  const now = o.now ?? Date.now()
  const { spki, key } = newKey()
  const caCert = new X509Certificate(ca.cert)
  const caSpki = caCert.publicKey.export({ type: 'spki', format: 'der' })
  const cert = issue({
    subject: names[0] ?? 'localhost',
    issuer: CA_COMMON_NAME,
    issuerKey: ca.key,
    authorityKeyId: keyId(caSpki),
    spki,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 825 * DAY_MS),
    extensions: [
      extension('2.5.29.19', true, sequence()),
      extension('2.5.29.15', true, keyUsage([0])),
      extension('2.5.29.37', false, sequence(objectIdentifier('1.3.6.1.5.5.7.3.1'))),
      extension('2.5.29.17', false, subjectAltName(names)),
    ],
  })
  return { cert, key }
}

/**
 * A device (TLS client) certificate signed by `ca`, for X.509 CA authentication: subject CN
 * `commonName` (the device id, or `{deviceId}/{moduleId}` for a module), keyUsage
 * digitalSignature, extKeyUsage clientAuth, valid from a day before `now` for `days` (default
 * 365). `ca` is a CA made by {@link createCertificateAuthority} (its subject is the issuer).
 *
 * @example
 * ```ts
 * const ca = createCertificateAuthority()
 * const hub = await startHub({ x509Ca: [ca.cert] })
 * const { cert, key } = createDeviceCertificate(ca, 'dev1')
 * ```
 * @throws Never for valid input (node:crypto errors only).
 */
export function createDeviceCertificate(
  ca: CertificateKeyPair,
  commonName: string,
  o: { now?: number; days?: number } = {},
): CertificateKeyPair {
  const now = o.now ?? Date.now()
  const { spki, key } = newKey()
  const caCert = new X509Certificate(ca.cert)
  const caSpki = caCert.publicKey.export({ type: 'spki', format: 'der' })
  const cert = issue({
    subject: commonName,
    issuer: CA_COMMON_NAME,
    issuerKey: ca.key,
    authorityKeyId: keyId(caSpki),
    spki,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + (o.days ?? 365) * DAY_MS),
    extensions: [
      extension('2.5.29.19', true, sequence()),
      extension('2.5.29.15', true, keyUsage([0])),
      extension('2.5.29.37', false, sequence(objectIdentifier('1.3.6.1.5.5.7.3.2'))),
    ],
  })
  return { cert, key }
}

/**
 * `true` when `server` was issued by `ca`, is valid at `now` for at least another week, and
 * covers every one of `names`: so a stored certificate can be kept.
 */
export function serverCertificateFits(
  server: string,
  ca: string,
  names: readonly string[],
  now: number = Date.now(),
): boolean {
  try {
    const cert = new X509Certificate(server)
    const authority = new X509Certificate(ca)
    if (!cert.checkIssued(authority) || !cert.verify(authority.publicKey)) return false
    if (Date.parse(cert.validTo) < now + 7 * DAY_MS || Date.parse(cert.validFrom) > now) return false
    return names.every((n) => (isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined))
  } catch {
    return false
  }
}
