/**
 * The exit decision, as a pure function of how the run ended: 0 ok, 1 failure (bad input, an
 * invalid or expired token, a failed batch line), 2 usage error.
 *
 * @module
 */
import { isCliError } from './errors.js'

/** Exit codes, as documented in the README. */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/**
 * The exit code for a run that ended with `err` (`undefined`: it succeeded).
 * - a usage error: 2;
 * - a closed pipe (`EPIPE`: the reader has what it wanted): 0;
 * - a prompt cancelled after the value was printed: 0 (the caller passes no error then);
 * - anything else: 1.
 */
export function exitCodeFor(err: unknown): 0 | 1 | 2 {
  if (err === undefined) return EXIT_OK
  if (isCliError(err, 'ERR_USAGE')) return EXIT_USAGE
  if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'EPIPE') return EXIT_OK
  return EXIT_FAILURE
}
