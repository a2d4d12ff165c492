/**
 * `sas-token generate` (alias `gen`): a SAS token for a device, module, policy, resource or DPS
 * registration, as a token, a connection string, JSON or variable lines (POSIX shell, PowerShell,
 * cmd); many at once with `--batch`; or through the interactive form.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import { resolveExpiry } from '../../expiry.js'
import { batchFailure, runBatch } from '../batch.js'
import { copyToClipboard } from '../clipboard.js'
import { withExamples } from '../examples.js'
import type { ArgsOf, OptionsOf } from '../command.js'
import { UsageError } from '../errors.js'
import { resolveIdentity, usesEnvironment, withIdentityOptions } from '../identity-options.js'
import { nowMs, readIdentityInputs } from '../input.js'
import { notice, warn, writeValue } from '../output.js'
import { relativeTime } from '../relative-time.js'
import { renderToken, TOKEN_FORMATS } from '../render-token.js'
import { generateJob } from '../jobs/generate.js'
import { expiryRequest, signerFor } from '../signer.js'

const FORMATS = [...TOKEN_FORMATS, 'csv'] as const

/** Tokens that live less than this many seconds get a warning: clock skew can eat them. */
export const SHORT_TTL_SECONDS = 300

/** Warns when a token expiring at `expiresAt` (epoch seconds) would live under five minutes. */
export function warnIfShort(expiresAt: number, now: number): void {
  const lifetime = expiresAt - Math.floor(now / 1000)
  if (lifetime < SHORT_TTL_SECONDS) {
    warn(
      `the token expires in ${lifetime} s; clock skew between this machine and the hub can make it fail (use at least 5m).`,
    )
  }
}

function builder(y: Argv) {
  const y2 = withIdentityOptions(y)
    .options({
      format: {
        alias: 'f',
        choices: FORMATS,
        describe:
          'Output: token, connection-string, json, env (POSIX shell), powershell, cmd (a batch file); with --batch: json (NDJSON) or csv [default: token]',
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
  return withExamples(y2, [
    ['A device token, valid for 1 hour', 'sas-token generate -c "$DEVICE_CS"'],
    ['Read the connection string from stdin; valid for 7 days', 'sas-token gen -c - --ttl 7d < device.cs'],
    [
      'From parts, as a connection string with the token',
      'sas-token gen --host myhub.azure-devices.net --device-id dev1',
      '--key-env DEVICE_KEY --format connection-string',
    ],
    [
      'A device-scoped policy token, as JSON',
      'sas-token gen -c "$SERVICE_CS" --device-id dev1',
      '--expires-at 2030-01-01T00:00Z --json',
    ],
    [
      'A DPS registration token, with the derived device key',
      'sas-token gen --dps --id-scope 0ne00000A0A --registration-id dev1',
      '--group-key "$GROUP_KEY"',
    ],
    ['One token per device id, as CSV', 'sas-token gen --batch -c "$SERVICE_CS" --format csv < ids.txt'],
    [
      'An Event Hubs or Service Bus token (the key signs as text)',
      `sas-token gen -c 'Endpoint=sb://…;EntityPath=myhub'`,
    ],
  ])
}

type GenerateArgs = ArgsOf<typeof builder>

async function batch(args: GenerateArgs, requested: string | undefined): Promise<void> {
  if (args.connectionString === '-')
    throw new UsageError(
      '-c - reads stdin, which --batch needs for the ids: pass the connection string by value or in the environment.',
    )
  if (requested !== undefined && requested !== 'json' && requested !== 'csv')
    throw new UsageError(`--batch writes json (NDJSON) or csv, not ${requested}.`)
  const identity = resolveIdentity(args, await readIdentityInputs(args, { env: false }), { batch: true })
  const now = nowMs()
  const expiry = expiryRequest(args, now)
  if (expiry.ttl !== undefined || expiry.expiresAt !== undefined) warnIfShort(resolveExpiry(expiry), now)
  const failure = batchFailure(
    await runBatch(generateJob(identity, expiry), requested === 'csv' ? 'csv' : 'json'),
  )
  if (failure !== undefined) throw failure
}

async function handler(args: GenerateArgs): Promise<void> {
  const requested = args.json === true ? 'json' : args.format
  if (args.batch === true) return batch(args, requested)
  if (requested === 'csv') throw new UsageError('--format csv is for --batch.')
  const format = requested ?? 'token'
  const identity =
    args.interactive === true
      ? undefined
      : resolveIdentity(args, await readIdentityInputs(args, { env: usesEnvironment(args, false) }))
  if (identity === undefined) {
    if (args.interactive !== true && !(process.stdin.isTTY && process.stdout.isTTY)) {
      throw new UsageError(
        'no identity: give -c/--connection-string, --host --device-id with a key, --resource, --dps, or set IOTHUB_DEVICE_CONNECTION_STRING.',
      )
    }
    const { runInteractive } = await import('../interactive.js')
    return runInteractive(args, format)
  }
  const now = nowMs()
  const signed = signerFor(identity, expiryRequest(args, now)).sign()
  warnIfShort(signed.expiresAt, now)
  const output = renderToken(signed, format, now, identity)
  writeValue(output)
  if (process.stderr.isTTY && format !== 'json') {
    notice(
      `valid until ${new Date(signed.expiresAt * 1000).toISOString()} (${relativeTime(signed.expiresAt - Math.floor(now / 1000))}).`,
    )
  }
  if (args.copy === true) await copyToClipboard(output)
}

/** The `generate` command module. */
export const generate: CommandModule<object, OptionsOf<typeof builder>> = {
  command: ['generate', 'gen'],
  describe: 'Generate a SAS token (device, module, policy, resource or DPS)',
  builder,
  handler,
}
