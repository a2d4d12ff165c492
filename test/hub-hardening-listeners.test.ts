// The hub's listeners under hostile input (issue 20: #1, #7, #9, #10, #13 in part), over real
// sockets against a real `sas-token hub` process or a real startHub(): a request target that is
// not a URL is a 400 on every listener and ends nothing; TLS connections that never finish the
// handshake are closed, and over the cap at once; device bytes never reach the terminal raw;
// a SAS token sent in the wrong CONNECT field is redacted in every sink.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import mqtt from 'mqtt'
import { type Hub, type HubEvent, type HubEventOf, startConsole, startHub } from 'sas-token/hub'
import { BIN, cleanEnv, cli } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { connect } from './support/hub-mqtt.js'
import { policyToken, rest } from './support/hub-rest.js'

const BAD_TARGETS = ['http://[', 'http://a:b:c/', '//[/']

/** A running `sas-token hub` and everything it printed. */
class HubProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<number | null>
  #code: number | null | undefined

  constructor(args: string[]) {
    this.child = spawn(
      process.execPath,
      [BIN, 'hub', '--in-memory', '--mqtt-port', '0', '--https-port', '0', ...args],
      {
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d))
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d))
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        this.#code = code
        resolve(code)
      }),
    )
  }

  get running(): boolean {
    return this.#code === undefined
  }

  /** Waits until stdout matches. */
  async waitFor(pattern: RegExp, ms = 30_000): Promise<RegExpExecArray> {
    const until = Date.now() + ms
    for (;;) {
      const m = pattern.exec(this.stdout)
      if (m) return m
      if (!this.running)
        throw new Error(`the hub exited (${this.#code}) before printing ${pattern}; stderr:\n${this.stderr}`)
      if (Date.now() > until) throw new Error(`no ${pattern} within ${ms} ms; stdout:\n${this.stdout}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM')
    return this.exited
  }
}

interface Ready {
  hubConnectionString: string
  ca: string
  ports: { mqtt: number; https: number }
  consoleUrl: string | null
  devices: Record<string, string>
}

/** The raw reply to one hand-written HTTP/1.1 request on `socket` (to the close). */
function rawExchange(socket: Socket | ReturnType<typeof tlsConnect>, request: string): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (text += d))
    socket.on('error', () => undefined)
    socket.on('close', () => resolve(text))
    socket.write(request)
    setTimeout(() => socket.destroy(), 10_000).unref()
  })
}

function get(target: string, host: string, extra = ''): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`
}

/** Resolves with the ms until the peer closes the socket. */
function closedAfter(socket: Socket): Promise<number> {
  const t0 = Date.now()
  return new Promise((resolve) => {
    socket.on('error', () => undefined)
    socket.once('close', () => resolve(Date.now() - t0))
  })
}

/** Every idle socket a test opened, destroyed before its hub closes. */
const opened: Socket[] = []

function idleSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => resolve(s))
    opened.push(s)
    s.once('error', reject)
  })
}

function deviceKey(cs: string): string {
  return /SharedAccessKey=([^;]+)/.exec(cs)?.[1] ?? ''
}

/** The SAS token's signature, as sent (URL-encoded) and decoded. */
function signatureForms(token: string): string[] {
  const sig = /sig=([^&]+)/.exec(token)?.[1] ?? 'no-sig'
  return [sig, decodeURIComponent(sig)]
}

/** A CONNECT that swaps username and password; resolves when the hub has refused it. */
function swappedConnect(port: number, ca: string, token: string): Promise<void> {
  return new Promise((resolve) => {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port,
      protocol: 'mqtts',
      ca,
      servername: 'localhost',
      clientId: 'dev1',
      username: token,
      password: 'localhost/dev1/?api-version=2021-04-12',
      protocolVersion: 4,
      reconnectPeriod: 0,
    })
    const done = (): void => {
      client.end(true)
      resolve()
    }
    client.once('error', done)
    client.once('close', done)
    client.once('connect', done)
  })
}

