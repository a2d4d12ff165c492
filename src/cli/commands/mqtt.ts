/**
 * `sas-token mqtt`: the MQTT CONNECT settings and topics for an identity, as text, JSON, env
 * lines, ready-to-run mosquitto commands, or a Python paho-mqtt snippet.
 *
 * @module
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { mqttCredentials, dpsMqttCredentials, type MqttCredentials } from '../../mqtt/credentials.js'
import { deviceSubscriptions, DPS_RESPONSES_FILTER, dpsRegisterTopic, telemetryTopic } from '../../mqtt/topics.js'
import { copyToClipboard } from '../clipboard.js'
import { dpsDeviceKey, resolveCliExpiry, resolveIdentity, withIdentityOptions, type ExpiryArgs, type Identity, type IdentityArgs } from '../identity-options.js'
import { nowMs } from '../input.js'
import { envLines, registerSecret, relativeTime, table, UsageError, warn, writeValue } from '../output.js'
import { tokenKind, policyPasswordWarning } from '../token-summary.js'
import { parseSasToken } from '../../sas-token.js'

const FORMATS = ['text', 'json', 'env', 'mosquitto', 'paho'] as const
type MqttFormat = (typeof FORMATS)[number]

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

/** Everything the formats print. */
interface Settings {
  credentials: MqttCredentials
  port: number
  websocket: boolean
  /** The WebSocket URL, with the port when it is not 443. */
  url: string
  /** DPS: the response comes only to the connection that sent the request. */
  dps: boolean
  publish: string
  /** The body the sample publish sends. */
  message: string
  subscribe: string[]
}

/** Where mosquitto and paho find the hub's root CA when neither --cafile nor --capath is given. */
const SYSTEM_CA_PATH = '/etc/ssl/certs'

