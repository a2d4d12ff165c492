// verifySasTokenSignature: the signature alone, whatever the expiry (issue 8, defect 7).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { verifySasTokenSignature } from 'sas-token'
import { HOST, KEY, OTHER_KEY } from './support/fixtures.js'
import { hmacToken } from './support/hmac-token.js'

const RESOURCE = `${HOST}/devices/dev1`

describe('verifySasTokenSignature', () => {
  it('verifies a token with a small se, long expired', () => {
    const parsed = verifySasTokenSignature(hmacToken(RESOURCE, KEY, 50_000_000), KEY)
    assert.equal(parsed.expiresAt, 50_000_000)
    assert.equal(parsed.resourceUri, RESOURCE)
  })
  it('refuses another key', () => {
    assert.throws(() => verifySasTokenSignature(hmacToken(RESOURCE, KEY, 50_000_000), OTHER_KEY), {
      code: 'ERR_TOKEN_SIGNATURE_MISMATCH',
    })
  })
})
