// `sas-token hub dps enrollments|groups|registrations …` on DPS's service API, against a real
// hub, with the DPS connection string it prints: add, get, list, remove, a stale --etag refused,
// the hub connection string refused, keys redacted unless --show-secrets; a device registers
// (mqtt.js, DPS topics) through the group added, and its registration state is listed.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { BIN, cleanEnv, cli } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { connect } from './support/hub-mqtt.js'

let hub: Hub
let env: Record<string, string> = {}
const KEY_A = Buffer.alloc(32, 17).toString('base64')
const GROUP_KEY = Buffer.alloc(32, 19).toString('base64')

before(async () => {
  hub = await startHub({ inMemory: true, mqttPort: 0, httpsPort: 0 })
  const caFile = join(mkdtempSync(join(tmpdir(), 'hub-dps-service-')), 'ca.pem')
  writeFileSync(caFile, hub.ca)
  env = {
    NODE_EXTRA_CA_CERTS: caFile,
    DPS_CONNECTION_STRING: hub.dpsConnectionString,
    SAS_TOKEN_HUB_ENDPOINT: `https://localhost:${hub.ports.https}`,
  }
})
after(() => hub.close())

describe('hub dps enrollments|groups|registrations (DPS service API)', () => {
  it('adds, gets, lists and removes an enrollment; a stale --etag is refused', async () => {
    const added = await cli(
      [
        'hub',
        'dps',
        'enrollments',
        'add',
        'cli-reg-1',
        '--device-id',
        'cli-dev-1',
        '--primary-key',
        KEY_A,
        '--json',
      ],
      { env },
    )
    assert.equal(added.code, 0, added.stderr)
    const e = JSON.parse(added.stdout) as Record<string, unknown> & { etag: string }
    assert.equal(e.registrationId, 'cli-reg-1')
    assert.equal(e.deviceId, 'cli-dev-1')
    assert.deepEqual((e.attestation as { symmetricKey: unknown }).symmetricKey, {
      primaryKey: '<redacted>',
      secondaryKey: '<redacted>',
    })
    assert.ok(!added.stdout.includes(KEY_A))
    const got = await cli(['hub', 'dps', 'enrollments', 'get', 'cli-reg-1', '--show-secrets', '--json'], {
      env,
    })
    assert.equal(got.code, 0, got.stderr)
    assert.equal(JSON.parse(got.stdout).attestation.symmetricKey.primaryKey, KEY_A)
    const listed = await cli(['hub', 'dps', 'enrollments', 'list'], { env })
    assert.equal(listed.stdout, 'cli-reg-1\tenabled\tcli-dev-1\n')
    const stale = await cli(['hub', 'dps', 'enrollments', 'remove', 'cli-reg-1', '--etag', 'bm90LWl0'], {
      env,
    })
    assert.equal(stale.code, 1)
    assert.match(stale.stderr, /412/)
    const removed = await cli(['hub', 'dps', 'enrollments', 'remove', 'cli-reg-1', '--etag', e.etag], { env })
    assert.equal(removed.code, 0, removed.stderr)
    assert.equal((await cli(['hub', 'dps', 'enrollments', 'get', 'cli-reg-1'], { env })).code, 1)
  })

  it('refuses the hub connection string (DPS takes its own policy)', async () => {
    const r = await cli(['hub', 'dps', 'groups', 'list', '-c', hub.hubConnectionString], { env })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /401/)
    assert.ok(!r.stderr.includes(/SharedAccessKey=([^;]+)/.exec(hub.hubConnectionString)?.[1] ?? '?'))
  })

  it('a device registers through a group added here; registrations list and get show it', async () => {
    const g = await cli(['hub', 'dps', 'groups', 'add', 'cli-group-1', '--primary-key', GROUP_KEY], { env })
    assert.equal(g.code, 0, g.stderr)
    const id = 'cli-grp-dev-1'
    const key = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update(id).digest('base64')
    const se = Math.floor(Date.now() / 1000) + 300
    const client = await connect(hub, {
      clientId: id,
      username: `${hub.idScope}/registrations/${id}/api-version=2019-03-31`,
      password: hmacToken(`${hub.idScope}/registrations/${id}`, key, se, 'registration'),
    })
    try {
      await client.subscribeAsync('$dps/registrations/res/#')
      const answers: Array<{ topic: string; body: Record<string, unknown> }> = []
      client.on('message', (topic, payload) => answers.push({ topic, body: JSON.parse(payload.toString()) }))
      await client.publishAsync(
        '$dps/registrations/PUT/iotdps-register/?$rid=1',
        JSON.stringify({ registrationId: id }),
      )
      for (let rid = 2; !answers.some((a) => a.body.status === 'assigned') && rid < 20; rid++) {
        await new Promise((r) => setTimeout(r, 100))
        const op = answers.find((a) => typeof a.body.operationId === 'string')?.body.operationId
        if (typeof op === 'string')
          await client.publishAsync(
            `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${op}`,
            '',
          )
      }
      assert.ok(
        answers.some((a) => a.body.status === 'assigned'),
        JSON.stringify(answers),
      )
    } finally {
      await client.endAsync()
    }
    const listed = await cli(['hub', 'dps', 'registrations', 'list', 'cli-group-1'], { env })
    assert.equal(listed.code, 0, listed.stderr)
    assert.equal(listed.stdout, `${id}\tassigned\t${id}\t${hub.hostName}\n`)
    const got = await cli(['hub', 'dps', 'registrations', 'get', id, '--json'], { env })
    assert.equal(JSON.parse(got.stdout).assignedHub, hub.hostName)
    assert.equal((await cli(['hub', 'dps', 'registrations', 'rm', id], { env })).code, 0)
    assert.equal((await cli(['hub', 'dps', 'registrations', 'get', id], { env })).code, 1)
  })
})

