/**
 * Checks every command shares: an option that takes one value, given more than once, is a usage
 * error (yargs would hand the command an array, which then fails later with a misleading
 * message, like "A connection string must be text"); and options that exclude each other on a
 * command with subcommands, without yargs' `.conflicts()`, which makes its first option global.
 *
 * @module
 */
import type { Argv } from 'yargs'
import { UsageError } from './errors.js'

/** The yargs option settings a check sees (the parts used here). */
interface OptionSettings {
  key?: Record<string, unknown>
  array?: string[]
  alias?: Record<string, string[]>
}

/**
 * Throws a usage error for the first single-value option of `argv` given more than once.
 * Options declared with `array: true` (like `topic -p`) may repeat.
 */
export function rejectRepeatedOptions(argv: Record<string, unknown>, options: OptionSettings): true {
  const repeatable = new Set<string>()
  for (const name of options.array ?? []) {
    repeatable.add(name)
    for (const alias of options.alias?.[name] ?? []) repeatable.add(alias)
  }
  for (const name of Object.keys(options.key ?? {})) {
    if (!repeatable.has(name) && Array.isArray(argv[name])) {
      throw new UsageError(`--${name} was given more than once: give it once.`)
    }
  }
  return true
}

/**
 * Adds the shared checks to a command's builder. A check throws a {@link UsageError} (yargs hands
 * a thrown error to `.fail()` as it is; a returned string would not be one).
 */
export function withSharedChecks<T>(y: Argv<T>): Argv<T> {
  return y.check((argv, options) =>
    rejectRepeatedOptions(argv as Record<string, unknown>, options as OptionSettings),
  )
}

/**
 * Refuses `a` given with `b`, on this command only. yargs' own `.conflicts(a, b)` also marks `a`
 * global, so every subcommand would list it in `--help` and accept it (`hub devices add
 * --in-memory`); a command with subcommands uses this instead. The message is yargs' own.
 */
export function withLocalConflict<T>(y: Argv<T>, a: string, b: string): Argv<T> {
  return y.check((argv: Record<string, unknown>) => {
    if (argv[a] !== undefined && argv[b] !== undefined)
      throw new UsageError(`Arguments ${a} and ${b} are mutually exclusive`)
    return true
  }, false)
}
