// The hub operator commands on the wire: the built CLI against a real HTTPS server over real TLS
// that records each request and answers as IoT Hub's REST API documents it (the answers are
// written here by hand, from the docs and hub-facts.md §6). It checks what the CLI sends (paths,
// api-version, If-Match, bodies, and a policy token checked with an independent node:crypto
// HMAC), how it renders answers, and the exit codes and error codes of failures. The same
// commands against the real emulator and the official SDKs are in sdk-*.test.ts.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import { selfSignedCertificate } from './support/certificate.js'
import { cli } from './support/cli.js'
import { KEY } from './support/fixtures.js'
import { hmacToken } from './support/hmac-token.js'

const HOST = 'myhub.azure-devices.net'
const HUB_CS = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
const DEVICE_KEY = 'ZGV2aWNlLWtleS1mcm9tLXRoZS1odWI=' // base64("device-key-from-the-hub")
const SECOND_KEY = 'c2Vjb25kLWtleS1mcm9tLXRoZS1odWI=' // base64("second-key-from-the-hub")

interface Recorded {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}
type Answer = (req: Recorded, res: ServerResponse) => void

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(JSON.stringify(body))
  }

const device = (id: string, extra: Record<string, unknown> = {}) => ({
  deviceId: id,
  generationId: '638000000000000000',
  etag: 'MA==',
  status: 'enabled',
  connectionState: 'Disconnected',
  cloudToDeviceMessageCount: 0,
  authentication: { type: 'sas', symmetricKey: { primaryKey: DEVICE_KEY, secondaryKey: SECOND_KEY } },
  capabilities: { iotEdge: false },
  ...extra,
})

let server: Server
let port: number
let caFile: string
let requests: Recorded[]
let answer: Answer

