/**
 * Shell quoting, for the `env` and `mosquitto` output formats, and what every variable format
 * shares: the list of `NAME=value` pairs to print. PowerShell and cmd have their own modules
 * (`shell-powershell.ts`, `shell-cmd.ts`); `shell-formats.ts` picks one by format name.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { CliError } from './errors.js'

/** The variables a format prints, by name; an `undefined` value is left out. */
export type ShellVariables = Readonly<Record<string, string | number | undefined>>

/**
 * The defined `[name, value]` pairs of `vars`, values as text, in order.
 *
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` when a name is not `[A-Za-z_][A-Za-z0-9_]*`
 *   (the names are the CLI's own; no shell may see another kind).
 */
export function definedVariables(vars: ShellVariables): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [name, value] of Object.entries(vars)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new SasTokenError(
        'ERR_INVALID_ARGUMENT',
        `an environment variable name must be letters, digits and _ (not starting with a digit): ${JSON.stringify(name)}.`,
      )
    if (value !== undefined) out.push([name, String(value)])
  }
  return out
}

/**
 * The error for a value a shell format cannot write (`ERR_FORMAT_UNREPRESENTABLE`): it names the
 * variable and the character (`U+000A`, or `empty`), never the value, which may be a secret.
 */
export function unrepresentable(
  format: string,
  variable: string,
  character: string,
  why: string,
  instead: string,
): CliError {
  return new CliError(
    'ERR_FORMAT_UNREPRESENTABLE',
    `--format ${format} cannot set ${variable}: ${why}; use ${instead}.`,
    { format, variable, character },
  )
}

/** `U+000A`: how an error names a character without showing the value. */
export function codePoint(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
}

/** Quotes `value` for a POSIX shell: bare when it is plainly safe, single-quoted otherwise. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_\-.,:/@%+=]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}

/**
 * `export NAME=value` lines, values shell-quoted, for `eval "$(sas-token … --format env)"`.
 *
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` for a name that is not a variable name.
 */
export function envLines(vars: ShellVariables): string {
  return definedVariables(vars)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}`)
    .join('\n')
}
