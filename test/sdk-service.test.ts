// Prove it (issue 10): the official service SDK azure-iothub (Registry, Client.invokeDeviceMethod)
// and the official provisioning SDK (group enrollment, symmetric key, Mqtt), unmodified, against
// the product hub on 8883/443 of a loopback address of its own (support/sdk-hub.ts).
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { cli } from './support/cli.js'
import { spawnReporter } from './support/child.js'
import type { Reply } from './support/hub-rest.js'
import { type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'
import { sdkHubRest } from './support/sdk-hub-rest.js'

const SERVICE_CLIENT = fileURLToPath(new URL('./support/sdk-service-client.js', import.meta.url))
const PROVISIONING_CLIENT = fileURLToPath(new URL('./support/sdk-provisioning-client.js', import.meta.url))
const DEVICE_CLIENT = fileURLToPath(new URL('./support/sdk-device-client.js', import.meta.url))
/** The emulator's documented default DPS ID scope. */
const ID_SCOPE = '0ne00000000'
const GROUP_KEY = 'Z3JvdXAta2V5LWZvci10aGUtc2RrLXRlc3RzLTEyMzQ1Ng==' // base64("group-key-for-the-sdk-tests-123456")

let sdk: SdkHub | undefined
let skip: string | undefined

before(async () => {
  ;({ sdk, skip } = await sdkHubOrSkip())
})
after(async () => {
  await sdk?.close()
})

/** An operator REST call to the hub, signed with its connection string. */
const operator = (method: string, path: string, body?: unknown): Promise<Reply> =>
  sdkHubRest(sdk as SdkHub, method, path, body)

describe('azure-iothub (service SDK)', () => {
  it('creates, gets, lists and deletes devices; updates desired properties; invokes a method', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const child = spawnReporter(process.execPath, [SERVICE_CLIENT], { ...s.env, DEVICE_ID: 'svc-dev' })
    try {
      const created = await child.waitFor((l) => l.step === 'created' || l.step === 'failed')
      assert.equal(created.step, 'created', JSON.stringify(child.lines))
      assert.equal(created.deviceId, 'svc-dev')
      assert.equal(created.keyLength, 32, 'generated keys are 256-bit')
      assert.equal(created.keysDiffer, true)
      assert.deepEqual(
        { ...(await child.waitFor((l) => l.step === 'got' || l.step === 'failed')) },
        { step: 'got', deviceId: 'svc-dev', status: 'enabled', connectionState: 'Disconnected' },
      )
      const listed = await child.waitFor((l) => l.step === 'listed' || l.step === 'failed')
      assert.ok((listed.ids as string[]).includes('svc-dev'), JSON.stringify(child.lines))
      const modules = await child.waitFor((l) => l.step === 'modules' || l.step === 'failed')
      assert.deepEqual(
        { added: modules.added, ids: modules.ids },
        { added: 'm1', ids: ['m1'] },
        JSON.stringify(child.lines),
      )
      const twin = await child.waitFor((l) => l.step === 'twin' || l.step === 'failed')
      assert.equal(twin.step, 'twin', JSON.stringify(child.lines))
      assert.equal((twin.updated as Record<string, unknown>).temp, 21)
      assert.equal((twin.read as { desired: Record<string, unknown> }).desired.temp, 21)
      assert.deepEqual(twin.tags, { site: 'lab' })
      // The CLI sees the same twin.
      const viaCli = await cli(['hub', 'twin', 'svc-dev'], { env: s.env })
      assert.equal(JSON.parse(viaCli.stdout).properties.desired.temp, 21)

      await child.waitFor((l) => l.step === 'device-ready' || l.step === 'failed')
      await s.waitForEvent(
        (e) =>
          e.event === 'subscribe' && e.deviceId === 'svc-dev' && JSON.stringify(e).includes('methods/POST'),
      )
      child.child.stdin?.write('invoke\n')
      const invoked = await child.waitFor((l) => l.step === 'invoked' || l.step === 'failed')
      assert.equal(invoked.step, 'invoked', JSON.stringify(child.lines))
      assert.deepEqual(invoked.result, { status: 201, payload: { pong: { n: 1 } } })
      await child.waitFor((l) => l.step === 'deleted' || l.step === 'failed')
      const gone = await child.waitFor(
        (l) => l.step === 'gone' || l.step === 'still-there' || l.step === 'failed',
      )
      assert.deepEqual({ ...gone }, { step: 'gone', error: 'DeviceNotFoundError' })
      assert.equal((await cli(['hub', 'devices', 'show', 'svc-dev'], { env: s.env })).code, 1)
    } finally {
      await child.stop()
    }
  })
})

