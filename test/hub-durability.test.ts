// An answer means durable: a `sas-token hub` process killed with SIGKILL right after its
// answers keeps every acknowledged device creation, twin reported version and queued C2D
// message; stale temp files are removed on start; on a full disk (a tiny tmpfs mounted here)
// writes answer an error instead of success and SIGTERM exits non-zero. Real processes, real
// HTTPS and a real mqtt.js device.
import assert from 'node:assert/strict'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import mqtt from 'mqtt'
import { BIN, cleanEnv } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { type HubAddress, rest } from './support/hub-rest.js'

const KEY = Buffer.alloc(32, 7).toString('base64')

interface Ready extends HubAddress {
  child: ChildProcess
}

/** Registers over DPS (register, then poll until an answer other than 202): its last status. */
async function dpsAssignment(hub: HubAddress, registrationId: string): Promise<number> {
  const device = await mqtt.connectAsync({
    host: '127.0.0.1',
    port: hub.ports.mqtt,
    protocol: 'mqtts',
    ca: hub.ca,
    servername: 'localhost',
    clientId: registrationId,
    username: `0ne00000000/registrations/${registrationId}/api-version=2019-03-31`,
    password: hmacToken(
      `0ne00000000/registrations/${registrationId}`,
      KEY,
      Math.floor(Date.now() / 1000) + 600,
      'registration',
    ),
    protocolVersion: 4,
    reconnectPeriod: 0,
  })
  try {
    await device.subscribeAsync('$dps/registrations/res/#')
    const answer = (): Promise<{ status: number; body: { operationId?: string } }> =>
      new Promise((resolve) =>
        device.once('message', (topic, payload) =>
          resolve({ status: Number(topic.split('/')[3]), body: JSON.parse(payload.toString()) }),
        ),
      )
    let next = answer()
    device.publish('$dps/registrations/PUT/iotdps-register/?$rid=1', JSON.stringify({ registrationId }))
    let a = await next
    const operationId = a.body.operationId ?? ''
    for (let rid = 2; a.status === 202 && rid < 10; rid++) {
      next = answer()
      device.publish(
        `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${encodeURIComponent(operationId)}`,
        '',
      )
      a = await next
    }
    return a.status
  } finally {
    await device.endAsync(true)
  }
}

async function spawnHub(dir: string): Promise<Ready> {
  const child = spawn(
    process.execPath,
    [BIN, 'hub', '--json', '--state-dir', dir, '--mqtt-port', '0', '--https-port', '0'],
    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const lines = createInterface({ input: child.stdout })
  const ready = await new Promise<{ ports: { https: number; mqtt: number }; hubConnectionString: string }>(
    (resolve, reject) => {
      lines.once('line', (l) => resolve(JSON.parse(l)))
      child.once('exit', (code) => reject(new Error(`hub exited with ${code} before ready`)))
    },
  )
  const ca = await readFile(join(dir, 'ca.pem'), 'utf8')
  return { child, ports: ready.ports, ca, hubConnectionString: ready.hubConnectionString }
}

const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.once('exit', (code) => resolve(code))
  })

interface StateFile {
  devices: Record<string, { c2d: { messageId: string }[]; device: { twin: { reportedVersion: number } } }>
}

