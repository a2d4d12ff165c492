// The small gaps of issue 15: `hub send --module --input` reaches a module's input, and
// `hub dps enroll|enroll-group|list|rm` manage the emulator's DPS enrollments, keys redacted
// unless --show-secrets. Against a real hub: a module client (mqtt.js) receives the message, and
// a device registers (mqtt.js, DPS topics) with the key an enrollment was given.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { mqttCredentials } from 'sas-token'
import { type Hub, startHub } from 'sas-token/hub'
import { cli } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { connect, nextMessage, refusedCode } from './support/hub-mqtt.js'

let hub: Hub
let env: Record<string, string> = {}
const KEY_A = Buffer.alloc(32, 7).toString('base64')
const KEY_B = Buffer.alloc(32, 8).toString('base64')
const GROUP_KEY = Buffer.alloc(64, 5).toString('base64')

before(async () => {
  hub = await startHub({ inMemory: true, mqttPort: 0, httpsPort: 0 })
  const caFile = join(mkdtempSync(join(tmpdir(), 'hub-dps-send-')), 'ca.pem')
  writeFileSync(caFile, hub.ca)
  env = {
    NODE_EXTRA_CA_CERTS: caFile,
    IOTHUB_CONNECTION_STRING: hub.hubConnectionString,
    SAS_TOKEN_HUB_ENDPOINT: `https://localhost:${hub.ports.https}`,
  }
})
after(() => hub.close())

const nowS = (): number => Math.floor(Date.now() / 1000)

/** The CONNECT of a DPS registration signed with `key`. */
const registration = (id: string, key: string) => ({
  clientId: id,
  username: `${hub.idScope}/registrations/${id}/api-version=2019-03-31`,
  password: hmacToken(`${hub.idScope}/registrations/${id}`, key, nowS() + 300, 'registration'),
})

describe('hub send --module --input', () => {
  it("delivers to the module's input: topic, properties and payload", async () => {
    await hub.addDevice('dev1')
    const { connectionString } = await hub.addModule('dev1', 'filter')
    const creds = mqttCredentials(connectionString)
    const client = await connect(hub, {
      clientId: creds.clientId,
      username: creds.username,
      password: creds.password ?? '',
    })
    try {
      await client.subscribeAsync('devices/dev1/modules/filter/inputs/#')
      const got = nextMessage(client, 'devices/dev1/modules/filter/inputs/')
      const r = await cli(
        ['hub', 'send', 'dev1', '--module', 'filter', '--input', 'in1', '21.5', '-p', 'unit=C', '--json'],
        { env },
      )
      assert.equal(r.code, 0, r.stderr)
      const sent = JSON.parse(r.stdout) as { messageId: string; state: string }
      assert.equal(sent.state, 'delivered')
      const { topic, payload } = await got
      assert.ok(topic.startsWith('devices/dev1/modules/filter/inputs/in1/'), topic)
      assert.ok(topic.includes('unit=C'), topic)
      assert.ok(topic.includes(`%24.mid=${encodeURIComponent(sent.messageId)}`), topic)
      assert.equal(payload.toString(), '21.5')
    } finally {
      client.end(true)
    }
  })

  it('a module that is not connected: ERR_HUB_DEVICE_NOT_ONLINE, nothing queued', async () => {
    await hub.addDevice('dev2')
    await hub.addModule('dev2', 'idle')
    const r = await cli(['hub', 'send', 'dev2', '--module', 'idle', '--input', 'in1', 'x', '--json'], { env })
    assert.equal(r.code, 1)
    const error = (JSON.parse(r.stderr) as { error: { code: string; message: string } }).error
    assert.equal(error.code, 'ERR_HUB_DEVICE_NOT_ONLINE')
    assert.match(
      error.message,
      /^send to input in1 of module dev2\/idle: the module is not connected, or has not subscribed to its inputs/,
    )
  })

  it('--module without --input (and the other way round) is a usage error', async () => {
    for (const args of [
      ['--module', 'filter'],
      ['--input', 'in1'],
    ]) {
      const r = await cli(['hub', 'send', 'dev1', 'x', ...args], { env })
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    }
  })
})

