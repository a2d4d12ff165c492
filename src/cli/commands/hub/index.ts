/**
 * The operator subcommands of `sas-token hub`, which `commands/hub.ts` registers: they speak
 * the hub's REST API with the hub connection string from `-c` or `$IOTHUB_CONNECTION_STRING`.
 *
 * @module
 */
import type { CommandModule } from 'yargs'
import { call } from './call.js'
import { devices } from './devices.js'
import { send } from './send.js'
import { twin } from './twin.js'
import { watch } from './watch.js'

/** `devices`, `twin`, `call`, `send`, `watch`: each module types its own argv. */
export const hubSubcommands: CommandModule[] = [
  devices,
  twin,
  call,
  send,
  watch,
] as unknown as CommandModule[]
