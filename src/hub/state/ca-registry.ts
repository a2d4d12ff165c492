/**
 * The X.509 CA certificates registered with the hub (IoT Hub's "Certificates" blade): kept in
 * the hub state under `certificates`, by name, each with its PEM, SHA-256 thumbprint, subject,
 * expiry and whether it is verified. Only a verified CA authenticates `certificateAuthority`
 * devices; a CA is verified when registered so (`--x509-ca`, `startHub({ x509Ca })`,
 * `PUT /_emulator/certificates/{name}` with `isVerified: true`) or by proof of possession: a
 * certificate whose subject CN is the hub's verification code, signed by the CA's key.
 *
 * @module
 */
import { X509Certificate, randomBytes } from 'node:crypto'
import { SasTokenError } from '../../errors.js'
import { idTable } from './id-table.js'
import type { StateStore } from './state-store.js'

/** A registered CA certificate, as `state.json` keeps it under `certificates.{name}`. */
export interface RegisteredCa {
  /** The certificate's name (1–64 of A–Z a–z 0–9 - . _). */
  name: string
  /** The certificate, PEM (never a private key). */
  certificate: string
  /** SHA-256 of the DER, upper-case hex without colons. */
  thumbprint: string
  /** The subject, as OpenSSL prints it (`CN=…`, one attribute a line joined by `, `). */
  subject: string
  /** When it expires, ISO 8601. */
  expiry: string
  /** Only a verified CA authenticates devices. */
  isVerified: boolean
  /** The pending proof-of-possession code, until verified. */
  verificationCode?: string
  created: string
  updated: string
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/

/**
 * Checks a certificate name: 1 to 64 of `A–Z a–z 0–9 - . _`.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`.
 */
export function assertCaName(name: string): string {
  if (!NAME.test(name))
    throw bad(`The certificate name ${JSON.stringify(name)} must be 1 to 64 of A–Z, a–z, 0–9, '-', '.', '_'.`)
  return name
}

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

function readable(pem: string): boolean {
  try {
    new X509Certificate(pem)
    return true
  } catch {
    return false
  }
}

/** The subject of a certificate on one line (`CN=root, O=acme`). */
export function subjectLine(cert: X509Certificate): string {
  return cert.subject.split('\n').join(', ')
}

/** The subject's common name, or `undefined` when it has none. */
export function commonName(cert: X509Certificate): string | undefined {
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3)
  return undefined
}

/** SHA-256 thumbprint, upper-case hex without colons. */
export function thumbprint256(cert: X509Certificate): string {
  return cert.fingerprint256.replaceAll(':', '').toUpperCase()
}

/**
 * Reads one CA certificate from PEM: exactly one certificate, with basicConstraints CA.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` saying what is wrong with it.
 */
export function parseCaCertificate(pem: unknown, what = 'certificate'): X509Certificate {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw bad(`${what} must be a PEM certificate (-----BEGIN CERTIFICATE-----…), without its private key.`)
  }
  if (pem.split('-----BEGIN CERTIFICATE-----').length > 2) {
    throw bad(`${what} holds more than one certificate: register each CA under its own name.`)
  }
  if (/PRIVATE KEY-----/.test(pem)) {
    throw bad(`${what} contains a private key: register the CA certificate alone, and keep its key secret.`)
  }
  let cert: X509Certificate
  try {
    cert = new X509Certificate(pem)
  } catch (cause) {
    throw new SasTokenError('ERR_HUB_BAD_REQUEST', `${what} is not a valid PEM certificate.`, { cause })
  }
  if (!cert.ca) {
    throw bad(
      `${what} (${subjectLine(cert)}) is not a CA certificate (basicConstraints CA:TRUE): register the root or intermediate CA that signs the device certificates, not a device certificate.`,
    )
  }
  return cert
}

/**
 * The hub's registered CAs, over `state.certificates`. Changes are written with the state and
 * announced to `onChange` (the MQTT listener reloads its trusted CAs).
 */
export class CaRegistry {
  readonly #store: StateStore
  readonly #now: () => number
  readonly #listeners: Array<() => void> = []

  constructor(store: StateStore, now: () => number) {
    this.#store = store
    this.#now = now
  }

