/**
 * Shell quoting, for the `env` and `mosquitto` output formats.
 *
 * @module
 */

/** Quotes `value` for a POSIX shell: bare when it is plainly safe, single-quoted otherwise. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_\-.,:/@%+=]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}

/** `export NAME=value` lines, values shell-quoted, for `eval "$(sas-token … --format env)"`. */
export function envLines(vars: Record<string, string | number | undefined>): string {
  return Object.entries(vars)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => `export ${name}=${shellQuote(String(value))}`)
    .join('\n')
}
