// `sas-token topic`: telemetry topics from flags (SDK and docs vectors), and `topic parse`.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cli } from './support/cli.js'

async function topic(args: string[]): Promise<string> {
  const r = await cli(['topic', ...args])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  return r.stdout
}

describe('topic: build', () => {
  it('a bare device topic', async () => {
    assert.equal(await topic(['--device-id', 'dev1']), 'devices/dev1/messages/events/\n')
    assert.equal(await topic(['build', '--device-id', 'dev1']), 'devices/dev1/messages/events/\n')
  })
  it('the docs content-type example', async () => {
    assert.equal(
      await topic(['--device-id', 'dev1', '--content-type', 'application/json;charset=utf-8']),
      'devices/dev1/messages/events/%24.ct=application%2Fjson%3Bcharset%3Dutf-8\n',
    )
  })
  it('message id and a property (Node SDK _mqtt_test.js)', async () => {
    assert.equal(
      await topic([
        '--device-id',
        'deviceId',
        '--message-id',
        'fakeMessageId',
        '--property',
        'fakeKey=fakeValue',
      ]),
      'devices/deviceId/messages/events/%24.mid=fakeMessageId&fakeKey=fakeValue\n',
    )
  })
  it('every system flag, in the documented order, then properties in order', async () => {
    const out = await topic([
      '--device-id',
      'd',
      '--module-id',
      'm',
      '-p',
      'custom1=value1',
      '-p',
      'b=x=y',
      '--content-encoding',
      'utf-8',
      '--content-type',
      'type',
      '--user-id',
      'userid',
      '--correlation-id',
      '5678',
      '--message-id',
      '1234',
      '--output-name',
      'output',
      '--interface-id',
      'urn:azureiot:Security:SecurityAgent:1',
      '--expiry-time-utc',
      '2019-02-02T00:00:00',
      '--to',
      '/x',
    ])
    assert.equal(
      out,
      'devices/d/modules/m/messages/events/%24.on=output&%24.mid=1234&%24.cid=5678&%24.uid=userid&%24.to=%2Fx&%24.ct=type&%24.ce=utf-8&%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1&%24.exp=2019-02-02T00%3A00%3A00&custom1=value1&b=x%3Dy\n',
    )
  })
  it('exit 2: no --device-id, a property without =', async () => {
    assert.equal((await cli(['topic'])).code, 2)
    const r = await cli(['topic', '--device-id', 'd', '-p', 'novalue'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /name=value/)
  })
  it('a property named __proto__ is kept like any other', async () => {
    assert.equal(
      await topic(['--device-id', 'd', '-p', '__proto__=x', '-p', 'b=2']),
      'devices/d/messages/events/__proto__=x&b=2\n',
    )
  })
  it('exit 2: a property name given twice, a single-value option given twice', async () => {
    const r = await cli(['topic', '--device-id', 'd', '-p', 'a=1', '-p', 'a=2'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /"a" was given twice/)
    const twice = await cli(['topic', '--device-id', 'd', '--device-id', 'e'])
    assert.equal(twice.code, 2)
    assert.match(twice.stderr, /--device-id was given more than once/)
  })
  it('exit 1: an invalid id, an output without a module, a reserved property name', async () => {
    for (const args of [
      ['--device-id', 'd#'],
      ['--device-id', 'd', '--output-name', 'o'],
      ['--device-id', 'd', '-p', '$.mid=1'],
    ]) {
      const r = await cli(['topic', ...args])
      assert.equal(r.code, 1, args.join(' '))
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^sas-token: error: /)
    }
  })
})

describe('topic: parse', () => {
  it('a C2D topic with system and application properties', async () => {
    const r = await cli([
      'topic',
      'parse',
      'devices/fake_device/messages/devicebound/%24.mid=6b82&%24.to=%2Fdevices%2Ffake_device%2Fmessages%2Fdevicebound&k=v&bare',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {
      type: 'c2d',
      deviceId: 'fake_device',
      messageId: '6b82',
      to: '/devices/fake_device/messages/devicebound',
      properties: { k: 'v', bare: null },
    })
  })
  it('twin, method and DPS topics', async () => {
    const cases: Array<[string, object]> = [
      [
        '$iothub/twin/res/204/?$rid=1&$version=6',
        { type: 'twin-response', status: 204, rid: '1', version: 6 },
      ],
      ['$iothub/twin/PATCH/properties/desired/?$version=1', { type: 'desired-patch', version: 1 }],
      ['$iothub/methods/POST/TestMethod/?$rid=1', { type: 'method-request', method: 'TestMethod', rid: '1' }],
      [
        '$dps/registrations/res/202/?$rid=1&retry-after=3',
        { type: 'dps-response', status: 202, rid: '1', retryAfter: 3 },
      ],
    ]
    for (const [text, expected] of cases) {
      const r = await cli(['topic', 'parse', text])
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(JSON.parse(r.stdout), expected)
    }
  })
  it('exit 1 for a topic the hub never sends; exit 2 without a topic', async () => {
    const r = await cli(['topic', 'parse', 'devices/d/messages/events/'])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.equal((await cli(['topic', 'parse'])).code, 2)
  })
})
