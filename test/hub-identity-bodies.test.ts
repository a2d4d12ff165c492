// The identity body's nested `authentication` (PUT /devices/{id}, PUT …/modules/{mid} and each
// item of the bulk POST /devices) is checked at the boundary: a malformed one is a 400 in IoT
// Hub's error shape that names the field, never a 500 and never keys the hub made up instead.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { rest } from './support/hub-rest.js'

type Json = Record<string, unknown>

const KEY = Buffer.alloc(32, 7).toString('base64')

describe('identity bodies: the nested authentication is checked', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
  })
  after(async () => {
    await hub.close()
  })

  const cases: Array<[string, unknown, RegExp]> = [
    ['a string for symmetricKey', { type: 'sas', symmetricKey: 'abc' }, /authentication\.symmetricKey /],
    [
      'a number for primaryKey',
      { symmetricKey: { primaryKey: 5 } },
      /authentication\.symmetricKey\.primaryKey /,
    ],
    [
      'an array for secondaryKey',
      { symmetricKey: { secondaryKey: [KEY] } },
      /authentication\.symmetricKey\.secondaryKey /,
    ],
    ['an unknown type', { type: 'password' }, /authentication\.type /],
    ['a number for type', { type: 1 }, /authentication\.type /],
    [
      'a string for x509Thumbprint',
      { type: 'selfSigned', x509Thumbprint: 'AB' },
      /authentication\.x509Thumbprint /,
    ],
    [
      'a number for primaryThumbprint',
      { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 12 } },
      /authentication\.x509Thumbprint\.primaryThumbprint /,
    ],
    ['an array for authentication', [], /authentication /],
  ]
  for (const [i, [what, authentication, field]] of cases.entries()) {
    it(`PUT /devices: ${what} is a 400 naming the field; nothing is created`, async () => {
      const id = `bad-auth-${i}`
      const r = await rest(hub, 'PUT', `/devices/${id}?api-version=2021-04-12`, {
        body: { deviceId: id, authentication },
      })
      assert.equal(r.status, 400, r.text)
      const body = r.body as Json
      assert.match(String(body.Message), /^ErrorCode:ArgumentInvalid;The identity body is not valid: /)
      assert.match(String(body.Message), field)
      assert.equal(typeof body.ExceptionMessage, 'string')
      assert.equal((await rest(hub, 'GET', `/devices/${id}?api-version=2021-04-12`)).status, 404)
    })
  }

  it('PUT …/modules/{mid} and a bulk item name the field too (the bulk one with its index)', async () => {
    assert.equal(
      (await rest(hub, 'PUT', '/devices/has-mod?api-version=2021-04-12', { body: {} })).status,
      200,
    )
    const m = await rest(hub, 'PUT', '/devices/has-mod/modules/m1?api-version=2021-04-12', {
      body: { authentication: { symmetricKey: { primaryKey: false } } },
    })
    assert.equal(m.status, 400, m.text)
    assert.match(String((m.body as Json).Message), /authentication\.symmetricKey\.primaryKey /)
    assert.equal((await rest(hub, 'GET', '/devices/has-mod/modules/m1?api-version=2021-04-12')).status, 404)
    const b = await rest(hub, 'POST', '/devices?api-version=2021-04-12', {
      body: [
        { id: 'bulk-ok', importMode: 'create' },
        { id: 'bulk-bad', importMode: 'create', authentication: { symmetricKey: 'abc' } },
      ],
    })
    assert.equal(b.status, 400, b.text)
    assert.match(
      String((b.body as Json).Message),
      /^ErrorCode:ArgumentInvalid;The bulk registry body is not valid: 1\.authentication\.symmetricKey /,
    )
    assert.equal((await rest(hub, 'GET', '/devices/bulk-ok?api-version=2021-04-12')).status, 404)
  })

  it('what the SDK sends is still taken: its empty keys are made, given keys kept, nulls beside a type ignored', async () => {
    const made = await rest(hub, 'PUT', '/devices/sdk-like?api-version=2021-04-12', {
      body: {
        deviceId: 'sdk-like',
        authentication: {
          type: 'sas',
          symmetricKey: { primaryKey: '', secondaryKey: KEY },
          x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null },
        },
      },
    })
    assert.equal(made.status, 200, made.text)
    const keys = ((made.body as Json).authentication as { symmetricKey: Json }).symmetricKey
    assert.equal(Buffer.from(String(keys.primaryKey), 'base64').length, 32)
    assert.equal(keys.secondaryKey, KEY)
    const x509 = await rest(hub, 'PUT', '/devices/x509-like?api-version=2021-04-12', {
      body: {
        authentication: {
          type: 'selfSigned',
          symmetricKey: { primaryKey: null, secondaryKey: null },
          x509Thumbprint: { primaryThumbprint: 'ab'.repeat(20), secondaryThumbprint: null },
        },
      },
    })
    assert.equal(x509.status, 200, x509.text)
    assert.equal(
      ((x509.body as Json).authentication as { x509Thumbprint: Json }).x509Thumbprint.primaryThumbprint,
      'AB'.repeat(20),
    )
  })
})
