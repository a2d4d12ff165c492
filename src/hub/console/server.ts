/**
 * The hub's web console server: `http://127.0.0.1:<port>/?token=…`, on its own port. It serves
 * the page (built into `assets/`) and, under `/api/`, the hub's own operator REST API and event
 * stream, proxied to the hub's HTTPS listener with the owner credentials it holds server-side.
 * So the browser never meets the hub's self-signed certificate, and never holds a hub key.
 *
 * Every request goes through the listener guard (a target that is not a URL is a 400, nothing
 * a request does can throw out of the server) and must arrive whole within the request timeout.
 * Every request must name the console in `Host`, come from its own origin, and (except the
 * static assets, which hold no data) carry the access token: `?token=` for the page itself,
 * `Authorization: Bearer` for the API. No cookie is ever set; no CORS header is ever sent.
 *
 * @module
 */

import { existsSync, readFileSync } from 'node:fs'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { SasTokenError } from '../../errors.js'
import { positiveInteger } from '../option-checks.js'
import { tokenFromConnectionString } from '../../token-from-connection-string.js'
import { HTTP_REQUEST_TIMEOUT_MS, guardRequests, httpTimeouts } from '../net/guard-listener.js'
import { allowedHosts, bearerToken, newAccessToken, originProblem, tokenMatches } from './access.js'

/** The hub the console fronts: what `startHub()` returns has all of it. */
export interface ConsoleHub {
  /** The owner connection string; the console signs its own `iothubowner` tokens with it. */
  hubConnectionString: string
  /** The hub's CA (PEM), to verify its HTTPS listener. */
  ca: string
  /** The hub's host name, shown on the page and used in connection strings. */
  hostName: string
  /** The hub's ports; the console needs `https`. */
  ports: {
    /** The HTTPS (REST API) port. */
    https: number
    /** The MQTT port (shown on the page). */
    mqtt?: number
  }
}

/** Options of {@link startConsole}. */
export interface StartConsoleOptions {
  /** The hub to front. */
  hub: ConsoleHub
  /** TCP port on 127.0.0.1; `0` (the default) picks a free one. */
  port?: number
  /** Where the hub's HTTPS API listens; default `127.0.0.1`. */
  hubAddress?: string
  /** The access token; default 32 random bytes. */
  token?: string
  /** Clock for the owner tokens, epoch ms; default `Date.now`. */
  now?: () => number
  /** How long a request (headers and body) may take to arrive, ms; default 30000. */
  requestTimeoutMs?: number
}

/** A running console. */
export interface HubConsole {
  /** The URL to open, with the access token: `http://127.0.0.1:<port>/?token=…`. A secret. */
  url: string
  /** `http://127.0.0.1:<port>`, without the token. */
  origin: string
  /** The bound port. */
  port: number
  /** The access token. A secret. */
  token: string
  /** Stops the console and ends its open event streams. */
  close(): Promise<void>
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
}

const ASSETS: Record<string, string> = {
  '/assets/console.js': 'text/javascript; charset=utf-8',
  '/assets/console.css': 'text/css; charset=utf-8',
}

/** Request bodies larger than this are refused (the hub's own twin limit is 32 KB). */
const MAX_BODY = 1024 * 1024

/** Headers the browser may pass on to the hub. Nothing else goes through (no cookie, no auth). */
const FORWARD_REQUEST = ['content-type', 'if-match', 'accept'] as const
/** Headers the hub may pass back. */
const FORWARD_RESPONSE = ['content-type', 'etag', 'retry-after'] as const

function assetDir(): string {
  // dist/hub/console/server.js → ./assets; inside the bundled CLI (dist/cli.js) → ./hub/console/assets
  for (const rel of ['./assets/', './hub/console/assets/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(`${dir}index.html`)) return dir
  }
  throw new SasTokenError(
    'ERR_INVALID_OPTION',
    'the console page is not built (dist/hub/console/assets is missing): run `npm run build`',
  )
}

function refuse(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ Message: message, ErrorCode: status === 401 ? 'Unauthorized' : 'Error' })
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' })
  res.end(body)
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        reject(new Error('too large'))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(chunks.length ? Buffer.concat(chunks) : undefined))
    req.on('error', reject)
  })
}

/**
 * Starts the console for `hub` on loopback.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` when the page is not built, the port is not
 *   an integer 0–65535 or the request timeout is not a whole number of ms, 1 or more;
 *   `ERR_HUB_PORT_UNAVAILABLE` when the port cannot be bound, or when the hub has no HTTPS
 *   listener to front.
 */
