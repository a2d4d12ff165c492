// The one way the tests assert a SasTokenError: its class, its code and its message together.
import assert from 'node:assert/strict'
import { SasTokenError, type SasTokenErrorCode } from 'sas-token'

/** More of what {@link assertSasTokenError} checks. */
export interface SasTokenErrorChecks {
  /** Text the message must not contain, such as a key or a signature of the input. */
  notIncluding?: readonly string[]
  /** What was being tried, shown when the assertion fails (e.g. the bad input). */
  label?: string
}

/**
 * Calls `fn` and asserts that it throws a {@link SasTokenError} with `code` whose message matches
 * `message` (a pattern, or text the message must contain) and contains none of `notIncluding`.
 * Returns the error, for checks of its other fields.
 */
export function assertSasTokenError(
  fn: () => unknown,
  code: SasTokenErrorCode,
  message: RegExp | string,
  checks: SasTokenErrorChecks = {},
): SasTokenError {
  const at = checks.label === undefined ? '' : ` (${checks.label})`
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  if (thrown === undefined) assert.fail(`expected a SasTokenError ${code}, but nothing was thrown${at}`)
  assert.ok(thrown instanceof SasTokenError, `expected a SasTokenError ${code}, got ${String(thrown)}${at}`)
  assert.equal(thrown.code, code, `code of "${thrown.message}"${at}`)
  if (typeof message === 'string') {
    assert.ok(
      thrown.message.includes(message),
      `message "${thrown.message}" should contain "${message}"${at}`,
    )
  } else {
    assert.match(thrown.message, message, `message of ${code}${at}`)
  }
  for (const secret of checks.notIncluding ?? []) {
    const shown = thrown.message.replaceAll(secret, '<secret>') // even a failing test prints no secret
    assert.ok(!thrown.message.includes(secret), `message "${shown}" must not contain a secret${at}`)
  }
  return thrown
}