/** The usage error for a `--port` that is not a TCP port. */
function checkPort(port: unknown): true {
  if (port !== undefined && !(typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535)) {
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
function settings(identity: Identity, args: MqttArgs): Settings {
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
  if (identity.type === 'resource') throw new UsageError('mqtt needs a device or module identity (or --dps), not --resource.')
  const cs = identity.connectionString
  // A SharedAccessSignature= string carries its own token and expiry.
  const expiryOptions = cs.sharedAccessSignature === undefined || args.ttl !== undefined || args.expiresAt !== undefined ? expiry : { now: expiry.now }
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

const expiresText = (c: MqttCredentials): string | undefined =>
  c.expiresAt === undefined ? undefined : new Date(c.expiresAt * 1000).toISOString()

function text(s: Settings): string {
  const c = s.credentials
  return table([
    ['host', c.host],
    ['port', s.port],
    ...(s.websocket ? [['url', s.url] as const] : []),
    ['protocol', 'MQTT 3.1.1'],
    ['clientId', c.clientId],
    ['username', c.username],
    ['password', c.password ?? '(none: X.509 client certificate)'],
    ['expires', c.expiresAt === undefined ? undefined : `${expiresText(c)} (${relativeTime(c.expiresAt - Math.floor(nowMs() / 1000))})`],
    ['publish', s.publish],
    ...s.subscribe.map((t) => ['subscribe', t] as const),
  ])
}

function json(s: Settings): string {
  const c = s.credentials
  return JSON.stringify(
    {
      host: c.host,
      port: s.port,
      transport: s.websocket ? 'websocket' : 'tls',
      ...(s.websocket && { url: s.url }),
      protocolVersion: c.protocolVersion,
      clientId: c.clientId,
      username: c.username,
      password: c.password ?? null,
      expiresAt: expiresText(c) ?? null,
      expiresAtEpoch: c.expiresAt ?? null,
      publish: s.publish,
      subscribe: s.subscribe,
    },
    null,
    2,
  )
}

function env(s: Settings): string {
  const c = s.credentials
  return envLines({
    MQTT_HOST: c.host,
    MQTT_PORT: s.port,
    MQTT_URL: s.websocket ? s.url : undefined,
    MQTT_CLIENT_ID: c.clientId,
    MQTT_USERNAME: c.username,
    MQTT_PASSWORD: c.password,
    MQTT_PUBLISH_TOPIC: s.publish,
    MQTT_SUBSCRIBE_TOPICS: s.subscribe.join(' '),
  })
}

/** Single quotes for bash, always: `$iothub/…` must not expand, and tokens hold `&` and `%`. */
const sq = (value: string): string => `'${value.replaceAll("'", `'\\''`)}'`

function mosquitto(s: Settings, args: MqttArgs): string {
  if (s.websocket) throw new UsageError('mosquitto_pub and mosquitto_sub do not speak MQTT over WebSocket: leave out --websocket.')
  const c = s.credentials
  const ca = args.cafile !== undefined ? `--cafile ${sq(args.cafile)}` : `--capath ${sq(args.capath ?? SYSTEM_CA_PATH)}`
  const auth = c.password === undefined ? '--cert device.pem --key device.key' : `-P ${sq(c.password)}`
  const common = `-V mqttv311 -h ${c.host} -p ${s.port} ${ca} -i ${sq(c.clientId)} -u ${sq(c.username)} ${auth} -q 1`
  const expires = expiresText(c)
  return [
    `# ${c.clientId}${expires === undefined ? '' : `: the password expires ${expires}`}`,
    '# Both commands connect with the same client id, and IoT Hub allows one connection per identity:',
    '# run one at a time (while mosquitto_pub is connected, the hub drops a running mosquitto_sub).',
    ...(s.dps
      ? ['# DPS sends the registration response only to the connection that published the request:', '# mosquitto_sub cannot see it (use a client that publishes and subscribes on one connection, like paho).']
      : []),
    '# Publish one message:',
    `mosquitto_pub ${common} -t ${sq(s.publish)} -m ${sq(s.message)}`,
    '# Listen (Ctrl-C to stop):',
    `mosquitto_sub ${common} -v ${s.subscribe.map((t) => `-t ${sq(t)}`).join(' ')}`,
  ].join('\n')
}

function paho(s: Settings, args: MqttArgs): string {
  const c = s.credentials
  const py = (value: string | undefined): string => (value === undefined ? 'None' : JSON.stringify(value))
  const ca = args.cafile !== undefined ? py(args.cafile) : 'None  # None: the system CA store'
  const x509 = c.password === undefined
  // tls_set() takes no CA directory; a context does.
  const tls =
    args.capath === undefined
      ? [`client.tls_set(ca_certs=CA_CERTS, ${x509 ? 'certfile=CERTFILE, keyfile=KEYFILE, ' : ''}cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLSv1_2)`]
      : [
          'context = ssl.create_default_context(capath=CA_PATH)',
          ...(x509 ? ['context.load_cert_chain(CERTFILE, KEYFILE)'] : []),
          'client.tls_set_context(context)',
        ]
  return [
    '# pip install "paho-mqtt>=2"',
    'import ssl',
    'import paho.mqtt.client as mqtt',
    '',
    `HOST = ${py(c.host)}`,
    `PORT = ${s.port}`,
    `CLIENT_ID = ${py(c.clientId)}`,
    `USERNAME = ${py(c.username)}`,
    `PASSWORD = ${py(c.password)}${c.expiresAt === undefined ? '' : `  # SAS token, expires ${expiresText(c)}`}`,
    ...(args.capath === undefined ? [`CA_CERTS = ${ca}`] : [`CA_PATH = ${py(args.capath)}`]),
    ...(x509 ? ['CERTFILE = "device.pem"  # X.509: the device certificate', 'KEYFILE = "device.key"  # X.509: its private key'] : []),
    `PUBLISH_TOPIC = ${py(s.publish)}`,
    `SUBSCRIBE_TOPICS = [${s.subscribe.map(py).join(', ')}]`,
    '',
    '',
    'def on_connect(client, userdata, flags, reason_code, properties):',
    '    print("connected:", reason_code)',
    '    client.subscribe([(topic, 1) for topic in SUBSCRIBE_TOPICS])',
    `    client.publish(PUBLISH_TOPIC, ${py(s.message)}, qos=1)`,
    '',
    '',
    'def on_message(client, userdata, message):',
    '    print(message.topic, message.payload.decode("utf-8", "replace"))',
    '',
    '',
    `client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, protocol=mqtt.MQTTv311${s.websocket ? ', transport="websockets"' : ''})`,
    ...(s.websocket ? ['client.ws_set_options(path="/$iothub/websocket")'] : []),
    'client.username_pw_set(username=USERNAME, password=PASSWORD)',
    ...tls,
    'client.on_connect = on_connect',
    'client.on_message = on_message',
    'client.connect(HOST, port=PORT)',
    'client.loop_forever()',
  ].join('\n')
}

function builder(y: Argv) {
  return withIdentityOptions(y)
    .options({
      format: { alias: 'f', choices: FORMATS, describe: 'Output: text, json, env, mosquitto (ready-to-run commands), paho (Python) [default: text]' },
      json: { type: 'boolean', describe: 'Shorthand for --format json' },
      'api-version': { type: 'string', describe: 'The api-version in the username [default: 2021-04-12]' },
      'model-id': { type: 'string', describe: 'An IoT Plug and Play model id (DTMI), added to the username' },
      websocket: { type: 'boolean', describe: 'MQTT over WebSocket on port 443' },
      port: { type: 'number', describe: 'Connect to this port instead of 8883 (443 with --websocket), e.g. for a local gateway' },
      cafile: { type: 'string', describe: 'The CA file for mosquitto/paho (DigiCert Global Root G2 for IoT Hub)' },
      capath: { type: 'string', describe: `The CA directory for mosquitto and paho [default: ${SYSTEM_CA_PATH} for mosquitto, the system store for paho]` },
      copy: { type: 'boolean', describe: 'Also copy the output to the clipboard' },
    })
    .conflicts('json', 'format')
    .conflicts('cafile', 'capath')
    .check((argv) => checkPort(argv.port))
    .example('$0 mqtt -c "$DEVICE_CS"', 'Host, client id, username, password and topics')
    .example('$0 mqtt -c "$DEVICE_CS" --format mosquitto --cafile DigiCertGlobalRootG2.crt.pem', 'Ready-to-run mosquitto_pub and mosquitto_sub commands')
    .example('$0 mqtt -c "$DEVICE_CS" --format paho --websocket > client.py', 'A Python paho-mqtt client over WebSocket')
    .example('$0 mqtt --dps --id-scope 0ne00000A0A --registration-id dev1 --group-key "$GROUP_KEY" --json', 'DPS registration settings as JSON')
}

async function handler(args: ArgumentsCamelCase<MqttArgs>): Promise<void> {
  const identity = await resolveIdentity(args)
  if (identity === undefined) {
    throw new UsageError('no identity: give -c/--connection-string, --host --device-id with a key, --dps, or set IOTHUB_DEVICE_CONNECTION_STRING.')
  }
  const s = settings(identity, args)
  const password = s.credentials.password
  if (password !== undefined) {
    const parsed = parseSasToken(password)
    if (tokenKind(parsed) === 'policy') warn(policyPasswordWarning(parsed.keyName ?? '', parsed.deviceId))
  }
  const format: MqttFormat = args.json === true ? 'json' : (args.format ?? 'text')
  const output = { text, json, env, mosquitto, paho }[format](s, args)
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
