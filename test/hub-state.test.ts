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

describe('hub state is validated deeply at load (issue 20, item 8)', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })
  const BAD_KEY = `${KEY.slice(0, -4)}ab-=` // one URL-safe character: not standard base64
  /** A state directory written by a real hub (dev1 with KEY and module m0), then edited. */
  const editedState = async (
    edit: (state: {
      policies: Array<Record<string, unknown>>
      devices: Record<string, Record<string, unknown> & { device: Record<string, unknown> }>
    }) => void,
  ): Promise<{ dir: string; file: string; text: string }> => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-'))
    dirs.push(dir)
    const hub = await startHub({ stateDir: dir })
    await hub.addDevice('dev1', { primaryKey: KEY })
    await hub.addModule('dev1', 'm0', { primaryKey: KEY })
    await hub.close()
    const file = join(dir, 'state.json')
    const state = JSON.parse(await readFile(file, 'utf8'))
    edit(state)
    const text = JSON.stringify(state)
    await writeFile(file, text)
    return { dir, file, text }
  }
  const refused = async (dir: string, file: string, path: string, expected: RegExp): Promise<string> => {
    let message = ''
    await assert.rejects(startHub({ stateDir: dir }), (err: Error & { code?: string; file?: string }) => {
      assert.equal(err.code, 'ERR_HUB_STATE_CORRUPT', err.message)
      assert.equal(err.file, file)
      assert.ok(err.message.includes(file), err.message)
      assert.ok(
        new RegExp(` ${path.replace(/[.[\]]/g, '\\$&')}[: ]`).test(err.message),
        `${path} in: ${err.message}`,
      )
      assert.match(err.message, expected)
      assert.match(err.message, /move it away/)
      assert.ok(!err.message.includes(KEY) && !err.message.includes(BAD_KEY), err.message)
      message = err.message
      return true
    })
    return message
  }

  it('authentication {type:"sas"} without keys names devices.dev1.device.authentication.symmetricKey', async () => {
    const { dir, file, text } = await editedState((s) => {
      const entry = s.devices.dev1
      if (entry) entry.device.authentication = { type: 'sas' }
    })
    await refused(dir, file, 'devices.dev1.device.authentication.symmetricKey', /expected an object/)
    assert.equal(await readFile(file, 'utf8'), text, 'left as it is')
  })

  it('a device key that is not base64 names its JSON path and the reason, never the key', async () => {
    const { dir, file } = await editedState((s) => {
      const entry = s.devices.dev1
      if (entry)
        entry.device.authentication = {
          type: 'sas',
          symmetricKey: { primaryKey: BAD_KEY, secondaryKey: KEY },
        }
    })
    await refused(dir, file, 'devices.dev1.device.authentication.symmetricKey.primaryKey', /URL-safe/)
  })

  it('c2d: [{}] names devices.dev1.c2d[0].messageId', async () => {
    const { dir, file } = await editedState((s) => {
      const entry = s.devices.dev1
      if (entry) entry.c2d = [{}]
    })
    await refused(dir, file, 'devices.dev1.c2d[0].messageId', /expected a string, but it is missing/)
  })

  it('modules: {m1: {}} names devices.dev1.modules.m1', async () => {
    const { dir, file } = await editedState((s) => {
      const entry = s.devices.dev1
      if (entry) entry.modules = { m1: {} }
    })
    await refused(dir, file, 'devices.dev1.modules.m1.deviceId', /expected a string/)
  })

  it("the iothubowner policy's key in state.json that is not base64 names policies[0].primaryKey", async () => {
    const { dir, file } = await editedState((s) => {
      const owner = s.policies[0]
      if (owner) owner.primaryKey = BAD_KEY
    })
    const message = await refused(dir, file, 'policies[0].primaryKey', /not valid base64/)
    assert.match(message, /iothubowner/)
  })

  it('a UTF-8 BOM at the start of state.json is accepted', async () => {
    const { dir, file, text } = await editedState(() => undefined)
    await writeFile(file, `\uFEFF${text}`)
    const hub = await startHub({ stateDir: dir })
    try {
      assert.equal((await rest(hub, 'GET', '/devices/dev1/modules/m0')).status, 200)
    } finally {
      await hub.close()
    }
  })

  for (const [source, args, env] of [
    ['--owner-key', ['--owner-key', 'x'], {}],
    ['SAS_TOKEN_HUB_OWNER_KEY', [], { SAS_TOKEN_HUB_OWNER_KEY: 'x' }],
  ] as const) {
    it(`an owner key from ${source} that is not base64 names ${source}, never the key`, async () => {
      const badKey = `${KEY.slice(0, -4)}a_b=`
      const argv = [BIN, 'hub', '--in-memory', '--mqtt-port', '0', '--https-port', '0', '--no-console']
      const child = spawn(process.execPath, [...argv, ...(args.length > 0 ? ['--owner-key', badKey] : [])], {
        env: { ...cleanEnv(), ...(Object.keys(env).length > 0 ? { SAS_TOKEN_HUB_OWNER_KEY: badKey } : {}) },
      })
      let stderr = ''
      let stdout = ''
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
      })
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
      assert.notEqual(code, 0, stdout)
      assert.ok(stderr.includes(source), stderr)
      assert.match(stderr, /not valid base64/)
      assert.ok(!stderr.includes(badKey) && !stdout.includes(badKey), stderr)
    })
  }

  it('a state written by the hub with everything in it loads again (round trip)', {
    timeout: 60_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-'))
    dirs.push(dir)
    const GROUP_KEY = Buffer.alloc(64, 3).toString('base64')
    let hub = await startHub({ stateDir: dir })
    await hub.addDevice('dev1', { primaryKey: KEY })
    await hub.addModule('dev1', 'm1', { primaryKey: KEY })
    assert.equal(
      (
        await rest(hub, 'PUT', '/devices/x509', {
          body: {
            deviceId: 'x509',
            authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'AB'.repeat(20) } },
          },
        })
      ).status,
      200,
    )
    assert.equal(
      (
        await rest(hub, 'PUT', '/devices/ca-dev', {
          body: { deviceId: 'ca-dev', authentication: { type: 'certificateAuthority' } },
        })
      ).status,
      200,
    )
    await hub.updateDesired('dev1', { a: { b: 1 } })
    assert.equal((await rest(hub, 'PATCH', '/twins/dev1', { body: { tags: { site: 'x' } } })).status, 200)
    assert.equal(
      (await rest(hub, 'PUT', '/_emulator/dps/enrollments/r1', { body: { deviceId: 'from-r1' } })).status,
      200,
    )
    await hub.addEnrollmentGroup('g1', { primaryKey: GROUP_KEY })
    assert.equal(
      (await rest(hub, 'PUT', '/_emulator/certificates/mine', { body: { certificate: hub.ca } })).status,
      200,
    )
    // a CleanSession 0 subscription (sessions) and a DPS registration (registrations)
    const device = await connect(hub, dev(false))
    await device.subscribeAsync('devices/dev1/messages/devicebound/#', { qos: 1 })
    const { createHmac } = await import('node:crypto')
    const derived = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update('reg-1').digest('base64')
    const dps = await connect(hub, {
      clientId: 'reg-1',
      username: '0ne00000000/registrations/reg-1/api-version=2019-03-31',
      password: hmacToken('0ne00000000/registrations/reg-1', derived, nowS() + 60, 'registration'),
    })
    await dps.subscribeAsync('$dps/registrations/res/#')
    let res = nextMessage(dps, '$dps/registrations/res/')
    dps.publish('$dps/registrations/PUT/iotdps-register/?$rid=1', JSON.stringify({ registrationId: 'reg-1' }))
    const { operationId } = JSON.parse((await res).payload.toString())
    for (let rid = 2; ; rid++) {
      res = nextMessage(dps, '$dps/registrations/res/')
      dps.publish(
        `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${encodeURIComponent(operationId)}`,
        '',
      )
      if (/^\$dps\/registrations\/res\/200\//.test((await res).topic)) break
    }
    dps.end(true)
    const gone = nextEvent(hub, (e) => e.event === 'disconnect' && e.deviceId === 'dev1')
    device.end()
    await gone
    await hub.sendC2d('dev1', 'queued', { messageId: 'q1', properties: { k: 'v' } })
    await hub.close()
    const written = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'))
    assert.ok(Object.keys(written.sessions).includes('dev1'))
    assert.ok(Object.keys(written.dps.registrations).includes('reg-1'))
    assert.ok(Object.keys(written.certificates).includes('mine'))
    assert.equal(written.devices.dev1.c2d.length, 1)

    hub = await startHub({ stateDir: dir })
    try {
      for (const path of [
        '/devices/dev1',
        '/devices/dev1/modules/m1',
        '/devices/x509',
        '/devices/ca-dev',
        '/devices/reg-1',
      ])
        assert.equal((await rest(hub, 'GET', path)).status, 200, path)
      const twin = (await rest(hub, 'GET', '/twins/dev1')).body as {
        tags: { site: string }
        properties: { desired: { a: { b: number } } }
      }
      assert.equal(twin.tags.site, 'x')
      assert.equal(twin.properties.desired.a.b, 1)
      assert.equal(
        ((await rest(hub, 'GET', '/_emulator/dps/enrollments')).body as Array<{ registrationId: string }>)[0]
          ?.registrationId,
        'r1',
      )
      const cas = (await rest(hub, 'GET', '/_emulator/certificates')).body as Array<{ name: string }>
      assert.ok(cas.some((c) => c.name === 'mine'))
      const again = await connect(hub, dev(false))
      const message = await nextMessage(again, 'devices/dev1/messages/devicebound/')
      assert.equal(message.payload.toString(), 'queued')
      again.end(true)
    } finally {
      await hub.close()
    }
  })
})

