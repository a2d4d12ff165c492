/**
 * The CLI's one signer: it turns an {@link SigningIdentity} and an expiry request into something that
 * signs. Single runs, batches and `mqtt` all use it, so the identity type is dispatched on in
 * this one place. Tokens come back with their facts (expiry, resource, policy), so nobody parses
 * a token the CLI has just made.
 *
 * The expiry is passed through as the user gave it (`--ttl`, `--expires-at`, or neither); only
 * `now` is pinned, once per run. With neither, a key signs for the default hour and a
 * `SharedAccessSignature=` connection string gives back its own token, as the core does.
 *
 * @module
 */
import { toAnyConnectionString } from '../connection-string.js'
import { parseExpiresAt } from '../expiry.js'
import { deriveDeviceKey } from '../keys.js'
import { dpsMqttCredentials, mqttCredentials, type MqttCredentials } from '../mqtt/credentials.js'
import { parseSasToken, sign, signDps, type SignedToken } from '../sas-token.js'
import { signConnectionString } from '../token-from-connection-string.js'
import { UsageError } from './errors.js'
import type { SigningIdentity } from './identity-options.js'
import { registerSecret } from './secrets.js'
import type { TokenFacts } from './token-summary.js'

/** The expiry the user asked for, as given, with the run's clock. */
export interface ExpiryRequest {
  ttl?: string
  expiresAt?: number | Date
  /** Epoch milliseconds: pinned once, so every token of a run shares one clock. */
  now: number
}

/** Reads `--ttl` / `--expires-at` into an {@link ExpiryRequest}: text as given, the date parsed. */
export function expiryRequest(
  args: { ttl?: string | undefined; expiresAt?: string | undefined },
  now: number,
): ExpiryRequest {
  return {
    now,
    ...(args.ttl !== undefined && { ttl: args.ttl }),
    ...(args.expiresAt !== undefined && { expiresAt: parseExpiresAt(args.expiresAt) }),
  }
}

/** What one line of a batch (or nothing, for a single run) asks the signer for. */
export interface SignTarget {
  /** A Service Bus-family batch line: the entity to sign for. */
  entityPath?: string | undefined
  deviceId?: string | undefined
  moduleId?: string | undefined
  registrationId?: string | undefined
}

/** A token made, with its facts. */
export type Signed = SignedToken & TokenFacts

/** The MQTT settings of an identity: the CONNECT fields, and who the client is. */
export interface MqttIdentity {
  credentials: MqttCredentials
  /** The device (and module) for the topics; absent for DPS. */
  id?: { deviceId: string; moduleId?: string }
  /** The policy name when the password is a policy token. */
  keyName?: string
}

/** Options of {@link Signer.mqtt}. */
export interface MqttOptions {
  apiVersion?: string | undefined
  modelId?: string | undefined
}

/** Signs for one identity. */
export interface Signer {
  /** A token for the identity, or for the line's target in a batch. */
  sign(target?: SignTarget): Signed
  /** The MQTT CONNECT fields for the identity, its password signed as {@link Signer.sign} would. */
  mqtt(o: MqttOptions): MqttIdentity
}

const withKeyName = (signed: SignedToken, keyName: string | undefined): Signed =>
  keyName === undefined ? signed : { ...signed, keyName }

/**
 * The signer for `identity`, expiring as `expiry` asks. A hand-built identity (from `--host`
 * and a key) is checked here, once, before anything is signed.
 *
 * @throws {SasTokenError} When the identity is invalid.
 */
export function signerFor(identity: SigningIdentity, expiry: ExpiryRequest): Signer {
  switch (identity.type) {
    case 'connection-string': {
      const cs = toAnyConnectionString(identity.connectionString, 'sas-token')
      const embedded = cs.sharedAccessSignature
      const keyName =
        embedded === undefined
          ? cs.sharedAccessKeyName
          : (parseSasToken(embedded).keyName ?? cs.sharedAccessKeyName)
      const ids = (target: SignTarget | undefined) => {
        if (target?.entityPath !== undefined) return { entityPath: target.entityPath }
        if (identity.audience !== undefined) return { audience: identity.audience }
        const deviceId = target?.deviceId ?? identity.deviceId
        const moduleId = target?.deviceId === undefined ? identity.moduleId : target.moduleId
        return { ...(deviceId !== undefined && { deviceId }), ...(moduleId !== undefined && { moduleId }) }
      }
      return {
        sign: (target) => withKeyName(signConnectionString(cs, { ...expiry, ...ids(target) }), keyName),
        mqtt(o) {
          const credentials = mqttCredentials(cs, {
            ...expiry,
            ...ids(undefined),
            ...(o.apiVersion !== undefined && { apiVersion: o.apiVersion }),
            ...(o.modelId !== undefined && { modelId: o.modelId }),
          })
          const [deviceId = '', moduleId] = credentials.clientId.split('/')
          return {
            credentials,
            id: { deviceId, ...(moduleId !== undefined && { moduleId }) },
            ...(keyName !== undefined && { keyName }),
          }
        },
      }
    }
    case 'resource':
      return {
        sign: () =>
          withKeyName(sign(identity.resourceUri, identity.key, identity.keyName, expiry), identity.keyName),
        mqtt() {
          throw new UsageError('mqtt needs a device or module identity (or --dps), not --resource.')
        },
      }
    case 'dps': {
      const deviceKey = (registrationId: string): string => {
        if (identity.groupKey === undefined) return identity.key ?? ''
        const key = deriveDeviceKey(identity.groupKey, registrationId)
        registerSecret(key)
        return key
      }
      const registration = (target: SignTarget | undefined): string =>
        target?.registrationId ?? identity.registrationId ?? ''
      return {
        sign(target) {
          const registrationId = registration(target)
          return withKeyName(
            signDps({ ...expiry, idScope: identity.idScope, registrationId, key: deviceKey(registrationId) }),
            'registration',
          )
        },
        mqtt() {
          const registrationId = registration(undefined)
          return {
            credentials: dpsMqttCredentials({
              ...expiry,
              idScope: identity.idScope,
              registrationId,
              key: deviceKey(registrationId),
              ...(identity.host !== undefined && { host: identity.host }),
            }),
          }
        },
      }
    }
  }
}
