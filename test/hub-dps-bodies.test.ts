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

describe('the guard between aedes and the hub (handler-guard.ts), in memory', async () => {
  const guardPath = '../../dist/hub/mqtt/handler-guard.js'
  type Guarded = <A extends unknown[]>(
    what: string,
    warn: (message: string) => void,
    refuse: (err: Error, ...args: A) => void,
    handler: (...args: A) => void,
  ) => (...args: A) => void
  type Listener = <A extends unknown[]>(
    what: string,
    warn: (message: string) => void,
    listener: (...args: A) => void,
  ) => (...args: A) => void
  const { guarded, guardedListener } = (await import(guardPath)) as {
    guarded: Guarded
    guardedListener: Listener
  }

  it('a callback that throws is answered with its refusal and reported; nothing escapes', () => {
    const warnings: string[] = []
    const refused: Array<[string, number]> = []
    const callback = guarded<[number]>(
      'A publish',
      (m) => warnings.push(m),
      (err, n) => refused.push([err.message, n]),
      () => {
        throw new Error('boom')
      },
    )
    assert.doesNotThrow(() => callback(7))
    assert.equal(refused.length, 1)
    assert.equal(refused[0]?.[1], 7)
    assert.match(warnings[0] ?? '', /^A publish failed inside the hub \(boom\); the hub goes on\.$/)
  })

  it('a listener that throws is reported and goes no further; one that does not is left alone', () => {
    const warnings: string[] = []
    const seen: string[] = []
    const throwing = guardedListener<[string]>(
      'The subscribe handler',
      (m) => warnings.push(m),
      () => {
        throw new TypeError('no such session')
      },
    )
    const fine = guardedListener<[string]>(
      'The ack handler',
      (m) => warnings.push(m),
      (x) => seen.push(x),
    )
    assert.doesNotThrow(() => throwing('a'))
    fine('b')
    assert.deepEqual(seen, ['b'])
    assert.deepEqual(warnings, [
      'The subscribe handler failed inside the hub (no such session); the hub goes on.',
    ])
  })
})
