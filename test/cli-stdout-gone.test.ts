// When stdout's reader goes away (`sas-token … | head -1`), the long-running commands stop their
// work and the process ends by itself, with exit 0 and nothing on stderr: a batch stops reading
// and signing (its worker threads too), `hub` closes the hub as on Ctrl-C (its devices are
// disconnected), `hub watch` ends its event stream. Real pipes: bash, `head`, a real hub.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import mqtt from 'mqtt'
import { mqttCredentials } from 'sas-token'
import { startHub } from 'sas-token/hub'
import { BIN, cleanEnv } from './support/cli.js'
import { SERVICE_CS } from './support/fixtures.js'

/** A pipeline run: what the reader printed, the CLI's own exit code, its stderr, and how long it took. */
interface Piped {
  read: string
  code: string
  stderr: string
  ms: number
}

/**
 * Runs `producer | sas-token args | head -1` in bash; `onRead` is called with the reader's line
 * once it has it (the reader has exited by then). Resolves once the CLI has exited (a producer
 * that is still running is then killed: only the CLI is under test).
 */
function piped(
  producer: string,
  args: string,
  env: Record<string, string> = {},
  onRead: (line: string) => void = () => {},
): Promise<Piped> {
  const dir = mkdtempSync(join(tmpdir(), 'sas-token-gone-'))
  const err = join(dir, 'stderr')
  const code = join(dir, 'code')
  const script = `${producer} | { "${process.execPath}" "${BIN}" ${args} 2>"${err}"; echo $? >"${code}.tmp"; mv "${code}.tmp" "${code}"; } | head -1`
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      env: cleanEnv({ SCS: SERVICE_CS, ...env }),
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    })
    let out = ''
    let told = false
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const nl = out.indexOf('\n')
      if (!told && nl >= 0) {
        told = true
        onRead(out.slice(0, nl))
      }
    })
    child.on('error', reject)
    const poll = setInterval(() => {
      if (!existsSync(code)) return
      clearInterval(poll)
      const ms = Date.now() - started
      try {
        process.kill(-(child.pid as number), 'SIGKILL') // the producer, if it still runs
      } catch {}
      resolve({
        read: out.split('\n')[0] ?? '',
        code: readFileSync(code, 'utf8').trim(),
        stderr: readFileSync(err, 'utf8'),
        ms,
      })
    }, 20)
  })
}

describe('stdout whose reader has gone', () => {
  for (const workers of ['off', 'on']) {
    it(`generate --batch of endless input (workers ${workers}): stops, exit 0, nothing on stderr`, async () => {
      const r = await piped('yes dev1', 'gen --batch -c "$SCS"', { SAS_TOKEN_BATCH_WORKERS: workers })
      assert.match(r.read, /^\{"line":1,"deviceId":"dev1","token":"SharedAccessSignature sr=/)
      assert.deepEqual({ code: r.code, stderr: r.stderr }, { code: '0', stderr: '' })
    })
  }

  it('generate --batch of input that stalls: stops reading at once', async () => {
    // 20,000 lines, then a producer that sleeps: the batch must not wait for it.
    const r = await piped('{ seq 20000 | sed s/^/d/; sleep 30; }', 'gen --batch -c "$SCS"', {
      SAS_TOKEN_BATCH_WORKERS: 'off',
    })
    assert.deepEqual({ code: r.code, stderr: r.stderr }, { code: '0', stderr: '' })
    assert.ok(r.ms < 20_000, `${r.ms} ms`)
  })

  it('hub --json: the hub closes as on Ctrl-C once its log has no reader', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'sas-token-gone-hub-'))
    let device: mqtt.MqttClient | undefined
    let deviceClosed: Promise<void> | undefined
    const r = await piped(
      'true',
      `hub --json --state-dir "${stateDir}" --mqtt-port 0 --https-port 0 --no-console --device dev1`,
      {},
      (line) => {
        // The reader has the ready line and is gone; the device's connect is the next log line.
        const ready = JSON.parse(line) as { ports: { mqtt: number }; ca: string; devices: { dev1: string } }
        const creds = mqttCredentials(ready.devices.dev1)
        const ca = readFileSync(join(stateDir, 'ca.pem'), 'utf8')
        device = mqtt.connect({
          host: '127.0.0.1',
          port: ready.ports.mqtt,
          protocol: 'mqtts',
          servername: 'localhost',
          ca,
          clientId: creds.clientId,
          username: creds.username,
          password: creds.password ?? '',
          protocolVersion: 4,
          reconnectPeriod: 0,
        })
        device.on('error', () => {})
        deviceClosed = new Promise((resolve) => device?.once('close', () => resolve()))
      },
    )
    assert.match(r.read, /^\{"event":"ready",/)
    assert.deepEqual({ code: r.code, stderr: r.stderr }, { code: '0', stderr: '' })
    assert.ok(deviceClosed !== undefined)
    await deviceClosed // the hub closed the device's connection before it ended
    device?.end(true)
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      devices: Record<string, unknown>
    }
    assert.deepEqual(Object.keys(state.devices), ['dev1'])
  })

  it('hub watch --json: the event stream ends once its reader is gone', async () => {
    const hub = await startHub({ inMemory: true, mqttPort: 0, httpsPort: 0 })
    const caFile = join(mkdtempSync(join(tmpdir(), 'sas-token-gone-ca-')), 'ca.pem')
    writeFileSync(caFile, hub.ca)
    let read = false
    let n = 0
    try {
      const watching = piped(
        'true',
        `hub watch --json -c "$HUB_CS" --endpoint https://localhost:${hub.ports.https} --ca "${caFile}"`,
        { HUB_CS: hub.hubConnectionString },
        () => {
          read = true
        },
      )
      // Events until the reader has one (the stream may not be open for the first), then one
      // more: the one the watch writes into the closed pipe.
      while (!read) {
        await hub.addDevice(`dev${n++}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      await hub.addDevice(`dev${n++}`)
      const r = await watching
      assert.match(r.read, /^\{"event":"[a-z-]+"/)
      assert.deepEqual(
        { code: r.code, stderr: r.stderr.replace(/^sas-token: watching .*\n/, '') },
        { code: '0', stderr: '' },
      )
    } finally {
      await hub.close()
    }
  })

  it('hub > /dev/full: one line, exit 1, and the hub stops (it ran on with nowhere to log)', () => {
    const full = openSync('/dev/full', 'w')
    try {
      const r = spawnSync(
        process.execPath,
        [BIN, 'hub', '--in-memory', '--mqtt-port', '0', '--https-port', '0', '--no-console'],
        { env: cleanEnv(), stdio: ['ignore', full, 'pipe'], encoding: 'utf8', timeout: 15_000 },
      )
      // Ended by itself, not by the timeout's SIGTERM (on which the hub closes too).
      assert.equal(r.error, undefined, 'the hub ran until the timeout')
      assert.deepEqual(
        { status: r.status, stderr: r.stderr },
        { status: 1, stderr: 'sas-token: error: cannot write to stdout (ENOSPC).\n' },
      )
    } finally {
      closeSync(full)
    }
  })
})
