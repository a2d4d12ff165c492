// The device-to-cloud log (src/hub/state/d2c-log.ts): partitions by a SHA-256 of the device id
// (computed here), sequence numbers from 0 and offsets that are byte positions (read back from
// the files here), retention by count, bytes and age, start positions, consumer groups, and a
// restart that keeps every position (a line cut short by a crash is dropped; one broken in the
// middle is named). Then the real hub: an mqtt.js device's telemetry lands in its partition's
// file, survives a restart, and the ready document names the Event Hub-compatible endpoint.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { parseConnectionString } from 'sas-token'
import { DEVELOPMENT_OWNER_KEY, startHub } from 'sas-token/hub'
import { BIN, cleanEnv } from './support/cli.js'
import { hmacToken } from './support/hmac-token.js'
import { connect, nextEvent } from './support/hub-mqtt.js'

interface D2cRecord {
  partition: number
  sequenceNumber: number
  offset: string
  enqueuedTime: number
  partitionKey: string
  body: Buffer
  properties: Record<string, string | null>
  systemProperties: Record<string, string>
}
type D2cPosition =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offset'; offset: string; inclusive: boolean }
  | { kind: 'sequence'; sequenceNumber: number; inclusive: boolean }
  | { kind: 'enqueued'; time: number }
interface D2cLog {
  partitionCount: number
  consumerGroups: readonly string[]
  append(input: Omit<D2cRecord, 'partition' | 'sequenceNumber' | 'offset'>): D2cRecord
  partition(n: number): {
    beginningSequenceNumber: number
    lastEnqueuedSequenceNumber: number
    lastEnqueuedOffset: string
    lastEnqueuedTime: number
    isEmpty: boolean
  }
  startOf(n: number, position: D2cPosition): number
  read(n: number, from: number, max: number): D2cRecord[]
  tail(n: number, reader: (r: D2cRecord) => void): () => void
  consumerGroup(name: string): string | undefined
  committed(): Promise<void>
  close(): Promise<void>
}
interface D2cModule {
  D2cLog: {
    open(
      dir: string | undefined,
      o: {
        partitions?: number
        consumerGroups?: string[]
        retention?: { maxMessages?: number; maxBytes?: number; maxAgeSeconds?: number }
      },
      now: () => number,
      warn: (m: string) => void,
    ): Promise<D2cLog>
  }
}
const logPath = '../../dist/hub/state/d2c-log.js'
const { D2cLog } = (await import(logPath)) as D2cModule

/** The partition the test expects: SHA-256 of the id, first 4 bytes big-endian, mod n. */
const expectedPartition = (deviceId: string, n: number): number =>
  createHash('sha256').update(deviceId).digest().readUInt32BE(0) % n

const message = (deviceId: string, text: string, time = Date.now()) => ({
  enqueuedTime: time,
  partitionKey: deviceId,
  body: Buffer.from(text),
  properties: { app: text, flag: null },
  systemProperties: { messageId: `m-${text}`, 'iothub-connection-device-id': deviceId },
})

const KEY = Buffer.alloc(32, 9).toString('base64')

