/**
 * Where the CLI's secrets and inputs come from: arguments, stdin (`-`), the environment and key
 * files. Every secret read here is registered with the output module, so no message can echo it.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { SasTokenError } from '../errors.js'
import { registerSecret, UsageError } from './output.js'

/** The environment variables a connection string is read from, in order. */
export const CONNECTION_STRING_ENV = ['IOTHUB_DEVICE_CONNECTION_STRING', 'IOTHUB_CONNECTION_STRING'] as const

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
  return (await readStdin()).split(/\r?\n/, 1)[0]?.trim() ?? ''
}

/** The connection string from the environment, if one is set, with the name it came from. */
export function connectionStringFromEnv(): { name: string; value: string } | undefined {
  for (const name of CONNECTION_STRING_ENV) {
    const value = process.env[name]
    if (value !== undefined && value.trim() !== '') return { name, value }
  }
  return undefined
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
 */
export async function readKey(o: KeySource): Promise<string | undefined> {
  let key: string | undefined
  if (o.key !== undefined) {
    key = await valueOrStdin(o.key)
  } else if (o.keyFile !== undefined) {
    try {
      key = readFileSync(o.keyFile, 'utf8').trim()
    } catch (err) {
      throw new SasTokenError(
        'ERR_KEY_REQUIRED',
        `cannot read --key-file ${o.keyFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`,
      )
    }
  } else if (o.keyEnv !== undefined) {
    key = process.env[o.keyEnv]
    if (key === undefined || key.trim() === '') {
      throw new SasTokenError(
        'ERR_KEY_REQUIRED',
        `--key-env ${o.keyEnv}: that environment variable is not set.`,
      )
    }
    key = key.trim()
  }
  registerSecret(key)
  return key
}

/**
 * The CLI's clock, as the `now` option of a core call. Normally empty (the core uses the real
 * time); the undocumented `SAS_TOKEN_NOW` environment variable (epoch milliseconds) pins it, so
 * the tests can check known-answer tokens. Only the CLI reads it; the core stays pure.
 */
export function clock(): { now?: number } {
  const pinned = process.env.SAS_TOKEN_NOW
  if (pinned === undefined || pinned === '') return {}
  if (!/^\d+$/.test(pinned)) throw new UsageError('SAS_TOKEN_NOW must be epoch milliseconds.')
  return { now: Number(pinned) }
}

/** The current time in epoch milliseconds, by {@link clock}. */
export function nowMs(): number {
  return clock().now ?? Date.now()
}
