// `sas-token mqtt`: CONNECT settings and topics in every format, for devices, modules, policies
// and DPS; the mosquitto commands are checked for the shell pitfalls users hit.
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { selfSignedCertificate } from './support/certificate.js'
import { startFakeHub, type FakeHub } from './support/iot-hub-broker.js'
import { cli } from './support/cli.js'
import { everyVariableSet, readBatch, readPowerShell } from './support/shell-readers.js'
import {
  AT_VECTOR_TIME,
  DEVICE_CS,
  GROUP_KEY,
  HOST,
  KEY,
  MODULE_CS,
  SECRET_FRAGMENT,
  SECRET_KEY,
  SE,
  SERVICE_CS,
  VECTORS,
} from './support/fixtures.js'

const env = AT_VECTOR_TIME

interface MqttJson {
  host: string
  port: number
  transport: string
  url?: string
  protocolVersion: number
  clientId: string
  username: string
  password: string | null
  expiresAt: string | null
  expiresAtEpoch: number | null
  publish: string
  subscribe: string[]
}

async function json(args: string[], extraEnv: Record<string, string> = {}): Promise<MqttJson> {
  const r = await cli(['mqtt', ...args, '--json'], { env: { ...env, ...extraEnv } })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as MqttJson
}

describe('mqtt: settings', () => {
  it('a device, as JSON', async () => {
    assert.deepEqual(await json(['-c', DEVICE_CS]), {
      host: HOST,
      port: 8883,
      transport: 'tls',
      protocolVersion: 4,
      clientId: 'dev1',
      username: `${HOST}/dev1/?api-version=2021-04-12`,
      password: VECTORS.device,
      expiresAt: '2023-11-14T22:13:20.000Z',
      expiresAtEpoch: 1_700_000_000,
      publish: 'devices/dev1/messages/events/',
      subscribe: [
        'devices/dev1/messages/devicebound/#',
        '$iothub/methods/POST/#',
        '$iothub/twin/res/#',
        '$iothub/twin/PATCH/properties/desired/#',
      ],
    })
  })
  it('a module subscribes to its inputs', async () => {
    const m = await json(['-c', MODULE_CS])
    assert.equal(m.clientId, 'dev1/mod1')
    assert.equal(m.username, `${HOST}/dev1/mod1/?api-version=2021-04-12`)
    assert.equal(m.password, VECTORS.module)
    assert.equal(m.publish, 'devices/dev1/modules/mod1/messages/events/')
    assert.equal(m.subscribe[0], 'devices/dev1/modules/mod1/inputs/#')
  })
  it('--api-version and --model-id go into the username', async () => {
    const m = await json([
      '-c',
      DEVICE_CS,
      '--api-version',
      '2020-09-30',
      '--model-id',
      'dtmi:com:example:Thermostat;1',
    ])
    assert.equal(
      m.username,
      `${HOST}/dev1/?api-version=2020-09-30&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1`,
    )
  })
  it('--websocket: port 443 and the wss URL', async () => {
    const m = await json(['-c', DEVICE_CS, '--websocket'])
    assert.equal(m.port, 443)
    assert.equal(m.transport, 'websocket')
    assert.equal(m.url, `wss://${HOST}/$iothub/websocket`)
  })
  it('a gateway: host is the gateway, the username keeps the hub', async () => {
    const m = await json(['-c', `${DEVICE_CS};GatewayHostName=edge.local`])
    assert.equal(m.host, 'edge.local')
    assert.equal(m.username, `${HOST}/dev1/?api-version=2021-04-12`)
  })
  it('a service string with --device-id: a policy password, with a warning', async () => {
    const r = await cli(['mqtt', '-c', SERVICE_CS, '--device-id', 'dev1', '--json'], { env })
    assert.equal(r.code, 0)
    assert.equal((JSON.parse(r.stdout) as MqttJson).password, VECTORS.devicePolicy)
    assert.match(
      r.stderr,
      /^sas-token: warning: this is a policy token \(skn=iothubowner\); as device dev1's MQTT password/,
    )
  })
  it('an X.509 device has no password', async () => {
    const m = await json(['-c', `HostName=${HOST};DeviceId=dev1;x509=true`])
    assert.equal(m.password, null)
    assert.equal(m.expiresAt, null)
  })
  it('a SharedAccessSignature string keeps its own token', async () => {
    const m = await json(['-c', `HostName=${HOST};DeviceId=dev1;SharedAccessSignature=${VECTORS.device}`])
    assert.equal(m.password, VECTORS.device)
  })
  it('DPS: registration settings', async () => {
    const m = await json([
      '--dps',
      '--id-scope',
      '0ne00000A0A',
      '--registration-id',
      'my-device-01',
      '--group-key',
      GROUP_KEY,
    ])
    assert.equal(m.host, 'global.azure-devices-provisioning.net')
    assert.equal(m.clientId, 'my-device-01')
    assert.equal(m.username, '0ne00000A0A/registrations/my-device-01/api-version=2019-03-31')
    assert.equal(m.password, VECTORS.dps)
    assert.equal(m.publish, '$dps/registrations/PUT/iotdps-register/?$rid=1')
    assert.deepEqual(m.subscribe, ['$dps/registrations/res/#'])
  })
})

