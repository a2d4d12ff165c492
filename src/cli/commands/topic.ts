/**
 * `sas-token topic`: builds a telemetry topic with its property bag (`topic build`, the
 * default), or takes an incoming topic apart (`topic parse <topic>`).
 *
 * @module
 */
import type { Argv, CommandModule, Options } from 'yargs'
import type { MessageProperties } from '../../mqtt/property-bag.js'
import { parseTopic, telemetryTopic } from '../../mqtt/topics.js'
import { withSharedChecks } from '../options.js'
import type { ArgsOf, OptionsOf } from '../command.js'
import { UsageError } from '../errors.js'
import { writeJson, writeValue } from '../output.js'

const SYSTEM_GROUP = 'System properties:'

/** The system-property flags; yargs camel-cases each to its {@link MessageProperties} name. */
const systemOptions = {
  'output-name': { type: 'string', group: SYSTEM_GROUP, describe: '$.on: the module output (modules only)' },
  'message-id': { type: 'string', group: SYSTEM_GROUP, describe: '$.mid: the message id' },
  'correlation-id': { type: 'string', group: SYSTEM_GROUP, describe: '$.cid: the correlation id' },
  'user-id': { type: 'string', group: SYSTEM_GROUP, describe: '$.uid: the user id' },
  to: { type: 'string', group: SYSTEM_GROUP, describe: '$.to: the destination' },
  'content-type': {
    type: 'string',
    group: SYSTEM_GROUP,
    describe: '$.ct: the body content type, like application/json',
  },
  'content-encoding': {
    type: 'string',
    group: SYSTEM_GROUP,
    describe: '$.ce: the body encoding, like utf-8',
  },
  'interface-id': { type: 'string', group: SYSTEM_GROUP, describe: '$.ifid: the interface id' },
  'expiry-time-utc': { type: 'string', group: SYSTEM_GROUP, describe: '$.exp: absolute expiry, ISO 8601' },
  'component-name': { type: 'string', group: SYSTEM_GROUP, describe: '$.sub: the Plug and Play component' },
} as const satisfies Record<string, Options>

/** The {@link MessageProperties} names of {@link systemOptions}, in the same order. */
const SYSTEM_NAMES = [
  'outputName',
  'messageId',
  'correlationId',
  'userId',
  'to',
  'contentType',
  'contentEncoding',
  'interfaceId',
  'expiryTimeUtc',
  'componentName',
] as const satisfies ReadonlyArray<keyof MessageProperties>

/**
 * `k=v` texts to properties; the first `=` separates name and value. The bag has no prototype,
 * so any name (even `__proto__`) is an own property; a name given twice is a usage error.
 */
function properties(texts: readonly string[]): Record<string, string> {
  const bag: Record<string, string> = Object.create(null) as Record<string, string>
  for (const text of texts) {
    const eq = text.indexOf('=')
    if (eq <= 0) throw new UsageError(`--property ${JSON.stringify(text)}: give it as name=value.`)
    const name = text.slice(0, eq)
    if (Object.hasOwn(bag, name))
      throw new UsageError(`--property ${JSON.stringify(name)} was given twice: give each name once.`)
    bag[name] = text.slice(eq + 1)
  }
  return bag
}

function buildBuilder(y: Argv) {
  return withSharedChecks(y)
    .options({
      'device-id': { type: 'string', demandOption: true, describe: 'The device id' },
      'module-id': { type: 'string', describe: 'The module id, for module telemetry' },
      property: {
        alias: 'p',
        type: 'string',
        array: true,
        describe: 'An application property, name=value (repeatable)',
      },
      ...systemOptions,
    })
    .example(
      '$0 topic --device-id dev1 --content-type application/json --content-encoding utf-8',
      'Telemetry the hub can route on its body',
    )
    .example(
      '$0 topic --device-id dev1 --module-id m1 --output-name out1 -p alert=on',
      'Module output telemetry with a property',
    )
}

const build: CommandModule<object, OptionsOf<typeof buildBuilder>> = {
  command: ['build', '$0'],
  describe: 'Build a telemetry topic with its property bag (the default)',
  builder: buildBuilder,
  handler(args: ArgsOf<typeof buildBuilder>) {
    const message: MessageProperties = {}
    for (const name of SYSTEM_NAMES) {
      const value = args[name]
      if (value !== undefined) message[name] = value
    }
    if (args.property !== undefined) message.properties = properties(args.property)
    writeValue(
      telemetryTopic(
        { deviceId: args.deviceId, ...(args.moduleId !== undefined && { moduleId: args.moduleId }) },
        message,
      ),
    )
  },
}

function parseBuilder(y: Argv) {
  return withSharedChecks(y)
    .positional('topic', { type: 'string', demandOption: true, describe: 'A topic the hub or DPS sends to' })
    .example("$0 topic parse '$iothub/twin/res/204/?$rid=1&$version=6'", 'A twin response')
}

const parse: CommandModule<object, OptionsOf<typeof parseBuilder>> = {
  command: 'parse <topic>',
  describe: 'Take an incoming topic apart, as JSON',
  builder: parseBuilder,
  handler(args: ArgsOf<typeof parseBuilder>) {
    writeJson(parseTopic(args.topic))
  },
}

/** The `topic` command module. */
export const topic: CommandModule = {
  command: 'topic',
  describe: 'Build a telemetry topic, or parse an incoming one',
  builder: (y) => y.command(parse).command(build),
  handler() {},
}
