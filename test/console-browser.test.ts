// The web console in a real browser: headless Debian chromium (playwright-core) drives the
// built page, served by the console server in front of a real hub (startHub). The devices are
// the official Node device SDK (azure-iot-device + azure-iot-device-mqtt, unmodified, told the
// hub's ephemeral MQTT port through the connection string's documented GatewayHostName) and
// mqtt.js with the core's mqttCredentials() for a refused device. Every wait is for an event or
// a DOM state, never for a time budget.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import deviceSdk from 'azure-iot-device'
import mqttDevice from 'azure-iot-device-mqtt'
import mqtt from 'mqtt'
import type { Page } from 'playwright-core'
import { mqttCredentials, parseConnectionString, verifySasToken } from 'sas-token'
import { type Hub, type HubConsole, startConsole, startHub } from 'sas-token/hub'
import { ARTIFACTS, launchChromium, noBrowser } from './support/chromium.js'

const { Client, Message } = deviceSdk
const { Mqtt } = mqttDevice
type DeviceClient = InstanceType<typeof Client>

const WAIT = { timeout: 120_000 }

function keyOf(connectionString: string): string {
  const cs = parseConnectionString(connectionString)
  assert.ok(cs.sharedAccessKey)
  return cs.sharedAccessKey
}

describe('web console in headless chromium', { skip: noBrowser }, () => {
  let hub: Hub
  let consoleServer: HubConsole
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let page: Page
  let dev1: string
  let device: DeviceClient
  const pageErrors: string[] = []
  const dialogs: string[] = []

  const tab = async (id: string): Promise<void> => {
    await page.click(`nav [data-tab="${id}"]`)
    await page.waitForSelector(`#panel-${id}:not([hidden])`, WAIT)
  }

  before(async () => {
    hub = await startHub()
    dev1 = (await hub.addDevice('dev1')).connectionString
    await hub.addDevice('evil')
    consoleServer = await startConsole({ hub })
    browser = await launchChromium()
    page = browser.context.pages()[0] ?? (await browser.context.newPage())
    page.on('pageerror', (err) => pageErrors.push(String(err)))
    page.on('dialog', (d) => {
      // the page's own "Remove …?" confirmation is accepted; anything else is a finding
      if (d.type() === 'confirm' && d.message().startsWith('Remove ')) void d.accept()
      else {
        dialogs.push(d.message())
        void d.dismiss()
      }
    })
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], {
      origin: consoleServer.origin,
    })
    await page.goto(consoleServer.url)
    await page.waitForSelector('[data-field="stream"].live', WAIT)
  })

  after(async () => {
    await device?.close().catch(() => {})
    await browser?.close()
    await consoleServer?.close()
    await hub?.close()
  })

  it('the token travels as a header, never as a cookie; a reload keeps working', async () => {
    const sent: Array<string | undefined> = []
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) sent.push(r.headers().authorization)
    })
    await page.reload()
    await page.waitForSelector('[data-field="stream"].live', WAIT)
    assert.ok(sent.length > 0)
    for (const auth of sent) assert.equal(auth, `Bearer ${consoleServer.token}`)
    assert.deepEqual(await browser.context.cookies(), [])
    // the page without the token is 401 in the browser too
    const bare = await browser.context.newPage()
    try {
      const res = await bare.goto(`${consoleServer.origin}/`)
      assert.equal(res?.status(), 401)
      const other = await bare.goto(`http://localhost:${consoleServer.port}/`)
      assert.equal(other?.status(), 401)
      // a page on another origin that knows the token still gets nothing
      const evil = createServer((_req, res) => res.end('<!doctype html><title>elsewhere</title>'))
      await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
      try {
        await bare.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`)
        const result = await bare.evaluate(
          `fetch(${JSON.stringify(`${consoleServer.origin}/api/devices/`)}, { headers: { authorization: ${JSON.stringify(`Bearer ${consoleServer.token}`)} } })
             .then((r) => 'status ' + r.status, (e) => 'blocked: ' + e.name)`,
        )
        assert.equal(result, 'blocked: TypeError')
        const simple = await bare.evaluate(
          `fetch(${JSON.stringify(`${consoleServer.origin}/api/devices/`)}).then((r) => 'status ' + r.status, (e) => 'blocked: ' + e.name)`,
        )
        assert.equal(simple, 'blocked: TypeError')
      } finally {
        evil.close()
      }
    } finally {
      await bare.close()
    }
  })

  it('an official SDK device connects and the page shows it online', async () => {
    await tab('devices')
    await page.waitForSelector('tr[data-identity="dev1"] [data-state="offline"]', WAIT)
    device = Client.fromConnectionString(`${dev1};GatewayHostName=127.0.0.1:${hub.ports.mqtt}`, Mqtt)
    device.setOptions({ ca: hub.ca })
    await device.open()
    await page.waitForSelector('tr[data-identity="dev1"] [data-state="online"]', WAIT)
    const activity = await page.textContent('tr[data-identity="dev1"] td.time')
    assert.match(activity ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/)
  })

  it('a device that was never active shows — as its last activity (IoT Hub says 0001-01-01)', async () => {
    await tab('devices')
    const cell = 'tr[data-identity="evil"] td.time'
    await page.waitForSelector(cell, WAIT)
    assert.equal(await page.textContent(cell), '—')
  })

  it('devices and modules are added and removed from the page; Copy gives the connection string', async () => {
    await page.fill('form[data-form="add-device"] input[name="deviceId"]', 'page-dev')
    await page.click('form[data-form="add-device"] button')
    await page.waitForSelector('tr[data-identity="page-dev"]', WAIT)
    await page.fill('form[data-form="add-module"] input[name="deviceId"]', 'page-dev')
    await page.fill('form[data-form="add-module"] input[name="moduleId"]', 'mod1')
    await page.click('form[data-form="add-module"] button')
    await page.waitForSelector('tr[data-identity="page-dev/mod1"]', WAIT)
    const twin = await hub.getTwin('page-dev', { moduleId: 'mod1' })
    assert.equal(twin.moduleId, 'mod1')
    await page.click('tr[data-identity="page-dev/mod1"] [data-action="remove"]')
    await page.waitForSelector('tr[data-identity="page-dev/mod1"]', { ...WAIT, state: 'detached' })
    await page.click('tr[data-identity="page-dev"] [data-action="remove"]')
    await page.waitForSelector('tr[data-identity="page-dev"]', { ...WAIT, state: 'detached' })
    await assert.rejects(hub.getTwin('page-dev'))
    await page.click('tr[data-identity="dev1"] [data-action="copy-connection-string"]')
    await page.locator('#panel-devices .status.ok', { hasText: 'copied' }).waitFor(WAIT)
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), dev1)
  })

  it('its telemetry appears in the stream with its properties', async () => {
    await tab('telemetry')
    const msg = new Message(JSON.stringify({ temperature: 21.5 }))
    msg.properties.add('unit', 'celsius')
    msg.messageId = 'tel-1'
    await device.sendEvent(msg)
    const card = page.locator('li.message', { hasText: 'celsius' })
    await card.waitFor(WAIT)
    const body = await card.locator('[data-field="body"]').textContent()
    assert.deepEqual(JSON.parse(body ?? ''), { temperature: 21.5 })
    assert.match(body ?? '', /\n {2}"temperature": 21.5\n/) // pretty-printed
    const app = await card.locator('table[data-props="Application properties"]').textContent()
    assert.match(app ?? '', /unit\s*celsius/)
    const sys = await card.locator('table[data-props="System properties"]').textContent()
    assert.match(sys ?? '', /tel-1/)
    assert.match(sys ?? '', /iothub-connection-device-id\s*dev1/)
    assert.equal(await card.locator('[data-field="protocol"]').textContent(), 'mqtt') // the SDK's Mqtt transport
    // the raw views: text as sent, and a hex dump of its bytes
    const sent = JSON.stringify({ temperature: 21.5 })
    await page.selectOption('#panel-telemetry select[name="view"]', 'raw')
    assert.equal(await card.locator('[data-field="body"]').textContent(), sent)
    await page.selectOption('#panel-telemetry select[name="view"]', 'hex')
    const hex = (await card.locator('[data-field="body"]').textContent()) ?? ''
    const firstRow = Buffer.from(sent)
      .subarray(0, 16)
      .toString('hex')
      .replace(/(..)(?!$)/g, '$1 ')
    assert.ok(hex.startsWith(`00000000  ${firstRow}  {"temperature":2`), hex)
    await page.selectOption('#panel-telemetry select[name="view"]', 'pretty')
  })

  it('a method invoked from the page reaches the device, and its response is shown', async () => {
    let got: unknown
    device.onDeviceMethod('reboot', (req, res) => {
      got = req.payload
      res.send(200, { rebooting: true, in: 3 }, () => {})
    })
    await tab('methods')
    await page.fill('#panel-methods input[name="deviceId"]', 'dev1')
    await page.fill('#panel-methods input[name="methodName"]', 'reboot')
    await page.fill('#panel-methods textarea[name="payload"]', '{"delay": 3}')
    await page.click('#panel-methods button[type="submit"]')
    await page.waitForSelector('[data-field="method-status"].ok', WAIT)
    assert.match((await page.textContent('[data-field="method-status"]')) ?? '', /status 200/)
    assert.deepEqual(JSON.parse((await page.textContent('[data-field="method-response"]')) ?? ''), {
      rebooting: true,
      in: 3,
    })
    assert.deepEqual(got, { delay: 3 })
  })

  it('a method on an offline device shows the 404 plainly', async () => {
    await page.fill('#panel-methods input[name="deviceId"]', 'evil')
    await page.click('#panel-methods button[type="submit"]')
    await page.waitForSelector('[data-field="method-status"].error', WAIT)
    assert.match((await page.textContent('[data-field="method-status"]')) ?? '', /^404 — device not online/)
  })

  it('a method the device never answers shows the 504 plainly', async () => {
    device.onDeviceMethod('hang', () => {})
    await page.fill('#panel-methods input[name="deviceId"]', 'dev1')
    await page.fill('#panel-methods input[name="methodName"]', 'hang')
    await page.fill('#panel-methods input[name="timeout"]', '5')
    await page.click('#panel-methods button[type="submit"]')
    await page.waitForSelector('[data-field="method-status"].error', WAIT)
    assert.match(
      (await page.textContent('[data-field="method-status"]')) ?? '',
      /^504 — the device did not answer within 5 s/,
    )
  })

  it('a desired-property edit from the page reaches the device; reported updates show live', async () => {
    const twin = await device.getTwin()
    const desired = new Promise<Record<string, unknown>>((resolve) => {
      twin.on('properties.desired', (patch: Record<string, unknown>) => {
        if (patch.interval === 42) resolve(patch)
      })
    })
    await tab('twin')
    await page.fill('#panel-twin input[name="deviceId"]', 'dev1')
    await page.click('#panel-twin form[data-form="twin-load"] button')
    await page.waitForSelector('[data-field="twin-status"].ok', WAIT)
    // checked before sending: not JSON is refused on the page
    await page.fill('#panel-twin textarea[name="edit"]', '{"desired": {"interval": 42}')
    await page.click('[data-action="twin-save"]')
    await page.waitForSelector('[data-field="twin-status"].error', WAIT)
    assert.match((await page.textContent('[data-field="twin-status"]')) ?? '', /Not sent: not JSON/)
    await page.fill(
      '#panel-twin textarea[name="edit"]',
      '{"desired": {"interval": 42}, "tags": {"site": "lab"}}',
    )
    await page.click('[data-action="twin-save"]')
    const patch = await desired
    assert.equal(patch.interval, 42)
    await page.waitForSelector('[data-field="twin-status"].ok', WAIT)
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ firmware: '1.2.3' }, (err?: Error) =>
        err ? reject(err) : resolve(),
      ),
    )
    await page.locator('[data-field="reported"]', { hasText: '"firmware": "1.2.3"' }).waitFor(WAIT)
    assert.match((await page.textContent('[data-field="twin"]')) ?? '', /"site": "lab"/)
  })

  it('a C2D message sent from the page is received, with its properties and ids', async () => {
    const received = new Promise<InstanceType<typeof Message>>((resolve) => {
      device.on('message', (m: InstanceType<typeof Message>) => {
        device.complete(m, () => {})
        resolve(m)
      })
    })
    await tab('c2d')
    await page.fill('#panel-c2d input[name="deviceId"]', 'dev1')
    await page.fill('#panel-c2d input[name="messageId"]', 'c2d-1')
    await page.fill('#panel-c2d input[name="correlationId"]', 'corr-1')
    await page.fill('#panel-c2d textarea[name="payload"]', 'open the valve')
    await page.fill('#panel-c2d textarea[name="properties"]', 'valve=3\npriority=high')
    await page.click('#panel-c2d button[type="submit"]')
    const m = await received
    assert.equal(m.getData().toString(), 'open the valve')
    assert.equal(m.messageId, 'c2d-1')
    assert.equal(m.correlationId, 'corr-1')
    assert.equal(m.properties.getValue('valve'), '3')
    assert.equal(m.properties.getValue('priority'), 'high')
    // the SDK's complete() is its PUBACK: the row goes past delivered to completed
    await page
      .locator('[data-message-id="c2d-1"] [data-field="state"]', { hasText: /^completed$/ })
      .waitFor(WAIT)
    // to a device that is not connected, it stays queued
    await page.fill('#panel-c2d input[name="deviceId"]', 'evil')
    await page.fill('#panel-c2d input[name="messageId"]', 'c2d-2')
    await page.click('#panel-c2d button[type="submit"]')
    await page
      .locator('[data-message-id="c2d-2"] [data-field="state"]', { hasText: /^queued$/ })
      .waitFor(WAIT)
  })

  it('a device connecting with a wrong key appears as refused, with its reason', async () => {
    await tab('refused')
    const wrong = dev1.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`,
    )
    const creds = mqttCredentials(wrong)
    const refused = await new Promise<Error>((resolve) => {
      const c = mqtt.connect({
        host: '127.0.0.1',
        port: hub.ports.mqtt,
        protocol: 'mqtts',
        ca: hub.ca,
        clientId: creds.clientId,
        username: creds.username,
        password: creds.password ?? '',
        protocolVersion: 4,
        reconnectPeriod: 0,
      })
      c.on('error', (err) => {
        c.end(true)
        resolve(err)
      })
      c.on('connect', () => {
        c.end(true)
        resolve(new Error('connected'))
      })
    })
    assert.notEqual(refused.message, 'connected')
    const card = page.locator('li.refusal', { hasText: 'ERR_TOKEN_SIGNATURE_MISMATCH' })
    await card.waitFor(WAIT)
    assert.match((await card.textContent()) ?? '', /dev1/)
    assert.match((await card.textContent()) ?? '', /CONNACK 5/)
  })

  it('a token generated in the SAS form verifies with verifySasToken', async () => {
    await tab('sas')
    await page.fill('#panel-sas input[name="deviceId"]', 'dev1')
    await page.selectOption('#panel-sas select[name="key"]', 'primary')
    await page.fill('#panel-sas input[name="ttl"]', '2h')
    const before = Math.floor(Date.now() / 1000)
    await page.click('#panel-sas button[type="submit"]')
    await page.waitForSelector('[data-field="expires-utc"]', WAIT)
    const after = Math.floor(Date.now() / 1000) + 1
    const token = await page.inputValue('#panel-sas textarea[name="token"]')
    const parsed = verifySasToken(token, { key: keyOf(dev1) })
    assert.equal(parsed.deviceId, 'dev1')
    assert.ok(parsed.expiresAt >= before + 7200 && parsed.expiresAt <= after + 7200, String(parsed.expiresAt))
    const utc = await page.textContent('[data-field="expires-utc"]')
    assert.equal(utc, new Date(parsed.expiresAt * 1000).toISOString().replace('.000Z', 'Z'))
    assert.ok(await page.textContent('[data-field="expires-local"]'))
  })

  it('telemetry carrying <script> and <img onerror> is shown as text and never runs', async () => {
    await tab('telemetry')
    const evil = '<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned=\'img\'">'
    const msg = new Message(evil)
    msg.properties.add('xss', '<img src=y onerror="alert(1)">')
    msg.properties.add('<b onmouseover=alert(2)>', '<script>alert(3)</script>')
    await device.sendEvent(msg)
    const card = page.locator('li.message', { hasText: 'window.__pwned' })
    await card.waitFor(WAIT)
    assert.equal(await card.locator('[data-field="body"]').textContent(), evil)
    assert.match((await card.textContent()) ?? '', /<img src=y onerror="alert\(1\)">/)
    assert.match((await card.textContent()) ?? '', /<script>alert\(3\)<\/script>/)
    // a refused CONNECT's username is the device's to choose, too
    await tab('refused')
    const evilUser = '<img src=z onerror="window.__pwned=\'user\'">'
    await new Promise<void>((resolve) => {
      const c = mqtt.connect({
        host: '127.0.0.1',
        port: hub.ports.mqtt,
        protocol: 'mqtts',
        ca: hub.ca,
        clientId: 'evil',
        username: evilUser,
        password: 'x',
        protocolVersion: 4,
        reconnectPeriod: 0,
      })
      c.on('error', () => {
        c.end(true)
        resolve()
      })
      c.on('close', () => resolve())
    })
    await page.locator('li.refusal', { hasText: evilUser }).waitFor(WAIT)
    const injected: unknown = await page.evaluate(`({
      pwned: typeof window.__pwned,
      img: document.querySelectorAll('main img').length,
      script: document.querySelectorAll('main script').length,
      b: document.querySelectorAll('main b').length,
    })`)
    assert.deepEqual(injected, { pwned: 'undefined', img: 0, script: 0, b: 0 })
    assert.deepEqual(dialogs, [])
  })

  it('screenshots of each tab at 1280×800 and 390 px wide', async () => {
    for (const [w, hgt] of [
      [1280, 800],
      [390, 844],
    ] as const) {
      await page.setViewportSize({ width: w, height: hgt })
      for (const id of ['devices', 'sas', 'telemetry', 'c2d', 'methods', 'twin', 'refused']) {
        await tab(id)
        await page.screenshot({ path: join(ARTIFACTS, `console-${id}-${w}.png`), fullPage: w !== 1280 })
        // nothing runs off the right edge of the page
        const overflow = Number(
          await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
        )
        assert.ok(overflow <= 0, `tab ${id} at ${w}px overflows by ${overflow}px`)
      }
    }
    assert.deepEqual(pageErrors, [])
  })

  it('the Devices tab drops a connected device and refuses its next connect on purpose; the fault events are listed', async () => {
    const cs = (await hub.addDevice('fx1')).connectionString
    const creds = mqttCredentials(cs)
    const open = (): Promise<{ client: mqtt.MqttClient; code?: number }> =>
      new Promise((resolve) => {
        const c = mqtt.connect({
          host: '127.0.0.1',
          port: hub.ports.mqtt,
          protocol: 'mqtts',
          ca: hub.ca,
          clientId: creds.clientId,
          username: creds.username,
          password: creds.password ?? '',
          protocolVersion: 4,
          reconnectPeriod: 0,
        })
        c.once('connect', () => resolve({ client: c }))
        c.once('error', (err) => {
          c.end(true)
          resolve({ client: c, code: (err as { code?: number }).code ?? -1 })
        })
      })
    const first = await open()
    assert.equal(first.code, undefined)
    const gone = new Promise<void>((resolve) => first.client.once('close', () => resolve()))
    await tab('devices')
    await page.reload()
    await page.waitForSelector('[data-field="stream"].live', WAIT)
    await tab('devices')
    const row = page.locator('tr[data-identity="fx1"]')
    await row.waitFor(WAIT)
    await row.locator('button[data-fault="drop"]').click()
    await gone
    await page.locator('ul.faults li[data-fault="drop"]', { hasText: 'fx1' }).waitFor(WAIT)
    await row.locator('button[data-fault="refuse"]').click()
    await page.locator('ul.faults li[data-fault="refuse"]', { hasText: 'fx1' }).waitFor(WAIT)
    assert.equal((await open()).code, 5)
    const again = await open()
    assert.equal(again.code, undefined)
    again.client.end(true)
    assert.deepEqual(pageErrors, [])
  })
})
