/**
 * `sas-token hub`: starts a local IoT Hub + DPS in the foreground and logs every event (human
 * lines on stdout, or NDJSON with `--json`, the first line `{"event":"ready",…}`). Ctrl-C or
 * SIGTERM closes it and writes its state. The `hub …` subcommands talk to a running hub.
 *
 * @module
 */
import { readFile } from 'node:fs/promises'
import { parseTtl } from '../../expiry.js'
import { assertKey } from '../../keys.js'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Argv, CommandModule } from 'yargs'
import type { ArgsOf, OptionsOf } from '../command.js'
import { loadHub } from '../load-hub.js'
import { withLocalConflict, withSharedChecks } from '../options.js'
import { UsageError } from '../errors.js'
import { warn, writeValue } from '../output.js'
import { registerSecret } from '../secrets.js'
import { escapeTerminal } from '../escape-terminal.js'
import { onStdoutGone, stdoutGone } from '../stdout-gone.js'
import { renderHubEvent } from '../render-hub-event.js'
import { withHubSubcommands } from './hub/index.js'
import { DEFAULT_PORTS } from '../../hub/default-ports.js'
import type { HubEvent, HubEvents } from '../../hub/events.js'
import type { ReadyDocument } from '../../hub/ready.js'

/** The console's default port (`--console-port`); when taken, a free one is used instead. */
const DEFAULT_CONSOLE_PORT = DEFAULT_PORTS.console

/**
 * The default state directory: `$XDG_STATE_HOME/sas-token/hub`, else
 * `~/.local/state/sas-token/hub` (`%LOCALAPPDATA%\sas-token\hub` on Windows).
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'sas-token', 'hub')
  if (process.platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'sas-token', 'hub')
  return join(homedir(), '.local', 'state', 'sas-token', 'hub')
}

function port(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new UsageError(`--${name} must be a port from 0 to 65535 (0 picks a free one).`)
  }
  return value
}

function builder(y: Argv) {
  return (
    withLocalConflict(withHubSubcommands(withSharedChecks(y)), 'in-memory', 'state-dir')
      // Not global: the start options are not the subcommands' (`hub watch --device` is one id).
      .options({
        json: {
          global: false,
          type: 'boolean',
          describe: 'Log NDJSON on stdout; the first line is {"event":"ready",…}',
        },
        device: {
          global: false,
          type: 'string',
          array: true,
          describe: 'Create this device at start and print its connection string (repeatable)',
        },
        'mqtt-port': {
          global: false,
          type: 'number',
          describe: `MQTT over TLS port (DPS too); 0 picks a free one [default: ${DEFAULT_PORTS.mqtt}, off with a warning when taken]`,
        },
        'https-port': {
          global: false,
          type: 'number',
          describe: `HTTPS port: REST API, MQTT and AMQP over WebSocket; 0 picks a free one; not root: 8443 [default: ${DEFAULT_PORTS.https}, off with a warning when it cannot be bound]`,
        },
        'amqp-port': {
          global: false,
          type: 'number',
          describe: `AMQP over TLS port (AMQP devices, service C2D, the Event Hub-compatible endpoint); 0 picks a free one [default: ${DEFAULT_PORTS.amqp}, off with a warning when taken]`,
        },
        amqp: {
          global: false,
          type: 'boolean',
          describe: 'Serve AMQP over TLS (--no-amqp: no AMQP/TLS port) [default: true]',
        },
        'amqp-plain-port': {
          global: false,
          type: 'number',
          describe: `Plain AMQP port, on the loopback address only (UseDevelopmentEmulator=true); 0 picks a free one [default: ${DEFAULT_PORTS.amqpPlain}, off with a warning when taken]`,
        },
        'amqp-plain': {
          global: false,
          type: 'boolean',
          describe: 'Serve plain AMQP on the loopback address (--no-amqp-plain: none) [default: true]',
        },
        tier: {
          global: false,
          type: 'string',
          describe:
            "Throttle as IoT Hub's tier does, NAME[:UNITS]: F1, S1, S2 or S3 (S1:4 = four S1 units): its documented rates and daily quota, answered with IoT Hub's errors [default: none, nothing throttled]",
        },
        partitions: {
          global: false,
          type: 'number',
          describe:
            'Partitions of the Event Hub-compatible endpoint, 1 to 128 (a state directory keeps its count) [default: 4]',
        },
        'consumer-group': {
          global: false,
          type: 'string',
          array: true,
          describe: 'A consumer group of the Event Hub-compatible endpoint besides $Default (repeatable)',
        },
        'retention-messages': {
          global: false,
          type: 'number',
          describe: 'Device-to-cloud messages kept per partition [default: 10000]',
        },
        'retention-age': {
          global: false,
          type: 'string',
          describe: 'How long device-to-cloud messages are kept: seconds, or 90s, 15m, 24h, 7d [default: 1d]',
        },
        'host-name': {
          global: false,
          type: 'string',
          describe: 'The HostName devices use, added to the certificate [default: localhost]',
        },
        'state-dir': {
          global: false,
          type: 'string',
          describe:
            'Where registry, twins, queued C2D, sessions and the CA are kept [default: ~/.local/state/sas-token/hub]',
        },
        'in-memory': { global: false, type: 'boolean', describe: 'Keep nothing on disk' },
        bind: {
          global: false,
          type: 'string',
          describe: 'Address to listen on; beyond loopback needs --owner-key [default: 127.0.0.1]',
        },
        'owner-key': {
          global: false,
          type: 'string',
          describe:
            'The iothubowner key (base64) [env: SAS_TOKEN_HUB_OWNER_KEY; default: the documented development key]',
        },
        'id-scope': { global: false, type: 'string', describe: 'The DPS ID scope [default: 0ne00000000]' },
        'x509-ca': {
          global: false,
          type: 'string',
          array: true,
          describe:
            'Register this X.509 CA certificate (PEM file), verified, for certificateAuthority devices (repeatable)',
        },
        console: {
          global: false,
          type: 'boolean',
          describe: 'Serve the web console on 127.0.0.1 (--no-console: none) [default: true]',
        },
        'console-port': {
          global: false,
          type: 'number',
          describe: `The web console's port; 0 picks a free one [default: ${DEFAULT_CONSOLE_PORT}, or a free one when taken]`,
        },
      })
      .example('$0 hub --device dev1', 'Start a hub with device dev1 and print its connection string')
      .example(
        '$0 hub --json --in-memory --mqtt-port 0 --https-port 0',
        'For scripts: NDJSON events, free ports, nothing kept',
      )
  )
}

function trustHelp(caPath: string): string {
  return [
    'Trust the hub CA:',
    `  Node SDKs:  export NODE_EXTRA_CA_CERTS=${caPath}`,
    `  mosquitto:  mosquitto_sub … --cafile ${caPath}`,
    `  paho:       client.tls_set(ca_certs="${caPath}")`,
  ].join('\n')
}

/** `--retention-age` in seconds. */
function retentionAge(text: string): number {
  try {
    return parseTtl(text)
  } catch {
    throw new UsageError(
      `--retention-age ${text}: give seconds, or a number with s, m, h or d (90s, 15m, 24h, 7d).`,
    )
  }
}

