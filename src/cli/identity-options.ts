/**
 * The identity options that `generate`, `mqtt` and `inspect` share, and the one place that turns
 * them into the input of a core call.
 *
 * An identity is given in one of these ways, checked in this order:
 * - `--dps --id-scope --registration-id` with `--key` or `--group-key`;
 * - `-c/--connection-string` (`-` reads stdin), optionally with `--device-id`/`--module-id` when
 *   it is a service (policy) string, or with `--resource`;
 * - parts: `--host --device-id [--module-id]` (or `--host --key-name` for a policy) and a key;
 * - `--resource <uri>` and a key;
 * - the environment: `IOTHUB_DEVICE_CONNECTION_STRING`, then `IOTHUB_CONNECTION_STRING` (not in
 *   batch mode, where no identity means that stdin holds connection strings).
 *
 * @module
 */
import type { Argv, Options } from 'yargs'
import { parseConnectionString, type ConnectionString } from '../connection-string.js'
import { parseExpiresAt, resolveExpiry } from '../expiry.js'
import { createDpsSasToken, createSasToken } from '../sas-token.js'
import { tokenFromConnectionString } from '../token-from-connection-string.js'
import { deriveDeviceKey } from '../keys.js'
import { SasTokenError } from '../errors.js'
import { connectionStringFromEnv, nowMs, hasKey, readKey, valueOrStdin, type KeySource } from './input.js'
import { withSharedChecks } from './options.js'
import { registerSecret, UsageError, warn } from './output.js'

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
      'Device, module or service connection string ("-" reads stdin). Default (not with --batch): $IOTHUB_DEVICE_CONNECTION_STRING, then $IOTHUB_CONNECTION_STRING',
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

/** `--ttl` and `--expires-at`. */
export const expiryOptions = {
  ttl: { type: 'string', group: EXPIRY, describe: 'Lifetime: seconds, or 90s, 15m, 24h, 7d [default: 1h]' },
  'expires-at': {
    type: 'string',
    group: EXPIRY,
    describe: 'Absolute expiry: ISO 8601 (2030-01-01T00:00Z) or epoch seconds',
  },
} as const satisfies Record<string, Options>

/** Adds the identity and expiry options, their conflicts and the shared checks, to a command. */
export function withIdentityOptions<T>(y: Argv<T>) {
  return withSharedChecks(y)
    .options(identityOptions)
    .options(expiryOptions)
    .conflicts('key', ['key-file', 'key-env', 'group-key'])
    .conflicts('key-file', ['key-env', 'group-key'])
    .conflicts('key-env', 'group-key')
    .conflicts('ttl', 'expires-at')
}

/** The parsed identity options, as yargs hands them over. */
export interface IdentityArgs extends KeySource {
  connectionString?: string | undefined
  host?: string | undefined
  deviceId?: string | undefined
  moduleId?: string | undefined
  keyName?: string | undefined
  resource?: string | undefined
  dps?: boolean | undefined
  idScope?: string | undefined
  registrationId?: string | undefined
  groupKey?: string | undefined
}

/** The parsed expiry options. */
export interface ExpiryArgs {
  ttl?: string | undefined
  expiresAt?: string | undefined
}

/** An identity, resolved from the options: what one core call needs. */
export type Identity =
  /** A device, module or service connection string; a service string may name a device. */
  | { type: 'connection-string'; connectionString: ConnectionString; deviceId?: string; moduleId?: string }
  /** Any resource URI with a key (and a policy name for a policy token). */
  | { type: 'resource'; resourceUri: string; key: string; keyName?: string }
  /** A DPS registration; in batch mode the registration ids come from stdin. */
  | { type: 'dps'; idScope: string; registrationId?: string; key?: string; groupKey?: string; host?: string }

/** Options for {@link resolveIdentity}. */
export interface ResolveOptions {
  /** Batch mode: the device or registration ids come from stdin, so none may be given here. */
  batch?: boolean
}

const given = (value: unknown): boolean => value !== undefined && value !== false

/** Fails with a usage error naming the first of `names` that was given. */
function refuse(args: Record<string, unknown>, names: string[], why: string): void {
  const name = names.find((n) => given(args[n.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())]))
  if (name !== undefined) throw new UsageError(`--${name} ${why}`)
}

