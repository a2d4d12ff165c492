/**
 * `sas-token mqtt`: the MQTT CONNECT settings and topics for an identity, as text, JSON, env
 * lines, ready-to-run mosquitto commands, or a Python paho-mqtt snippet.
 *
 * @module
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { mqttCredentials, dpsMqttCredentials, type MqttCredentials } from '../../mqtt/credentials.js'
import {
  deviceSubscriptions,
  DPS_RESPONSES_FILTER,
  dpsRegisterTopic,
  telemetryTopic,
} from '../../mqtt/topics.js'
import { copyToClipboard } from '../clipboard.js'
import {
  dpsDeviceKey,
  resolveCliExpiry,
  resolveIdentity,
  withIdentityOptions,
  type ExpiryArgs,
  type Identity,
  type IdentityArgs,
} from '../identity-options.js'
import { registerSecret, UsageError, warn, writeValue } from '../output.js'
import {
  MQTT_FORMATS,
  renderMqtt,
  SYSTEM_CA_PATH,
  type MqttFormat,
  type MqttSettings,
} from '../render-mqtt.js'
import { tokenKind, policyPasswordWarning } from '../token-summary.js'
import { parseSasToken } from '../../sas-token.js'

/** The options of `mqtt`. */
export interface MqttArgs extends IdentityArgs, ExpiryArgs {
  format?: MqttFormat | undefined
  json?: boolean | undefined
  apiVersion?: string | undefined
  modelId?: string | undefined
  websocket?: boolean | undefined
  port?: number | undefined
  cafile?: string | undefined
  capath?: string | undefined
  copy?: boolean | undefined
}

/** The usage error for a `--port` that is not a TCP port. */
function checkPort(port: unknown): true {
  if (
    port !== undefined &&
    !(typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535)
  ) {
    throw new UsageError('--port must be a whole number from 1 to 65535.')
  }
  return true
}

/** `wss://host/$iothub/websocket`, with `:port` when the port is not the default 443. */
function websocketUrl(credentials: MqttCredentials, port: number): string {
  const url = new URL(credentials.websocketUrl)
  url.port = String(port)
  return url.href
}

/** The MQTT settings for an identity: one core call, plus the topics of that kind of client. */
function settings(identity: Identity, args: MqttArgs): MqttSettings {
  const expiry = resolveCliExpiry(args)
  const websocket = args.websocket === true
  const port = args.port ?? (websocket ? 443 : 8883)
  if (identity.type === 'dps') {
    const key = dpsDeviceKey(identity)
    registerSecret(key)
    const credentials = dpsMqttCredentials({
      idScope: identity.idScope,
      registrationId: identity.registrationId ?? '',
      key,
      ...(identity.host !== undefined && { host: identity.host }),
      ...expiry,
    })
    return {
      credentials,
      port,
      websocket,
      url: websocketUrl(credentials, port),
      dps: true,
      publish: dpsRegisterTopic({ rid: '1' }),
      message: JSON.stringify({ registrationId: credentials.clientId }),
      subscribe: [DPS_RESPONSES_FILTER],
    }
  }
  if (identity.type === 'resource')
    throw new UsageError('mqtt needs a device or module identity (or --dps), not --resource.')
  const cs = identity.connectionString
  // A SharedAccessSignature= string carries its own token and expiry.
  const expiryOptions =
    cs.sharedAccessSignature === undefined || args.ttl !== undefined || args.expiresAt !== undefined
      ? expiry
      : { now: expiry.now }
  const credentials = mqttCredentials(cs, {
    ...expiryOptions,
    ...(args.apiVersion !== undefined && { apiVersion: args.apiVersion }),
    ...(args.modelId !== undefined && { modelId: args.modelId }),
    ...(identity.deviceId !== undefined && { deviceId: identity.deviceId }),
    ...(identity.moduleId !== undefined && { moduleId: identity.moduleId }),
  })
  // A device or module string names the identity; a service string takes it from --device-id/--module-id.
  const deviceId = cs.kind === 'service' ? (identity.deviceId ?? '') : cs.deviceId
  const moduleId = cs.kind === 'module' ? cs.moduleId : cs.kind === 'service' ? identity.moduleId : undefined
  const id = { deviceId, ...(moduleId !== undefined && { moduleId }) }
  return {
    credentials,
    port,
    websocket,
    url: websocketUrl(credentials, port),
    dps: false,
    publish: telemetryTopic(id),
    message: '{"hello":"from sas-token"}',
    subscribe: deviceSubscriptions(id),
  }
}

function builder(y: Argv) {
  return withIdentityOptions(y)
    .options({
      format: {
        alias: 'f',
        choices: MQTT_FORMATS,
        describe: 'Output: text, json, env, mosquitto (ready-to-run commands), paho (Python) [default: text]',
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
    .example('$0 mqtt -c "$DEVICE_CS"', 'Host, client id, username, password and topics')
    .example(
      '$0 mqtt -c "$DEVICE_CS" --format mosquitto --cafile DigiCertGlobalRootG2.crt.pem',
      'Ready-to-run mosquitto_pub and mosquitto_sub commands',
    )
    .example(
      '$0 mqtt -c "$DEVICE_CS" --format paho --websocket > client.py',
      'A Python paho-mqtt client over WebSocket',
    )
    .example(
      '$0 mqtt --dps --id-scope 0ne00000A0A --registration-id dev1 --group-key "$GROUP_KEY" --json',
      'DPS registration settings as JSON',
    )
}

async function handler(args: ArgumentsCamelCase<MqttArgs>): Promise<void> {
  const identity = await resolveIdentity(args)
  if (identity === undefined) {
    throw new UsageError(
      'no identity: give -c/--connection-string, --host --device-id with a key, --dps, or set IOTHUB_DEVICE_CONNECTION_STRING.',
    )
  }
  const s = settings(identity, args)
  const password = s.credentials.password
  if (password !== undefined) {
    const parsed = parseSasToken(password)
    if (tokenKind(parsed) === 'policy') warn(policyPasswordWarning(parsed.keyName ?? '', parsed.deviceId))
  }
  const format: MqttFormat = args.json === true ? 'json' : (args.format ?? 'text')
  const output = renderMqtt(s, format, args)
  writeValue(output)
  if (args.copy === true) await copyToClipboard(output)
}

/** The `mqtt` command module. */
export const mqtt: CommandModule<object, MqttArgs> = {
  command: 'mqtt',
  describe: 'Print MQTT connection settings and topics (text, json, env, mosquitto, paho)',
  builder: builder as unknown as CommandModule<object, MqttArgs>['builder'],
  handler,
}
