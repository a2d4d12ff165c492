/**
 * The checks of the hub's numeric options (`startHub()`, `startConsole()`): one rule and one
 * message for "a whole number, 1 or more", so every bound and timeout refuses a bad value alike.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'

/**
 * Checks a count, a size or a time in ms.
 *
 * @returns `value`, or `fallback` when `value` is `undefined`.
 * @throws {SasTokenError} `ERR_INVALID_OPTION` naming the option.
 */
export function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 1)
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `${name} must be a whole number, 1 or more; got ${String(value)} (leave it out for the default, ${fallback}).`,
    )
  return value
}
