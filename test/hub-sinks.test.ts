// The hub's event sinks under slow readers (issue 20, #3): `sas-token hub --json` read at about
// 1 MB/s loses nothing a device was acknowledged for and keeps its memory bounded (the hub stops
// reading device sockets while stdout is behind); an SSE subscriber that never reads is
// disconnected with a `warning` in the hub's log while the hub's memory stays bounded; a slowish
// one is told how many events it missed. Real processes, real mqtt.js devices, real sockets.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import { mqttCredentials, telemetryTopic } from 'sas-token'
import { startHub } from 'sas-token/hub'
import { BIN, cleanEnv } from './support/cli.js'
import { ownerKey, policyToken } from './support/hub-rest.js'

const HUB_MODULE = fileURLToPath(new URL('../../dist/hub/index.js', import.meta.url))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The resident set of a process, bytes (Linux /proc). */
function rss(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1]
  return Number(kb) * 1024
}
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MB`

interface Ready {
  ports: { mqtt: number; https: number }
  ca: string
  hubConnectionString: string
  devices: Record<string, string>
}

function connectDevice(ready: Ready, connectionString: string): Promise<MqttClient> {
  const c = mqttCredentials(connectionString)
  const client = mqtt.connect({
    host: '127.0.0.1',
    port: ready.ports.mqtt,
    protocol: 'mqtts',
    ca: ready.ca,
    servername: 'localhost',
    clientId: c.clientId,
    username: c.username,
    password: c.password ?? '',
    reconnectPeriod: 0,
    keepalive: 0,
  })
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', reject)
  })
}

/**
 * Sends QoS 1 telemetry from every device until `stop()`, at most `window` unacknowledged per
 * device; `acked` holds `device:seq` of every PUBACK.
 */
function flood(devices: Array<{ id: string; client: MqttClient }>, bodyBytes: number, window = 200) {
  const acked = new Set<string>()
  let running = true
  const filler = 'x'.repeat(bodyBytes)
  const done = devices.map(
    ({ id, client }) =>
      new Promise<void>((resolve) => {
        let seq = 0
        let inFlight = 0
        const pump = (): void => {
          while (running && inFlight < window) {
            const key = `${id}:${seq++}`
            inFlight++
            client.publish(telemetryTopic({ deviceId: id }), `${key} ${filler}`, { qos: 1 }, (err) => {
              inFlight--
              if (!err) acked.add(key)
              if (running) pump()
              else if (inFlight === 0) resolve()
            })
          }
          if (!running && inFlight === 0) resolve()
        }
        pump()
      }),
  )
  return {
    acked,
    /** Stops sending; resolves when every message sent was acknowledged (or the link ended). */
    stop: async (): Promise<void> => {
      running = false
      await Promise.race([Promise.all(done), sleep(30_000)])
    },
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.once('close', (code) => resolve(code))
  })
}

describe('event sinks under slow readers', { timeout: 240_000 }, () => {
  it('--json read at ~1 MB/s: every acknowledged message is logged, stdout and RSS stay bounded', async () => {
    const ids = ['s0', 's1', 's2', 's3']
    const child = spawn(
      process.execPath,
      [
        BIN,
        'hub',
        '--json',
        '--in-memory',
        '--no-console',
        '--mqtt-port',
        '0',
        '--https-port',
        '0',
        ...ids.flatMap((id) => ['--device', id]),
      ],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const stdout = child.stdout
    assert.ok(stdout)
    // stdout is read by hand: at most `rate` bytes a second, the rest stays in the pipe
    let text = ''
    let logged = 0
    const loggedKeys = new Set<string>()
    const take = (budget: number): void => {
      while (budget > 0) {
        const n = Math.min(budget, stdout.readableLength)
        const chunk: Buffer | null = n > 0 ? stdout.read(n) : stdout.read(0)
        if (chunk === null) break
        budget -= chunk.length
        text += chunk.toString('latin1')
        let nl = text.indexOf('\n')
        while (nl !== -1) {
          const line = text.slice(0, nl)
          text = text.slice(nl + 1)
          nl = text.indexOf('\n')
          const m = /^\{"event":"telemetry".*?"body":\{"text":"(s\d:\d+) /.exec(line)
          if (m?.[1] !== undefined) {
            logged++
            loggedKeys.add(m[1])
          } else if (line.startsWith('{"event":"ready"')) readyLine = line
        }
      }
    }
    let readyLine: string | undefined
    let rate = 1_000_000
    const reader = setInterval(() => take(rate / 50), 20)
    try {
      while (readyLine === undefined) {
        if (child.exitCode !== null) assert.fail(`the hub exited: ${stderr}`)
        await sleep(50)
      }
      const ready = JSON.parse(readyLine) as Ready
      const devices = await Promise.all(
        ids.map(async (id) => ({ id, client: await connectDevice(ready, ready.devices[id] ?? '') })),
      )
      const before = rss(child.pid)
      let peak = before
      const sampler = setInterval(() => (peak = Math.max(peak, rss(child.pid))), 200)
      const sending = flood(devices, 1000)
      await sleep(12_000)
      const ackedWhileSlow = sending.acked.size
      const backlog = ackedWhileSlow - logged
      await sending.stop()
      clearInterval(sampler)
      peak = Math.max(peak, rss(child.pid))
      // now read at full speed until every acknowledged message has been read (or it is clear
      // that some never will be)
      rate = 1_000_000_000
      const acked = sending.acked.size
      const deadline = Date.now() + 60_000
      while (logged < acked && Date.now() < deadline) await sleep(100)
      await sleep(500)
      for (const { client } of devices) client.end(true)
      const lost = [...sending.acked].filter((k) => !loggedKeys.has(k))
      console.log(
        `--json at 1 MB/s: ${acked} acknowledged, ${loggedKeys.size} logged, ${lost.length} lost; acknowledged but unread after 12 s: ${backlog}; RSS ${mb(before)} → peak ${mb(peak)}`,
      )
      assert.ok(acked > 1000, `the devices got ${acked} PUBACKs`)
      assert.equal(lost.length, 0, `acknowledged but never logged: ${lost.slice(0, 5).join(', ')}…`)
      // about 1.3 KB a line: what stdout holds beyond the pipe is its highWaterMark plus the
      // batches already read from the device sockets, not seconds of traffic
      assert.ok(backlog < 5000, `${backlog} acknowledged messages were waiting in stdout`)
      assert.ok(peak - before < 80 * 1024 * 1024, `RSS grew from ${mb(before)} to ${mb(peak)}`)
      assert.doesNotMatch(stderr, /ERR_STDOUT_WRITE/)
    } finally {
      clearInterval(reader)
      rate = 1_000_000_000
      const reading = setInterval(() => take(rate), 20)
      child.kill('SIGTERM')
      await exited(child)
      clearInterval(reading)
    }
  })

  it('SSE: a subscriber that never reads is disconnected with a warning, RSS stays bounded; a slowish one is told what it missed', async () => {
    // the device-to-cloud log keeps what its retention allows (up to 10 000 messages a
    // partition by default, ~130 MB of these 2 KB messages): kept small here, so the RSS bound
    // measures the event stream's memory, which this test is about
    const script = `
      import { startConsole, startHub } from ${JSON.stringify(HUB_MODULE)}
      const hub = await startHub({ inMemory: true, devices: ['e0', 'e1', 'e2'], retention: { maxMessages: 500 }, eventStream: { bufferBytes: 256 * 1024, stallSeconds: 3 } })
      const devices = {}
      for (const id of ['e0', 'e1', 'e2']) devices[id] = (await hub.addDevice(id)).connectionString
      const web = await startConsole({ hub })
      process.stdout.write(JSON.stringify({ ports: hub.ports, ca: hub.ca, hubConnectionString: hub.hubConnectionString, devices, console: { port: web.port, token: new URL(web.url).searchParams.get('token') } }) + '\\n')
      hub.events.on('event', (e) => { if (e.event === 'warning') process.stdout.write(JSON.stringify(e) + '\\n') })
      process.on('SIGTERM', () => Promise.all([web.close(), hub.close()]).then(() => process.exit(0)))
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const lines: string[] = []
    let partial = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      partial += d
      const parts = partial.split('\n')
      partial = parts.pop() ?? ''
      lines.push(...parts)
    })
    const sockets: Array<TLSSocket | Socket> = []
    try {
      while (lines.length === 0) {
        if (child.exitCode !== null) assert.fail(`the hub exited: ${stderr}`)
        await sleep(50)
      }
      const ready = JSON.parse(lines[0] ?? '') as Ready & { console: { port: number; token: string } }
      const subscribe = (): TLSSocket => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: ready.ports.https,
          servername: 'localhost',
          ca: ready.ca,
        })
        socket.write(
          `GET /_emulator/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${policyToken(ownerKey(ready))}\r\n\r\n`,
        )
        sockets.push(socket)
        return socket
      }
      // one subscriber reads nothing at all once connected
      const stalled = subscribe()
      let stalledClosed = false
      stalled.on('close', () => (stalledClosed = true))
      await new Promise((resolve) => stalled.once('data', resolve))
      stalled.pause()
      // and one more never reads through the console, which proxies the stream (a pipe: the
      // console's response backs up into the hub's)
      const proxied = netConnect(ready.console.port, '127.0.0.1')
      proxied.write(
        `GET /api/_emulator/events HTTP/1.1\r\nHost: 127.0.0.1:${ready.console.port}\r\nAuthorization: Bearer ${ready.console.token}\r\n\r\n`,
      )
      sockets.push(proxied)
      let proxiedClosed = false
      proxied.on('close', () => (proxiedClosed = true))
      await new Promise((resolve) => proxied.once('data', resolve))
      proxied.pause()
      // another reads about 200 KB a second and looks for warnings
      const slow = subscribe()
      slow.pause()
      const warnings: Array<{ dropped?: number; message?: string }> = []
      let slowText = ''
      let slowClosed = false
      slow.on('close', () => (slowClosed = true))
      const slowReader = setInterval(() => {
        let budget = 4000
        while (budget > 0) {
          const chunk: Buffer | null = slow.read()
          if (chunk === null) break
          budget -= chunk.length
          slowText += chunk.toString('utf8')
        }
        let nl = slowText.indexOf('\n')
        while (nl !== -1) {
          const line = slowText.slice(0, nl)
          slowText = slowText.slice(nl + 1)
          nl = slowText.indexOf('\n')
          if (line.startsWith('data: {"event":"warning"')) warnings.push(JSON.parse(line.slice(6)))
        }
      }, 20)
      const devices = await Promise.all(
        ['e0', 'e1', 'e2'].map(async (id) => ({
          id,
          client: await connectDevice(ready, ready.devices[id] ?? ''),
        })),
      )
      await sleep(500)
      const before = rss(child.pid)
      let peak = before
      const sampler = setInterval(() => (peak = Math.max(peak, rss(child.pid))), 200)
      const sending = flood(devices, 2000)
      const deadline = Date.now() + 20_000
      const hubWarnings = (): string[] =>
        lines.slice(1).filter((l) => /"event":"warning"/.test(l) && /disconnect/.test(l))
      const hubWarning = (): string | undefined => hubWarnings()[0]
      while (Date.now() < deadline && (hubWarnings().length < 2 || warnings.length === 0)) await sleep(200)
      await sleep(2_000)
      await sending.stop()
      clearInterval(sampler)
      clearInterval(slowReader)
      for (const { client } of devices) client.end(true)
      // the stalled subscriber reads again: what it had was all it gets, then the end
      stalled.resume()
      proxied.resume()
      const endBy = Date.now() + 10_000
      while (!(stalledClosed && proxiedClosed) && Date.now() < endBy) await sleep(100)
      console.log(
        `SSE: ${sending.acked.size} messages; RSS ${mb(before)} → peak ${mb(peak)}; hub warning: ${hubWarning() ?? 'none'}; slow reader warnings: ${JSON.stringify(warnings.slice(0, 3))}`,
      )
      assert.ok(sending.acked.size > 1000, `the devices got ${sending.acked.size} PUBACKs`)
      // the garbage of ~10k events a second counts too (the old code grew by 1.6 GB here)
      assert.ok(peak - before < 200 * 1024 * 1024, `RSS grew from ${mb(before)} to ${mb(peak)}`)
      assert.equal(hubWarnings().length, 2, 'the hub logged a warning for each stalled subscriber')
      assert.ok(stalledClosed, 'the stalled subscriber was disconnected')
      assert.ok(proxiedClosed, 'the stalled subscriber of the console was disconnected')
      assert.ok(warnings.length > 0, 'the slowish subscriber got a warning')
      const first = warnings[0]
      assert.ok(first && typeof first.dropped === 'number' && first.dropped > 0, JSON.stringify(first))
      assert.match(String(first?.message), /dropped/)
      assert.equal(slowClosed, false, 'the slowish subscriber, which catches up, stays connected')
    } finally {
      for (const s of sockets) s.destroy()
      child.kill('SIGTERM')
      await exited(child)
    }
  })

  it('an iterator of hub.events that does not pull holds the devices back, then gets every event', async () => {
    const hub = await startHub({ devices: ['i0'] })
    const events = hub.events[Symbol.asyncIterator]()
    try {
      const { connectionString } = await hub.addDevice('i0')
      const device = await connectDevice({ ...hub, devices: {} }, connectionString)
      const sending = flood([{ id: 'i0', client: device }], 500, 100)
      await sleep(3_000)
      const whileUnread = sending.acked.size
      // now take every event: the device goes on, and nothing was lost
      const seen = new Set<string>()
      const reading = (async () => {
        for (;;) {
          const r = await events.next()
          if (r.done) return
          const text = r.value.event === 'telemetry' ? r.value.body.text : undefined
          if (text) seen.add(text.slice(0, text.indexOf(' ')))
        }
      })()
      await sleep(2_000)
      await sending.stop()
      const acked = sending.acked.size
      await sleep(500)
      device.end(true)
      console.log(
        `iterator: ${whileUnread} acknowledged while it did not pull, ${acked} in all, ${seen.size} seen`,
      )
      // 1,024 events unread stop the reads; the batch already read and the device's window pass
      assert.ok(whileUnread < 1024 + 400, `${whileUnread} acknowledged while the iterator held 1,024`)
      assert.ok(acked > whileUnread + 500, `the device went on once the iterator pulled (${acked})`)
      const lost = [...sending.acked].filter((k) => !seen.has(k))
      assert.equal(lost.length, 0, `acknowledged but not iterated: ${lost.slice(0, 5).join(', ')}`)
      await hub.close()
      await reading
    } finally {
      await events.return?.()
      await hub.close()
    }
  })
})
