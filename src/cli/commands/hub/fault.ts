/**
 * `sas-token hub fault …`: breaks something on purpose through the emulator-only
 * `POST /_emulator/faults` (hub/state/faults.ts owns every fault), so a device's reconnect and
 * retry code can be tested offline:
 *
 * - `hub fault <id[/module]> drop | expire | clear`
 * - `hub fault <id[/module]> refuse <N> [--code 1-5]`
 * - `hub fault <id[/module]> methods delay <30s> | methods drop`
 * - `hub fault outage <30s>` (the whole hub's device listeners), `hub fault clear` (everything),
 *   `hub fault list` (`GET /_emulator/faults`)
 *
 * `--for` bounds a refusal or a methods fault (default 60 s, at most 1 h). Durations are
 * seconds or text with a unit: `30s`, `2m`, `1h`.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import type { ArgsOf, OptionsOf } from '../../command.js'
import { UsageError } from '../../errors.js'
import type { FaultRequestBody } from '../../hub-client.js'
import { escapeTerminal } from '../../escape-terminal.js'
import { writeJson, writeValue } from '../../output.js'
import { connectHub, withHubOptions } from './connect.js'

const UNITS = { s: 1, m: 60, h: 3600 } as const

/** `30`, `30s`, `2m`, `1h` as whole seconds, or `undefined` when `text` is not a duration. */
function seconds(text: string | undefined): number | undefined {
  const m = /^(\d+)([smh]?)$/.exec(text?.trim() ?? '')
  return m === null ? undefined : Number(m[1]) * UNITS[(m[2] || 's') as keyof typeof UNITS]
}

function duration(text: string | undefined, what: string): number {
  const n = seconds(text)
  if (n === undefined)
    throw new UsageError(`${what} must be a duration: seconds, or a number with s, m or h (30s, 2m, 1h).`)
  return n
}

function whole(text: string | undefined, what: string): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new UsageError(`${what} must be a whole number.`)
  return Number(text)
}

const USAGE =
  'say what to do: <id> drop|expire|clear, <id> refuse <N> [--code 1-5], <id> methods delay <30s>|drop, outage <30s>, clear, list'

/** The request the words ask for, or `undefined` for `list`. */
export function faultRequest(
  words: readonly string[],
  o: { code?: number | undefined; for?: string | undefined },
): FaultRequestBody | undefined {
  const [first = '', action, ...rest] = words
  if (first === 'list' && action === undefined) return undefined
  if (first === 'clear' && action === undefined) return { kind: 'clear' }
  if (first === 'outage' && seconds(action) !== undefined && rest.length === 0)
    return { kind: 'outage', durationSeconds: duration(action, 'The outage') }
  const slash = first.indexOf('/')
  const target =
    slash === -1 ? { deviceId: first } : { deviceId: first.slice(0, slash), moduleId: first.slice(slash + 1) }
  const bound = o.for === undefined ? {} : { durationSeconds: duration(o.for, '--for') }
  const only = (n: number): void => {
    if (rest.length > n) throw new UsageError(`Unexpected ${JSON.stringify(rest[n])}: ${USAGE}.`)
  }
  switch (action) {
    case 'drop':
    case 'expire':
    case 'clear':
      only(0)
      return { kind: action, ...target }
    case 'refuse':
      only(1)
      return {
        kind: 'refuse',
        ...target,
        count: whole(rest[0], 'refuse <N>'),
        ...(o.code === undefined ? {} : { returnCode: o.code }),
        ...bound,
      }
    case 'methods':
      if (rest[0] === 'drop') {
        only(1)
        return { kind: 'drop-methods', ...target, ...bound }
      }
      if (rest[0] === 'delay') {
        only(2)
        return {
          kind: 'delay-methods',
          ...target,
          delaySeconds: duration(rest[1], 'methods delay'),
          ...bound,
        }
      }
      throw new UsageError('methods takes delay <30s> or drop.')
    case 'outage':
      throw new UsageError('An outage is the whole hub’s: hub fault outage <30s>.')
    default:
      throw new UsageError(
        action === undefined
          ? `hub fault ${first}: ${USAGE}.`
          : `Unknown fault ${JSON.stringify(action)}: ${USAGE}.`,
      )
  }
}

function builder(y: Argv) {
  return withHubOptions(y)
    .positional('target', {
      type: 'string',
      demandOption: true,
      describe: 'Device id (device/module for a module), or outage, clear, list',
    })
    .positional('action', {
      type: 'string',
      describe: 'drop, refuse <N>, expire, methods delay <30s>, methods drop, clear',
    })
    .positional('values', { type: 'string', array: true, describe: 'What the action takes' })
    .options({
      code: { type: 'number', describe: 'refuse: the CONNACK return code, 1-5 [default: 5]' },
      for: {
        type: 'string',
        describe: 'How long a refusal or methods fault lasts, at most 1h [default: 60s]',
      },
    })
    .example('$0 hub fault dev1 refuse 2 --code 3', 'The next two connects of dev1 get CONNACK 3')
    .example('$0 hub fault dev1 methods delay 30s --for 5m', "dev1's method answers come 30 s late")
    .example('$0 hub fault outage 30s', 'MQTT and AMQP close every connection for 30 s')
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const words = [args.target, ...(args.action === undefined ? [] : [args.action]), ...(args.values ?? [])]
  const request = faultRequest(words, { code: args.code, for: args.for })
  const answer = await (await connectHub(args)).fault(request)
  if (args.json === true) return writeJson(answer)
  const lines = (Array.isArray(answer) ? answer : [answer]).map((f: Record<string, unknown>) => {
    const who =
      f.deviceId === undefined ? '' : `${f.deviceId}${f.moduleId === undefined ? '' : `/${f.moduleId}`} `
    return `${who}${f.fault}: ${f.action}${f.until === undefined ? '' : ` until ${f.until}`}`
  })
  if (lines.length > 0) writeValue(lines.map(escapeTerminal).join('\n'))
}

/** The `hub fault` command module. */
export const fault: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'fault <target> [action] [values..]',
  describe: 'Break something on purpose (emulator only): drop, refuse, expire, methods, outage, clear',
  builder,
  handler,
}