describe('hub dps', () => {
  it('enroll: the key given is the one a device registers with; keys redacted unless --show-secrets', async () => {
    const r = await cli(['hub', 'dps', 'enroll', 'reg-a', '--primary-key', KEY_A, '--secondary-key', KEY_B], {
      env,
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(
      r.stdout,
      [
        'registrationId  reg-a',
        'deviceId        reg-a',
        'status          enabled',
        'attestation     symmetricKey',
        'primaryKey      <redacted>',
        'secondaryKey    <redacted>',
        '',
      ].join('\n'),
    )
    assert.ok(!r.stdout.includes(KEY_A) && !r.stderr.includes(KEY_A))
    const client = await connect(hub, registration('reg-a', KEY_A))
    await client.subscribeAsync('$dps/registrations/res/#')
    const res = nextMessage(client, '$dps/registrations/res/')
    client.publish(
      '$dps/registrations/PUT/iotdps-register/?$rid=1',
      JSON.stringify({ registrationId: 'reg-a' }),
    )
    assert.match((await res).topic, /^\$dps\/registrations\/res\/202\//)
    client.end(true)
  })

  it('enroll --json --show-secrets: the stored enrollment with its keys and device id', async () => {
    const r = await cli(
      [
        'hub',
        'dps',
        'enroll',
        'reg-b',
        '--device-id',
        'dev-b',
        '--primary-key',
        KEY_A,
        '--json',
        '--show-secrets',
      ],
      { env },
    )
    assert.equal(r.code, 0, r.stderr)
    const e = JSON.parse(r.stdout) as Record<string, unknown>
    assert.deepEqual(
      { registrationId: e.registrationId, deviceId: e.deviceId, status: e.provisioningStatus },
      { registrationId: 'reg-b', deviceId: 'dev-b', status: 'enabled' },
    )
    const keys = (e.attestation as { symmetricKey: { primaryKey: string; secondaryKey: string } })
      .symmetricKey
    assert.equal(keys.primaryKey, KEY_A)
    assert.match(keys.secondaryKey, /^[A-Za-z0-9+/]{43}=$/) // made by the hub
  })

  it('enroll-group --disabled, then list --groups: redacted JSON; a derived key is refused while disabled', async () => {
    const r = await cli(
      ['hub', 'dps', 'enroll-group', 'g1', '--primary-key', GROUP_KEY, '--disabled', '--json'],
      {
        env,
      },
    )
    assert.equal(r.code, 0, r.stderr)
    assert.ok(!r.stdout.includes(GROUP_KEY))
    const listed = await cli(['hub', 'dps', 'list', '--groups', '--json'], { env })
    assert.equal(listed.code, 0, listed.stderr)
    const groups = JSON.parse(listed.stdout) as Array<Record<string, unknown>>
    assert.deepEqual(
      groups.map((g) => [g.enrollmentGroupId, g.provisioningStatus, g.attestation]),
      [
        [
          'g1',
          'disabled',
          { type: 'symmetricKey', symmetricKey: { primaryKey: '<redacted>', secondaryKey: '<redacted>' } },
        ],
      ],
    )
    const derived = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update('sensor-1').digest('base64')
    assert.equal(await refusedCode(hub, registration('sensor-1', derived)), 5)
  })

  it('list: one enrollment a line, id, status, device id', async () => {
    const r = await cli(['hub', 'dps', 'list'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'reg-a\tenabled\treg-a\nreg-b\tenabled\tdev-b\n')
  })

  it('rm and rm --group: deleted, then unknown (ERR_HUB_NOT_FOUND); the device can no longer register', async () => {
    const rm = await cli(['hub', 'dps', 'rm', 'reg-a', '--json'], { env })
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(JSON.parse(rm.stdout), { registrationId: 'reg-a', deleted: true })
    assert.equal(await refusedCode(hub, registration('reg-a', KEY_A)), 5)
    const group = await cli(['hub', 'dps', 'rm', 'g1', '--group'], { env })
    assert.equal(group.code, 0, group.stderr)
    const again = await cli(['hub', 'dps', 'rm', 'g1', '--group', '--json'], { env })
    assert.equal(again.code, 1)
    assert.equal((JSON.parse(again.stderr) as { error: { code: string } }).error.code, 'ERR_HUB_NOT_FOUND')
    const listed = await cli(['hub', 'dps', 'list', '--groups', '--json'], { env })
    assert.deepEqual(JSON.parse(listed.stdout), [])
  })
})
