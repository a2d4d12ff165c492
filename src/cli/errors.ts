/**
 * The CLI's own faults, apart from the library's: a mistake in how the command was called, a
 * cancelled prompt, output that could not be written, a value a shell format cannot hold, a key
 * file that could not be read, and batch input the CLI cannot read. They carry the facts they
 * report as fields, so `--json` users get data and not only prose. The exit code each one calls
 * for is decided by `exitCodeFor` (exit-code.ts).
 *
 * @module
 */

/** Every code a {@link CliError} can carry. The library's codes are never reused for these. */
export type CliErrorCode =
  /** The command was called wrongly: exit 2, with a pointer to `--help`. */
  | 'ERR_USAGE'
  /** The user pressed Ctrl-C or Ctrl-D at a prompt. */
  | 'ERR_CANCELLED'
  /** stdout could not be written (a full disk, a closed descriptor); `errno` says why. */
  | 'ERR_STDOUT_WRITE'
  /** `--key-file` could not be read; `path` and `errno` say which and why. */
  | 'ERR_KEY_FILE_UNREADABLE'
  /** `--key-env` names a variable that is not set; `variable` names it. */
  | 'ERR_KEY_ENV_UNSET'
  /** A batch line is longer than `limit`; `length` says how long. */
  | 'ERR_BATCH_LINE_TOO_LONG'
  /** Batch input in an encoding other than UTF-8; `encoding` says which. */
  | 'ERR_BATCH_INPUT_ENCODING'
  /** `failed` of `lines` batch lines gave error records. */
  | 'ERR_BATCH_LINES_FAILED'
  /** A batch worker thread failed; the records before `line` are written, none after. */
  | 'ERR_BATCH_WORKER_FAILED'
  /** `inspect --key` was given a connection string with a key and no token. */
  | 'ERR_NOTHING_TO_VERIFY'
  /**
   * A value cannot be written in the chosen shell format (a line break or `"` for cmd, a NUL or
   * an empty value for either Windows shell); `format`, `variable` and `character` say which.
   */
  | 'ERR_FORMAT_UNREPRESENTABLE'

/** A fact an error reports: a name, a number, a flag. */
export type Fact = string | number | boolean

/** A fault of the command line itself, with a stable code and its facts as fields. */
export class CliError extends Error {
  readonly code: CliErrorCode
  /** The facts the message reports, such as `{ option: 'ttl' }` or `{ limit: 16384 }`. */
  readonly facts: Readonly<Record<string, Fact>>

  constructor(
    code: CliErrorCode,
    message: string,
    facts: Record<string, Fact> = {},
    o?: { cause?: unknown },
  ) {
    super(message, o)
    this.name = 'CliError'
    this.code = code
    this.facts = facts
  }
}

/** A mistake in how the command was called (`ERR_USAGE`): exit code 2, with a pointer to `--help`. */
export class UsageError extends CliError {
  constructor(message: string, facts: Record<string, Fact> = {}) {
    super('ERR_USAGE', message, facts)
    this.name = 'UsageError'
  }
}

/** `true` when `err` is a {@link CliError}, optionally with the given code. */
export function isCliError(err: unknown, code?: CliErrorCode): err is CliError {
  return err instanceof CliError && (code === undefined || err.code === code)
}
