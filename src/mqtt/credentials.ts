/**
 * The MQTT CONNECT fields for IoT Hub and DPS: host, port, client id, username and password.
 *
 * The result plugs straight into mqtt.js:
 *
 * ```ts
 * import mqtt from 'mqtt'
 * const c = mqttCredentials(process.env.IOTHUB_DEVICE_CONNECTION_STRING!)
 * const client = mqtt.connect({ ...c, protocol: 'mqtts' })
 * ```
 *
 * (over WebSocket: `const { host, port, websocketUrl, ...rest } = c; mqtt.connect(websocketUrl, rest)`,
 * leaving out `host` and `port`, which would override the URL's; the rest keeps `password`
 * optional, as `exactOptionalPropertyTypes` wants). MQTT cannot change the
 * password of a live connection: when the token nears `expiresAt`, connect again with fresh
 * credentials (see `createTokenSource`).
 *
 * @module
 */
import { toConnectionString, type ConnectionString } from '../connection-string.js'
import { SasTokenError } from '../errors.js'
import type { Expiry } from '../expiry.js'
import { assertDeviceId, assertHostName, assertIdScope, assertRegistrationId } from '../identity.js'
import { readQuery } from '../query-string.js'
import { signDps, type SignedToken } from '../sas-token.js'
import { signConnectionString } from '../token-from-connection-string.js'

/** The api-version IoT Hub MQTT usernames carry by default. */
export const DEFAULT_API_VERSION = '2021-04-12'

/** The api-version of DPS MQTT usernames. */
export const DPS_API_VERSION = '2019-03-31'

/** The global DPS device endpoint. */
export const DEFAULT_DPS_HOST = 'global.azure-devices-provisioning.net'

/** Everything an MQTT client needs to connect. */
export interface MqttCredentials {
  /** Where to connect: the hub, the gateway (`GatewayHostName`) or the DPS endpoint. */
  host: string
  /** MQTT over TLS. */
  port: 8883
  /** `deviceId`, `deviceId/moduleId`, or the DPS registration id. */
  clientId: string
  /**
   * `{hub}/{deviceId}[/{moduleId}]/?api-version=…` for IoT Hub,
   * `{idScope}/registrations/{registrationId}/api-version=…` for DPS.
   */
  username: string
  /** The SAS token; absent for X.509 identities, which authenticate with their certificate. */
  password?: string
  /** When the password expires, in epoch seconds; absent for X.509. */
  expiresAt?: number
  /** MQTT 3.1.1. */
  protocolVersion: 4
  /** The MQTT-over-WebSocket endpoint (port 443), for networks that block 8883. */
  websocketUrl: string
}

/** Options of {@link mqttCredentials}. */
export interface MqttCredentialsOptions extends Expiry {
  /** The `api-version` in the username; default {@link DEFAULT_API_VERSION}. */
  apiVersion?: string
  /** An IoT Plug and Play model id (DTMI), such as `dtmi:com:example:Thermostat;1`. */
  modelId?: string
  /** Free text sent as `DeviceClientType`, such as `my-gateway/1.2.0`. */
  productInfo?: string
  /** With a service (policy) connection string: the device to connect as. */
  deviceId?: string
  /** With a service connection string and `deviceId`: the module to connect as. */
  moduleId?: string
}

const API_VERSION = /^\d{4}-\d{2}-\d{2}(?:-preview)?$/
/** `true` when `text` is an IoT Hub `api-version`: a date such as `2021-04-12`, optionally `-preview`. */
export function isApiVersion(text: string): boolean {
  return typeof text === 'string' && API_VERSION.test(text)
}

