// A device that sends twin GETs and never reads its socket: the hub bounds what it queues for
// that connection (maxOutboundBytes), closes it, says why in a warning and the close event, and
// a real `sas-token hub` process's RSS stays bounded under 60k GETs. The client is raw TLS with
// packets built by mqtt-packet, so nothing reads for it.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { after, describe, it } from 'node:test'
import mqttPacket from 'mqtt-packet'
import { startHub } from 'sas-token/hub'
import { Reporter } from './support/child.js'
import { BIN, cleanEnv } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { nextEvent } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'

const KEY = Buffer.alloc(32, 5).toString('base64')

/** Connects, subscribes to twin responses, then stops reading and sends `count` twin GETs. */
async function flood(port: number, ca: string, count: number): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
  socket.on('error', () => undefined)
  await new Promise((resolve) => socket.once('secureConnect', resolve))
  const password = hmacToken('localhost/devices/flood', KEY, Math.floor(Date.now() / 1000) + 600)
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: 'flood',
      keepalive: 600,
      username: 'localhost/flood/?api-version=2021-04-12',
      password: Buffer.from(password),
    }),
  )
  socket.write(
    mqttPacket.generate({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: '$iothub/twin/res/#', qos: 0 }],
    }),
  )
  await new Promise((resolve) => setTimeout(resolve, 300))
  socket.pause()
  const gets: Buffer[] = []
  for (let i = 0; i < count; i++) {
    gets.push(
      mqttPacket.generate({
        cmd: 'publish',
        topic: `$iothub/twin/GET/?$rid=${i}`,
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        dup: false,
      }),
    )
  }
  socket.write(Buffer.concat(gets))
  return socket
}

const rssMiB = async (pid: number): Promise<number> =>
  Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024

describe('per-connection outbound bound', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('a client that never reads is closed once its unsent bytes pass maxOutboundBytes, and the log says why', async () => {
    const hub = await startHub({ maxOutboundBytes: 256 * 1024 })
    try {
      await hub.addDevice('flood', { primaryKey: KEY })
      const warning = nextEvent(hub, 'warning', (e) => e.deviceId === 'flood')
      const closed = nextEvent(hub, 'close', (e) => e.deviceId === 'flood')
      const socket = await flood(hub.ports.mqtt, hub.ca, 60_000)
      const w = await warning
      assert.match(String(w.message), /outbound queue over 262144 bytes/)
      assert.match(String((await closed).reason), /not reading its socket/)
      socket.destroy()
    } finally {
      await hub.close()
    }
  })

  // 60k GETs (~1.9 MB) grow a hub by ~110 MiB whether the client reads or not (its working set
  // under load); the queue is what grows beyond: unbounded, 480k GETs took the hub from 71 to
  // ~700 MiB, kept after the client was gone
  it("a real hub process's RSS stays bounded under 480k twin GETs from a client that never reads", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-outbound-'))
    dirs.push(dir)
    const child = new Reporter(
      spawn(
        process.execPath,
        [BIN, 'hub', '--json', '--state-dir', dir, '--mqtt-port', '0', '--https-port', '0'],
        {
          env: cleanEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    )
    try {
      const ready = (await child.waitFor((l) => l.event === 'ready')) as {
        ports: { https: number; mqtt: number }
        hubConnectionString: string
      }
      const ca = await readFile(join(dir, 'ca.pem'), 'utf8')
      const remote = { ports: ready.ports, ca, hubConnectionString: ready.hubConnectionString }
      const put = await rest(remote, 'PUT', '/devices/flood', {
        body: { authentication: { type: 'sas', symmetricKey: { primaryKey: KEY, secondaryKey: KEY } } },
      })
      assert.equal(put.status, 200)
      const pid = child.child.pid ?? 0
      const before = await rssMiB(pid)
      const socket = await flood(ready.ports.mqtt, ca, 480_000)
      await child.waitFor((l) => l.event === 'close' && l.deviceId === 'flood')
      let peak = before
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        peak = Math.max(peak, await rssMiB(pid))
      }
      socket.destroy()
      assert.ok(peak - before < 250, `RSS grew from ${before.toFixed(0)} to ${peak.toFixed(0)} MiB`)
    } finally {
      await child.stop('SIGTERM')
    }
  })
})
