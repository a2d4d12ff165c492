/**
 * `sas-token hub`: starts a local IoT Hub + DPS in the foreground and logs every event (human
 * lines on stdout, or NDJSON with `--json`, the first line `{"event":"ready",…}`). Ctrl-C or
 * SIGTERM closes it and writes its state. The `hub …` subcommands talk to a running hub.
 *
 * @module
 */
import { readFile } from 'node:fs/promises'
import { assertKey } from '../../keys.js'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Argv, CommandModule } from 'yargs'
import type { ArgsOf, OptionsOf } from '../command.js'
import { loadHub } from '../load-hub.js'
import { withLocalConflict, withSharedChecks } from '../options.js'
import { UsageError } from '../errors.js'
import { warn, writeValue } from '../output.js'
import { onStdoutGone, stdoutGone } from '../stdout-gone.js'
import { registerSecret } from '../secrets.js'
import { escapeTerminal } from '../escape-terminal.js'
import { renderHubEvent } from '../render-hub-event.js'
import { withHubSubcommands } from './hub/index.js'

/** The console's default port (`--console-port`); when taken, a free one is used instead. */
export const DEFAULT_CONSOLE_PORT = 8884

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
          describe: 'MQTT over TLS port (DPS too); 0 picks a free one [default: 8883]',
        },
        'https-port': {
          global: false,
          type: 'number',
          describe: 'HTTPS port: REST API and MQTT over WebSocket; 0 picks a free one [default: 443]',
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

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const ownerKey = args.ownerKey ?? process.env.SAS_TOKEN_HUB_OWNER_KEY
  registerSecret(ownerKey)
  // Named by its source: the hub itself only knows it as its ownerKey option.
  if (ownerKey !== undefined)
    assertKey(ownerKey, args.ownerKey === undefined ? 'SAS_TOKEN_HUB_OWNER_KEY' : '--owner-key')
  const mqttPort = port(args.mqttPort, 'mqtt-port')
  const httpsPort = port(args.httpsPort, 'https-port')
  const consolePort = port(args.consolePort, 'console-port')
  const x509Ca = await Promise.all((args.x509Ca ?? []).map((file) => readCaFile(file)))
  const { startHub, startConsole } = await loadHub()
  const optional: Array<'mqtt' | 'https'> = []
  if (mqttPort === undefined) optional.push('mqtt')
  if (httpsPort === undefined) optional.push('https')
  const stateDir = args.inMemory ? undefined : (args.stateDir ?? defaultStateDir())
  const lines: string[] = []
  const hub = await startHub({
    ...(stateDir === undefined ? { inMemory: true } : { stateDir }),
    mqttPort: mqttPort ?? 8883,
    httpsPort: httpsPort ?? 443,
    optionalListeners: optional,
    ...(args.hostName === undefined ? {} : { hostName: args.hostName }),
    ...(args.bind === undefined ? {} : { host: args.bind }),
    ...(ownerKey === undefined ? {} : { ownerKey }),
    ...(args.idScope === undefined ? {} : { idScope: args.idScope }),
    devices: args.device ?? [],
    x509Ca,
  })
  const devices: Record<string, string> = {}
  for (const id of args.device ?? []) devices[id] = (await hub.addDevice(id)).connectionString
  const caPath = hub.caPath
  let web: Awaited<ReturnType<typeof startConsole>> | undefined
  if (args.console !== false && hub.ports.https === 0) {
    warn(
      'no web console: it fronts the HTTPS listener, which is off (choose one with --https-port, 0 for any).',
    )
  } else if (args.console !== false) {
    const consoleOptions = {
      hub,
      ...(args.bind === undefined || args.bind === '0.0.0.0' || args.bind === '::'
        ? {}
        : { hubAddress: args.bind }),
    }
    try {
      web = await startConsole({ ...consoleOptions, port: consolePort ?? DEFAULT_CONSOLE_PORT })
    } catch (err) {
      if (consolePort !== undefined) {
        await hub.close()
        throw err
      }
      warn(`console port ${DEFAULT_CONSOLE_PORT} is taken; using a free one (choose with --console-port).`)
      web = await startConsole({ ...consoleOptions, port: 0 })
    }
    registerSecret(web.token)
  }
  if (args.json) {
    writeValue(
      JSON.stringify({
        event: 'ready',
        time: new Date().toISOString(),
        hubConnectionString: hub.hubConnectionString,
        caPath: caPath ?? null,
        ca: caPath === undefined ? hub.ca : undefined,
        hostName: hub.hostName,
        idScope: hub.idScope,
        ports: hub.ports,
        stateDir: stateDir ?? null,
        consoleUrl: web?.url ?? null,
        devices,
      }),
    )
  } else {
    lines.push(
      `sas-token hub ready: ${hub.hostName}  MQTT/TLS :${hub.ports.mqtt || 'off'}  HTTPS+WebSocket :${hub.ports.https || 'off'}  DPS ID scope ${hub.idScope}`,
    )
    lines.push(`Hub connection string: ${hub.hubConnectionString}`)
    for (const [id, cs] of Object.entries(devices)) lines.push(`Device ${id}: ${cs}`)
    lines.push(`State: ${stateDir ?? 'in memory (nothing kept)'}`)
    if (web) lines.push(`Console: ${web.url}  (open it in a browser; the token is its key)`)
    lines.push(caPath === undefined ? `CA certificate (in memory):\n${hub.ca}` : trustHelp(caPath))
    lines.push('Ctrl-C stops the hub.')
    writeValue(lines.join('\n'))
  }
  // The log loses nothing: while stdout is over its highWaterMark the hub reads no device
  // socket, so nothing is acknowledged that is not logged, and stdout's buffer stays bounded.
  const log = { sink: 'stdout' }
  let behind = false
  const caughtUp = (): void => {
    behind = false
    hub.events.caughtUp(log)
  }
  hub.events.on('event', (e) => {
    if (e.event === 'ready' || stdoutGone.aborted) return
    if (e.event === 'warning') warn(escapeTerminal(e.message))
    if (e.event === 'warning' && !args.json) return
    if (writeValue(args.json ? JSON.stringify(e) : renderHubEvent(e)) || behind) return
    behind = true
    hub.events.behind(log)
    process.stdout.once('drain', caughtUp)
  })
  // A state that could not be written on close fails the command (a non-zero exit).
  // Ctrl-C, SIGTERM, or a log reader that has gone (`sas-token hub --json | head -1`): the log
  // has nobody to tell, so the hub closes as on Ctrl-C.
  await new Promise<void>((resolve, reject) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      stopListening()
      Promise.all([web?.close(), hub.close()]).then(() => resolve(), reject)
    }
    const stopListening = onStdoutGone(stop)
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

/** The `hub` command module. */
export const hub: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'hub',
  describe: 'Run a local IoT Hub + DPS emulator (subcommands talk to a running one)',
  builder,
  handler,
}
