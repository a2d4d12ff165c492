// `inspect` on what people paste (issue 8): quoted tokens and connection strings, a token without
// its `SharedAccessSignature ` prefix, and a signature checked apart from the expiry.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AT_VECTOR_TIME, cli, DEVICE_CS, HOST, KEY, VECTORS } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'

const env = AT_VECTOR_TIME

describe('inspect input', () => {
  // issue 8, defect 5
  for (const quote of ['"', "'"]) {
    it(`a token in ${quote}quotes${quote}`, async () => {
      const r = await cli(['inspect', `${quote}${VECTORS.device}${quote}`, '--json'], { env })
      assert.equal(r.code, 0, r.stderr)
      const report = JSON.parse(r.stdout) as { type: string; token: { deviceId: string } }
      assert.equal(report.type, 'token')
      assert.equal(report.token.deviceId, 'dev1')
    })
    it(`a connection string in ${quote}quotes${quote}`, async () => {
      const r = await cli(['inspect', `${quote}${DEVICE_CS}${quote}`, '--json'], { env })
      assert.equal(r.code, 0, r.stderr)
      assert.equal((JSON.parse(r.stdout) as { fields: { DeviceId: string } }).fields.DeviceId, 'dev1')
    })
  }

  it('a token without its SharedAccessSignature prefix is read, and inspect says so', async () => {
    const bare = VECTORS.device.slice('SharedAccessSignature '.length)
    const r = await cli(['inspect', bare, '--key', KEY, '--json'], { env })
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout) as { token: { signature: string; resourceUri: string } }
    assert.equal(report.token.signature, 'verified')
    assert.equal(report.token.resourceUri, `${HOST}/devices/dev1`)
    assert.match(r.stderr, /prefix/)
  })

  // issue 8, defect 7: the signature was checked by faking now = se - 1, which trips the
  // milliseconds guard for a small se, and reported "signature invalid".
  it('a token with a small se: the signature is verified, and the token is expired', async () => {
    const token = hmacToken(`${HOST}/devices/dev1`, KEY, 50_000_000)
    const r = await cli(['inspect', token, '--key', KEY, '--json'], { env })
    assert.equal(r.code, 1)
    const report = JSON.parse(r.stdout) as { token: { signature: string; expired: boolean } }
    assert.equal(report.token.signature, 'verified')
    assert.equal(report.token.expired, true)
    assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code, 'ERR_TOKEN_EXPIRED')
  })

  it('the same token with another key: invalid (control)', async () => {
    const token = hmacToken(`${HOST}/devices/dev1`, KEY, 50_000_000)
    const r = await cli(['inspect', token, '--key', 'b3RoZXJrZXk=', '--json'], { env })
    assert.equal(r.code, 1)
    assert.equal((JSON.parse(r.stdout) as { token: { signature: string } }).token.signature, 'invalid')
  })
})
