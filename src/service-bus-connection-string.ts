/**
 * Service Bus-family connection strings: Event Hubs, Service Bus, Relay and Notification Hubs
 * (and an IoT hub's built-in Event Hub-compatible endpoint), parsed and written.
 *
 * `Endpoint=sb://{host}[:{port}]/;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=…]
 * [;UseDevelopmentEmulator=true]`, or `SharedAccessSignature=…` instead of the key pair. The rules
 * are the IoT Hub parser's (`connection-string.ts`, which hands these strings here): canonical
 * case-sensitive names with a "did you mean", no duplicates, unknown names or empty values, one
 * way to authenticate, and never a key in a message. The key is text (these services sign with
 * its UTF-8 bytes), so it is not checked as base64.
 *
 * @module
 */
import { fail, unknownName } from './connection-string-errors.js'
import { SasTokenError } from './errors.js'
import { assertHostName } from './identity.js'
import { assertKeyName } from './keys.js'
import { assertTextKey, parseSasToken, resourceCovers } from './sas-token.js'

/**
 * What the host (and entity) say the namespace is:
 * - `'iot-hub-event-hub'`: an IoT hub's built-in Event Hub-compatible endpoint
 *   (`ihsu…` or `iothub-ns-…` namespaces, `iothub-ehub-…` entities);
 * - `'emulator'`: a local Event Hubs or Service Bus emulator (`localhost`, a loopback address,
 *   or `UseDevelopmentEmulator=true`);
 * - `'azure-namespace'`: an Azure namespace (`*.servicebus.windows.net` and the sovereign
 *   clouds' hosts), Event Hubs, Service Bus, Relay or Notification Hubs: the host does not tell which;
 * - `'unknown'`: any other host.
 */
export type ServiceBusService = 'iot-hub-event-hub' | 'emulator' | 'azure-namespace' | 'unknown'

/** A Service Bus-family connection string (`Endpoint=sb://…`). */
export interface ServiceBusConnectionString {
  /** The Service Bus family: Event Hubs, Service Bus, Relay, Notification Hubs. */
  kind: 'service-bus'
  /** The namespace host, such as `myns.servicebus.windows.net`, from `Endpoint=sb://{host}/`. */
  namespace: string
  /** The port of `Endpoint`, when it names one (an emulator's, such as 5672). */
  port?: number
  /** The event hub, queue or topic, `EntityPath=`. */
  entityPath?: string
  /** The shared access policy, such as `RootManageSharedAccessKey`. */
  sharedAccessKeyName?: string
  /** The policy's key, as text: these services sign with its UTF-8 bytes. */
  sharedAccessKey?: string
  /** A ready-made token, `SharedAccessSignature sr=sb%3A%2F%2F…`, instead of a key. */
  sharedAccessSignature?: string
  /** `UseDevelopmentEmulator=true`: a local emulator (plain AMQP, no TLS). */
  useDevelopmentEmulator?: true
  /** What the host says the namespace is (derived; {@link formatConnectionString} ignores it). */
  service: ServiceBusService
  /** Never set: an IoT Hub string's field. */
  hostName?: never
  /** Never set: an IoT Hub string's field. */
  deviceId?: never
  /** Never set: an IoT Hub string's field. */
  moduleId?: never
  /** Never set: an IoT Hub string's field. */
  gatewayHostName?: never
  /** Never set: an IoT Hub string's field. */
  x509?: never
}

/** The names, in the order they are written (the portal's). */
const NAMES = [
  'Endpoint',
  'SharedAccessKeyName',
  'SharedAccessKey',
  'SharedAccessSignature',
  'EntityPath',
  'UseDevelopmentEmulator',
] as const
type Name = (typeof NAMES)[number]

/** Field names only an IoT Hub or DPS string has. */
export const IOT_HUB_ONLY: readonly string[] = ['HostName', 'DeviceId', 'ModuleId', 'GatewayHostName', 'x509']
/** Field names only a Service Bus-family string has. */
export const SERVICE_BUS_ONLY: readonly string[] = ['Endpoint', 'EntityPath', 'UseDevelopmentEmulator']

/** Splits `body` (unquoted, without its trailing `;`) into checked-syntax raw fields. */
function tokenize(body: string): Partial<Record<Name, string>> {
  const fields: Partial<Record<Name, string>> = {}
  const parts = body.split(';')
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? ''
    const position = i + 1
    const eq = part.indexOf('=')
    if (eq === -1) {
      if (part.trim() === '')
        fail('ERR_CONNECTION_STRING_SYNTAX', `field ${position} is empty (two ';' in a row)`)
      fail(
        'ERR_CONNECTION_STRING_SYNTAX',
        `field ${position} has no '='; fields are Name=value separated by ';' (quote the whole string in a shell, or ';' ends the command)`,
      )
    }
    const name = part.slice(0, eq)
    if (!(NAMES as readonly string[]).includes(name))
      unknownName(name, position, NAMES, 'the names of an Endpoint=sb://… string are')
    const field = name as Name
    if (fields[field] !== undefined)
      fail('ERR_CONNECTION_STRING_DUPLICATE_KEY', `'${field}' appears twice; keep one`)
    const value = part.slice(eq + 1)
    if (value === '') fail('ERR_CONNECTION_STRING_EMPTY_VALUE', `'${field}' has no value`)
    fields[field] = value
  }
  return fields
}

