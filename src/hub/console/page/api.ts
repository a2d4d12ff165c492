/**
 * The page's REST client. Every request goes to the console's own origin under `/api/`, with the
 * access token in the `Authorization: Bearer` header (never a cookie, never the URL).
 *
 * @module
 */

/** An answer other than 2xx: the status, the hub's message and its error code when given. */
export class ApiError extends Error {
  readonly status: number
  readonly errorCode: string | undefined
  readonly body: unknown
  constructor(status: number, message: string, errorCode: string | undefined, body: unknown) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.errorCode = errorCode
    this.body = body
  }
}

let accessToken = ''

/** Sets the token that every request carries. */
export function setAccessToken(token: string): void {
  accessToken = token
}

/** The headers that authenticate a request to the console. */
export function authHeaders(): Record<string, string> {
  return { authorization: `Bearer ${accessToken}` }
}

function field(body: unknown, ...names: string[]): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  for (const name of names) {
    const value: unknown = (body as Record<string, unknown>)[name]
    if (typeof value === 'string' || typeof value === 'number') return String(value)
  }
  return undefined
}

/**
 * Calls `method path` on the hub through the console and returns the parsed JSON (or
 * `undefined` for an empty answer).
 *
 * @throws {ApiError} on any non-2xx answer, with the hub's message.
 */
export async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  const init: RequestInit = { method, headers: { ...authHeaders(), ...headers }, cache: 'no-store' }
  if (body !== undefined) {
    init.body = JSON.stringify(body)
    init.headers = { ...authHeaders(), ...headers, 'content-type': 'application/json' }
  }
  const res = await fetch(`/api${path}`, init)
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = text
  }
  if (!res.ok) {
    const message =
      field(parsed, 'Message', 'message') ??
      (typeof parsed === 'string' && parsed !== '' ? parsed : res.statusText)
    const code = field(parsed, 'code', 'ErrorCode', 'errorCode')
    // IoT Hub's messages start with "ErrorCode:<name>;": the name is kept in errorCode
    throw new ApiError(res.status, message.replace(/^ErrorCode:[^;]*;/, ''), code, parsed)
  }
  return parsed
}

/** `encodeURIComponent` for a path segment. */
export const seg = encodeURIComponent
