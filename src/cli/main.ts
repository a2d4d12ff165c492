/**
 * The `sas-token` command line: yargs wiring only. Every command lives in its own module under
 * `commands/`; this file registers them and turns any failure into a message on stderr and an
 * exit code: 0 ok, 1 failure, 2 usage error. It never calls `process.exit()`.
 *
 * Nothing heavy happens at import time: clipboardy, readline and the MQTT code are loaded only
 * by the commands that need them, so a plain `generate` starts fast.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import yargs, { type Argv } from 'yargs'
import { hideBin } from 'yargs/helpers'
import { commands } from './commands/index.js'
import { renderError, UsageError } from './output.js'

/** The package version, from the package.json next to `dist/`. */
function version(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version
  } catch {
    return 'unknown'
  }
}

/** JSON mode, read from the raw arguments so that even a usage error can be reported as JSON. */
function jsonMode(args: readonly string[]): boolean {
  return args.some(
    (arg, i) =>
      arg === '--json' ||
      arg === '--format=json' ||
      ((arg === '--format' || arg === '-f') && args[i + 1] === 'json'),
  )
}

/**
 * yargs renders and caches the full help text after every command it runs, in case the
 * command fails later; that costs as much as the rest of a `generate` run. Our `.fail()` never
 * prints help on a command failure, so skip the cache (`--help` itself renders as usual).
 */
function skipHelpCache(parser: Argv): Argv {
  const internals = (
    parser as unknown as {
      getInternalMethods?: () => { getUsageInstance(): { cacheHelpMessage?: () => void } }
    }
  ).getInternalMethods
  const usage = internals?.call(parser).getUsageInstance()
  if (usage?.cacheHelpMessage !== undefined) usage.cacheHelpMessage = () => {}
  return parser
}

/** The options that take `-` for stdin. */
const STDIN_OPTIONS = new Set(['--connection-string', '--key', '--group-key'])

/**
 * yargs-parser reads `--key -` as a flag and a stray `-`; join such pairs into `--key=-`, which
 * it reads as intended (`-c -` already works).
 */
function joinStdinValues(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (STDIN_OPTIONS.has(arg) && argv[i + 1] === '-') {
      out.push(`${arg}=-`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

// A closed pipe (`sas-token … | head -1`) means the reader has what it wanted: stop quietly,
// whether the write failed at once (a thrown EPIPE, below) or later (this event).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
})

const args = joinStdinValues(hideBin(process.argv))
/** Runs the command line; failures become a message on stderr and an exit code. */
async function main(): Promise<void> {
  try {
    await skipHelpCache(yargs(args))
      .scriptName('sas-token')
      .usage(
        '$0 <command> [options]\n\nAzure IoT Hub and DPS SAS tokens, connection strings and MQTT settings.',
      )
      .command(commands)
      .demandCommand(1, 'Give a command; see the list above.')
      .strict()
      .recommendCommands()
      .fail((message, err) => {
        throw err ?? new UsageError(message)
      })
      .help()
      .alias('h', 'help')
      .version(version())
      .completion('completion', 'Print a bash or zsh completion script')
      .wrap(Math.min(110, process.stdout.columns ?? 80))
      .epilogue('Exit codes: 0 ok, 1 failure (bad input, invalid or expired token), 2 usage error.')
      .parseAsync()
  } catch (err) {
    if ((err as NodeJS.ErrnoException | undefined)?.code !== 'EPIPE')
      process.exitCode = renderError(err, jsonMode(args))
  }
}

/** Settles when the command has finished; it never rejects. */
export const finished: Promise<void> = main()
