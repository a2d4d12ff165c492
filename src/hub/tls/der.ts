/**
 * A minimal DER encoder: just the ASN.1 types an X.509 v3 certificate needs (SEQUENCE, SET,
 * INTEGER, OID, BIT STRING, OCTET STRING, UTF8String, BOOLEAN, UTCTime/GeneralizedTime and
 * context tags). Lengths use the definite form; integers are positive and minimal.
 *
 * @module
 */

/** One TLV: tag, definite length, content. */
export function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content])
  const bytes: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content])
}

export const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items))
export const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items))
/** `[n] EXPLICIT` (constructed context tag). */
export const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content)
/** `[n] IMPLICIT` of a primitive (context tag, primitive form). */
export const implicit = (n: number, content: Buffer): Buffer => tlv(0x80 + n, content)
export const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'))
export const octetString = (content: Buffer): Buffer => tlv(0x04, content)
/** A BIT STRING with no unused bits. */
export const bitString = (content: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), content]))
export const boolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0]))

/** A non-negative INTEGER from big-endian bytes, minimal, with a 0 prefix when the top bit is set. */
export function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const trimmed = bytes.subarray(start)
  const body = trimmed.length === 0 ? Buffer.from([0]) : trimmed
  return tlv(0x02, (body[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body)
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function objectIdentifier(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number)
  const out = [40 * a + b]
  for (const arc of rest) {
    const groups = [arc & 0x7f]
    for (let n = arc >>> 7; n > 0; n >>>= 7) groups.unshift(0x80 | (n & 0x7f))
    out.push(...groups)
  }
  return tlv(0x06, Buffer.from(out))
}

/**
 * A certificate validity time: UTCTime (`YYMMDDHHMMSSZ`) for the years 1950–2049,
 * GeneralizedTime (`YYYYMMDDHHMMSSZ`) otherwise, as RFC 5280 §4.1.2.5 requires.
 */
export function time(date: Date): Buffer {
  const iso = date.toISOString() // 2026-11-26T07:12:08.000Z
  const rest = `${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`
  const year = date.getUTCFullYear()
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(iso.slice(2, 4) + rest, 'ascii'))
    : tlv(0x18, Buffer.from(iso.slice(0, 4) + rest, 'ascii'))
}
