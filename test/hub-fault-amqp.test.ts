// Issue 18, items 1 and 4 over AMQP: IoT Hub's fault-injection messages sent by the official
// device SDK (azure-iot-device with azure-iot-device-amqp, Amqp and AmqpWs), unmodified, with
// its default retry policy, in a child process (support/sdk-fault-amqp-client.ts) against the
// product hub on the ports the SDK dials (support/sdk-hub.ts); and what each fault is on the
// wire, with rhea on the hub's plain loopback AMQP port. The fault types and close reasons are
// the Node SDK's e2e ones (e2etests/test/d2c_disconnect.js, c2d_disconnect.js: the `amqpFaults`
// list), written out here. What the SDK does after each fault (it reconnects, how fast, and
// whether telemetry, C2D and desired patches flow again) is measured, not assumed: the README's
// "Over AMQP" table is these numbers.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import rhea from 'rhea'
import type { Connection, EventContext, Receiver, Sender } from 'rhea'
import { type Hub, type HubEvent, startHub } from 'sas-token/hub'
import { type Line, type Reporter, spawnReporter } from './support/child.js'
import { hmacToken } from './support/hmac-token.js'
import { type HubEventLike, type SdkHub, sdkHubOrSkip } from './support/sdk-hub.js'
import { within as bounded } from './support/within.js'
import { faultProperties } from './support/fault-message.js'

const CLIENT = fileURLToPath(new URL('./support/sdk-fault-amqp-client.js', import.meta.url))

/** The Node SDK's e2e `amqpFaults`, with the close reasons and delays its tests send. */
const AMQP_FAULTS = [
  { type: 'KillTcp', closeReason: ' severs the TCP connection ', link: 'kill-tcp' },
  { type: 'KillAmqpConnection', closeReason: ' severs the AMQP connection ', link: 'amqp-connection' },
  { type: 'KillAmqpSession', closeReason: ' severs the AMQP session ', link: 'amqp-session' },
  { type: 'KillAmqpCBSLinkReq', closeReason: ' severs AMQP CBS request link ', link: 'amqp-cbs-request' },
  { type: 'KillAmqpCBSLinkResp', closeReason: ' severs AMQP CBS response link ', link: 'amqp-cbs-response' },
  { type: 'KillAmqpD2CLink', closeReason: ' severs AMQP D2C link ', link: 'amqp-d2c' },
  { type: 'ShutDownAmqp', closeReason: ' cleanly shutdowns AMQP connection ', link: 'shutdown-amqp' },
  // c2d_disconnect.js adds this one
  { type: 'KillAmqpC2DLink', closeReason: ' severs AMQP C2D link ', link: 'amqp-c2d' },
  // and these the C# SDK's (FaultInjectionConstants), with its close reason
  { type: 'KillAmqpTwinLinkReq', closeReason: 'Boom', link: 'amqp-twin-request' },
  { type: 'KillAmqpTwinLinkResp', closeReason: 'Boom', link: 'amqp-twin-response' },
  { type: 'KillAmqpMethodReqLink', closeReason: 'Boom', link: 'amqp-method-request' },
  { type: 'KillAmqpMethodRespLink', closeReason: 'Boom', link: 'amqp-method-response' },
] as const

/** How long one step may take. */
const STEP_MS = 20_000
const TEST = { timeout: 60_000 }

/** `promise`, or a rejection saying what did not come within {@link STEP_MS}. */
const within = <T>(promise: Promise<T>, what: string, ms = STEP_MS): Promise<T> => bounded(promise, what, ms)

