// The hub's start-up (issue 15, item 7 and its defects): a default port that cannot be bound is
// one warning naming the port, why and what to do; a hub with no listener left is an error, not a
// running process; what arrives unserved (another WebSocket subprotocol, a TLS client that does
// not trust the CA, an AMQP address, a REST path) is a warning. (Issue 17 serves AMQP: the
// tests that pinned its refusal now pin what is served and what is not found.) Real
// processes, sockets, TLS, rhea and @azure/event-hubs; each hub on a loopback address of its own,
// since the default ports are the same for every hub.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { type Server, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import rhea from 'rhea'
import type { HubEvent, HubEventOf } from 'sas-token/hub'

type Warning = HubEventOf<'warning'>
const isWarning = (e: HubEvent): e is Warning => e.event === 'warning'
import { HubEvents, startHub, startHubWithConsole } from 'sas-token/hub'
import WebSocket from 'ws'
import { BIN, cleanEnv } from './support/cli.js'
import { Reporter } from './support/child.js'
import { rest } from './support/hub-rest.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** A loopback address no other test uses (the hubs here bind 8883, 443 and 5671 on it). */
function address(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
}

function block(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(port, host, () => resolve(s))
  })
}

/** `sas-token hub …args` as a child whose JSON lines can be waited on; killed after `ms`. */
function hub(args: string[], o: { uid?: number; ms?: number } = {}): Reporter {
  const child = spawn(process.execPath, [BIN, 'hub', ...args], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(o.uid === undefined ? {} : { uid: o.uid, gid: o.uid }),
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), o.ms ?? 20_000)
  child.once('exit', () => clearTimeout(timer))
  return new Reporter(child)
}

const START = ['--json', '--in-memory', '--no-console']

