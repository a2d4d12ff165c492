// The operator's faults on purpose (issue 18 item 3): hub.fault() and POST /_emulator/faults
// drop a connection, refuse the next connects with a chosen CONNACK code, expire a token,
// delay or drop direct-method answers, and pause the device listeners (an outage). Seen from
// real clients: mqtt.js devices, the official azure-iothub service SDK for the method calls.
import assert from 'node:assert/strict'
import https from 'node:https'
import { createRequire } from 'node:module'
import { connect as tlsConnect } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import type { MqttClient } from 'mqtt'
import { type Hub, type HubEventOf, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { closed, connect, nextEvent, refusedCode } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'

const KEY = Buffer.alloc(32, 5).toString('base64')
const API = '?api-version=2021-04-12'
const nowS = (): number => Math.floor(Date.now() / 1000)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A device that answers every method request with 200 and `{"ok":<name>}`. */
async function answering(client: MqttClient): Promise<void> {
  await client.subscribeAsync('$iothub/methods/POST/#')
  client.on('message', (topic) => {
    const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic)
    if (m !== null) client.publish(`$iothub/methods/res/200/?$rid=${m[2]}`, JSON.stringify({ ok: m[1] }))
  })
}

describe('the operator API to break things on purpose', () => {
  let hub: Hub
  const device = (id: string) => ({
    clientId: id,
    username: `localhost/${id}/${API}`,
    password: hmacToken(`localhost/devices/${id}`, KEY, nowS() + 3600),
  })
  const faults: HubEventOf<'fault'>[] = []
  const original = https.request
  before(async () => {
    hub = await startHub()
    for (const id of ['drop1', 'ref1', 'ref2', 'exp1', 'meth1', 'meth2', 'meth3', 'out1', 'out2', 'api1'])
      await hub.addDevice(id, { primaryKey: KEY })
    hub.events.on('event', (e) => {
      if (e.event === 'fault') faults.push(e)
    })
    // azure-iothub dials port 443: its requests go to this hub's port, with its CA
    https.request = ((
      options: https.RequestOptions,
      callback?: (res: import('node:http').IncomingMessage) => void,
    ) => original({ ...options, port: hub.ports.https, ca: hub.ca }, callback)) as typeof https.request
  })
  after(async () => {
    https.request = original
    await hub.close()
  })

  /** azure-iothub's Client.invokeDeviceMethod, unmodified: the result, or the error it gives. */
  async function invoke(
    deviceId: string,
    timeout: number,
  ): Promise<{ result?: unknown; error?: Error & { response?: { statusCode?: number } } }> {
    const { Client } = createRequire(import.meta.url)('azure-iothub') as typeof import('azure-iothub')
    const client = Client.fromConnectionString(hub.hubConnectionString)
    try {
      const r = await client.invokeDeviceMethod(deviceId, {
        methodName: 'ping',
        payload: null,
        responseTimeoutInSeconds: timeout,
      })
      return { result: r.result }
    } catch (err) {
      return { error: err as Error }
    } finally {
      await client.close()
    }
  }

  it('drop: the connection is dropped now (its TCP connection killed), and it is a fault event', async () => {
    const client = await connect(hub, device('drop1'))
    const gone = nextEvent(
      hub,
      (e) => (e.event === 'disconnect' || e.event === 'close') && e.deviceId === 'drop1',
    )
    const outcome = await hub.fault({ kind: 'drop', deviceId: 'drop1' })
    assert.equal(outcome.action, 'kill-tcp done')
    assert.equal(outcome.protocol, 'mqtt')
    await closed(client)
    const e = await gone
    assert.ok('reason' in e && /fault drop/.test(String(e.reason)), JSON.stringify(e))
    const event = faults.find((f) => f.deviceId === 'drop1')
    assert.equal(event?.source, 'api')
    assert.equal(event?.fault, 'drop')
    // not connected: nothing to drop, said so
    await assert.rejects(hub.fault({ kind: 'drop', deviceId: 'drop1' }), {
      code: 'ERR_HUB_DEVICE_NOT_ONLINE',
    })
  })

  it('refuse 2 with return code 3: exactly the next two MQTT connects get CONNACK 3, the third is accepted', async () => {
    const outcome = await hub.fault({ kind: 'refuse', deviceId: 'ref1', count: 2, returnCode: 3 })
    assert.equal(outcome.action, 'the next 2 connects refused with return code 3')
    const until = Date.parse(outcome.until ?? '')
    assert.ok(
      until > Date.now() + 55_000 && until <= Date.now() + 60_000,
      `bounded by the 60 s default: ${outcome.until}`,
    )
    const refused = nextEvent(hub, 'refuse', (e) => e.deviceId === 'ref1')
    assert.equal(await refusedCode(hub, device('ref1')), 3)
    const r = await refused
    assert.equal(r.fault?.fault, 'refuse')
    assert.equal(await refusedCode(hub, device('ref1')), 3)
    const third = await connect(hub, device('ref1'))
    third.end(true)
  })

  it('refuse is bounded in time: after its duration the device connects again', async () => {
    await hub.fault({ kind: 'refuse', deviceId: 'ref2', durationSeconds: 1 })
    assert.equal(await refusedCode(hub, device('ref2')), 5)
    assert.equal(await refusedCode(hub, device('ref2')), 5)
    await sleep(1100)
    const client = await connect(hub, device('ref2'))
    client.end(true)
  })

  it('expire: the session ends as a token expiry ends it (token expired)', async () => {
    const client = await connect(hub, device('exp1'))
    const gone = nextEvent(
      hub,
      (e) => (e.event === 'disconnect' || e.event === 'close') && e.deviceId === 'exp1',
    )
    const outcome = await hub.fault({ kind: 'expire', deviceId: 'exp1' })
    assert.match(outcome.action, /token expired/)
    await closed(client)
    const e = await gone
    assert.ok('reason' in e && e.reason === 'token expired', JSON.stringify(e))
  })

  it('delay-methods shorter than the call timeout: azure-iothub gets the answer after the delay', async () => {
    const client = await connect(hub, device('meth1'))
    await answering(client)
    await hub.fault({ kind: 'delay-methods', deviceId: 'meth1', delaySeconds: 2 })
    const start = Date.now()
    const { result, error } = await invoke('meth1', 10)
    const elapsed = Date.now() - start
    assert.equal(error, undefined, String(error))
    assert.deepEqual(result, { status: 200, payload: { ok: 'ping' } })
    assert.ok(elapsed >= 1900, `answered after ${elapsed} ms, before the 2 s delay`)
    client.end(true)
  })

  it('delay-methods longer than the call timeout, and drop-methods: azure-iothub gets 504 GatewayTimeout', async () => {
    const slow = await connect(hub, device('meth2'))
    await answering(slow)
    const never = await connect(hub, device('meth3'))
    await answering(never)
    await hub.fault({ kind: 'delay-methods', deviceId: 'meth2', delaySeconds: 8 })
    await hub.fault({ kind: 'drop-methods', deviceId: 'meth3' })
    const timeouts = [
      nextEvent(hub, 'method', (e) => e.deviceId === 'meth2'),
      nextEvent(hub, 'method', (e) => e.deviceId === 'meth3'),
    ]
    const start = Date.now()
    const [a, b] = await Promise.all([invoke('meth2', 5), invoke('meth3', 5)])
    const elapsed = Date.now() - start
    for (const { error } of [a, b]) {
      assert.ok(error !== undefined, 'the call failed')
      assert.equal(error.response?.statusCode, 504, `${error.name}: ${error.message}`)
    }
    assert.ok(elapsed >= 4900 && elapsed < 8000, `timed out after ${elapsed} ms`)
    for (const e of await Promise.all(timeouts)) assert.equal(e.status, 504)
    slow.end(true)
    never.end(true)
  })

  it('outage: live device connections are dropped, new ones closed at once (no hang), and it ends on time', async () => {
    const live = await connect(hub, device('out1'))
    const outcome = await hub.fault({ kind: 'outage', durationSeconds: 2 })
    assert.match(outcome.action, /paused.*1 connection dropped/)
    await closed(live)
    const start = Date.now()
    await assert.rejects(connect(hub, device('out2')), /closed before CONNACK/)
    assert.ok(Date.now() - start < 1000, `refused after ${Date.now() - start} ms`)
    // MQTT over WebSocket: the upgrade is answered 503 at once
    await assert.rejects(
      connect(hub, device('out2'), { websocket: true }),
      /503|closed before CONNACK|Unexpected server response/,
    )
    // a raw TLS connection to the MQTT port ends without a byte
    const ended = await new Promise<number>((resolve, reject) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: hub.ports.mqtt,
        ca: hub.ca,
        servername: 'localhost',
      })
      let bytes = 0
      socket.on('data', (d: Buffer) => {
        bytes += d.length
      })
      socket.on('error', reject)
      socket.on('close', () => resolve(bytes))
    })
    assert.equal(ended, 0)
    assert.deepEqual(
      (await hub.activeFaults()).filter((f) => f.deviceId === undefined).map((f) => [f.fault, f.until]),
      [['outage', outcome.until]],
    )
    const end = nextEvent(hub, 'fault', (e) => e.fault === 'outage' && /resumed/.test(e.action))
    await end
    const elapsed = Date.now() - Date.parse(outcome.until ?? '')
    assert.ok(elapsed > -100 && elapsed < 1000, `ended ${elapsed} ms after its end`)
    const back = await connect(hub, device('out2'))
    back.end(true)
  })

  it('clear ends an outage early, with its closing event', async () => {
    await hub.fault({ kind: 'outage', durationSeconds: 600 })
    const end = nextEvent(hub, 'fault', (e) => e.fault === 'outage' && /resumed/.test(e.action))
    const cleared = await hub.fault({ kind: 'clear' })
    assert.match(cleared.action, /the outage/)
    assert.match((await end).action, /cleared early/)
    const client = await connect(hub, device('out2'))
    client.end(true)
  })

  it('POST/GET/DELETE /_emulator/faults: authenticated, bounded, 400 naming the field', async () => {
    assert.equal(
      (await rest(hub, 'POST', '/_emulator/faults', { auth: null, body: { kind: 'outage' } })).status,
      401,
    )
    const bad: Array<[unknown, RegExp]> = [
      [{ kind: 'melt', deviceId: 'api1' }, /kind must be one of "drop"/],
      [{ kind: 'refuse' }, /deviceId is required/],
      [{ kind: 'refuse', deviceId: 'api1', returnCode: 6 }, /returnCode must be a whole number from 1 to 5/],
      [{ kind: 'refuse', deviceId: 'api1', count: 'two' }, /count must be a whole number of connects/],
      [{ kind: 'outage', durationSeconds: 3601 }, /durationSeconds must be a whole number from 1 to 3600/],
      [{ kind: 'delay-methods', deviceId: 'api1' }, /delaySeconds is required/],
      [
        { kind: 'delay-methods', deviceId: 'api1', delaySeconds: 301 },
        /delaySeconds must be a whole number from 1 to 300/,
      ],
    ]
    for (const [body, message] of bad) {
      const r = await rest(hub, 'POST', '/_emulator/faults', { body })
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.equal((r.body as { code?: string }).code, 'ArgumentInvalid')
      assert.match((r.body as { Message: string }).Message, message)
    }
    assert.equal(
      (await rest(hub, 'POST', '/_emulator/faults', { body: { kind: 'drop', deviceId: 'nobody' } })).status,
      404,
    )
    const made = await rest(hub, 'POST', '/_emulator/faults', {
      body: { kind: 'refuse', deviceId: 'api1', count: 4, returnCode: 2, durationSeconds: 120 },
    })
    assert.equal(made.status, 200)
    assert.equal((made.body as { fault: string }).fault, 'refuse')
    const listed = await rest(hub, 'GET', '/_emulator/faults')
    assert.deepEqual(
      (listed.body as Array<{ fault: string; deviceId?: string; action: string }>).map((f) => [
        f.fault,
        f.deviceId,
        f.action,
      ]),
      [['refuse', 'api1', '4 more connects refused with return code 2']],
    )
    const cleared = await rest(hub, 'DELETE', '/_emulator/faults?deviceId=api1')
    assert.equal(cleared.status, 200)
    assert.equal((cleared.body as { action: string }).action, 'cleared: refused connects')
    assert.deepEqual((await rest(hub, 'GET', '/_emulator/faults')).body, [])
    const client = await connect(hub, device('api1'))
    client.end(true)
    const logged = faults.filter((f) => f.deviceId === 'api1').map((f) => f.fault)
    assert.deepEqual(logged, ['refuse', 'clear'])
  })
})
