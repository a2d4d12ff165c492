// Prove it (issue 17, item 5): the official Node device SDK over HTTPS (azure-iot-device with
// azure-iot-device-http's `Http`), unmodified, against the product hub over real TLS: events
// and batches of events, C2D pulled by the SDK's receive poll and completed, rejected or
// abandoned by ETag (the same `c2d` events and feedback as MQTT's), a wrong key refused and
// explained, and what the SDK itself does for twin, methods and module outputs over HTTP (it
// throws NotImplementedError: they are not part of IoT Hub's device REST API). A module's events
// (a path the SDK does not send) and the limits are checked with plain HTTPS requests.
// The SDK's Http transport dials 443 only, so the hub listens there, on a loopback address of
// its own (support/sdk-hub.ts); the tests of this file run one at a time.
import assert from 'node:assert/strict'
import { request } from 'node:https'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { tokenFromConnectionString } from 'sas-token'
import { type HubEventLike, type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'
import type { Callback, SdkMessage } from './support/sdk-device-message.js'

const require = createRequire(import.meta.url)

interface SdkClient {
  setOptions(options: Record<string, unknown>): Promise<unknown>
  open(): Promise<unknown>
  close(): Promise<unknown>
  on(event: 'message', listener: (m: SdkMessage) => void): void
  on(event: 'error', listener: (err: Error) => void): void
  sendEvent(message: SdkMessage): Promise<unknown>
  sendEventBatch(messages: SdkMessage[]): Promise<unknown>
  complete(message: SdkMessage): Promise<unknown>
  reject(message: SdkMessage): Promise<unknown>
  abandon(message: SdkMessage): Promise<unknown>
  getTwin(cb: Callback): void
  onDeviceMethod(name: string, handler: () => void): void
  sendOutputEvent(output: string, message: SdkMessage, cb: Callback): void
}
const device = require('azure-iot-device') as {
  Client: { fromConnectionString(cs: string, transport: unknown): SdkClient }
  ModuleClient: { fromConnectionString(cs: string, transport: unknown): SdkClient }
  Message: new (data: string | Buffer) => SdkMessage
}
const { Http } = require('azure-iot-device-http') as { Http: unknown }

let sdk: SdkHub | undefined
let skip: string | undefined

before(async () => {
  ;({ sdk, skip } = await sdkHubOrSkip())
})
after(async () => {
  await sdk?.close()
})

/** An SDK device client over Http that trusts the hub's CA and polls C2D every 200 ms. */
async function httpClient(s: SdkHub, cs: string, module = false): Promise<SdkClient> {
  const client = (module ? device.ModuleClient : device.Client).fromConnectionString(cs, Http)
  await client.setOptions({ ca: s.caFile, http: { receivePolicy: { interval: 0.2 } } })
  await client.open()
  return client
}

/** The next event after `from` (an index into `seen`) that matches. */
async function nextEvent(
  s: SdkHub,
  from: number,
  match: (e: HubEventLike) => boolean,
): Promise<HubEventLike> {
  return s.waitForEvent((e) => s.seen.indexOf(e) >= from && match(e))
}

/** Resolves once `done()` holds (polled every 20 ms). */
async function waitUntil(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 20))
}

