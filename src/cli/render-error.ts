/**
 * How an error is reported: one line on stderr, or `{"error":{"code","message",…facts}}` in
 * JSON mode. Messages are scrubbed of secrets; facts that could hold one are never shown.
 *
 * @module
 */
import { isSasTokenError } from '../errors.js'
import { isCliError } from './errors.js'
import { scrub, scrubUntrusted } from './secrets.js'

/** An error as data: its code, its message, and the facts it carries. */
export type ErrorReport = { code: string; message: string } & Record<string, unknown>

/** Facts are numbers, flags and names the CLI or core chose to report; scrubbed all the same. */
function safeFacts(facts: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(facts ?? {})) {
    if (typeof value === 'number' || typeof value === 'boolean') out[name] = value
    else if (typeof value === 'string') out[name] = scrub(value)
  }
  return out
}

/** The `{code, message, …facts}` of any error, scrubbed. */
export function describeError(err: unknown): ErrorReport {
  if (isCliError(err)) {
    const message = err.code === 'ERR_USAGE' ? scrubUntrusted(err.message) : scrub(err.message)
    return { ...safeFacts(err.facts), code: err.code, message }
  }
  if (isSasTokenError(err)) return { ...safeFacts(err.facts), code: err.code, message: scrub(err.message) }
  const message = err instanceof Error ? err.message : String(err)
  const code =
    typeof (err as { code?: unknown })?.code === 'string'
      ? String((err as { code: string }).code)
      : 'ERR_UNEXPECTED'
  return { code, message: scrub(message) }
}

/** Reports an error on stderr: one line, or one JSON document in JSON mode. */
export function renderError(err: unknown, json: boolean): void {
  const error = describeError(err)
  if (json) {
    process.stderr.write(`${JSON.stringify({ error })}\n`)
    return
  }
  process.stderr.write(`sas-token: error: ${error.message}\n`)
  if (isCliError(err, 'ERR_USAGE'))
    process.stderr.write("Run 'sas-token --help' or 'sas-token <command> --help' for usage.\n")
}
