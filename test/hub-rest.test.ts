// The operator HTTPS API of the product hub: IoT Hub's REST shapes and SAS authentication, the
// emulator-only endpoints, and the official azure-iothub service SDK, unmodified.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import https from 'node:https'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { connect, nextEvent } from './support/hub-mqtt.js'
import { ownerKey, policyToken, rest } from './support/hub-rest.js'

type Json = Record<string, unknown>
const nowS = (): number => Math.floor(Date.now() / 1000)

describe('hub operator REST API', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
  })
  after(() => hub.close())

  it('the health endpoint needs no authentication', async () => {
    const r = await rest(hub, 'GET', '/_emulator/health', { auth: null })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { status: 'ok' })
  })

  it('requests without a valid policy token get 401 in IoT Hub error shape', async () => {
    const cases: Array<[string | null, RegExp]> = [
      [null, /Authorization/],
      ['Bearer abc', /SAS token|malformed/],
      [policyToken(Buffer.alloc(32, 1).toString('base64')), /signature/],
      [policyToken(ownerKey(hub), 'iothubowner', nowS() - 3600), /expired/],
      [policyToken(ownerKey(hub), 'nosuch'), /no policy/],
      [hmacToken('localhost/devices/x', ownerKey(hub), nowS() + 60), /skn/],
    ]
    for (const [auth, message] of cases) {
      const r = await rest(hub, 'GET', '/devices/?api-version=2021-04-12', { auth })
      assert.equal(r.status, 401, String(auth))
      const body = r.body as Json
      assert.match(String(body.Message), /^ErrorCode:IotHubUnauthorizedAccess;/)
      assert.match(String(body.Message), message)
      assert.equal(typeof body.ExceptionMessage, 'string')
    }
  })

  it('a policy lacking the right permission gets 401', async () => {
    const r = await rest(hub, 'PUT', '/devices/nope', {
      body: {},
      auth: policyToken(ownerKey(hub), 'service'),
    })
    assert.equal(r.status, 401)
  })

  it('devices: PUT with empty keys generates them, GET, list (with and without the trailing slash), If-Match, DELETE', async () => {
    const created = await rest(hub, 'PUT', '/devices/r1?api-version=2021-04-12', {
      body: {
        deviceId: 'r1',
        authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
      },
    })
    assert.equal(created.status, 200)
    const device = created.body as Json & {
      authentication: { symmetricKey: { primaryKey: string; secondaryKey: string } }
    }
    assert.equal(device.deviceId, 'r1')
    assert.equal(device.status, 'enabled')
    assert.equal(device.connectionState, 'Disconnected')
    assert.equal(Buffer.from(device.authentication.symmetricKey.primaryKey, 'base64').length, 32)
    assert.notEqual(
      device.authentication.symmetricKey.primaryKey,
      device.authentication.symmetricKey.secondaryKey,
    )
    assert.equal((await rest(hub, 'GET', '/devices/r1')).status, 200)
    for (const path of ['/devices/', '/devices']) {
      const list = await rest(hub, 'GET', path)
      assert.ok((list.body as Json[]).some((d) => d.deviceId === 'r1'))
    }
    const again = await rest(hub, 'PUT', '/devices/r1', { body: { deviceId: 'r1' } })
    assert.equal(again.status, 409)
    assert.match(String((again.body as Json).Message), /^ErrorCode:DeviceAlreadyExists;/)
    const stale = await rest(hub, 'PUT', '/devices/r1', {
      body: { deviceId: 'r1', status: 'disabled' },
      headers: { 'If-Match': '"not-it"' },
    })
    assert.equal(stale.status, 412)
    const updated = await rest(hub, 'PUT', '/devices/r1', {
      body: { deviceId: 'r1', status: 'disabled' },
      headers: { 'If-Match': '"*"' },
    })
    assert.equal((updated.body as Json).status, 'disabled')
    assert.equal(
      (updated.body as typeof device).authentication.symmetricKey.primaryKey,
      device.authentication.symmetricKey.primaryKey,
    )
    assert.equal((await rest(hub, 'DELETE', '/devices/r1', { headers: { 'If-Match': '*' } })).status, 204)
    const gone = await rest(hub, 'GET', '/devices/r1')
    assert.equal(gone.status, 404)
    assert.equal((gone.body as Json).errorCode, 404001)
  })

  it('a bad key or id is a 400 that names the problem', async () => {
    const badKey = await rest(hub, 'PUT', '/devices/k1', {
      body: { authentication: { symmetricKey: { primaryKey: 'not base64!' } } },
    })
    assert.equal(badKey.status, 400)
    const badId = await rest(hub, 'PUT', `/devices/${encodeURIComponent('a#b')}`, { body: {} })
    assert.equal(badId.status, 400)
    const badJson = await rest(hub, 'PUT', '/devices/k2', { body: '{nope' })
    assert.equal(badJson.status, 400)
  })

  it('modules: PUT, GET, list, DELETE', async () => {
    await rest(hub, 'PUT', '/devices/md', { body: {} })
    const m = await rest(hub, 'PUT', '/devices/md/modules/m1', { body: { moduleId: 'm1' } })
    assert.equal(m.status, 200)
    assert.equal((m.body as Json).moduleId, 'm1')
    assert.deepEqual(
      ((await rest(hub, 'GET', '/devices/md/modules')).body as Json[]).map((x) => x.moduleId),
      ['m1'],
    )
    assert.equal((await rest(hub, 'DELETE', '/devices/md/modules/m1')).status, 204)
    assert.equal((await rest(hub, 'GET', '/devices/md/modules/m1')).status, 404)
  })

  it('twins: PATCH tags and desired (merge, null deletes), PUT replaces, versions move', async () => {
    await rest(hub, 'PUT', '/devices/tw', { body: {} })
    const t0 = (await rest(hub, 'GET', '/twins/tw')).body as Json & { properties: { desired: Json } }
    assert.equal(t0.deviceId, 'tw')
    const v0 = t0.properties.desired.$version as number
    const t1 = (
      await rest(hub, 'PATCH', '/twins/tw', {
        body: { tags: { site: 'a' }, properties: { desired: { fan: 'on', mode: 1 } } },
        headers: { 'If-Match': '*' },
      })
    ).body as typeof t0
    assert.deepEqual(t1.tags, { site: 'a' })
    assert.equal(t1.properties.desired.fan, 'on')
    assert.equal(t1.properties.desired.$version, v0 + 1)
    const t2 = (await rest(hub, 'PATCH', '/twins/tw', { body: { properties: { desired: { mode: null } } } }))
      .body as typeof t0
    assert.equal('mode' in t2.properties.desired, false)
    const t3 = (
      await rest(hub, 'PUT', '/twins/tw', { body: { tags: {}, properties: { desired: { only: true } } } })
    ).body as typeof t0
    assert.deepEqual(t3.tags, {})
    assert.equal(t3.properties.desired.only, true)
    assert.equal('fan' in t3.properties.desired, false)
    const stale = await rest(hub, 'PATCH', '/twins/tw', {
      body: { tags: { x: 1 } },
      headers: { 'If-Match': '"AAAAAAAAAAA="' },
    })
    assert.equal(stale.status, 412)
  })

  it('methods: 404 (404103) offline, 400 for a timeout out of 5–300', async () => {
    await rest(hub, 'PUT', '/devices/mo', { body: {} })
    const offline = await rest(hub, 'POST', '/twins/mo/methods', {
      body: { methodName: 'x', payload: {}, responseTimeoutInSeconds: 30, connectTimeoutInSeconds: 0 },
    })
    assert.equal(offline.status, 404)
    assert.equal((offline.body as Json).errorCode, 404103)
    const bad = await rest(hub, 'POST', '/twins/mo/methods', {
      body: { methodName: 'x', responseTimeoutInSeconds: 301 },
    })
    assert.equal(bad.status, 400)
  })

  it('C2D: 202 queued; the 51st gets 403 (403004); SSE streams the events from now on', async () => {
    await rest(hub, 'PUT', '/devices/cq', { body: {} })
    const events = await openEvents(hub, '/_emulator/events?deviceId=cq')
    const sent = await rest(hub, 'POST', '/_emulator/devices/cq/messages', {
      body: { payload: 'hi', properties: { a: '1' }, messageId: 'first' },
    })
    assert.equal(sent.status, 202)
    assert.deepEqual(sent.body, { messageId: 'first', state: 'queued' })
    const first = await events.next((e) => e.event === 'c2d')
    assert.equal(first.messageId, 'first')
    events.close()
    for (let i = 1; i < 50; i++)
      await rest(hub, 'POST', '/_emulator/devices/cq/messages', { body: { payload: String(i) } })
    const full = await rest(hub, 'POST', '/_emulator/devices/cq/messages', { body: { payload: 'x' } })
    assert.equal(full.status, 403)
    assert.equal((full.body as Json).errorCode, 403004)
    assert.equal(((await rest(hub, 'GET', '/devices/cq')).body as Json).cloudToDeviceMessageCount, 50)
  })

  it('sas-token endpoint signs a device token that an independent HMAC confirms', async () => {
    const created = (await rest(hub, 'PUT', '/devices/st', { body: {} })).body as {
      authentication: { symmetricKey: { primaryKey: string } }
    }
    const r = await rest(hub, 'POST', '/_emulator/sas-token', { body: { deviceId: 'st', ttl: '1h' } })
    const { token, expiresAt, resourceUri } = r.body as {
      token: string
      expiresAt: number
      resourceUri: string
    }
    assert.equal(resourceUri, 'localhost/devices/st')
    const sig = createHmac('sha256', Buffer.from(created.authentication.symmetricKey.primaryKey, 'base64'))
      .update(`localhost%2Fdevices%2Fst\n${expiresAt}`)
      .digest('base64')
    assert.equal(
      token,
      `SharedAccessSignature sr=localhost%2Fdevices%2Fst&sig=${encodeURIComponent(sig)}&se=${expiresAt}`,
    )
    assert.ok(Math.abs(expiresAt - (nowS() + 3600)) < 60)
  })

  it('refused connections are listed with their findings, and never the password', async () => {
    await rest(hub, 'PUT', '/devices/rf', { body: {} })
    const password = hmacToken('localhost/devices/rf', Buffer.alloc(32, 5).toString('base64'), nowS() + 60)
    await assert.rejects(
      connect(hub, { clientId: 'rf', username: 'localhost/rf/?api-version=2021-04-12', password }),
    )
    const list = (await rest(hub, 'GET', '/_emulator/refused')).body as Array<Json & { findings: Json[] }>
    const entry = list.find((x) => x.clientId === 'rf')
    assert.ok(entry)
    assert.equal(entry.returnCode, 5)
    assert.ok(entry.findings.some((f) => f.code === 'ERR_TOKEN_SIGNATURE_MISMATCH'))
    assert.ok(!JSON.stringify(list).includes(password.slice(30)))
  })

  it('DPS enrollments: PUT (keys generated), GET, list, DELETE', async () => {
    const e = await rest(hub, 'PUT', '/_emulator/dps/enrollments/reg-a', { body: {} })
    assert.equal(e.status, 200)
    const attestation = (e.body as { attestation: { symmetricKey: { primaryKey: string } } }).attestation
    assert.equal(Buffer.from(attestation.symmetricKey.primaryKey, 'base64').length, 32)
    const g = await rest(hub, 'PUT', '/_emulator/dps/enrollmentGroups/grp', {
      body: {
        attestation: {
          type: 'symmetricKey',
          symmetricKey: { primaryKey: Buffer.alloc(64, 2).toString('base64'), secondaryKey: '' },
        },
      },
    })
    assert.equal(g.status, 200)
    assert.deepEqual(
      ((await rest(hub, 'GET', '/_emulator/dps/enrollmentGroups')).body as Json[]).map(
        (x) => x.enrollmentGroupId,
      ),
      ['grp'],
    )
    assert.equal((await rest(hub, 'DELETE', '/_emulator/dps/enrollments/reg-a')).status, 204)
    assert.equal((await rest(hub, 'GET', '/_emulator/dps/enrollments/reg-a')).status, 404)
  })

  it('the official azure-iothub SDK: Registry create/get/list/delete, twin update, invokeDeviceMethod', async () => {
    // The SDK dials port 443; route its requests to this hub's port and CA (nothing else changes).
    const original = https.request
    const patched = ((
      options: https.RequestOptions,
      callback?: (res: import('node:http').IncomingMessage) => void,
    ) => original({ ...options, port: hub.ports.https, ca: hub.ca }, callback)) as typeof https.request
    https.request = patched
    try {
      const require = createRequire(import.meta.url)
      const { Registry, Client } = require('azure-iothub') as typeof import('azure-iothub')
      const registry = Registry.fromConnectionString(hub.hubConnectionString)
      const created = await registry.create({ deviceId: 'sdk1' })
      const key = created.responseBody.authentication?.symmetricKey?.primaryKey ?? ''
      assert.equal(Buffer.from(key, 'base64').length, 32)
      assert.equal((await registry.get('sdk1')).responseBody.deviceId, 'sdk1')
      assert.ok((await registry.list()).responseBody.some((d) => d.deviceId === 'sdk1'))
      const twin = (await registry.getTwin('sdk1')).responseBody
      await twin.update({ properties: { desired: { fan: 'on' } } })
      assert.equal(((await hub.getTwin('sdk1')).properties as { desired: Json }).desired.fan, 'on')
      const device = await connect(hub, {
        clientId: 'sdk1',
        username: 'localhost/sdk1/?api-version=2021-04-12',
        password: hmacToken('localhost/devices/sdk1', key, nowS() + 600),
      })
      await device.subscribeAsync('$iothub/methods/POST/#')
      device.on('message', (topic) => {
        const rid = /\$rid=(.+)$/.exec(topic)?.[1]
        device.publish(`$iothub/methods/res/200/?$rid=${rid}`, '{"rebooted":true}')
      })
      const answered = nextEvent(hub, 'method')
      const result = await Client.fromConnectionString(hub.hubConnectionString).invokeDeviceMethod('sdk1', {
        methodName: 'reboot',
        payload: {},
        responseTimeoutInSeconds: 10,
      })
      assert.deepEqual(result.result, { status: 200, payload: { rebooted: true } })
      assert.equal((await answered).status, 200)
      device.end(true)
      await registry.delete('sdk1')
      await assert.rejects(registry.get('sdk1'), { name: 'DeviceNotFoundError' })
    } finally {
      https.request = original
    }
  })
})

