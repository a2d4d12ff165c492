/**
 * `sas-token doctor`: why IoT Hub (or DPS) would refuse a device's MQTT CONNECT, from the
 * client id, username and password the device sends, checked with the key. With a device or
 * module connection string alone, it prints what the device should send and checks that.
 * Exit 1 when the hub would refuse the CONNECT; warnings alone exit 0.
 *
 * @module
 */
import { readFile } from 'node:fs/promises'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import type { CertificateFinding } from '../../hub/index.js'
import { parseConnectionString, type ConnectionString } from '../../connection-string.js'
import { SasTokenError } from '../../errors.js'
import {
  diagnoseConnect,
  type DiagnoseConnectOptions,
  type Finding,
  type MqttConnect,
} from '../../diagnose/index.js'
import { parseTtl } from '../../expiry.js'
import { parseSasToken } from '../../sas-token.js'
import { mqttCredentials, type MqttCredentials } from '../../mqtt/credentials.js'
import { connectionStringFromEnv, nowMs, readKey, valueOrStdin, type KeySource } from '../input.js'
import { loadHub } from '../load-hub.js'
import { withSharedChecks } from '../options.js'
import { UsageError } from '../errors.js'
import { writeValue } from '../output.js'
import { relativeTime } from '../relative-time.js'
import { renderError } from '../render-error.js'
import { registerSecret, scrub } from '../secrets.js'
import { table } from '../table.js'
import { summarizeToken, type TokenSummary } from '../token-summary.js'

/** The environment variable the password is read from when `--password` is not given. */
export const PASSWORD_ENV = 'IOTHUB_MQTT_PASSWORD'

/** The options of `doctor`. */
export interface DoctorArgs extends KeySource {
  clientId?: string | undefined
  username?: string | undefined
  password?: string | undefined
  connectionString?: string | undefined
  groupKey?: string | undefined
  host?: string | undefined
  idScope?: string | undefined
  x509?: boolean | undefined
  cert?: string | undefined
  ca?: string[] | undefined
  clockSkew?: number | undefined
  renewAfter?: string | undefined
  json?: boolean | undefined
}

const CONNECT = 'The CONNECT (what the device sends):'
const KNOWN = 'What the hub knows:'

function builder(y: Argv) {
  return withSharedChecks(y)
    .options({
      'client-id': { type: 'string', group: CONNECT, describe: 'The MQTT client id' },
      username: { type: 'string', group: CONNECT, describe: 'The MQTT username' },
      password: {
        type: 'string',
        group: CONNECT,
        describe: `The MQTT password, a SAS token ("-" reads stdin) [default: $${PASSWORD_ENV}]`,
      },
      'connection-string': {
        alias: 'c',
        type: 'string',
        group: KNOWN,
        describe:
          'The identity\'s connection string ("-" reads stdin); alone, it shows what the device should send. Default: $IOTHUB_DEVICE_CONNECTION_STRING, then $IOTHUB_CONNECTION_STRING',
      },
      key: { type: 'string', group: KNOWN, describe: 'The identity\'s base64 key ("-" reads stdin)' },
      'key-file': { type: 'string', group: KNOWN, describe: 'Read the key from this file' },
      'key-env': { type: 'string', group: KNOWN, describe: 'Read the key from this environment variable' },
      'group-key': {
        type: 'string',
        group: KNOWN,
        describe: 'A DPS enrollment group key: the device key is derived from it ("-" reads stdin)',
      },
      host: {
        type: 'string',
        group: KNOWN,
        describe: "The hub's host name [default: the connection string's]",
      },
      'id-scope': { type: 'string', group: KNOWN, describe: 'The DPS ID scope, for a DPS CONNECT' },
      x509: {
        type: 'boolean',
        group: KNOWN,
        describe: 'The identity authenticates with an X.509 certificate',
      },
      cert: {
        type: 'string',
        group: KNOWN,
        describe:
          "X.509 CA: the device's client certificate file (PEM, then its intermediates), checked against --ca",
      },
      ca: {
        type: 'string',
        array: true,
        group: KNOWN,
        describe: 'X.509 CA: a CA certificate file (PEM) the hub has registered and verified (repeatable)',
      },
      'clock-skew': {
        type: 'number',
        group: KNOWN,
        describe: 'Seconds of clock skew allowed past expiry [default: 300]',
      },
      'renew-after': {
        type: 'string',
        group: KNOWN,
        describe:
          'When the device renews its token after connecting, like 45m: warn if the token expires sooner',
      },
      json: { type: 'boolean', describe: 'Print one JSON document' },
    })
    .conflicts('connection-string', ['key', 'key-file', 'key-env'])
    .conflicts('key', ['key-file', 'key-env'])
    .conflicts('key-file', 'key-env')
    .check((argv) => {
      const skew = argv['clock-skew']
      if (skew !== undefined && !(Number.isSafeInteger(skew) && skew >= 0))
        throw new UsageError('--clock-skew must be a whole number of seconds, 0 or more.')
      return true
    })
    .example('$0 doctor -c "$DEVICE_CS"', 'What the device should send, checked')
    .example(
      '$0 doctor --client-id dev1 --username "$U" --key-env DEVICE_KEY',
      `Why the hub refuses what a device sends (the password in $${PASSWORD_ENV})`,
    )
    .example(
      '$0 doctor -c "HostName=$HUB;DeviceId=cam1;x509=true" --cert cam1.pem --ca root.pem',
      "An X.509 CA-signed device: its certificate's chain, dates and CN, as the hub checks them",
    )
    .example(
      '$0 doctor --client-id "$REG" --username "$U" --password - --group-key "$GROUP_KEY" --json < token',
      'A DPS CONNECT, as JSON; exit 1 if refused',
    )
}