describe('device-to-cloud log', () => {
  const dirs: string[] = []
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-d2c-'))
    dirs.push(dir)
    return dir
  }
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it("puts each device's messages on one partition, by a SHA-256 of its id", async () => {
    for (const n of [4, 3, 1]) {
      const log = await D2cLog.open(undefined, n === 4 ? {} : { partitions: n }, Date.now, () => {})
      assert.equal(log.partitionCount, n)
      for (const id of ['dev1', 'dev2', 'thermostat-7', 'ü-device', 'a']) {
        const first = log.append(message(id, '1'))
        const second = log.append(message(id, '2'))
        assert.equal(first.partition, expectedPartition(id, n), `${id} on ${n} partitions`)
        assert.equal(second.partition, first.partition)
        assert.equal(second.partitionKey, id)
      }
      await log.close()
    }
  })

  it('spreads devices over all four partitions', async () => {
    const log = await D2cLog.open(undefined, {}, Date.now, () => {})
    const seen = new Set<number>()
    for (let i = 0; i < 40; i++) seen.add(log.append(message(`dev${i}`, 'x')).partition)
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3])
    await log.close()
  })

  it('numbers each partition from 0, and its offsets are the byte positions of the lines on disk', async () => {
    const dir = await tempDir()
    const log = await D2cLog.open(dir, {}, Date.now, () => {})
    const id = 'dev1'
    const p = expectedPartition(id, 4)
    const records = ['a', 'bb', 'a longer message body', '{"t":21.5}'].map((t) => log.append(message(id, t)))
    assert.deepEqual(
      records.map((r) => r.sequenceNumber),
      [0, 1, 2, 3],
    )
    await log.committed()
    const files = await readdir(join(dir, 'd2c', String(p)))
    assert.deepEqual(files, ['0-0.ndjson'])
    const text = await readFile(join(dir, 'd2c', String(p), '0-0.ndjson'))
    const positions: string[] = []
    let at = 0
    while (at < text.length) {
      positions.push(String(at))
      at = text.indexOf(10, at) + 1
    }
    assert.deepEqual(
      records.map((r) => r.offset),
      positions,
    )
    assert.deepEqual(log.partition(p), {
      beginningSequenceNumber: 0,
      lastEnqueuedSequenceNumber: 3,
      lastEnqueuedOffset: positions[3],
      lastEnqueuedTime: records[3]?.enqueuedTime,
      isEmpty: false,
    })
    const other = (p + 1) % 4
    assert.deepEqual(log.partition(other), {
      beginningSequenceNumber: 0,
      lastEnqueuedSequenceNumber: -1,
      lastEnqueuedOffset: '-1',
      lastEnqueuedTime: 0,
      isEmpty: true,
    })
    await log.close()
  })

  it('keeps at most maxMessages per partition, the newest', async () => {
    const log = await D2cLog.open(
      undefined,
      { partitions: 1, retention: { maxMessages: 5 } },
      Date.now,
      () => {},
    )
    for (let i = 0; i < 12; i++) log.append(message('dev1', String(i)))
    assert.equal(log.partition(0).beginningSequenceNumber, 7)
    assert.equal(log.partition(0).lastEnqueuedSequenceNumber, 11)
    assert.deepEqual(
      log.read(0, 0, 100).map((r) => r.body.toString()),
      ['7', '8', '9', '10', '11'],
    )
    assert.equal(log.startOf(0, { kind: 'earliest' }), 7)
    await log.close()
  })

  it('keeps at most maxBytes per partition', async () => {
    const log = await D2cLog.open(
      undefined,
      { partitions: 1, retention: { maxBytes: 1000 } },
      Date.now,
      () => {},
    )
    for (let i = 0; i < 20; i++) log.append(message('dev1', 'x'.repeat(150)))
    // each line holds 200 base64 characters of body, so at most 4 fit in 1000 bytes
    const kept = log.read(0, 0, 100)
    assert.ok(kept.length >= 1 && kept.length <= 4, `${kept.length} kept`)
    assert.equal(kept.at(-1)?.sequenceNumber, 19)
    await log.close()
  })

  it('drops messages older than maxAgeSeconds', async () => {
    let now = 1_000_000_000_000
    const log = await D2cLog.open(
      undefined,
      { partitions: 1, retention: { maxAgeSeconds: 60 } },
      () => now,
      () => {},
    )
    log.append(message('dev1', 'old', now))
    now += 30_000
    log.append(message('dev1', 'middle', now))
    now += 31_000 // 'old' is 61 s old now
    log.append(message('dev1', 'new', now))
    assert.deepEqual(
      log.read(0, 0, 10).map((r) => r.body.toString()),
      ['middle', 'new'],
    )
    assert.equal(log.partition(0).beginningSequenceNumber, 1)
    await log.close()
  })

  it('finds start positions: earliest, latest, offset, sequence number and enqueued time', async () => {
    // enqueued at 1000…1030 ms, read at 2000 (well within the day kept)
    const log = await D2cLog.open(
      undefined,
      { partitions: 1 },
      () => 2000,
      () => {},
    )
    const r = [0, 1, 2, 3].map((i) => log.append(message('dev1', String(i), 1000 + i * 10)))
    const offset1 = r[1]?.offset ?? ''
    assert.equal(log.startOf(0, { kind: 'earliest' }), 0)
    assert.equal(log.startOf(0, { kind: 'latest' }), 4)
    assert.equal(log.startOf(0, { kind: 'offset', offset: '-1', inclusive: false }), 0)
    assert.equal(log.startOf(0, { kind: 'offset', offset: offset1, inclusive: true }), 1)
    assert.equal(log.startOf(0, { kind: 'offset', offset: offset1, inclusive: false }), 2)
    assert.equal(log.startOf(0, { kind: 'sequence', sequenceNumber: 2, inclusive: true }), 2)
    assert.equal(log.startOf(0, { kind: 'sequence', sequenceNumber: 2, inclusive: false }), 3)
    assert.equal(log.startOf(0, { kind: 'enqueued', time: 1015 }), 2)
    assert.equal(log.startOf(0, { kind: 'enqueued', time: 5000 }), 4)
    const live: string[] = []
    const stop = log.tail(0, (x) => live.push(x.body.toString()))
    log.append(message('dev1', 'live'))
    stop()
    log.append(message('dev1', 'after'))
    assert.deepEqual(live, ['live'])
    await log.close()
  })

  it('has $Default and the consumer groups configured, compared without case', async () => {
    const log = await D2cLog.open(
      undefined,
      { consumerGroups: ['analytics', 'Alerts.v2'] },
      Date.now,
      () => {},
    )
    assert.deepEqual(log.consumerGroups, ['$Default', 'analytics', 'Alerts.v2'])
    assert.equal(log.consumerGroup('$default'), '$Default')
    assert.equal(log.consumerGroup('ANALYTICS'), 'analytics')
    assert.equal(log.consumerGroup('other'), undefined)
    await log.close()
    for (const bad of ['', '-x', 'a b', 'x'.repeat(51), '$Other']) {
      await assert.rejects(
        D2cLog.open(undefined, { consumerGroups: [bad] }, Date.now, () => {}),
        {
          code: 'ERR_INVALID_OPTION',
        },
      )
    }
    for (const partitions of [0, 129, 1.5]) {
      await assert.rejects(
        D2cLog.open(undefined, { partitions }, Date.now, () => {}),
        {
          code: 'ERR_INVALID_OPTION',
        },
      )
    }
  })

  it('survives a restart: messages, sequence numbers and offsets go on where they were', async () => {
    const dir = await tempDir()
    const p = expectedPartition('dev1', 4)
    let log = await D2cLog.open(dir, {}, Date.now, () => {})
    const before = ['a', 'b', 'c'].map((t) => log.append(message('dev1', t)))
    await log.close()
    log = await D2cLog.open(dir, {}, Date.now, () => {})
    const kept = log.read(p, 0, 10)
    assert.deepEqual(
      kept.map((r) => [r.sequenceNumber, r.offset, r.body.toString(), r.properties, r.systemProperties]),
      before.map((r) => [r.sequenceNumber, r.offset, r.body.toString(), r.properties, r.systemProperties]),
    )
    const next = log.append(message('dev1', 'd'))
    assert.equal(next.sequenceNumber, 3)
    await log.close()
    const text = await readFile(join(dir, 'd2c', String(p), '0-0.ndjson'), 'utf8')
    const lines = text.split('\n').filter((l) => l !== '')
    assert.equal(lines.length, 4)
    assert.equal(next.offset, String(Buffer.byteLength(lines.slice(0, 3).join('\n')) + 1))
  })

  it('drops a last line cut short by a crash, and names a broken line in the middle', async () => {
    const dir = await tempDir()
    const p = expectedPartition('dev1', 4)
    const file = join(dir, 'd2c', String(p), '0-0.ndjson')
    let log = await D2cLog.open(dir, {}, Date.now, () => {})
    log.append(message('dev1', 'a'))
    log.append(message('dev1', 'b'))
    await log.close()
    const whole = await readFile(file, 'utf8')
    await appendFile(file, '{"s":2,"o":')
    log = await D2cLog.open(dir, {}, Date.now, () => {})
    assert.equal(log.partition(p).lastEnqueuedSequenceNumber, 1)
    assert.equal(await readFile(file, 'utf8'), whole, 'the torn line is cut off')
    assert.equal(log.append(message('dev1', 'c')).sequenceNumber, 2)
    await log.close()
    const lines = (await readFile(file, 'utf8')).split('\n')
    lines[0] = 'not json'
    await writeFile(file, lines.join('\n'))
    await assert.rejects(
      D2cLog.open(dir, {}, Date.now, () => {}),
      (err: Error & { code?: string; file?: string }) => {
        assert.equal(err.code, 'ERR_HUB_STATE_CORRUPT')
        assert.equal(err.file, file)
        assert.match(err.message, /line 1/)
        return true
      },
    )
  })

  it('refuses fewer partitions than the log on disk was written with', async () => {
    const dir = await tempDir()
    const log = await D2cLog.open(dir, { partitions: 8 }, Date.now, () => {})
    await log.close()
    await assert.rejects(
      D2cLog.open(dir, { partitions: 4 }, Date.now, () => {}),
      {
        code: 'ERR_HUB_STATE_CORRUPT',
      },
    )
  })

  it('rolls segments and removes those out of retention', async () => {
    const dir = await tempDir()
    const log = await D2cLog.open(dir, { partitions: 1, retention: { maxMessages: 100 } }, Date.now, () => {})
    for (let i = 0; i < 400; i++) {
      log.append(message('dev1', String(i)))
      if (i % 10 === 9) await log.committed()
    }
    await log.committed()
    const files = (await readdir(join(dir, 'd2c', '0'))).sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
    const firsts = files.map((f) => Number(f.split('-')[0]))
    // segments of 64 lines at least; the oldest kept message (300) is in the first one left
    assert.ok(files.length >= 2 && files.length <= 4, files.join(' '))
    assert.ok((firsts[0] ?? Infinity) <= 300 && (firsts[1] ?? 0) > 300, files.join(' '))
    await log.close()
    const reopened = await D2cLog.open(
      dir,
      { partitions: 1, retention: { maxMessages: 100 } },
      Date.now,
      () => {},
    )
    assert.equal(reopened.partition(0).beginningSequenceNumber, 300)
    assert.equal(reopened.partition(0).lastEnqueuedSequenceNumber, 399)
    await reopened.close()
  })

  it('on a full disk: says so once, keeps serving from memory, and writes again when there is room', async (t) => {
    const mnt = await tempDir()
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt])
    } catch {
      t.skip('cannot mount a tmpfs here (needs root)')
      return
    }
    try {
      const warnings: string[] = []
      const log = await D2cLog.open(mnt, { partitions: 1 }, Date.now, (m) => warnings.push(m))
      await writeFile(join(mnt, 'filler'), Buffer.alloc(1024 * 1024)).catch(() => undefined)
      let failure: unknown
      for (let i = 0; i < 200 && failure === undefined; i++) {
        log.append(message('dev1', 'x'.repeat(2000)))
        await log.committed().catch((err: unknown) => {
          failure = err
        })
      }
      assert.equal((failure as { code?: string } | undefined)?.code, 'ERR_HUB_STATE_IO')
      assert.equal(warnings.length, 1)
      assert.match(warnings[0] ?? '', /Could not append to the device-to-cloud log .*d2c.*0.*: .*ENOSPC/)
      // the hub goes on: more messages are taken and readable
      const more = log.append(message('dev1', 'while full'))
      assert.equal(log.read(0, more.sequenceNumber, 1)[0]?.body.toString(), 'while full')
      await log.committed().catch(() => undefined)
      assert.equal(warnings.length, 1, 'told once')
      await rm(join(mnt, 'filler'))
      await new Promise((resolve) => setTimeout(resolve, 1500))
      await log.committed()
      assert.match(warnings.at(-1) ?? '', /written again/)
      await log.close()
      const reopened = await D2cLog.open(mnt, { partitions: 1 }, Date.now, () => {})
      assert.equal(reopened.partition(0).lastEnqueuedSequenceNumber, more.sequenceNumber)
      assert.equal(reopened.read(0, more.sequenceNumber, 1)[0]?.body.toString(), 'while full')
      await reopened.close()
    } finally {
      execFileSync('umount', ['-l', mnt])
    }
  })

  it('keeps nothing on disk in memory', async () => {
    const log = await D2cLog.open(undefined, {}, Date.now, () => {})
    log.append(message('dev1', 'a'))
    await log.committed()
    await log.close()
    await assert.rejects(async () => log.append(message('dev1', 'b')), { code: 'ERR_HUB_CLOSED' })
  })
})