describe('fault-injection messages from azure-iot-device-amqp', { concurrency: 1 }, () => {
  let sdk: SdkHub | undefined
  let skip: string | undefined
  before(async () => {
    ;({ sdk, skip } = await sdkHubOrSkip())
  })
  after(async () => {
    await sdk?.close()
  })

  const handle = (): Hub => (sdk as SdkHub).hub as Hub
  /** The first hub event after the `mark`th (`sdk.seen.length` then) that matches. */
  const eventAfter = (
    mark: number,
    match: (e: HubEventLike) => boolean,
    what: string,
  ): Promise<HubEventLike> => {
    const s = sdk as SdkHub
    return within(
      s.waitForEvent((e) => s.seen.indexOf(e) >= mark && match(e)),
      what,
    )
  }
  const lineAfter = (
    device: Reporter,
    mark: number,
    match: (l: Line) => boolean,
    what: string,
  ): Promise<Line> =>
    within(
      device.waitFor((l) => device.lines.indexOf(l) >= mark && match(l)),
      `the device's ${what}`,
    )

  /** `err` with what the device reported and what the hub logged about it. */
  const explained = (err: unknown, device: Reporter, id: string): Error =>
    new Error(
      `${(err as Error).message}\ndevice: ${JSON.stringify(device.lines)}\nhub: ${JSON.stringify(
        (sdk as SdkHub).seen
          .filter((e) => e.deviceId === id)
          .map((e) => ({ event: e.event, time: e.time, reason: e.reason, action: e.action })),
      )}`,
    )

  async function startDevice(
    deviceId: string,
    transport: 'Amqp' | 'AmqpWs',
    listen: boolean,
  ): Promise<Reporter> {
    const s = sdk as SdkHub
    const added = await handle().addDevice(deviceId)
    const device = spawnReporter(process.execPath, [CLIENT], {
      ...s.env,
      DEVICE_CS: added.connectionString,
      TRANSPORT: transport,
      LISTEN: listen ? '1' : '0',
    })
    const ready = await within(
      device.waitFor((l) => l.step === 'ready' || l.step === 'failed'),
      `${deviceId} ready`,
    )
    assert.equal(ready.step, 'ready', JSON.stringify(device.lines))
    return device
  }
  const send = (device: Reporter, text: string, properties?: Record<string, string>): void => {
    device.child.stdin?.write(`${JSON.stringify({ send: text, ...(properties ? { properties } : {}) })}\n`)
  }
  /** Sends `text` and waits for the SDK's outcome of that send. */
  const sendAndSettle = async (
    device: Reporter,
    text: string,
    properties?: Record<string, string>,
  ): Promise<Line> => {
    const mark = device.lines.length
    send(device, text, properties)
    return lineAfter(
      device,
      mark,
      (l) => (l.step === 'sent' || l.step === 'send-failed') && l.send === text,
      `outcome of sending ${text}`,
    )
  }

  for (const transport of ['Amqp', 'AmqpWs'] as const) {
    const protocol = transport === 'Amqp' ? 'amqp' : 'amqp-ws'
    for (const f of AMQP_FAULTS) {
      it(
        `${transport}, ${f.type}: the hub does ${f.link} after the delay; the SDK (listening for C2D, desired, a method) reconnects by itself, and telemetry, C2D, desired patches and method calls flow again`,
        TEST,
        async (t) => {
          if (skip !== undefined) return t.skip(skip)
          const s = sdk as SdkHub
          const id = `fa-${transport}-${f.type}`.toLowerCase()
          const device = await startDevice(id, transport, true)
          try {
            const mark = s.seen.length
            const deviceMark = device.lines.length
            const sentAt = Date.now()
            const settled = await sendAndSettle(
              device,
              'fault',
              faultProperties(f.type, { closeReason: f.closeReason, delay: 1 }),
            )
            // over AMQP the hub settles the fault-injection message before the fault takes effect
            assert.equal(settled.step, 'sent', JSON.stringify(device.lines))
            const fault = await eventAfter(
              mark,
              (e) => e.event === 'fault' && e.deviceId === id,
              'the fault event',
            )
            assert.equal(fault.fault, f.type)
            assert.equal(fault.source, 'message')
            assert.equal(fault.protocol, protocol)
            assert.equal(fault.action, `${f.link} done`)
            const faultAt = Date.parse(String(fault.time))
            assert.ok(
              faultAt - sentAt >= 900,
              `the fault came ${faultAt - sentAt} ms after the send, before its 1 s delay`,
            )
            const gone = await eventAfter(
              mark,
              (e) => e.event === 'disconnect' && e.deviceId === id,
              'the disconnect',
            )
            const back = await eventAfter(
              s.seen.indexOf(gone),
              (e) => e.event === 'connect' && e.deviceId === id,
              'the reconnect',
            )
            assert.equal(back.protocol, protocol)
            const reconnectMs = Date.parse(String(back.time)) - faultAt
            t.diagnostic(`${transport} ${f.type}: reconnected ${reconnectMs} ms after the fault`)
            // telemetry sent after the fault arrives
            const logged = eventAfter(
              mark,
              (e) =>
                e.event === 'telemetry' &&
                e.deviceId === id &&
                (e.body as { text?: string }).text === 'after',
              'the telemetry sent after the fault',
            )
            assert.equal((await sendAndSettle(device, 'after')).step, 'sent')
            await logged
            // C2D and desired patches still reach the device
            const c2dMark = device.lines.length
            await handle().sendC2d(id, `c2d after ${f.type}`)
            await lineAfter(
              device,
              c2dMark,
              (l) => l.step === 'c2d' && l.data === `c2d after ${f.type}`,
              'C2D message',
            )
            // the SDK subscribes to desired patches again on its own after the reconnect: a patch
            // sent before that is not for it (IoT Hub's too), so wait for its subscription
            await eventAfter(
              s.seen.indexOf(back),
              (e) =>
                e.event === 'subscribe' &&
                e.deviceId === id &&
                (e.topics as Array<{ topic: string }>).some(
                  (x) => x.topic === '/notifications/twin/properties/desired',
                ),
              'the desired subscription after the reconnect',
            )
            await handle().updateDesired(id, { after: f.type })
            const desired = await lineAfter(device, c2dMark, (l) => l.step === 'desired', 'desired patch')
            assert.equal((desired.patch as { after?: string }).after, f.type)
            // and so do direct methods
            assert.deepEqual(await handle().invokeMethod(id, 'ping', {}, { timeoutSeconds: 10 }), {
              status: 200,
              payload: { pong: true },
            })
            // the SDK recovered by itself: it never gave up (no client `disconnect`)
            assert.deepEqual(
              device.lines.slice(deviceMark).filter((l) => l.step === 'disconnect' || l.step === 'failed'),
              [],
            )
          } catch (err) {
            throw explained(err, device, id)
          } finally {
            await device.stop()
          }
        },
      )
    }

    it(
      `${transport}, KillTcp with no C2D or twin listener: the SDK stays disconnected until its next send, which reconnects and arrives`,
      TEST,
      async (t) => {
        if (skip !== undefined) return t.skip(skip)
        const s = sdk as SdkHub
        const id = `fa-${transport}-quiet`.toLowerCase()
        const device = await startDevice(id, transport, false)
        try {
          const mark = s.seen.length
          assert.equal((await sendAndSettle(device, 'fault', faultProperties('KillTcp'))).step, 'sent')
          const gone = await eventAfter(
            mark,
            (e) => e.event === 'disconnect' && e.deviceId === id,
            'the disconnect',
          )
          // two seconds on, nothing has reconnected
          await new Promise((r) => setTimeout(r, 2_000))
          const since = s.seen.slice(s.seen.indexOf(gone))
          assert.deepEqual(
            since.filter((e) => e.event === 'connect' && e.deviceId === id),
            [],
          )
          const sendAt = Date.now()
          const logged = eventAfter(
            mark,
            (e) =>
              e.event === 'telemetry' && e.deviceId === id && (e.body as { text?: string }).text === 'next',
            'the next telemetry',
          )
          const outcome = await sendAndSettle(device, 'next')
          assert.equal(outcome.step, 'sent')
          await logged
          t.diagnostic(
            `${transport} KillTcp, no listener: stayed down; the next send reconnected and was accepted in ${Date.now() - sendAt} ms`,
          )
        } finally {
          await device.stop()
        }
      },
    )
  }
})

