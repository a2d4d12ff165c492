/**
 * `sas-token hub call <id> <method> [payload] [--timeout s]`: invokes a direct method
 * (`POST /twins/{id}[/modules/{mid}]/methods`) and prints the device's answer. The exit code
 * tells the outcomes apart: 0 the device answered, 3 the device is offline or not subscribed
 * (404), 4 it did not answer in time (504).
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import { isSasTokenError } from '../../../errors.js'
import type { ArgsOf, OptionsOf } from '../../command.js'
import { escapeTerminal } from '../../escape-terminal.js'
import { notice, writeJson, writeValue } from '../../output.js'
import { renderError } from '../../render-error.js'
import { UsageError } from '../../errors.js'
import { connectHub, jsonOption, withHubOptions } from './connect.js'

/** `hub call` exit code: the device is not connected or has not subscribed to methods (HTTP 404). */
export const EXIT_NOT_ONLINE = 3
/** `hub call` exit code: the device did not answer within the timeout (HTTP 504). */
export const EXIT_TIMEOUT = 4

function seconds(name: string, value: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`--${name} must be a whole number of seconds from ${min} to ${max}.`)
  return value
}

function builder(y: Argv) {
  return withHubOptions(y)
    .positional('id', { type: 'string', demandOption: true, describe: 'Device id' })
    .positional('method', { type: 'string', demandOption: true, describe: 'Method name' })
    .positional('payload', { type: 'string', describe: 'The request payload, JSON [default: null]' })
    .options({
      module: { alias: 'm', type: 'string', describe: 'A module of the device' },
      timeout: { type: 'number', describe: 'Seconds to wait for the answer, 5-300 [default: 30]' },
      'connect-timeout': {
        type: 'number',
        describe: 'Seconds to wait for an offline device to connect, 0-300 [default: 0]',
      },
    })
    .example(`$0 hub call dev1 reboot '{"delay":5}'`, "Prints the device's payload")
    .example('$0 hub call dev1 getLog --timeout 60 --json', 'Prints {"status":…,"payload":…}')
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const payload = args.payload === undefined ? null : jsonOption('payload', args.payload)
  const timeoutSeconds = seconds('timeout', args.timeout, 5, 300)
  const connectTimeoutSeconds = seconds('connect-timeout', args.connectTimeout, 0, 300)
  const hub = await connectHub(args)
  let result: Awaited<ReturnType<typeof hub.invokeMethod>>
  try {
    result = await hub.invokeMethod({ deviceId: args.id, moduleId: args.module }, args.method, payload, {
      ...(timeoutSeconds !== undefined && { timeoutSeconds }),
      ...(connectTimeoutSeconds !== undefined && { connectTimeoutSeconds }),
    })
  } catch (err) {
    const exit = isSasTokenError(err, 'ERR_HUB_METHOD_TIMEOUT')
      ? EXIT_TIMEOUT
      : isSasTokenError(err, 'ERR_HUB_DEVICE_NOT_ONLINE') || isSasTokenError(err, 'ERR_HUB_NOT_FOUND')
        ? EXIT_NOT_ONLINE
        : undefined
    if (exit === undefined) throw err
    renderError(err, args.json === true)
    process.exitCode = exit
    return
  }
  if (args.json === true) writeJson(result)
  // JSON text has no raw line break inside a string: each line is escaped for the terminal alone
  else writeValue(JSON.stringify(result.payload, null, 2).split('\n').map(escapeTerminal).join('\n'))
  if (args.json !== true && (result.status < 200 || result.status > 299))
    notice(`the device answered status ${result.status}.`)
}

/** The `hub call` command module. */
export const call: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'call <id> <method> [payload]',
  describe: 'Call a direct method; exit 0 answered, 3 device offline (404), 4 timeout (504)',
  builder,
  handler,
}