/** A `--x509-ca` file's text. */
async function readCaFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (cause) {
    throw new UsageError(
      `--x509-ca ${file}: cannot read it (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); give the path of the CA certificate, PEM.`,
    )
  }
}

/**
 * `--tier S1:4` as the hub's `tier` option; the hub checks the name and units (a malformed
 * unit count reads as `NaN`, which it refuses).
 */
function tierOption(text: string): { name: 'F1' | 'S1' | 'S2' | 'S3'; units?: number } {
  const [name = '', units, ...rest] = text.trim().split(':')
  return {
    name: name.toUpperCase() as 'F1' | 'S1' | 'S2' | 'S3',
    ...(units === undefined && rest.length === 0
      ? {}
      : { units: rest.length === 0 && /^\d+$/.test(units ?? '') ? Number(units) : Number.NaN }),
  }
}

/** The human lines of the `ready` document. */
function readyLines(ready: ReadyDocument): string {
  const port = (p: number): string => (p === 0 ? 'off' : String(p))
  const lines = [
    `sas-token hub ready: ${ready.hostName}  MQTT/TLS :${port(ready.ports.mqtt)}  HTTPS+WebSocket :${port(ready.ports.https)}  AMQP/TLS :${port(ready.ports.amqp)}  AMQP (loopback) :${port(ready.ports.amqpPlain)}  DPS ID scope ${ready.idScope}`,
    `Hub connection string: ${ready.hubConnectionString}`,
    `DPS connection string: ${ready.dpsConnectionString}`,
  ]
  if (ready.eventHubConnectionString !== null)
    lines.push(`Event Hub-compatible endpoint: ${ready.eventHubConnectionString}`)
  if (ready.eventHubDevelopmentConnectionString !== null)
    lines.push(`Event Hub-compatible endpoint, plain AMQP: ${ready.eventHubDevelopmentConnectionString}`)
  for (const [id, cs] of Object.entries(ready.devices)) lines.push(`Device ${id}: ${cs}`)
  if (ready.tier !== undefined)
    lines.push(
      `Tier: ${ready.tier.name} × ${ready.tier.units} (IoT Hub's documented throttles; ${ready.tier.messagesPerDay} messages a day, metered in ${ready.tier.meterBytes}-byte chunks)`,
    )
  lines.push(`State: ${ready.stateDir ?? 'in memory (nothing kept)'}`)
  if (ready.consoleUrl !== null)
    lines.push(`Console: ${ready.consoleUrl}  (open it in a browser; the token is its key)`)
  lines.push(
    ready.caPath === null ? `CA certificate (in memory):\n${ready.ca ?? ''}` : trustHelp(ready.caPath),
  )
  lines.push('Ctrl-C stops the hub.')
  return lines.join('\n')
}

