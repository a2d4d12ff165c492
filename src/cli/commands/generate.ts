/**
 * `sas-token generate` (alias `gen`): a SAS token for a device, module, policy, resource or DPS
 * registration, as a token, a connection string, JSON or env lines; many at once with `--batch`;
 * or through the interactive form.
 *
 * @module
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { runBatch, tokenJob, type BatchFormat } from '../batch.js'
import { copyToClipboard } from '../clipboard.js'
import {
  resolveCliExpiry,
  resolveIdentity,
  signToken,
  withIdentityOptions,
  type ExpiryArgs,
  type IdentityArgs,
} from '../identity-options.js'
import { notice, relativeTime, UsageError, writeValue } from '../output.js'
import { renderToken, TOKEN_FORMATS, type TokenFormat } from '../render-token.js'

const FORMATS = [...TOKEN_FORMATS, 'csv'] as const

/** The options of `generate`. */
export interface GenerateArgs extends IdentityArgs, ExpiryArgs {
  format?: (typeof FORMATS)[number] | undefined
  json?: boolean | undefined
  copy?: boolean | undefined
  batch?: boolean | undefined
  interactive?: boolean | undefined
}

function builder(y: Argv) {
  return withIdentityOptions(y)
    .options({
      format: {
        alias: 'f',
        choices: FORMATS,
        describe:
          'Output: token, connection-string, json, env; with --batch: json (NDJSON) or csv [default: token]',
      },
      json: { type: 'boolean', describe: 'Shorthand for --format json' },
      copy: { type: 'boolean', describe: 'Also copy the output to the clipboard' },
      batch: {
        type: 'boolean',
        describe: 'Sign every id (or connection string) read from stdin, one per line',
      },
      interactive: {
        alias: 'i',
        type: 'boolean',
        describe: 'Prompt for the connection string, device id and TTL',
      },
    })
    .conflicts('json', 'format')
    .conflicts('batch', ['interactive', 'copy'])
    .example('$0 generate -c "$DEVICE_CS"', 'A device token, valid for 1 hour')
    .example('$0 gen -c - --ttl 7d < device.cs', 'Read the connection string from stdin; valid for 7 days')
    .example(
      '$0 gen --host myhub.azure-devices.net --device-id dev1 --key-env DEVICE_KEY --format connection-string',
      'From parts, as a connection string with the token',
    )
    .example(
      '$0 gen -c "$SERVICE_CS" --device-id dev1 --expires-at 2030-01-01T00:00Z --json',
      'A device-scoped policy token, as JSON',
    )
    .example(
      '$0 gen --dps --id-scope 0ne00000A0A --registration-id dev1 --group-key "$GROUP_KEY"',
      'A DPS registration token, with the derived device key',
    )
    .example('$0 gen --batch -c "$SERVICE_CS" --format csv < ids.txt', 'One token per device id, as CSV')
}

async function handler(args: ArgumentsCamelCase<GenerateArgs>): Promise<void> {
  const requested = args.json === true ? 'json' : args.format
  if (args.batch === true) {
    if (args.connectionString === '-')
      throw new UsageError(
        '-c - reads stdin, which --batch needs for the ids: pass the connection string by value or in the environment.',
      )
    if (requested !== undefined && requested !== 'json' && requested !== 'csv')
      throw new UsageError(`--batch writes json (NDJSON) or csv, not ${requested}.`)
    const identity = await resolveIdentity(args, { batch: true })
    await runBatch(tokenJob(identity, resolveCliExpiry(args)), (requested ?? 'json') as BatchFormat)
    return
  }
  if (requested === 'csv') throw new UsageError('--format csv is for --batch.')
  const format: TokenFormat = requested ?? 'token'
  const identity = args.interactive === true ? undefined : await resolveIdentity(args)
  if (identity === undefined) {
    if (args.interactive !== true && !(process.stdin.isTTY && process.stdout.isTTY)) {
      throw new UsageError(
        'no identity: give -c/--connection-string, --host --device-id with a key, --resource, --dps, or set IOTHUB_DEVICE_CONNECTION_STRING.',
      )
    }
    const { runInteractive } = await import('../interactive.js')
    await runInteractive(args, format)
    return
  }
  const expiry = resolveCliExpiry(args)
  const output = renderToken(signToken(identity, expiry), format, expiry.now, identity)
  writeValue(output)
  if (process.stderr.isTTY && format !== 'json') {
    notice(
      `valid until ${new Date(expiry.expiresAt * 1000).toISOString()} (${relativeTime(expiry.expiresAt - Math.floor(expiry.now / 1000))}).`,
    )
  }
  if (args.copy === true) await copyToClipboard(output)
}

/** The `generate` command module. */
export const generate: CommandModule<object, GenerateArgs> = {
  command: ['generate', 'gen'],
  describe: 'Generate a SAS token (device, module, policy, resource or DPS)',
  builder: builder as unknown as CommandModule<object, GenerateArgs>['builder'],
  handler,
}
