// Issue 19 items 1 and 2, proved with the official azure-iothub SDK, unmodified: the bulk registry
// (addDevices, updateDevices, removeDevices) with IoT Hub's partial success, the query language
// over more than one page (nextAsTwin until hasMoreResults is false), and the statistics. Every
// result is checked against what this test created, filtered and counted here in plain JS.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { connect } from './support/hub-mqtt.js'
import { rest } from './support/hub-rest.js'

type Json = Record<string, unknown>
type Registry = import('azure-iothub').Registry
type SdkError = Error & { responseBody?: string; response?: { statusCode?: number } }

/** What this test puts in the registry: the ground truth the hub's answers are checked against. */
interface Made {
  id: string
  site: 'north' | 'south' | 'east'
  floor: number
  enabled: boolean
}
const SITES = ['north', 'south', 'east'] as const
const MADE: Made[] = Array.from({ length: 23 }, (_, i) => ({
  id: `q-${String(i).padStart(2, '0')}`,
  site: SITES[i % 3] ?? 'north',
  floor: i % 5,
  enabled: i % 4 !== 0,
}))

async function rejection(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p
  } catch (err) {
    return err as SdkError
  }
  assert.fail('expected the call to fail')
}

function bulkBody(err: SdkError): { isSuccessful: boolean; errors: Json[]; warnings: unknown[] } {
  return JSON.parse(err.responseBody ?? '{}') as {
    isSuccessful: boolean
    errors: Json[]
    warnings: unknown[]
  }
}