  #table(): Record<string, RegisteredCa> {
    this.#store.state.certificates ??= idTable()
    return this.#store.state.certificates
  }

  /** Called after every change. */
  onChange(listener: () => void): void {
    this.#listeners.push(listener)
  }

  #changed(): void {
    this.#store.changed()
    for (const listener of this.#listeners) listener()
  }

  /** Every registered CA, verified or not. */
  list(): RegisteredCa[] {
    return Object.values(this.#store.state.certificates ?? {})
  }

  /** The PEMs of the verified CAs that parse (hand-edited state may hold others): what TLS trusts. */
  verifiedPems(): string[] {
    return this.list()
      .filter((c) => c.isVerified && readable(c.certificate))
      .map((c) => c.certificate)
  }

  /**
   * A CA by name.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  get(name: string): RegisteredCa {
    const table = this.#store.state.certificates ?? {}
    const found = Object.hasOwn(table, name) ? table[name] : undefined
    if (found === undefined)
      throw new SasTokenError(
        'ERR_HUB_NOT_FOUND',
        `There is no CA certificate named ${JSON.stringify(name)}.`,
      )
    return found
  }

  /**
   * Registers (or replaces) a CA. A replaced certificate keeps its verification only when it is
   * the same certificate.
   *
   * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` (name, PEM, not a CA).
   */
  put(name: string, pem: unknown, o: { isVerified?: unknown } = {}): RegisteredCa {
    assertCaName(name)
    if (o.isVerified !== undefined && typeof o.isVerified !== 'boolean')
      throw bad('isVerified must be true or false.')
    const cert = parseCaCertificate(pem)
    const table = this.#table()
    const previous = Object.hasOwn(table, name) ? table[name] : undefined
    const time = new Date(this.#now()).toISOString()
    const thumbprint = thumbprint256(cert)
    const kept = previous?.thumbprint === thumbprint ? previous.isVerified : false
    const entry: RegisteredCa = {
      name,
      certificate: cert.toString(),
      thumbprint,
      subject: subjectLine(cert),
      expiry: new Date(cert.validTo).toISOString(),
      isVerified: o.isVerified ?? kept,
      created: previous?.created ?? time,
      updated: time,
    }
    table[name] = entry
    this.#changed()
    return entry
  }

  /**
   * Removes a CA.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  delete(name: string): void {
    this.get(name)
    delete this.#table()[name]
    this.#changed()
  }

  /**
   * A new proof-of-possession code for `name`: sign a certificate whose subject CN is this code
   * with the CA's private key, then give it to {@link verify}.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  verificationCode(name: string): string {
    const entry = this.get(name)
    entry.verificationCode = randomBytes(20).toString('hex').toUpperCase()
    entry.updated = new Date(this.#now()).toISOString()
    this.#store.changed()
    return entry.verificationCode
  }

  /**
   * Proof of possession: `pem` must have the pending verification code as its CN, be signed by
   * the CA's key and be within its validity. Then the CA is verified.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST` saying which check failed.
   */
  verify(name: string, pem: unknown): RegisteredCa {
    const entry = this.get(name)
    if (entry.verificationCode === undefined)
      throw bad(`CA ${name} has no pending verification code: ask for one first (generateVerificationCode).`)
    let proof: X509Certificate
    try {
      if (typeof pem !== 'string') throw new TypeError('not a string')
      proof = new X509Certificate(pem)
    } catch (cause) {
      throw new SasTokenError(
        'ERR_HUB_BAD_REQUEST',
        'certificate must be the PEM verification certificate.',
        {
          cause,
        },
      )
    }
    const ca = new X509Certificate(entry.certificate)
    if (commonName(proof) !== entry.verificationCode)
      throw bad(`The verification certificate's CN must be the verification code ${entry.verificationCode}.`)
    if (!proof.checkIssued(ca) || !proof.verify(ca.publicKey))
      throw bad(
        `The verification certificate is not signed by CA ${name}'s private key: sign it with that key.`,
      )
    const now = this.#now()
    if (Date.parse(proof.validFrom) > now || Date.parse(proof.validTo) < now)
      throw bad('The verification certificate is not within its validity period.')
    entry.isVerified = true
    delete entry.verificationCode
    entry.updated = new Date(now).toISOString()
    this.#changed()
    return entry
  }
}

/** IoT Hub's certificate description (`CertificateDescription`) for a registered CA. */
export function caJson(entry: RegisteredCa): Record<string, unknown> {
  return {
    name: entry.name,
    properties: {
      subject: entry.subject,
      expiry: entry.expiry,
      thumbprint: entry.thumbprint,
      isVerified: entry.isVerified,
      created: entry.created,
      updated: entry.updated,
      certificate: entry.certificate,
      ...(entry.verificationCode === undefined ? {} : { verificationCode: entry.verificationCode }),
    },
  }
}

/** A name for a CA given without one (`--x509-ca`): its CN made name-safe, or its thumbprint. */
export function defaultCaName(cert: X509Certificate): string {
  const cn = (commonName(cert) ?? '').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 48)
  return cn === '' ? `ca-${thumbprint256(cert).slice(0, 16)}` : cn
}