/** `sb://{host}[:{port}][/]` taken apart. */
function parseEndpoint(endpoint: string): { namespace: string; port?: number } {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(endpoint)
  if (scheme === null)
    fail(
      'ERR_CONNECTION_STRING_SYNTAX',
      "'Endpoint' must be sb://{namespace host}/, such as sb://myns.servicebus.windows.net/",
    )
  if (scheme[1] !== 'sb')
    fail(
      'ERR_CONNECTION_STRING_SYNTAX',
      `'Endpoint' must use the sb:// scheme, not ${scheme[1]}://; the SDKs pick the transport`,
    )
  const rest = endpoint.slice(scheme[0].length)
  const slash = rest.indexOf('/')
  const authority = slash === -1 ? rest : rest.slice(0, slash)
  if (slash !== -1 && slash !== rest.length - 1)
    fail(
      'ERR_CONNECTION_STRING_SYNTAX',
      "'Endpoint' has a path; give the entity as EntityPath=… and end Endpoint with the host's '/'",
    )
  const colon = authority.lastIndexOf(':')
  const host = colon === -1 ? authority : authority.slice(0, colon)
  assertHostName(host, "Endpoint's host")
  if (colon === -1) return { namespace: host }
  const port = authority.slice(colon + 1)
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
    fail('ERR_CONNECTION_STRING_SYNTAX', "'Endpoint' has a port that is not a number from 1 to 65535")
  return { namespace: host, port: Number(port) }
}

/**
 * Checks an entity path (an event hub, a queue, a topic, `topic/subscriptions/sub`): segments of
 * letters, digits and `- . _ ~ @` joined by single `/`, at most 260 characters.
 *
 * @throws {SasTokenError} `ERR_INVALID_ENTITY_PATH`.
 */
export function assertEntityPath(entityPath: string, what = 'EntityPath'): string {
  if (
    typeof entityPath === 'string' &&
    entityPath.length <= 260 &&
    /^[A-Za-z0-9\-._~@]+(?:\/[A-Za-z0-9\-._~@]+)*$/.test(entityPath)
  )
    return entityPath
  throw new SasTokenError(
    'ERR_INVALID_ENTITY_PATH',
    `${what} is not a valid entity path: use up to 260 letters, digits and - . _ ~ @ in segments separated by single '/' (for example myhub, or mytopic/subscriptions/mysub).`,
  )
}

/** What the host says the namespace is; see {@link ServiceBusService}. */
export function serviceOf(
  namespace: string,
  entityPath: string | undefined,
  emulator: boolean,
): ServiceBusService {
  const host = namespace.toLowerCase()
  if (emulator || host === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(host)) return 'emulator'
  const azure = /\.servicebus\.(?:windows\.net|chinacloudapi\.cn|usgovcloudapi\.net|cloudapi\.de)$/.test(host)
  if (azure && (/^(?:ihsu|iothub-ns-)/.test(host) || entityPath?.startsWith('iothub-ehub-') === true))
    return 'iot-hub-event-hub'
  return azure ? 'azure-namespace' : 'unknown'
}

/** The service, in words, for `inspect`. */
export function describeService(service: ServiceBusService): string {
  switch (service) {
    case 'iot-hub-event-hub':
      return "an IoT hub's built-in Event Hub-compatible endpoint"
    case 'emulator':
      return 'a local Event Hubs or Service Bus emulator'
    case 'azure-namespace':
      return 'an Azure Event Hubs, Service Bus, Relay or Notification Hubs namespace (the host does not tell which)'
    case 'unknown':
      return 'a Service Bus-family endpoint outside the Azure namespaces this tool knows'
  }
}

/**
 * The audience a connection string's key signs for: `sb://{host}[:port]/{EntityPath}`, or the
 * namespace (`sb://{host}/`) when it names no entity.
 */
export function serviceBusAudience(cs: ServiceBusConnectionString): string {
  const base = `sb://${cs.namespace}${cs.port === undefined ? '' : `:${cs.port}`}/`
  return cs.entityPath === undefined ? base : base + cs.entityPath
}

/**
 * Parses the body of a Service Bus-family string (unquoted, its trailing `;` removed).
 * Internal; `parseConnectionString` is the public form and hands these strings here.
 *
 * @throws {SasTokenError} as `parseConnectionString`, and `ERR_INVALID_ENTITY_PATH`.
 */
