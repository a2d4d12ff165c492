// The parsers on arbitrary input: they either return or throw a SasTokenError, and no error
// message ever repeats the key or signature that was fed in.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { parseConnectionString, parseSasToken, SasTokenError, tokenFromConnectionString, verifySasToken } from 'sas-token'
import * as arb from './support/arbitraries.js'

function onlySasTokenErrors(fn: () => unknown): SasTokenError | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    assert.ok(err instanceof SasTokenError, `expected a SasTokenError, got ${String(err)}`)
    assert.match(err.code, /^ERR_[A-Z_]+$/)
    assert.ok(err.message.length > 0)
    return err
  }
}

/**
 * Connection-string-like text: real field names, separators and values, shuffled, with the key
 * fed in as a SharedAccessKey value (garbage around it may still move it into another field).
 */
const fragments = (key: string) =>
  fc.array(
    fc.oneof(
      fc.constantFrom('HostName=', 'DeviceId=', 'ModuleId=', 'SharedAccessKey=', 'SharedAccessKeyName=', 'SharedAccessSignature=', 'x509=', 'GatewayHostName='),
      fc.constantFrom(';', '=', ' ', '&', 'sr=', 'sig=', 'se=', 'SharedAccessSignature ', 'hostname=', 'true', '%', '%2F'),
      fc.constant(`SharedAccessKey=${key}`),
      fc.constant(`SharedAccessKey=${key}`),
      fc.string({ maxLength: 8 }),
      arb.deviceId,
    ),
    { maxLength: 14 },
  ).map((parts) => parts.join(''))

describe('fuzzing the parsers', () => {
  it('parseConnectionString throws only SasTokenError on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => void onlySasTokenErrors(() => parseConnectionString(text))), { numRuns: 2000 })
  })

  it('parseSasToken throws only SasTokenError on arbitrary text', () => {
    const tokenish = fc.array(fc.constantFrom('SharedAccessSignature ', 'sr=', 'sig=', 'se=', 'skn=', '&', '=', '%', '%zz', '1700000000', 'a', '/'), { maxLength: 12 }).map((p) => p.join(''))
    fc.assert(fc.property(fc.oneof(tokenish, fc.string({ unit: 'binary', maxLength: 200 })), (text) => void onlySasTokenErrors(() => parseSasToken(text))), { numRuns: 2000 })
  })

  it('never puts the key in an error message (connection strings)', () => {
    fc.assert(
      fc.property(arb.key.chain((key) => fc.tuple(fc.constant(key), fragments(key))), ([key, text]) => {
        const err = onlySasTokenErrors(() => tokenFromConnectionString(text, { now: 0 }))
        if (err) assert.ok(!err.message.includes(key), `message leaked the key: ${err.message}`)
      }),
      { numRuns: 3000 },
    )
  })

  it('never puts the key or the signature in an error message (tokens)', () => {
    fc.assert(
      fc.property(arb.key, arb.key, fc.string({ maxLength: 10 }), (key, sig, junk) => {
        const token = `SharedAccessSignature sr=h&sig=${sig}${junk}&se=1`
        const err = onlySasTokenErrors(() => verifySasToken(token, { key }))
        if (err) {
          assert.ok(!err.message.includes(key))
          assert.ok(!err.message.includes(sig))
        }
      }),
      { numRuns: 1000 },
    )
  })
})
