/**
 * The identity registry: devices, modules, their keys or X.509 thumbprints, status, twins and
 * C2D queues, and the hub's shared access policies. It is plain data (so the state store can
 * write it as JSON) behind a few functions that keep IoT Hub's rules.
 *
 * @module
 */
import { randomBytes, randomInt } from 'node:crypto'
import { SasTokenError } from '../../errors.js'
import { assertDeviceId } from '../../identity.js'
import { decodeKey } from '../../keys.js'
import type { MessageProperties } from '../../mqtt/property-bag.js'
import type { C2dAck } from './c2d-feedback.js'
import { newTwin } from './twin.js'
import type { TwinState } from './twin.js'
import type { StateStore } from './state-store.js'

/** What a shared access policy allows. */
export type Permission = 'RegistryRead' | 'RegistryWrite' | 'ServiceConnect' | 'DeviceConnect'

/** A hub-level shared access policy. */
export interface Policy {
  keyName: string
  primaryKey: string
  secondaryKey: string
  rights: Permission[]
}

/**
 * The well-known development key of the `iothubowner` policy, documented (like Azurite's
 * `devstoreaccount1` key) so that tests and docs can write the hub connection string down.
 * Never use it beyond loopback: the hub refuses to listen elsewhere with it.
 */
export const DEVELOPMENT_OWNER_KEY = 'OHBYC2KV0vyuXXQkH+62BWYFZ9hgktnHL4oIQlHDkO0='

/** The policies of a new hub and their rights, as a new IoT Hub has them. */
export const DEFAULT_POLICY_RIGHTS: Readonly<Record<string, readonly Permission[]>> = {
  iothubowner: ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'],
  service: ['ServiceConnect'],
  device: ['DeviceConnect'],
  registryRead: ['RegistryRead'],
  registryReadWrite: ['RegistryRead', 'RegistryWrite'],
}

/** How a device or module authenticates. */
export type Authentication =
  | { type: 'sas'; symmetricKey: { primaryKey: string; secondaryKey: string } }
  | { type: 'selfSigned'; x509Thumbprint: { primaryThumbprint: string; secondaryThumbprint: string } }
  | { type: 'certificateAuthority' }

/** A device or module in the registry. */
export interface Identity {
  deviceId: string
  moduleId?: string
  generationId: string
  etag: string
  status: 'enabled' | 'disabled'
  statusReason: string | null
  authentication: Authentication
  connectionState: 'Connected' | 'Disconnected'
  connectionStateUpdatedTime: string
  lastActivityTime: string
  /** A device's capabilities (`iotEdge`: an IoT Edge device); absent on modules, and `iotEdge: false` in state written before they were kept. */
  capabilities?: { iotEdge: boolean }
  twin: TwinState
}

/** A cloud-to-device message waiting for its device. */
export interface QueuedC2d {
  messageId: string
  /** The body, base64. */
  payload: string
  properties: MessageProperties
  enqueuedTime: string
  /** How many times it was delivered (Enqueued → Invisible); 0 in state written before it was kept. */
  deliveryCount: number
  /** The feedback it asked for (`iothub-ack`); absent: `none`, and in state written before it was kept. */
  ack?: C2dAck
}

/** A device with its modules and its C2D queue. */
export interface DeviceEntry {
  device: Identity
  modules: Record<string, Identity>
  c2d: QueuedC2d[]
}

/** At most this many C2D messages wait per device (IoT Hub's limit). */
export const MAX_C2D_QUEUE = 50

const NEVER = '0001-01-01T00:00:00Z'

/** A new random 256-bit key, base64. */
export function generateKey(): string {
  return randomBytes(32).toString('base64')
}

function generationId(): string {
  return `63${String(randomInt(1e9)).padStart(9, '0')}${String(randomInt(1e7)).padStart(7, '0')}`
}

let etagCounter = 0
function newEtag(): string {
  etagCounter = (etagCounter + 1) % 1e9
  return Buffer.from(`${Date.now()}-${etagCounter}`).toString('base64')
}

/** The default policies, `iothubowner` with `ownerKey`, the others with fresh keys. */
export function defaultPolicies(ownerKey: string): Policy[] {
  return Object.entries(DEFAULT_POLICY_RIGHTS).map(([keyName, rights]) => ({
    keyName,
    primaryKey: keyName === 'iothubowner' ? ownerKey : generateKey(),
    secondaryKey: generateKey(),
    rights: [...rights],
  }))
}

/** What an operator gives to create or update an identity (IoT Hub's device JSON, partly); `null` means absent. */
export interface IdentityInput {
  /** `enabled` (the default for a new identity) or `disabled`. */
  status?: 'enabled' | 'disabled' | null | undefined
  /** Why the status is what it is. */
  statusReason?: string | null | undefined
  /** IoT Hub's `authentication` object: `sas` keys (empty ones generated), `selfSigned` thumbprints or `certificateAuthority`. */
  authentication?: unknown
  /** A device's capabilities: `iotEdge` (default `false`); ignored for a module, as IoT Hub has none on modules. */
  capabilities?: { iotEdge?: boolean | null | undefined } | null | undefined
}

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

function keyOrNew(value: unknown, what: string): string {
  if (value === undefined || value === null || value === '') return generateKey()
  if (typeof value !== 'string') throw bad(`${what} must be a base64 string, or empty to generate one.`)
  try {
    decodeKey(value, what)
  } catch (cause) {
    throw new SasTokenError('ERR_HUB_BAD_REQUEST', (cause as Error).message, { cause })
  }
  return value
}

