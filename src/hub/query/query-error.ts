/**
 * The one way a query is refused: a {@link SasTokenError} `ERR_HUB_QUERY_INVALID` whose message
 * points at the token (its 1-based position in the query and its text), with both as facts.
 * The operator API answers it as IoT Hub's 400.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'

/** The longest token text a message quotes. */
const QUOTED = 40

/**
 * The error for a query that cannot run, at `index` (0-based) of the query, near `token`.
 *
 * @param index Where the fault is (0-based; `query.length` for the end).
 * @param token The text of the token there (`''` at the end).
 * @param reason What is wrong and what was expected.
 */
export function queryError(index: number, token: string, reason: string): SasTokenError {
  const near = token === '' ? 'at the end of the query' : `at ${JSON.stringify(token.slice(0, QUOTED))}`
  return new SasTokenError(
    'ERR_HUB_QUERY_INVALID',
    `Query error at position ${index + 1} (${near}): ${reason}`,
    {
      facts: { position: index + 1, token: token.slice(0, QUOTED) },
    },
  )
}
