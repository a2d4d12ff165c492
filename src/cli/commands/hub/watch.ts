/**
 * `sas-token hub watch [--device id] [--json]`: follows the hub's events (connect, refuse,
 * telemetry, twin, method, C2D, disconnect…) from now on, over the emulator-only server-sent
 * event stream `GET /_emulator/events`. `--json` prints them as NDJSON, one event a line.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import { SasTokenError } from '../../../errors.js'
import type { HubEvent } from '../../../hub/index.js'
import { notice, writeValue } from '../../output.js'
import { onStdoutGone } from '../../stdout-gone.js'
import type { ArgsOf, OptionsOf } from '../../command.js'
import { UsageError } from '../../errors.js'
import { escapeTerminal } from '../../escape-terminal.js'
import { connectHub, withHubOptions } from './connect.js'

/** One line for people: time, event, identity, then the event's other fields; terminal-safe. */
export function eventLine(e: HubEvent): string {
  const { event, time, deviceId, moduleId, ...rest } = e
  const who = deviceId === undefined ? '' : moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`
  const fields = Object.keys(rest).length === 0 ? '' : JSON.stringify(rest)
  return escapeTerminal([time, event.padEnd(13), who, fields].filter((part) => part !== '').join('  '))
}

function builder(y: Argv) {
  return withHubOptions(y)
    .options({
      device: { alias: 'd', type: 'string', describe: "Only this device's events (and its modules')" },
      count: { alias: 'n', type: 'number', describe: 'Stop after this many events' },
    })
    .example('$0 hub watch', 'Every event, one line each, until Ctrl-C')
    .example('$0 hub watch --device dev1 --json | jq .', 'NDJSON of dev1 events')
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  if (args.count !== undefined && (!Number.isInteger(args.count) || args.count < 1))
    throw new UsageError('--count must be a whole number, 1 or more.')
  const hub = await connectHub(args)
  const stop = new AbortController()
  const onSignal = (): void => stop.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const stopListening = onStdoutGone(onSignal) // the reader has gone: as Ctrl-C
  let seen = 0
  try {
    for await (const e of hub.events({
      ...(args.device !== undefined && { deviceId: args.device }),
      signal: stop.signal,
      onOpen: () =>
        notice(
          `watching ${hub.endpoint}${args.device === undefined ? '' : ` for ${args.device}`} (Ctrl-C to stop).`,
        ),
    })) {
      writeValue(args.json === true ? JSON.stringify(e) : eventLine(e))
      if (++seen === args.count) return
    }
    if (!stop.signal.aborted)
      throw new SasTokenError('ERR_HUB_UNREACHABLE', `the hub at ${hub.endpoint} closed the event stream.`)
  } finally {
    stop.abort()
    stopListening()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** The `hub watch` command module. */
export const watch: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'watch',
  describe: 'Follow the hub events from now on (emulator only); --json for NDJSON',
  builder: builder,
  handler: handler,
}
