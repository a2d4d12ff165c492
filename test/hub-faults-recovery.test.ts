// Prove recovery, not just the fault (issue 18, item 4): the official Node device SDK
// (azure-iot-device with azure-iot-device-mqtt's Mqtt and MqttWs), unmodified and with its default
// retry policy, faulted by its own fault-injection message, run as a child process
// (support/sdk-fault-device.ts). What is measured is what the hub saw: its disconnect and connect
// events (their times, from the hub's clock), its telemetry events against what the device sent,
// C2D queued while the device was away, a desired patch after the reconnect.
// The SDKs dial 8883 and 443 only, so the hub listens there, on a loopback address of its own
// (support/sdk-hub.ts); the tests of this file run one at a time.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { type Reporter, spawnReporter } from './support/child.js'
import { type HubEventLike, type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'
import { within as bounded } from './support/within.js'
import { faultProperties } from './support/fault-message.js'

const FAULT_DEVICE = fileURLToPath(new URL('./support/sdk-fault-device.js', import.meta.url))

let sdk: SdkHub | undefined
let skip: string | undefined

before(async () => {
  ;({ sdk, skip } = await sdkHubOrSkip())
})
after(async () => {
  await sdk?.close()
})

/** The first hub event after `from` (an index into `seen`) that matches, already seen or to come. */
function hubEvent(s: SdkHub, from: number, match: (e: HubEventLike) => boolean): Promise<HubEventLike> {
  return s.waitForEvent((e) => s.seen.indexOf(e) >= from && match(e))
}

const about =
  (deviceId: string, event: string) =>
  (e: HubEventLike): boolean =>
    e.event === event && e.deviceId === deviceId
const desiredSubscription =
  (deviceId: string) =>
  (e: HubEventLike): boolean =>
    about(deviceId, 'subscribe')(e) &&
    JSON.stringify(e.topics).includes('$iothub/twin/PATCH/properties/desired/')
const timeOf = (e: HubEventLike): number => Date.parse(String(e.time))

/** The bodies of the telemetry the hub logged from `deviceId` (the d2c log's events). */
function logged(s: SdkHub, deviceId: string): string[] {
  return s.seen
    .filter(about(deviceId, 'telemetry'))
    .map((e) => String((e.body as { text?: string } | undefined)?.text))
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** `promise`, or a failure naming `what` and what the device and hub said, after `ms`. */
function within<T>(promise: Promise<T>, what: string, trace: () => unknown, ms = 10_000): Promise<T> {
  return bounded(promise, what, ms).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; ${JSON.stringify(trace())}`)
  })
}

/** What the device printed and the hub published about it, for a failure's message. */
function traceOf(s: SdkHub, deviceId: string, device: Reporter) {
  return () => ({
    device: device.lines.map((l) => l.step),
    hub: s.seen.filter((e) => e.deviceId === deviceId).map((e) => e.event),
  })
}

/** A device of the SDK, connected and listening to `listen`. */
async function startDevice(
  s: SdkHub,
  deviceId: string,
  transport: string,
  listen: string[],
): Promise<Reporter> {
  const { connectionString } = await s.hub.addDevice(deviceId)
  const device = spawnReporter(process.execPath, [FAULT_DEVICE], {
    ...s.env,
    DEVICE_CS: connectionString,
    TRANSPORT: transport,
    LISTEN: listen.join(','),
  })
  const ready = await device.waitFor((l) => l.step === 'listening' || l.step === 'failed')
  assert.equal(ready.step, 'listening', JSON.stringify(device.lines))
  return device
}

/** Sends telemetry `id` from the device; resolves with its `sent` or `send-failed` line. */
function send(device: Reporter, id: string, properties?: Record<string, string>) {
  device.child.stdin?.write(`${JSON.stringify({ send: id, properties })}\n`)
  return device.waitFor((l) => (l.step === 'sent' || l.step === 'send-failed') && l.id === id)
}

/** What the tests measured, for the README's table. */
const measured: string[] = []

for (const transport of ['Mqtt', 'MqttWs'] as const) {
  describe(`azure-iot-device over ${transport}, faulted by its own fault-injection messages`, {
    concurrency: 1,
  }, () => {
    const devices: Reporter[] = []
    after(async () => {
      for (const d of devices) await d.stop()
    })

    for (const fault of ['KillTcp', 'ShutDownMqtt'] as const) {
      it(`${fault} with C2D, twin and method listeners: it reconnects by itself, nothing it sent is lost, C2D queued while it was away arrives, its desired subscription survives`, {
        timeout: 60_000,
      }, async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const s = sdk as SdkHub
        const deviceId = `rec-${fault}-${transport}`.toLowerCase()
        const device = await startDevice(s, deviceId, transport, ['c2d', 'twin', 'methods'])
        devices.push(device)
        const trace = traceOf(s, deviceId, device)
        await within(hubEvent(s, 0, desiredSubscription(deviceId)), 'the desired subscription', trace)
        const mark = s.seen.length
        assert.equal((await within(send(device, 'before'), 'before', trace)).step, 'sent')
        // the message asking for the fault is answered (PUBACK) before the drop
        const asked = await within(
          send(device, 'fault', faultProperties(fault, { delay: 1 })),
          'fault',
          trace,
        )
        assert.equal(asked.step, 'sent')
        assert.equal((await within(send(device, 'during-delay'), 'during-delay', trace)).step, 'sent')
        const drop = await within(hubEvent(s, mark, about(deviceId, 'disconnect')), 'the drop', trace)
        assert.match(String(drop.reason), new RegExp(`fault ${fault}`))
        const dropAt = s.seen.indexOf(drop)
        const queued = await s.hub.sendC2d(deviceId, 'while away', { messageId: `c2d-${fault}` })
        const outage = send(device, 'in-outage')
        const back = await within(hubEvent(s, dropAt, about(deviceId, 'connect')), 'the reconnect', trace)
        const reconnectMs = timeOf(back) - timeOf(drop)
        const c2d = await within(
          device.waitFor((l) => l.step === 'c2d' && l.messageId === `c2d-${fault}`),
          'the C2D queued',
          trace,
        )
        assert.equal(c2d.data, 'while away')
        await s.hub.updateDesired(deviceId, { after: fault })
        const desired = await within(
          device.waitFor((l) => l.step === 'desired' && (l.patch as Record<string, unknown>).after === fault),
          'the desired patch',
          trace,
        )
        assert.equal((desired.patch as Record<string, unknown>).after, fault)
        assert.equal((await within(outage, 'in-outage', trace)).step, 'sent')
        const bodies = logged(s, deviceId)
        for (const id of ['before', 'fault', 'during-delay', 'in-outage'])
          assert.ok(
            bodies.includes(id),
            `${id} was sent but the hub did not log it: ${JSON.stringify(bodies)}`,
          )
        assert.ok(reconnectMs < 3000, `reconnected after ${reconnectMs} ms`)
        measured.push(
          `${transport} ${fault} with listeners: C2D ${queued.state}; reconnected after ${reconnectMs} ms; logged ${JSON.stringify(bodies)}`,
        )
        t.diagnostic(measured.at(-1) ?? '')
      })

      it(`${fault} with no listener: it stays disconnected until its next operation, which reconnects and is delivered`, {
        timeout: 60_000,
      }, async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const s = sdk as SdkHub
        const deviceId = `idle-${fault}-${transport}`.toLowerCase()
        const device = await startDevice(s, deviceId, transport, [])
        devices.push(device)
        const trace = traceOf(s, deviceId, device)
        const mark = s.seen.length
        const asked = await within(
          send(device, 'fault', faultProperties(fault, { delay: 1 })),
          'fault',
          trace,
        )
        assert.equal(asked.step, 'sent')
        const drop = await within(hubEvent(s, mark, about(deviceId, 'disconnect')), 'the drop', trace)
        const dropAt = s.seen.indexOf(drop)
        await sleep(2000)
        assert.equal(
          s.seen.slice(dropAt).filter(about(deviceId, 'connect')).length,
          0,
          'it reconnected with nothing to do',
        )
        const start = Date.now()
        const next = send(device, 'next')
        const back = await within(hubEvent(s, dropAt, about(deviceId, 'connect')), 'the reconnect', trace)
        assert.equal((await within(next, 'next', trace)).step, 'sent')
        assert.ok(logged(s, deviceId).includes('next'))
        measured.push(
          `${transport} ${fault} with no listener: no reconnect in 2 s; the next sendEvent reconnected in ${timeOf(back) - start} ms`,
        )
        t.diagnostic(measured.at(-1) ?? '')
      })
    }
    for (const fault of ['InvokeThrottling', 'InvokeMaxMessageQuota'] as const) {
      it(`${fault} for 2 s, with listeners: the message sent in the window drops the connection; the SDK reconnects and sends it again until the window ends, then it is logged once`, {
        timeout: 60_000,
      }, async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const s = sdk as SdkHub
        const deviceId = `win-${fault}-${transport}`.toLowerCase()
        const device = await startDevice(s, deviceId, transport, ['c2d', 'twin', 'methods'])
        devices.push(device)
        const trace = traceOf(s, deviceId, device)
        const mark = s.seen.length
        const asked = await within(
          send(device, 'fault', faultProperties(fault, { duration: 2 })),
          'fault',
          trace,
        )
        assert.equal(asked.step, 'sent')
        const opened = await within(hubEvent(s, mark, about(deviceId, 'fault')), 'the fault event', trace)
        const sent = await within(send(device, 'in-window'), 'in-window', trace, 30_000)
        assert.equal(sent.step, 'sent', JSON.stringify(sent))
        const until = Date.parse(String(opened.until))
        const lateMs = Number(sent.t) - until
        assert.ok(lateMs >= 0, `sent ${-lateMs} ms before the window ended`)
        const after = s.seen.slice(mark)
        const drops = after.filter(about(deviceId, 'disconnect'))
        const reconnects = after.filter(about(deviceId, 'connect')).length
        const code = fault === 'InvokeThrottling' ? 'IotHubThrottled' : 'IotHubQuotaExceeded'
        assert.ok(drops.length >= 1)
        for (const d of drops) assert.match(String(d.reason), new RegExp(`^${code}: `))
        assert.ok(reconnects >= drops.length, `${drops.length} drops, ${reconnects} reconnects`)
        assert.deepEqual(logged(s, deviceId), ['fault', 'in-window'])
        measured.push(
          `${transport} ${fault} 2 s with listeners: ${drops.length} drops and ${reconnects} reconnects in the window; in-window delivered ${lateMs} ms after it ended`,
        )
        t.diagnostic(measured.at(-1) ?? '')
      })
    }

    it('AuthFailure for 2 s, with listeners: the message sent in the window fails with UnauthorizedError (not retried), the reconnects are refused, explained as the fault; its next operation after the window is delivered', {
      timeout: 60_000,
    }, async (t) => {
      if (skip !== undefined) return t.skip(skip)
      const s = sdk as SdkHub
      const deviceId = `win-authfailure-${transport}`.toLowerCase()
      const device = await startDevice(s, deviceId, transport, ['c2d', 'twin', 'methods'])
      devices.push(device)
      const trace = traceOf(s, deviceId, device)
      const mark = s.seen.length
      const asked = await within(
        send(device, 'fault', faultProperties('AuthFailure', { duration: 2 })),
        'fault',
        trace,
      )
      assert.equal(asked.step, 'sent')
      const opened = await within(hubEvent(s, mark, about(deviceId, 'fault')), 'the fault event', trace)
      const failed = await within(send(device, 'in-window'), 'in-window', trace)
      assert.equal(failed.step, 'send-failed')
      assert.equal(failed.name, 'UnauthorizedError')
      const until = Date.parse(String(opened.until))
      await sleep(Math.max(0, until - Date.now()) + 2000)
      const after = s.seen.slice(mark)
      const refusals = after.filter(about(deviceId, 'refuse'))
      assert.ok(refusals.length >= 1)
      for (const r of refusals)
        assert.equal((r.fault as { fault?: string } | undefined)?.fault, 'AuthFailure')
      const selfReconnects = after.filter(about(deviceId, 'connect')).length
      const lastTry = Math.max(...refusals.map(timeOf))
      const start = Date.now()
      const next = await within(send(device, 'next'), 'next', trace)
      assert.equal(next.step, 'sent')
      assert.deepEqual(logged(s, deviceId), ['fault', 'next'])
      measured.push(
        `${transport} AuthFailure 2 s with listeners: in-window send failed (${failed.name}); ${refusals.length} refused reconnects, the last ${lastTry - timeOf(opened)} ms after the fault; ${selfReconnects} reconnect(s) by itself after the window; the next sendEvent was delivered in ${Number(next.t) - start} ms; SDK disconnect event: ${device.lines.some((l) => l.step === 'disconnect')}`,
      )
      t.diagnostic(measured.at(-1) ?? '')
    })
  })
}

after(() => {
  if (measured.length > 0) process.stderr.write(`measured:\n${measured.join('\n')}\n`)
})