describe('throttling, quota and refusals, from azure-iot-device-amqp', { concurrency: 1 }, () => {
  let sdk: SdkHub | undefined
  let skip: string | undefined
  before(async () => {
    ;({ sdk, skip } = await sdkHubOrSkip())
  })
  after(async () => {
    await sdk?.close()
  })
  const handle = (): Hub => (sdk as SdkHub).hub as Hub
  const eventAfter = (
    mark: number,
    match: (e: HubEventLike) => boolean,
    what: string,
  ): Promise<HubEventLike> => {
    const s = sdk as SdkHub
    return within(
      s.waitForEvent((e) => s.seen.indexOf(e) >= mark && match(e)),
      what,
    )
  }
  async function startDevice(deviceId: string, listen: boolean): Promise<Reporter> {
    const s = sdk as SdkHub
    const added = await handle().addDevice(deviceId)
    const device = spawnReporter(process.execPath, [CLIENT], {
      ...s.env,
      DEVICE_CS: added.connectionString,
      TRANSPORT: 'Amqp',
      LISTEN: listen ? '1' : '0',
    })
    const ready = await within(
      device.waitFor((l) => l.step === 'ready' || l.step === 'failed'),
      `${deviceId} ready`,
    )
    assert.equal(ready.step, 'ready', JSON.stringify(device.lines))
    return device
  }
  const sendAndSettle = async (
    device: Reporter,
    text: string,
    properties?: Record<string, string>,
  ): Promise<Line> => {
    const mark = device.lines.length
    device.child.stdin?.write(`${JSON.stringify({ send: text, ...(properties ? { properties } : {}) })}\n`)
    return within(
      device.waitFor(
        (l) =>
          device.lines.indexOf(l) >= mark &&
          (l.step === 'sent' || l.step === 'send-failed') &&
          l.send === text,
      ),
      `the outcome of sending ${text}`,
    )
  }
  const texts = (id: string, mark: number): string[] =>
    (sdk as SdkHub).seen
      .slice(mark)
      .filter((e) => e.event === 'telemetry' && e.deviceId === id)
      .map((e) => String((e.body as { text?: string }).text))

  it(
    'InvokeThrottling: a send in the window is rejected as throttled and the SDK retries it until the window ends; it is logged once, and the connection stays up',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip)
      const s = sdk as SdkHub
      const id = 'fa-throttled'
      const device = await startDevice(id, false)
      try {
        const mark = s.seen.length
        assert.equal(
          (await sendAndSettle(device, 'fault', faultProperties('InvokeThrottling', { duration: 2 }))).step,
          'sent',
        )
        const opened = await eventAfter(
          mark,
          (e) => e.event === 'fault' && e.deviceId === id,
          'the fault event',
        )
        assert.match(String(opened.action), /^throttled for 2 s$/)
        const until = Date.parse(String(opened.until))
        const during = await sendAndSettle(device, 'during')
        assert.equal(during.step, 'sent', JSON.stringify(device.lines))
        const logged = await eventAfter(
          mark,
          (e) =>
            e.event === 'telemetry' && e.deviceId === id && (e.body as { text?: string }).text === 'during',
          'the throttled message',
        )
        assert.ok(Date.parse(String(logged.time)) >= until, 'logged only once the window ended')
        assert.deepEqual(texts(id, mark), ['fault', 'during'])
        assert.deepEqual(
          s.seen.slice(mark).filter((e) => e.event === 'disconnect' && e.deviceId === id),
          [],
        )
        t.diagnostic(`the SDK's send took ${Number(during.ms)} ms across a 2 s throttle`)
      } finally {
        await device.stop()
      }
    },
  )

  it(
    'InvokeMaxMessageQuota: a send in the window fails with IotHubQuotaExceededError (not retried), nothing is logged, the connection stays up; after it, sends are accepted',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip)
      const s = sdk as SdkHub
      const id = 'fa-quota'
      const device = await startDevice(id, false)
      try {
        const mark = s.seen.length
        assert.equal(
          (await sendAndSettle(device, 'fault', faultProperties('InvokeMaxMessageQuota', { duration: 2 })))
            .step,
          'sent',
        )
        const opened = await eventAfter(
          mark,
          (e) => e.event === 'fault' && e.deviceId === id,
          'the fault event',
        )
        assert.match(String(opened.action), /^over quota for 2 s$/)
        const over = await sendAndSettle(device, 'over')
        assert.equal(over.step, 'send-failed')
        assert.equal(over.name, 'IotHubQuotaExceededError')
        assert.match(String(over.message), /AMQP Transport: Could not send/)
        await new Promise((r) =>
          setTimeout(r, Math.max(0, Date.parse(String(opened.until)) - Date.now() + 100)),
        )
        assert.equal((await sendAndSettle(device, 'later')).step, 'sent')
        await eventAfter(
          mark,
          (e) =>
            e.event === 'telemetry' && e.deviceId === id && (e.body as { text?: string }).text === 'later',
          'the message after the window',
        )
        assert.deepEqual(texts(id, mark), ['fault', 'later'])
        assert.deepEqual(
          s.seen.slice(mark).filter((e) => e.event === 'disconnect' && e.deviceId === id),
          [],
        )
      } finally {
        await device.stop()
      }
    },
  )

  it(
    'AuthFailure: the reconnect after a drop is refused at the CBS put-token (a refuse event carrying the fault, amqp:unauthorized-access); the SDK gives up (UnauthorizedError is not retried) until its next operation',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip)
      const s = sdk as SdkHub
      const id = 'fa-auth'
      const device = await startDevice(id, true)
      try {
        const mark = s.seen.length
        assert.equal(
          (await sendAndSettle(device, 'fault', faultProperties('AuthFailure', { duration: 3 }))).step,
          'sent',
        )
        const opened = await eventAfter(
          mark,
          (e) => e.event === 'fault' && e.deviceId === id,
          'the fault event',
        )
        assert.match(String(opened.action), /^connects and operations refused for 3 s$/)
        // while the fault lasts the device's own sends are refused too, so the operator drops it
        const deviceMark = device.lines.length
        await s.hub.fault({ kind: 'drop', deviceId: id })
        const refused = await eventAfter(
          mark,
          (e) => e.event === 'refuse' && e.deviceId === id,
          'the refusal',
        )
        assert.equal(refused.protocol, 'amqp')
        assert.equal(refused.condition, 'amqp:unauthorized-access')
        assert.equal((refused.fault as { fault?: string }).fault, 'AuthFailure')
        assert.match(String((refused.fault as { message?: string }).message), /credentials are fine/)
        assert.deepEqual(
          (refused.findings as Array<{ severity: string }>).filter((f) => f.severity === 'error'),
          [],
        )
        const gaveUp = await within(
          device.waitFor((l) => device.lines.indexOf(l) >= deviceMark && l.step === 'disconnect'),
          'the SDK giving up',
        )
        assert.ok(gaveUp.step === 'disconnect')
        // once the refusal is over, the next operation connects again
        await new Promise((r) =>
          setTimeout(r, Math.max(0, Date.parse(String(opened.until)) - Date.now() + 100)),
        )
        assert.equal((await sendAndSettle(device, 'back')).step, 'sent')
        await eventAfter(
          mark,
          (e) =>
            e.event === 'telemetry' && e.deviceId === id && (e.body as { text?: string }).text === 'back',
          'the message after the refusal',
        )
      } finally {
        await device.stop()
      }
    },
  )
})

