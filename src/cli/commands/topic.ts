/**
 * `sas-token topic`: builds a telemetry topic with its property bag (`topic build`, the
 * default), or takes an incoming topic apart (`topic parse <topic>`).
 *
 * @module
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import type { MessageProperties } from '../../mqtt/property-bag.js'
import { parseTopic, telemetryTopic } from '../../mqtt/topics.js'
import { withSharedChecks } from '../options.js'
import { UsageError, writeJson, writeValue } from '../output.js'

/** The system-property flags, by their {@link MessageProperties} names. */
const SYSTEM = {
  'output-name': ['outputName', '$.on: the module output (modules only)'],
  'message-id': ['messageId', '$.mid: the message id'],
  'correlation-id': ['correlationId', '$.cid: the correlation id'],
  'user-id': ['userId', '$.uid: the user id'],
  to: ['to', '$.to: the destination'],
  'content-type': ['contentType', '$.ct: the body content type, like application/json'],
  'content-encoding': ['contentEncoding', '$.ce: the body encoding, like utf-8'],
  'interface-id': ['interfaceId', '$.ifid: the interface id'],
  'expiry-time-utc': ['expiryTimeUtc', '$.exp: absolute expiry, ISO 8601'],
  'component-name': ['componentName', '$.sub: the Plug and Play component'],
} as const

type SystemName = (typeof SYSTEM)[keyof typeof SYSTEM][0]

/** The options of `topic build`. */
export type TopicBuildArgs = {
  deviceId: string
  moduleId?: string | undefined
  property?: string[] | undefined
} & {
  [K in SystemName]?: string | undefined
}

/**
 * `k=v` texts to properties; the first `=` separates name and value. The bag has no prototype,
 * so any name (even `__proto__`) is an own property; a name given twice is a usage error.
 */
export function properties(texts: readonly string[]): Record<string, string> {
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

const build: CommandModule<object, TopicBuildArgs> = {
  command: ['build', '$0'],
  describe: 'Build a telemetry topic with its property bag (the default)',
  builder: ((y: Argv) =>
    withSharedChecks(y)
      .options({
        'device-id': { type: 'string', demandOption: true, describe: 'The device id' },
        'module-id': { type: 'string', describe: 'The module id, for module telemetry' },
        property: {
          alias: 'p',
          type: 'string',
          array: true,
          describe: 'An application property, name=value (repeatable)',
        },
        ...Object.fromEntries(
          Object.entries(SYSTEM).map(([flag, [, describe]]) => [
            flag,
            { type: 'string', group: 'System properties:', describe },
          ]),
        ),
      })
      .example(
        '$0 topic --device-id dev1 --content-type application/json --content-encoding utf-8',
        'Telemetry the hub can route on its body',
      )
      .example(
        '$0 topic --device-id dev1 --module-id m1 --output-name out1 -p alert=on',
        'Module output telemetry with a property',
      )) as unknown as CommandModule<object, TopicBuildArgs>['builder'],
  handler(args: ArgumentsCamelCase<TopicBuildArgs>) {
    const message: MessageProperties = {}
    for (const [name] of Object.values(SYSTEM)) {
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

const parse: CommandModule<object, { topic: string }> = {
  command: 'parse <topic>',
  describe: 'Take an incoming topic apart, as JSON',
  builder: ((y: Argv) =>
    withSharedChecks(y)
      .positional('topic', { type: 'string', describe: 'A topic the hub or DPS sends to' })
      .example(
        "$0 topic parse '$iothub/twin/res/204/?$rid=1&$version=6'",
        'A twin response',
      )) as unknown as CommandModule<object, { topic: string }>['builder'],
  handler(args) {
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
