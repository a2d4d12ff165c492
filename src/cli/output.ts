/**
 * The CLI's writers. The requested value goes to stdout; warnings and notices go to stderr, and
 * every line bound for stderr passes through `scrub` (secrets.ts).
 *
 * @module
 */
import { scrub } from './secrets.js'

/**
 * Writes the value to stdout, with exactly one trailing newline. Returns `false`, as a stream's
 * `write` does, when stdout's buffer is over its highWaterMark (wait for `'drain'`).
 */
export function writeValue(text: string): boolean {
  return process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
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
