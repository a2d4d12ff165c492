// The operator API as a route table: a path the hub does not serve is a 404 and a 405 (with
// Allow) when only the method is wrong, each logged as a `warning` event naming the method and
// the path; every body is checked at the boundary, and a refusal names the field. Real HTTPS.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { nextEvent } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'

describe('hub REST routes', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
    await hub.addDevice('dev1')
  })
  after(() => hub.close())

  const warning = (path: string) => nextEvent(hub, 'warning', (e) => e.path === path)

  it('a path the hub does not serve is a 404, logged with what came and what is served', {
    timeout: 10_000,
  }, async () => {
    const logged = warning('/configurations/testQueries')
    const r = await rest(hub, 'POST', '/configurations/testQueries?api-version=2021-04-12', { body: {} })
    assert.equal(r.status, 404)
    assert.equal((r.body as { code: string }).code, 'NotFound')
    const e = await logged
    assert.equal(e.method, 'POST')
    assert.match(
      e.message,
      /POST "\/configurations\/testQueries" is not served \(404\): .*\/devices.*\/jobs\/v2.*\/twins.*\/_emulator.*configurations/,
    )
  })

  it('a key in an unserved path is redacted in the warning (the log, the SSE stream and the console show it)', {
    timeout: 10_000,
  }, async () => {
    const path = '/HostName=h;DeviceId=d;SharedAccessKey=c2VjcmV0c2VjcmV0'
    const logged = nextEvent(hub, 'warning', (e) => (e.path ?? '').startsWith('/HostName='))
    assert.equal((await rest(hub, 'GET', path)).status, 404)
    const e = await logged
    assert.ok(!JSON.stringify(e).includes('c2VjcmV0c2VjcmV0'), JSON.stringify(e))
    assert.match(e.path ?? '', /SharedAccessKey=<redacted>/)
  })

  it('a served path with another method is a 405 with Allow, logged', { timeout: 10_000 }, async () => {
    const logged = warning('/devices/dev1')
    const r = await rest(hub, 'POST', '/devices/dev1', { body: {} })
    assert.equal(r.status, 405)
    assert.equal(r.headers.allow, 'GET, PUT, DELETE')
    assert.match((await logged).message, /takes GET, PUT, DELETE/)
  })

  it('a body refusal names the field, with IoT Hub’s 400', { timeout: 10_000 }, async () => {
    const cases: Array<[string, string, unknown, RegExp]> = [
      [
        'POST',
        '/_emulator/devices/dev1/messages',
        { payloadEncoding: 'hex' },
        /payloadEncoding must be "utf8" or "base64"/,
      ],
      [
        'POST',
        '/_emulator/devices/dev1/messages',
        { properties: { a: 1 } },
        /properties\.a must be a string/,
      ],
      ['POST', '/_emulator/devices/dev1/messages', { messageId: '' }, /messageId must be a non-empty string/],
      ['POST', '/twins/dev1/methods', { payload: 1 }, /methodName is required/],
      [
        'POST',
        '/twins/dev1/methods',
        { methodName: 'm', responseTimeoutInSeconds: 'soon' },
        /responseTimeoutInSeconds/,
      ],
      ['PUT', '/devices/dev2', { status: 'paused' }, /status must be "enabled" or "disabled"/],
      ['PATCH', '/twins/dev1', { tags: [1] }, /tags must be a JSON object/],
      ['PATCH', '/twins/dev1', { properties: { desired: 'x' } }, /properties\.desired must be a JSON object/],
      [
        'POST',
        '/_emulator/sas-token',
        { deviceId: 'dev1', key: 'tertiary' },
        /key must be "primary" or "secondary"/,
      ],
    ]
    for (const [method, path, body, message] of cases) {
      const r = await rest(hub, method, path, { body })
      assert.equal(r.status, 400, `${method} ${path} ${r.text}`)
      assert.match((r.body as { Message: string }).Message, message)
    }
    assert.equal((await rest(hub, 'GET', '/devices/dev2')).status, 404, 'the refused PUT stored nothing')
  })
})
