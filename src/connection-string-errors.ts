/**
 * The errors both connection-string parsers throw (IoT Hub's `HostName=` family in
 * `connection-string.ts`, the Service Bus family's `Endpoint=` in
 * `service-bus-connection-string.ts`): one prefix, and one rule for a name that is not a field.
 *
 * @module
 */
import { SasTokenError, type SasTokenErrorCode } from './errors.js'

/**
 * Throws an invalid-connection-string error.
 *
 * @throws {SasTokenError} always, with `code`.
 */
export function fail(code: SasTokenErrorCode, reason: string): never {
  throw new SasTokenError(code, `Invalid connection string: ${reason}.`)
}

/**
 * The error for a name that is not one of `names`. The name is quoted only when it is one of
 * them miscased or padded: anything else might be a key that lost its `SharedAccessKey=`.
 *
 * @param namesAre how the message lists the names, e.g. `the names are`.
 * @throws {SasTokenError} always, `ERR_CONNECTION_STRING_UNKNOWN_KEY`.
 */
export function unknownName(
  name: string,
  position: number,
  names: readonly string[],
  namesAre: string,
): never {
  const folded = name.trim().toLowerCase()
  const known = names.find((n) => n.toLowerCase() === folded)
  if (known !== undefined) {
    const why = name.trim() === known ? 'remove the whitespace around it' : 'names are case-sensitive'
    fail(
      'ERR_CONNECTION_STRING_UNKNOWN_KEY',
      `unknown name '${name}' in field ${position}; did you mean '${known}'? (${why})`,
    )
  }
  fail(
    'ERR_CONNECTION_STRING_UNKNOWN_KEY',
    `field ${position} has an unknown name; ${namesAre} ${names.join(', ')}`,
  )
}