const DTMI =
  /^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z_](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*;[1-9][0-9]{0,8}(?:\.[0-9]{1,6})?$/

/**
 * `true` when `text` is a Digital Twins Model Identifier (DTMI), such as
 * `dtmi:com:example:Thermostat;1`: the form IoT Plug and Play model ids take.
 */
export function isDtmi(text: string): boolean {
  return typeof text === 'string' && DTMI.test(text)
}

function encodeOption(value: string | undefined, what: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) {
    throw new SasTokenError('ERR_INVALID_OPTION', `${what} is empty; leave it out instead.`, {
      facts: { option: what },
    })
  }
  try {
    return encodeURIComponent(value)
  } catch (cause) {
    throw new SasTokenError('ERR_INVALID_OPTION', `${what} contains a lone UTF-16 surrogate.`, {
      cause,
      facts: { option: what },
    })
  }
}

function expiryOf(o: Expiry): Expiry {
  const expiry: Expiry = {}
  if (o.expiresAt !== undefined) expiry.expiresAt = o.expiresAt
  if (o.ttl !== undefined) expiry.ttl = o.ttl
  if (o.now !== undefined) expiry.now = o.now
  return expiry
}

/** The fields in the order people read them: where, who, secret, then protocol details. */
function credentials(
  host: string,
  clientId: string,
  username: string,
  password: SignedToken | undefined,
): MqttCredentials {
  return {
    host,
    port: 8883,
    clientId,
    username,
    ...(password === undefined ? {} : { password: password.token, expiresAt: password.expiresAt }),
    protocolVersion: 4,
    websocketUrl: `wss://${host}/$iothub/websocket`,
  }
}

/**
 * The CONNECT fields for the device or module a connection string names.
 *
 * - Username: `{hub}/{deviceId}[/{moduleId}]/?api-version=2021-04-12`, then
 *   `&model-id={modelId}` and `&DeviceClientType={productInfo}` (percent-encoded) when given.
 * - Password: a fresh SAS token (device, module, or a policy token scoped to `deviceId` for a
 *   service string), or the token of a `SharedAccessSignature=` string; none for X.509.
 * - With `GatewayHostName`, `host` is the gateway; the username keeps the hub's name.
 *
 * @example
 * ```ts
 * const c = mqttCredentials('HostName=contoso.azure-devices.net;DeviceId=MyDevice01;SharedAccessKey=…', { ttl: '1h' })
 * c.username // 'contoso.azure-devices.net/MyDevice01/?api-version=2021-04-12'
 * ```
 * @throws {SasTokenError} any code of `parseConnectionString` and `tokenFromConnectionString`;
 *   `ERR_DEVICE_ID_REQUIRED` for a service string without `deviceId`; `ERR_INVALID_OPTION` for a
 *   malformed `apiVersion` or `modelId`, or an empty `productInfo` (`option` names it);
 *   `ERR_IDENTITY_MISMATCH` for a `deviceId`/`moduleId` that differs from the string's; `ERR_INVALID_HOST_NAME`, `ERR_INVALID_IDENTIFIER`;
 *   `ERR_TOKEN_EXPIRED` for an expired `SharedAccessSignature=`.
 */
