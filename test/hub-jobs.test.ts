// Issue 19 item 3, proved with the official azure-iothub JobClient, unmodified: a scheduled twin
// update and a scheduled direct method over a query condition, with the job's status and
// statistics, and each device's result through FROM devices.jobs. What the jobs selected and did
// is checked against the devices this test made, filtered here in plain JS.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import type { MqttClient } from 'mqtt'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { connect } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'

type Json = Record<string, unknown>
type Iothub = typeof import('azure-iothub')

const DEVICES = [
  { id: 'j-a', line: 'press', online: true },
  { id: 'j-b', line: 'press', online: false },
  { id: 'j-c', line: 'paint', online: true },
  { id: 'j-d', line: 'press', online: true },
]

async function until<T>(f: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (done(v) || Date.now() > end) return v
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('jobs through azure-iothub JobClient', () => {
  let hub: Hub
  let iothub: Iothub
  const original = https.request
  const online: MqttClient[] = []
  before(async () => {
    hub = await startHub()
    https.request = ((
      options: https.RequestOptions,
      callback?: (res: import('node:http').IncomingMessage) => void,
    ) => original({ ...options, port: hub.ports.https, ca: hub.ca }, callback)) as typeof https.request
    iothub = createRequire(import.meta.url)('azure-iothub') as Iothub
    const registry = iothub.Registry.fromConnectionString(hub.hubConnectionString)
    for (const d of DEVICES) {
      const key =
        (await registry.create({ deviceId: d.id })).responseBody.authentication?.symmetricKey?.primaryKey ??
        ''
      await registry.updateTwin(d.id, { tags: { line: d.line } }, '*')
      if (!d.online) continue
      const device = await connect(hub, {
        clientId: d.id,
        username: `localhost/${d.id}/?api-version=2021-04-12`,
        password: hmacToken(`localhost/devices/${d.id}`, key, Math.floor(Date.now() / 1000) + 600),
      })
      await device.subscribeAsync('$iothub/methods/POST/#')
      device.on('message', (topic, payload) => {
        const rid = /\$rid=(.+)$/.exec(topic)?.[1]
        const asked = JSON.parse(payload.toString()) as Json
        device.publish(`$iothub/methods/res/200/?$rid=${rid}`, JSON.stringify({ device: d.id, asked }))
      })
      online.push(device)
    }
  })
  after(async () => {
    for (const d of online) d.end(true)
    https.request = original
    await hub.close()
  })

  it('scheduleTwinUpdate updates the twins the condition selects, and only those', async () => {
    const jobs = iothub.JobClient.fromConnectionString(hub.hubConnectionString)
    const scheduled = await jobs.scheduleTwinUpdate('twin-job', "tags.line = 'press'", {
      etag: '*',
      properties: { desired: { speed: 7 } },
    })
    assert.equal(scheduled.jobStatus.jobId, 'twin-job')
    assert.equal(scheduled.jobStatus.type, 'scheduleUpdateTwin')
    const done = await until(
      async () => (await jobs.getJob('twin-job')).jobStatus,
      (j) => j.status === 'completed',
    )
    const press = DEVICES.filter((d) => d.line === 'press').map((d) => d.id)
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.deviceJobStatistics, {
      deviceCount: press.length,
      failedCount: 0,
      succeededCount: press.length,
      runningCount: 0,
      pendingCount: 0,
    })
    for (const d of DEVICES) {
      const desired = ((await hub.getTwin(d.id)).properties as { desired: Json }).desired
      assert.equal(desired.speed, d.line === 'press' ? 7 : undefined, d.id)
    }
  })

  it('scheduleDeviceMethod calls every selected device; an offline one fails alone; devices.jobs has each result', async () => {
    const jobs = iothub.JobClient.fromConnectionString(hub.hubConnectionString)
    await jobs.scheduleDeviceMethod('method-job', "tags.line = 'press'", {
      methodName: 'calibrate',
      payload: { level: 2 },
      responseTimeoutInSeconds: 5,
    })
    const done = await until(
      async () => (await jobs.getJob('method-job')).jobStatus,
      (j) => j.status === 'completed',
    )
    const press = DEVICES.filter((d) => d.line === 'press')
    const stats = done.deviceJobStatistics as Json
    assert.equal(stats.deviceCount, press.length)
    assert.equal(stats.succeededCount, press.filter((d) => d.online).length)
    assert.equal(stats.failedCount, press.filter((d) => !d.online).length)
    const registry = iothub.Registry.fromConnectionString(hub.hubConnectionString)
    const page = await registry
      .createQuery("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'method-job'")
      .next()
    assert.equal(page.message.headers['x-ms-item-type'], 'deviceJob')
    const rows = (page.result as Json[]).sort((a, b) => String(a.deviceId).localeCompare(String(b.deviceId)))
    assert.deepEqual(
      rows.map((r) => [r.deviceId, r.status]),
      press.map((d) => [d.id, d.online ? 'completed' : 'failed']),
    )
    for (const r of rows.filter((r) => r.status === 'completed'))
      assert.deepEqual(r.outcome, {
        deviceMethodResponse: { status: 200, payload: { device: r.deviceId, asked: { level: 2 } } },
      })
    const offline = rows.find((r) => r.status === 'failed')
    assert.equal((offline?.error as Json | undefined)?.code, 'ERR_HUB_DEVICE_NOT_ONLINE')
  })

  it('a job scheduled later waits; cancelJob cancels it; createQuery lists jobs by type', async () => {
    const jobs = iothub.JobClient.fromConnectionString(hub.hubConnectionString)
    const later = new Date(Date.now() + 3_600_000)
    const scheduled = await jobs.scheduleTwinUpdate(
      'later-job',
      "deviceId = 'j-c'",
      { tags: { x: 1 } },
      later,
    )
    assert.equal(scheduled.jobStatus.status, 'scheduled')
    assert.equal((await jobs.cancelJob('later-job')).jobStatus.status, 'cancelled')
    assert.equal(((await hub.getTwin('j-c')).tags as Json).x, undefined)
    const listed = await jobs.createQuery('scheduleUpdateTwin').next()
    assert.deepEqual((listed.result as Json[]).map((j) => j.jobId).sort(), ['later-job', 'twin-job'])
  })

  it('JobClient.createQuery pages (x-ms-max-item-count, x-ms-continuation) through every job, in the order scheduled', async () => {
    const jobs = iothub.JobClient.fromConnectionString(hub.hubConnectionString)
    for (const n of [1, 2, 3])
      await jobs.scheduleTwinUpdate(
        `page-job-${n}`,
        "deviceId = 'j-c'",
        { tags: { n } },
        new Date(Date.now() + 3_600_000),
      )
    const query = jobs.createQuery(undefined, undefined, 2)
    const pages: string[][] = []
    while (query.hasMoreResults) {
      // next() without an argument would ask for the first page again (the SDK reads its argument)
      const page = await query.next(query.continuationToken)
      pages.push((page.result as Json[]).map((j) => String(j.jobId)))
      assert.ok(pages.length < 10, 'paging ends')
    }
    const all = ['twin-job', 'method-job', 'later-job', 'page-job-1', 'page-job-2', 'page-job-3']
    assert.deepEqual(pages, [all.slice(0, 2), all.slice(2, 4), all.slice(4)])
    const scheduled = await jobs.createQuery('scheduleUpdateTwin', 'scheduled').next()
    assert.deepEqual(
      (scheduled.result as Json[]).map((j) => j.jobId),
      ['page-job-1', 'page-job-2', 'page-job-3'],
    )
    for (const n of [1, 2, 3]) await jobs.cancelJob(`page-job-${n}`)
  })

  it('a bad condition is a 400 pointing into the condition; a taken job id is a 409', async () => {
    const r = await rest(hub, 'PUT', '/jobs/v2/bad-job?api-version=2021-04-12', {
      body: {
        type: 'scheduleUpdateTwin',
        queryCondition: "tags.line = = 'x'",
        updateTwin: { tags: { a: 1 } },
      },
    })
    assert.equal(r.status, 400)
    assert.match(
      String((r.body as Json).Message),
      /Query error at position 13 \(at "="\): in the job's queryCondition/,
    )
    const taken = await rest(hub, 'PUT', '/jobs/v2/twin-job?api-version=2021-04-12', {
      body: { type: 'scheduleUpdateTwin', queryCondition: 'true', updateTwin: { tags: { a: 1 } } },
    })
    assert.equal(taken.status, 409)
    assert.equal((await rest(hub, 'GET', '/jobs/v2/nojob?api-version=2021-04-12')).status, 404)
  })
})

