// Prove it (issue 10): the official Node device SDK, unmodified (azure-iot-device with
// azure-iot-device-mqtt, Mqtt and MqttWs, device and module clients), against the product hub,
// driven by the built CLI: the connection string is the one `hub devices add` printed; telemetry
// is checked in `hub watch --json`; C2D comes from `hub send`, the desired patch from
// `hub twin --desired`, the method call from `hub call` (and its exit codes 0, 3 and 4).
// The SDK dials 8883 and 443 only, so the hub listens there, on a loopback address of its own
// (support/sdk-hub.ts); the tests of this file run one at a time.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { BIN, cli } from './support/cli.js'
import { type Reporter, spawnReporter } from './support/child.js'
import { type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'

const DEVICE_CLIENT = fileURLToPath(new URL('./support/sdk-device-client.js', import.meta.url))

let sdk: SdkHub | undefined
let skip: string | undefined

before(async () => {
  ;({ sdk, skip } = await sdkHubOrSkip())
})
after(async () => {
  await sdk?.close()
})

/** `sas-token hub …` with the hub's connection string and CA from the environment. */
const hub = (args: string[]) => cli(['hub', ...args], { env: (sdk as SdkHub).env })

/** The subscribe event whose topics include `part`. */
const subscribed =
  (deviceId: string, moduleId: string | undefined, part: string) => (e: Record<string, unknown>) =>
    e.event === 'subscribe' &&
    e.deviceId === deviceId &&
    e.moduleId === moduleId &&
    JSON.stringify(e).includes(part)

for (const transport of ['Mqtt', 'MqttWs'] as const) {
  for (const kind of ['device', 'module'] as const) {
    describe(`azure-iot-device ${kind} client over ${transport}`, { concurrency: 1 }, () => {
      const deviceId = `sdk-${kind}-${transport.toLowerCase()}`
      const moduleId = kind === 'module' ? 'mod1' : undefined
      const target = moduleId === undefined ? [deviceId] : [deviceId, '--module', moduleId]
      let device: Reporter | undefined
      let watch: Reporter | undefined

      after(async () => {
        await device?.stop()
        await watch?.stop()
      })

      it('connects with the connection string `hub devices add` printed, sends telemetry seen by `hub watch --json`', async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const s = sdk as SdkHub
        if (moduleId !== undefined) assert.equal((await hub(['devices', 'add', deviceId])).code, 0)
        const added = await hub(['devices', 'add', ...target])
        assert.equal(added.code, 0, added.stderr)
        const cs = added.stdout.trim()
        assert.match(cs, new RegExp(`^HostName=${s.address.replaceAll('.', '\\.')};DeviceId=${deviceId};`))

        watch = spawnReporter(process.execPath, [BIN, 'hub', 'watch', '--json', '--device', deviceId], s.env)
        await watch.waitForStderr(/watching/)
        device = spawnReporter(process.execPath, [DEVICE_CLIENT], {
          ...s.env,
          DEVICE_CS: cs,
          TRANSPORT: transport,
          KIND: kind,
        })
        const sent = await device.waitFor((l) => l.step === 'sent' || l.step === 'failed')
        assert.equal(sent.step, 'sent', JSON.stringify(device.lines))
        const telemetry = await watch.waitFor((e) => e.event === 'telemetry')
        assert.equal(telemetry.deviceId, deviceId)
        assert.equal(telemetry.moduleId, moduleId)
        assert.deepEqual(telemetry.body, { text: 'hello' })
        assert.equal((telemetry.properties as Record<string, string>).alert, 'high & dry')
        const protocol = transport === 'Mqtt' ? 'mqtt' : 'mqtt-ws'
        assert.equal(telemetry.protocol, protocol)
        const connect = await watch.waitFor((e) => e.event === 'connect')
        assert.equal(connect.protocol, protocol)
      })

      it('gets its twin and reports properties (read back with `hub twin`)', async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const d = device as Reporter
        await d.waitFor((l) => l.step === 'reported')
        const twin = await hub(['twin', ...target])
        assert.equal(twin.code, 0, twin.stderr)
        const reported = JSON.parse(twin.stdout).properties.reported
        assert.equal(reported.firmware, '1.2.3')
      })

      it('receives the desired patch made with `hub twin --desired`', async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const s = sdk as SdkHub
        await s.waitForEvent(subscribed(deviceId, moduleId, 'properties/desired'))
        const patched = await hub(['twin', ...target, '--desired', '{"fanSpeed":3}'])
        assert.equal(patched.code, 0, patched.stderr)
        assert.equal(JSON.parse(patched.stdout).properties.desired.fanSpeed, 3)
        const got = await (device as Reporter).waitFor(
          (l) => l.step === 'desired' && (l.patch as Record<string, unknown>).fanSpeed === 3,
        )
        assert.equal(typeof (got.patch as Record<string, unknown>).$version, 'number')
      })

      it('answers a method called with `hub call` (exit 0, its payload on stdout)', async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const s = sdk as SdkHub
        await s.waitForEvent(subscribed(deviceId, moduleId, 'methods/POST'))
        const r = await hub(['call', ...target, 'echo', '{"n":42}'])
        assert.equal(r.code, 0, r.stderr)
        assert.deepEqual(JSON.parse(r.stdout), { echo: { n: 42 } })
        const json = await hub(['call', ...target, 'echo', '"x"', '--json'])
        assert.deepEqual(JSON.parse(json.stdout), { status: 200, payload: { echo: 'x' } })
      })

      if (kind === 'device') {
        it('receives C2D sent with `hub send`, with its properties', async (t) => {
          if (skip !== undefined) return t.skip(skip)
          const r = await hub([
            'send',
            deviceId,
            'to the device',
            '-p',
            'color=deep red',
            '--message-id',
            'c2d-1',
          ])
          assert.equal(r.code, 0, r.stderr)
          assert.equal(r.stdout.trim(), 'c2d-1')
          const got = await (device as Reporter).waitFor((l) => l.step === 'c2d')
          assert.equal(got.data, 'to the device')
          assert.equal(got.messageId, 'c2d-1')
          assert.equal((got.properties as Record<string, string>).color, 'deep red')
        })
      }

      if (kind === 'device' && transport === 'Mqtt') {
        it('a method the device never answers: `hub call --timeout 5` exits 4', async (t) => {
          if (skip !== undefined) return t.skip(skip)
          const r = await hub(['call', deviceId, 'hang', '--timeout', '5', '--json'])
          assert.equal(r.code, 4, r.stderr)
          assert.equal(JSON.parse(r.stderr).error.code, 'ERR_HUB_METHOD_TIMEOUT')
        })
      }

      it('once the device is gone, `hub call` exits 3 (404: not online)', async (t) => {
        if (skip !== undefined) return t.skip(skip)
        await (device as Reporter).stop()
        await (sdk as SdkHub).waitForEvent(
          (e) => e.event === 'disconnect' && e.deviceId === deviceId && e.moduleId === moduleId,
        )
        const r = await hub(['call', ...target, 'echo', '--json'])
        assert.equal(r.code, 3, r.stderr)
        assert.equal(JSON.parse(r.stderr).error.code, 'ERR_HUB_DEVICE_NOT_ONLINE')
      })
    })
  }
}