describe('query language, bulk registry and statistics through azure-iothub', () => {
  let hub: Hub
  let registry: Registry
  const original = https.request
  before(async () => {
    hub = await startHub()
    // The SDK dials port 443; route its requests to this hub's port and CA (nothing else changes).
    https.request = ((
      options: https.RequestOptions,
      callback?: (res: import('node:http').IncomingMessage) => void,
    ) => original({ ...options, port: hub.ports.https, ca: hub.ca }, callback)) as typeof https.request
    const require = createRequire(import.meta.url)
    const { Registry } = require('azure-iothub') as typeof import('azure-iothub')
    registry = Registry.fromConnectionString(hub.hubConnectionString)
  })
  after(async () => {
    https.request = original
    await hub.close()
  })

  it('addDevices creates them all (200, isSuccessful); the registry then lists exactly them', async () => {
    assert.deepEqual((await registry.list()).responseBody, [])
    for (let i = 0; i < MADE.length; i += 10) {
      const chunk = MADE.slice(i, i + 10).map((m) => ({
        deviceId: m.id,
        status: m.enabled ? 'enabled' : 'disabled',
      }))
      const result = await registry.addDevices(chunk)
      assert.equal(result.httpResponse.statusCode, 200)
      assert.deepEqual(result.responseBody, { isSuccessful: true, errors: [], warnings: [] })
    }
    const listed = (await registry.list()).responseBody
    assert.deepEqual(listed.map((d) => d.deviceId).sort(), MADE.map((m) => m.id).sort())
    for (const d of listed) {
      const made = MADE.find((m) => m.id === d.deviceId)
      assert.equal(d.status, made?.enabled ? 'enabled' : 'disabled', d.deviceId)
      assert.equal(Buffer.from(d.authentication?.symmetricKey?.primaryKey ?? '', 'base64').length, 32)
    }
    for (const m of MADE) await registry.updateTwin(m.id, { tags: { site: m.site, floor: m.floor } }, '*')
  })

  it('createQuery pages with nextAsTwin until hasMoreResults is false; the twins are the ones filtered here', async () => {
    const query = registry.createQuery(
      "SELECT * FROM devices WHERE tags.site IN ['north', 'east'] AND tags.floor >= 1",
      4,
    )
    const got: string[] = []
    let pages = 0
    while (query.hasMoreResults) {
      const page = await query.nextAsTwin()
      pages += 1
      assert.ok(page.result.length <= 4, `page ${pages} has ${page.result.length} twins`)
      assert.equal(page.message.headers['x-ms-item-type'], 'twin')
      for (const twin of page.result) {
        assert.equal(typeof twin.etag, 'string')
        got.push(twin.deviceId)
      }
      assert.ok(pages < 50, 'paging ends')
    }
    const expected = MADE.filter((m) => (m.site === 'north' || m.site === 'east') && m.floor >= 1).map(
      (m) => m.id,
    )
    assert.ok(expected.length > 8, `more than two pages of 4 (${expected.length})`)
    assert.equal(pages, Math.ceil(expected.length / 4))
    assert.deepEqual(got.sort(), expected.sort())
  })

  it('projections and GROUP BY with COUNT() come back raw, as counted here', async () => {
    const grouped = await registry
      .createQuery(
        "SELECT tags.site AS site, COUNT() AS n FROM devices WHERE status = 'enabled' GROUP BY tags.site",
      )
      .next()
    assert.equal(grouped.message.headers['x-ms-item-type'], 'raw')
    const counted = new Map<string, number>()
    for (const m of MADE.filter((m) => m.enabled)) counted.set(m.site, (counted.get(m.site) ?? 0) + 1)
    const rows = grouped.result as Array<{ site: string; n: number }>
    assert.deepEqual(new Map(rows.map((r) => [r.site, r.n])), counted)
    const projected = await registry
      .createQuery("SELECT deviceId, tags.floor FROM devices WHERE STARTSWITH(deviceId, 'q-1')")
      .next()
    assert.deepEqual(
      (projected.result as Json[]).sort((a, b) => String(a.deviceId).localeCompare(String(b.deviceId))),
      MADE.filter((m) => m.id.startsWith('q-1')).map((m) => ({ deviceId: m.id, floor: m.floor })),
    )
  })

  it('a bad query is a 400 in IoT Hub’s error shape that points at the token', async () => {
    const err = await rejection(registry.createQuery('SELECT * FROM devices WHERE tags.site = ').next())
    assert.equal(err.name, 'ArgumentError')
    const body = JSON.parse(err.responseBody ?? '{}') as Json
    assert.match(
      String(body.Message),
      /^ErrorCode:ArgumentInvalid;Query error at position 41 \(at the end of the query\)/,
    )
    const r = await rest(hub, 'POST', '/devices/query', {
      body: { query: 'SELECT * FROM devices' },
      headers: { 'x-ms-continuation': 'not-a-token' },
    })
    assert.equal(r.status, 400)
    assert.match(String((r.body as Json).Message), /x-ms-continuation/)
  })

  it('getRegistryStatistics and /statistics/service count what is there', async () => {
    const stats = (await registry.getRegistryStatistics()).responseBody
    const enabled = MADE.filter((m) => m.enabled).length
    assert.deepEqual(stats, {
      totalDeviceCount: MADE.length,
      enabledDeviceCount: enabled,
      disabledDeviceCount: MADE.length - enabled,
    })
    const made = MADE.find((m) => m.enabled) as Made
    const key = (await registry.get(made.id)).responseBody.authentication?.symmetricKey?.primaryKey ?? ''
    const device = await connect(hub, {
      clientId: made.id,
      username: `localhost/${made.id}/?api-version=2021-04-12`,
      password: hmacToken(`localhost/devices/${made.id}`, key, Math.floor(Date.now() / 1000) + 600),
    })
    try {
      assert.deepEqual((await rest(hub, 'GET', '/statistics/service?api-version=2021-04-12')).body, {
        connectedDeviceCount: 1,
      })
      const connected = await registry
        .createQuery("SELECT deviceId FROM devices WHERE connectionState = 'Connected'")
        .next()
      assert.deepEqual(connected.result, [{ deviceId: made.id }])
      // lastActivityTime: the device's telemetry makes it now; the others never were active
      const before = new Date(Date.now() - 1000).toISOString()
      await device.publishAsync(`devices/${made.id}/messages/events/`, 'x', { qos: 1 })
      const active = await registry
        .createQuery(`SELECT deviceId, lastActivityTime FROM devices WHERE lastActivityTime > '${before}'`)
        .next()
      const rows = active.result as Array<{ deviceId: string; lastActivityTime: string }>
      assert.deepEqual(
        rows.map((r) => r.deviceId),
        [made.id],
      )
      assert.ok(Date.parse(rows[0]?.lastActivityTime ?? '') >= Date.parse(before), JSON.stringify(rows))
      const never = await registry
        .createQuery("SELECT COUNT() AS n FROM devices WHERE lastActivityTime = '0001-01-01T00:00:00Z'")
        .next()
      assert.deepEqual(never.result, [{ n: MADE.length - 1 }])
    } finally {
      device.end(true)
    }
  })

  it('updateDevices: a stale etag fails that device alone (400, PreconditionFailed); the others are updated', async () => {
    const [a, b] = [MADE[1] as Made, MADE[2] as Made]
    const etagB = (await registry.get(b.id)).responseBody.etag
    const err = await rejection(
      registry.updateDevices(
        [
          { deviceId: a.id, status: 'disabled', etag: 'c3RhbGU=' },
          { deviceId: b.id, status: 'disabled', etag: etagB },
        ],
        false,
      ),
    )
    assert.equal(err.name, 'ArgumentError')
    const result = bulkBody(err)
    assert.equal(result.isSuccessful, false)
    assert.deepEqual(
      result.errors.map((e) => [e.deviceId, e.errorCode]),
      [[a.id, 'PreconditionFailed']],
    )
    assert.equal(typeof result.errors[0]?.errorStatus, 'string')
    assert.equal((await registry.get(a.id)).responseBody.status, a.enabled ? 'enabled' : 'disabled')
    assert.equal((await registry.get(b.id)).responseBody.status, 'disabled')
    const forced = await registry.updateDevices([{ deviceId: a.id, status: 'disabled' }], true)
    assert.equal(forced.responseBody.isSuccessful, true)
    assert.equal((await registry.get(a.id)).responseBody.status, 'disabled')
  })

  it('addDevices with one that exists: DeviceAlreadyExists for it, the new one is created', async () => {
    const err = await rejection(registry.addDevices([{ deviceId: MADE[0]?.id ?? '' }, { deviceId: 'q-new' }]))
    assert.deepEqual(
      bulkBody(err).errors.map((e) => [e.deviceId, e.errorCode]),
      [[MADE[0]?.id, 'DeviceAlreadyExists']],
    )
    assert.equal((await registry.get('q-new')).responseBody.deviceId, 'q-new')
  })

  it('removeDevices removes them; a missing one is DeviceNotFound; what was removed is gone from queries', async () => {
    const gone = MADE.slice(0, 5).map((m) => ({ deviceId: m.id }))
    assert.equal((await registry.removeDevices(gone, true)).responseBody.isSuccessful, true)
    const err = await rejection(registry.removeDevices([{ deviceId: 'q-new' }, { deviceId: 'nobody' }], true))
    assert.deepEqual(
      bulkBody(err).errors.map((e) => [e.deviceId, e.errorCode]),
      [['nobody', 'DeviceNotFound']],
    )
    const count = await registry.createQuery('SELECT COUNT() AS n FROM devices').next()
    assert.deepEqual(count.result, [{ n: MADE.length - 5 }])
    const stats = (await registry.getRegistryStatistics()).responseBody
    assert.equal(stats.totalDeviceCount, MADE.length - 5)
  })

  it('the bulk body is checked before anything changes: over 100 items is 413, a device named twice 400', async () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ id: `many-${i}`, importMode: 'create' }))
    const tooMany = await rest(hub, 'POST', '/devices?api-version=2021-04-12', { body: many })
    assert.equal(tooMany.status, 413)
    assert.match(String((tooMany.body as Json).Message), /^ErrorCode:TooManyDevices;/)
    const twice = await rest(hub, 'POST', '/devices?api-version=2021-04-12', {
      body: [
        { id: 'dup', importMode: 'create' },
        { id: 'dup', importMode: 'delete' },
      ],
    })
    assert.equal(twice.status, 400)
    assert.match(String((twice.body as Json).Message), /more than once/)
    const mode = await rest(hub, 'POST', '/devices?api-version=2021-04-12', {
      body: [{ id: 'x1', importMode: 'merge' }],
    })
    assert.equal(mode.status, 400)
    assert.match(String((mode.body as Json).Message), /0\.importMode "merge" is not one of/)
    assert.equal((await rest(hub, 'GET', '/devices/dup')).status, 404)
    assert.equal((await rest(hub, 'GET', '/devices/many-0')).status, 404)
  })

  it('bulk create with tags and a module; FROM devices.modules finds the module', async () => {
    const r = await rest(hub, 'POST', '/devices?api-version=2021-04-12', {
      body: [
        { id: 'edge1', importMode: 'create', tags: { role: 'gateway' } },
        { id: 'edge1', moduleId: 'filter', importMode: 'create', tags: { role: 'module' } },
      ],
    })
    assert.equal(r.status, 200, r.text)
    const modules = await registry
      .createQuery("SELECT * FROM devices.modules WHERE tags.role = 'module'")
      .next()
    assert.deepEqual(
      (modules.result as Json[]).map((t) => [t.deviceId, t.moduleId]),
      [['edge1', 'filter']],
    )
    const tagged = await registry
      .createQuery("SELECT deviceId FROM devices WHERE tags.role = 'gateway'")
      .next()
    assert.deepEqual(tagged.result, [{ deviceId: 'edge1' }])
  })
  it('a page at a time, deleting what each page brought: every device is seen once and none is skipped', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `del-${String(i).padStart(2, '0')}`)
    await registry.addDevices(ids.map((deviceId) => ({ deviceId })))
    for (const id of ids) await registry.updateTwin(id, { tags: { sweep: true } }, '*')
    const query = registry.createQuery('SELECT * FROM devices WHERE tags.sweep = true', 3)
    const seen: string[] = []
    while (query.hasMoreResults) {
      const page = await query.nextAsTwin()
      const got = page.result.map((t) => t.deviceId)
      seen.push(...got)
      // the cleanup script's way: remove what this page listed before asking for the next
      if (got.length > 0)
        await registry.removeDevices(
          got.map((deviceId) => ({ deviceId })),
          true,
        )
      assert.ok(seen.length <= 20, 'paging ends')
    }
    assert.deepEqual(seen, ids)
    const left = await registry.createQuery('SELECT COUNT() AS n FROM devices WHERE tags.sweep = true').next()
    assert.deepEqual(left.result, [{ n: 0 }])
  })

  it('TOP counts across pages: TOP 5 in pages of 2 is 2, 2 and 1, the first 5 in id order', async () => {
    const query = registry.createQuery(
      "SELECT TOP 5 deviceId FROM devices WHERE STARTSWITH(deviceId, 'q-')",
      2,
    )
    const pages: string[][] = []
    while (query.hasMoreResults) {
      // next() without an argument would ask for the first page again (the SDK reads its argument)
      const page = await query.next(query.continuationToken)
      pages.push((page.result as Json[]).map((r) => String(r.deviceId)))
      assert.ok(pages.length < 10, 'paging ends')
    }
    const first5 = MADE.filter((m) => m.id.startsWith('q-'))
      .map((m) => m.id)
      .filter((id) => !MADE.slice(0, 5).some((g) => g.id === id))
      .sort()
      .slice(0, 5)
    assert.deepEqual(pages, [first5.slice(0, 2), first5.slice(2, 4), first5.slice(4)])
  })
})

