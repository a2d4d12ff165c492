/**
 * cmd.exe quoting, for `--format cmd`: `@set "NAME=value"` lines for a batch file (`.cmd` or
 * `.bat`), run with `call file.cmd` from a prompt or another batch file.
 *
 * The rules, from how cmd reads a batch line (`set /?`, and the phases documented by the
 * "How does the Windows Command Interpreter (CMD.EXE) parse scripts?" study, which cmd's own
 * help leaves out):
 * - phase 0 reads a line up to LF, and reads Ctrl-Z (U+001A) as LF; phase 2 drops CR. No quoting
 *   protects them: a value with CR, LF or Ctrl-Z is refused;
 * - phase 1 expands `%…%` and `%1` even inside quotes; in a batch file `%%` is one `%`, so every
 *   `%` is doubled (SAS tokens are full of `%2F` and `%3D`). At an interactive prompt `%%` stays
 *   `%%` and nothing escapes `%` inside quotes, hence the batch file: pasted at a prompt, these
 *   lines would set doubled `%`;
 * - phase 2 reads `&`, `|`, `<`, `>`, `(`, `)` and `^` literally between quotes, which
 *   `set "NAME=value"` puts around the whole assignment; a `"` inside would end the quoting and
 *   expose what follows, so a value with `"` is refused;
 * - phase 5 (delayed expansion, off unless `setlocal EnableDelayedExpansion` or `cmd /V:ON`)
 *   would eat `!` and, on a line with a `!`, `^`. No spelling of `!` is right in both modes, so
 *   when a value holds `!` the lines start with a check that stops the file (`exit /b 1`, with
 *   a message on stderr) when delayed expansion is on: `"!!"` is `""` only then;
 * - `set "NAME="` removes the variable: an empty value is refused, and NUL, which no environment
 *   variable holds.
 *
 * Each line starts with `@`, so a batch file that echoes its commands does not echo the token.
 *
 * @module
 */
import { codePoint, definedVariables, type ShellVariables, unrepresentable } from './shell.js'

const LINE_END =
  'its value holds a line break (CR, LF or Ctrl-Z), which cmd cannot read inside a line: it drops CR and ends the line at LF and Ctrl-Z'

/** The characters no `set "NAME=value"` line can hold, and why. */
const REFUSED: ReadonlyMap<string, string> = new Map([
  ['\r', LINE_END],
  ['\n', LINE_END],
  ['\u001a', LINE_END],
  [
    '"',
    'its value holds a double quote, which would end the quoting of set "NAME=value" and let cmd run the rest',
  ],
  ['\0', 'its value holds a NUL character, which no environment variable can hold'],
])

/**
 * The first line of a file whose values hold `!`: stops the batch file when delayed expansion
 * is on (`"!!"` expands to `""` then, and stays `"!!"` when it is off). Its message holds no `!`,
 * no `"` and no parenthesis.
 */
export const CMD_DELAYED_EXPANSION_CHECK =
  '@if "!!"=="" (echo sas-token: these values hold an exclamation mark, which delayed expansion removes: call this file with delayed expansion off, such as from cmd /V:OFF 1>&2& exit /b 1)'

/**
 * `value` as it is written between `set "NAME=` and `"` in a batch file: `%` doubled, the rest
 * as it is.
 *
 * @throws {CliError} `ERR_FORMAT_UNREPRESENTABLE` for an empty value, or one with CR, LF,
 *   Ctrl-Z, `"` or NUL; `variable` names it and `character` says which.
 */
export function cmdValue(name: string, value: string): string {
  if (value === '')
    throw unrepresentable(
      'cmd',
      name,
      'empty',
      `its value is empty, and set "${name}=" removes the variable`,
      '--format json',
    )
  for (const character of value) {
    const why = REFUSED.get(character)
    if (why !== undefined)
      throw unrepresentable('cmd', name, codePoint(character), why, '--format powershell or --format json')
  }
  return value.replaceAll('%', '%%')
}

/**
 * `@set "NAME=value"` lines for a batch file, preceded by {@link CMD_DELAYED_EXPANSION_CHECK}
 * when a value holds `!`.
 *
 * @throws {CliError} `ERR_FORMAT_UNREPRESENTABLE` for a value cmd cannot hold (see {@link cmdValue}).
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` for a name that is not a variable name.
 */
export function cmdLines(vars: ShellVariables): string {
  const pairs = definedVariables(vars)
  const lines = pairs.map(([name, value]) => `@set "${name}=${cmdValue(name, value)}"`)
  if (pairs.some(([, value]) => value.includes('!'))) lines.unshift(CMD_DELAYED_EXPANSION_CHECK)
  return lines.join('\n')
}
