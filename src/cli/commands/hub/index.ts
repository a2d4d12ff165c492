/**
 * The operator subcommands of `sas-token hub`, which `commands/hub.ts` registers: they speak
 * the hub's REST API with the hub connection string from `-c` or `$IOTHUB_CONNECTION_STRING`.
 *
 * @module
 */
import type { Argv } from 'yargs'
import { call } from './call.js'
import { devices } from './devices.js'
import { dps } from './dps.js'
import { fault } from './fault.js'
import { query } from './query.js'
import { send } from './send.js'
import { twin } from './twin.js'
import { watch } from './watch.js'

/** Registers `devices`, `dps`, `twin`, `call`, `send`, `watch`, `query`, `fault`: each module types its own argv. */
export function withHubSubcommands<T>(y: Argv<T>): Argv<T> {
  return y
    .command(devices)
    .command(dps)
    .command(twin)
    .command(call)
    .command(send)
    .command(watch)
    .command(query)
    .command(fault)
}