/** The text and control bytes a device sends to forge and scribble on the operator's terminal. */
const EVIL =
  '\u001b]0;owned\u0007\u001b[2J\r\n2026-01-01T00:00:00.000Z connect       admin mqtt auth=sas\u009b31m\u202eevil\u2028x\u007f'
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the test looks for
const FORBIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

describe('hub hardening: the listeners', () => {
  let json: HubProcess
  let ready: Ready
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sas-token-hardening-'))
    json = new HubProcess(['--json', '--console-port', '0', '--device', 'dev1'])
    const line = await json.waitFor(/^\{.*"event":"ready".*\}\n/m)
    ready = JSON.parse(line[0].trim()) as Ready
  })
  after(async () => {
    await json.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('#1: a request target that is not a URL is a 400 on the console and the HTTPS API, and the hub lives on', async () => {
    const consoleUrl = new URL(ready.consoleUrl ?? 'http://127.0.0.1:1')
    for (const target of BAD_TARGETS) {
      const socket = netConnect(Number(consoleUrl.port), '127.0.0.1')
      const reply = await rawExchange(socket, get(target, consoleUrl.host))
      assert.match(reply, /^HTTP\/1\.1 400 /, `console, ${target}: ${reply}`)
      assert.ok(json.running, `the hub process ended on console target ${target}`)
    }
    for (const target of BAD_TARGETS) {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: ready.ports.https,
        ca: ready.ca,
        servername: 'localhost',
      })
      const reply = await rawExchange(socket, get(target, 'localhost'))
      assert.match(reply, /^HTTP\/1\.1 400 /, `HTTPS, ${target}: ${reply}`)
      const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>
      assert.equal(body.code, 'ArgumentInvalid')
      assert.equal(body.errorCode, 400004)
      assert.match(String(body.Message), /^ErrorCode:ArgumentInvalid;.*not a valid path/)
      assert.ok(json.running)
    }
    for (const target of BAD_TARGETS) {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: ready.ports.https,
        ca: ready.ca,
        servername: 'localhost',
      })
      const reply = await rawExchange(
        socket,
        `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
      )
      assert.match(reply, /^HTTP\/1\.1 400 /, `upgrade, ${target}: ${reply}`)
    }
    const health = await rest(ready, 'GET', '/_emulator/health', { auth: null })
    assert.equal(health.status, 200)
    assert.ok(json.running)
  })

  it('#13: a JSON body nested deeper than the limit is a 400 in IoT Hub error shape, not a 500', async () => {
    const n = 100_000
    for (const body of [
      `{"tags":{"a":${'['.repeat(n)}${']'.repeat(n)}}}`,
      `{"tags":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`,
    ]) {
      const r = await rest(ready, 'PATCH', '/twins/dev1', { body })
      assert.equal(r.status, 400, r.text.slice(0, 300))
      const e = r.body as Record<string, unknown>
      assert.equal(e.code, 'ArgumentInvalid')
      assert.match(String(e.Message), /nest/)
    }
    assert.ok(json.running)
  })

  it('#10: a SAS token sent as the username is in no event, no --json line, no SSE data and no /_emulator/refused record', async () => {
    const token = hmacToken(
      'localhost/devices/dev1',
      deviceKey(ready.devices.dev1 ?? ''),
      Math.floor(Date.now() / 1000) + 3600,
    )
    const sse = new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: ready.ports.https,
          ca: ready.ca,
          servername: 'localhost',
          path: '/_emulator/events',
          headers: { Authorization: policyToken(deviceKey(ready.hubConnectionString)) },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => {
            text += d
            if (text.includes('"event":"refuse"')) {
              req.destroy()
              resolve(text)
            }
          })
        },
      )
      req.on('error', reject)
      req.end()
    })
    await new Promise((r) => setTimeout(r, 300))
    await swappedConnect(ready.ports.mqtt, ready.ca, token)
    await json.waitFor(/"event":"refuse"/)
    const sseText = await sse
    const refused = await rest(ready, 'GET', '/_emulator/refused')
    assert.equal(refused.status, 200)
    assert.match(refused.text, /SharedAccessSignature/) // the record is there, its secret is not
    for (const sig of signatureForms(token)) {
      assert.ok(!json.stdout.includes(sig), '--json output')
      assert.ok(!json.stderr.includes(sig), 'stderr')
      assert.ok(!sseText.includes(sig), 'SSE')
      assert.ok(!refused.text.includes(sig), '/_emulator/refused')
    }
    assert.match(json.stdout, /sig=<redacted>/)
  })

  it('#9: `hub watch` prints no control character a device sent', async () => {
    const caFile = join(dir, 'ca.pem')
    await writeFile(caFile, ready.ca)
    const watch = cli([
      'hub',
      'watch',
      '--device',
      'dev1',
      '--count',
      '2',
      '--connection-string',
      ready.hubConnectionString,
      '--endpoint',
      `https://localhost:${ready.ports.https}`,
      '--ca',
      caFile,
    ])
    await new Promise((r) => setTimeout(r, 1500))
    const device = mqtt.connect({
      host: '127.0.0.1',
      port: ready.ports.mqtt,
      protocol: 'mqtts',
      ca: ready.ca,
      servername: 'localhost',
      clientId: 'dev1',
      username: 'localhost/dev1/?api-version=2021-04-12',
      password: hmacToken(
        'localhost/devices/dev1',
        deviceKey(ready.devices.dev1 ?? ''),
        Math.floor(Date.now() / 1000) + 3600,
      ),
      protocolVersion: 4,
      reconnectPeriod: 0,
    })
    await new Promise((resolve, reject) => {
      device.once('connect', resolve)
      device.once('error', reject)
    })
    await device.publishAsync(`devices/dev1/messages/events/$.mid=${encodeURIComponent(EVIL)}`, EVIL, {
      qos: 1,
    })
    const r = await watch
    device.end(true)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /telemetry/)
    assert.ok(!FORBIDDEN.test(r.stdout), `raw control characters in: ${JSON.stringify(r.stdout)}`)
    assert.ok(!/^2026-01-01T00:00:00.000Z/m.test(r.stdout), 'a forged line')
    assert.match(r.stdout, /\\u001b\]0;owned/)
  })
})

