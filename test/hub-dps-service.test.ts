// DPS's service API on the product hub, in process over real TLS: its own policy
// (provisioningserviceowner) signs it and nothing else; the hub's policies do not open it, nor
// does it open the hub's routes; a state file written before it was served loads and gets the
// policy, kept across a restart; an attestation other than symmetric key is refused.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { ownerKey, rest } from './support/hub-rest.js'

const dpsKey = (hub: Hub): string => /SharedAccessKey=([^;]+)/.exec(hub.dpsConnectionString)?.[1] ?? ''
const se = (): number => Math.floor(Date.now() / 1000) + 600
const dpsToken = (hub: Hub, key = dpsKey(hub)): string =>
  hmacToken('localhost', key, se(), 'provisioningserviceowner')

describe("DPS's service API (policies, state)", () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('takes only DPS tokens, and DPS tokens open none of the hub routes', async () => {
    const hub = await startHub()
    try {
      const put = await rest(hub, 'PUT', '/enrollments/reg-a?api-version=2021-10-01', {
        auth: dpsToken(hub),
        body: { registrationId: 'reg-a', attestation: { type: 'symmetricKey', symmetricKey: {} } },
      })
      assert.equal(put.status, 200, put.text)
      // the hub's owner policy on a DPS route
      const asHub = await rest(hub, 'GET', '/enrollments/reg-a')
      assert.equal(asHub.status, 401)
      assert.match(String((asHub.body as { Message: string }).Message), /provisioningserviceowner/)
      // DPS's policy on a hub route
      const onHub = await rest(hub, 'GET', '/devices', { auth: dpsToken(hub) })
      assert.equal(onHub.status, 401)
      // the hub owner key under the DPS policy name
      const wrong = await rest(hub, 'GET', '/enrollments/reg-a', { auth: dpsToken(hub, ownerKey(hub)) })
      assert.equal(wrong.status, 401)
      assert.equal((wrong.body as { errorCode: number }).errorCode, 401002)
      // the emulator shortcut sees the same enrollment (one owner)
      const shortcut = await rest(hub, 'GET', '/_emulator/dps/enrollments/reg-a')
      assert.equal(shortcut.status, 200)
      assert.equal((shortcut.body as { etag: string }).etag, (put.body as { etag: string }).etag)
    } finally {
      await hub.close()
    }
  })

  it('refuses x509 and tpm attestation (400) instead of storing symmetric keys', async () => {
    const hub = await startHub()
    try {
      for (const type of ['x509', 'tpm']) {
        const r = await rest(hub, 'PUT', '/enrollments/reg-x', {
          auth: dpsToken(hub),
          body: { registrationId: 'reg-x', attestation: { type } },
        })
        assert.equal(r.status, 400, r.text)
        assert.match(r.text, /symmetric keys only/)
      }
      assert.equal((await rest(hub, 'GET', '/enrollments/reg-x', { auth: dpsToken(hub) })).status, 404)
    } finally {
      await hub.close()
    }
  })

  it('a state file without DPS policies loads; the policy made for it is kept across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sas-token-hub-dps-'))
    dirs.push(dir)
    let hub = await startHub({ stateDir: dir })
    await hub.close()
    const file = join(dir, 'state.json')
    const state = JSON.parse(await readFile(file, 'utf8')) as { dps: Record<string, unknown> }
    assert.ok(Array.isArray(state.dps.policies), 'a new hub writes its DPS policy')
    delete state.dps.policies // as a hub before DPS's service API wrote it
    await writeFile(file, JSON.stringify(state))
    hub = await startHub({ stateDir: dir })
    const first = hub.dpsConnectionString
    try {
      assert.match(first, /;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=/)
      assert.equal(
        (await rest(hub, 'POST', '/enrollments/query', { auth: dpsToken(hub), body: { query: '*' } })).status,
        200,
      )
    } finally {
      await hub.close()
    }
    hub = await startHub({ stateDir: dir })
    try {
      assert.equal(hub.dpsConnectionString, first)
    } finally {
      await hub.close()
    }
  })
})
