/**
 * Paging of query results as IoT Hub does it: the client asks for at most
 * `x-ms-max-item-count` items and gets an opaque `x-ms-continuation` token for the next page,
 * with no token on the last page (the `azure-iothub` SDK's `hasMoreResults` is "a token came").
 * A page of twins (or of projections of twins) ends with a token that names the key of its last
 * twin ({@link keyToken}): the next page starts after that key, so a client that deletes what a
 * page brought before asking for the next (a cleanup script) misses nothing, as on IoT Hub.
 * Aggregates, job rows and DPS records page by offset ({@link page}). Pure.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'

/** Items a page holds when the client does not say. */
export const DEFAULT_PAGE_SIZE = 100
/** The most items a page holds, whatever the client asks. */
export const MAX_PAGE_SIZE = 1000

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

/**
 * The page size an `x-ms-max-item-count` header asks for, capped at {@link MAX_PAGE_SIZE}.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` when it is not a whole number of at least 1.
 */
export function pageSize(header: string | undefined): number {
  if (header === undefined || header.trim() === '') return DEFAULT_PAGE_SIZE
  if (!/^\s*[0-9]{1,9}\s*$/.test(header) || Number(header) < 1)
    throw bad('x-ms-max-item-count must be a whole number of at least 1.')
  return Math.min(Number(header), MAX_PAGE_SIZE)
}

const NOT_OURS =
  'x-ms-continuation is not a continuation token of this hub: send the one the last page carried.'

/** A token's member `name`, or `undefined` when the token is not base64 JSON with it. */
function member(token: string, name: string): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'))
  } catch {
    return undefined
  }
  return parsed !== null && typeof parsed === 'object' && Object.hasOwn(parsed, name)
    ? (parsed as Record<string, unknown>)[name]
    : undefined
}

const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * Where the page an `x-ms-continuation` token asks for starts (0 without one).
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` for a token this hub did not issue.
 */
export function pageStart(token: string | undefined): number {
  if (token === undefined || token === '') return 0
  const offset = member(token, 'offset')
  if (!count(offset)) throw bad(NOT_OURS)
  return offset
}

/** Where a keyed page starts: after the key of the last item of the page before. */
export interface KeyCursor {
  /** The key of the last item of the page before. */
  readonly after: readonly string[]
  /** How many items the pages before held (for `TOP`). */
  readonly taken: number
}

/**
 * The cursor an `x-ms-continuation` token of {@link keyToken} carries; `undefined` without one.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` for a token this hub did not issue.
 */
export function keyCursor(token: string | undefined): KeyCursor | undefined {
  if (token === undefined || token === '') return undefined
  const after = member(token, 'after')
  const taken = member(token, 'taken')
  if (!Array.isArray(after) || !after.every((k) => typeof k === 'string') || !count(taken))
    throw bad(NOT_OURS)
  return { after: after as string[], taken }
}

/** The `x-ms-continuation` token of a keyed page: the next starts after `after`. */
export function keyToken(after: readonly string[], taken: number): string {
  return Buffer.from(JSON.stringify({ after, taken })).toString('base64')
}

/** Orders keys element by element, by UTF-16 code unit (as the registry lists ids). */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? ''
    const y = b[i] ?? ''
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/** One page of `rows`: its items, and the token of the next page when there is one. */
export function page<T>(
  rows: readonly T[],
  start: number,
  size: number,
): { items: T[]; continuation: string | undefined } {
  const end = start + size
  return {
    items: rows.slice(start, end),
    continuation:
      end < rows.length ? Buffer.from(JSON.stringify({ offset: end })).toString('base64') : undefined,
  }
}
