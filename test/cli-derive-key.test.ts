// `sas-token derive-key`: DPS group-enrollment device keys (the docs' vector), one or many.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { cli } from './support/cli.js'
import { DERIVED, GROUP_KEY, SECRET_FRAGMENT, SECRET_KEY } from './support/fixtures.js'

describe('derive-key', () => {
  it('the docs vector', async () => {
    const id = 'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6'
    const r = await cli(['derive-key', '--group-key', GROUP_KEY, '--registration-id', id])
    assert.equal(r.code, 0)
    assert.equal(r.stdout, `${DERIVED[id]}\n`)
    assert.equal(r.stderr, '')
  })
  it('the group key from stdin', async () => {
    const r = await cli(['derive-key', '--group-key', '-', '--registration-id', 'my-device-01'], {
      input: `${GROUP_KEY}\n`,
    })
    assert.equal(r.stdout, `${DERIVED['my-device-01']}\n`)
  })
  it('--batch: NDJSON, one record per line, an error record for a bad line', async () => {
    const r = await cli(['derive-key', '--group-key', GROUP_KEY, '--batch'], {
      input: 'my-device-01\nbad id\nsn-007-888-abc-mac-a1-b2-c3-d4-e5-f6\n',
    })
    assert.equal(r.code, 1)
    const records = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.deepEqual(records[0], {
      line: 1,
      registrationId: 'my-device-01',
      deviceKey: DERIVED['my-device-01'],
    })
    assert.equal((records[1]?.error as { code: string }).code, 'ERR_INVALID_IDENTIFIER')
    assert.equal(records[1]?.input, 'bad id')
    assert.deepEqual(records[2], {
      line: 3,
      registrationId: 'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6',
      deviceKey: DERIVED['sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6'],
    })
    assert.match(r.stderr, /1 of 3 lines failed/)
  })
  it('--batch --format csv, checked against node:crypto', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `device-${i}`)
    const r = await cli(['derive-key', '--group-key', GROUP_KEY, '--batch', '--format', 'csv'], {
      input: ids.join('\n'),
    })
    assert.equal(r.code, 0)
    const [header, ...rows] = r.stdout.trim().split('\n')
    assert.equal(header, 'line,registrationId,deviceKey,error')
    assert.equal(rows.length, ids.length)
    rows.forEach((row, i) => {
      const expected = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64'))
        .update(ids[i] as string)
        .digest('base64')
      assert.equal(row, `${i + 1},${ids[i]},${expected},`)
    })
  })
  it('exit 2: no --registration-id, --format without --batch, --registration-id with --batch, no --group-key', async () => {
    for (const args of [
      ['derive-key', '--group-key', GROUP_KEY],
      ['derive-key', '--group-key', GROUP_KEY, '--registration-id', 'x', '--format', 'csv'],
      ['derive-key', '--group-key', GROUP_KEY, '--registration-id', 'x', '--batch'],
      ['derive-key', '--registration-id', 'x'],
    ]) {
      const r = await cli(args)
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.stdout, '')
    }
  })
  it('exit 1: a bad group key or registration id, the group key never echoed', async () => {
    for (const [key, id] of [
      [`${SECRET_KEY}!`, 'dev1'],
      [SECRET_KEY, 'bad/id'],
      [SECRET_KEY, 'ends.'],
    ]) {
      const r = await cli(['derive-key', '--group-key', key as string, '--registration-id', id as string])
      assert.equal(r.code, 1, r.stderr)
      assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET_FRAGMENT), r.stderr)
    }
  })
})
