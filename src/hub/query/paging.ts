/**
 * Paging of query results as IoT Hub does it: the client asks for at most
 * `x-ms-max-item-count` items and gets an opaque `x-ms-continuation` token for the next page,
 * with no token on the last page (the `azure-iothub` SDK's `hasMoreResults` is "a token came").
 * The token is the offset of the next page in the query's ordered results. Pure.
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

/**
 * Where the page an `x-ms-continuation` token asks for starts (0 without one).
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` for a token this hub did not issue.
 */
export function pageStart(token: string | undefined): number {
  if (token === undefined || token === '') return 0
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'))
  } catch {
    parsed = undefined
  }
  const offset =
    parsed !== null && typeof parsed === 'object' && 'offset' in parsed
      ? (parsed as { offset: unknown }).offset
      : undefined
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    throw bad(
      'x-ms-continuation is not a continuation token of this hub: send the one the last page carried.',
    )
  return offset
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
