/**
 * `sas-token derive-key`: the device key of a DPS group enrollment, derived from the group key
 * and the registration id (`az iot dps enrollment-group compute-device-key`); many at once with
 * `--batch`.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import { deriveDeviceKey } from '../../keys.js'
import { batchFailure, runBatch } from '../batch.js'
import type { ArgsOf, OptionsOf } from '../command.js'
import { UsageError } from '../errors.js'
import { deriveKeyJob } from '../jobs/derive-key.js'
import { valueOrStdin } from '../input.js'
import { withSharedChecks } from '../options.js'
import { writeValue } from '../output.js'
import { registerSecret } from '../secrets.js'

function builder(y: Argv) {
  return withSharedChecks(y)
    .options({
      'group-key': { type: 'string', demandOption: true, describe: 'The enrollment group key (base64)' },
      'registration-id': { type: 'string', describe: 'The registration id of the device' },
      batch: {
        type: 'boolean',
        describe: 'Derive a key for every registration id read from stdin, one per line',
      },
      format: {
        alias: 'f',
        choices: ['json', 'csv'] as const,
        describe: 'With --batch: json (NDJSON) or csv [default: json]',
      },
    })
    .conflicts('batch', 'registration-id')
    .example('$0 derive-key --group-key "$GROUP_KEY" --registration-id dev1', 'The device key for dev1')
    .example(
      '$0 derive-key --group-key "$GROUP_KEY" --batch --format csv < ids.txt',
      'One key per registration id, as CSV',
    )
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const groupKey = await valueOrStdin(args.groupKey)
  registerSecret(groupKey)
  if (args.batch === true) {
    if (args.groupKey === '-')
      throw new UsageError('--group-key - reads stdin, which --batch needs for the registration ids.')
    const failure = batchFailure(await runBatch(deriveKeyJob(groupKey), args.format ?? 'json'))
    if (failure !== undefined) throw failure
    return
  }
  if (args.format !== undefined) throw new UsageError('--format is for --batch; the key is printed as it is.')
  if (args.registrationId === undefined)
    throw new UsageError(
      'derive-key needs --registration-id, or --batch to read registration ids from stdin.',
    )
  writeValue(deriveDeviceKey(groupKey, args.registrationId))
}

/** The `derive-key` command module. */
export const deriveKey: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'derive-key',
  describe: 'Derive a device key from a DPS enrollment group key',
  builder,
  handler,
}