before(async () => {
  const { key, cert } = selfSignedCertificate(['localhost'])
  caFile = join(mkdtempSync(join(tmpdir(), 'hub-wire-')), 'ca.pem')
  writeFileSync(caFile, cert)
  server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      requests.push(r)
      answer(r, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})
after(() => {
  server.closeAllConnections()
  server.close()
})
beforeEach(() => {
  requests = []
  answer = json(500, { Message: 'no answer set' })
})

/** Runs `sas-token hub …` against the recording server, trusting its certificate with --ca. */
function hub(args: string[], env: Record<string, string> = {}) {
  return cli(['hub', ...args, '-c', HUB_CS, '--endpoint', `https://localhost:${port}`, '--ca', caFile], {
    env,
  })
}

function only(): Recorded {
  assert.equal(
    requests.length,
    1,
    `one request, got ${requests.map((r) => `${r.method} ${r.url}`).join(', ')}`,
  )
  return requests[0] as Recorded
}

/** The Authorization header is a policy token for the hub host, as an independent HMAC signs it. */
function assertPolicyToken(r: Recorded): void {
  const auth = String(r.headers.authorization)
  const se = Number(/[?&]se=(\d+)/.exec(auth)?.[1])
  assert.ok(se > Date.now() / 1000, 'a token that has not expired')
  assert.equal(auth, hmacToken(HOST, KEY, se, 'iothubowner'))
}

describe('hub devices', () => {
  it('add: PUT /devices/{id} with empty keys (the hub makes them); prints the device connection string', async () => {
    answer = json(200, device('dev1'))
    const r = await hub(['devices', 'add', 'dev1'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${DEVICE_KEY}\n`)
    const req = only()
    assert.equal(req.method, 'PUT')
    assert.equal(req.url, '/devices/dev1?api-version=2021-04-12')
    assert.equal(req.headers['if-match'], undefined)
    assert.deepEqual(JSON.parse(req.body), {
      deviceId: 'dev1',
      status: 'enabled',
      authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
    })
    assertPolicyToken(req)
  })

  it('add --module --json: PUT /devices/{id}/modules/{mid}; a module connection string', async () => {
    answer = json(200, device('dev1', { moduleId: 'mod1' }))
    const r = await hub(['devices', 'add', 'dev1', '--module', 'mod1', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {
      deviceId: 'dev1',
      moduleId: 'mod1',
      status: 'enabled',
      connectionString: `HostName=${HOST};DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${DEVICE_KEY}`,
    })
    assert.equal(only().url, '/devices/dev1/modules/mod1?api-version=2021-04-12')
  })

  it('add --disabled sends status disabled; an id with reserved URL characters is encoded', async () => {
    answer = json(200, device('a?b', { status: 'disabled' }))
    const r = await hub(['devices', 'add', 'a?b', '--disabled'])
    assert.equal(r.code, 0, r.stderr)
    const req = only()
    assert.equal(req.url, '/devices/a%3Fb?api-version=2021-04-12')
    assert.equal(JSON.parse(req.body).status, 'disabled')
  })

  it('add of an existing device: 409 is ERR_HUB_CONFLICT, exit 1', async () => {
    answer = json(409, {
      Message: 'ErrorCode:DeviceAlreadyExists;A device with ID dev1 is already registered.',
    })
    const r = await hub(['devices', 'add', 'dev1', '--json'])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    const { error } = JSON.parse(r.stderr)
    assert.equal(error.code, 'ERR_HUB_CONFLICT')
    assert.match(error.message, /DeviceAlreadyExists/)
  })

  it('list: GET /devices/ (trailing slash, as the SDK); text is id, status, state a line', async () => {
    answer = json(200, [device('dev1'), device('dev2', { status: 'disabled', connectionState: 'Connected' })])
    const r = await hub(['devices', 'list'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'dev1\tenabled\tDisconnected\ndev2\tdisabled\tConnected\n')
    assert.equal(only().url, '/devices/?api-version=2021-04-12')
  })

  it('list --json redacts the keys; --show-secrets keeps them; --device lists modules', async () => {
    answer = json(200, [device('dev1')])
    const r = await hub(['devices', 'list', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(!r.stdout.includes(DEVICE_KEY) && !r.stdout.includes(SECOND_KEY))
    assert.equal(JSON.parse(r.stdout)[0].authentication.symmetricKey.primaryKey, '<redacted>')
    const shown = await hub(['devices', 'list', '--json', '--show-secrets'])
    assert.equal(JSON.parse(shown.stdout)[0].authentication.symmetricKey.primaryKey, DEVICE_KEY)
    requests = []
    answer = (req, res) =>
      json(
        200,
        req.url.startsWith('/devices/dev1/modules') ? [device('dev1', { moduleId: 'm1' })] : device('dev1'),
      )(req, res)
    const modules = await hub(['devices', 'list', '--device', 'dev1'])
    assert.equal(modules.code, 0, modules.stderr)
    // the modules, then their device: the text rows show its status (modules have none)
    assert.deepEqual(
      requests.map((q) => q.url),
      ['/devices/dev1/modules?api-version=2021-04-12', '/devices/dev1?api-version=2021-04-12'],
    )
  })

  it('show: keys redacted in text and JSON unless --show-secrets', async () => {
    answer = json(200, device('dev1'))
    const text = await hub(['devices', 'show', 'dev1'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^id +dev1$/m)
    assert.match(text.stdout, /^primaryKey +<redacted>$/m)
    assert.ok(!text.stdout.includes(DEVICE_KEY))
    const secret = await hub(['devices', 'show', 'dev1', '--show-secrets'])
    assert.match(
      secret.stdout,
      new RegExp(
        `^connectionString +HostName=${HOST};DeviceId=dev1;SharedAccessKey=${DEVICE_KEY.replaceAll('+', '\\+')}$`,
        'm',
      ),
    )
    assert.equal(requests[0]?.url, '/devices/dev1?api-version=2021-04-12')
  })

  it('show of a device the hub does not have: 404 is ERR_HUB_NOT_FOUND, exit 1', async () => {
    answer = json(
      404,
      { Message: 'ErrorCode:DeviceNotFound;Device nope not found.' },
      { 'iothub-errorcode': 'DeviceNotFound' },
    )
    const r = await hub(['devices', 'show', 'nope'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /not found/)
  })

  it('rm: DELETE with If-Match "*"; nothing on stdout', async () => {
    answer = (_req, res) => {
      res.writeHead(204)
      res.end()
    }
    const r = await hub(['devices', 'rm', 'dev1'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '')
    const req = only()
    assert.equal(req.method, 'DELETE')
    assert.equal(req.headers['if-match'], '"*"')
  })
})

describe('hub twin', () => {
  const twin = {
    deviceId: 'dev1',
    etag: 'AAAA',
    version: 3,
    tags: {},
    properties: { desired: { $version: 2 }, reported: { $version: 1 } },
  }

  it('without a patch: GET /twins/{id}, printed as JSON', async () => {
    answer = json(200, twin)
    const r = await hub(['twin', 'dev1'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), twin)
    assert.equal(only().method, 'GET')
  })

  it('--desired and --tags: one PATCH with If-Match "*"', async () => {
    answer = json(200, twin)
    const r = await hub([
      'twin',
      'dev1',
      '--module',
      'mod1',
      '--desired',
      '{"fan":3,"old":null}',
      '--tags',
      '{"site":"lab"}',
    ])
    assert.equal(r.code, 0, r.stderr)
    const req = only()
    assert.equal(req.method, 'PATCH')
    assert.equal(req.url, '/twins/dev1/modules/mod1?api-version=2021-04-12')
    assert.equal(req.headers['if-match'], '"*"')
    assert.deepEqual(JSON.parse(req.body), {
      tags: { site: 'lab' },
      properties: { desired: { fan: 3, old: null } },
    })
  })

  it('--desired that is not JSON is a usage error (exit 2), and nothing is sent', async () => {
    const r = await hub(['twin', 'dev1', '--desired', '{fan:3}'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--desired is not JSON/)
    assert.equal(requests.length, 0)
  })
})

describe('hub call', () => {
  it('POST /twins/{id}/methods; the device payload on stdout, exit 0', async () => {
    answer = json(200, { status: 200, payload: { rebooted: true } })
    const r = await hub(['call', 'dev1', 'reboot', '{"delay":5}'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), { rebooted: true })
    const req = only()
    assert.equal(req.url, '/twins/dev1/methods?api-version=2021-04-12')
    assert.deepEqual(JSON.parse(req.body), {
      methodName: 'reboot',
      payload: { delay: 5 },
      responseTimeoutInSeconds: 30,
      connectTimeoutInSeconds: 0,
    })
  })

  it('--json prints {status, payload}; a device error status is still an answer (exit 0)', async () => {
    answer = json(200, { status: 500, payload: 'disk full' })
    const r = await hub(['call', 'dev1', 'getLog', '--module', 'mod1', '--timeout', '60', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), { status: 500, payload: 'disk full' })
    const req = only()
    assert.equal(req.url, '/twins/dev1/modules/mod1/methods?api-version=2021-04-12')
    assert.equal(JSON.parse(req.body).responseTimeoutInSeconds, 60)
  })

  it('404 (device offline) exits 3 with ERR_HUB_DEVICE_NOT_ONLINE', async () => {
    answer = json(404, { Message: 'Timed out waiting for device to connect.', errorCode: 404103 })
    const r = await hub(['call', 'dev1', 'reboot', '--json'])
    assert.equal(r.code, 3)
    assert.equal(r.stdout, '')
    assert.equal(JSON.parse(r.stderr).error.code, 'ERR_HUB_DEVICE_NOT_ONLINE')
  })

  it('504 (no answer in time) exits 4 with ERR_HUB_METHOD_TIMEOUT', async () => {
    answer = json(504, { Message: 'Timed out waiting for the response from device.', errorCode: 504101 })
    const r = await hub(['call', 'dev1', 'reboot', '--json'])
    assert.equal(r.code, 4)
    assert.equal(JSON.parse(r.stderr).error.code, 'ERR_HUB_METHOD_TIMEOUT')
  })

  it('--timeout outside 5-300 and a payload that is not JSON are usage errors', async () => {
    assert.equal((await hub(['call', 'dev1', 'reboot', '--timeout', '3'])).code, 2)
    assert.equal((await hub(['call', 'dev1', 'reboot', 'not json'])).code, 2)
    assert.equal(requests.length, 0)
  })
})

describe('hub send', () => {
  it('POST /_emulator/devices/{id}/messages with the payload and properties; prints the messageId', async () => {
    answer = json(202, { messageId: 'm-1', state: 'queued' })
    const r = await hub([
      'send',
      'dev1',
      'hello',
      '-p',
      'color=red',
      '-p',
      'a b=c&d',
      '--content-type',
      'text/plain',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'm-1\n')
    assert.match(r.stderr, /queued/)
    const req = only()
    assert.equal(req.url, '/_emulator/devices/dev1/messages?api-version=2021-04-12')
    assert.deepEqual(JSON.parse(req.body), {
      payload: 'hello',
      properties: { color: 'red', 'a b': 'c&d' },
      contentType: 'text/plain',
    })
  })

  it('403004 (queue full) is ERR_HUB_QUEUE_FULL', async () => {
    answer = json(403, { Message: 'Device queue is full.', errorCode: 403004 })
    const r = await hub(['send', 'dev1', 'x', '--json'])
    assert.equal(r.code, 1)
    assert.equal(JSON.parse(r.stderr).error.code, 'ERR_HUB_QUEUE_FULL')
  })
})

describe('hub watch', () => {
  it('--json prints the server-sent events as NDJSON; --count stops; --device filters at the hub', async () => {
    const events = [
      { event: 'connect', time: '2026-12-01T00:00:00.000Z', deviceId: 'dev1', protocol: 'mqtt' },
      { event: 'telemetry', time: '2026-12-01T00:00:01.000Z', deviceId: 'dev1', body: { text: 'hi' } },
    ]
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      // A comment, a non-event, then two events split across writes.
      res.write(': hello\n\ndata: {"not":"an event"}\n\n')
      res.write(`data: ${JSON.stringify(events[0])}\n\ndata: ${JSON.stringify(events[1]).slice(0, 10)}`)
      setImmediate(() => res.write(`${JSON.stringify(events[1]).slice(10)}\n\n`))
    }
    const r = await hub(['watch', '--json', '--device', 'dev1', '--count', '2'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      events,
    )
    assert.equal(only().url, '/_emulator/events?deviceId=dev1&api-version=2021-04-12')
    assert.equal(requests[0]?.headers.accept, 'text/event-stream')
  })

  it('the hub closing the stream is a failure (exit 1)', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(`data: ${JSON.stringify({ event: 'close', time: '2026-12-01T00:00:00.000Z' })}\n\n`)
    }
    const r = await hub(['watch'])
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^2026-12-01T00:00:00.000Z {2}close/)
    assert.match(r.stderr, /closed the event stream/)
  })
})

describe('connection, trust and secrets', () => {
  it('401: ERR_HUB_UNAUTHORIZED names the policy to check, and never prints the key', async () => {
    answer = json(401, { Message: 'ErrorCode:IotHubUnauthorizedAccess;Unauthorized' })
    const r = await hub(['devices', 'list', '--json'])
    assert.equal(r.code, 1)
    const { error } = JSON.parse(r.stderr)
    assert.equal(error.code, 'ERR_HUB_UNAUTHORIZED')
    assert.match(error.message, /SharedAccessKeyName/)
    assert.ok(!r.stderr.includes(KEY) && !r.stdout.includes(KEY))
  })

  it('the connection string comes from $IOTHUB_CONNECTION_STRING; none at all is a usage error', async () => {
    answer = json(200, [])
    const env = await cli(
      ['hub', 'devices', 'list', '--endpoint', `https://localhost:${port}`, '--ca', caFile],
      {
        env: { IOTHUB_CONNECTION_STRING: HUB_CS },
      },
    )
    assert.equal(env.code, 0, env.stderr)
    assertPolicyToken(only())
    const none = await cli(['hub', 'devices', 'list', '--endpoint', `https://localhost:${port}`])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /IOTHUB_CONNECTION_STRING/)
  })

  it('a device connection string is refused (ERR_KEY_REQUIRED) without echoing its key', async () => {
    const r = await cli([
      'hub',
      'devices',
      'list',
      '--json',
      '-c',
      `HostName=${HOST};DeviceId=d;SharedAccessKey=${KEY}`,
    ])
    assert.equal(r.code, 1)
    assert.equal(JSON.parse(r.stderr).error.code, 'ERR_KEY_REQUIRED')
    assert.ok(!r.stderr.includes(KEY))
    assert.equal(requests.length, 0)
  })

  it('an untrusted certificate is ERR_HUB_TLS pointing at NODE_EXTRA_CA_CERTS; NODE_EXTRA_CA_CERTS fixes it', async () => {
    answer = json(200, [])
    const args = ['hub', 'devices', 'list', '--json', '-c', HUB_CS, '--endpoint', `https://localhost:${port}`]
    const untrusted = await cli(args)
    assert.equal(untrusted.code, 1)
    const { error } = JSON.parse(untrusted.stderr)
    assert.equal(error.code, 'ERR_HUB_TLS')
    assert.match(error.message, /NODE_EXTRA_CA_CERTS/)
    const trusted = await cli(args, { env: { NODE_EXTRA_CA_CERTS: caFile } })
    assert.equal(trusted.code, 0, trusted.stderr)
    assert.equal(trusted.stdout.trim(), '[]')
  })

  it('no hub listening: ERR_HUB_UNREACHABLE says to start one', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const free = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const r = await cli([
      'hub',
      'devices',
      'list',
      '--json',
      '-c',
      HUB_CS,
      '--endpoint',
      `https://127.0.0.1:${free}`,
    ])
    assert.equal(r.code, 1)
    const { error } = JSON.parse(r.stderr)
    assert.equal(error.code, 'ERR_HUB_UNREACHABLE')
    assert.match(error.message, /ECONNREFUSED.*sas-token hub/)
  })

  it("the start command's options are not the subcommands' (strict: a usage error)", async () => {
    answer = json(200, [])
    const r = await hub(['devices', 'list', '--mqtt-port', '1'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /Unknown arguments?: mqtt-port/)
    assert.equal(requests.length, 0)
  })

  it('an --endpoint that is not an https URL is refused before any request', async () => {
    const r = await cli([
      'hub',
      'devices',
      'list',
      '--json',
      '-c',
      HUB_CS,
      '--endpoint',
      'http://localhost:1',
    ])
    assert.equal(r.code, 1)
    assert.equal(JSON.parse(r.stderr).error.code, 'ERR_INVALID_OPTION')
  })
})
