// What a call throws: the code of its SasTokenError, failing the test on anything else.
import assert from 'node:assert/strict'
import { SasTokenError } from 'sas-token'

export function code(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof SasTokenError, `expected a SasTokenError, got ${String(err)}`)
    return err.code
  }
  assert.fail('expected a throw')
}
