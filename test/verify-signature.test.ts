// verifySasTokenSignature: the signature alone, whatever the expiry (issue 8, defect 7).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { verifySasTokenSignature } from 'sas-token'
import { hmacToken } from './support/hmac-token.js'

const KEY = 'cGFzc3dvcmQ='
const RESOURCE = 'myhub.azure-devices.net/devices/dev1'

describe('verifySasTokenSignature', () => {
  it('verifies a token with a small se, long expired', () => {
    const parsed = verifySasTokenSignature(hmacToken(RESOURCE, KEY, 50_000_000), KEY)
    assert.equal(parsed.expiresAt, 50_000_000)
    assert.equal(parsed.resourceUri, RESOURCE)
  })
  it('refuses another key', () => {
    assert.throws(() => verifySasTokenSignature(hmacToken(RESOURCE, KEY, 50_000_000), 'b3RoZXJrZXk='), {
      code: 'ERR_TOKEN_SIGNATURE_MISMATCH',
    })
  })
})