/** A server-sent-events reader. */
async function openEvents(
  hub: Hub,
  path: string,
): Promise<{ next(p: (e: Json) => boolean): Promise<Json>; close(): void }> {
  const req = https.request({
    host: '127.0.0.1',
    port: hub.ports.https,
    servername: 'localhost',
    ca: hub.ca,
    path,
    headers: { Authorization: policyToken(ownerKey(hub)) },
  })
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.on('response', resolve)
    req.on('error', reject)
    req.end()
  })
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /^text\/event-stream/)
  let buffer = ''
  const waiting: Array<{ p: (e: Json) => boolean; resolve: (e: Json) => void }> = []
  res.setEncoding('utf8')
  res.on('data', (chunk: string) => {
    buffer += chunk
    let end = buffer.indexOf('\n\n')
    while (end !== -1) {
      const frame = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      end = buffer.indexOf('\n\n')
      if (!frame.startsWith('data: ')) continue
      const event = JSON.parse(frame.slice(6)) as Json
      const i = waiting.findIndex((w) => w.p(event))
      if (i !== -1) waiting.splice(i, 1)[0]?.resolve(event)
    }
  })
  return {
    next: (p) => new Promise((resolve) => waiting.push({ p, resolve })),
    close: () => req.destroy(),
  }
}