describe('jobs are kept across a restart (state.jobs), as IoT Hub keeps job history', () => {
  const original = https.request
  let hub: Hub | undefined
  let port = 0
  let ca = ''
  before(() => {
    // The SDK dials port 443; route it to whichever hub runs now.
    https.request = ((
      options: https.RequestOptions,
      callback?: (res: import('node:http').IncomingMessage) => void,
    ) => original({ ...options, port, ca }, callback)) as typeof https.request
  })
  after(async () => {
    https.request = original
    await hub?.close()
  })
  const start = async (dir: string): Promise<Hub> => {
    hub = await startHub({ stateDir: dir })
    port = hub.ports.https
    ca = hub.ca
    return hub
  }

  it('a finished job keeps its status and device results; a later one still runs at its time; a running one is failed, not resumed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-jobs-'))
    try {
      const iothub = createRequire(import.meta.url)('azure-iothub') as Iothub
      let h = await start(dir)
      const registry = iothub.Registry.fromConnectionString(h.hubConnectionString)
      let jobs = iothub.JobClient.fromConnectionString(h.hubConnectionString)
      const key =
        (await registry.create({ deviceId: 'p-a' })).responseBody.authentication?.symmetricKey?.primaryKey ??
        ''
      await registry.create({ deviceId: 'p-b' })
      await jobs.scheduleTwinUpdate('done-job', "deviceId IN ['p-a', 'p-b']", {
        etag: '*',
        tags: { wave: 1 },
      })
      await until(
        async () => (await jobs.getJob('done-job')).jobStatus.status,
        (s) => s === 'completed',
      )
      const soon = new Date(Date.now() + 1500)
      await jobs.scheduleTwinUpdate('soon-job', "deviceId = 'p-b'", { etag: '*', tags: { wave: 2 } }, soon)
      // A device that takes the method call and never answers: the job is running when the hub stops.
      const device = await connect(h, {
        clientId: 'p-a',
        username: `localhost/p-a/?api-version=2021-04-12`,
        password: hmacToken('localhost/devices/p-a', key, Math.floor(Date.now() / 1000) + 600),
      })
      await device.subscribeAsync('$iothub/methods/POST/#')
      const asked = new Promise((resolve) => device.once('message', resolve))
      await jobs.scheduleDeviceMethod('stuck-job', "deviceId = 'p-a'", {
        methodName: 'slow',
        payload: null,
        responseTimeoutInSeconds: 300,
      })
      await asked
      assert.equal((await jobs.getJob('stuck-job')).jobStatus.status, 'running')
      device.end(true)
      await h.close()
      hub = undefined

      h = await start(dir)
      jobs = iothub.JobClient.fromConnectionString(h.hubConnectionString)
      const done = (await jobs.getJob('done-job')).jobStatus
      assert.equal(done.status, 'completed')
      assert.deepEqual(done.deviceJobStatistics, {
        deviceCount: 2,
        failedCount: 0,
        succeededCount: 2,
        runningCount: 0,
        pendingCount: 0,
      })
      const stuck = (await jobs.getJob('stuck-job')).jobStatus
      assert.equal(stuck.status, 'failed')
      assert.match(String(stuck.failureReason), /stopped while the job ran/)
      const rows = await iothub.Registry.fromConnectionString(h.hubConnectionString)
        .createQuery('SELECT * FROM devices.jobs')
        .next()
      assert.deepEqual(
        (rows.result as Json[])
          .map((r) => [r.jobId, r.deviceId, r.status, (r.error as Json | undefined)?.code ?? null])
          .sort((a, b) => String(a).localeCompare(String(b))),
        [
          ['done-job', 'p-a', 'completed', null],
          ['done-job', 'p-b', 'completed', null],
          ['stuck-job', 'p-a', 'failed', 'ERR_HUB_CLOSED'],
        ],
      )
      const soonJob = await until(
        async () => (await jobs.getJob('soon-job')).jobStatus,
        (j) => j.status === 'completed',
      )
      assert.equal(soonJob.status, 'completed')
      assert.ok(Date.now() >= soon.getTime(), 'it ran at its start time, not before')
      assert.deepEqual((await h.getTwin('p-b')).tags, { wave: 2 })
      assert.deepEqual((await h.getTwin('p-a')).tags, { wave: 1 })
      const listed = await jobs.createQuery().next()
      assert.deepEqual((listed.result as Json[]).map((j) => j.jobId).sort(), [
        'done-job',
        'soon-job',
        'stuck-job',
      ])
      await h.close()
      hub = undefined

      // As a killed hub leaves it: a job running (one device still running), and one that ended
      // 31 days ago (IoT Hub keeps a job's history 30 days).
      const file = join(dir, 'state.json')
      const state = JSON.parse(await readFile(file, 'utf8')) as { jobs: Record<string, Json> }
      const running = state.jobs['soon-job'] as Json & { devices: Json[] }
      running.status = 'running'
      delete running.endTime
      for (const d of running.devices) d.status = 'running'
      ;(state.jobs['done-job'] as Json).endTime = new Date(Date.now() - 31 * 86_400_000).toISOString()
      await writeFile(file, JSON.stringify(state))
      h = await start(dir)
      jobs = iothub.JobClient.fromConnectionString(h.hubConnectionString)
      const killed = (await jobs.getJob('soon-job')).jobStatus
      assert.equal(killed.status, 'failed')
      assert.match(String(killed.failureReason), /not resumed/)
      assert.deepEqual(killed.deviceJobStatistics, {
        deviceCount: 1,
        failedCount: 1,
        succeededCount: 0,
        runningCount: 0,
        pendingCount: 0,
      })
      const gone = await rest(h, 'GET', '/jobs/v2/done-job?api-version=2021-04-12')
      assert.equal(gone.status, 404)
      assert.equal((await rest(h, 'GET', '/jobs/v2/stuck-job?api-version=2021-04-12')).status, 200)
    } finally {
      await hub?.close()
      hub = undefined
      await rm(dir, { recursive: true, force: true })
    }
  })
})