describe('hub hardening: the human log', () => {
  let human: HubProcess
  let port: number
  let ca: string
  let key: string

  before(async () => {
    human = new HubProcess(['--no-console', '--device', 'dev1'])
    port = Number((await human.waitFor(/MQTT\/TLS :(\d+) /))[1])
    ca = (await human.waitFor(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/))[0]
    key = deviceKey((await human.waitFor(/Device dev1: (\S+)\n/))[1] ?? '')
  })
  after(async () => {
    await human.stop()
  })

  it('#9: a telemetry body and message id with ESC, BEL, CR LF, C1 and bidi controls are printed escaped, on one line', async () => {
    const device = mqtt.connect({
      host: '127.0.0.1',
      port,
      protocol: 'mqtts',
      ca,
      servername: 'localhost',
      clientId: 'dev1',
      username: 'localhost/dev1/?api-version=2021-04-12',
      password: hmacToken('localhost/devices/dev1', key, Math.floor(Date.now() / 1000) + 3600),
      protocolVersion: 4,
      reconnectPeriod: 0,
    })
    await new Promise((resolve, reject) => {
      device.once('connect', resolve)
      device.once('error', reject)
    })
    await device.publishAsync(`devices/dev1/messages/events/$.mid=${encodeURIComponent(EVIL)}`, EVIL, {
      qos: 1,
    })
    await human.waitFor(/ telemetry .*\n/)
    device.end(true)
    const log = human.stdout.slice(human.stdout.indexOf('Ctrl-C stops the hub.'))
    assert.ok(!FORBIDDEN.test(log), `raw control characters in: ${JSON.stringify(log)}`)
    assert.ok(!/^2026-01-01T00:00:00.000Z/m.test(log), `a forged line in: ${log}`)
    const line = log.split('\n').find((l) => l.includes(' telemetry ')) ?? ''
    assert.match(line, /\\u001b\]0;owned\\u0007\\u001b\[2J\\r\\n2026-01-01/)
    assert.match(line, /\\u009b31m\\u202eevil\\u2028x\\u007f/)
    assert.match(line, /messageId=\\u001b/)
  })

  it('#10: a SAS token sent as the username is redacted in the log line', async () => {
    const token = hmacToken('localhost/devices/dev1', key, Math.floor(Date.now() / 1000) + 3600)
    await swappedConnect(port, ca, token)
    await human.waitFor(/ refuse .*\n/)
    for (const sig of signatureForms(token)) {
      assert.ok(!human.stdout.includes(sig), 'human log')
      assert.ok(!human.stderr.includes(sig), 'stderr')
    }
    assert.match(human.stdout, /refuse .*sig=<redacted>/)
  })
})