describe('sas-token hub: default ports that cannot be bound', () => {
  it('one default port in use: one warning naming it, why and what to do; the hub runs without it', async () => {
    const host = address()
    const blocker = await block(8883, host)
    const r = hub([...START, '--bind', host])
    let code: number | null = null
    try {
      const ready = await r.waitFor((l) => l.event === 'ready')
      assert.equal(r.lines[0], ready, 'the ready line is the first on stdout')
      assert.deepEqual((ready.ports as Record<string, number>).mqtt, 0)
      assert.ok(((ready.ports as Record<string, number>).https ?? 0) > 0, JSON.stringify(ready))
      await r.waitForStderr(/warning: MQTT\/TLS is off: the default port 8883/)
      const lines = r.stderr.split('\n').filter((l) => l.includes('MQTT/TLS is off'))
      assert.equal(lines.length, 1, r.stderr)
      const line = lines[0] ?? ''
      assert.match(line, /in use \(EADDRINUSE/)
      assert.match(line, /--mqtt-port/)
      assert.match(line, /GatewayHostName=/)
    } finally {
      code = await r.stop('SIGTERM')
      blocker.close()
    }
    assert.equal(code, 0)
  })

  it('a second hub while one runs: every listener is taken, so it exits 1 with the ports and why', async () => {
    const host = address()
    const first = hub([...START, '--bind', host], { ms: 30_000 })
    try {
      const ready = await first.waitFor((l) => l.event === 'ready')
      const ports = ready.ports as Record<string, number>
      const second = hub([...START, '--bind', host])
      const code = await second.exited
      assert.equal(code, 1, `it ran on instead; stderr:\n${second.stderr}`)
      const { error } = JSON.parse(second.stderr.trim().split('\n').at(-1) ?? '{}') as {
        error: { code: string; message: string }
      }
      assert.equal(error.code, 'ERR_HUB_PORT_UNAVAILABLE')
      for (const p of [ports.mqtt, ports.https].filter((p) => p !== undefined && p > 0))
        assert.match(error.message, new RegExp(`\\b${p}\\b`))
      assert.match(error.message, /another sas-token hub/)
      assert.ok(!second.stdout.includes('"event":"ready"'), 'no ready line')
    } finally {
      await first.stop('SIGTERM')
    }
  })

  it('as a non-root user, HTTPS 443 is off with a warning that says EACCES and gives --https-port 8443', async (t) => {
    // root binds 443: run the hub as nobody (65534), which cannot
    const uid = process.getuid?.() === 0 ? 65534 : undefined
    if (process.getuid?.() !== 0) {
      const probe = await block(443, '127.0.0.1').then(
        (s) => {
          s.close()
          return 'bound'
        },
        (err: NodeJS.ErrnoException) => err.code,
      )
      if (probe !== 'EACCES') return t.skip(`this user may bind 443 (${probe})`)
    }
    const r = hub([...START, '--bind', address()], uid === undefined ? {} : { uid })
    try {
      const ready = await r.waitFor((l) => l.event === 'ready')
      assert.equal((ready.ports as Record<string, number>).https, 0)
      await r.waitForStderr(/warning: HTTPS\+WebSocket is off: the default port 443/)
      const message = r.stderr.split('\n').find((l) => l.includes('HTTPS+WebSocket is off')) ?? ''
      assert.match(message, /needs privileges \(EACCES/)
      assert.match(message, /--https-port 8443/)
      assert.match(message, /SAS_TOKEN_HUB_ENDPOINT/)
      assert.match(message, /--endpoint https:\/\/[^ ]+:8443/)
      assert.match(message, /GatewayHostName=[^ ]+:8443/)
    } finally {
      await r.stop('SIGTERM')
    }
  })

  it('an explicit port that cannot be bound is still an error, not a warning', async () => {
    const host = address()
    const blocker = await block(0, host)
    const port = (blocker.address() as { port: number }).port
    try {
      const r = hub([...START, '--bind', host, '--https-port', String(port)])
      assert.equal(await r.exited, 1)
      assert.match(r.stderr, /ERR_HUB_PORT_UNAVAILABLE/)
      assert.match(r.stderr, new RegExp(String(port)))
    } finally {
      blocker.close()
    }
  })

  it('--no-amqp opens no AMQP port (and warns about none); --amqp-port 0 opens a free one', async () => {
    const off = hub([...START, '--bind', address(), '--no-amqp'])
    const free = hub([...START, '--bind', address(), '--amqp-port', '0'])
    try {
      const [a, b] = await Promise.all([
        off.waitFor((l) => l.event === 'ready'),
        free.waitFor((l) => l.event === 'ready'),
      ])
      assert.equal((a.ports as Record<string, number>).amqp, 0)
      assert.ok(!/AMQP/.test(off.stderr), off.stderr)
      const port = (b.ports as Record<string, number>).amqp ?? 0
      assert.ok(port > 0 && port !== 5671, String(port))
    } finally {
      await Promise.all([off.stop('SIGTERM'), free.stop('SIGTERM')])
    }
  })

  it('the console on its default port 8884, taken: a warning event, and the console on a free port', async (t) => {
    const blocker = await block(8884, '127.0.0.1').catch(() => undefined) // taken already will do
    const events: HubEvent[] = []
    const started = await startHubWithConsole({
      inMemory: true,
      host: address(),
      httpsPort: 0,
      onEvent: (e) => events.push(e),
    })
    try {
      if (blocker === undefined && started.console?.port === 8884)
        return t.skip('8884 was taken by another process, then freed')
      const w = events.filter(isWarning).find((e) => e.listener === 'console')
      assert.equal(w?.port, 8884, JSON.stringify(events.filter(isWarning)))
      assert.match(String(w?.message), /8884 is taken; using a free one/)
      assert.ok(started.console !== undefined && started.console.port !== 8884)
      assert.equal(started.ready.consoleUrl, started.console.url)
    } finally {
      await started.close()
      blocker?.close()
    }
  })

  it('an explicit --console-port that is taken is ERR_HUB_PORT_UNAVAILABLE (exit 1), like the other ports', async () => {
    const blocker = await block(0, '127.0.0.1')
    const port = (blocker.address() as { port: number }).port
    try {
      const r = hub(['--json', '--in-memory', '--bind', address(), '--console-port', String(port)])
      assert.equal(await r.exited, 1)
      const { error } = JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '{}') as { error: { code: string } }
      assert.equal(error.code, 'ERR_HUB_PORT_UNAVAILABLE')
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`))
    } finally {
      blocker.close()
    }
  })

  it('startHubWithConsole (the library) follows the same rule, and its ready document is the ready event', async () => {
    const host = address()
    const blocker = await block(5671, host)
    const events: HubEvent[] = []
    const started = await startHubWithConsole({
      inMemory: true,
      host,
      mqttPort: 0,
      httpsPort: 0,
      console: { port: 0 },
      devices: ['dev1'],
      onEvent: (e) => events.push(e),
    })
    try {
      const warnings = events.filter(isWarning)
      assert.equal(warnings.length, 1, JSON.stringify(warnings))
      assert.equal(warnings[0]?.listener, 'amqp')
      assert.equal(warnings[0]?.port, 5671)
      assert.equal(started.hub.ports.amqp, 0)
      assert.ok(started.hub.ports.mqtt > 0 && started.hub.ports.https > 0)
      const ready = events.find((e) => e.event === 'ready')
      assert.deepEqual(ready, started.ready)
      assert.equal(started.ready.consoleUrl, started.console?.url)
      assert.match(started.ready.devices.dev1 ?? '', /^HostName=localhost;DeviceId=dev1;SharedAccessKey=/)
    } finally {
      await started.close()
      blocker.close()
    }
  })
})

describe('what arrives unserved is a warning', async () => {
  const events: HubEvent[] = []
  const h = await startHub({ inMemory: true, onEvent: (e) => events.push(e) })
  after(() => h.close())
  const warnings = (): Warning[] => events.filter(isWarning)
  const until = async (match: (e: Warning) => boolean): Promise<Warning> => {
    for (let i = 0; i < 100; i++) {
      const found = warnings().find(match)
      if (found) return found
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error(`no such event; warnings: ${JSON.stringify(warnings())}`)
  }

  it('a WebSocket upgrade with another subprotocol: 400, and a warning with what came and what is served', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`wss://localhost:${h.ports.https}/$iothub/websocket`, ['xmpp'], {
        ca: h.ca,
      })
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => reject(new Error('upgraded')))
      ws.on('error', () => undefined)
    })
    assert.equal(status, 400)
    const w = await until((e) => e.protocol === 'xmpp')
    assert.equal(w.path, '/$iothub/websocket')
    assert.equal(w.listener, 'https')
    assert.match(String(w.message), /"xmpp"/)
    assert.match(String(w.message), /subprotocol mqtt/)
    assert.match(String(w.message), /subprotocol AMQPWSB10/)
  })

  it('a WebSocket upgrade with AMQPWSB10 (AMQP over WebSocket) is served: 101, that subprotocol', async () => {
    const protocol = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`wss://localhost:${h.ports.https}/$iothub/websocket`, ['AMQPWSB10'], {
        ca: h.ca,
      })
      ws.on('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)))
      ws.on('open', () => {
        resolve(ws.protocol)
        ws.close()
      })
      ws.on('error', () => undefined)
    })
    assert.equal(protocol, 'AMQPWSB10')
  })

  it('a TLS client that does not trust the CA: one warning that says so, however many try', async () => {
    const before = warnings().length
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: h.ports.mqtt, servername: 'localhost' })
        s.on('error', () => resolve())
        s.on('secureConnect', () => resolve())
      })
    }
    const w = await until((e) => e.protocol === 'tls' && e.listener === 'mqtt')
    assert.equal(w.port, h.ports.mqtt)
    assert.match(String(w.message), /does not trust the hub's certificate|closed the connection during it/)
    assert.match(String(w.message), /NODE_EXTRA_CA_CERTS/)
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(warnings().length - before, 1, JSON.stringify(warnings().slice(before)))
  })

  it('a REST path the hub does not serve: a warning with the method and the path', async () => {
    const r = await rest(h, 'GET', '/statistics/devices?api-version=2021-04-12')
    assert.equal(r.status, 404)
    const w = await until((e) => e.path === '/statistics/devices')
    assert.equal(w.method, 'GET')
    assert.match(String(w.message), /GET "\/statistics\/devices" is not served \(404\)/)
    const missing = await rest(h, 'GET', '/devices/nobody?api-version=2021-04-12')
    assert.equal(missing.status, 404)
    assert.ok(!warnings().some((e) => e.path === '/devices/nobody'), 'a missing device is no warning')
  })

  it('rhea over AMQP/TLS connects; a link to an address the hub does not serve: amqp:not-found, saying what is served, and a warning', async () => {
    const error = await new Promise<{ condition?: string; description?: string }>((resolve, reject) => {
      const c = rhea.create_container()
      const conn = c.connect({
        host: '127.0.0.1',
        port: h.ports.amqp,
        transport: 'tls',
        ca: h.ca,
        servername: 'localhost',
        reconnect: false,
      })
      conn.on('connection_error', (ctx) =>
        reject(new Error(`connection error ${JSON.stringify(ctx.connection.error)}`)),
      )
      conn.on('receiver_error', (ctx) => {
        resolve(ctx.receiver?.error ?? {})
        conn.close()
      })
      conn.open_receiver({ source: { address: '/nowhere/messages' } })
    })
    assert.equal(error.condition, 'amqp:not-found')
    assert.match(error.description ?? '', /"\/nowhere\/messages"/)
    assert.match(error.description ?? '', /\/devices\/\{deviceId\}\/messages\/devicebound/)
    assert.match(error.description ?? '', /\$cbs/)
    const w = await until((e) => /amqp:not-found/.test(e.message))
    assert.match(String(w.message), /\/nowhere\/messages/)
  })

  it('@azure/event-hubs with a key name the hub has no policy of: put-token refused (UnauthorizedError), the refusal recorded with why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-amqp-'))
    try {
      const ca = join(dir, 'ca.pem')
      writeFileSync(ca, h.ca)
      const script = `
        import { EventHubProducerClient } from '@azure/event-hubs'
        const p = new EventHubProducerClient(
          'Endpoint=sb://localhost/;SharedAccessKeyName=k;SharedAccessKey=a2V5;EntityPath=hub',
          { customEndpointAddress: 'amqps://localhost:${h.ports.amqp}', retryOptions: { maxRetries: 0 } },
        )
        const t0 = Date.now()
        try { await p.getEventHubProperties(); console.log(JSON.stringify({ ok: true })) }
        catch (e) { console.log(JSON.stringify({ ok: false, name: e.name, code: e.code, ms: Date.now() - t0 })) }
        await p.close()`
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: ROOT,
        env: cleanEnv({ NODE_EXTRA_CA_CERTS: ca }),
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const r = new Reporter(child)
      const line = await r.waitFor(() => true)
      clearTimeout(timer)
      assert.equal(line.ok, false)
      assert.equal(line.code, 'UnauthorizedError', JSON.stringify(line))
      assert.ok(Number(line.ms) < 5000, JSON.stringify(line))
      await r.exited
      const refused = events.find(
        (e): e is HubEventOf<'refuse'> =>
          e.event === 'refuse' && String(e.audience).startsWith('sb://localhost/hub'),
      )
      assert.ok(refused, JSON.stringify(events.filter((e) => e.event === 'refuse')))
      assert.equal(refused.protocol, 'amqp')
      assert.equal(refused.condition, 'amqp:unauthorized-access')
      assert.equal(refused.reason?.code, 'ERR_HUB_UNAUTHORIZED')
      assert.match(refused.reason?.message ?? '', /no policy "k"/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('WarningThrottle: the first warning of a kind at once, then one count per window', () => {
  it('three in a window: one warning now, one saying "2 more" at its end, then none while none come', async () => {
    const events = new HubEvents(Date.now)
    const seen: Warning[] = []
    events.on('event', (e: HubEvent) => {
      if (isWarning(e)) seen.push(e)
    })
    // internal: imported from the built file, typed here
    const path = '../../dist/hub/net/warning-throttle.js'
    type Reported = { message: string; listener?: string }
    const { WarningThrottle } = (await import(path)) as {
      WarningThrottle: new (
        events: HubEvents,
        windowMs: number,
      ) => {
        report(kind: string, w: Reported, again: (count: number) => Reported): void
        close(): void
      }
    }
    const throttle = new WarningThrottle(events, 50)
    for (let i = 0; i < 3; i++)
      throttle.report('k', { message: 'first', listener: 'x' }, (n) => ({ message: `${n} more` }))
    throttle.report('other', { message: 'another kind' }, (n) => ({ message: `${n} other` }))
    assert.deepEqual(
      seen.map((e) => e.message),
      ['first', 'another kind'],
    )
    await new Promise((resolve) => setTimeout(resolve, 200))
    throttle.close()
    assert.deepEqual(
      seen.map((e) => e.message),
      ['first', 'another kind', '2 more'],
    )
  })
})
