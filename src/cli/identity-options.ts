/**
 * The identity and expiry options that `generate` and `mqtt` share, their conflicts, and the
 * pure mapping from the parsed options (and the values they point at, read by input.ts) to one
 * {@link SigningIdentity}.
 *
 * An identity is given in one of these ways; yargs refuses mixtures (`.conflicts()`):
 * - `--dps --id-scope --registration-id` with `--key` or `--group-key`;
 * - `-c/--connection-string` (`-` reads stdin), optionally with `--device-id`/`--module-id` when
 *   it is a service (policy) string, or with `--resource`; a Service Bus-family string
 *   (`Endpoint=sb://…`) optionally with `--audience`;
 * - parts: `--host --device-id [--module-id]` (or `--host --key-name` for a policy) and a key;
 * - `--resource <uri>` and a key;
 * - the environment: `IOTHUB_DEVICE_CONNECTION_STRING`, then `IOTHUB_CONNECTION_STRING` (not in
 *   batch mode, where no identity means that stdin holds connection strings).
 *
 * @module
 */
import type { Argv, Options } from 'yargs'
import { parseConnectionString, type ConnectionString } from '../connection-string.js'
import { SasTokenError } from '../errors.js'
import { decodeKey } from '../keys.js'
import { UsageError } from './errors.js'
import { hasKey, type IdentityInputs, type Sourced } from './input.js'
import { withSharedChecks } from './options.js'

const IDENTITY = 'Identity:'
const EXPIRY = 'Expiry:'

/** `--key`, `--key-file`, `--key-env`: where a key comes from (also used by `inspect`). */
export const keyOptions = {
  key: {
    type: 'string',
    group: IDENTITY,
    describe: 'Base64 key: the device key, or the policy key with --key-name ("-" reads stdin)',
  },
  'key-file': { type: 'string', group: IDENTITY, describe: 'Read the key from this file' },
  'key-env': { type: 'string', group: IDENTITY, describe: 'Read the key from this environment variable' },
} as const satisfies Record<string, Options>

/** Every way to name the identity a token is for. */
export const identityOptions = {
  'connection-string': {
    alias: 'c',
    type: 'string',
    group: IDENTITY,
    describe:
      'Device, module or service connection string, or an Endpoint=sb://… one ("-" reads stdin). Default (not with --batch): $IOTHUB_DEVICE_CONNECTION_STRING, then $IOTHUB_CONNECTION_STRING',
  },
  host: {
    type: 'string',
    group: IDENTITY,
    describe: 'Hub host name, like myhub.azure-devices.net (DPS: the provisioning endpoint)',
  },
  'device-id': {
    type: 'string',
    group: IDENTITY,
    describe: 'Device id (with --host, or with a service connection string)',
  },
  'module-id': { type: 'string', group: IDENTITY, describe: 'Module id' },
  ...keyOptions,
  'key-name': {
    type: 'string',
    group: IDENTITY,
    describe: 'Shared access policy name: makes a policy token (skn)',
  },
  resource: {
    type: 'string',
    group: IDENTITY,
    describe: 'Sign any resource URI, like myhub.azure-devices.net/devices',
  },
  audience: {
    type: 'string',
    group: IDENTITY,
    describe:
      'With an Endpoint=sb://… connection string: sign this resource URI instead, like https://myns.servicebus.windows.net/myhub',
  },
  dps: {
    type: 'boolean',
    group: IDENTITY,
    describe: 'A DPS registration token (with --id-scope and --registration-id)',
  },
  'id-scope': { type: 'string', group: IDENTITY, describe: 'DPS ID scope, like 0ne00000A0A' },
  'registration-id': { type: 'string', group: IDENTITY, describe: 'DPS registration id' },
  'group-key': {
    type: 'string',
    group: IDENTITY,
    describe: 'DPS enrollment group key: derives the device key',
  },
} as const satisfies Record<string, Options>

/** `--ttl` (alias `--duration`/`--du`, as az spells it) and `--expires-at`. */
export const expiryOptions = {
  ttl: {
    type: 'string',
    alias: ['duration', 'du'],
    group: EXPIRY,
    describe:
      'Lifetime: seconds, or 90s, 15m, 24h, 7d [default: 1h] (alias --duration, --du: seconds, as in az)',
  },
  'expires-at': {
    type: 'string',
    group: EXPIRY,
    describe: 'Absolute expiry: ISO 8601 (2030-01-01T00:00Z) or epoch seconds',
  },
} as const satisfies Record<string, Options>

/** The options that name a DPS registration; none of them fits a hub identity. */
const DPS_OPTIONS = ['dps', 'id-scope', 'registration-id', 'group-key'] as const