describe('AMQP faults on the wire, with rhea on the plain loopback port', { concurrency: 1 }, () => {
  const KEY = Buffer.alloc(32, 9).toString('base64')
  let hub: Hub
  const seen: HubEvent[] = []
  before(async () => {
    hub = await startHub({ inMemory: true, mqttPort: 0, httpsPort: 0, amqpPort: false })
    hub.events.on('event', (e: HubEvent) => seen.push(e))
  })
  after(() => hub.close())

  /** The first hub event from the `mark`th on that matches (polled: these come within ms). */
  async function eventAfter(mark: number, match: (e: HubEvent) => boolean, what: string): Promise<HubEvent> {
    const deadline = Date.now() + 5_000
    for (;;) {
      const found = seen.slice(mark).find(match)
      if (found !== undefined) return found
      if (Date.now() > deadline)
        throw new Error(`${what}: no such event; seen ${JSON.stringify(seen.slice(mark))}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  /** A rhea connection as `id` with SASL PLAIN; resolves open, or rejects with the error. */
  function connectAs(id: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const c = rhea.create_container().connect({
        host: '127.0.0.1',
        port: hub.ports.amqpPlain,
        username: `${id}@sas.localhost`,
        password: hmacToken(`localhost/devices/${id}`, KEY, Math.floor(Date.now() / 1000) + 600),
        reconnect: false,
      } as never)
      for (const name of [
        'connection_error',
        'error',
        'disconnected',
        'session_error',
        'sender_error',
        'receiver_error',
        'protocol_error',
      ])
        c.on(name, () => undefined)
      c.once('connection_open', () => resolve(c))
      c.once('disconnected', (ctx: EventContext) => reject(ctx.error ?? new Error('disconnected')))
    })
  }
  const opened = <L extends Sender | Receiver>(link: L): Promise<L> =>
    new Promise((resolve) =>
      link.once(link.is_sender() ? 'sender_open' : 'receiver_open', () => resolve(link)),
    )
  /** The error a link is detached with ('' when none), once the hub detaches it. */
  const detached = (link: Sender | Receiver): Promise<string> =>
    new Promise((resolve) =>
      link.once(link.is_sender() ? 'sender_close' : 'receiver_close', () => {
        const error = link.error
        resolve(error !== undefined && 'condition' in error ? String(error.condition) : '')
      }),
    )
  /** Sends on `sender`; resolves with the outcome (`accepted`, or the rejection's condition). */
  function outcome(sender: Sender, body: string, properties: Record<string, string> = {}): Promise<string> {
    return new Promise((resolve) => {
      const d = sender.send({
        body: rhea.message.data_section(Buffer.from(body)),
        application_properties: properties,
      })
      const on = (name: string) => (ctx: EventContext) => {
        if (ctx.delivery !== d) return
        const error = (ctx.delivery?.remote_state as { error?: { condition?: string } } | undefined)?.error
        resolve(name === 'rejected' ? `rejected ${error?.condition}` : name)
      }
      sender.on('accepted', on('accepted'))
      sender.on('rejected', on('rejected'))
    })
  }
  const fault = (type: string, o: { duration?: number } = {}): Record<string, string> =>
    faultProperties(type, { closeReason: 'Boom', duration: o.duration })
  const telemetry = (c: Connection, id: string): Promise<Sender> =>
    opened(c.open_sender({ target: { address: `/devices/${id}/messages/events` } }))

  it('each link fault detaches that link with amqp:internal-error once the fault-injection message is accepted, and leaves the others; an MQTT fault or a link not attached is nothing to do', async () => {
    const id = 'wire-links'
    await hub.addDevice(id, { primaryKey: KEY })
    const c = await connectAs(id)
    try {
      let sender = await telemetry(c, id)
      const c2d = await opened(
        c.open_receiver({ source: { address: `/devices/${id}/messages/devicebound` } }),
      )
      const cbsRequests = await opened(c.open_sender({ target: { address: '$cbs' } }))
      const cbsReplies = await opened(c.open_receiver({ source: { address: '$cbs' } }))
      const cases: Array<[string, Sender | Receiver]> = [
        ['KillAmqpC2DLink', c2d],
        ['KillAmqpCBSLinkReq', cbsRequests],
        ['KillAmqpCBSLinkResp', cbsReplies],
      ]
      for (const [type, link] of cases) {
        const mark = seen.length
        const gone = detached(link)
        assert.equal(await outcome(sender, type, fault(type)), 'accepted')
        assert.equal(await gone, 'amqp:internal-error', type)
        const e = await eventAfter(mark, (x) => x.event === 'fault' && x.deviceId === id, type)
        assert.equal(e.event === 'fault' && e.protocol, 'amqp')
        assert.equal(
          e.event === 'fault' && e.action,
          `${type === 'KillAmqpC2DLink' ? 'amqp-c2d' : type === 'KillAmqpCBSLinkReq' ? 'amqp-cbs-request' : 'amqp-cbs-response'} done`,
        )
      }
      for (const [type, action] of [
        ['ShutDownMqtt', 'nothing to do: shutdown-mqtt does not apply to amqp'],
        ['KillAmqpTwinLinkReq', 'nothing to do: amqp-twin-request does not apply to amqp'],
      ] as const) {
        const mark = seen.length
        assert.equal(await outcome(sender, type, fault(type)), 'accepted')
        const e = await eventAfter(mark, (x) => x.event === 'fault' && x.deviceId === id, type)
        assert.equal(e.event === 'fault' && e.action, action)
      }
      // the telemetry link itself: the message that asks is accepted first
      const gone = detached(sender)
      assert.equal(await outcome(sender, 'KillAmqpD2CLink', fault('KillAmqpD2CLink')), 'accepted')
      assert.equal(await gone, 'amqp:internal-error')
      // the connection and the identity's session are still there: a new link sends
      sender = await telemetry(c, id)
      assert.equal(await outcome(sender, 'still here'), 'accepted')
      assert.deepEqual(
        seen.filter((e) => e.event === 'disconnect' && e.deviceId === id),
        [],
      )
    } finally {
      c.close()
    }
    // and when the client goes, that is why it ended: no link fault is its close reason
    const gone = await eventAfter(0, (x) => x.event === 'disconnect' && x.deviceId === id, 'the disconnect')
    assert.equal(gone.event === 'disconnect' && gone.reason, 'client disconnected')
  })

  it('KillAmqpSession ends the session with amqp:internal-error and the identity’s session with it; KillAmqpConnection closes with amqp:internal-error, ShutDownAmqp cleanly, KillTcp drops the socket', async () => {
    const id = 'wire-conn'
    await hub.addDevice(id, { primaryKey: KEY })
    // a connection the hub closes ends its session first (azure-iot-amqp-base waits for that)
    const cases: Array<[string, string[]]> = [
      ['KillAmqpSession', ['session amqp:internal-error']],
      ['KillAmqpConnection', ['session amqp:internal-error', 'close amqp:internal-error']],
      ['ShutDownAmqp', ['session', 'close']],
      ['KillTcp', ['disconnected']],
    ]
    for (const [type, expected] of cases) {
      const c = await connectAs(id)
      try {
        const sender = await telemetry(c, id)
        const mark = seen.length
        const got: string[] = []
        const condition = (error: unknown): string =>
          typeof error === 'object' && error !== null && 'condition' in error
            ? ` ${String(error.condition)}`
            : ''
        const ended = new Promise<void>((resolve) => {
          c.once('session_close', (ctx: EventContext) => {
            got.push(`session${condition(ctx.session?.error)}`)
            if (type === 'KillAmqpSession') resolve()
          })
          c.once('connection_close', (ctx: EventContext) => {
            got.push(`close${condition(ctx.connection.error)}`)
            resolve()
          })
          c.once('disconnected', () => {
            got.push('disconnected')
            resolve()
          })
        })
        assert.equal(await outcome(sender, type, fault(type)), 'accepted')
        await within(ended, `the end of ${type}`, 5_000)
        assert.deepEqual(got, expected, type)
        const closed = await eventAfter(mark, (x) => x.event === 'disconnect' && x.deviceId === id, type)
        assert.equal(closed.event === 'disconnect' && closed.reason, `fault ${type}`)
      } finally {
        c.close()
      }
    }
  })

  it('KillAmqpSession from one identity of a gateway’s shared session ends every identity on it', async () => {
    const [a, b] = ['wire-gw-a', 'wire-gw-b']
    await hub.addDevice(a, { primaryKey: KEY })
    await hub.addDevice(b, { primaryKey: KEY })
    const c = await connectAs(a)
    try {
      const sender = await telemetry(c, a)
      // b's token on $cbs, on the same (rhea's default) session
      const requests = await opened(c.open_sender({ target: { address: '$cbs' } }))
      const replies = await opened(c.open_receiver({ source: { address: '$cbs' } }))
      const answered = new Promise<unknown>((resolve) =>
        replies.once('message', (ctx: EventContext) =>
          resolve(ctx.message?.application_properties?.['status-code']),
        ),
      )
      requests.send({
        message_id: 'put-b',
        reply_to: replies.name,
        application_properties: {
          operation: 'put-token',
          type: 'servicebus.windows.net:sastoken',
          name: `localhost/devices/${b}`,
        },
        body: hmacToken(`localhost/devices/${b}`, KEY, Math.floor(Date.now() / 1000) + 600),
      })
      assert.equal(await answered, 200)
      const other = await telemetry(c, b)
      assert.equal(other.session, sender.session)
      assert.equal(await outcome(other, 'from b'), 'accepted')
      const mark = seen.length
      assert.equal(await outcome(sender, 'KillAmqpSession', fault('KillAmqpSession')), 'accepted')
      const gone = await Promise.all(
        [a, b].map((id) => eventAfter(mark, (x) => x.event === 'disconnect' && x.deviceId === id, id)),
      )
      assert.deepEqual(
        gone.map((e) => e.event === 'disconnect' && e.reason),
        ['fault KillAmqpSession', 'the AMQP session it shared with a faulted identity was ended'],
      )
    } finally {
      c.close()
    }
  })

  it('a throttled message is rejected with com.microsoft:device-container-throttled, an over-quota one with amqp:resource-limit-exceeded; neither is logged and the link goes on', async () => {
    const id = 'wire-throttle'
    await hub.addDevice(id, { primaryKey: KEY })
    const c = await connectAs(id)
    try {
      const sender = await telemetry(c, id)
      const mark = seen.length
      assert.equal(await outcome(sender, 'slow', fault('InvokeThrottling', { duration: 1 })), 'accepted')
      assert.equal(await outcome(sender, 'during'), 'rejected com.microsoft:device-container-throttled')
      await new Promise((r) => setTimeout(r, 1_100))
      assert.equal(
        await outcome(sender, 'quota', fault('InvokeMaxMessageQuota', { duration: 1 })),
        'accepted',
      )
      assert.equal(await outcome(sender, 'over'), 'rejected amqp:resource-limit-exceeded')
      await new Promise((r) => setTimeout(r, 1_100))
      assert.equal(await outcome(sender, 'after'), 'accepted')
      const texts = seen
        .slice(mark)
        .filter((e) => e.event === 'telemetry' && e.deviceId === id)
        .map((e) => (e.event === 'telemetry' ? e.body.text : undefined))
      assert.deepEqual(texts, ['slow', 'quota', 'after'])
    } finally {
      c.close()
    }
  })

  it('AuthFailure refuses SASL PLAIN for its duration: the refuse event carries the fault and the username, no error finding, amqp:unauthorized-access', async () => {
    const id = 'wire-auth'
    await hub.addDevice(id, { primaryKey: KEY })
    const c = await connectAs(id)
    const mark = seen.length
    try {
      const sender = await telemetry(c, id)
      assert.equal(await outcome(sender, 'auth', fault('AuthFailure', { duration: 2 })), 'accepted')
      await eventAfter(mark, (x) => x.event === 'fault' && x.deviceId === id, 'the fault')
    } finally {
      c.close()
    }
    await assert.rejects(connectAs(id))
    const refused = await eventAfter(mark, (x) => x.event === 'refuse' && x.deviceId === id, 'the refusal')
    assert.ok(refused.event === 'refuse')
    assert.equal(refused.fault?.fault, 'AuthFailure')
    assert.equal(refused.username, `${id}@sas.localhost`)
    assert.equal(refused.condition, 'amqp:unauthorized-access')
    assert.deepEqual(
      refused.findings.filter((f) => f.severity === 'error'),
      [],
    )
    await new Promise((r) => setTimeout(r, 2_100))
    ;(await connectAs(id)).close()
  })
})