function thumbprint(value: unknown, what: string, required: boolean): string {
  if ((value === undefined || value === null || value === '') && !required) return ''
  if (typeof value !== 'string' || !/^(?:[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(value)) {
    throw bad(`${what} must be a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) certificate thumbprint.`)
  }
  return value.toUpperCase()
}

function field(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' && name in value
    ? (value as Record<string, unknown>)[name]
    : undefined
}

/**
 * Reads the authentication part of an identity input; empty keys are generated.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`.
 */
export function readAuthentication(input: unknown, current?: Authentication): Authentication {
  if (input === undefined || input === null) {
    return (
      current ?? { type: 'sas', symmetricKey: { primaryKey: generateKey(), secondaryKey: generateKey() } }
    )
  }
  const type = field(input, 'type') ?? 'sas'
  if (type === 'sas') {
    const keys = field(input, 'symmetricKey')
    return {
      type: 'sas',
      symmetricKey: {
        primaryKey: keyOrNew(field(keys, 'primaryKey'), 'primaryKey'),
        secondaryKey: keyOrNew(field(keys, 'secondaryKey'), 'secondaryKey'),
      },
    }
  }
  if (type === 'selfSigned') {
    const prints = field(input, 'x509Thumbprint')
    return {
      type: 'selfSigned',
      x509Thumbprint: {
        primaryThumbprint: thumbprint(field(prints, 'primaryThumbprint'), 'primaryThumbprint', true),
        secondaryThumbprint: thumbprint(field(prints, 'secondaryThumbprint'), 'secondaryThumbprint', false),
      },
    }
  }
  if (type === 'certificateAuthority') return { type: 'certificateAuthority' }
  throw bad(
    `authentication.type ${JSON.stringify(type)} is not one of sas, selfSigned, certificateAuthority.`,
  )
}

/**
 * A new identity from an operator's input.
 *
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_HUB_BAD_REQUEST`.
 */
export function newIdentity(
  deviceId: string,
  moduleId: string | undefined,
  input: IdentityInput,
  now: number,
): Identity {
  assertDeviceId(deviceId, 'deviceId')
  if (moduleId !== undefined) assertDeviceId(moduleId, 'moduleId')
  const time = new Date(now).toISOString()
  const identity: Identity = {
    deviceId,
    generationId: generationId(),
    etag: newEtag(),
    status: input.status ?? 'enabled',
    statusReason: input.statusReason ?? null,
    authentication: readAuthentication(input.authentication),
    connectionState: 'Disconnected',
    connectionStateUpdatedTime: time,
    lastActivityTime: NEVER,
    twin: newTwin(),
  }
  if (moduleId !== undefined) identity.moduleId = moduleId
  else if (input.capabilities?.iotEdge) identity.capabilities = { iotEdge: true }
  return identity
}

/**
 * An identity updated from an operator's input (status, keys); keeps its twin and ids.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`.
 */
export function updatedIdentity(current: Identity, input: IdentityInput): Identity {
  const iotEdge = input.capabilities?.iotEdge
  const edge = current.moduleId === undefined && typeof iotEdge === 'boolean' ? { iotEdge } : undefined
  const { capabilities, ...rest } = current
  const kept = edge ?? capabilities
  return {
    ...rest,
    ...(kept?.iotEdge ? { capabilities: { iotEdge: true } } : {}),
    etag: newEtag(),
    status: input.status ?? current.status,
    statusReason: input.statusReason ?? current.statusReason,
    authentication:
      input.authentication === undefined ? current.authentication : readAuthentication(input.authentication),
  }
}

/**
 * Checks an `If-Match` header against an etag: absent and `*` match anything.
 *
 * @throws {SasTokenError} `ERR_HUB_PRECONDITION_FAILED`.
 */
export function checkIfMatch(ifMatch: string | undefined, etag: string): void {
  if (ifMatch === undefined) return
  const wanted = ifMatch.trim().replace(/^W\//, '').replace(/^"|"$/g, '')
  if (wanted !== '*' && wanted !== etag) {
    throw new SasTokenError(
      'ERR_HUB_PRECONDITION_FAILED',
      'If-Match does not match the current etag: get it again, then retry.',
    )
  }
}

/** IoT Hub's JSON for a device or module. */
export function identityJson(identity: Identity, c2dCount?: number): Record<string, unknown> {
  const auth = identity.authentication
  const json: Record<string, unknown> = {
    deviceId: identity.deviceId,
    ...(identity.moduleId === undefined ? {} : { moduleId: identity.moduleId, managedBy: null }),
    generationId: identity.generationId,
    etag: identity.etag,
    connectionState: identity.connectionState,
    connectionStateUpdatedTime: identity.connectionStateUpdatedTime,
    lastActivityTime: identity.lastActivityTime,
    cloudToDeviceMessageCount: c2dCount ?? 0,
    authentication: {
      type: auth.type,
      symmetricKey: auth.type === 'sas' ? { ...auth.symmetricKey } : { primaryKey: null, secondaryKey: null },
      x509Thumbprint:
        auth.type === 'selfSigned'
          ? { ...auth.x509Thumbprint }
          : { primaryThumbprint: null, secondaryThumbprint: null },
    },
  }
  if (identity.moduleId === undefined) {
    json.status = identity.status
    json.statusReason = identity.statusReason
    json.statusUpdatedTime = NEVER
    json.capabilities = { iotEdge: identity.capabilities?.iotEdge ?? false }
  }
  return json
}

/**
 * The `iothubowner` policy's primary key, made `wanted` first when one is given (an `ownerKey`
 * option given to a hub whose state has another).
 *
 * @returns The key, or `undefined` when the state has no `iothubowner` policy.
 */
export function useOwnerKey(store: StateStore, wanted: string | undefined): string | undefined {
  const owner = store.state.policies.find((p) => p.keyName === 'iothubowner')
  if (owner && wanted !== undefined && owner.primaryKey !== wanted) {
    owner.primaryKey = wanted
    store.changed()
  }
  return owner?.primaryKey
}
