// Prove it (issue 10): what `sas-token mqtt` prints runs verbatim against the product hub: the
// mosquitto_pub and mosquitto_sub commands (mosquitto-clients), and the paho snippet with the
// python3-paho-mqtt that Debian ships (1.6.1 on bookworm; the snippet must also run on 2.x). The
// device is one `hub devices add` made; C2D comes from `hub send`. The hub is on free ports of
// 127.0.0.1 (`mqtt --port` puts the port into the printed commands).
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cli } from './support/cli.js'
import { Reporter, spawnReporter } from './support/child.js'
import type { HubEventLike, ProductHub } from './support/sdk-hub.js'

/** Debian's python3, where python3-paho-mqtt lives (a pyenv python3 may come first in PATH). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'

let hub: ProductHub | undefined
let dir = ''
let caFile = ''
let env: Record<string, string> = {}
const seen: HubEventLike[] = []
const waiters = new Set<{ match: (e: HubEventLike) => boolean; resolve: (e: HubEventLike) => void }>()

function waitForEvent(match: (e: HubEventLike) => boolean): Promise<HubEventLike> {
  const found = seen.find(match)
  if (found !== undefined) return Promise.resolve(found)
  return new Promise((resolve) => waiters.add({ match, resolve }))
}

function has(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

before(async () => {
  const { startHub } = (await import('sas-token/hub')) as unknown as {
    startHub(o: Record<string, unknown>): Promise<ProductHub>
  }
  hub = await startHub({})
  dir = mkdtempSync(join(tmpdir(), 'hub-tools-'))
  caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, hub.ca)
  env = {
    NODE_EXTRA_CA_CERTS: caFile,
    IOTHUB_CONNECTION_STRING: hub.hubConnectionString,
    SAS_TOKEN_HUB_ENDPOINT: `https://localhost:${hub.ports.https}`,
  }
  hub.events.on('event', (e: HubEventLike) => {
    seen.push(e)
    for (const w of waiters)
      if (w.match(e)) {
        waiters.delete(w)
        w.resolve(e)
      }
  })
})
after(async () => {
  await hub?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A new device from `hub devices add`, and what `sas-token mqtt --format <format>` prints for it. */
async function printed(deviceId: string, format: 'mosquitto' | 'paho'): Promise<string> {
  const added = await cli(['hub', 'devices', 'add', deviceId], { env })
  assert.equal(added.code, 0, added.stderr)
  const p = (hub as ProductHub).ports.mqtt
  const r = await cli([
    'mqtt',
    '-c',
    added.stdout.trim(),
    '--format',
    format,
    '--port',
    String(p),
    '--cafile',
    caFile,
  ])
  assert.equal(r.code, 0, r.stderr)
  return r.stdout
}

const telemetryFrom = (deviceId: string) => (e: HubEventLike) =>
  e.event === 'telemetry' && e.deviceId === deviceId
const c2dSubscribed = (deviceId: string) => (e: HubEventLike) =>
  e.event === 'subscribe' && e.deviceId === deviceId && JSON.stringify(e).includes('devicebound')

/** `promise`, or a failure with the child's stderr when the child exits first. */
function whileRunning<T>(child: Reporter, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    child.exited.then((code): never => {
      throw new Error(`the program exited (${code}) first:\n${child.stderr}`)
    }),
  ])
}

/** Waits until `child` has printed `text` on stdout. */
async function stdoutOf(child: Reporter, text: string): Promise<void> {
  while (!child.stdout.includes(text)) {
    if ((child.child.exitCode ?? child.child.signalCode) !== null)
      throw new Error(`exited before printing ${text}: ${child.stderr}`)
    await new Promise<void>((resolve) => child.child.stdout?.once('data', () => resolve()))
  }
}

describe('the printed mosquitto commands, run verbatim', () => {
  it('mosquitto_pub sends telemetry; mosquitto_sub receives the C2D `hub send` queued', async (t) => {
    if (!has('mosquitto_pub', ['--help']) && !has('which', ['mosquitto_pub']))
      return t.skip('mosquitto-clients is not installed (.ci/run installs it)')
    const script = await printed('mosq-1', 'mosquitto')
    const pub = script.split('\n').find((line) => line.startsWith('mosquitto_pub '))
    const sub = script.split('\n').find((line) => line.startsWith('mosquitto_sub '))
    assert.ok(pub !== undefined && sub !== undefined, script)

    // Asynchronously: the hub runs in this process.
    const publisher = spawnReporter('bash', ['-c', pub], {})
    assert.equal(await publisher.exited, 0, publisher.stderr)
    const telemetry = await waitForEvent(telemetryFrom('mosq-1'))
    assert.equal(telemetry.event, 'telemetry')

    const listener = spawnReporter('bash', ['-c', sub], {})
    try {
      await whileRunning(listener, waitForEvent(c2dSubscribed('mosq-1')))
      const sent = await cli(['hub', 'send', 'mosq-1', 'to mosquitto', '-p', 'k=v w'], { env })
      assert.equal(sent.code, 0, sent.stderr)
      await stdoutOf(listener, 'to mosquitto')
      assert.match(listener.stdout, /^devices\/mosq-1\/messages\/devicebound\/\S*k=v%20w\S* to mosquitto$/m)
    } finally {
      await listener.stop('SIGTERM')
    }
  })
})

describe('the printed paho snippet, run with python3-paho-mqtt', () => {
  it('connects, publishes telemetry and prints the C2D `hub send` queued', async (t) => {
    let version = ''
    try {
      version = execFileSync(PYTHON, ['-c', 'import paho.mqtt; print(paho.mqtt.__version__)'], {
        encoding: 'utf8',
      }).trim()
    } catch {
      return t.skip('python3-paho-mqtt is not installed (.ci/run installs it)')
    }
    t.diagnostic(`paho-mqtt ${version}`)
    const snippet = await printed('paho-1', 'paho')
    const python = spawn(PYTHON, ['-'], {
      env: { PATH: process.env.PATH ?? '', PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const child = new Reporter(python)
    python.stdin.end(snippet)
    try {
      await whileRunning(child, waitForEvent(telemetryFrom('paho-1')))
      await whileRunning(child, waitForEvent(c2dSubscribed('paho-1')))
      const sent = await cli(['hub', 'send', 'paho-1', 'to paho'], { env })
      assert.equal(sent.code, 0, sent.stderr)
      await stdoutOf(child, 'to paho')
      assert.match(child.stdout, /^connected: (0|Success)$/m)
      assert.match(child.stdout, /^devices\/paho-1\/messages\/devicebound\/\S* to paho$/m)
    } finally {
      await child.stop('SIGTERM')
    }
  })
})
