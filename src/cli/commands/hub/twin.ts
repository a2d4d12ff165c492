/**
 * `sas-token hub twin <id> [--desired JSON] [--tags JSON]`: prints the twin, after patching its
 * desired properties and tags when given (`GET` or `PATCH /twins/{id}[/modules/{mid}]`).
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import type { ArgsOf, OptionsOf } from '../../command.js'
import { writeJson } from '../../output.js'
import { connectHub, jsonOption, withHubOptions } from './connect.js'

function builder(y: Argv) {
  return withHubOptions(y)
    .positional('id', { type: 'string', demandOption: true, describe: 'Device id' })
    .options({
      module: { alias: 'm', type: 'string', describe: 'A module of the device' },
      desired: { type: 'string', describe: 'A desired-properties patch, JSON (null deletes a member)' },
      tags: { type: 'string', describe: 'A tags patch, JSON' },
    })
    .example('$0 hub twin dev1', 'The twin, as JSON')
    .example(
      `$0 hub twin dev1 --desired '{"fanSpeed":3}'`,
      'Patch desired properties; the device gets the patch',
    )
    .example(`$0 hub twin dev1 --tags '{"site":"lab"}'`, 'Patch tags')
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const desired = args.desired === undefined ? undefined : jsonOption('desired', args.desired)
  const tags = args.tags === undefined ? undefined : jsonOption('tags', args.tags)
  const hub = await connectHub(args)
  const t = { deviceId: args.id, moduleId: args.module }
  writeJson(
    desired === undefined && tags === undefined
      ? await hub.getTwin(t)
      : await hub.updateTwin(t, {
          ...(desired !== undefined && { desired }),
          ...(tags !== undefined && { tags }),
        }),
  )
}

/** The `hub twin` command module. */
export const twin: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'twin <id>',
  describe: 'Print a device (or module) twin; patch desired properties or tags first',
  builder: builder,
  handler: handler,
}
