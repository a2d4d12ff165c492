// Prove it (issue 19, item 4): the official DPS service SDK azure-iot-provisioning-service
// (ProvisioningServiceClient from the DPS connection string the hub prints), unmodified, creates
// an individual enrollment and an enrollment group on the product hub; the official device SDK
// azure-iot-provisioning-device then registers through each. A wrong key, a hub policy and a
// stale etag are refused as DPS refuses them.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { spawnReporter } from './support/child.js'
import type { Line, Reporter } from './support/child.js'
import { type SdkHub, startSdkHub } from './support/sdk-hub.js'

const DPS_SERVICE_CLIENT = fileURLToPath(new URL('./support/sdk-dps-service-client.js', import.meta.url))
const PROVISIONING_CLIENT = fileURLToPath(new URL('./support/sdk-provisioning-client.js', import.meta.url))
const ID_SCOPE = '0ne00000000'
const KEY_1 = 'ZHBzLXNlcnZpY2UtaW5kaXZpZHVhbC1wcmltYXJ5LTE=' // base64("dps-service-individual-primary-1")
const KEY_2 = 'ZHBzLXNlcnZpY2UtaW5kaXZpZHVhbC1zZWNvbmRhcnk=' // base64("dps-service-individual-secondary")
const GROUP_KEY = 'ZHBzLXNlcnZpY2UtZ3JvdXAta2V5LTEyMzQ1Njc4OTA=' // base64("dps-service-group-key-1234567890")
const OTHER_KEY = 'bm90LXRoZS1kcHMta2V5LW5vdC10aGUtZHBzLWtleSE=' // base64("not-the-dps-key-not-the-dps-key!")

let sdk: SdkHub | undefined
let skip: string | undefined
let service: Reporter | undefined
let next = 0

before(async () => {
  const started = await startSdkHub()
  if (typeof started === 'string') skip = started
  else {
    sdk = started
    service = spawnReporter(process.execPath, [DPS_SERVICE_CLIENT], {
      ...started.env,
      DPS_CONNECTION_STRING: started.hub.dpsConnectionString,
    })
  }
})
after(async () => {
  await service?.stop()
  await sdk?.close()
})

/** One ProvisioningServiceClient call in the child, and its answer. */
async function call(op: string, args: unknown[], cs?: string): Promise<Line> {
  const id = ++next
  service?.child.stdin?.write(`${JSON.stringify({ id, op, args, ...(cs === undefined ? {} : { cs }) })}\n`)
  return (service as Reporter).waitFor((l) => l.id === id)
}

function ok(line: Line): Record<string, unknown> {
  assert.equal(line.ok, true, JSON.stringify(line))
  return line.result as Record<string, unknown>
}

function register(s: SdkHub, registrationId: string, key: string): Reporter {
  return spawnReporter(process.execPath, [PROVISIONING_CLIENT], {
    ...s.env,
    PROVISIONING_HOST: s.address,
    ID_SCOPE,
    REGISTRATION_ID: registrationId,
    DEVICE_KEY: key,
  })
}

