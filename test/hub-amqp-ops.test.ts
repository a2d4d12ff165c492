// Issue 17, item 4: twin (get, reported, desired), direct methods and module inputs/outputs for
// devices and modules over AMQP and AMQP over WebSocket. The official SDKs, unmodified: the device
// is azure-iot-device with azure-iot-device-amqp (Amqp, AmqpWs) in a child process
// (support/sdk-amqp-ops-client.ts); the method caller is azure-iothub's Client.invokeDeviceMethod
// over HTTPS (support/sdk-invoke-client.ts); desired patches and module inputs come from the
// operator REST API. The SDKs dial 5671 and 443 only, so the hub listens there, on a loopback
// address of its own (support/sdk-hub.ts).
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import type { Hub } from 'sas-token/hub'
import { type Line, type Reporter, spawnReporter } from './support/child.js'
import type { Reply } from './support/hub-rest.js'
import { type HubEventLike, type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'
import { sdkHubRest } from './support/sdk-hub-rest.js'
import { within as withinMs } from './support/within.js'

const OPS_CLIENT = fileURLToPath(new URL('./support/sdk-amqp-ops-client.js', import.meta.url))
const INVOKE_CLIENT = fileURLToPath(new URL('./support/sdk-invoke-client.js', import.meta.url))

let sdk: SdkHub | undefined
let skip: string | undefined

before(async () => {
  ;({ sdk, skip } = await sdkHubOrSkip())
})
after(async () => {
  await sdk?.close()
})

/** The hub handle of the running hub (the test's own process started it). */
const handle = (): Hub => (sdk as SdkHub).hub as Hub

/** An operator REST call to the hub, signed with its connection string. */
const operator = (method: string, path: string, body?: unknown): Promise<Reply> =>
  sdkHubRest(sdk as SdkHub, method, path, body)

/** Invokes a method with azure-iothub's Client.invokeDeviceMethod in a child process. */
async function invoke(
  deviceId: string,
  moduleId: string | undefined,
  method: string,
  payload: unknown,
): Promise<Line> {
  const s = sdk as SdkHub
  const caller = spawnReporter(process.execPath, [INVOKE_CLIENT], {
    ...s.env,
    DEVICE_ID: deviceId,
    MODULE_ID: moduleId ?? '',
    METHOD: method,
    PAYLOAD: JSON.stringify(payload),
  })
  const line = await within(
    caller.waitFor(() => true),
    `the answer to ${method}`,
  )
  await caller.exited
  return line
}

/** How long one step of the scenario may take (the SDK retries a refused link for 45 s). */
const STEP_MS = 20_000
/** Each test's bound, so that a hub that never answers fails instead of hanging. */
const TEST = { timeout: 60_000 }

/** `promise`, or a rejection saying what did not come within {@link STEP_MS}. */
const within = <T>(promise: Promise<T>, what: string): Promise<T> => withinMs(promise, what, STEP_MS)

/** The device's report of `step`; fails at once when the device reported `failed` instead. */
async function step(device: Reporter | undefined, name: string): Promise<Line> {
  assert.ok(device, 'the device was started')
  const line = await within(
    device.waitFor((l) => l.step === name || l.step === 'failed'),
    `the device's ${name} step`,
  )
  assert.equal(line.step, name, JSON.stringify(device.lines))
  return line
}

/** The first hub event (seen, or to come) that matches. */
const event = (match: (e: HubEventLike) => boolean, what: string): Promise<HubEventLike> =>
  within((sdk as SdkHub).waitForEvent(match), what)

/** An event about this identity (either its device or module). */
const about =
  (
    deviceId: string,
    moduleId: string | undefined,
    event: string,
    more: (e: HubEventLike) => boolean = () => true,
  ) =>
  (e: HubEventLike) =>
    e.event === event && e.deviceId === deviceId && e.moduleId === moduleId && more(e)

for (const transport of ['Amqp', 'AmqpWs'] as const) {
  for (const kind of ['device', 'module'] as const) {
    const title = `azure-iot-device ${kind} client over ${transport}: twin, methods${kind === 'module' ? ', inputs and outputs' : ''}`
    describe(title, { concurrency: 1 }, () => {
      const deviceId = `ops-${kind}-${transport.toLowerCase()}`
      const moduleId = kind === 'module' ? 'mod1' : undefined
      const twinPath =
        moduleId === undefined ? `/twins/${deviceId}` : `/twins/${deviceId}/modules/${moduleId}`
      const protocol = transport === 'Amqp' ? 'amqp' : 'amqp-ws'
      const subscribed = (address: string) =>
        about(deviceId, moduleId, 'subscribe', (e) => JSON.stringify(e.topics).includes(address))
      const readReported = async (): Promise<Record<string, unknown>> => {
        const twin = await operator('GET', twinPath)
        assert.equal(twin.status, 200, JSON.stringify(twin.body))
        return (twin.body as { properties: { reported: Record<string, unknown> } }).properties.reported
      }
      let device: Reporter | undefined

      after(async () => {
        await device?.stop()
      })

      it(
        'gets its twin: the desired properties set before it connected, with their $version',
        TEST,
        async (t) => {
          if (skip !== undefined) return t.skip(skip)
          const s = sdk as SdkHub
          const hub = handle()
          let added = await hub.addDevice(deviceId)
          if (moduleId !== undefined) added = await hub.addModule(deviceId, moduleId)
          await hub.updateDesired(deviceId, { preset: 'before' }, moduleId === undefined ? {} : { moduleId })
          device = spawnReporter(process.execPath, [OPS_CLIENT], {
            NODE_EXTRA_CA_CERTS: s.caFile,
            DEVICE_CS: added.connectionString,
            TRANSPORT: transport,
            KIND: kind,
          })
          const twin = await step(device, 'twin')
          const desired = twin.desired as Record<string, unknown>
          assert.equal(desired.preset, 'before')
          assert.equal(desired.$version, 2)
          assert.equal((twin.reported as Record<string, unknown>).$version, 1)
          await event(about(deviceId, moduleId, 'twin-get'), 'the twin-get event')
          const connect = await event(about(deviceId, moduleId, 'connect'), 'the connect event')
          assert.equal(connect.protocol, protocol)
        },
      )

      it(
        'reports properties: answered once applied, read back with GET /twins over REST',
        TEST,
        async (t) => {
          if (skip !== undefined) return t.skip(skip)
          await step(device, 'reported')
          const applied = await event(
            about(deviceId, moduleId, 'twin-reported', (e) => e.status === undefined),
            'the twin-reported event',
          )
          assert.deepEqual(applied.patch, { firmware: '2.0.0' })
          assert.equal(applied.version, 2)
          const reported = await readReported()
          assert.equal(reported.firmware, '2.0.0')
          assert.equal(reported.$version, 2)
        },
      )

      it(
        'a reported patch IoT Hub refuses is answered 400 with its reason (FormatError in the SDK) and changes nothing',
        TEST,
        async (t) => {
          if (skip !== undefined) return t.skip(skip)
          const bad = await step(device, 'reported-bad')
          assert.equal(bad.accepted, false)
          assert.equal(bad.inner, 'FormatError', JSON.stringify(bad))
          // the SDK appends the message of IoT Hub's {errorCode, message} body
          assert.match(String(bad.message), /could not update twin reported properties\. .*"\$bad"/)
          const refused = await event(
            about(deviceId, moduleId, 'twin-reported', (e) => e.status === 400),
            'the refused twin-reported event',
          )
          assert.match(String(refused.error), /\$bad/)
          const reported = await readReported()
          assert.equal(reported.$version, 2)
          assert.equal(reported.$bad, undefined)
        },
      )

      it('receives the desired patch made with PATCH /twins over REST', TEST, async (t) => {
        if (skip !== undefined) return t.skip(skip)
        await event(subscribed('/notifications/twin/properties/desired'), 'the desired subscription')
        const patched = await operator('PATCH', twinPath, { properties: { desired: { fanSpeed: 3 } } })
        assert.equal(patched.status, 200, JSON.stringify(patched.body))
        const got = await within(
          (device as Reporter).waitFor(
            (l) => l.step === 'desired' && (l.patch as Record<string, unknown>).fanSpeed === 3,
          ),
          'the desired patch',
        )
        const patch = got.patch as Record<string, unknown>
        assert.equal(patch.$version, 3)
        assert.equal(patch.preset, undefined, 'a patch, not the whole')
      })

      it(
        "answers a method invoked with azure-iothub's Client.invokeDeviceMethod, status and payload",
        TEST,
        async (t) => {
          if (skip !== undefined) return t.skip(skip)
          const s = sdk as SdkHub
          await step(device, 'ready')
          await event(subscribed('/methods/devicebound'), 'the methods subscription')
          const echo = await invoke(deviceId, moduleId, 'echo', { n: 42 })
          assert.deepEqual(echo.result, { status: 200, payload: { echo: { n: 42 } } }, JSON.stringify(echo))
          const answered = await step(device, 'method-answered')
          assert.equal(answered.error, undefined, 'the hub accepted the answer')
          const teapot = await invoke(deviceId, moduleId, 'teapot', null)
          assert.deepEqual(teapot.result, { status: 418, payload: 'short and stout' }, JSON.stringify(teapot))
          const calls = s.seen
            .filter(about(deviceId, moduleId, 'method'))
            .map((e) => [e.methodName, e.status])
          assert.deepEqual(calls, [
            ['echo', 200],
            ['teapot', 418],
          ])
        },
      )

      if (kind === 'module') {
        it('sends an output message: telemetry with its outputName and properties', TEST, async (t) => {
          if (skip !== undefined) return t.skip(skip)
          await step(device, 'output-sent')
          const telemetry = await event(about(deviceId, moduleId, 'telemetry'), 'the telemetry event')
          assert.equal(telemetry.protocol, protocol)
          assert.deepEqual(telemetry.body, { text: 'to the next module' })
          assert.equal((telemetry.properties as Record<string, string>).hop, '1 & only')
          const system = telemetry.systemProperties as Record<string, string>
          assert.equal(system.outputName, 'out1')
          assert.equal(system.messageId, 'output-1')
        })

        it('receives a message sent to one of its inputs, with its properties', TEST, async (t) => {
          if (skip !== undefined) return t.skip(skip)
          await event(
            subscribed(`/devices/${deviceId}/modules/${moduleId}/messages/events`),
            'the inputs subscription',
          )
          const sent = await operator(
            'POST',
            `/_emulator/devices/${deviceId}/modules/${moduleId}/inputs/in1/messages`,
            {
              payload: 'to the module',
              properties: { color: 'deep red' },
              messageId: 'input-1',
            },
          )
          assert.equal(sent.status, 202, JSON.stringify(sent.body))
          const got = await step(device, 'input')
          assert.equal(got.inputName, 'in1')
          assert.equal(got.data, 'to the module')
          assert.equal(got.messageId, 'input-1')
          assert.equal((got.properties as Record<string, string>).color, 'deep red')
        })
      }
    })
  }
}
