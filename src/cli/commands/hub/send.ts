/**
 * `sas-token hub send <id> [payload] [-p k=v …]`: queues a cloud-to-device message, through the
 * emulator-only endpoint `POST /_emulator/devices/{id}/messages` (the real service sends C2D
 * over AMQP, which this CLI does not speak). With `--module m --input i`, sends to a module's
 * input instead (`POST /_emulator/devices/{id}/modules/{m}/inputs/{i}/messages`), as IoT Edge
 * routing does: delivered at once to a connected module, never queued.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import type { C2dMessage } from '../../hub-client.js'
import { readStdin } from '../../input.js'
import type { ArgsOf, OptionsOf } from '../../command.js'
import { notice, writeJson, writeValue } from '../../output.js'
import { properties } from '../topic.js'
import { connectHub, withHubOptions } from './connect.js'

function builder(y: Argv) {
  return withHubOptions(y)
    .positional('id', { type: 'string', demandOption: true, describe: 'Device id' })
    .positional('payload', {
      type: 'string',
      describe: 'The message body ("-" reads stdin) [default: empty]',
    })
    .options({
      module: {
        alias: 'm',
        type: 'string',
        describe: "Send to this module's input (with --input) instead of the device's C2D queue",
      },
      input: { type: 'string', describe: 'The module input to send to (with --module)' },
      property: {
        alias: 'p',
        type: 'string',
        array: true,
        describe: 'An application property, name=value (repeatable)',
      },
      base64: { type: 'boolean', describe: 'The payload is base64: send its bytes' },
      'message-id': { type: 'string', describe: '$.mid [default: a new UUID]' },
      'correlation-id': { type: 'string', describe: '$.cid' },
      'user-id': { type: 'string', describe: '$.uid' },
      'content-type': { type: 'string', describe: '$.ct, like application/json' },
      'content-encoding': { type: 'string', describe: '$.ce, like utf-8' },
      'expiry-time-utc': { type: 'string', describe: '$.exp, ISO 8601' },
      ack: {
        type: 'string',
        choices: ['none', 'positive', 'negative', 'full'] as const,
        describe: 'The delivery feedback to record (iothub-ack) [default: none]',
      },
    })
    .example('$0 hub send dev1 "hello" -p color=red', 'Queued until dev1 subscribes to devicebound')
    .implies('module', 'input')
    .implies('input', 'module')
    .example('$0 hub send dev1 - --content-type application/json < msg.json', 'The body from stdin')
    .example('$0 hub send dev1 --module filter --input in1 "21.5"', "To module filter's input in1")
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const props = properties(args.property ?? [])
  const payload = args.payload === '-' ? await readStdin() : (args.payload ?? '')
  const message: C2dMessage = {
    payload,
    ...(args.base64 === true && { payloadEncoding: 'base64' }),
    ...(Object.keys(props).length > 0 && { properties: { ...props } }),
    ...(args.messageId !== undefined && { messageId: args.messageId }),
    ...(args.correlationId !== undefined && { correlationId: args.correlationId }),
    ...(args.userId !== undefined && { userId: args.userId }),
    ...(args.contentType !== undefined && { contentType: args.contentType }),
    ...(args.contentEncoding !== undefined && { contentEncoding: args.contentEncoding }),
    ...(args.expiryTimeUtc !== undefined && { expiryTimeUtc: args.expiryTimeUtc }),
    ...(args.ack !== undefined && { ack: args.ack }),
  }
  const hub = await connectHub(args)
  const sent =
    args.module === undefined || args.input === undefined
      ? await hub.sendC2d(args.id, message)
      : await hub.sendToModuleInput({ deviceId: args.id, moduleId: args.module }, args.input, message)
  if (args.json === true) writeJson(sent)
  else {
    writeValue(sent.messageId)
    notice(`message ${sent.state}.`)
  }
}

/** The `hub send` command module. */
export const send: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'send <id> [payload]',
  describe:
    "Send a cloud-to-device message, or a message to a module's input (emulator only); prints its messageId",
  builder: builder,
  handler: handler,
}
