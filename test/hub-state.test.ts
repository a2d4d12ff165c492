// The product hub's state directory: the registry, twins, queued C2D, CleanSession 0
// subscriptions and the CA survive a restart; writes are atomic; a corrupt file is named and
// left alone; --in-memory keeps nothing. Devices are real mqtt.js clients.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { BIN, cleanEnv } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { connect, nextEvent, nextMessage } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'

const KEY = Buffer.alloc(32, 4).toString('base64')
const nowS = (): number => Math.floor(Date.now() / 1000)
const dev = (clean: boolean) => ({
  clientId: 'dev1',
  username: 'localhost/dev1/?api-version=2021-04-12',
  password: hmacToken('localhost/devices/dev1', KEY, nowS() + 600),
  clean,
})

describe('hub state directory', () => {
  const dirs: string[] = []
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-'))
    dirs.push(dir)
    return dir
  }
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('CleanSession 0 keeps the subscription and the queued C2D across a hub restart', async () => {
    const dir = await tempDir()
    let hub: Hub = await startHub({ stateDir: dir })
    await hub.addDevice('dev1', { primaryKey: KEY })
    const first = await connect(hub, dev(false))
    await first.subscribeAsync('devices/dev1/messages/devicebound/#', { qos: 1 })
    const gone = nextEvent(hub, (e) => e.event === 'disconnect')
    first.end()
    await gone
    assert.equal((await hub.sendC2d('dev1', 'while you were away', { messageId: 'kept' })).state, 'queued')
    const { ca } = hub
    await hub.close()

    hub = await startHub({ stateDir: dir })
    try {
      assert.equal(hub.ca, ca, 'the CA is kept')
      assert.ok(hub.caPath?.startsWith(dir))
      // the device reconnects and, like the Azure SDK, does not subscribe again
      const again = await connect(hub, dev(false))
      const message = await nextMessage(again, 'devices/dev1/messages/devicebound/')
      assert.equal(message.payload.toString(), 'while you were away')
      assert.match(message.topic, /%24\.mid=kept/)
      again.end(true)
    } finally {
      await hub.close()
    }
  })

  it('CleanSession 1 keeps no subscription: the message waits until the device subscribes again', async () => {
    const dir = await tempDir()
    const hub = await startHub({ stateDir: dir })
    try {
      await hub.addDevice('dev1', { primaryKey: KEY })
      const first = await connect(hub, dev(true))
      await first.subscribeAsync('devices/dev1/messages/devicebound/#', { qos: 1 })
      const gone = nextEvent(hub, (e) => e.event === 'disconnect')
      first.end()
      await gone
      await hub.sendC2d('dev1', 'later')
      const again = await connect(hub, dev(true))
      const delivered = nextEvent(hub, (e) => e.event === 'c2d' && e.state === 'delivered')
      let early = false
      again.on('message', () => {
        early = true
      })
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(early, false)
      const message = nextMessage(again, 'devices/dev1/messages/devicebound/')
      await again.subscribeAsync('devices/dev1/messages/devicebound/#', { qos: 1 })
      assert.equal((await message).payload.toString(), 'later')
      await delivered
      again.end(true)
    } finally {
      await hub.close()
    }
  })

  it('the registry, twins, owner key and DPS enrollments survive a restart', async () => {
    const dir = await tempDir()
    let hub = await startHub({ stateDir: dir })
    await hub.addDevice('keep', { primaryKey: KEY })
    await hub.addModule('keep', 'm', { primaryKey: KEY })
    await hub.updateDesired('keep', { a: 1 })
    const group = await hub.addEnrollmentGroup('g')
    const cs = hub.hubConnectionString
    await hub.close()
    hub = await startHub({ stateDir: dir })
    try {
      assert.equal(hub.hubConnectionString, cs)
      const twin = await hub.getTwin('keep')
      assert.equal((twin.properties as { desired: { a: number } }).desired.a, 1)
      assert.equal((await rest(hub, 'GET', '/devices/keep/modules/m')).status, 200)
      const groups = (await rest(hub, 'GET', '/_emulator/dps/enrollmentGroups')).body as Array<{
        attestation: { symmetricKey: { primaryKey: string } }
      }>
      assert.equal(groups[0]?.attestation.symmetricKey.primaryKey, group.primaryKey)
      const client = await connect(hub, {
        clientId: 'keep',
        username: 'localhost/keep/?api-version=2021-04-12',
        password: hmacToken('localhost/devices/keep', KEY, nowS() + 60),
      })
      client.end(true)
    } finally {
      await hub.close()
    }
  })

  it('the CA and server certificate are kept in the state directory, the server one covering the host names', async () => {
    const dir = await tempDir()
    const hub = await startHub({ stateDir: dir, hostName: 'myhub.local' })
    await hub.close()
    const files = await readdir(dir)
    for (const f of ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', 'state.json'])
      assert.ok(files.includes(f), f)
    const server = new X509Certificate(await readFile(join(dir, 'server.pem')))
    const ca = new X509Certificate(await readFile(join(dir, 'ca.pem')))
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey))
    assert.equal(server.checkHost('myhub.local'), 'myhub.local')
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1')
    assert.equal(server.checkHost('localhost'), 'localhost')
  })

  for (const [name, content] of [
    ['cut short', '{"format":"sas-token-hub-state","version":1,"policies":[{"keyName":"iothub'],
    ['empty', ''],
    ['not hub state', '{"hello":"world"}'],
    [
      'an invalid device entry',
      '{"format":"sas-token-hub-state","version":1,"policies":[],"devices":{"d":{}},"sessions":{},"dps":{"enrollments":{},"groups":{},"registrations":{}}}',
    ],
  ] as const) {
    it(`a state file that is ${name} is a clear error naming the file, and is left as it is`, async () => {
      const dir = await tempDir()
      const file = join(dir, 'state.json')
      await writeFile(file, content)
      await assert.rejects(startHub({ stateDir: dir }), (err: Error & { code?: string; file?: string }) => {
        assert.equal(err.code, 'ERR_HUB_STATE_CORRUPT')
        assert.ok(err.message.includes(file), err.message)
        assert.equal(err.file, file)
        return true
      })
      assert.equal(await readFile(file, 'utf8'), content)
    })
  }

  it('a leftover temp file from a crash mid-write is ignored; the last complete state loads', async () => {
    const dir = await tempDir()
    const hub = await startHub({ stateDir: dir })
    await hub.addDevice('whole', { primaryKey: KEY })
    await hub.close()
    await writeFile(join(dir, 'state.json.12345.deadbeef.tmp'), '{"format":"sas-token-hub-state","ver')
    const again = await startHub({ stateDir: dir })
    try {
      assert.equal((await rest(again, 'GET', '/devices/whole')).status, 200)
    } finally {
      await again.close()
    }
  })

  it('a hub killed (SIGKILL) in the middle of registry writes restarts with a complete state', async () => {
    const dir = await tempDir()
    const child = spawn(
      process.execPath,
      [BIN, 'hub', '--json', '--state-dir', dir, '--mqtt-port', '0', '--https-port', '0'],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const lines = createInterface({ input: child.stdout })
    const ready = await new Promise<{ ports: { https: number; mqtt: number }; hubConnectionString: string }>(
      (resolve) => lines.once('line', (l) => resolve(JSON.parse(l))),
    )
    const ca = await readFile(join(dir, 'ca.pem'), 'utf8')
    const remote = { ports: ready.ports, ca, hubConnectionString: ready.hubConnectionString }
    let ok = 0
    const puts = Array.from({ length: 200 }, (_, i) =>
      rest(remote, 'PUT', `/devices/k${i}`, { body: {} }).then(
        (r) => {
          if (r.status === 200) ok++
        },
        () => undefined,
      ),
    )
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (ok >= 20) {
          clearInterval(timer)
          resolve()
        }
      }, 1)
    })
    child.kill('SIGKILL')
    await Promise.all(puts)
    await new Promise((resolve) => child.once('exit', resolve))
    const hub = await startHub({ stateDir: dir })
    try {
      const list = (await rest(hub, 'GET', '/devices')).body as unknown[]
      assert.ok(Array.isArray(list))
    } finally {
      await hub.close()
    }
  })

  it('a device named __proto__ is stored, found, and kept through state.json across a restart', async () => {
    const dir = await tempDir()
    let hub: Hub = await startHub({ stateDir: dir })
    try {
      assert.equal((await rest(hub, 'PUT', '/devices/__proto__', { body: {} })).status, 200)
      assert.equal((await rest(hub, 'GET', '/devices/__proto__')).status, 200)
      assert.equal((await rest(hub, 'GET', '/devices/constructor')).status, 404)
    } finally {
      await hub.close()
    }
    const text = await readFile(join(dir, 'state.json'), 'utf8')
    assert.ok(Object.hasOwn(JSON.parse(text).devices, '__proto__'), 'state.json holds the device')
    hub = await startHub({ stateDir: dir })
    try {
      const found = await rest(hub, 'GET', '/devices/__proto__')
      assert.equal(found.status, 200)
      assert.equal((found.body as { deviceId?: string }).deviceId, '__proto__')
    } finally {
      await hub.close()
    }
  })

  it('hand-edited state that would crash later is refused at start, naming the file and the JSON path', async () => {
    const dir = await tempDir()
    const hub = await startHub({ stateDir: dir })
    await hub.addDevice('d1', { primaryKey: KEY })
    await hub.close()
    const good = await readFile(join(dir, 'state.json'), 'utf8')
    const cases: [string, (s: { devices: Record<string, Record<string, unknown>> }) => void, string][] = [
      [
        'a sas device without keys',
        (s) => Object.assign(s.devices.d1?.device ?? {}, { authentication: { type: 'sas' } }),
        '$["devices"]["d1"]["device"]["authentication"]',
      ],
      [
        'an empty C2D message',
        (s) => Object.assign(s.devices.d1 ?? {}, { c2d: [{}] }),
        '$["devices"]["d1"]["c2d"][0]',
      ],
      [
        'a module without an identity',
        (s) => Object.assign(s.devices.d1 ?? {}, { modules: { m1: {} } }),
        '$["devices"]["d1"]["modules"]["m1"]',
      ],
    ]
    for (const [what, edit, path] of cases) {
      const state = JSON.parse(good)
      edit(state)
      await writeFile(join(dir, 'state.json'), JSON.stringify(state))
      await assert.rejects(startHub({ stateDir: dir }), (err: Error & { code?: string; file?: string }) => {
        assert.equal(err.code, 'ERR_HUB_STATE_CORRUPT', what)
        assert.equal(err.file, join(dir, 'state.json'))
        assert.ok(err.message.includes(path), `${what}: ${err.message}`)
        return true
      })
    }
    await writeFile(join(dir, 'state.json'), `\uFEFF${good}`)
    const again = await startHub({ stateDir: dir })
    await again.close()
  })

  it('--in-memory (inMemory) writes nothing, even with a state directory', async () => {
    const dir = await tempDir()
    const hub = await startHub({ stateDir: dir, inMemory: true })
    await hub.addDevice('x')
    await hub.close()
    assert.deepEqual(await readdir(dir), [])
  })

  it('the first state write happens on start, and later changes are written by close()', async () => {
    const dir = await tempDir()
    const hub = await startHub({ stateDir: dir })
    const initial = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
      devices: Record<string, unknown>
    }
    assert.deepEqual(initial.devices, {})
    await hub.addDevice('later', { primaryKey: KEY })
    await hub.close()
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
      devices: Record<string, unknown>
    }
    assert.ok('later' in state.devices)
  })
})
