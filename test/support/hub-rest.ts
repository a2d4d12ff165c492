// HTTPS requests to the product hub's operator API, authenticated with a policy token signed
// here with node:crypto (support/hmac-token.ts).
import { request } from 'node:https'
import type { Hub } from 'sas-token/hub'
import { hmacToken } from './hmac-token.js'

/** What a request needs of a hub (a running `Hub`, or one known from its ready line). */
export type HubAddress = Pick<Hub, 'ca' | 'hubConnectionString'> & {
  ports: Pick<Hub['ports'], 'mqtt' | 'https'>
}

/** The owner key, read back from the hub connection string. */
export function ownerKey(hub: HubAddress): string {
  return /SharedAccessKey=([^;]+)/.exec(hub.hubConnectionString)?.[1] ?? ''
}

/** An `Authorization` value for the hub, signed with a policy's key. */
export function policyToken(
  key: string,
  keyName = 'iothubowner',
  se = Math.floor(Date.now() / 1000) + 600,
): string {
  return hmacToken('localhost', key, se, keyName)
}

/** A response: status, headers and body (parsed when JSON). */
export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
  text: string
}

/**
 * One request to the hub's HTTPS port: on 127.0.0.1 as `localhost`, or on `o.host` (an address
 * its certificate names, such as the SDK hub's own loopback address).
 */
export function rest(
  hub: HubAddress,
  method: string,
  path: string,
  o: { body?: unknown; auth?: string | null; headers?: Record<string, string>; host?: string } = {},
): Promise<Reply> {
  const auth = o.auth === undefined ? policyToken(ownerKey(hub)) : o.auth
  const text = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(o.host === undefined ? { host: '127.0.0.1', servername: 'localhost' } : { host: o.host }),
        port: hub.ports.https,
        ca: hub.ca,
        method,
        path,
        headers: {
          ...(auth === null ? {} : { Authorization: auth }),
          ...(text === undefined
            ? {}
            : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) }),
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = body
          try {
            parsed = body === '' ? undefined : JSON.parse(body)
          } catch {
            parsed = body
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text: body })
        })
      },
    )
    req.on('error', reject)
    req.end(text)
  })
}