describe('capabilities.iotEdge, as the registry keeps it and the query language reads it', () => {
  const original = https.request
  let hub: Hub | undefined
  let port = 0
  let ca = ''
  before(() => {
    https.request = ((
      options: https.RequestOptions,
      callback?: (res: import('node:http').IncomingMessage) => void,
    ) => original({ ...options, port, ca }, callback)) as typeof https.request
  })
  after(async () => {
    https.request = original
    await hub?.close()
  })

  it('create, addDevices and update keep it; WHERE capabilities.iotEdge = true finds those; a restart keeps it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-edge-'))
    try {
      const open = async (): Promise<Registry> => {
        hub = await startHub({ stateDir: dir })
        port = hub.ports.https
        ca = hub.ca
        const { Registry } = createRequire(import.meta.url)('azure-iothub') as typeof import('azure-iothub')
        return Registry.fromConnectionString(hub.hubConnectionString)
      }
      let registry = await open()
      const made = await registry.create({ deviceId: 'edge-1', capabilities: { iotEdge: true } })
      assert.deepEqual(made.responseBody.capabilities, { iotEdge: true })
      await registry.create({ deviceId: 'leaf-1' })
      await registry.addDevices([
        { deviceId: 'edge-2', capabilities: { iotEdge: true } },
        { deviceId: 'leaf-2', capabilities: { iotEdge: false } },
      ])
      const edges = async (): Promise<string[]> =>
        (
          (
            await registry
              .createQuery('SELECT deviceId FROM devices WHERE capabilities.iotEdge = true')
              .next()
          ).result as Json[]
        )
          .map((r) => String(r.deviceId))
          .sort()
      assert.deepEqual(await edges(), ['edge-1', 'edge-2'])
      const twin = await rest(hub as Hub, 'GET', '/twins/edge-2?api-version=2021-04-12')
      assert.deepEqual((twin.body as Json).capabilities, { iotEdge: true })
      assert.deepEqual((await registry.get('leaf-1')).responseBody.capabilities, { iotEdge: false })
      // an update that says nothing of capabilities keeps them; one that does changes them
      await registry.update({ deviceId: 'edge-1', status: 'disabled' })
      assert.deepEqual((await registry.get('edge-1')).responseBody.capabilities, { iotEdge: true })
      await registry.update({ deviceId: 'edge-2', capabilities: { iotEdge: false } })
      assert.deepEqual(await edges(), ['edge-1'])
      const bad = await rest(hub as Hub, 'PUT', '/devices/edge-x?api-version=2021-04-12', {
        body: { capabilities: { iotEdge: 'yes' } },
      })
      assert.equal(bad.status, 400)
      assert.match(String((bad.body as Json).Message), /capabilities\.iotEdge /)
      await hub?.close()
      hub = undefined
      registry = await open()
      assert.deepEqual(await edges(), ['edge-1'])
    } finally {
      await hub?.close()
      hub = undefined
      await rm(dir, { recursive: true, force: true })
    }
  })
})