describe('mqtt: formats', () => {
  it('text: one aligned line per field and topic', async () => {
    const r = await cli(['mqtt', '-c', DEVICE_CS], { env })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^host\s+myhub\.azure-devices\.net$/m)
    assert.match(r.stdout, /^port\s+8883$/m)
    assert.match(r.stdout, /^clientId\s+dev1$/m)
    assert.match(r.stdout, /^username\s+myhub\.azure-devices\.net\/dev1\/\?api-version=2021-04-12$/m)
    assert.ok(r.stdout.includes(`password   ${VECTORS.device}\n`))
    assert.match(r.stdout, /^publish\s+devices\/dev1\/messages\/events\/$/m)
    assert.equal(r.stdout.match(/^subscribe\s/gm)?.length, 4)
  })
  it('env: export lines that eval to the settings', async () => {
    const r = await cli(['mqtt', '-c', DEVICE_CS, '--format', 'env'], { env })
    assert.equal(r.code, 0)
    const out = execFileSync(
      'bash',
      [
        '-c',
        `${r.stdout}\nprintf '%s\\n' "$MQTT_HOST" "$MQTT_PORT" "$MQTT_CLIENT_ID" "$MQTT_USERNAME" "$MQTT_PASSWORD" "$MQTT_PUBLISH_TOPIC"`,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(
      out,
      [
        HOST,
        '8883',
        'dev1',
        `${HOST}/dev1/?api-version=2021-04-12`,
        VECTORS.device,
        'devices/dev1/messages/events/',
        '',
      ].join('\n'),
    )
  })
  it('powershell and cmd: the same variables as env, read back by rule (no pwsh or cmd.exe here)', async () => {
    // A device id with ' ! % $ (all allowed by IoT Hub) is what the quoting is for.
    const cs = `HostName=${HOST};DeviceId=it's!100%$x;SharedAccessKey=${KEY}`
    const envOut = await cli(['mqtt', '-c', cs, '--format', 'env'], { env })
    assert.equal(envOut.code, 0, envOut.stderr)
    const names = [...envOut.stdout.matchAll(/^export ([A-Z_]+)=/gm)].map((m) => m[1])
    const values = execFileSync(
      'bash',
      ['-c', `${envOut.stdout}\nfor n in ${names.join(' ')}; do printf '%s\\0' "\${!n}"; done`],
      { encoding: 'utf8' },
    ).split('\0')
    const expected = names.map((name, i) => [name, values[i]])
    assert.equal(expected.length, 7) // no MQTT_URL without --websocket
    assert.ok(expected.some(([, v]) => v === "it's!100%$x"))
    const ps = await cli(['mqtt', '-c', cs, '--format', 'powershell'], { env })
    assert.equal(ps.code, 0, ps.stderr)
    assert.match(ps.stdout, /^\$env:MQTT_CLIENT_ID = 'it''s!100%\$x'$/m)
    assert.deepEqual(readPowerShell(ps.stdout), expected)
    const cmd = await cli(['mqtt', '-c', cs, '--format', 'cmd'], { env })
    assert.equal(cmd.code, 0, cmd.stderr)
    assert.match(cmd.stdout, /^@if "!!"==""/, 'a value holds !: the delayed-expansion check comes first')
    assert.match(cmd.stdout, /^@set "MQTT_CLIENT_ID=it's!100%%\$x"$/m)
    assert.deepEqual(readBatch(cmd.stdout, everyVariableSet(false)), { set: expected })
    assert.ok('stopped' in readBatch(cmd.stdout, everyVariableSet(true)))
  })
  it('mosquitto: -V mqttv311, -p 8883, --capath by default, quoted topics that bash leaves alone', async () => {
    const r = await cli(['mqtt', '-c', DEVICE_CS, '--format', 'mosquitto'], { env })
    assert.equal(r.code, 0)
    const lines = r.stdout.split('\n')
    const pub = lines.find((l) => l.startsWith('mosquitto_pub '))
    const sub = lines.find((l) => l.startsWith('mosquitto_sub '))
    assert.ok(pub !== undefined && sub !== undefined)
    for (const command of [pub, sub]) {
      assert.ok(command.includes(' -V mqttv311 '))
      assert.ok(command.includes(' -p 8883 '))
      assert.ok(command.includes(" --capath '/etc/ssl/certs' "))
      assert.ok(command.includes(` -P '${VECTORS.device}' `))
    }
    assert.ok(sub.includes(" -t '$iothub/methods/POST/#'"))
    assert.ok(sub.includes(" -t '$iothub/twin/PATCH/properties/desired/#'"))
    // What bash passes to the program is exactly the topic and the token.
    const argv = execFileSync('bash', ['-c', `printf '%s\\n' ${sub.slice('mosquitto_sub '.length)}`], {
      encoding: 'utf8',
    }).split('\n')
    assert.ok(argv.includes('$iothub/methods/POST/#'))
    assert.ok(argv.includes(VECTORS.device))
    // Every non-command line is a comment, so the whole output runs as a script.
    assert.ok(lines.filter((l) => l !== '').every((l) => l.startsWith('#') || l.startsWith('mosquitto_')))
  })
  it('mosquitto: says to run one command at a time (one connection per identity)', async () => {
    const r = await cli(['mqtt', '-c', DEVICE_CS, '--format', 'mosquitto'], { env })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^# .*one connection per identity/m)
    assert.match(r.stdout, /^# run one at a time/m)
    assert.doesNotMatch(r.stdout, /DPS/)
    const dps = await cli(
      [
        'mqtt',
        '--dps',
        '--id-scope',
        '0ne00000A0A',
        '--registration-id',
        'dev1',
        '--key',
        KEY,
        '--format',
        'mosquitto',
      ],
      { env },
    )
    assert.equal(dps.code, 0)
    assert.match(dps.stdout, /^# DPS sends the registration response only to the connection that published/m)
    assert.match(dps.stdout, /^# mosquitto_sub cannot see it/m)
  })
  it('mosquitto: --cafile, --port', async () => {
    const r = await cli(
      ['mqtt', '-c', DEVICE_CS, '--format', 'mosquitto', '--cafile', "/tmp/it's.pem", '--port', '18883'],
      { env },
    )
    assert.equal(r.code, 0)
    assert.ok(r.stdout.includes(` -p 18883 --cafile '/tmp/it'\\''s.pem' `))
  })
  it('paho: a Python snippet with the settings', async () => {
    const r = await cli(['mqtt', '-c', DEVICE_CS, '--format', 'paho'], { env })
    assert.equal(r.code, 0)
    assert.ok(r.stdout.includes('import paho.mqtt.client as mqtt'))
    assert.ok(r.stdout.includes(`HOST = "${HOST}"`))
    assert.ok(r.stdout.includes(`PASSWORD = "${VECTORS.device}"`))
    assert.ok(r.stdout.includes('protocol=mqtt.MQTTv311'))
    assert.ok(r.stdout.includes('client.tls_set('))
    assert.ok(r.stdout.includes('client.connect(HOST, port=PORT)'))
    const ws = await cli(['mqtt', '-c', DEVICE_CS, '--format', 'paho', '--websocket'], { env })
    assert.ok(ws.stdout.includes('transport="websockets"'))
    assert.ok(ws.stdout.includes('PORT = 443'))
    assert.ok(ws.stdout.includes('ws_set_options(path="/$iothub/websocket")'))
  })
  it('paho: X.509 gets certfile and keyfile placeholders; --capath goes into an SSL context', async () => {
    const x509 = `HostName=${HOST};DeviceId=dev1;x509=true`
    const r = await cli(['mqtt', '-c', x509, '--format', 'paho'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.stdout.includes('PASSWORD = None'))
    assert.ok(r.stdout.includes('CERTFILE = "device.pem"'))
    assert.ok(r.stdout.includes('KEYFILE = "device.key"'))
    assert.ok(r.stdout.includes('client.tls_set(ca_certs=CA_CERTS, certfile=CERTFILE, keyfile=KEYFILE, '))
    const capath = await cli(['mqtt', '-c', x509, '--format', 'paho', '--capath', '/opt/ca'], { env })
    assert.equal(capath.code, 0, capath.stderr)
    assert.ok(capath.stdout.includes('CA_PATH = "/opt/ca"'))
    assert.ok(capath.stdout.includes('context = ssl.create_default_context(capath=CA_PATH)'))
    assert.ok(capath.stdout.includes('context.load_cert_chain(CERTFILE, KEYFILE)'))
    assert.ok(capath.stdout.includes('client.tls_set_context(context)'))
    assert.ok(!capath.stdout.includes('client.tls_set('))
    const sas = await cli(['mqtt', '-c', DEVICE_CS, '--format', 'paho'], { env })
    assert.ok(!sas.stdout.includes('CERTFILE'))
  })
  it('--websocket --port: the url keeps the port', async () => {
    const m = await json(['-c', DEVICE_CS, '--websocket', '--port', '8443'])
    assert.equal(m.port, 8443)
    assert.equal(m.url, `wss://${HOST}:8443/$iothub/websocket`)
  })
  it('paho: the snippet is valid Python, when python3 is installed', async (t) => {
    try {
      execFileSync('python3', ['--version'])
    } catch {
      t.skip('python3 is not installed')
      return
    }
    const x509 = `HostName=${HOST};DeviceId=dev1;x509=true`
    for (const args of [
      ['-c', DEVICE_CS],
      ['-c', DEVICE_CS, '--websocket'],
      ['-c', x509],
      ['-c', x509, '--capath', '/opt/ca'],
    ]) {
      const r = await cli(['mqtt', ...args, '--format', 'paho'], { env })
      assert.equal(r.code, 0, r.stderr)
      execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: r.stdout })
    }
  })
})

describe('mqtt: bad input', () => {
  const usage: Array<[string, string[]]> = [
    ['no identity', ['mqtt']],
    ['--resource', ['mqtt', '--resource', HOST, '--key', KEY]],
    ['--websocket with mosquitto', ['mqtt', '-c', DEVICE_CS, '--format', 'mosquitto', '--websocket']],
    ['--cafile and --capath', ['mqtt', '-c', DEVICE_CS, '--cafile', 'a', '--capath', 'b']],
    ['an unknown format', ['mqtt', '-c', DEVICE_CS, '--format', 'curl']],
    ['--port that is no number', ['mqtt', '-c', DEVICE_CS, '--port', 'abc']],
    ['--port 0', ['mqtt', '-c', DEVICE_CS, '--port', '0']],
    ['--port above 65535', ['mqtt', '-c', DEVICE_CS, '--port', '70000']],
    ['--port that is no whole number', ['mqtt', '-c', DEVICE_CS, '--port', '88.5']],
    ['--port given twice', ['mqtt', '-c', DEVICE_CS, '--port', '1883', '--port', '8883']],
  ]
  for (const [what, args] of usage) {
    it(`exit 2: ${what}`, async () => {
      const r = await cli(args, { env })
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stdout, '')
    })
  }
  const failures: Array<[string, string[]]> = [
    ['a service string without --device-id', ['mqtt', '-c', SERVICE_CS]],
    ['a bad api-version', ['mqtt', '-c', DEVICE_CS, '--api-version', 'latest']],
    ['a model id that is no DTMI', ['mqtt', '-c', DEVICE_CS, '--model-id', 'thermostat']],
    ['a bad key', ['mqtt', '--host', HOST, '--device-id', 'dev1', '--key', `${SECRET_KEY}!`]],
  ]
  for (const [what, args] of failures) {
    it(`exit 1: ${what}`, async () => {
      const r = await cli(args, { env })
      assert.equal(r.code, 1, r.stderr)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^sas-token: error: /)
      assert.ok(!r.stderr.includes(SECRET_FRAGMENT))
    })
  }
  it('the key never appears, in any format', async () => {
    const cs = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${SECRET_KEY}`
    for (const format of ['text', 'json', 'env', 'powershell', 'cmd', 'mosquitto', 'paho']) {
      const r = await cli(['mqtt', '-c', cs, '--format', format], { env })
      assert.equal(r.code, 0)
      assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT), format)
    }
  })
})

describe('mqtt --format mosquitto, run verbatim against the TLS fake hub', {
  skip: hasMosquitto() ? false : 'mosquitto-clients not installed (.ci/run installs them)',
}, () => {
  const T0 = SE * 1000
  const tls = selfSignedCertificate(['localhost'])
  const dir = mkdtempSync(join(tmpdir(), 'sas-token-ca-'))
  const cafile = join(dir, 'ca.pem')
  writeFileSync(cafile, tls.cert)
  let hub: FakeHub

  before(async () => {
    hub = await startFakeHub({
      hostName: HOST,
      identities: [{ deviceId: 'dev1', key: KEY }],
      now: () => T0,
      tls,
    })
  })
  after(async () => {
    await hub.close()
  })

  /** The commands the CLI prints for dev1 behind a "gateway" at localhost:port, with this key. */
  async function commands(key: string): Promise<{ pub: string; sub: string }> {
    const cs = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${key};GatewayHostName=localhost`
    const r = await cli(
      ['mqtt', '-c', cs, '--format', 'mosquitto', '--cafile', cafile, '--port', String(hub.port)],
      { env: { SAS_TOKEN_NOW: String(T0) } },
    )
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    return {
      pub: lines.find((l) => l.startsWith('mosquitto_pub ')) ?? '',
      sub: lines.find((l) => l.startsWith('mosquitto_sub ')) ?? '',
    }
  }

  it('mosquitto_pub connects, authenticates and delivers the telemetry message', async () => {
    const { pub } = await commands(KEY)
    await bash(pub)
    assert.deepEqual(hub.telemetry.at(-1), {
      clientId: 'dev1',
      topic: 'devices/dev1/messages/events/',
      payload: '{"hello":"from sas-token"}',
      qos: 1,
    })
  })

  it('mosquitto_sub subscribes to every printed filter and prints a C2D message', async () => {
    const { sub } = await commands(KEY)
    const child = spawn('bash', ['-c', `exec ${sub}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
      const filters = new Set<string>()
      await new Promise<void>((resolve, reject) => {
        child.on('exit', (code) => reject(new Error(`mosquitto_sub exited ${code}`)))
        hub.events.on('subscribe', ({ clientId, filter }: { clientId: string; filter: string }) => {
          if (clientId === 'dev1') filters.add(filter)
          if (filters.size === 4) resolve()
        })
      })
      await hub.sendC2d('dev1', '%24.mid=42', 'ping')
      for (let i = 0; i < 200 && !out.includes('ping'); i++) await sleep(25)
      assert.equal(out, 'devices/dev1/messages/devicebound/%24.mid=42 ping\n')
    } finally {
      child.kill()
    }
  })

  it('a token signed with another key is refused (the broker really checks)', async () => {
    const { pub } = await commands(SECRET_KEY)
    await assert.rejects(bash(pub), /not authori[sz]ed|Connection Refused/i)
  })
})

/** Runs a command line in bash without blocking the event loop (the broker runs in this process). */
const bash = (line: string) => promisify(execFile)('bash', ['-c', line], { timeout: 20_000 })

function hasMosquitto(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v mosquitto_pub && command -v mosquitto_sub'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
