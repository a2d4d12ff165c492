// `sas-token hub`, the start command, run as users run it: the ready line, the NDJSON log,
// a real device connecting with a printed connection string, a clean SIGTERM, and the errors
// for an unsafe bind and a taken port.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import mqtt from 'mqtt'
import { mqttCredentials } from 'sas-token'
import { startHub } from 'sas-token/hub'
import { BIN, cleanEnv, cli } from './support/cli.js'

interface Ready {
  event: string
  hubConnectionString: string
  caPath: string | null
  ca?: string
  hostName: string
  ports: { mqtt: number; https: number }
  devices: Record<string, string>
}

describe('sas-token hub', () => {
  it('--json: the first line is ready; a device connects with its printed string; events are NDJSON; SIGTERM exits 0', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'hub',
        '--json',
        '--in-memory',
        '--mqtt-port',
        '0',
        '--https-port',
        '0',
        '--device',
        'dev1',
        '--device',
        'dev2',
      ],
      {
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const lines = createInterface({ input: child.stdout })
    const queue: string[] = []
    const waiters: Array<(l: string) => void> = []
    lines.on('line', (l) => {
      const w = waiters.shift()
      if (w) w(l)
      else queue.push(l)
    })
    const nextLine = (): Promise<string> =>
      new Promise((resolve) => (queue.length > 0 ? resolve(queue.shift() ?? '') : waiters.push(resolve)))
    const ready = JSON.parse(await nextLine()) as Ready
    assert.equal(ready.event, 'ready')
    assert.match(
      ready.hubConnectionString,
      /^HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=/,
    )
    assert.equal(ready.hostName, 'localhost')
    assert.ok(ready.ports.mqtt > 0 && ready.ports.https > 0)
    assert.deepEqual(Object.keys(ready.devices), ['dev1', 'dev2'])
    const c = mqttCredentials(ready.devices.dev1 ?? '')
    const client = mqtt.connect({
      host: '127.0.0.1',
      port: ready.ports.mqtt,
      protocol: 'mqtts',
      ca: ready.ca ?? '',
      servername: 'localhost',
      clientId: c.clientId,
      username: c.username,
      password: c.password ?? '',
      reconnectPeriod: 0,
    })
    await new Promise((resolve, reject) => {
      client.once('connect', resolve)
      client.once('error', reject)
    })
    client.publish('devices/dev1/messages/events/a=1', 'hi', { qos: 1 })
    const seen: Array<Record<string, unknown>> = []
    while (!seen.some((e) => e.event === 'telemetry'))
      seen.push(JSON.parse(await nextLine()) as Record<string, unknown>)
    assert.equal(seen[0]?.event, 'connect')
    const telemetry = seen.find((e) => e.event === 'telemetry')
    assert.deepEqual(telemetry?.properties, { a: '1' })
    assert.ok(!JSON.stringify(seen).includes(c.password ?? 'x'))
    client.end(true)
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    assert.equal(await exit, 0)
  })

  it('without --json it prints how to trust the CA for Node, mosquitto and paho', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-cmd-'))
    try {
      const child = spawn(
        process.execPath,
        [BIN, 'hub', '--state-dir', dir, '--mqtt-port', '0', '--https-port', '0'],
        { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let out = ''
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          if (out.includes('Ctrl-C')) resolve()
        })
      })
      const exit = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exit
      const ca = join(dir, 'ca.pem')
      assert.ok(out.includes(`NODE_EXTRA_CA_CERTS=${ca}`), out)
      assert.ok(out.includes(`--cafile ${ca}`))
      assert.ok(out.includes(`ca_certs="${ca}"`))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("the log line of a module's telemetry names its output (output=NAME)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-cmd-'))
    try {
      // the module is in the state the command starts from
      const before = await startHub({ stateDir: dir })
      await before.addDevice('dev1')
      const { connectionString } = await before.addModule('dev1', 'm1')
      await before.close()
      const child = spawn(
        process.execPath,
        [BIN, 'hub', '--state-dir', dir, '--mqtt-port', '0', '--https-port', '0', '--console-port', '0'],
        { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let out = ''
      const waitFor = (re: RegExp): Promise<RegExpMatchArray> =>
        new Promise((resolve) => {
          const look = (): void => {
            const m = out.match(re)
            if (m) {
              child.stdout.off('data', onData)
              resolve(m)
            }
          }
          const onData = (d: Buffer): void => {
            out += d.toString()
            look()
          }
          child.stdout.on('data', onData)
          look()
        })
      const port = Number((await waitFor(/MQTT\/TLS :(\d+)/))[1])
      const c = mqttCredentials(connectionString)
      const client = mqtt.connect({
        host: '127.0.0.1',
        port,
        protocol: 'mqtts',
        ca: await readFile(join(dir, 'ca.pem'), 'utf8'),
        servername: 'localhost',
        clientId: c.clientId,
        username: c.username,
        password: c.password ?? '',
        reconnectPeriod: 0,
      })
      await new Promise((resolve, reject) => {
        client.once('connect', resolve)
        client.once('error', reject)
      })
      client.publish('devices/dev1/modules/m1/messages/events/%24.on=alerts&a=1', 'hot', { qos: 1 })
      const line = (await waitFor(/^(.* telemetry .*)\n/m))[1] ?? ''
      client.end(true)
      const exit = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exit
      assert.match(line, / telemetry +dev1\/m1 mqtt output=alerts hot properties=\{"a":"1"\}$/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('hub devices list --device: a module row shows the status its device has (modules have none of their own)', async () => {
    const hub = await startHub()
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-cmd-'))
    try {
      await writeFile(join(dir, 'ca.pem'), hub.ca)
      const env = {
        NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
        IOTHUB_CONNECTION_STRING: hub.hubConnectionString,
        SAS_TOKEN_HUB_ENDPOINT: `https://localhost:${hub.ports.https}`,
      }
      await hub.addDevice('on')
      await hub.addModule('on', 'm1')
      await hub.addDevice('off', { status: 'disabled' })
      await hub.addModule('off', 'm1')
      const on = await cli(['hub', 'devices', 'list', '--device', 'on'], { env })
      assert.equal(on.code, 0, on.stderr)
      assert.equal(on.stdout, 'on/m1\tenabled\tDisconnected\n')
      const off = await cli(['hub', 'devices', 'list', '--device', 'off'], { env })
      assert.equal(off.code, 0, off.stderr)
      assert.equal(off.stdout, 'off/m1\tdisabled\tDisconnected\n')
    } finally {
      await hub.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('--bind beyond loopback with the development key is refused (exit 1, ERR_HUB_INSECURE_BIND)', async () => {
    const r = await cli([
      'hub',
      '--json',
      '--in-memory',
      '--bind',
      '0.0.0.0',
      '--mqtt-port',
      '0',
      '--https-port',
      '0',
    ])
    assert.equal(r.code, 1)
    assert.equal(JSON.parse(r.stderr).error.code, 'ERR_HUB_INSECURE_BIND')
    assert.equal(r.stdout, '')
  })

  it('an owner key that is not base64 is refused naming where it came from, never the key', async () => {
    const args = ['hub', '--json', '--in-memory', '--mqtt-port', '0', '--https-port', '0']
    const cases: Array<[string, string[], Record<string, string>]> = [
      ['--owner-key', ['--owner-key', 'c2VjcmV0-a2V5'], {}],
      ['SAS_TOKEN_HUB_OWNER_KEY', [], { SAS_TOKEN_HUB_OWNER_KEY: 'c2VjcmV0-a2V5' }],
    ]
    for (const [source, extra, env] of cases) {
      const r = await cli([...args, ...extra], { env })
      assert.equal(r.code, 1, r.stderr)
      const { error } = JSON.parse(r.stderr) as { error: { code: string; message: string } }
      assert.equal(error.code, 'ERR_INVALID_KEY')
      assert.ok(error.message.startsWith(`${source} is not valid base64`), error.message)
      assert.ok(!r.stderr.includes('c2VjcmV0'), 'the key is never echoed')
    }
  })

  it('an explicit port that is taken is an error (exit 1, ERR_HUB_PORT_UNAVAILABLE)', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()))
    const port = (blocker.address() as { port: number }).port
    try {
      const r = await cli(['hub', '--json', '--in-memory', '--mqtt-port', String(port), '--https-port', '0'])
      assert.equal(r.code, 1)
      const error = JSON.parse(r.stderr).error
      assert.equal(error.code, 'ERR_HUB_PORT_UNAVAILABLE')
      assert.match(error.message, new RegExp(String(port)))
    } finally {
      blocker.close()
    }
  })

  it('a corrupt state file: exit 1 with ERR_HUB_STATE_CORRUPT naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-cmd-'))
    try {
      const { writeFile } = await import('node:fs/promises')
      await writeFile(join(dir, 'state.json'), '{"format":"sas-token-hub-state","vers')
      const r = await cli(['hub', '--state-dir', dir, '--mqtt-port', '0', '--https-port', '0'])
      assert.equal(r.code, 1)
      assert.ok(r.stderr.includes(join(dir, 'state.json')), r.stderr)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('sas-token hub: the start options are the start command’s own (issue 15, item 9)', () => {
  const START_OPTIONS = [
    '--in-memory',
    '--state-dir',
    '--mqtt-port',
    '--https-port',
    '--device',
    '--owner-key',
  ]
  for (const sub of [
    ['devices', 'add'],
    ['devices', 'list'],
    ['twin'],
    ['call'],
    ['send'],
    ['watch'],
    ['dps', 'enroll'],
    ['dps', 'list'],
  ]) {
    it(`hub ${sub.join(' ')} --help lists none of them`, async () => {
      const r = await cli(['hub', ...sub, '--help'])
      assert.equal(r.code, 0, r.stderr)
      for (const option of START_OPTIONS)
        assert.ok(!new RegExp(`^\\s+${option}(?![\\w-])`, 'm').test(r.stdout), `${option} in:\n${r.stdout}`)
    })
  }
  it('hub devices add dev1 --in-memory is an unknown argument (exit 2), not ignored', async () => {
    const r = await cli(['hub', 'devices', 'add', 'dev1', '--in-memory', '--endpoint', 'https://127.0.0.1:1'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /Unknown arguments?: in-memory/)
  })
  it('hub --in-memory --state-dir is still refused', async () => {
    const r = await cli(['hub', '--in-memory', '--state-dir', '/tmp/x'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /in-memory and state-dir are mutually exclusive/)
  })
})
