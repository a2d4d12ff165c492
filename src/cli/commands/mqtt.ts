/**
 * `sas-token mqtt`: the MQTT CONNECT settings and topics for an identity, as text, JSON, variable
 * lines (POSIX shell, PowerShell, cmd), ready-to-run mosquitto commands, or a Python paho-mqtt
 * snippet.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import type { MqttCredentials } from '../../mqtt/credentials.js'
import {
  deviceSubscriptions,
  DPS_RESPONSES_FILTER,
  dpsRegisterTopic,
  telemetryTopic,
} from '../../mqtt/topics.js'
import { copyToClipboard } from '../clipboard.js'
import { withExamples } from '../examples.js'
import type { ArgsOf, OptionsOf } from '../command.js'
import { UsageError } from '../errors.js'
import { resolveIdentity, usesEnvironment, withIdentityOptions } from '../identity-options.js'
import { nowMs, readIdentityInputs } from '../input.js'
import { warn, writeValue } from '../output.js'
import { MQTT_FORMATS, renderMqtt, SYSTEM_CA_PATH, type MqttSettings } from '../render-mqtt.js'
import { expiryRequest, signerFor, type MqttIdentity } from '../signer.js'
import { policyPasswordWarning } from '../token-summary.js'

/** The usage error for a `--port` that is not a TCP port. */
function checkPort(port: unknown): true {
  if (
    port !== undefined &&
    !(typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535)
  ) {
    throw new UsageError('--port must be a whole number from 1 to 65535.', { option: 'port' })
  }
  return true
}

/** `wss://host/$iothub/websocket`, with `:port` when the port is not the default 443. */
function websocketUrl(credentials: MqttCredentials, port: number): string {
  const url = new URL(credentials.websocketUrl)
  url.port = String(port)
  return url.href
}

/** What the formats print: the CONNECT fields, plus the topics of that kind of client. */
function settings(
  m: MqttIdentity,
  o: { websocket?: boolean | undefined; port?: number | undefined },
): MqttSettings {
  const websocket = o.websocket === true
  const port = o.port ?? (websocket ? 443 : 8883)
  const { credentials, id } = m
  const common = { credentials, port, websocket, url: websocketUrl(credentials, port) }
  return id === undefined
    ? {
        ...common,
        dps: true,
        publish: dpsRegisterTopic({ rid: '1' }),
        message: JSON.stringify({ registrationId: credentials.clientId }),
        subscribe: [DPS_RESPONSES_FILTER],
      }
    : {
        ...common,
        dps: false,
        publish: telemetryTopic(id),
        message: '{"hello":"from sas-token"}',
        subscribe: deviceSubscriptions(id),
      }
}

function builder(y: Argv) {
  const y2 = withIdentityOptions(y)
    .options({
      format: {
        alias: 'f',
        choices: MQTT_FORMATS,
        describe:
          'Output: text, json, env (POSIX shell), powershell, cmd (a batch file), mosquitto (ready-to-run commands), paho (Python) [default: text]',
      },
      json: { type: 'boolean', describe: 'Shorthand for --format json' },
      'api-version': { type: 'string', describe: 'The api-version in the username [default: 2021-04-12]' },
      'model-id': { type: 'string', describe: 'An IoT Plug and Play model id (DTMI), added to the username' },
      websocket: { type: 'boolean', describe: 'MQTT over WebSocket on port 443' },
      port: {
        type: 'number',
        describe: 'Connect to this port instead of 8883 (443 with --websocket), e.g. for a local gateway',
      },
      cafile: {
        type: 'string',
        describe: 'The CA file for mosquitto/paho (DigiCert Global Root G2 for IoT Hub)',
      },
      capath: {
        type: 'string',
        describe: `The CA directory for mosquitto and paho [default: ${SYSTEM_CA_PATH} for mosquitto, the system store for paho]`,
      },
      copy: { type: 'boolean', describe: 'Also copy the output to the clipboard' },
    })
    .conflicts('json', 'format')
    .conflicts('cafile', 'capath')
    .check((argv) => checkPort(argv.port))
  return withExamples(y2, [
    ['Host, client id, username, password and topics', 'sas-token mqtt -c "$DEVICE_CS"'],
    [
      'Ready-to-run mosquitto_pub and mosquitto_sub commands',
      'sas-token mqtt -c "$DEVICE_CS" --format mosquitto',
      '--cafile DigiCertGlobalRootG2.crt.pem',
    ],
    [
      'A Python paho-mqtt client over WebSocket',
      'sas-token mqtt -c "$DEVICE_CS" --format paho --websocket > client.py',
    ],
    [
      'DPS registration settings as JSON',
      'sas-token mqtt --dps --id-scope 0ne00000A0A --registration-id dev1',
      '--group-key "$GROUP_KEY" --json',
    ],
  ])
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const inputs = await readIdentityInputs(args, { env: usesEnvironment(args, false) })
  const identity = resolveIdentity(args, inputs)
  if (identity === undefined) {
    throw new UsageError(
      'no identity: give -c/--connection-string, --host --device-id with a key, --dps, or set IOTHUB_DEVICE_CONNECTION_STRING.',
    )
  }
  const m = signerFor(identity, expiryRequest(args, nowMs())).mqtt(args)
  if (m.keyName !== undefined && m.credentials.password !== undefined)
    warn(policyPasswordWarning(m.keyName, m.id?.deviceId))
  const format = args.json === true ? 'json' : (args.format ?? 'text')
  const output = renderMqtt(settings(m, args), format, args)
  writeValue(output)
  if (args.copy === true) await copyToClipboard(output)
}

/** The `mqtt` command module. */
export const mqtt: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'mqtt',
  describe: 'Print MQTT connection settings and topics (text, json, env, powershell, cmd, mosquitto, paho)',
  builder,
  handler,
}