describe('azure-iot-provisioning-service (DPS service SDK)', () => {
  it('the DPS connection string names provisioningserviceowner on the hub host, with a key of its own', (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const m = /^HostName=([^;]+);SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=([^;]+)$/.exec(
      s.hub.dpsConnectionString,
    )
    assert.ok(m, s.hub.dpsConnectionString.replace(/SharedAccessKey=[^;]+/, 'SharedAccessKey=<redacted>'))
    assert.equal(m[1], s.address)
    assert.equal(Buffer.from(m[2] ?? '', 'base64').length, 32)
    assert.ok(!s.hub.hubConnectionString.includes(m[2] ?? ''), 'not the hub owner key')
  })

  it('creates an individual enrollment; the device SDK registers through it and connects', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const created = ok(
      await call('createOrUpdateIndividualEnrollment', [
        {
          registrationId: 'svc-ind-1',
          deviceId: 'svc-ind-device-1',
          attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: KEY_1, secondaryKey: KEY_2 } },
          provisioningStatus: 'enabled',
        },
      ]),
    )
    assert.equal(created.registrationId, 'svc-ind-1')
    assert.equal(created.deviceId, 'svc-ind-device-1')
    assert.deepEqual(created.attestation, {
      type: 'symmetricKey',
      symmetricKey: { primaryKey: KEY_1, secondaryKey: KEY_2 },
    })
    assert.equal(typeof created.etag, 'string')
    const got = ok(await call('getIndividualEnrollment', ['svc-ind-1']))
    assert.equal(got.etag, created.etag)
    assert.equal(got.provisioningStatus, 'enabled')

    const device = register(s, 'svc-ind-1', KEY_1)
    try {
      const registered = await device.waitFor((l) => l.step === 'registered' || l.step === 'failed')
      assert.deepEqual(
        { ...registered },
        { step: 'registered', assignedHub: s.address, deviceId: 'svc-ind-device-1' },
      )
      const sent = await device.waitFor((l) => l.step === 'sent' || l.step === 'failed')
      assert.equal(sent.step, 'sent', JSON.stringify(device.lines))
    } finally {
      await device.stop()
    }
    const state = ok(await call('getDeviceRegistrationState', ['svc-ind-1']))
    assert.equal(state.registrationId, 'svc-ind-1')
    assert.equal(state.deviceId, 'svc-ind-device-1')
    assert.equal(state.assignedHub, s.address)
    assert.equal(state.status, 'assigned')
  })

  it('creates an enrollment group; a device registers with its derived key; the group query lists it', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const group = ok(
      await call('createOrUpdateEnrollmentGroup', [
        {
          enrollmentGroupId: 'svc-group-1',
          attestation: {
            type: 'symmetricKey',
            symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY },
          },
        },
      ]),
    )
    assert.equal(group.enrollmentGroupId, 'svc-group-1')
    assert.equal(ok(await call('getEnrollmentGroup', ['svc-group-1'])).etag, group.etag)
    const registrationId = 'svc-group-device-1'
    // The derived key, computed here independently: base64(HMAC-SHA256(decoded group key, id)).
    const key = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update(registrationId).digest('base64')
    const device = register(s, registrationId, key)
    try {
      const registered = await device.waitFor((l) => l.step === 'registered' || l.step === 'failed')
      assert.deepEqual(
        { ...registered },
        { step: 'registered', assignedHub: s.address, deviceId: registrationId },
      )
    } finally {
      await device.stop()
    }
    const listed = await call('queryRegistrations', [{ query: '*' }, 'svc-group-1'])
    assert.deepEqual(
      (ok(listed) as unknown as Array<Record<string, unknown>>).map((r) => [
        r.registrationId,
        r.deviceId,
        r.status,
      ]),
      [[registrationId, registrationId, 'assigned']],
    )
  })

  it('pages the enrollment query (x-ms-max-item-count, x-ms-continuation) in id order', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    for (const id of ['svc-page-c', 'svc-page-a', 'svc-page-b'])
      ok(
        await call('createOrUpdateIndividualEnrollment', [
          { registrationId: id, attestation: { type: 'symmetricKey', symmetricKey: {} } },
        ]),
      )
    const answer = await call('queryEnrollments', [{ query: '*' }, 2])
    const ids = (ok(answer) as unknown as Array<{ registrationId: string }>).map((e) => e.registrationId)
    assert.deepEqual(
      ids.filter((id) => id.startsWith('svc-page-')),
      ['svc-page-a', 'svc-page-b', 'svc-page-c'],
    )
    assert.deepEqual(ids, [...ids].sort())
    assert.equal(answer.pages, Math.ceil(ids.length / 2))
    assert.ok((answer.pages as number) >= 2)
    const groups = await call('queryGroups', [{ query: 'SELECT * FROM enrollmentGroups' }])
    assert.ok(
      (ok(groups) as unknown as Array<{ enrollmentGroupId: string }>).some(
        (g) => g.enrollmentGroupId === 'svc-group-1',
      ),
    )
  })

  it('refuses a stale etag (412) on update and delete; the current one works', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const first = ok(
      await call('createOrUpdateIndividualEnrollment', [
        { registrationId: 'svc-etag-1', attestation: { type: 'symmetricKey', symmetricKey: {} } },
      ]),
    )
    const second = ok(
      await call('createOrUpdateIndividualEnrollment', [{ ...first, provisioningStatus: 'disabled' }]),
    )
    assert.notEqual(second.etag, first.etag)
    assert.equal(second.provisioningStatus, 'disabled')
    assert.equal(second.createdDateTimeUtc, first.createdDateTimeUtc)
    const stale = await call('createOrUpdateIndividualEnrollment', [
      { ...first, provisioningStatus: 'enabled' },
    ])
    assert.deepEqual([stale.ok, stale.name, stale.status], [false, 'InvalidEtagError', 412])
    const staleDelete = await call('deleteIndividualEnrollment', ['svc-etag-1', first.etag])
    assert.deepEqual([staleDelete.ok, staleDelete.name, staleDelete.status], [false, 'InvalidEtagError', 412])
    assert.equal((await call('deleteIndividualEnrollment', ['svc-etag-1', second.etag])).ok, true)
    const gone = await call('getIndividualEnrollment', ['svc-etag-1'])
    assert.deepEqual([gone.ok, gone.status], [false, 404])
  })

  it('refuses a wrong DPS key and a hub policy with 401 in the IoT Hub/DPS error shape', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const wrongKey = s.hub.dpsConnectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${OTHER_KEY}`,
    )
    for (const cs of [wrongKey, s.hub.hubConnectionString]) {
      const refused = await call('getEnrollmentGroup', ['svc-group-1'], cs)
      assert.deepEqual([refused.ok, refused.name, refused.status], [false, 'UnauthorizedError', 401])
      const body = JSON.parse(String(refused.body)) as Record<string, unknown>
      assert.equal(body.errorCode, 401002)
      assert.match(String(body.Message), /^ErrorCode:IotHubUnauthorizedAccess;Unauthorized: /)
      assert.ok(!String(refused.body).includes(OTHER_KEY))
    }
  })
})
