// The DPS emulator routes check their bodies at the boundary: an enrollment whose deviceId the
// registry would refuse is a 400 naming the field at PUT (it used to be stored, and crashed the
// hub inside aedes when its device registered). A valid one is still stored.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { rest } from './support/hub-rest.js'

const KEY = Buffer.alloc(32, 5).toString('base64')

describe('DPS emulator bodies', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
  })
  after(() => hub.close())

  it('PUT an enrollment with deviceId "a b/#" is refused with 400 naming deviceId, and not stored', async () => {
    const r = await rest(hub, 'PUT', '/_emulator/dps/enrollments/r2', {
      body: { deviceId: 'a b/#', primaryKey: KEY, secondaryKey: KEY },
    })
    assert.equal(r.status, 400)
    assert.match(r.text, /deviceId/)
    const g = await rest(hub, 'GET', '/_emulator/dps/enrollments/r2')
    assert.equal(g.status, 404)
  })

  it('a provisioningStatus that is not enabled/disabled is refused with 400 naming it (groups too)', async () => {
    const r = await rest(hub, 'PUT', '/_emulator/dps/enrollmentGroups/g1', {
      body: { provisioningStatus: 'on', primaryKey: KEY, secondaryKey: KEY },
    })
    assert.equal(r.status, 400)
    assert.match(r.text, /provisioningStatus/)
  })

  it('a valid enrollment is stored with its deviceId', async () => {
    const r = await rest(hub, 'PUT', '/_emulator/dps/enrollments/r3', {
      body: { deviceId: 'dev-3', primaryKey: KEY, secondaryKey: KEY },
    })
    assert.equal(r.status, 200)
    assert.equal((r.body as { deviceId: string }).deviceId, 'dev-3')
  })
})
