// The parsers on arbitrary input: they either return or throw a SasTokenError, and no error
// message ever repeats the key or signature that was fed in.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  createSasToken,
  deviceResourceUri,
  parseConnectionString,
  parseSasToken,
  SasTokenError,
  tokenFromConnectionString,
  verifySasToken,
} from 'sas-token'
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
 * Connection-string-like text: real and near-miss field names (including Object.prototype's),
 * separators and values, shuffled, with the key both behind `SharedAccessKey=` and bare, where
 * garbage can move it into any other field.
 */
const fragments = (key: string) =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          'HostName=',
          'DeviceId=',
          'ModuleId=',
          'SharedAccessKey=',
          'SharedAccessKeyName=',
          'SharedAccessSignature=',
          'x509=',
          'GatewayHostName=',
        ),
        fc.constantFrom(
          'hostname=',
          'DeviceID=',
          ' HostName=',
          '__proto__=',
          'constructor=',
          'Endpoint=',
          'h.azure-devices.net',
          'true',
        ),
        fc.constantFrom(
          ';',
          '=',
          ' ',
          '&',
          ',',
          ':',
          '/',
          'sr=',
          'sig=',
          'se=',
          'SharedAccessSignature ',
          '%',
          '%2F',
        ),
        fc.constant(`SharedAccessKey=${key}`),
        fc.constant(key),
        fc.string({ maxLength: 8 }),
        arb.deviceId,
      ),
      { maxLength: 14 },
    )
    .map((parts) => parts.join(''))

describe('fuzzing the parsers', () => {
  it('parseConnectionString throws only SasTokenError on arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 200 }),
        (text) => void onlySasTokenErrors(() => parseConnectionString(text)),
      ),
      { numRuns: 2000 },
    )
  })

  it('parseSasToken throws only SasTokenError on arbitrary text', () => {
    const tokenish = fc
      .array(
        fc.constantFrom(
          'SharedAccessSignature ',
          'sr=',
          'sig=',
          'se=',
          'skn=',
          '&',
          '=',
          '%',
          '%zz',
          '1700000000',
          'a',
          '/',
        ),
        { maxLength: 12 },
      )
      .map((p) => p.join(''))
    fc.assert(
      fc.property(
        fc.oneof(tokenish, fc.string({ unit: 'binary', maxLength: 200 })),
        (text) => void onlySasTokenErrors(() => parseSasToken(text)),
      ),
      { numRuns: 2000 },
    )
  })

  it('parses or refuses Service Bus-family text with SasTokenErrors only, never quoting the key', () => {
    // Real and near-miss names of both families, so that every path of the family split is hit.
    const serviceBusText = (key: string) =>
      fc
        .array(
          fc.oneof(
            fc.constantFrom(
              'Endpoint=',
              'Endpoint=sb://ns.servicebus.windows.net/',
              'Endpoint=sb://localhost:5672',
              'EntityPath=',
              'UseDevelopmentEmulator=',
              'SharedAccessKeyName=',
              'SharedAccessKey=',
              'SharedAccessSignature=',
              'HostName=',
              'DeviceId=',
            ),
            fc.constantFrom(
              'endpoint=',
              ' EntityPath=',
              'sb://',
              'https://',
              ':',
              '/',
              ';',
              '=',
              'true',
              '%2F',
              'sr=sb%3A%2F%2F',
            ),
            fc.constant(`SharedAccessKey=${key}`),
            fc.constant(key),
            fc.string({ maxLength: 8 }),
          ),
          { maxLength: 14 },
        )
        .map((parts) => parts.join(''))
    fc.assert(
      fc.property(
        fc
          .oneof(arb.key, fc.stringMatching(/^[A-Za-z0-9+/=!$%&()*,\-.:<>?@^_`{|}~]{8,40}$/))
          .chain((key) => fc.tuple(fc.constant(key), serviceBusText(key))),
        ([key, text]) => {
          const err = onlySasTokenErrors(() => tokenFromConnectionString(text, { now: 0 }))
          if (err) assert.ok(!err.message.includes(key), `message leaked the key: ${err.message}`)
          const parsed = onlySasTokenErrors(() => parseConnectionString(text))
          if (parsed) assert.ok(!parsed.message.includes(key), `message leaked the key: ${parsed.message}`)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('never puts the key in an error message (connection strings)', () => {
    fc.assert(
      fc.property(
        arb.key.chain((key) => fc.tuple(fc.constant(key), fragments(key))),
        ([key, text]) => {
          const err = onlySasTokenErrors(() => tokenFromConnectionString(text, { now: 0 }))
          if (err) assert.ok(!err.message.includes(key), `message leaked the key: ${err.message}`)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('never puts the key or the signature in an error message (tokens)', () => {
    fc.assert(
      fc.property(
        arb.hostName,
        arb.deviceId,
        arb.key,
        arb.key,
        arb.clockAndExpiry,
        fc.integer({ min: -1, max: 1 }),
        (host, id, key, otherKey, { now, expiresAt }, shift) => {
          const token = createSasToken({ resourceUri: deviceResourceUri(host, id), key, expiresAt, now })
          const sig = parseSasToken(token).signature
          // wrong key, expired, or wrong resource: each error quotes neither key nor signature
          const attempts = [
            () => verifySasToken(token, { key: otherKey, now }),
            () => verifySasToken(token, { key, now: (expiresAt + 301 + shift) * 1000 }),
            () => verifySasToken(token, { key, now, resourceUri: `${host}/devices/${id}x` }),
          ]
          for (const attempt of attempts) {
            const err = onlySasTokenErrors(attempt)
            if (err) {
              assert.ok(
                !err.message.includes(key) && !err.message.includes(otherKey) && !err.message.includes(sig),
              )
            }
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