export function parseServiceBusConnectionString(body: string): ServiceBusConnectionString {
  const f = tokenize(body)
  if (f.Endpoint === undefined)
    fail('ERR_CONNECTION_STRING_MISSING_KEY', "'Endpoint' is missing (Endpoint=sb://{namespace host}/)")
  const { namespace, port } = parseEndpoint(f.Endpoint)
  if (f.SharedAccessKeyName !== undefined) assertKeyName(f.SharedAccessKeyName)
  if (f.SharedAccessKey !== undefined) assertTextKey(f.SharedAccessKey)
  if (f.EntityPath !== undefined) assertEntityPath(f.EntityPath)
  let emulator = false
  if (f.UseDevelopmentEmulator !== undefined) {
    if (!/^(?:true|false)$/i.test(f.UseDevelopmentEmulator))
      fail('ERR_CONNECTION_STRING_SYNTAX', "UseDevelopmentEmulator can only be 'true' or 'false'")
    emulator = /^true$/i.test(f.UseDevelopmentEmulator)
  }
  if (f.SharedAccessKey !== undefined && f.SharedAccessSignature !== undefined)
    fail(
      'ERR_CONNECTION_STRING_MIXED_AUTH',
      'it has both SharedAccessKey and SharedAccessSignature; keep exactly one',
    )
  if (f.SharedAccessKey === undefined && f.SharedAccessSignature === undefined)
    fail(
      'ERR_CONNECTION_STRING_MISSING_KEY',
      "it needs 'SharedAccessKeyName' and 'SharedAccessKey', or 'SharedAccessSignature'",
    )
  if (f.SharedAccessKey !== undefined && f.SharedAccessKeyName === undefined)
    fail(
      'ERR_CONNECTION_STRING_MISSING_KEY',
      "'SharedAccessKeyName' is missing: a key signs as its policy, such as RootManageSharedAccessKey",
    )
  const cs: ServiceBusConnectionString = {
    kind: 'service-bus',
    namespace,
    service: serviceOf(namespace, f.EntityPath, emulator),
  }
  if (port !== undefined) cs.port = port
  if (f.EntityPath !== undefined) cs.entityPath = f.EntityPath
  if (f.SharedAccessKeyName !== undefined) cs.sharedAccessKeyName = f.SharedAccessKeyName
  if (f.SharedAccessKey !== undefined) cs.sharedAccessKey = f.SharedAccessKey
  if (f.SharedAccessSignature !== undefined) {
    cs.sharedAccessSignature = f.SharedAccessSignature
    checkEmbeddedToken(cs, f.SharedAccessSignature)
  }
  if (emulator) cs.useDevelopmentEmulator = true
  return cs
}

/** An embedded token must be a Service Bus-family policy token for the namespace or entity. */
function checkEmbeddedToken(cs: ServiceBusConnectionString, token: string): void {
  const { resourceUri, keyName, family } = parseSasToken(token)
  if (family !== 'service-bus' || keyName === undefined)
    fail(
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      'its SharedAccessSignature is not a Service Bus-family token (sr=sb%3A%2F%2F…&skn=…); sign one for this namespace',
    )
  if (cs.sharedAccessKeyName !== undefined && keyName !== cs.sharedAccessKeyName)
    fail(
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      "its SharedAccessSignature's 'skn' is not the policy that SharedAccessKeyName names",
    )
  const named = serviceBusAudience(cs)
  const granted = resourceUri.replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, 'sb:')
  if (
    !resourceCovers(
      granted.endsWith('/') ? granted.slice(0, -1) : granted,
      named.endsWith('/') ? named.slice(0, -1) : named,
      true,
    )
  )
    fail(
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      `its SharedAccessSignature is for ${resourceUri}, which does not cover ${named}`,
    )
}

/** The fields of `cs` as text, in the portal's order, unchecked. */
export function serviceBusText(cs: ServiceBusConnectionString): string {
  const fields: string[] = [`Endpoint=sb://${cs.namespace}${cs.port === undefined ? '' : `:${cs.port}`}/`]
  if (cs.sharedAccessKeyName !== undefined) fields.push(`SharedAccessKeyName=${cs.sharedAccessKeyName}`)
  if (cs.sharedAccessKey !== undefined) fields.push(`SharedAccessKey=${cs.sharedAccessKey}`)
  if (cs.sharedAccessSignature !== undefined) fields.push(`SharedAccessSignature=${cs.sharedAccessSignature}`)
  if (cs.entityPath !== undefined) fields.push(`EntityPath=${cs.entityPath}`)
  if (cs.useDevelopmentEmulator === true) fields.push('UseDevelopmentEmulator=true')
  return fields.join(';')
}