describe('ids such as __proto__ and constructor are ordinary keys (issue 20, item 13)', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('PUT /devices/__proto__ then GET finds it, with modules __proto__ and constructor, across a restart', {
    timeout: 60_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-'))
    dirs.push(dir)
    let hub = await startHub({ stateDir: dir })
    try {
      for (const id of ['__proto__', 'constructor', 'toString']) {
        const put = await rest(hub, 'PUT', `/devices/${id}`, { body: { deviceId: id } })
        assert.equal(put.status, 200, put.text)
        assert.equal((await rest(hub, 'GET', `/devices/${id}`)).status, 200, id)
      }
      assert.equal((await rest(hub, 'GET', '/devices/hasOwnProperty')).status, 404)
      for (const m of ['__proto__', 'constructor']) {
        const put = await rest(hub, 'PUT', `/devices/__proto__/modules/${m}`, {
          body: { deviceId: '__proto__', moduleId: m },
        })
        assert.equal(put.status, 200, put.text)
      }
      assert.equal((await rest(hub, 'GET', '/devices/__proto__/modules/valueOf')).status, 404)
      const patch = await rest(hub, 'PATCH', '/twins/__proto__', {
        body: '{"tags":{"__proto__":{"polluted":1}},"properties":{"desired":{"__proto__":{"polluted":2}}}}',
      })
      assert.equal(patch.status, 200, patch.text)
      const twin = JSON.parse((await rest(hub, 'GET', '/twins/__proto__')).text)
      assert.deepEqual(Object.getOwnPropertyDescriptor(twin.tags, '__proto__')?.value, { polluted: 1 })
      assert.deepEqual(Object.getOwnPropertyDescriptor(twin.properties.desired, '__proto__')?.value, {
        polluted: 2,
      })
      assert.equal(({} as { polluted?: unknown }).polluted, undefined)
    } finally {
      await hub.close()
    }
    hub = await startHub({ stateDir: dir })
    try {
      const list = (await rest(hub, 'GET', '/devices')).body as Array<{ deviceId: string }>
      assert.deepEqual(list.map((d) => d.deviceId).sort(), ['__proto__', 'constructor', 'toString'])
      for (const path of [
        '/devices/__proto__',
        '/devices/__proto__/modules/__proto__',
        '/devices/__proto__/modules/constructor',
      ])
        assert.equal((await rest(hub, 'GET', path)).status, 200, path)
      const twin = JSON.parse((await rest(hub, 'GET', '/twins/__proto__')).text)
      assert.deepEqual(Object.getOwnPropertyDescriptor(twin.tags, '__proto__')?.value, { polluted: 1 })
    } finally {
      await hub.close()
    }
  })
})