export async function startConsole(o: StartConsoleOptions): Promise<HubConsole> {
  const port = o.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `console port must be an integer 0–65535, got ${String(port)}`,
    )
  }
  if (!Number.isInteger(o.hub.ports.https) || o.hub.ports.https <= 0) {
    throw new SasTokenError(
      'ERR_HUB_PORT_UNAVAILABLE',
      "the console fronts the hub's HTTPS listener, which is off: start the hub with an HTTPS port",
    )
  }
  const requestTimeoutMs = positiveInteger(o.requestTimeoutMs, HTTP_REQUEST_TIMEOUT_MS, 'requestTimeoutMs')
  const dir = assetDir()
  const files = new Map<string, Buffer>()
  for (const name of ['index.html', 'console.js', 'console.css'])
    files.set(name, readFileSync(`${dir}${name}`))
  const token = o.token ?? newAccessToken()
  const now = o.now ?? Date.now
  const hub = o.hub
  const hubAddress = o.hubAddress ?? '127.0.0.1'
  const info = JSON.stringify({ hostName: hub.hostName, ports: hub.ports })
  // one TLS session to the hub, kept alive, instead of a handshake per request
  const agent = new HttpsAgent({ keepAlive: true, ca: hub.ca })
  let hosts = new Set<string>()
  let owner: { token: string; renewAt: number } | undefined

  const ownerToken = (): string => {
    const t = now()
    if (!owner || t >= owner.renewAt) {
      owner = {
        token: tokenFromConnectionString(hub.hubConnectionString, { ttl: 3600, now: t }),
        renewAt: t + 3000_000,
      }
    }
    return owner.token
  }

  const proxy = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    let body: Buffer | undefined
    try {
      body = await readBody(req)
    } catch {
      refuse(res, 413, `request body over ${MAX_BODY} bytes`)
      return
    }
    const headers: Record<string, string> = { authorization: ownerToken() }
    for (const name of FORWARD_REQUEST) {
      const v = req.headers[name]
      if (typeof v === 'string') headers[name] = v
    }
    if (body) headers['content-length'] = String(body.length)
    const upstream = httpsRequest(
      { host: hubAddress, port: hub.ports.https, method: req.method, path, headers, agent },
      (up) => {
        const out: Record<string, string> = { ...SECURITY_HEADERS }
        for (const name of FORWARD_RESPONSE) {
          const v = up.headers[name]
          if (typeof v === 'string') out[name] = v
        }
        if (String(up.headers['content-type']).startsWith('text/event-stream')) {
          out['x-accel-buffering'] = 'no'
          res.writeHead(up.statusCode ?? 502, out)
          res.flushHeaders()
        } else res.writeHead(up.statusCode ?? 502, out)
        up.pipe(res)
        up.on('error', () => res.destroy())
      },
    )
    res.on('close', () => upstream.destroy())
    upstream.on('error', (err) => {
      if (!res.headersSent)
        refuse(
          res,
          502,
          `the hub's HTTPS API at ${hubAddress}:${hub.ports.https} is not reachable: ${err.message}`,
        )
      else res.destroy()
    })
    upstream.end(body)
  }

  // async: whatever it (or the proxy) throws goes back to the guard as a rejection
  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const problem = originProblem(req.headers, hosts)
    if (problem) {
      refuse(res, 401, problem)
      return
    }
    if (Object.hasOwn(ASSETS, url.pathname) && (req.method === 'GET' || req.method === 'HEAD')) {
      const file = files.get(url.pathname.slice('/assets/'.length)) ?? Buffer.alloc(0)
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': ASSETS[url.pathname] ?? 'application/octet-stream',
      })
      res.end(req.method === 'HEAD' ? undefined : file)
      return
    }
    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      if (!tokenMatches(url.searchParams.get('token'), token)) {
        refuse(res, 401, 'open the console with the URL that `sas-token hub` printed (it carries ?token=…)')
        return
      }
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' })
      res.end(req.method === 'HEAD' ? undefined : files.get('index.html'))
      return
    }
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      if (!tokenMatches(bearerToken(req.headers), token)) {
        refuse(res, 401, 'the console API needs the access token in an Authorization: Bearer header')
        return
      }
      if (url.pathname === '/api/_console/info') {
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' })
        res.end(info)
        return
      }
      const rest = (req.url ?? '').slice('/api'.length)
      return proxy(req, res, rest.startsWith('/') ? rest : `/${rest}`)
    }
    refuse(res, 404, `no such console path: ${url.pathname}`)
  }

  const server: Server = createServer(httpTimeouts({ requestTimeoutMs }), guardRequests(handle, refuse))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        Object.assign(
          new SasTokenError(
            'ERR_HUB_PORT_UNAVAILABLE',
            `the console cannot listen on 127.0.0.1:${port} (${err.code ?? err.message}); pick another --console-port or use --no-console`,
            { cause: err },
          ),
          { port },
        ),
      ),
    )
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  hosts = allowedHosts(bound)
  const origin = `http://127.0.0.1:${bound}`
  return {
    url: `${origin}/?token=${token}`,
    origin,
    port: bound,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        agent.destroy()
        server.close(() => resolve())
      }),
  }
}
