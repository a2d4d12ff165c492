/**
 * The output formats of `sas-token mqtt`: aligned text, JSON, variable lines for a POSIX shell,
 * PowerShell or cmd, ready-to-run mosquitto commands, and a Python paho-mqtt snippet, all from
 * one {@link MqttSettings}.
 *
 * @module
 */
import type { MqttCredentials } from '../mqtt/credentials.js'
import { nowMs } from './input.js'
import { UsageError } from './errors.js'
import { relativeTime } from './relative-time.js'
import { VARIABLE_FORMATS, type VariableFormat, variableLines } from './shell-formats.js'
import { table } from './table.js'

/** The formats, in the order `--help` lists them. */
export const MQTT_FORMATS = ['text', 'json', ...VARIABLE_FORMATS, 'mosquitto', 'paho'] as const
export type MqttFormat = (typeof MQTT_FORMATS)[number]

/** Where the mosquitto and paho output find the hub's root CA. */
export interface CaOptions {
  cafile?: string | undefined
  capath?: string | undefined
}

/** Everything the formats print. */
export interface MqttSettings {
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
export const SYSTEM_CA_PATH = '/etc/ssl/certs'

const expiresText = (c: MqttCredentials): string | undefined =>
  c.expiresAt === undefined ? undefined : new Date(c.expiresAt * 1000).toISOString()

function text(s: MqttSettings): string {
  const c = s.credentials
  return table([
    ['host', c.host],
    ['port', s.port],
    ...(s.websocket ? [['url', s.url] as const] : []),
    ['protocol', 'MQTT 3.1.1'],
    ['clientId', c.clientId],
    ['username', c.username],
    ['password', c.password ?? '(none: X.509 client certificate)'],
    [
      'expires',
      c.expiresAt === undefined
        ? undefined
        : `${expiresText(c)} (${relativeTime(c.expiresAt - Math.floor(nowMs() / 1000))})`,
    ],
    ['publish', s.publish],
    ...s.subscribe.map((t) => ['subscribe', t] as const),
  ])
}

function json(s: MqttSettings): string {
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

/** The settings as variables, in the shell `format` names. */
function variables(s: MqttSettings, format: VariableFormat): string {
  const c = s.credentials
  return variableLines(format, {
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

function mosquitto(s: MqttSettings, args: CaOptions): string {
  if (s.websocket)
    throw new UsageError(
      'mosquitto_pub and mosquitto_sub do not speak MQTT over WebSocket: leave out --websocket.',
    )
  const c = s.credentials
  const ca =
    args.cafile !== undefined
      ? `--cafile ${sq(args.cafile)}`
      : `--capath ${sq(args.capath ?? SYSTEM_CA_PATH)}`
  const auth = c.password === undefined ? '--cert device.pem --key device.key' : `-P ${sq(c.password)}`
  const common = `-V mqttv311 -h ${c.host} -p ${s.port} ${ca} -i ${sq(c.clientId)} -u ${sq(c.username)} ${auth} -q 1`
  const expires = expiresText(c)
  return [
    `# ${c.clientId}${expires === undefined ? '' : `: the password expires ${expires}`}`,
    '# Both commands connect with the same client id, and IoT Hub allows one connection per identity:',
    '# run one at a time (while mosquitto_pub is connected, the hub drops a running mosquitto_sub).',
    ...(s.dps
      ? [
          '# DPS sends the registration response only to the connection that published the request:',
          '# mosquitto_sub cannot see it (use a client that publishes and subscribes on one connection, like paho).',
        ]
      : []),
    '# Publish one message:',
    `mosquitto_pub ${common} -t ${sq(s.publish)} -m ${sq(s.message)}`,
    '# Listen (Ctrl-C to stop):',
    `mosquitto_sub ${common} -v ${s.subscribe.map((t) => `-t ${sq(t)}`).join(' ')}`,
  ].join('\n')
}

function paho(s: MqttSettings, args: CaOptions): string {
  const c = s.credentials
  const py = (value: string | undefined): string => (value === undefined ? 'None' : JSON.stringify(value))
  const ca = args.cafile !== undefined ? py(args.cafile) : 'None  # None: the system CA store'
  const x509 = c.password === undefined
  // tls_set() takes no CA directory; a context does.
  const tls =
    args.capath === undefined
      ? [
          `client.tls_set(ca_certs=CA_CERTS, ${x509 ? 'certfile=CERTFILE, keyfile=KEYFILE, ' : ''}cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLSv1_2)`,
        ]
      : [
          'context = ssl.create_default_context(capath=CA_PATH)',
          ...(x509 ? ['context.load_cert_chain(CERTFILE, KEYFILE)'] : []),
          'client.tls_set_context(context)',
        ]
  return [
    '# paho-mqtt 1.6 or 2.x (pip install paho-mqtt, or Debian: apt install python3-paho-mqtt)',
    'import ssl',
    'import paho.mqtt.client as mqtt',
    '',
    `HOST = ${py(c.host)}`,
    `PORT = ${s.port}`,
    `CLIENT_ID = ${py(c.clientId)}`,
    `USERNAME = ${py(c.username)}`,
    `PASSWORD = ${py(c.password)}${c.expiresAt === undefined ? '' : `  # SAS token, expires ${expiresText(c)}`}`,
    ...(args.capath === undefined ? [`CA_CERTS = ${ca}`] : [`CA_PATH = ${py(args.capath)}`]),
    ...(x509
      ? [
          'CERTFILE = "device.pem"  # X.509: the device certificate',
          'KEYFILE = "device.key"  # X.509: its private key',
        ]
      : []),
    `PUBLISH_TOPIC = ${py(s.publish)}`,
    `SUBSCRIBE_TOPICS = [${s.subscribe.map(py).join(', ')}]`,
    '',
    '',
    '# paho 1.x calls on_connect without properties; 2.x with them (callback API version 2).',
    'def on_connect(client, userdata, flags, reason_code, properties=None):',
    '    print("connected:", reason_code)',
    '    client.subscribe([(topic, 1) for topic in SUBSCRIBE_TOPICS])',
    `    client.publish(PUBLISH_TOPIC, ${py(s.message)}, qos=1)`,
    '',
    '',
    'def on_message(client, userdata, message):',
    '    print(message.topic, message.payload.decode("utf-8", "replace"))',
    '',
    '',
    '# paho 2.x needs the callback API version first; 1.x has none.',
    'API = (mqtt.CallbackAPIVersion.VERSION2,) if hasattr(mqtt, "CallbackAPIVersion") else ()',
    `client = mqtt.Client(*API, client_id=CLIENT_ID, protocol=mqtt.MQTTv311${s.websocket ? ', transport="websockets"' : ''})`,
    ...(s.websocket ? ['client.ws_set_options(path="/$iothub/websocket")'] : []),
    'client.username_pw_set(username=USERNAME, password=PASSWORD)',
    ...tls,
    'client.on_connect = on_connect',
    'client.on_message = on_message',
    'client.connect(HOST, port=PORT)',
    'client.loop_forever()',
  ].join('\n')
}

/**
 * Renders `settings` in `format`.
 *
 * @throws {UsageError} `mosquitto` with `--websocket`.
 * @throws {CliError} `ERR_FORMAT_UNREPRESENTABLE` when a variable format cannot hold a value.
 */
export function renderMqtt(settings: MqttSettings, format: MqttFormat, ca: CaOptions): string {
  switch (format) {
    case 'env':
    case 'powershell':
    case 'cmd':
      return variables(settings, format)
    default:
      return { text, json, mosquitto, paho }[format](settings, ca)
  }
}
