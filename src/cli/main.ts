/**
 * The `sas-token` command line: yargs wiring only. Every command lives in its own module under
 * `commands/`; this file registers them and turns any failure into a message on stderr and an
 * exit code: 0 ok, 1 failure, 2 usage error. It never calls `process.exit()`, not even when
 * stdout's reader has gone (see stdout-gone.ts).
 *
 * Nothing heavy happens at import time: clipboardy, readline and the MQTT code are loaded only
 * by the commands that need them, so a plain `generate` starts fast.
 *
 * @module
 */
import { batchWorkerData, runBatchWorker } from './batch-worker.js'
import { readFileSync } from 'node:fs'
import yargs, { type Argv } from 'yargs'
import { hideBin } from 'yargs/helpers'
import { withCommands } from './commands/index.js'
import { CliError, UsageError } from './errors.js'
import { exitCodeFor } from './exit-code.js'
import { registerConnectionStringSecrets } from './input.js'
import { renderError } from './render-error.js'
import { registerSecret } from './secrets.js'
import { markStdoutGone, stdoutGone } from './stdout-gone.js'

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
function skipHelpCache<T>(parser: Argv<T>): Argv<T> {
  const internals: unknown = Reflect.get(parser, 'getInternalMethods')
  if (typeof internals !== 'function') return parser
  const methods: unknown = Reflect.apply(internals, parser, [])
  const getUsage: unknown =
    typeof methods === 'object' && methods !== null ? Reflect.get(methods, 'getUsageInstance') : undefined
  const usage: unknown = typeof getUsage === 'function' ? Reflect.apply(getUsage, methods, []) : undefined
  if (
    typeof usage === 'object' &&
    usage !== null &&
    typeof Reflect.get(usage, 'cacheHelpMessage') === 'function'
  )
    Reflect.set(usage, 'cacheHelpMessage', () => {})
  return parser
}

/** The options that take `-` for stdin. */
const STDIN_OPTIONS = new Set(['--connection-string', '--key', '--group-key', '--password'])

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

/** The message of yargs' `demandCommand`, which {@link run} answers with the command list. */
const NO_COMMAND = 'give a command: one of those listed below.'

/** `sas-token completion --help`: what the completion command does (yargs would print the script). */
const COMPLETION_HELP = `sas-token completion

Print a bash or zsh completion script. Install it with:
  sas-token completion >> ~/.bashrc    (or ~/.zshrc)
`

/** Drops yargs' `--c`-style completions of one-letter aliases (`-c` is offered already). */
function completions(
  _current: string,
  _argv: unknown,
  defaultCompletion: (onCompleted: (err: Error | null, list: string[] | undefined) => void) => void,
  done: (list: string[]) => void,
): void {
  defaultCompletion((_err, list) => done((list ?? []).filter((c) => !/^--[^-:\t](?:[:\t]|$)/.test(c))))
}

let ended = false
/** Reports how the run ended, once: the error (if any) on stderr, and the exit code. */
function end(err: unknown, json: boolean): void {
  if (ended) return
  ended = true
  const code = exitCodeFor(err)
  if (err !== undefined && code !== 0) renderError(err, json)
  process.exitCode = code
}

/**
 * Registers the secrets given on the command line before yargs sees them, so that even a usage
 * error about a neighbouring argument cannot echo them.
 */
function registerArgvSecrets(argv: readonly string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    const [name, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, argv[i + 1]]
    if (inline === undefined) continue
    if (['--key', '--group-key', '--primary-key', '--secondary-key'].includes(name)) registerSecret(inline)
    else if (name === '-c' || name === '--connection-string') registerConnectionStringSecrets(inline)
  }
}

const args = joinStdinValues(hideBin(process.argv))
const json = jsonMode(args)
registerArgvSecrets(args)

// A closed pipe (`sas-token … | head -1`) means the reader has what it wanted: stop quietly,
// with exit 0. Any other write failure (a full disk) is one line on stderr and exit 1, whenever
// it happens. Either way nothing more can be written: the long-running commands (a batch and its
// worker threads, `hub`, `hub watch`) stop their work on it (stdout-gone.ts), and the process
// ends by itself.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (stdoutGone.aborted) return // the writes still under way fail too; the first said it all
  if (err.code !== 'EPIPE') ended = false // a failure after the command's own end is still one
  end(
    err.code === 'EPIPE'
      ? err
      : new CliError('ERR_STDOUT_WRITE', `cannot write to stdout (${err.code ?? 'error'}).`, {
          errno: err.code ?? 'error',
        }),
    json,
  )
  markStdoutGone()
})

async function run(): Promise<void> {
  if (args[0] === 'completion' && args.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(COMPLETION_HELP)
    return
  }
  const parser = skipHelpCache(withCommands(yargs(args)))
    .scriptName('sas-token')
    .usage(
      '$0 <command> [options]\n\nAzure IoT Hub and DPS SAS tokens, connection strings and MQTT settings.',
    )
    .demandCommand(1, NO_COMMAND)
    .strict()
    .recommendCommands()
    .fail((message, err) => {
      throw err ?? new UsageError(message)
    })
    .help()
    .alias('h', 'help')
    .version(version())
    .completion('completion', 'Print a bash or zsh completion script', completions)
    .wrap(Math.min(110, process.stdout.columns ?? 80))
    .epilogue('Exit codes: 0 ok, 1 failure (bad input, invalid or expired token), 2 usage error.')
    // yargs prints help, the version and completions with console.log, which drops write errors,
    // then calls process.exit(). With a parse callback it does neither and hands the text over:
    // written here, a full disk or a closed pipe reaches the stdout handler above like any value.
    .exitProcess(false)
  try {
    await parser.parseAsync(args, (_err: unknown, _argv: unknown, output: string) => {
      if (output !== '') process.stdout.write(`${output}\n`)
    })
  } catch (err) {
    if (!(err instanceof UsageError && err.message === NO_COMMAND)) throw err
    // Plain `sas-token` (or `-v`): the error, then the command list, on stderr, and exit 2.
    end(err, json)
    process.stderr.write(`\n${await parser.getHelp()}\n`)
  }
}

/** Set when this thread is a batch worker (`batch-pool.ts`): it signs chunks, not a command line. */
const worker = batchWorkerData()

/** Settles when the command has finished; it never rejects. The launcher waits for it. */
export const finished: Promise<void> =
  worker === undefined
    ? run().catch((err: unknown) => end(err, json))
    : Promise.resolve(runBatchWorker(worker))
