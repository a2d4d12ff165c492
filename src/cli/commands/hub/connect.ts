/**
 * The options every `sas-token hub …` operator command shares (the hub connection string, the
 * endpoint, the CA, `--json`), and the one place that turns them into a {@link HubClient}.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import type { Argv, Options } from 'yargs'
import { parseConnectionString } from '../../../connection-string.js'
import { SasTokenError } from '../../../errors.js'
import { createHubClient, type HubClient } from '../../hub-client.js'
import { valueOrStdin } from '../../input.js'
import { withSharedChecks } from '../../options.js'
import { registerSecret } from '../../secrets.js'
import { UsageError } from '../../errors.js'

const HUB = 'Hub:'

/** The environment variable the hub connection string is read from. */
export const HUB_CONNECTION_STRING_ENV = 'IOTHUB_CONNECTION_STRING'
/** The environment variable that overrides the endpoint (`https://localhost:8443`). */
export const HUB_ENDPOINT_ENV = 'SAS_TOKEN_HUB_ENDPOINT'

/** `-c`, `--endpoint`, `--ca`, `--json`. */
export const hubOptions = {
  'connection-string': {
    alias: 'c',
    type: 'string',
    group: HUB,
    describe: `Hub connection string with a policy key ("-" reads stdin) [default: $${HUB_CONNECTION_STRING_ENV}]`,
  },
  endpoint: {
    type: 'string',
    group: HUB,
    describe: `The hub's HTTPS endpoint, when not https://{HostName} (port 443) [default: $${HUB_ENDPOINT_ENV}]`,
  },
  ca: {
    type: 'string',
    group: HUB,
    describe: "A PEM file of a CA to trust (the hub's ca.pem); NODE_EXTRA_CA_CERTS works too",
  },
  json: { type: 'boolean', describe: 'Print JSON (errors too, on stderr)' },
} as const satisfies Record<string, Options>

/** The parsed {@link hubOptions}. */
export interface HubArgs {
  connectionString?: string | undefined
  endpoint?: string | undefined
  ca?: string | undefined
  json?: boolean | undefined
}

/** Adds {@link hubOptions} and the shared checks to a command. */
export function withHubOptions<T>(y: Argv<T>) {
  return withSharedChecks(y).options(hubOptions)
}

/**
 * A {@link HubClient} for the hub the options name.
 *
 * @throws {UsageError} When no connection string was given.
 * @throws {SasTokenError} `ERR_CONNECTION_STRING_*` for a bad one, `ERR_KEY_REQUIRED` for a
 *   device string or one without a policy key, `ERR_INVALID_OPTION` for an unreadable --ca.
 */
export async function connectHub(args: HubArgs): Promise<HubClient> {
  const given = args.connectionString === undefined ? undefined : await valueOrStdin(args.connectionString)
  const text = given ?? process.env[HUB_CONNECTION_STRING_ENV]
  if (text === undefined || text.trim() === '')
    throw new UsageError(
      `no hub connection string: give -c "HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…" or set $${HUB_CONNECTION_STRING_ENV}.`,
    )
  const cs = parseConnectionString(text)
  registerSecret(cs.sharedAccessKey)
  if (cs.kind !== 'service' || cs.sharedAccessKeyName === undefined || cs.sharedAccessKey === undefined)
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      `the hub commands need a hub connection string with a shared access policy and its key (SharedAccessKeyName=…;SharedAccessKey=…), not a ${cs.kind === 'service' ? 'token-only' : cs.kind} connection string.`,
    )
  let ca: string | undefined
  if (args.ca !== undefined) {
    try {
      ca = readFileSync(args.ca, 'utf8')
    } catch (err) {
      throw new SasTokenError(
        'ERR_INVALID_OPTION',
        `cannot read --ca ${args.ca}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`,
      )
    }
  }
  const endpoint = args.endpoint ?? (process.env[HUB_ENDPOINT_ENV] || undefined)
  return createHubClient({
    connectionString: cs,
    ...(endpoint !== undefined && { endpoint }),
    ...(ca !== undefined && { ca }),
  })
}

/** The environment variable the DPS connection string (`provisioningserviceowner`) is read from. */
export const DPS_CONNECTION_STRING_ENV = 'DPS_CONNECTION_STRING'

/** {@link hubOptions} with `-c` for DPS's service API: the DPS connection string. */
export function withDpsOptions<T>(y: Argv<T>) {
  return withHubOptions(y).option('connection-string', {
    alias: 'c',
    type: 'string',
    group: HUB,
    describe: `DPS connection string, SharedAccessKeyName=provisioningserviceowner ("-" reads stdin) [default: $${DPS_CONNECTION_STRING_ENV}]`,
  })
}

/**
 * A {@link HubClient} for DPS's service API, with the DPS connection string of `-c` or
 * `$DPS_CONNECTION_STRING` (never the hub's: DPS takes its own policy).
 *
 * @throws {UsageError} When neither gives one.
 * @throws {SasTokenError} As {@link connectHub}.
 */
export function connectDps(args: HubArgs): Promise<HubClient> {
  const given = args.connectionString ?? (process.env[DPS_CONNECTION_STRING_ENV] || undefined)
  if (given === undefined || given.trim() === '')
    throw new UsageError(
      `no DPS connection string: give -c "HostName=…;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=…" (sas-token hub prints it at start) or set $${DPS_CONNECTION_STRING_ENV}.`,
    )
  return connectHub({ ...args, connectionString: given })
}

/** Parses a JSON option value; a usage error names the option. */
export function jsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new UsageError(`--${name} is not JSON: ${(err as Error).message}`)
  }
}
