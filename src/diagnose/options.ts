/**
 * What {@link diagnoseConnect} is told the hub knows, checked once into the context every check
 * reads: keys, the connection string, the policies, the registry, the clock and its skew.
 *
 * @module
 */
import {
  toConnectionString,
  type ConnectionString,
  type IotHubConnectionString,
} from '../connection-string.js'
import { SasTokenError } from '../errors.js'
import { epochMs } from '../expiry.js'
import { assertHostName, assertIdScope } from '../identity.js'
import { decodeKey } from '../keys.js'
import { DEFAULT_CLOCK_SKEW_SECONDS } from '../sas-token.js'
import type { ConnectRegistry } from './registry.js'

/** A shared access policy of the hub, for policy tokens (`skn`) used as a device's password. */
export interface HubPolicy {
  /** The policy has the DeviceConnect permission, so its tokens may connect as a device. */
  deviceConnect: boolean
  /** The policy's base64 key (or its primary and secondary keys), to check the tokens it signs. */
  key?: string | readonly string[]
}

/**
 * The shared access policies of a new IoT hub. `iothubowner` and `device` have DeviceConnect;
 * `service`, `registryRead` and `registryReadWrite` do not.
 */
export const DEFAULT_HUB_POLICIES: Readonly<Record<string, Readonly<HubPolicy>>> = Object.freeze({
  iothubowner: Object.freeze({ deviceConnect: true }),
  service: Object.freeze({ deviceConnect: false }),
  device: Object.freeze({ deviceConnect: true }),
  registryRead: Object.freeze({ deviceConnect: false }),
  registryReadWrite: Object.freeze({ deviceConnect: false }),
})

/** Options of {@link diagnoseConnect}: what the hub knows. Everything is optional. */
export interface DiagnoseConnectOptions {
  /**
   * The identity's base64 key (device, module, or DPS enrollment key), or its primary and
   * secondary keys: a token signed with none of them is named. Policy tokens are checked with
   * their policy's key instead (from `policies` or `connectionString`), or with this key when
   * neither has one.
   */
  key?: string | readonly string[]
  /**
   * What the device should use: its host name, identity, key, or `x509=true`. A service
   * (policy) string gives the policy's key, for policy tokens.
   */
  connectionString?: string | ConnectionString
  /**
   * A DPS enrollment group's key. The device key is derived from it for the registration (or
   * device) id, and a token signed with the group key itself is named as such.
   */
  groupKey?: string
  /** The hub's host name, such as `myhub.azure-devices.net`; default: the connection string's. */
  hubHostName?: string
  /**
   * Other names a username or token may give the hub and be right, such as `localhost:8883`
   * (a gateway's `host:port`).
   */
  hubHostAliases?: readonly string[]
  /**
   * What the hub's registry knows (identities, their status and keys or thumbprints; DPS
   * enrollments and groups). Given it, an unknown or disabled identity, a password for an X.509
   * identity, a certificate for a keyed one and a registration without enrollment are findings,
   * and the keys to check signatures with come from it (before `key` and `groupKey`).
   */
  registry?: ConnectRegistry
  /** The DPS ID scope, such as `0ne00000A0A`, for DPS CONNECTs. */
  idScope?: string
  /**
   * The hub's shared access policies, by name; this table replaces the default,
   * {@link DEFAULT_HUB_POLICIES}.
   */
  policies?: Readonly<Record<string, Readonly<HubPolicy>>>
  /** The identity authenticates with an X.509 certificate (as `x509=true` in a connection string says). */
  x509?: boolean
  /** The current time: epoch milliseconds or a `Date`. Defaults to `Date.now()`. */
  now?: number | Date
  /** How long past `se` a token is still accepted; IoT Hub's 300 seconds by default. */
  clockSkewSeconds?: number
  /**
   * When the device renews its token (reconnects with a new one), in seconds after connecting,
   * such as 2700 for the Node SDK's 45 minutes: a token that expires sooner is named.
   */
  renewAfterSeconds?: number
}

