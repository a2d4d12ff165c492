// `sas-token hub query` against the product hub: the built CLI pages through the results
// (--page-size smaller than the result), prints twins as lines, projections and aggregates as a
// table, NDJSON with --json, and a bad query as an error that points at the token, exit 1.
// Expected rows are the devices this test made, filtered here in plain JS.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { cli } from './support/cli.js'

const MADE = Array.from({ length: 7 }, (_, i) => ({ id: `cq-${i}`, site: i % 2 === 0 ? 'lab' : 'plant' }))

describe('sas-token hub query', () => {
  let hub: Hub
  let dir = ''
  let env: Record<string, string> = {}
  before(async () => {
    hub = await startHub()
    for (const m of MADE) await hub.addDevice(m.id)
    dir = mkdtempSync(join(tmpdir(), 'cli-query-'))
    writeFileSync(join(dir, 'ca.pem'), hub.ca)
    env = {
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
      IOTHUB_CONNECTION_STRING: hub.hubConnectionString,
      SAS_TOKEN_HUB_ENDPOINT: `https://localhost:${hub.ports.https}`,
    }
    for (const m of MADE) {
      const r = await cli(['hub', 'twin', m.id, '--tags', JSON.stringify({ site: m.site })], { env })
      assert.equal(r.code, 0, r.stderr)
    }
  })
  after(async () => {
    await hub.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('twins, page after page: one line each', async () => {
    const r = await cli(
      ['hub', 'query', "SELECT * FROM devices WHERE tags.site = 'lab'", '--page-size', '2'],
      { env },
    )
    assert.equal(r.code, 0, r.stderr)
    const lab = MADE.filter((m) => m.site === 'lab')
    assert.ok(lab.length > 2)
    assert.deepEqual(
      r.stdout.trimEnd().split('\n'),
      lab.map((m) => `${m.id}\tenabled\tDisconnected`),
    )
  })

  it('--json: NDJSON, one twin a line', async () => {
    const r = await cli(['hub', 'query', 'SELECT * FROM devices', '--page-size', '3', '--json'], { env })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { deviceId: string; tags: unknown })
    assert.deepEqual(
      lines.map((t) => [t.deviceId, t.tags]),
      MADE.map((m) => [m.id, { site: m.site }]),
    )
  })

  it('an aggregate is a table with a header', async () => {
    const r = await cli(
      ['hub', 'query', 'SELECT tags.site AS site, COUNT() AS n FROM devices GROUP BY tags.site'],
      { env },
    )
    assert.equal(r.code, 0, r.stderr)
    const count = (site: string) => MADE.filter((m) => m.site === site).length
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      'site\tn',
      `lab\t${count('lab')}`,
      `plant\t${count('plant')}`,
    ])
  })

  it('a bad query: exit 1, the position and the token on stderr, nothing on stdout', async () => {
    const r = await cli(['hub', 'query', 'SELECT * FROM devices WHERE tags.site =='], { env })
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /Query error at position 40 \(at "="\)/)
    const j = await cli(['hub', 'query', 'SELECT * FROM devices WHERE tags.site ==', '--json'], { env })
    assert.equal(j.code, 1)
    assert.equal((JSON.parse(j.stderr) as { error: { code: string } }).error.code, 'ERR_HUB_BAD_REQUEST')
  })
})