/** One HTTPS request to the hub's 443, as curl would send it. */
function send(
  s: SdkHub,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: s.address, port: 443, ca: s.hub.ca, method, path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      )
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('azure-iot-device over Http (IoT Hub device REST API)', { concurrency: 1, timeout: 20_000 }, () => {
  it('sendEvent: the telemetry event shows protocol http, the application and system properties', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-d1')
    const client = await httpClient(s, connectionString)
    t.after(() => client.close())
    const from = s.seen.length
    const message = new device.Message('{"t":21.5}')
    message.messageId = 'm-1'
    message.correlationId = 'c-1'
    message.contentType = 'application/json'
    message.contentEncoding = 'utf-8'
    message.properties.add('alert', 'high & dry')
    message.properties.add('Level', '3')
    await client.sendEvent(message)
    const e = await nextEvent(s, from, (x) => x.event === 'telemetry' && x.deviceId === 'http-d1')
    assert.equal(e.protocol, 'http')
    assert.equal(e.topic, '/devices/http-d1/messages/events')
    assert.deepEqual(e.body, { text: '{"t":21.5}' })
    assert.deepEqual({ ...(e.properties as object) }, { alert: 'high & dry', Level: '3' })
    const system = e.systemProperties as Record<string, string>
    assert.equal(system.messageId, 'm-1')
    assert.equal(system.correlationId, 'c-1')
    assert.equal(system.contentType, 'application/json')
    assert.equal(system.contentEncoding, 'utf-8')
    assert.equal(system['iothub-connection-device-id'], 'http-d1')
    assert.equal(
      system['iothub-connection-auth-method'],
      '{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
    )
    assert.equal(system['iothub-message-source'], 'Telemetry')
    assert.equal(system.Authorization, undefined)
    assert.ok(!JSON.stringify(e).includes('sig='), 'no token in the event')
  })

  it('sendEvent updates the identity’s lastActivityTime', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-d-activity')
    const before = Date.now()
    const client = await httpClient(s, connectionString)
    t.after(() => client.close())
    await client.sendEvent(new device.Message('x'))
    const token = tokenFromConnectionString(s.hub.hubConnectionString)
    const twin = await send(s, 'GET', '/twins/http-d-activity?api-version=2021-04-12', {
      Authorization: token,
    })
    assert.equal(twin.status, 200, twin.text)
    const last = Date.parse(String((JSON.parse(twin.text) as Record<string, unknown>).lastActivityTime))
    assert.ok(last >= before - 1000, `lastActivityTime ${last} is not after ${before}`)
  })

  it('sendEventBatch: each message is its own telemetry event, with its properties', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-d2')
    const client = await httpClient(s, connectionString)
    t.after(() => client.close())
    const from = s.seen.length
    const messages = ['one', 'two', 'three'].map((text, i) => {
      const m = new device.Message(text)
      m.properties.add('n', String(i))
      return m
    })
    await client.sendEventBatch(messages)
    const events: HubEventLike[] = []
    for (const text of ['one', 'two', 'three'])
      events.push(
        await nextEvent(
          s,
          from,
          (x) =>
            x.event === 'telemetry' &&
            x.deviceId === 'http-d2' &&
            JSON.stringify(x.body) === `{"text":"${text}"}`,
        ),
      )
    assert.deepEqual(
      events.map((e) => ({ ...(e.properties as object) })),
      [{ n: '0' }, { n: '1' }, { n: '2' }],
    )
    assert.ok(events.every((e) => e.protocol === 'http'))
    assert.deepEqual(
      s.seen.slice(from).filter((x) => x.event === 'telemetry' && x.deviceId === 'http-d2').length,
      3,
    )
  })

  for (const answer of ['complete', 'reject', 'abandon'] as const) {
    it(`C2D: the Http receive poll gets the message with its properties; ${answer} gives the ${answer} c2d event`, async (t) => {
      if (skip !== undefined) return t.skip(skip)
      const s = sdk as SdkHub
      const deviceId = `http-c2d-${answer}`
      const { connectionString } = await s.hub.addDevice(deviceId)
      const from = s.seen.length
      const sent = await s.hub.sendC2d(deviceId, 'open the valve', {
        messageId: `c2d-${answer}`,
        correlationId: 'corr-9',
        properties: { valve: 'v2' },
      })
      assert.equal(sent.state, 'queued')
      const client = await httpClient(s, connectionString)
      t.after(() => client.close())
      const received: SdkMessage[] = []
      const got = new Promise<SdkMessage>((resolve) => {
        client.on('message', (m) => {
          received.push(m)
          resolve(m)
        })
      })
      const m = await got
      assert.equal(m.getData().toString(), 'open the valve')
      assert.equal(m.messageId, `c2d-${answer}`)
      assert.equal(m.correlationId, 'corr-9')
      assert.equal(m.to, `/devices/${deviceId}/messages/devicebound`)
      // azure-iot-http-base keeps the header name of an application property
      assert.deepEqual(
        m.properties.propertyList.map((p) => [p.key, p.value]),
        [['iothub-app-valve', 'v2']],
      )
      assert.match(String(m.lockToken), /^[0-9a-f-]{36}$/)
      const delivered = await nextEvent(
        s,
        from,
        (x) => x.event === 'c2d' && x.deviceId === deviceId && x.state === 'delivered',
      )
      assert.equal(delivered.deliveryCount, 1)
      const stop = s.seen.length
      await client[answer](m)
      const expected = { complete: 'completed', reject: 'rejected', abandon: 'abandoned' }[answer]
      const e = await nextEvent(
        s,
        stop,
        (x) => x.event === 'c2d' && x.deviceId === deviceId && x.state !== 'delivered',
      )
      assert.equal(e.state, expected)
      assert.equal(e.messageId, `c2d-${answer}`)
      if (answer === 'complete') assert.equal(e.statusCode, 'Success')
      if (answer === 'reject') assert.equal(e.statusCode, 'Rejected')
      if (answer === 'abandon') {
        // back in the queue: the next poll gets it again, counted
        const again = await nextEvent(
          s,
          stop,
          (x) => x.event === 'c2d' && x.deviceId === deviceId && x.state === 'delivered',
        )
        assert.equal(again.deliveryCount, 2)
        await waitUntil(() => received.length === 2)
        assert.equal(received[1]?.messageId, `c2d-${answer}`)
        assert.notEqual(received[1]?.lockToken, m.lockToken)
      }
      // answering the same lock again: IoT Hub's 412 DeviceMessageLockLost
      await assert.rejects(client.complete(m), (err: Error & { response?: { statusCode?: number } }) => {
        assert.equal(err.response?.statusCode, 412)
        return true
      })
    })
  }

  it('a wrong key is refused with 401, and the refuse event explains it as an MQTT refusal would', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-wrong-key')
    const wrong = connectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`,
    )
    const client = await httpClient(s, wrong)
    t.after(() => client.close())
    const from = s.seen.length
    await assert.rejects(client.sendEvent(new device.Message('x')), (err: Error) => {
      assert.equal(err.name, 'UnauthorizedError')
      return true
    })
    const refused = await nextEvent(s, from, (x) => x.event === 'refuse' && x.deviceId === 'http-wrong-key')
    assert.equal(refused.protocol, 'http')
    assert.equal(refused.status, 401)
    assert.equal((refused.reason as { code: string }).code, 'ERR_TOKEN_SIGNATURE_MISMATCH')
    assert.ok(!JSON.stringify(refused).includes('sig='), 'the token is not in the event')
    assert.ok(
      !s.seen.slice(from).some((x) => x.event === 'telemetry' && x.deviceId === 'http-wrong-key'),
      'nothing was ingested',
    )
    const listed = await send(s, 'GET', '/_emulator/refused', {
      Authorization: tokenFromConnectionString(s.hub.hubConnectionString),
    })
    const records = JSON.parse(listed.text) as Array<Record<string, unknown>>
    assert.ok(
      records.some((r) => r.deviceId === 'http-wrong-key' && r.protocol === 'http' && r.status === 401),
    )
  })

  it('the 401 body is IoT Hub’s error JSON and carries no signature', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-401')
    const token = tokenFromConnectionString(
      connectionString.replace(
        /SharedAccessKey=[^;]+/,
        `SharedAccessKey=${Buffer.alloc(32, 9).toString('base64')}`,
      ),
    )
    const r = await send(
      s,
      'POST',
      '/devices/http-401/messages/events?api-version=2021-04-12',
      { Authorization: token },
      'x',
    )
    assert.equal(r.status, 401)
    const body = JSON.parse(r.text) as Record<string, unknown>
    assert.match(
      String(body.Message),
      /^ErrorCode:IotHubUnauthorizedAccess;The Authorization header is refused for device http-401 .*signature/,
    )
    assert.equal(body.errorCode, 401002)
    assert.ok(!r.text.includes(/sig=([^&]+)/.exec(token)?.[1] ?? 'sig='), 'the signature is not echoed')
    const none = await send(s, 'POST', '/devices/http-401/messages/events?api-version=2021-04-12', {}, 'x')
    assert.equal(none.status, 401)
  })

  it('a policy token with DeviceConnect (iothubowner) may send for any device, as the az CLI does', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    await s.hub.addDevice('http-policy')
    const from = s.seen.length
    const r = await send(
      s,
      'POST',
      '/devices/http-policy/messages/events?api-version=2021-04-12',
      { Authorization: tokenFromConnectionString(s.hub.hubConnectionString) },
      'by policy',
    )
    assert.equal(r.status, 204, r.text)
    const e = await nextEvent(s, from, (x) => x.event === 'telemetry' && x.deviceId === 'http-policy')
    assert.equal(
      (e.systemProperties as Record<string, string>)['iothub-connection-auth-method'],
      '{"scope":"hub","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
    )
  })

  it('an expired device token is refused with ERR_TOKEN_EXPIRED', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-expired')
    // signed two hours ago for one minute
    const token = tokenFromConnectionString(connectionString, { now: Date.now() - 7_200_000, ttl: 60 })
    const from = s.seen.length
    const r = await send(s, 'GET', '/devices/http-expired/messages/deviceBound?api-version=2021-04-12', {
      Authorization: token,
    })
    assert.equal(r.status, 401)
    const refused = await nextEvent(s, from, (x) => x.event === 'refuse' && x.deviceId === 'http-expired')
    assert.equal((refused.reason as { code: string }).code, 'ERR_TOKEN_EXPIRED')
  })

  it('a token for another device is refused for this one', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    await s.hub.addDevice('http-victim')
    const { connectionString } = await s.hub.addDevice('http-other')
    const from = s.seen.length
    const r = await send(
      s,
      'POST',
      '/devices/http-victim/messages/events?api-version=2021-04-12',
      { Authorization: tokenFromConnectionString(connectionString) },
      'x',
    )
    assert.equal(r.status, 401)
    const refused = await nextEvent(s, from, (x) => x.event === 'refuse' && x.deviceId === 'http-victim')
    assert.equal(refused.protocol, 'http')
  })

  it('a module sends events on /devices/{d}/modules/{m}/messages/events with its own token', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    await s.hub.addDevice('http-m')
    const { connectionString } = await s.hub.addModule('http-m', 'mod1')
    const from = s.seen.length
    const r = await send(
      s,
      'POST',
      '/devices/http-m/modules/mod1/messages/events?api-version=2021-04-12',
      { Authorization: tokenFromConnectionString(connectionString), 'iothub-app-k': 'v' },
      'from the module',
    )
    assert.equal(r.status, 204, r.text)
    const e = await nextEvent(s, from, (x) => x.event === 'telemetry' && x.deviceId === 'http-m')
    assert.equal(e.moduleId, 'mod1')
    assert.equal(e.protocol, 'http')
    assert.deepEqual({ ...(e.properties as object) }, { k: 'v' })
    assert.equal((e.systemProperties as Record<string, string>)['iothub-connection-module-id'], 'mod1')
  })

  it('a module client over Http: sendOutputEvent, twin and methods throw the SDK’s NotImplementedError; its sendEvent is refused', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    await s.hub.addDevice('http-mc')
    const { connectionString } = await s.hub.addModule('http-mc', 'mod1')
    const client = await httpClient(s, connectionString, true)
    t.after(() => client.close())
    assert.throws(
      () => client.sendOutputEvent('out1', new device.Message('x'), () => undefined),
      (err: Error) => err.name === 'NotImplementedError',
    )
    // its sendEvent goes to the device's path (azure-iot-device-http ignores the module id) with
    // the module's token, which the rules refuse: the token's sr names the module
    const from = s.seen.length
    await assert.rejects(
      client.sendEvent(new device.Message('x')),
      (err: Error) => err.name === 'UnauthorizedError',
    )
    const refused = await nextEvent(s, from, (x) => x.event === 'refuse' && x.deviceId === 'http-mc')
    assert.equal(refused.protocol, 'http')
    assert.equal(refused.moduleId, undefined)
    assert.equal((refused.reason as { code: string }).code, 'ERR_TOKEN_MODULE_FOR_DEVICE')
    const { connectionString: dcs } = await s.hub.addDevice('http-twin')
    const d = await httpClient(s, dcs)
    t.after(() => d.close())
    const twin = await new Promise<unknown>((resolve) => {
      try {
        d.getTwin((err) => resolve(err))
      } catch (err) {
        resolve(err)
      }
    })
    assert.equal((twin as Error).name, 'NotImplementedError')
    assert.throws(
      () => d.onDeviceMethod('reboot', () => undefined),
      (err: Error) => err.name === 'NotImplementedError',
    )
  })

  it('limits: a message over 256 KB is 413 MessageTooLarge; a malformed batch 400; an unknown ETag 412', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-limits')
    const auth = { Authorization: tokenFromConnectionString(connectionString) }
    const path = '/devices/http-limits/messages/events?api-version=2021-04-12'
    const big = await send(s, 'POST', path, auth, Buffer.alloc(256 * 1024 + 1, 97))
    assert.equal(big.status, 413)
    assert.match(big.text, /MessageTooLarge/)
    const edge = await send(s, 'POST', path, auth, Buffer.alloc(256 * 1024, 97))
    assert.equal(edge.status, 204)
    const batch = { ...auth, 'Content-Type': 'application/vnd.microsoft.iothub.json' }
    const notArray = await send(s, 'POST', path, batch, '{"body":"eA=="}')
    assert.equal(notArray.status, 400)
    assert.match(notArray.text, /ArgumentInvalid/)
    const notBase64 = await send(s, 'POST', path, batch, '[{"body":"not base64!"}]')
    assert.equal(notBase64.status, 400)
    const lost = await send(
      s,
      'DELETE',
      '/devices/http-limits/messages/devicebound/00000000-0000-0000-0000-000000000000?api-version=2021-04-12',
      auth,
    )
    assert.equal(lost.status, 412)
    assert.match(lost.text, /DeviceMessageLockLost/)
    const empty = await send(
      s,
      'GET',
      '/devices/http-limits/messages/deviceBound?api-version=2021-04-12',
      auth,
    )
    assert.equal(empty.status, 204)
  })

  it('C2D headers: a property name that is no token, or a value that is not ASCII, is percent-encoded', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const { connectionString } = await s.hub.addDevice('http-encoded')
    await s.hub.sendC2d('http-encoded', 'x', {
      properties: { 'my prop': 'café 😀', 'a(b)': 'x', plain: '50%' },
    })
    const r = await send(s, 'GET', '/devices/http-encoded/messages/deviceBound', {
      Authorization: tokenFromConnectionString(connectionString),
    })
    assert.equal(r.status, 200)
    assert.equal(r.headers['iothub-app-my%20prop'], 'caf%C3%A9 %F0%9F%98%80')
    assert.equal(r.headers['iothub-app-a%28b%29'], 'x')
    assert.equal(r.headers['iothub-app-plain'], '50%')
  })

  it('a device cannot answer another device’s lock', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const a = await s.hub.addDevice('http-lock-a')
    const b = await s.hub.addDevice('http-lock-b')
    await s.hub.sendC2d('http-lock-a', 'for a')
    const authA = { Authorization: tokenFromConnectionString(a.connectionString) }
    const authB = { Authorization: tokenFromConnectionString(b.connectionString) }
    const got = await send(
      s,
      'GET',
      '/devices/http-lock-a/messages/deviceBound?api-version=2021-04-12',
      authA,
    )
    assert.equal(got.status, 200)
    assert.equal(got.text, 'for a')
    assert.equal(got.headers['iothub-deliverycount'], '1')
    const etag = String(got.headers.etag)
    assert.match(etag, /^"[0-9a-f-]{36}"$/)
    const stolen = await send(
      s,
      'DELETE',
      `/devices/http-lock-b/messages/deviceBound/${etag.slice(1, -1)}`,
      authB,
    )
    assert.equal(stolen.status, 412)
    const own = await send(
      s,
      'DELETE',
      `/devices/http-lock-a/messages/deviceBound/${encodeURIComponent(etag)}`,
      authA,
    )
    assert.equal(own.status, 204, own.text)
  })
})