describe('azure-iot-provisioning-device (DPS SDK)', () => {
  it('registers through a group enrollment, then connects to the hub with the assigned identity', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const put = await operator('PUT', '/_emulator/dps/enrollmentGroups/sdk-group', {
      enrollmentGroupId: 'sdk-group',
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
    })
    assert.ok(put.status >= 200 && put.status < 300, JSON.stringify(put))
    const registrationId = 'sdk-provisioned-1'
    // The derived key, computed here independently: base64(HMAC-SHA256(decoded group key, id)).
    const deviceKey = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64'))
      .update(registrationId)
      .digest('base64')
    const child = spawnReporter(process.execPath, [PROVISIONING_CLIENT], {
      ...s.env,
      PROVISIONING_HOST: s.address,
      ID_SCOPE,
      REGISTRATION_ID: registrationId,
      DEVICE_KEY: deviceKey,
    })
    try {
      const registered = await child.waitFor((l) => l.step === 'registered' || l.step === 'failed')
      assert.deepEqual(
        { ...registered },
        { step: 'registered', assignedHub: s.address, deviceId: registrationId },
      )
      const sent = await child.waitFor((l) => l.step === 'sent' || l.step === 'failed')
      assert.equal(sent.step, 'sent', JSON.stringify(child.lines))
      const telemetry = await s.waitForEvent((e) => e.event === 'telemetry' && e.deviceId === registrationId)
      assert.deepEqual(telemetry.body, { text: 'provisioned' })
      const shown = await cli(['hub', 'devices', 'show', registrationId, '--json', '--show-secrets'], {
        env: s.env,
      })
      assert.equal(shown.code, 0, shown.stderr)
      assert.equal(JSON.parse(shown.stdout).authentication.symmetricKey.primaryKey, deviceKey)
    } finally {
      await child.stop()
    }
  })

  it('keeps DPS apart from the hub: registering an id does not drop the connected device of that id', async (t) => {
    if (skip !== undefined) return t.skip(skip)
    const s = sdk as SdkHub
    const registrationId = 'dps-and-hub-1'
    const deviceKey = createHmac('sha256', Buffer.from(GROUP_KEY, 'base64'))
      .update(registrationId)
      .digest('base64')
    const put = await operator('PUT', '/_emulator/dps/enrollmentGroups/sdk-group-2', {
      enrollmentGroupId: 'sdk-group-2',
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
    })
    assert.ok(put.status >= 200 && put.status < 300, JSON.stringify(put))
    const created = await operator('PUT', `/devices/${registrationId}`, {
      deviceId: registrationId,
      authentication: { type: 'sas', symmetricKey: { primaryKey: deviceKey, secondaryKey: deviceKey } },
    })
    assert.equal(created.status, 200, JSON.stringify(created))
    const device = spawnReporter(process.execPath, [DEVICE_CLIENT], {
      ...s.env,
      DEVICE_CS: `HostName=${s.address};DeviceId=${registrationId};SharedAccessKey=${deviceKey}`,
      TRANSPORT: 'Mqtt',
      KIND: 'device',
    })
    let provisioning: ReturnType<typeof spawnReporter> | undefined
    try {
      const sent = await device.waitFor((l) => l.step === 'sent' || l.step === 'failed')
      assert.equal(sent.step, 'sent', JSON.stringify(device.lines))
      provisioning = spawnReporter(process.execPath, [PROVISIONING_CLIENT], {
        ...s.env,
        PROVISIONING_HOST: s.address,
        ID_SCOPE,
        REGISTRATION_ID: registrationId,
        DEVICE_KEY: deviceKey,
        CONNECT: 'no',
      })
      const registered = await provisioning.waitFor((l) => l.step === 'registered' || l.step === 'failed')
      assert.equal(registered.step, 'registered', JSON.stringify(provisioning.lines))
      const r = await cli(['hub', 'send', registrationId, 'after DPS', '--message-id', 'after-dps'], {
        env: s.env,
      })
      assert.equal(r.code, 0, r.stderr)
      const got = await device.waitFor((l) => l.step === 'c2d' || l.step === 'disconnect')
      assert.deepEqual({ step: got.step, data: got.data }, { step: 'c2d', data: 'after DPS' })
      const replaced = s.seen.filter(
        (e) =>
          e.event === 'close' && e.deviceId === registrationId && e.reason === 'replaced by a new connection',
      )
      assert.deepEqual(replaced, [], 'the DPS registration did not replace the device connection')
    } finally {
      await provisioning?.stop()
      await device.stop()
    }
  })
})