describe('the hub appends every device-to-cloud message to the log', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it("an mqtt.js device's telemetry is in its partition's file, across a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-d2c-hub-'))
    dirs.push(dir)
    const p = expectedPartition('sensor-1', 4)
    const file = join(dir, 'd2c', String(p), '0-0.ndjson')
    for (const round of [0, 1]) {
      const hub = await startHub({ stateDir: dir, amqpPort: false })
      await hub.addDevice('sensor-1', { primaryKey: KEY, secondaryKey: KEY })
      const device = await connect(hub, {
        clientId: 'sensor-1',
        username: 'localhost/sensor-1/?api-version=2021-04-12',
        password: hmacToken('localhost/devices/sensor-1', KEY, Math.floor(Date.now() / 1000) + 600),
      })
      const seen = nextEvent(hub, 'telemetry')
      await device.publishAsync(
        `devices/sensor-1/messages/events/%24.mid=m${round}&%24.ct=application%2Fjson&room=lab`,
        `{"round":${round}}`,
        { qos: 1 },
      )
      await seen
      await device.endAsync()
      await hub.close()
      const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '')
      assert.equal(lines.length, round + 1)
      const line = JSON.parse(lines[round] ?? '') as {
        s: number
        k: string
        b: string
        p: Record<string, string>
        y: Record<string, string>
      }
      assert.equal(line.s, round)
      assert.equal(line.k, 'sensor-1')
      assert.equal(Buffer.from(line.b, 'base64').toString(), `{"round":${round}}`)
      assert.deepEqual(line.p, { room: 'lab' })
      assert.equal(line.y.messageId, `m${round}`)
      assert.equal(line.y.contentType, 'application/json')
      assert.equal(line.y['iothub-connection-device-id'], 'sensor-1')
      assert.equal(line.y['iothub-message-source'], 'Telemetry')
      assert.match(line.y['iothub-connection-auth-method'] ?? '', /"scope":"device","type":"sas"/)
    }
  })

  it('the handle and the ready line give the Event Hub-compatible connection string, and parseConnectionString reads it', async () => {
    const hub = await startHub({ hostName: 'myhub.local' })
    try {
      const text = hub.eventHubConnectionString ?? ''
      assert.equal(
        text,
        `Endpoint=sb://myhub.local:${hub.ports.amqp}/;SharedAccessKeyName=iothubowner;SharedAccessKey=${DEVELOPMENT_OWNER_KEY};EntityPath=myhub`,
      )
      const cs = parseConnectionString(text)
      assert.equal(cs.kind, 'service-bus')
      if (cs.kind !== 'service-bus') return
      assert.equal(cs.namespace, 'myhub.local')
      assert.equal(cs.port, hub.ports.amqp)
      assert.equal(cs.entityPath, 'myhub')
      assert.equal(cs.sharedAccessKeyName, 'iothubowner')
      assert.equal(cs.sharedAccessKey, DEVELOPMENT_OWNER_KEY)
    } finally {
      await hub.close()
    }
    const off = await startHub({ amqpPort: false })
    assert.equal(off.eventHubConnectionString, undefined)
    await off.close()

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
        '--amqp-port',
        '0',
        '--no-console',
      ],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const first = await new Promise<string>((resolve) =>
      createInterface({ input: child.stdout }).once('line', resolve),
    )
    child.kill('SIGTERM')
    const ready = JSON.parse(first) as { eventHubConnectionString: string; ports: { amqp: number } }
    const cs = parseConnectionString(ready.eventHubConnectionString)
    assert.equal(cs.kind, 'service-bus')
    if (cs.kind === 'service-bus') {
      assert.equal(cs.namespace, 'localhost')
      assert.equal(cs.port, ready.ports.amqp)
      assert.equal(cs.entityPath, 'localhost')
    }
  })

  it('--partitions, --consumer-group and the retention flags reach the hub; a bad one is refused', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string; first: string }>((resolve) => {
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
            '--no-amqp',
            '--no-console',
            ...args,
          ],
          { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
        )
        let stderr = ''
        let first = ''
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString()
        })
        createInterface({ input: child.stdout }).once('line', (l) => {
          first = l
          child.kill('SIGTERM')
        })
        child.once('exit', (code) => resolve({ code, stderr, first }))
      })
    const ok = await run([
      '--partitions',
      '8',
      '--consumer-group',
      'a',
      '--consumer-group',
      'b',
      '--retention-messages',
      '50',
      '--retention-age',
      '2h',
    ])
    const ready = JSON.parse(ok.first) as { event: string; eventHub: unknown }
    assert.equal(ready.event, 'ready')
    assert.deepEqual(ready.eventHub, {
      name: 'localhost',
      partitions: 8,
      consumerGroups: ['$Default', 'a', 'b'],
      retention: { maxMessages: 50, maxBytes: 64 * 1024 * 1024, maxAgeSeconds: 7200 },
    })
    const bad = await run(['--partitions', '200'])
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /partitions must be 128 or fewer/)
    const badGroup = await run(['--consumer-group', 'a b'])
    assert.notEqual(badGroup.code, 0)
    assert.match(badGroup.stderr, /consumer group \\"a b\\"/)
    const badAge = await run(['--retention-age', 'soon'])
    assert.notEqual(badAge.code, 0)
    assert.match(badAge.stderr, /--retention-age soon/)
  })
})
