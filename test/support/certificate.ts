/**
 * A self-signed TLS certificate made in-process at test time (no openssl, no files): an ECDSA
 * P-256 key from node:crypto and a minimal X.509 v3 certificate DER-encoded by hand, with the
 * host names as subjectAltName. Clients trust it by passing it as `ca`.
 *
 * @module
 */
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto'

function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content])
  const bytes: number[] = []
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff)
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content])
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items))
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content)
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'))
const octets = (content: Buffer): Buffer => tlv(0x04, content)
const bits = (content: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), content]))
const TRUE = tlv(0x01, Buffer.from([0xff]))

function integer(bytes: Buffer): Buffer {
  return tlv(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number)
  const out = [40 * a + b]
  for (const arc of rest) {
    const groups = [arc & 0x7f]
    for (let n = arc >>> 7; n > 0; n >>>= 7) groups.unshift(0x80 | (n & 0x7f))
    out.push(...groups)
  }
  return tlv(0x06, Buffer.from(out))
}

function utcTime(date: Date): Buffer {
  const iso = date.toISOString() // 2026-11-26T07:12:08.000Z
  return tlv(
    0x17,
    Buffer.from(
      `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`,
    ),
  )
}

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'))

/** A key and a self-signed certificate (PEM) valid for the given DNS names, today ± 1 day. */
export function selfSignedCertificate(dnsNames: string[]): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const name = sequence(set(sequence(oid('2.5.4.3'), utf8(dnsNames[0] ?? 'localhost'))))
  const serial = randomBytes(16)
  serial[0] = (serial[0] ?? 0) & 0x7f
  const day = 86_400_000
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(utcTime(new Date(Date.now() - day)), utcTime(new Date(Date.now() + day))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        sequence(
          oid('2.5.29.17'),
          octets(sequence(...dnsNames.map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))))),
        ),
        sequence(oid('2.5.29.19'), TRUE, octets(sequence(TRUE))),
      ),
    ),
  )
  const der = sequence(tbs, ECDSA_WITH_SHA256, bits(sign('sha256', tbs, privateKey)))
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`
  if (!new X509Certificate(cert).verify(publicKey)) throw new Error('the test certificate does not verify')
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert }
}