/** The options, checked once. */
export interface Context {
  nowSeconds: number
  skew: number
  /** The identity's keys, never empty. */
  keys?: readonly string[]
  groupKey?: string
  cs?: IotHubConnectionString
  hubHostName?: string
  idScope?: string
  policies: Readonly<Record<string, Readonly<HubPolicy>>>
  x509: boolean
  renewAfter?: number
  /** Other names of the hub (`localhost:8883`). */
  aliases: readonly string[]
  registry?: ConnectRegistry
  /** Every secret a finding must never show: keys, derived keys, the signature, the password. */
  secrets: string[]
}

/** A key or keys, checked, as a list (`undefined` for none); each is remembered as a secret. */
export function keyList(
  key: string | readonly string[] | undefined,
  what: string,
  secrets: string[],
): readonly string[] | undefined {
  if (key === undefined) return undefined
  const keys: readonly string[] = typeof key === 'string' ? [key] : key
  if (!Array.isArray(keys))
    throw new SasTokenError('ERR_INVALID_OPTION', `${what} must be a key or a list of keys.`)
  if (keys.length === 0) return undefined
  for (const [i, k] of keys.entries()) {
    decodeKey(k, keys.length === 1 ? what : `${what}[${i}]`)
    secrets.push(k)
  }
  return keys
}

export function checkOptions(o: DiagnoseConnectOptions): Context {
  if (typeof o !== 'object' || o === null)
    throw new SasTokenError('ERR_INVALID_OPTION', 'diagnoseConnect takes an options object.')
  const nowSeconds = Math.floor(epochMs(o.now) / 1000)
  const skew = o.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS
  if (!Number.isSafeInteger(skew) || skew < 0) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'clockSkewSeconds must be a whole number of seconds, 0 or more.',
    )
  }
  const renewAfter = o.renewAfterSeconds
  if (renewAfter !== undefined && (!Number.isSafeInteger(renewAfter) || renewAfter <= 0)) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'renewAfterSeconds must be a whole number of seconds, above 0.',
    )
  }
  const secrets: string[] = []
  const keys = keyList(o.key, 'key', secrets)
  if (o.groupKey !== undefined) {
    decodeKey(o.groupKey, 'groupKey')
    secrets.push(o.groupKey)
  }
  const cs =
    o.connectionString === undefined ? undefined : toConnectionString(o.connectionString, 'diagnoseConnect')
  if (cs?.sharedAccessKey !== undefined) secrets.push(cs.sharedAccessKey)
  const policies = o.policies ?? DEFAULT_HUB_POLICIES
  if (typeof policies !== 'object' || policies === null)
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'policies must map policy names to { deviceConnect, key? }.',
    )
  for (const [name, policy] of Object.entries(policies)) {
    if (typeof policy !== 'object' || policy === null || typeof policy.deviceConnect !== 'boolean') {
      throw new SasTokenError(
        'ERR_INVALID_OPTION',
        `policies.${name} must be { deviceConnect: boolean, key?: string }.`,
      )
    }
    keyList(policy.key, `policies.${name}.key`, secrets)
  }
  const aliases = o.hubHostAliases ?? []
  if (!Array.isArray(aliases) || aliases.some((a) => typeof a !== 'string'))
    throw new SasTokenError('ERR_INVALID_OPTION', 'hubHostAliases must be a list of host names.')
  const registry = o.registry
  if (registry !== undefined && (typeof registry !== 'object' || registry === null))
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      'registry must be { identity?(deviceId, moduleId?), enrollment?(registrationId), enrollmentGroups? }.',
    )
  const ctx: Context = {
    nowSeconds,
    skew,
    policies,
    x509: o.x509 === true || cs?.x509 === true,
    secrets,
    aliases,
  }
  if (registry !== undefined) ctx.registry = registry
  if (keys !== undefined) ctx.keys = keys
  if (o.groupKey !== undefined) ctx.groupKey = o.groupKey
  if (cs !== undefined) ctx.cs = cs
  const hubHostName =
    o.hubHostName === undefined ? cs?.hostName : assertHostName(o.hubHostName, 'hubHostName')
  if (hubHostName !== undefined) ctx.hubHostName = hubHostName
  if (o.idScope !== undefined) ctx.idScope = assertIdScope(o.idScope)
  if (renewAfter !== undefined) ctx.renewAfter = renewAfter
  return ctx
}
