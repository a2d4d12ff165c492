/**
 * TEMPORARY (hub-cli branch): registers the `sas-token hub` operator subcommands until the
 * hub-server branch's `hub` start command lands; dropped for theirs at merge time.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import { hubSubcommands } from './hub/index.js'

/** The `hub` command module. */
export const hub: CommandModule = {
  command: 'hub <command>',
  describe: 'A local IoT Hub: its operator commands',
  builder: (y: Argv) => y.command(hubSubcommands).demandCommand(1),
  handler: () => {},
}
