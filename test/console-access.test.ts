// The console server's access rules, seen from a plain HTTP client (node:http, so that Host,
// Origin and Sec-Fetch-Site can be set as a browser on another origin, or a DNS-rebinding page,
// would send them), in front of a real hub.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { type Hub, type HubConsole, startConsole, startHub } from 'sas-token/hub'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      )
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('console server access', () => {
  let hub: Hub
  let web: HubConsole
  let bearer: Record<string, string>

  before(async () => {
    hub = await startHub()
    await hub.addDevice('dev1')
    web = await startConsole({ hub })
    bearer = { authorization: `Bearer ${web.token}` }
  })
  after(async () => {
    await web?.close()
    await hub?.close()
  })

  it('prints a loopback URL with a fresh, long token', async () => {
    assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/)
    const other = await startConsole({ hub })
    try {
      assert.notEqual(other.token, web.token)
    } finally {
      await other.close()
    }
  })

  it('the page without the token, or with a wrong one, is 401', async () => {
    assert.equal((await get(web.port, '/')).status, 401)
    assert.equal((await get(web.port, '/?token=nope')).status, 401)
    assert.equal((await get(web.port, `/?token=${web.token.slice(0, -1)}`)).status, 401)
    const ok = await get(web.port, `/?token=${web.token}`)
    assert.equal(ok.status, 200)
    assert.match(ok.body, /<script type="module" src="\/assets\/console\.js">/)
    assert.match(String(ok.headers['content-security-policy']), /script-src 'self'/)
    assert.equal(ok.headers['referrer-policy'], 'no-referrer')
    assert.equal(ok.headers['set-cookie'], undefined)
  })

  it('the API needs the token in a Bearer header, not a cookie or the query', async () => {
    assert.equal((await get(web.port, '/api/devices/')).status, 401)
    assert.equal((await get(web.port, `/api/devices/?token=${web.token}`)).status, 401)
    assert.equal((await get(web.port, '/api/devices/', { cookie: `token=${web.token}` })).status, 401)
    const ok = await get(web.port, '/api/devices/', bearer)
    assert.equal(ok.status, 200)
    const list = JSON.parse(ok.body) as Array<{ deviceId: string }>
    assert.deepEqual(
      list.map((d) => d.deviceId),
      ['dev1'],
    )
    assert.equal(ok.headers['set-cookie'], undefined)
    assert.equal(ok.headers['access-control-allow-origin'], undefined)
  })

  it('another origin is 401 even with the token; no CORS preflight passes', async () => {
    const evil = { ...bearer, origin: 'http://evil.example' }
    assert.equal((await get(web.port, '/api/devices/', evil)).status, 401)
    assert.equal(
      (await get(web.port, '/api/devices/', { ...bearer, origin: 'http://127.0.0.1:1' })).status,
      401,
    )
    assert.equal(
      (await get(web.port, '/api/devices/', { ...bearer, 'sec-fetch-site': 'cross-site' })).status,
      401,
    )
    const pre = await get(
      web.port,
      '/api/devices/',
      {
        origin: 'http://evil.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
      'OPTIONS',
    )
    assert.equal(pre.status, 401)
    assert.equal(pre.headers['access-control-allow-origin'], undefined)
    // the console's own origin is fine
    const own = await get(web.port, '/api/devices/', { ...bearer, origin: web.origin })
    assert.equal(own.status, 200)
  })

  it('a Host that is not the console (DNS rebinding) is 401', async () => {
    const r = await get(web.port, `/?token=${web.token}`, { host: `evil.example:${web.port}` })
    assert.equal(r.status, 401)
    const a = await get(web.port, '/api/devices/', { ...bearer, host: `evil.example:${web.port}` })
    assert.equal(a.status, 401)
    const local = await get(web.port, '/api/devices/', { ...bearer, host: `localhost:${web.port}` })
    assert.equal(local.status, 200)
  })

  it('hub errors come through with their status and IoT Hub error body', async () => {
    const r = await get(
      web.port,
      '/api/twins/dev1/methods',
      { ...bearer, 'content-type': 'application/json' },
      'POST',
      JSON.stringify({ methodName: 'x', payload: null, responseTimeoutInSeconds: 5 }),
    )
    assert.equal(r.status, 404)
    assert.match(r.body, /DeviceNotOnline/)
  })

  it('the event stream is proxied live, starting now', async () => {
    const frames = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: web.port, path: '/api/_emulator/events', headers: bearer },
        (res) => {
          assert.equal(res.statusCode, 200)
          assert.match(String(res.headers['content-type']), /^text\/event-stream/)
          let text = ''
          res.on('data', (c: Buffer) => {
            text += c.toString()
            if (text.includes('"messageId":"sse-1"')) {
              req.destroy()
              resolve(text)
            }
          })
          // the stream is open: make an event happen now
          void hub.sendC2d('dev1', 'hello', { messageId: 'sse-1' }).catch(reject)
        },
      )
      req.on('error', reject)
      req.end()
    })
    const line = frames.split('\n').find((l) => l.startsWith('data: ') && l.includes('sse-1'))
    assert.ok(line)
    const event = JSON.parse(line.slice(6)) as { event: string; deviceId: string; state: string }
    assert.equal(event.event, 'c2d')
    assert.equal(event.deviceId, 'dev1')
    assert.equal(event.state, 'queued')
  })

  it('static assets hold no data and need no token; unknown paths are 404', async () => {
    const js = await get(web.port, '/assets/console.js')
    assert.equal(js.status, 200)
    assert.match(String(js.headers['content-type']), /^text\/javascript/)
    assert.doesNotMatch(js.body, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/)
    assert.equal((await get(web.port, '/assets/../package.json')).status, 404)
    assert.equal((await get(web.port, '/nope', bearer)).status, 404)
  })
})