/** Parses a connection string and registers its key as a secret. */
function parseSecretConnectionString(text: string): ConnectionString {
  const cs = parseConnectionString(text)
  registerSecret(cs.sharedAccessKey)
  return cs
}

/**
 * Turns the identity options into one {@link Identity}, reading keys and connection strings
 * from files, stdin or the environment as asked. `undefined` when no identity was given at all
 * (the caller then goes interactive or reports a usage error).
 *
 * @throws {UsageError} When options are missing or do not fit together.
 * @throws {SasTokenError} When a value is invalid (a bad connection string, an unreadable key).
 */
export async function resolveIdentity(
  args: IdentityArgs,
  o: ResolveOptions = {},
): Promise<Identity | undefined> {
  const a = args as Record<string, unknown>
  const batch = o.batch === true

  if (args.dps === true || args.idScope !== undefined || args.groupKey !== undefined) {
    refuse(
      a,
      ['connection-string', 'device-id', 'module-id', 'key-name', 'resource'],
      'does not apply to a DPS registration token (--dps).',
    )
    if (args.idScope === undefined) throw new UsageError('a DPS token needs --id-scope.')
    if (batch && args.registrationId !== undefined)
      throw new UsageError('--registration-id: in --batch mode the registration ids come from stdin.')
    if (!batch && args.registrationId === undefined)
      throw new UsageError('a DPS token needs --registration-id.')
    if (batch && args.groupKey === undefined)
      throw new UsageError('--batch with --dps needs --group-key, to derive each device key.')
    const key = await readKey(args)
    const groupKey = args.groupKey === undefined ? undefined : await valueOrStdin(args.groupKey)
    registerSecret(groupKey)
    if (key === undefined && groupKey === undefined)
      throw new UsageError('a DPS token needs --key (the device key) or --group-key.')
    return {
      type: 'dps',
      idScope: args.idScope,
      ...(args.registrationId !== undefined && { registrationId: args.registrationId }),
      ...(key !== undefined && { key }),
      ...(groupKey !== undefined && { groupKey }),
      ...(args.host !== undefined && { host: args.host }),
    }
  }
  refuse(a, ['registration-id'], 'needs --dps and --id-scope.')

  let text = args.connectionString === undefined ? undefined : await valueOrStdin(args.connectionString)
  if (text !== undefined) {
    refuse(
      a,
      ['host', 'key', 'key-file', 'key-env', 'key-name'],
      'cannot be combined with a connection string.',
    )
  } else if (args.host === undefined && !(args.resource !== undefined && hasKey(args))) {
    if (hasKey(args) || args.keyName !== undefined) {
      throw new UsageError(
        'a key needs --host and --device-id (or --key-name), or --resource, to say what it signs for.',
      )
    }
    // In batch mode no identity means "read connection strings from stdin": the environment
    // must not turn those lines into device ids (and echo their keys in error records).
    if (!batch) text = connectionStringFromEnv()?.value
  }

  if (text !== undefined) {
    const cs = parseSecretConnectionString(text)
    if (args.resource !== undefined) {
      refuse(a, ['device-id', 'module-id'], 'cannot be combined with --resource.')
      if (cs.sharedAccessKey === undefined)
        throw new SasTokenError(
          'ERR_KEY_REQUIRED',
          '--resource needs a connection string with a SharedAccessKey.',
        )
      return resourceIdentity(args.resource, cs.sharedAccessKey, cs.sharedAccessKeyName)
    }
    if (cs.kind !== 'service') {
      refuse(
        a,
        ['device-id', 'module-id'],
        `cannot be combined with a ${cs.kind} connection string, which already names the ${cs.kind}.`,
      )
    } else if (batch) {
      refuse(a, ['device-id', 'module-id'], 'in --batch mode the device ids come from stdin.')
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
    refuse(a, ['resource'], 'cannot be combined with --host: the resource names the host.')
    const key = await readKey(args)
    if (key === undefined) throw new UsageError('--host needs a key: --key, --key-file or --key-env.')
    if (args.keyName !== undefined) {
      if (batch) refuse(a, ['device-id', 'module-id'], 'in --batch mode the device ids come from stdin.')
      return {
        type: 'connection-string',
        connectionString: {
          kind: 'service',
          hostName: args.host,
          sharedAccessKeyName: args.keyName,
          sharedAccessKey: key,
        },
        ...(args.deviceId !== undefined && { deviceId: args.deviceId }),
        ...(args.moduleId !== undefined && { moduleId: args.moduleId }),
      }
    }
    if (args.deviceId === undefined)
      throw new UsageError('--host needs --device-id (or --key-name for a policy token).')
    const connectionString: ConnectionString =
      args.moduleId === undefined
        ? { kind: 'device', hostName: args.host, deviceId: args.deviceId, sharedAccessKey: key }
        : {
            kind: 'module',
            hostName: args.host,
            deviceId: args.deviceId,
            moduleId: args.moduleId,
            sharedAccessKey: key,
          }
    return { type: 'connection-string', connectionString }
  }

  if (args.resource !== undefined) {
    refuse(a, ['device-id', 'module-id'], 'cannot be combined with --resource.')
    const key = await readKey(args)
    if (key === undefined)
      throw new UsageError('--resource needs a key: --key, --key-file or --key-env, or a connection string.')
    return resourceIdentity(args.resource, key, args.keyName)
  }
  if (args.deviceId !== undefined || args.moduleId !== undefined) {
    throw new UsageError(
      '--device-id needs --host and a key, or a service connection string (-c or $IOTHUB_CONNECTION_STRING).',
    )
  }
  return undefined
}

function resourceIdentity(resourceUri: string, key: string, keyName: string | undefined): Identity {
  return { type: 'resource', resourceUri, key, ...(keyName !== undefined && { keyName }) }
}

/** The moment a token expires, and the clock it was computed with. */
export interface ResolvedExpiry {
  /** Epoch seconds. */
  expiresAt: number
  /** Epoch milliseconds. */
  now: number
}

/** Tokens that live less than this many seconds get a warning: clock skew can eat them. */
export const SHORT_TTL_SECONDS = 300

/**
 * Resolves `--ttl` / `--expires-at` to one expiry, once, with the CLI's clock, and warns when
 * the token would live under five minutes. Every token of a run then shares this expiry.
 */
export function resolveCliExpiry(args: ExpiryArgs): ResolvedExpiry {
  const now = nowMs()
  const expiresAt = resolveExpiry({
    now,
    ...(args.ttl !== undefined && { ttl: args.ttl }),
    ...(args.expiresAt !== undefined && { expiresAt: parseExpiresAt(args.expiresAt) }),
  })
  const lifetime = expiresAt - Math.floor(now / 1000)
  if (lifetime < SHORT_TTL_SECONDS) {
    warn(
      `the token expires in ${lifetime} s; clock skew between this machine and the hub can make it fail (use at least 5m).`,
    )
  }
  return { expiresAt, now }
}

/** Signs a token for `identity`, expiring at `expiry`: one core call. */
export function signToken(identity: Identity, expiry: ResolvedExpiry): string {
  switch (identity.type) {
    case 'connection-string':
      return tokenFromConnectionString(identity.connectionString, {
        ...expiry,
        ...(identity.deviceId !== undefined && { deviceId: identity.deviceId }),
        ...(identity.moduleId !== undefined && { moduleId: identity.moduleId }),
      })
    case 'resource':
      return createSasToken({
        resourceUri: identity.resourceUri,
        key: identity.key,
        ...(identity.keyName !== undefined && { keyName: identity.keyName }),
        ...expiry,
      })
    case 'dps': {
      const key = dpsDeviceKey(identity)
      registerSecret(key)
      return createDpsSasToken({
        idScope: identity.idScope,
        registrationId: identity.registrationId ?? '',
        key,
        ...expiry,
      })
    }
  }
}

/** The DPS device key: the one given, or the one derived from the group key for the registration id. */
export function dpsDeviceKey(
  identity: Extract<Identity, { type: 'dps' }>,
  registrationId = identity.registrationId ?? '',
): string {
  return identity.groupKey === undefined
    ? (identity.key ?? '')
    : deriveDeviceKey(identity.groupKey, registrationId)
}