/** What `doctor --json` prints. */
interface Report {
  /** `false` when the hub would refuse the CONNECT (an error finding). */
  ok: boolean
  /** With a device or module connection string: what the device should send, the password described. */
  expected?: {
    host: string
    port: number
    clientId: string
    username: string
    password: Omit<TokenSummary, 'token'> | null
  }
  findings: Array<Finding | CertificateFinding>
}

/** The one `-` stdin can serve. */
function checkStdin(args: DoctorArgs): void {
  const readers = (['connectionString', 'key', 'groupKey', 'password'] as const).filter(
    (n) => args[n] === '-',
  )
  if (readers.length > 1) {
    throw new UsageError(
      'only one option can read stdin ("-"): give the others by value, file or environment.',
    )
  }
}

/** The password: `--password` (or `-`), else the environment; its signature is registered as a secret. */
async function readPassword(args: DoctorArgs): Promise<string | undefined> {
  const password = args.password === undefined ? process.env[PASSWORD_ENV] : await valueOrStdin(args.password)
  const sig = password === undefined ? undefined : /sig=([^&\s]+)/.exec(password)?.[1]
  if (sig !== undefined && sig.length >= 8) {
    registerSecret(sig)
    try {
      registerSecret(decodeURIComponent(sig))
    } catch {
      // not percent-encoded: registered as it is
    }
  }
  return password === '' && args.password === undefined ? undefined : password
}

/**
 * What the device should send, for a device or module string. When the CONNECT is given, a
 * string that cannot make one (an expired SharedAccessSignature) only loses the `expected` part.
 */
function expectedCredentials(cs: ConnectionString, now: number, sent: boolean): MqttCredentials | undefined {
  if (cs.kind === 'service') return undefined
  try {
    return mqttCredentials(cs, { now })
  } catch (err) {
    if (sent && err instanceof SasTokenError) return undefined
    throw err
  }
}

/** The CONNECT given by the options. */
async function sentConnect(args: DoctorArgs): Promise<MqttConnect> {
  const password = await readPassword(args)
  return {
    clientId: args.clientId ?? '',
    username: args.username ?? '',
    ...(password !== undefined && { password }),
  }
}

/** What the device should send, with the password described (never shown). */
function describeExpected(credentials: MqttCredentials, now: number): NonNullable<Report['expected']> {
  let password: Omit<TokenSummary, 'token'> | null = null
  if (credentials.password !== undefined) {
    const { token: _secret, ...summary } = summarizeToken(
      { token: credentials.password, ...parseSasToken(credentials.password) },
      now,
    )
    password = summary
  }
  return {
    host: credentials.host,
    port: credentials.port,
    clientId: credentials.clientId,
    username: credentials.username,
    password,
  }
}

/** What the hub knows, from the options, for the core call. */
function diagnosisOptions(
  args: DoctorArgs,
  known: {
    now: number
    cs?: ConnectionString | undefined
    key?: string | undefined
    groupKey?: string | undefined
  },
): DiagnoseConnectOptions {
  return {
    now: known.now,
    ...(known.cs !== undefined && { connectionString: known.cs }),
    ...(known.key !== undefined && { key: known.key }),
    ...(known.groupKey !== undefined && { groupKey: known.groupKey }),
    ...(args.host !== undefined && { hubHostName: args.host }),
    ...(args.idScope !== undefined && { idScope: args.idScope }),
    ...((args.x509 === true || args.cert !== undefined) && { x509: true }),
    ...(args.clockSkew !== undefined && { clockSkewSeconds: args.clockSkew }),
    ...(args.renewAfter !== undefined && { renewAfterSeconds: parseTtl(args.renewAfter) }),
  }
}

