// mosquitto_pub and mosquitto_sub (Debian's mosquitto-clients, installed by .ci/run) against
// the product hub, trusting its CA file from the state directory: telemetry in, C2D out, and
// a refused CONNECT that the hub explains.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { nextEvent } from './support/hub-mqtt.js'

const KEY = Buffer.alloc(32, 6).toString('base64')
const nowS = (): number => Math.floor(Date.now() / 1000)

function installed(tool: string): Promise<boolean> {
  return new Promise((resolve) =>
    execFile(tool, ['--help'], (err) => resolve(!err || (err as { code?: unknown }).code !== 'ENOENT')),
  )
}

describe('hub with mosquitto clients', async () => {
  const available = (await installed('mosquitto_pub')) && (await installed('mosquitto_sub'))
  let hub: Hub
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-mosq-'))
    hub = await startHub({ stateDir: dir })
    await hub.addDevice('mq1', { primaryKey: KEY })
  })
  after(async () => {
    await hub.close()
    await rm(dir, { recursive: true, force: true })
  })
  const common = (password: string): string[] => [
    '-h',
    'localhost',
    '-p',
    String(hub.ports.mqtt),
    '--cafile',
    hub.caPath ?? '',
    '-V',
    'mqttv311',
    '-i',
    'mq1',
    '-u',
    'localhost/mq1/?api-version=2021-04-12',
    '-P',
    password,
  ]

  it('mosquitto_pub sends telemetry that the hub records with its properties', {
    skip: !available,
  }, async () => {
    const seen = nextEvent(hub, 'telemetry', (e) => e.deviceId === 'mq1')
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('mosquitto_pub', [
        ...common(hmacToken('localhost/devices/mq1', KEY, nowS() + 600)),
        '-q',
        '1',
        '-t',
        'devices/mq1/messages/events/%24.ct=text%2Fplain&k=v',
        '-m',
        'from mosquitto',
      ])
      child.once('exit', resolve)
    })
    assert.equal(code, 0)
    const e = await seen
    assert.deepEqual(e.body, { text: 'from mosquitto' })
    assert.deepEqual(e.properties, { k: 'v' })
    assert.equal((e.systemProperties as Record<string, string>).contentType, 'text/plain')
  })

  it('mosquitto_sub receives a C2D message with its property bag', { skip: !available }, async () => {
    const subscribed = nextEvent(hub, 'subscribe', (e) => e.deviceId === 'mq1')
    const child = spawn('mosquitto_sub', [
      ...common(hmacToken('localhost/devices/mq1', KEY, nowS() + 600)),
      '-q',
      '1',
      '-t',
      'devices/mq1/messages/devicebound/#',
      '-C',
      '1',
      '-v',
    ])
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve))
    await subscribed
    await hub.sendC2d('mq1', 'to mosquitto', { messageId: 'mm', properties: { color: 'red' } })
    assert.equal(await exit, 0)
    assert.equal(
      out.trim(),
      'devices/mq1/messages/devicebound/%24.mid=mm&%24.to=%2Fdevices%2Fmq1%2Fmessages%2Fdevicebound&color=red to mosquitto',
    )
  })

  it('mosquitto_pub with an expired token is refused (not authorised) and the hub says why', {
    skip: !available,
  }, async () => {
    const refused = nextEvent(hub, 'refuse', (e) => e.clientId === 'mq1')
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('mosquitto_pub', [
        ...common(hmacToken('localhost/devices/mq1', KEY, nowS() - 3600)),
        '-t',
        'devices/mq1/messages/events/',
        '-m',
        'x',
      ])
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      child.once('exit', (code) => resolve({ code, stderr }))
    })
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /not authori[sz]ed/i)
    assert.equal((await refused).returnCode, 5)
  })
})
