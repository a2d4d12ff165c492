/**
 * Everything the CLI writes. The requested value goes to stdout; warnings, notices and errors go
 * to stderr. Every line bound for stderr passes through {@link scrub}, so a key the CLI has read
 * can never leak into a message by accident.
 *
 * @module
 */
import { isSasTokenError } from '../errors.js'

/** A mistake in how the command was called: exit code 2, with a pointer to `--help`. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Exit codes, as documented in the README (0 is the default). */
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

const secrets = new Set<string>()

/** Remembers a secret (a key, a group key) so that {@link scrub} removes it from any message. */
export function registerSecret(secret: string | undefined): void {
  if (secret !== undefined && secret.length >= 4) secrets.add(secret)
}

/**
 * Removes every registered secret, and anything shaped like `SharedAccessKey=…`, from `text`.
 * Defence in depth: the core never puts a key into a message, and this makes sure nothing the
 * CLI adds does either.
 */
export function scrub(text: string): string {
  let out = text.replace(/(SharedAccessKey=)[A-Za-z0-9+/=%]{4,}/g, '$1<redacted>')
  for (const secret of secrets) out = out.split(secret).join('<redacted>')
  return out
}

/**
 * {@link scrub}, and also every `sig=` value and every run of 16 or more base64 characters: for
 * text the CLI did not write itself and that may hold a key nobody registered, such as a batch
 * input line or an argument yargs complains about (`Unknown argument: <a key without --key>`).
 * Plain words and CamelCase names are kept. It may redact a long id too; that is the price of
 * never echoing a key.
 */
export function scrubUntrusted(text: string): string {
  return scrub(text)
    .replace(/(sig=)[^&;\s"]+/gi, '$1<redacted>')
    .replace(/[A-Za-z0-9+/=]{16,}/g, (run) => (WORDS.test(run) ? run : '<redacted>'))
}

/** A word or CamelCase words (`SharedAccessKeyName`): a long run of letters that is no key. */
const WORDS = /^[A-Za-z][a-z]+(?:[A-Z][a-z]+)*=?$/

/** Writes the value to stdout, with exactly one trailing newline. */
export function writeValue(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
}

/** Writes one JSON document to stdout, indented for people, parseable for scripts. */
export function writeJson(value: unknown): void {
  writeValue(JSON.stringify(value, null, 2))
}

/** A one-line warning on stderr. */
export function warn(message: string): void {
  process.stderr.write(`sas-token: warning: ${scrub(message)}\n`)
}

/** A one-line notice on stderr (information that is not the value). */
export function notice(message: string): void {
  process.stderr.write(`sas-token: ${scrub(message)}\n`)
}

/** The `{code, message}` of any error, scrubbed. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof UsageError) return { code: 'ERR_USAGE', message: scrubUntrusted(err.message) }
  if (isSasTokenError(err)) return { code: err.code, message: scrub(err.message) }
  const message = err instanceof Error ? err.message : String(err)
  const code =
    typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'ERR_UNEXPECTED'
  return { code, message: scrub(message) }
}

/**
 * Reports an error on stderr (as `{"error":{"code","message"}}` in JSON mode) and returns the
 * exit code it calls for: 2 for a usage error, 1 for anything else.
 */
export function renderError(err: unknown, json: boolean): number {
  const error = describeError(err)
  const usage = err instanceof UsageError
  if (json) {
    process.stderr.write(`${JSON.stringify({ error })}\n`)
  } else {
    process.stderr.write(`sas-token: error: ${error.message}\n`)
    if (usage) process.stderr.write("Run 'sas-token --help' or 'sas-token <command> --help' for usage.\n")
  }
  return usage ? EXIT_USAGE : EXIT_FAILURE
}

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

/** One CSV field (RFC 4180): quoted only when it holds a comma, quote or line break. */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return ''
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** Aligned `name  value` lines for the text formats of `inspect` and `mqtt`. */
export function table(rows: ReadonlyArray<readonly [string, string | number | undefined]>): string {
  const present = rows.filter((row): row is readonly [string, string | number] => row[1] !== undefined)
  const width = Math.max(...present.map(([name]) => name.length))
  return present.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')
}

/** `in 59 minutes`, `3 hours ago`: a rough, human reading of a span in seconds. */
export function relativeTime(seconds: number): string {
  const abs = Math.abs(seconds)
  const units: Array<[string, number]> = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ]
  const [unit, size] = units.find(([, s]) => abs >= s) ?? ['second', 1]
  const n = Math.floor(abs / size)
  const span = `${n} ${unit}${n === 1 ? '' : 's'}`
  return seconds >= 0 ? `in ${span}` : `${span} ago`
}