/** Adds the identity and expiry options, and the mode conflicts, to a command. */
export function withIdentityOptions<T>(y: Argv<T>) {
  let out = withSharedChecks(y)
    .options(identityOptions)
    .options(expiryOptions)
    .conflicts('connection-string', ['host', 'key', 'key-file', 'key-env', 'key-name', ...DPS_OPTIONS])
    .conflicts('resource', ['host', 'device-id', 'module-id', 'audience', ...DPS_OPTIONS])
    .conflicts('audience', ['host', 'device-id', 'module-id', ...DPS_OPTIONS])
    .conflicts('key', ['key-file', 'key-env', 'group-key'])
    .conflicts('key-file', ['key-env', 'group-key'])
    .conflicts('key-env', 'group-key')
    .conflicts('ttl', 'expires-at')
  for (const option of DPS_OPTIONS) out = out.conflicts(option, ['device-id', 'module-id', 'key-name'])
  return out
}

/** The parsed identity options, as the mapping reads them. */
export interface IdentityArgs {
  connectionString?: string | undefined
  host?: string | undefined
  deviceId?: string | undefined
  moduleId?: string | undefined
  key?: string | undefined
  keyFile?: string | undefined
  keyEnv?: string | undefined
  keyName?: string | undefined
  resource?: string | undefined
  audience?: string | undefined
  dps?: boolean | undefined
  idScope?: string | undefined
  registrationId?: string | undefined
  groupKey?: string | undefined
}

/** An identity, resolved from the options: what one signer needs. */
export type SigningIdentity =
  /** A device, module or service connection string; a service string may name a device. */
  | {
      type: 'connection-string'
      connectionString: ConnectionString
      deviceId?: string
      moduleId?: string
      /** With a Service Bus-family string: the resource URI to sign for instead of its own. */
      audience?: string
    }
  /** Any resource URI with a key (and a policy name for a policy token). */
  | { type: 'resource'; resourceUri: string; key: string; keyName?: string }
  /** A DPS registration; in batch mode the registration ids come from stdin. */
  | { type: 'dps'; idScope: string; registrationId?: string; key?: string; groupKey?: string; host?: string }

/** `true` when the options name a DPS registration. */
export function isDps(args: IdentityArgs): boolean {
  return args.dps === true || args.idScope !== undefined || args.groupKey !== undefined
}

/**
 * Whether a run may fall back to the connection string in the environment: not in batch mode,
 * and only when no option names another identity.
 */
export function usesEnvironment(args: IdentityArgs, batch: boolean): boolean {
  return (
    !batch &&
    args.connectionString === undefined &&
    args.host === undefined &&
    args.keyName === undefined &&
    !isDps(args) &&
    !hasKey(args)
  )
}

/**
 * Runs `fn` on a value that came from somewhere: an error it throws names the source (an
 * environment variable, a key file), keeping its code, with the source as a fact.
 */
function from<T>(source: Sourced, fn: (value: string) => T): T {
  try {
    return fn(source.value)
  } catch (err) {
    if (!(err instanceof SasTokenError) || !source.from.startsWith('$')) throw err
    throw new SasTokenError(err.code, `${source.from}: ${err.message}`, {
      cause: err,
      facts: { ...err.facts, source: source.from },
    })
  }
}

/** A key, checked now when it came from the environment, so that its error names the variable. */
function checkedKey(key: Sourced): string {
  if (key.from.startsWith('$')) from(key, (value) => decodeKey(value, `the key in ${key.from}`))
  return key.value
}

/** Options of {@link resolveIdentity}. */
export interface ResolveOptions {
  /** Batch mode: the device or registration ids come from stdin, so none may be given here. */
  batch?: boolean
}

/**
 * Maps the identity options, and the values they point at, to one {@link SigningIdentity}: pure, no
 * reading, no secrets registered. `undefined` when no identity was given at all (the caller
 * then goes interactive, reads connection strings in batch mode, or reports a usage error).
 * Mixtures of modes were refused by yargs (`.conflicts()`); this checks what is missing.
 *
 * @throws {UsageError} When options are missing or do not fit the identity.
 * @throws {SasTokenError} When a value is invalid (a bad connection string), naming the
 *   environment variable it came from.
 */
