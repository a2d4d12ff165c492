/**
 * Where the CLI's secrets and inputs come from: arguments, stdin (`-`), the environment and key
 * files. Every secret read here is registered with the scrubber (secrets.ts), so no message can
 * echo it. This is the one step of a run that reads; the mapping from options to an identity
 * (identity-options.ts) is pure.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { CliError, UsageError } from './errors.js'
import { registerSecret } from './secrets.js'

/** The environment variables a connection string is read from, in order. */
export const CONNECTION_STRING_ENV = ['IOTHUB_DEVICE_CONNECTION_STRING', 'IOTHUB_CONNECTION_STRING'] as const

/** A value with where it came from: an option (`--key`), `stdin`, or an environment variable (`$NAME`). */
export interface Sourced {
  value: string
  from: string
}

let stdinText: Promise<string> | undefined

/** All of stdin as text. Read once; a second caller gets the same text. */
export function readStdin(): Promise<string> {
  stdinText ??= (async () => {
    if (process.stdin.isTTY)
      throw new UsageError("'-' reads from stdin, but stdin is a terminal: pipe the value in.")
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  })()
  return stdinText
}

/** The value itself, or, for `-`, the first line of stdin, trimmed. */
export async function valueOrStdin(value: string): Promise<string> {
  if (value !== '-') return value
  return (await readStdin()).split(/\r\n|\r|\n/, 1)[0]?.trim() ?? ''
}

/** {@link valueOrStdin}, with where the value came from. */
async function sourced(value: string, option: string): Promise<Sourced> {
  return { value: await valueOrStdin(value), from: value === '-' ? `${option} - (stdin)` : option }
}

/** The connection string from the environment, if one is set, with the name it came from. */
export function connectionStringFromEnv(): { name: string; value: string } | undefined {
  for (const name of CONNECTION_STRING_ENV) {
    const value = process.env[name]
    if (value !== undefined && value.trim() !== '') return { name, value }
  }
  return undefined
}

/** Registers the key and signature a connection string's text holds, before it is parsed. */
export function registerConnectionStringSecrets(text: string): void {
  for (const m of text.matchAll(/SharedAccessKey\s*=\s*([^;"']+)/gi)) registerSecret(m[1]?.trim())
  for (const m of text.matchAll(/sig=([^&;\s"']+)/gi)) {
    registerSecret(m[1])
    try {
      registerSecret(decodeURIComponent(m[1] ?? ''))
    } catch {
      // not percent-encoded
    }
  }
}

/** Where a key comes from: `--key`, `--key-file` or `--key-env`. */
export interface KeySource {
  key?: string | undefined
  keyFile?: string | undefined
  keyEnv?: string | undefined
}

/** `true` when one of the key options was given. */
export function hasKey(o: KeySource): boolean {
  return o.key !== undefined || o.keyFile !== undefined || o.keyEnv !== undefined
}

/**
 * Reads the key from whichever of `--key` (a value, or `-` for stdin), `--key-file` or
 * `--key-env` was given, and registers it as a secret. `undefined` when none was.
 *
 * @throws {CliError} `ERR_KEY_FILE_UNREADABLE`, `ERR_KEY_ENV_UNSET`.
 */
export async function readKey(o: KeySource): Promise<Sourced | undefined> {
  let key: Sourced | undefined
  if (o.key !== undefined) {
    key = await sourced(o.key, '--key')
  } else if (o.keyFile !== undefined) {
    try {
      key = { value: readFileSync(o.keyFile, 'utf8').trim(), from: `--key-file ${o.keyFile}` }
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code ?? 'error'
      throw new CliError('ERR_KEY_FILE_UNREADABLE', `cannot read --key-file ${o.keyFile} (${errno}).`, {
        path: o.keyFile,
        errno,
      })
    }
  } else if (o.keyEnv !== undefined) {
    const value = process.env[o.keyEnv]
    if (value === undefined || value.trim() === '') {
      throw new CliError(
        'ERR_KEY_ENV_UNSET',
        `--key-env ${o.keyEnv}: that environment variable is not set.`,
        { variable: o.keyEnv },
      )
    }
    key = { value: value.trim(), from: `$${o.keyEnv}` }
  }
  registerSecret(key?.value)
  return key
}

/** The identity options {@link readIdentityInputs} reads from. */
export interface InputArgs extends KeySource {
  connectionString?: string | undefined
  groupKey?: string | undefined
}

/** What the identity options point at, read: the connection string, the key, the group key. */
export interface IdentityInputs {
  connectionString?: Sourced
  key?: Sourced
  groupKey?: Sourced
}

/**
 * Reads what the identity options point at: `-c` (or stdin, or, with `env`, the environment),
 * the key and the group key. Registers every secret it reads.
 *
 * @param o.env Fall back to `$IOTHUB_DEVICE_CONNECTION_STRING`, then `$IOTHUB_CONNECTION_STRING`.
 */
export async function readIdentityInputs(args: InputArgs, o: { env: boolean }): Promise<IdentityInputs> {
  const inputs: IdentityInputs = {}
  if (args.connectionString !== undefined) {
    inputs.connectionString = await sourced(args.connectionString, '--connection-string')
  } else if (o.env) {
    const fromEnv = connectionStringFromEnv()
    if (fromEnv !== undefined) inputs.connectionString = { value: fromEnv.value, from: `$${fromEnv.name}` }
  }
  if (inputs.connectionString !== undefined) registerConnectionStringSecrets(inputs.connectionString.value)
  const key = await readKey(args)
  if (key !== undefined) inputs.key = key
  if (args.groupKey !== undefined) {
    inputs.groupKey = await sourced(args.groupKey, '--group-key')
    registerSecret(inputs.groupKey.value)
  }
  return inputs
}

/**
 * The CLI's clock, as epoch milliseconds. The real time, unless the undocumented `SAS_TOKEN_NOW`
 * environment variable (epoch milliseconds) pins it, so the tests can check known-answer
 * tokens. Only the CLI reads it; the core stays pure.
 */
export function nowMs(): number {
  const pinned = process.env.SAS_TOKEN_NOW
  if (pinned === undefined || pinned === '') return Date.now()
  if (!/^\d+$/.test(pinned)) throw new UsageError('SAS_TOKEN_NOW must be epoch milliseconds.')
  return Number(pinned)
}
