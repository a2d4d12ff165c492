/**
 * PowerShell quoting, for `--format powershell`: `$env:NAME = '…'` lines that set exactly the
 * value, whatever it holds.
 *
 * The rules, from the PowerShell language specification (lexical grammar, verbatim string
 * literals) and about_Quoting_Rules:
 * - inside a single-quoted (verbatim) string every character is literal (`$`, backtick, `"`,
 *   `%`, …) except a single quote, written twice;
 * - a single quote is any of `'` (U+0027) and the typographic U+2018, U+2019, U+201A and U+201B,
 *   so each of them is doubled too (a Word-pasted `’` would end the string otherwise);
 * - a line break inside single quotes is literal, but PowerShell reads a native command's output
 *   line by line (`sas-token … | Invoke-Expression`) and rejoins the lines with its own newline,
 *   so CR and LF are written instead as the double-quoted escapes "`r" and "`n"
 *   (about_Special_Characters), joined with `+`: every line printed holds one whole assignment.
 *
 * An environment variable cannot hold NUL (the environment block is NUL-terminated), and
 * assigning an empty string to `$env:NAME` removes the variable: both are refused.
 *
 * @module
 */
import { definedVariables, type ShellVariables, unrepresentable } from './shell.js'

/** Every character PowerShell reads as a single quote. */
const SINGLE_QUOTES = /['\u2018\u2019\u201A\u201B]/g

/**
 * A PowerShell expression whose value is exactly `value`: single-quoted runs, with CR and LF as
 * "`r" and "`n" joined by `+` (NUL as "`0"), so the expression never spans lines.
 */
export function powershellString(value: string): string {
  const parts: string[] = []
  for (const piece of value.split(/([\r\n\0])/)) {
    if (piece === '\r') parts.push('"`r"')
    else if (piece === '\n') parts.push('"`n"')
    else if (piece === '\0') parts.push('"`0"')
    else if (piece !== '') parts.push(`'${piece.replace(SINGLE_QUOTES, '$&$&')}'`)
  }
  return parts.length === 0 ? "''" : parts.join(' + ')
}

/**
 * `$env:NAME = '…'` lines, for `sas-token … --format powershell | Invoke-Expression` or a `.ps1`
 * file.
 *
 * @throws {CliError} `ERR_FORMAT_UNREPRESENTABLE` for a value that is empty or holds NUL, which
 *   no environment variable can be; `variable` names it, `character` says which.
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` for a name that is not a variable name.
 */
export function powershellLines(vars: ShellVariables): string {
  return definedVariables(vars)
    .map(([name, value]) => {
      if (value === '')
        throw unrepresentable(
          'powershell',
          name,
          'empty',
          `its value is empty, and assigning '' to $env:${name} removes the variable`,
          '--format json',
        )
      if (value.includes('\0'))
        throw unrepresentable(
          'powershell',
          name,
          'U+0000',
          'its value holds a NUL character, which no environment variable can hold',
          '--format json',
        )
      return `$env:${name} = ${powershellString(value)}`
    })
    .join('\n')
}