describe('hub durability', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('SIGKILL right after the answers loses no acknowledged change (3 trials)', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const dir = await mkdtemp(join(tmpdir(), 'sas-token-durable-'))
      dirs.push(dir)
      const hub = await spawnHub(dir)
      const put = await rest(hub, 'PUT', '/devices/tw', {
        body: { authentication: { type: 'sas', symmetricKey: { primaryKey: KEY, secondaryKey: KEY } } },
      })
      assert.equal(put.status, 200)
      const device = mqtt.connect({
        host: '127.0.0.1',
        port: hub.ports.mqtt,
        protocol: 'mqtts',
        ca: hub.ca,
        servername: 'localhost',
        clientId: 'tw',
        username: 'localhost/tw/?api-version=2021-04-12',
        password: hmacToken('localhost/devices/tw', KEY, Math.floor(Date.now() / 1000) + 600),
        protocolVersion: 4,
        reconnectPeriod: 0,
      })
      device.on('error', () => undefined)
      await new Promise<void>((resolve) => device.once('connect', () => resolve()))
      await device.subscribeAsync('$iothub/twin/res/#')
      let twinAcked = 0
      device.on('message', (topic) => {
        const m = /^\$iothub\/twin\/res\/204\/.*\$version=(\d+)/.exec(topic)
        if (m !== null) twinAcked = Math.max(twinAcked, Number(m[1]))
      })
      const acked = new Set<string>()
      const queued = new Set<string>()
      const pending: Promise<unknown>[] = []
      for (let i = 0; i < 300; i++) {
        const id = `d${i}`
        pending.push(
          rest(hub, 'PUT', `/devices/${id}`, { body: {} }).then(
            (r) => r.status === 200 && acked.add(id),
            () => undefined,
          ),
        )
        pending.push(
          rest(hub, 'POST', '/_emulator/devices/tw/messages', { body: { payload: `m${i}` } }).then(
            (r) => {
              const body = r.body as { messageId?: string; state?: string }
              if (r.status === 202 && body.state === 'queued' && body.messageId !== undefined)
                queued.add(body.messageId)
            },
            () => undefined,
          ),
        )
        device.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${i}`, JSON.stringify({ n: i }))
      }
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (acked.size >= 40 && queued.size >= 20 && twinAcked >= 5) {
            clearInterval(timer)
            resolve()
          }
        }, 1)
      })
      hub.child.kill('SIGKILL')
      const seenDevices = new Set(acked)
      const seenQueued = new Set(queued)
      const seenTwin = twinAcked
      device.end(true)
      await Promise.all(pending)
      await exited(hub.child)
      await writeFile(join(dir, 'state.json.2147483646.deadbeef.tmp'), '{"left":"by a crash"}')

      const again = await spawnHub(dir)
      const temps = (await readdir(dir)).filter((f) => f.endsWith('.tmp'))
      assert.equal((await rest(again, 'GET', '/devices/tw')).status, 200)
      again.child.kill('SIGTERM')
      assert.equal(await exited(again.child), 0)
      const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as StateFile
      const lostDevices = [...seenDevices].filter((id) => state.devices[id] === undefined)
      const kept = new Set((state.devices.tw?.c2d ?? []).map((m) => m.messageId))
      const lostC2d = [...seenQueued].filter((id) => !kept.has(id))
      const reported = state.devices.tw?.device.twin.reportedVersion ?? 0
      assert.deepEqual(
        { trial, lostDevices, lostC2d, twinBehind: reported < seenTwin, temps },
        { trial, lostDevices: [], lostC2d: [], twinBehind: false, temps: [] },
        `acknowledged: ${seenDevices.size} devices, ${seenQueued.size} C2D, twin v${seenTwin}; on disk twin v${reported}`,
      )
    }
  })

  it('on a full disk a device PUT and a DPS assignment answer an error, not 200, and SIGTERM exits non-zero', async (t) => {
    const mnt = await mkdtemp(join(tmpdir(), 'sas-token-full-'))
    dirs.push(mnt)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt])
    } catch {
      t.skip('cannot mount a tmpfs here (needs root)')
      return
    }
    try {
      const hub = await spawnHub(mnt)
      const enrolled = await rest(hub, 'PUT', '/_emulator/dps/enrollments/reg-full', {
        body: { attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: KEY, secondaryKey: KEY } } },
      })
      assert.equal(enrolled.status, 200, enrolled.text)
      // Fill what is left of the disk.
      await writeFile(join(mnt, 'filler'), Buffer.alloc(1024 * 1024)).catch(() => undefined)
      const statuses: number[] = []
      for (let i = 0; i < 20; i++) {
        const r = await rest(hub, 'PUT', `/devices/full${i}`, { body: {} })
        statuses.push(r.status)
        if (i === 0) {
          const body = r.body as { code?: string; Message?: string }
          assert.equal(r.status, 507, r.text)
          assert.equal(body.code, 'InsufficientStorage')
          assert.match(body.Message ?? '', /^ErrorCode:InsufficientStorage;/)
        }
      }
      assert.deepEqual(
        statuses.filter((s) => s === 200),
        [],
      )
      assert.equal(
        await dpsAssignment(hub, 'reg-full'),
        500,
        'a DPS assignment that cannot be written is no 200',
      )
      hub.child.kill('SIGTERM')
      assert.notEqual(await exited(hub.child), 0)
    } finally {
      execFileSync('umount', ['-l', mnt])
    }
  })
})