describe('hub hardening: TLS handshakes', () => {
  let hub: Hub
  const warnings: HubEventOf<'warning'>[] = []

  before(async () => {
    hub = await startHub({ tlsHandshakeTimeoutMs: 1000, maxTlsHandshakes: 4, devices: ['dev1'] })
    hub.events.on('event', (e: HubEvent) => {
      if (e.event === 'warning') warnings.push(e)
    })
  })
  after(async () => {
    for (const s of opened) s.destroy()
    await hub.close()
  })

  it('#7: TCP connections that never send a ClientHello are closed after the handshake timeout, on MQTT and HTTPS', async () => {
    const sockets = await Promise.all([idleSocket(hub.ports.mqtt), idleSocket(hub.ports.https)])
    const times = await Promise.race([
      Promise.all(sockets.map(closedAfter)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still open after 8 s')), 8000)),
    ]).finally(() => {
      for (const s of sockets) s.destroy()
    })
    for (const ms of times) assert.ok(ms >= 700 && ms < 6000, `closed after ${ms} ms`)
  })

  it('#7: over the cap of connections in handshake, a new one is closed at once, with one warning; then devices connect again', async () => {
    const idle = await Promise.all([1, 2, 3, 4].map(() => idleSocket(hub.ports.mqtt)))
    const closings = idle.map(closedAfter)
    await new Promise((r) => setTimeout(r, 100))
    const over = await Promise.all([1, 2, 3].map(() => idleSocket(hub.ports.https)))
    const overTimes = await Promise.race([
      Promise.all(over.map(closedAfter)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not dropped')), 5000)),
    ])
    for (const ms of overTimes) assert.ok(ms < 600, `an over-cap socket lived ${ms} ms`)
    const dropped = warnings.filter((w) => typeof w.dropped === 'number')
    assert.equal(dropped.length, 1, JSON.stringify(warnings))
    assert.equal(dropped[0]?.dropped, 1)
    assert.match(String(dropped[0]?.message), /in handshake/)
    await Promise.all(closings)
    const { connectionString } = await hub.addDevice('dev1')
    const client = await connect(hub, {
      clientId: 'dev1',
      username: 'localhost/dev1/?api-version=2021-04-12',
      password: hmacToken(
        'localhost/devices/dev1',
        deviceKey(connectionString),
        Math.floor(Date.now() / 1000) + 600,
      ),
    })
    client.end(true)
  })
})

describe('hub hardening: the console waits for a slow body no longer than its request timeout', () => {
  it('#13: an authenticated request whose body never ends is answered 408 and closed', async () => {
    const hub = await startHub()
    const web = await startConsole({ hub, requestTimeoutMs: 1500 })
    try {
      const socket = netConnect(web.port, '127.0.0.1')
      const t0 = Date.now()
      const reply = await rawExchange(
        socket,
        `PUT /api/devices/slow HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nAuthorization: Bearer ${web.token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
      )
      const ms = Date.now() - t0
      assert.ok(ms < 8000, `held open ${ms} ms`)
      assert.match(reply, /^HTTP\/1\.1 408 /)
    } finally {
      await web.close()
      await hub.close()
    }
  })
})

describe('hub hardening: the rules, in memory', async () => {
  const escapePath = '../../dist/cli/escape-terminal.js'
  const redactPath = '../../dist/hub/redact.js'
  const depthPath = '../../dist/hub/rest/json-depth.js'
  const { escapeTerminal } = (await import(escapePath)) as { escapeTerminal: (text: string) => string }
  const { redactSignatures, redactDeep } = (await import(redactPath)) as {
    redactSignatures: (text: string) => string
    redactDeep: <T>(value: T, o?: { credentials?: boolean }) => T
  }
  const { jsonDepth } = (await import(depthPath)) as { jsonDepth: (text: string) => number }

  it('escapeTerminal writes C0, DEL, C1, U+2028/9 and bidi controls as JSON escapes, and nothing else', () => {
    const cases: Array<[string, string]> = [
      ['plain text, café, 温度, \\ and "quotes"', 'plain text, café, 温度, \\ and "quotes"'],
      ['a\r\nb\tc', 'a\\r\\nb\\tc'],
      ['\u0000\u0007\u001b[2J\u007f', '\\u0000\\u0007\\u001b[2J\\u007f'],
      ['\u0085\u009b31m', '\\u0085\\u009b31m'],
      ['\u2028\u2029\u202e\u2066\u200f\u061c', '\\u2028\\u2029\\u202e\\u2066\\u200f\\u061c'],
    ]
    for (const [input, expected] of cases) assert.equal(escapeTerminal(input), expected)
  })

  it('redactSignatures replaces every sig= value (plain, encoded, any case) and keeps the rest', () => {
    assert.equal(
      redactSignatures('SharedAccessSignature sr=h%2Fdevices%2Fd&sig=Ab%2Bc%3D&se=1&skn=p'),
      'SharedAccessSignature sr=h%2Fdevices%2Fd&sig=<redacted>&se=1&skn=p',
    )
    assert.equal(redactSignatures('x?SIG%3Dabc then'), 'x?SIG%3D<redacted> then')
    assert.equal(redactSignatures('sig=a+b/c== next'), 'sig=<redacted> next')
    assert.equal(redactSignatures('no signature, design=1'), 'no signature, design=1')
    const untouched = { a: ['x', 1, { b: null }] }
    assert.equal(redactDeep(untouched), untouched)
    assert.deepEqual(redactDeep({ a: [{ b: 'sig=s' }], n: 1 }), { a: [{ b: 'sig=<redacted>' }], n: 1 })
  })

  it('with credentials, a SharedAccessKey= value goes too (a connection string in the wrong field)', () => {
    const cs = 'HostName=h;DeviceId=d;SharedAccessKey=c2VjcmV0a2V5MTIz+/=='
    assert.deepEqual(redactDeep({ username: cs }, { credentials: true }), {
      username: 'HostName=h;DeviceId=d;SharedAccessKey=<redacted>',
    })
    assert.deepEqual(redactDeep({ username: `${cs};x509=true` }, { credentials: true }), {
      username: 'HostName=h;DeviceId=d;SharedAccessKey=<redacted>;x509=true',
    })
    // without it, events keep their own connection strings (the ready event's is the point of it)
    assert.equal(redactDeep(cs), cs)
  })

  it('jsonDepth counts nesting outside strings', () => {
    assert.equal(jsonDepth('1'), 0)
    assert.equal(jsonDepth('{"a":[1,{"b":[]}]}'), 4)
    assert.equal(jsonDepth('{"a":"[[[{{{\\"[["}'), 1)
  })
})