/**
 * The hub's log on stdout: human lines, or NDJSON with `--json`; warnings also on stderr. It
 * loses nothing: while stdout is over its highWaterMark the hub reads no device socket, so
 * nothing is acknowledged that is not logged, and stdout's buffer stays bounded. Until
 * `start` (the ready line is out), warnings go to stderr only and nothing to stdout, so
 * the ready line is the first (the start's warnings: a default port off, the console moved).
 */
function stdoutLog(json: boolean): { onEvent(e: HubEvent): void; start(events: HubEvents): void } {
  let events: HubEvents | undefined
  const sink = { sink: 'stdout' }
  let behind = false
  const caughtUp = (): void => {
    behind = false
    events?.caughtUp(sink)
  }
  return {
    onEvent(e) {
      if (stdoutGone.aborted) return
      if (e.event === 'warning') warn(escapeTerminal(e.message))
      if (events === undefined || e.event === 'ready' || (e.event === 'warning' && !json)) return
      if (writeValue(json ? JSON.stringify(e) : renderHubEvent(e)) || behind) return
      behind = true
      events.behind(sink)
      process.stdout.once('drain', caughtUp)
    },
    start(hubEvents) {
      events = hubEvents
    },
  }
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const ownerKey = args.ownerKey ?? process.env.SAS_TOKEN_HUB_OWNER_KEY
  registerSecret(ownerKey)
  // Named by its source: the hub itself only knows it as its ownerKey option.
  if (ownerKey !== undefined)
    assertKey(ownerKey, args.ownerKey === undefined ? 'SAS_TOKEN_HUB_OWNER_KEY' : '--owner-key')
  const mqttPort = port(args.mqttPort, 'mqtt-port')
  const httpsPort = port(args.httpsPort, 'https-port')
  const amqpPort = port(args.amqpPort, 'amqp-port')
  const amqpPlainPort = port(args.amqpPlainPort, 'amqp-plain-port')
  const consolePort = port(args.consolePort, 'console-port')
  const retention = {
    ...(args.retentionMessages === undefined ? {} : { maxMessages: args.retentionMessages }),
    ...(args.retentionAge === undefined ? {} : { maxAgeSeconds: retentionAge(args.retentionAge) }),
  }
  const x509Ca = await Promise.all((args.x509Ca ?? []).map((file) => readCaFile(file)))
  const { startHubWithConsole } = await loadHub()
  const stateDir = args.inMemory ? undefined : (args.stateDir ?? defaultStateDir())

  const log = stdoutLog(args.json === true)
  const started = await startHubWithConsole({
    ...(stateDir === undefined ? { inMemory: true } : { stateDir }),
    ...(mqttPort === undefined ? {} : { mqttPort }),
    ...(httpsPort === undefined ? {} : { httpsPort }),
    ...(args.amqp === false ? { amqpPort: false } : amqpPort === undefined ? {} : { amqpPort }),
    ...(args.amqpPlain === false
      ? { amqpPlainPort: false }
      : amqpPlainPort === undefined
        ? {}
        : { amqpPlainPort }),
    ...(args.hostName === undefined ? {} : { hostName: args.hostName }),
    ...(args.bind === undefined ? {} : { host: args.bind }),
    ...(ownerKey === undefined ? {} : { ownerKey }),
    ...(args.idScope === undefined ? {} : { idScope: args.idScope }),
    devices: args.device ?? [],
    ...(args.partitions === undefined ? {} : { partitions: args.partitions }),
    ...(args.tier === undefined ? {} : { tier: tierOption(args.tier) }),
    ...(args.consumerGroup === undefined ? {} : { consumerGroups: args.consumerGroup }),
    retention,
    x509Ca,
    console: args.console === false ? false : consolePort === undefined ? {} : { port: consolePort },
    onEvent: log.onEvent,
  })
  if (started.console) registerSecret(started.console.token)
  // Ctrl-C, SIGTERM, or a log reader that has gone (`sas-token hub --json | head -1`) close the
  // hub from the moment the ready line is out (a script may signal as soon as it reads it); a
  // state that could not be written on close fails the command.
  const stopped = new Promise<void>((resolve, reject) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      stopListening()
      started.close().then(() => resolve(), reject)
    }
    const stopListening = onStdoutGone(stop)
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  const { ready } = started
  writeValue(args.json ? JSON.stringify(ready) : readyLines(ready))
  log.start(started.hub.events)
  await stopped
}

/** The `hub` command module. */
export const hub: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'hub',
  describe: 'Run a local IoT Hub + DPS emulator (subcommands talk to a running one)',
  builder,
  handler,
}