export function resolveIdentity(
  args: IdentityArgs,
  inputs: IdentityInputs,
  o: ResolveOptions = {},
): SigningIdentity | undefined {
  const batch = o.batch === true
  const { key, groupKey } = inputs

  if (isDps(args)) {
    if (args.idScope === undefined) throw new UsageError('a DPS token needs --id-scope.')
    if (batch && args.registrationId !== undefined)
      throw new UsageError('--registration-id: in --batch mode the registration ids come from stdin.')
    if (!batch && args.registrationId === undefined)
      throw new UsageError('a DPS token needs --registration-id.')
    if (batch && groupKey === undefined)
      throw new UsageError('--batch with --dps needs --group-key, to derive each device key.')
    if (key === undefined && groupKey === undefined)
      throw new UsageError('a DPS token needs --key (the device key) or --group-key.')
    return {
      type: 'dps',
      idScope: args.idScope,
      ...(args.registrationId !== undefined && { registrationId: args.registrationId }),
      ...(key !== undefined && { key: checkedKey(key) }),
      ...(groupKey !== undefined && { groupKey: groupKey.value }),
      ...(args.host !== undefined && { host: args.host }),
    }
  }
  if (args.registrationId !== undefined) throw new UsageError('--registration-id needs --dps and --id-scope.')

  const text = inputs.connectionString
  if (text !== undefined) {
    const cs = from(text, parseConnectionString)
    if (cs.kind === 'service-bus') {
      if (args.resource !== undefined)
        throw new UsageError(
          '--resource signs with the key base64-decoded, as IoT Hub does; an Endpoint=sb://… key signs as text: use --audience.',
        )
      return {
        type: 'connection-string',
        connectionString: cs,
        ...(args.audience !== undefined && { audience: args.audience }),
      }
    }
    if (args.audience !== undefined)
      throw new UsageError(
        '--audience needs an Endpoint=sb://… connection string; for IoT Hub, use --resource.',
      )
    if (args.resource !== undefined) {
      if (cs.sharedAccessKey === undefined)
        throw new SasTokenError(
          'ERR_KEY_REQUIRED',
          '--resource needs a connection string with a SharedAccessKey.',
        )
      return resourceIdentity(args.resource, cs.sharedAccessKey, cs.sharedAccessKeyName)
    }
    if (cs.kind !== 'service') {
      if (args.deviceId !== undefined || args.moduleId !== undefined) {
        throw new UsageError(
          `--${args.deviceId !== undefined ? 'device-id' : 'module-id'} cannot be combined with a ${cs.kind} connection string, which already names the ${cs.kind}.`,
        )
      }
    } else if (batch && (args.deviceId !== undefined || args.moduleId !== undefined)) {
      throw new UsageError('--device-id: in --batch mode the device ids come from stdin.')
    } else if (args.moduleId !== undefined && args.deviceId === undefined) {
      throw new UsageError('--module-id needs --device-id.')
    }
    return {
      type: 'connection-string',
      connectionString: cs,
      ...(args.deviceId !== undefined && { deviceId: args.deviceId }),
      ...(args.moduleId !== undefined && { moduleId: args.moduleId }),
    }
  }

  if (args.host !== undefined) {
    if (key === undefined) throw new UsageError('--host needs a key: --key, --key-file or --key-env.')
    const sharedAccessKey = checkedKey(key)
    if (args.keyName !== undefined) {
      if (batch && (args.deviceId !== undefined || args.moduleId !== undefined))
        throw new UsageError('--device-id: in --batch mode the device ids come from stdin.')
      return {
        type: 'connection-string',
        connectionString: {
          kind: 'service',
          hostName: args.host,
          sharedAccessKeyName: args.keyName,
          sharedAccessKey,
        },
        ...(args.deviceId !== undefined && { deviceId: args.deviceId }),
        ...(args.moduleId !== undefined && { moduleId: args.moduleId }),
      }
    }
    if (args.deviceId === undefined)
      throw new UsageError('--host needs --device-id (or --key-name for a policy token).')
    const connectionString: ConnectionString =
      args.moduleId === undefined
        ? { kind: 'device', hostName: args.host, deviceId: args.deviceId, sharedAccessKey }
        : {
            kind: 'module',
            hostName: args.host,
            deviceId: args.deviceId,
            moduleId: args.moduleId,
            sharedAccessKey,
          }
    return { type: 'connection-string', connectionString }
  }

  if (args.resource !== undefined) {
    if (key === undefined)
      throw new UsageError('--resource needs a key: --key, --key-file or --key-env, or a connection string.')
    return resourceIdentity(args.resource, checkedKey(key), args.keyName)
  }
  if (key !== undefined || args.keyName !== undefined) {
    throw new UsageError(
      'a key needs --host and --device-id (or --key-name), or --resource, to say what it signs for.',
    )
  }
  if (args.deviceId !== undefined || args.moduleId !== undefined) {
    throw new UsageError(
      '--device-id needs --host and a key, or a service connection string (-c or $IOTHUB_CONNECTION_STRING).',
    )
  }
  return undefined
}

function resourceIdentity(resourceUri: string, key: string, keyName: string | undefined): SigningIdentity {
  return { type: 'resource', resourceUri, key, ...(keyName !== undefined && { keyName }) }
}