describe('sas-token hub: the DPS connection string in the ready event and the ready lines', () => {
  it('--json: the ready line carries dpsConnectionString (provisioningserviceowner, its own key), and it works on DPS routes only', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'hub', '--json', '--in-memory', '--mqtt-port', '0', '--https-port', '0'],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    try {
      const first = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      )
      const ready = JSON.parse(first) as {
        event: string
        hubConnectionString: string
        dpsConnectionString: string
        hostName: string
        caPath: string | null
        ca?: string
        ports: { https: number }
      }
      assert.equal(ready.event, 'ready')
      const m =
        /^HostName=([^;]+);SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=([^;]+)$/.exec(
          ready.dpsConnectionString,
        )
      assert.ok(m, 'a DPS connection string of provisioningserviceowner')
      assert.equal(m[1], ready.hostName)
      assert.equal(Buffer.from(m[2] ?? '', 'base64').length, 32)
      assert.ok(!ready.hubConnectionString.includes(m[2] ?? '?'), 'a key of its own, not the hub owner key')
      const caFile = join(mkdtempSync(join(tmpdir(), 'hub-dps-ready-')), 'ca.pem')
      writeFileSync(caFile, ready.ca ?? '')
      const there = {
        NODE_EXTRA_CA_CERTS: ready.caPath ?? caFile,
        SAS_TOKEN_HUB_ENDPOINT: `https://localhost:${ready.ports.https}`,
      }
      const listed = await cli(['hub', 'dps', 'groups', 'list', '-c', ready.dpsConnectionString], {
        env: there,
      })
      assert.equal(listed.code, 0, listed.stderr)
      assert.equal(listed.stdout, '')
      const asHub = await cli(['hub', 'devices', 'list', '-c', ready.dpsConnectionString], { env: there })
      assert.equal(asHub.code, 1, 'the DPS policy opens no hub route')
      assert.match(asHub.stderr, /401/)
      assert.ok(!asHub.stderr.includes(m[2] ?? '?'), 'the key is not printed')
    } finally {
      const exit = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exit
    }
  })

  it('without --json the ready lines print the DPS connection string beside the hub one', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'hub', '--in-memory', '--mqtt-port', '0', '--https-port', '0'],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    try {
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          if (out.includes('Ctrl-C')) resolve()
        })
      })
    } finally {
      const exit = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exit
    }
    assert.match(out, /HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=/)
    assert.match(
      out,
      /HostName=localhost;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=[^;\s]+/,
    )
  })
})