/** The exit-1 error when a finding is an error: its code is the first error's. */
function refusal(
  findings: ReadonlyArray<Finding | CertificateFinding>,
): (Error & { code: string }) | undefined {
  const errors = findings.filter((f) => f.severity === 'error')
  const first = errors[0]
  if (first === undefined) return undefined
  const count = `${errors.length} error${errors.length === 1 ? '' : 's'}`
  return Object.assign(
    new Error(`the hub would refuse this CONNECT: ${count} (${errors.map((f) => f.code).join(', ')}).`),
    { code: first.code },
  )
}

function renderText(report: Report): string {
  const lines: string[] = []
  const e = report.expected
  if (e !== undefined) {
    const p = e.password
    lines.push(
      'The device should send:',
      table([
        ['host', `${e.host}:${e.port}`],
        ['clientId', e.clientId],
        ['username', e.username],
        [
          'password',
          p === null
            ? 'none (X.509: the certificate authenticates)'
            : `a ${p.kind} token for ${p.resourceUri}, expires ${p.expiresAt} (${relativeTime(p.expiresIn)})`,
        ],
      ])
        .split('\n')
        .map((line) => `  ${line}`)
        .join('\n'),
      '',
    )
  }
  if (report.findings.length === 0) lines.push('ok: the hub would accept this CONNECT.')
  for (const f of report.findings) lines.push(`${f.severity}: ${f.code}: ${f.message}`)
  return lines.join('\n')
}

/** A file given to an option, as text. */
async function readOptionFile(option: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (cause) {
    throw new UsageError(
      `${option} ${file}: cannot read it (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}).`,
    )
  }
}

/** X.509 CA: the hub's checks of the client certificate for the CONNECT's identity. */
async function certificateFindings(
  certFile: string,
  caFiles: readonly string[],
  connect: MqttConnect,
  now: number,
): Promise<CertificateFinding[]> {
  const cert = await readOptionFile('--cert', certFile)
  const cas = await Promise.all(caFiles.map((f) => readOptionFile('--ca', f)))
  const [deviceId = '', moduleId] = connect.clientId.split('/')
  const { diagnoseClientCertificate } = await loadHub()
  return diagnoseClientCertificate(
    cert,
    cas,
    moduleId === undefined ? { deviceId, now } : { deviceId, moduleId, now },
  )
}

async function handler(args: ArgumentsCamelCase<DoctorArgs>): Promise<void> {
  checkStdin(args)
  const text =
    args.connectionString === undefined
      ? connectionStringFromEnv()?.value
      : await valueOrStdin(args.connectionString)
  let cs: ConnectionString | undefined
  if (text !== undefined) {
    cs = parseConnectionString(text)
    registerSecret(cs.sharedAccessKey)
  }
  const key = (await readKey(args))?.value
  const groupKey = args.groupKey === undefined ? undefined : await valueOrStdin(args.groupKey)
  registerSecret(groupKey)
  const now = nowMs()

  const sent = args.clientId !== undefined || args.username !== undefined || args.password !== undefined
  if (sent && (args.clientId === undefined || args.username === undefined)) {
    throw new UsageError('give both --client-id and --username (and the password), as the device sends them.')
  }
  const credentials = cs === undefined ? undefined : expectedCredentials(cs, now, sent)
  const connect = sent ? await sentConnect(args) : credentials
  if (connect === undefined) {
    throw new UsageError(
      cs === undefined
        ? `give what the device sends (--client-id, --username, --password or $${PASSWORD_ENV}), or -c with its connection string.`
        : '-c alone needs a device or module connection string; with this service string, give --client-id, --username and --password.',
    )
  }

  const findings: Array<Finding | CertificateFinding> = diagnoseConnect(
    connect,
    diagnosisOptions(args, { now, cs, key, groupKey }),
  )
  if (args.cert !== undefined)
    findings.push(...(await certificateFindings(args.cert, args.ca ?? [], connect, now)))
  const report: Report = {
    ok: !findings.some((f) => f.severity === 'error'),
    ...(credentials !== undefined && { expected: describeExpected(credentials, now) }),
    findings,
  }
  writeValue(scrub(args.json === true ? JSON.stringify(report, null, 2) : renderText(report)))

  const refused = refusal(findings)
  if (refused !== undefined) process.exitCode = renderError(refused, args.json === true)
}

/** The `doctor` command module. */
export const doctor: CommandModule<object, DoctorArgs> = {
  command: 'doctor',
  describe: "Explain why IoT Hub or DPS would refuse a device's MQTT CONNECT",
  builder,
  handler,
}
