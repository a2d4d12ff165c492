/**
 * The formats that print environment variables (`env`, `powershell`, `cmd`), one name each, so a
 * command offers all three by listing {@link VARIABLE_FORMATS} and rendering its variables once.
 *
 * @module
 */
import { cmdLines } from './shell-cmd.js'
import { powershellLines } from './shell-powershell.js'
import { envLines, type ShellVariables } from './shell.js'

/** The variable formats, in the order `--help` lists them. */
export const VARIABLE_FORMATS = ['env', 'powershell', 'cmd'] as const
export type VariableFormat = (typeof VARIABLE_FORMATS)[number]

/**
 * `vars` as lines for the shell `format` names: `export NAME='…'` (POSIX shells),
 * `$env:NAME = '…'` (PowerShell) or `@set "NAME=…"` (a cmd batch file).
 *
 * @throws {CliError} `ERR_FORMAT_UNREPRESENTABLE` for a value that shell cannot hold.
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` for a name that is not a variable name.
 */
export function variableLines(format: VariableFormat, vars: ShellVariables): string {
  switch (format) {
    case 'env':
      return envLines(vars)
    case 'powershell':
      return powershellLines(vars)
    case 'cmd':
      return cmdLines(vars)
  }
}