export function mqttCredentials(
  source: string | ConnectionString,
  o: MqttCredentialsOptions = {},
): MqttCredentials {
  const cs = toConnectionString(source, 'mqttCredentials')
  const deviceId = cs.deviceId ?? o.deviceId
  const moduleId = cs.moduleId ?? o.moduleId
  if (deviceId === undefined) {
    throw new SasTokenError(
      'ERR_DEVICE_ID_REQUIRED',
      'This is a service (policy) connection string: give the deviceId (and moduleId) to connect as.',
    )
  }
  const apiVersion = o.apiVersion ?? DEFAULT_API_VERSION
  if (!isApiVersion(apiVersion)) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `apiVersion ${JSON.stringify(String(apiVersion))} is not valid: use a date such as ${DEFAULT_API_VERSION}.`,
      { facts: { option: 'apiVersion' } },
    )
  }
  if (o.modelId !== undefined && !isDtmi(o.modelId)) {
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `modelId ${JSON.stringify(String(o.modelId))} is not a DTMI: use the form dtmi:com:example:Thermostat;1.`,
      { facts: { option: 'modelId' } },
    )
  }
  const modelId = encodeOption(o.modelId, 'modelId')
  const productInfo = encodeOption(o.productInfo, 'productInfo')

  if (
    cs.kind !== 'service' &&
    ((o.deviceId ?? cs.deviceId) !== cs.deviceId || (o.moduleId ?? cs.moduleId) !== cs.moduleId)
  ) {
    throw new SasTokenError(
      'ERR_IDENTITY_MISMATCH',
      'deviceId and moduleId options only choose the identity for a service (policy) connection string; this string names its own.',
      { facts: { option: (o.deviceId ?? cs.deviceId) !== cs.deviceId ? 'deviceId' : 'moduleId' } },
    )
  }
  assertDeviceId(deviceId, 'deviceId')
  if (moduleId !== undefined) assertDeviceId(moduleId, 'moduleId')
  const password =
    cs.x509 === true
      ? undefined
      : signConnectionString(cs, {
          ...expiryOf(o),
          ...(cs.kind === 'service' ? { deviceId, ...(moduleId === undefined ? {} : { moduleId }) } : {}),
        })

  const clientId = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`
  const username =
    `${cs.hostName}/${clientId}/?api-version=${apiVersion}` +
    (modelId === undefined ? '' : `&model-id=${modelId}`) +
    (productInfo === undefined ? '' : `&DeviceClientType=${productInfo}`)
  return credentials(cs.gatewayHostName ?? cs.hostName, clientId, username, password)
}

/** Options of {@link dpsMqttCredentials}. */
export interface DpsMqttCredentialsOptions extends Expiry {
  /** The DPS ID scope, such as `0ne00000A0A`. */
  idScope: string
  /** The registration id; it is also the MQTT client id. */
  registrationId: string
  /** The enrollment key: an individual enrollment's, or one from `deriveDeviceKey` for a group. */
  key: string
  /** The DPS device endpoint; default {@link DEFAULT_DPS_HOST}. */
  host?: string
}

/**
 * The CONNECT fields for registering with DPS: client id = registration id, username
 * `{idScope}/registrations/{registrationId}/api-version=2019-03-31`, password a DPS token
 * (`skn=registration`).
 *
 * @example
 * ```ts
 * const c = dpsMqttCredentials({ idScope: '0ne00000A0A', registrationId: 'dev1', key: deriveDeviceKey(groupKey, 'dev1') })
 * ```
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, `ERR_INVALID_HOST_NAME`, `ERR_INVALID_KEY`,
 *   and the expiry codes.
 */
export function dpsMqttCredentials(o: DpsMqttCredentialsOptions): MqttCredentials {
  const host = assertHostName(o.host ?? DEFAULT_DPS_HOST, 'host')
  const idScope = assertIdScope(o.idScope)
  const registrationId = assertRegistrationId(o.registrationId)
  const password = signDps({ ...expiryOf(o), idScope, registrationId, key: o.key })
  return credentials(
    host,
    registrationId,
    `${idScope}/registrations/${registrationId}/api-version=${DPS_API_VERSION}`,
    password,
  )
}

/** What an MQTT username names, read by {@link parseMqttUsername}; nothing in it is checked yet. */
export type MqttUsername =
  | {
      /** An IoT Hub username: `{hub}/{deviceId}[/{moduleId}]/?api-version=…`. */
      kind: 'hub'
      /** The host name, as sent. */
      hostName: string
      /** The device id, as sent. */
      deviceId: string
      /** The module id, as sent; absent for a device. */
      moduleId?: string
      /** The parameters after `?` (or in the last segment, the old form), values percent-decoded where they can be; the first of a repeated name wins. */
      params: ReadonlyMap<string, string>
      /** `query`: `…/?params`; `no-slash`: `…?params` without the `/`; `legacy`: `…/params` without `?`; `none`: no parameters. */
      form: 'query' | 'no-slash' | 'legacy' | 'none'
    }
  | {
      /** A DPS username: `{idScope}/registrations/{registrationId}/api-version=…`. */
      kind: 'dps'
      /** The ID scope, as sent. */
      idScope: string
      /** The registration id, as sent. */
      registrationId: string
      /** The parameters of the last segment, as for `hub`. */
      params: ReadonlyMap<string, string>
    }
  | {
      /** No username (or not text). */
      kind: 'missing'
    }
  | {
      /** A username of no known shape: `service` says which it tried to be. */
      kind: 'malformed'
      /** `dps` when its second segment is `registrations`, else `hub`. */
      service: 'hub' | 'dps'
      /** For a hub username: how many ids follow the host name. */
      ids?: number
    }

/** The username's last segment is a parameter list (an old username without `?`). */
const PARAMS_SEGMENT = /(?:^|&)(?:api-version|DeviceClientType|model-id|ClientVersion)=/i

/** `name=value&…` with the core's query reader: values percent-decoded where they can be, the first of a repeated name wins. */
function usernameParams(query: string): Map<string, string> {
  const params = new Map<string, string>()
  for (const { name, value = '' } of readQuery(query)) {
    if (name === '' || params.has(name)) continue
    let decoded = value
    try {
      decoded = decodeURIComponent(value)
    } catch {
      // kept as sent
    }
    params.set(name, decoded)
  }
  return params
}

/**
 * Reads an MQTT CONNECT username into what it names: the IoT Hub form
 * `{hub}/{deviceId}[/{moduleId}]/?{params}` (also the old forms without `?` or without the `/`
 * before it) or the DPS form `{idScope}/registrations/{registrationId}/{params}`. The one reader
 * of the grammar {@link mqttCredentials} and {@link dpsMqttCredentials} write; the ids, host and
 * parameters are left for the caller to check. Never throws: any text is read.
 *
 * @example
 * parseMqttUsername('contoso.azure-devices.net/dev1/?api-version=2021-04-12')
 * // { kind: 'hub', hostName: 'contoso.azure-devices.net', deviceId: 'dev1', params: Map { 'api-version' => '2021-04-12' }, form: 'query' }
 */
export function parseMqttUsername(username: unknown): MqttUsername {
  if (typeof username !== 'string' || username === '') return { kind: 'missing' }
  const q = username.indexOf('?')
  let path = username
  let query = ''
  let form: 'query' | 'no-slash' | 'legacy' | 'none' = 'none'
  if (q !== -1) {
    path = username.slice(0, q)
    query = username.slice(q + 1)
    form = path.endsWith('/') ? 'query' : 'no-slash'
  } else {
    const slash = username.lastIndexOf('/')
    const last = username.slice(slash + 1)
    if (PARAMS_SEGMENT.test(last)) {
      path = username.slice(0, slash + 1)
      query = last
      form = 'legacy'
    }
  }
  const segments = path.split('/')
  if (segments[1] === 'registrations') {
    const [idScope = '', , registrationId = '', rest] = segments
    if (segments.length !== 4 || rest !== '' || idScope === '' || registrationId === '') {
      return { kind: 'malformed', service: 'dps' }
    }
    return { kind: 'dps', idScope, registrationId, params: usernameParams(query) }
  }
  const ids = segments.slice(1, segments[segments.length - 1] === '' ? -1 : undefined)
  const [hostName = '', deviceId = '', moduleId] = [segments[0], ...ids]
  if (hostName === '' || ids.length < 1 || ids.length > 2 || ids.some((id) => id === '')) {
    return { kind: 'malformed', service: 'hub', ids: ids.length }
  }
  return {
    kind: 'hub',
    hostName,
    deviceId,
    ...(moduleId !== undefined && { moduleId }),
    params: usernameParams(query),
    form,
  }
}
