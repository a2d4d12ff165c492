/**
 * Connection strings: parse, format and redact. IoT Hub and DPS strings (`HostName=…`) are
 * parsed here; Service Bus-family strings (`Endpoint=sb://…`: Event Hubs, Service Bus, Relay,
 * Notification Hubs) are told apart by their names and parsed by `service-bus-connection-string.ts`,
 * and a string with names of both families is refused, saying which name is whose.
 *
 * A connection string is `Name=value` fields separated by `;`. The parser is strict where the
 * SDKs are lenient and a mistake would surface later as a 401: names are canonical and
 * case-sensitive (a miscased one gets a "did you mean"), duplicates, unknown names, empty
 * values and mixed authentication are errors, keys must be valid base64, and a
 * `SharedAccessSignature=` token must name the identity the string names. Values are split at
 * the first `=`, so base64 padding survives. One trailing `;`, whitespace around the whole
 * string, and one pair of matching quotes around it (copied from a `.env` file) are tolerated.
 *
 * Parse once: objects from the parser are remembered as checked, so the functions that take a
 * connection string trust them while their fields are unchanged.
 *
 * @module
 */
import { inspect } from 'node:util'
import * as z from 'zod/mini'
import { fail, unknownName } from './connection-string-errors.js'
import { SasTokenError, type SasTokenErrorCode } from './errors.js'
import { assertDeviceId, assertHostName } from './identity.js'
import { assertKey, assertKeyName } from './keys.js'
import { deviceResourceUri, parseSasToken, resourceCovers } from './sas-token.js'
import {
  IOT_HUB_ONLY,
  parseServiceBusConnectionString,
  SERVICE_BUS_ONLY,
  serviceBusText,
  type ServiceBusConnectionString,
} from './service-bus-connection-string.js'

interface ConnectionStringFields {
  /** The IoT hub (or DPS service) host name, such as `myhub.azure-devices.net`. */
  hostName: string
  /** The shared access policy, such as `iothubowner`, when `sharedAccessKey` is a policy key. */
  sharedAccessKeyName?: string
  /** The base64 key: the identity's own key, or the policy's. */
  sharedAccessKey?: string
  /** A ready-made token, `SharedAccessSignature sr=…`, instead of a key. */
  sharedAccessSignature?: string
  /** An IoT Edge or protocol gateway to connect to instead of the hub. */
  gatewayHostName?: string
  /** Set when the identity authenticates with an X.509 certificate; there is no key. */
  x509?: true
}

/** A device identity's connection string. */
export interface DeviceConnectionString extends ConnectionStringFields {
  /** A device identity. */
  kind: 'device'
  /** The device id, `DeviceId=`. */
  deviceId: string
  /** Never set for a device. */
  moduleId?: never
}

/** A module identity's connection string. */
export interface ModuleConnectionString extends ConnectionStringFields {
  /** A module identity. */
  kind: 'module'
  /** The id of the device the module runs on, `DeviceId=`. */
  deviceId: string
  /** The module id, `ModuleId=`. */
  moduleId: string
}

/** A hub-level or DPS-level shared access policy's connection string (no `DeviceId`). */
export interface ServiceConnectionString extends ConnectionStringFields {
  /** A hub- or DPS-level policy: its key signs tokens for any device. */
  kind: 'service'
  /** Never set for a service string. */
  deviceId?: never
  /** Never set for a service string. */
  moduleId?: never
}

/** An IoT Hub (or DPS) connection string: a device's, a module's or a policy's. */
export type IotHubConnectionString = DeviceConnectionString | ModuleConnectionString | ServiceConnectionString

/** A parsed connection string, discriminated on `kind`: IoT Hub's three, or the Service Bus family's. */
export type ConnectionString = IotHubConnectionString | ServiceBusConnectionString

/** The field names, in the order {@link formatConnectionString} writes them. */
const FIELDS = [
  ['HostName', 'hostName'],
  ['DeviceId', 'deviceId'],
  ['ModuleId', 'moduleId'],
  ['SharedAccessKeyName', 'sharedAccessKeyName'],
  ['SharedAccessKey', 'sharedAccessKey'],
  ['SharedAccessSignature', 'sharedAccessSignature'],
  ['GatewayHostName', 'gatewayHostName'],
  ['x509', 'x509'],
] as const

type FieldName = (typeof FIELDS)[number][0]

const FIELD_NAMES: ReadonlySet<string> = new Set(FIELDS.map(([name]) => name))

/** Names that mean the user has the wrong kind of string, with what to do instead. */
const FOREIGN_FIELDS: ReadonlyMap<string, string> = new Map([
  [
    'useprovisioning',
    'UseProvisioning is a C SDK option, not an identity; give HostName, DeviceId and a key',
  ],
  ['x509cert', "write X.509 authentication as 'x509=true'"],
])

/**
 * The text without the whitespace around it and without one pair of matching surrounding
 * quotes (`"…"` or `'…'`), as a value copied from a `.env` file or the portal often has.
 */
export function unquote(text: string): string {
  const body = text.trim()
  const first = body[0]
  return body.length >= 2 && (first === '"' || first === "'") && body.endsWith(first)
    ? body.slice(1, -1).trim()
    : body
}

/** What was given instead of a connection string, by type: never the value, which may be a key. */
function givenType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
}

/** The error for an argument that is neither connection-string text nor an object. */
function notAConnectionString(fn: string, value: unknown, objects = false): SasTokenError {
  const given = givenType(value)
  const accepted = objects
    ? 'a connection string, as text (HostName=…;DeviceId=…;SharedAccessKey=…) or as the object parseConnectionString returns'
    : 'a connection string as text (HostName=…;DeviceId=…;SharedAccessKey=…)'
  const hint = value === undefined ? ' (is the environment variable it comes from unset?)' : ''
  return new SasTokenError('ERR_INVALID_ARGUMENT', `${fn} needs ${accepted}; it was given ${given}${hint}.`, {
    facts: { given },
  })
}

/**
 * The error for a name that is not a field. The name is quoted only when it is a known one
 * miscased or padded: anything else might be a key that lost its `SharedAccessKey=`.
 */
function unknownField(name: string, position: number): never {
  const folded = name.trim().toLowerCase()
  const foreign = FOREIGN_FIELDS.get(folded)
  if (foreign !== undefined) fail('ERR_CONNECTION_STRING_UNSUPPORTED', foreign)
  unknownName(
    name,
    position,
    FIELDS.map(([n]) => n),
    'the names are',
  )
}

/** The raw value of each field, `undefined` for the ones the text does not have. */
type RawFields = Record<FieldName, string | undefined>

/** Splits the text into its fields, checking the syntax but not the values. */
function tokenize(text: string): RawFields {
  if (typeof text !== 'string') throw notAConnectionString('parseConnectionString', text)
  let body = unquote(text)
  if (body.endsWith(';')) body = body.slice(0, -1)
  if (body === '')
    fail('ERR_CONNECTION_STRING_EMPTY', 'it is empty; give HostName=…;DeviceId=…;SharedAccessKey=…')
  // Every name present from the start: one object shape for every string, which V8 reads fast.
  const fields: RawFields = {
    HostName: undefined,
    DeviceId: undefined,
    ModuleId: undefined,
    SharedAccessKeyName: undefined,
    SharedAccessKey: undefined,
    SharedAccessSignature: undefined,
    GatewayHostName: undefined,
    x509: undefined,
  }
  let start = 0
  for (let position = 1; start <= body.length; position++) {
    const semicolon = body.indexOf(';', start)
    const end = semicolon === -1 ? body.length : semicolon
    const eq = body.indexOf('=', start)
    if (eq === -1 || eq > end) {
      if (body.slice(start, end).trim() === '')
        fail('ERR_CONNECTION_STRING_SYNTAX', `field ${position} is empty (two ';' in a row)`)
      fail(
        'ERR_CONNECTION_STRING_SYNTAX',
        `field ${position} has no '='; fields are Name=value separated by ';' (quote the whole string in a shell, or ';' ends the command)`,
      )
    }
    const name = body.slice(start, eq)
    if (!FIELD_NAMES.has(name)) unknownField(name, position)
    const field = name as FieldName
    if (fields[field] !== undefined)
      fail('ERR_CONNECTION_STRING_DUPLICATE_KEY', `'${field}' appears twice; keep one`)
    if (eq + 1 === end) fail('ERR_CONNECTION_STRING_EMPTY_VALUE', `'${field}' has no value`)
    fields[field] = body.slice(eq + 1, end)
    start = end + 1
  }
  return fields
}

/** A zod check that runs one of the library's assertions and reports its code and message. */
function rule(assert: (value: string) => unknown) {
  return z.superRefine((value: string, ctx) => {
    try {
      assert(value)
    } catch (err) {
      if (!(err instanceof SasTokenError)) throw err
      ctx.issues.push({ code: 'custom', input: '', message: err.message, params: { code: err.code } })
    }
  })
}

const text = (assert: (value: string) => unknown) => z.string().check(rule(assert))

/**
 * The schema of each field's value. zod checks each value the text has, one small schema at a
 * time: an object schema over all eight names costs several times as much per string (it visits
 * every name, present or not, and builds a new object), and a batch of connection strings
 * spends most of its time here. The names themselves were checked by {@link tokenize}.
 */
const FIELD_SCHEMAS: Readonly<Record<FieldName, z.ZodMiniType<string>>> = {
  HostName: text((v) => assertHostName(v)),
  DeviceId: text((v) => assertDeviceId(v, 'DeviceId')),
  ModuleId: text((v) => assertDeviceId(v, 'ModuleId')),
  SharedAccessKeyName: text((v) => assertKeyName(v)),
  SharedAccessKey: text((v) => assertKey(v)),
  SharedAccessSignature: z.string(), // checked with the identity, below
  GatewayHostName: text((v) => assertHostName(v, 'GatewayHostName')),
  x509: text((v) => {
    if (!/^true$/i.test(v)) fail('ERR_CONNECTION_STRING_SYNTAX', "x509 can only be 'true'")
  }),
}

/** The fields, each value checked. */
type Fields = RawFields & { HostName: string }

/** The field names, in {@link FIELDS} order. */
const NAMES: readonly FieldName[] = FIELDS.map(([name]) => name)

/** Checks each value with its schema; the first problem becomes the error. */
function validate(fields: RawFields): Fields {
  if (fields.HostName === undefined) fail('ERR_CONNECTION_STRING_MISSING_KEY', "'HostName' is missing")
  for (let i = 0; i < NAMES.length; i++) {
    const name = NAMES[i] as FieldName
    const value = fields[name]
    if (value === undefined) continue
    const result = FIELD_SCHEMAS[name].safeParse(value)
    if (result.success) continue
    const issue = result.error.issues[0]
    const code =
      issue?.code === 'custom' ? (issue.params as { code?: SasTokenErrorCode } | undefined)?.code : undefined
    throw new SasTokenError(
      code ?? 'ERR_CONNECTION_STRING_SYNTAX',
      issue?.message ?? 'Invalid connection string.',
    )
  }
  return fields as Fields
}

/** Checks that the fields together make one identity with one way to authenticate. */
function checkCombination(f: Fields): ConnectionString['kind'] {
  if (f.ModuleId !== undefined && f.DeviceId === undefined) {
    fail('ERR_CONNECTION_STRING_MISSING_KEY', "'ModuleId' needs the 'DeviceId' of the device it belongs to")
  }
  const auth = [
    f.SharedAccessKey && 'SharedAccessKey',
    f.SharedAccessSignature && 'SharedAccessSignature',
    f.x509 && 'x509=true',
  ].filter(Boolean)
  if (auth.length > 1)
    fail('ERR_CONNECTION_STRING_MIXED_AUTH', `it has both ${auth.join(' and ')}; keep exactly one`)
  if (auth.length === 0) {
    fail(
      'ERR_CONNECTION_STRING_MISSING_KEY',
      "it needs one of 'SharedAccessKey', 'SharedAccessSignature' or 'x509=true'",
    )
  }
  if (f.SharedAccessKeyName !== undefined && f.x509) {
    fail(
      'ERR_CONNECTION_STRING_MIXED_AUTH',
      "'SharedAccessKeyName' names a policy key, which an X.509 identity does not use",
    )
  }
  if (f.DeviceId !== undefined) return f.ModuleId === undefined ? 'device' : 'module'
  if (f.x509)
    fail('ERR_CONNECTION_STRING_MISSING_KEY', "'x509=true' authenticates a device, so 'DeviceId' is missing")
  if (f.SharedAccessKey !== undefined && f.SharedAccessKeyName === undefined) {
    fail(
      'ERR_CONNECTION_STRING_MISSING_KEY',
      "'DeviceId' is missing (for a device key) or 'SharedAccessKeyName' is (for a policy key such as iothubowner)",
    )
  }
  return 'service'
}

/**
 * Checks that an embedded token is for the identity the string names: a device or module
 * token for exactly that identity, or, for a service string, a policy token (`skn`, matching
 * `SharedAccessKeyName` if given) for the hub or a resource below it.
 */
function checkEmbeddedToken(cs: IotHubConnectionString, token: string): void {
  const { resourceUri, keyName } = parseSasToken(token)
  const named = cs.kind === 'service' ? cs.hostName : deviceResourceUri(cs.hostName, cs.deviceId, cs.moduleId)
  if (cs.kind === 'service' && keyName === undefined) {
    fail(
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      "its SharedAccessSignature has no 'skn', so it is not a policy token and cannot stand for the hub",
    )
  }
  if (cs.sharedAccessKeyName !== undefined && keyName !== cs.sharedAccessKeyName) {
    fail(
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      "its SharedAccessSignature's 'skn' is not the policy that SharedAccessKeyName names",
    )
  }
  if (!resourceCovers(named, resourceUri, cs.kind === 'service')) {
    fail(
      'ERR_CONNECTION_STRING_TOKEN_MISMATCH',
      `its SharedAccessSignature is for ${resourceUri}, but the string names ${named}`,
    )
  }
}

/** Shows a connection string with its secrets redacted in `console.log` and `util.inspect`. */
function redactedInspect(this: ConnectionString | ServiceBusConnectionString): string {
  return `ConnectionString <${redactConnectionString(this)}>`
}

/** The property that does it: one descriptor for every parsed string. */
const REDACTED_INSPECT: PropertyDescriptor = Object.freeze({ value: redactedInspect, enumerable: false })

/**
 * Parses a device, module or service (shared access policy) connection string, or a Service
 * Bus-family one (`Endpoint=sb://…`: `kind: 'service-bus'`).
 *
 * The result's secrets are redacted when it is logged with `console.log` or `util.inspect`;
 * the fields themselves hold the real values, so `JSON.stringify` and copies show the key.
 * Log {@link redactConnectionString} instead.
 *
 * @example
 * ```ts
 * const cs = parseConnectionString('HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=…')
 * cs.kind // 'device'
 * ```
 * @throws {SasTokenError} `ERR_CONNECTION_STRING_*` for the structure, `ERR_INVALID_HOST_NAME`,
 *   `ERR_INVALID_IDENTIFIER`, `ERR_INVALID_KEY`, `ERR_INVALID_KEY_NAME` or `ERR_TOKEN_MALFORMED`
 *   for a value. Messages never contain a key or a signature.
 */
export function parseConnectionString(text: string): ConnectionString {
  try {
    return parse(text)
  } catch (err) {
    throw withoutSecrets(err, text)
  }
}

/**
 * Messages may quote a value (a host name, an id) to say what is wrong with it. If the text was
 * garbled so that a key or signature sits where such a value should be, it is cut out here.
 */
function withoutSecrets(err: unknown, text: string): unknown {
  if (!(err instanceof SasTokenError) || typeof text !== 'string') return err
  const secrets = [...text.matchAll(/(?:SharedAccessKey\s*=|sig=)([A-Za-z0-9+/=%]{4,})/gi)].map(
    (m) => m[1] as string,
  )
  const message = secrets.reduce((m, secret) => m.replaceAll(secret, '<redacted>'), err.message)
  return message === err.message ? err : new SasTokenError(err.code, message)
}

/** A cheap test for a Service Bus-family name anywhere in the text. */
const SERVICE_BUS_NAME = /(?:^|;)\s*(?:endpoint|entitypath|usedevelopmentemulator)\s*=/i

/**
 * The body of a Service Bus-family string (unquoted, without its trailing `;`), or `undefined`
 * for any other text. A string with names of both families is refused here.
 */
function serviceBusBody(text: string): string | undefined {
  if (typeof text !== 'string' || !SERVICE_BUS_NAME.test(text)) return undefined
  let body = unquote(text)
  if (body.endsWith(';')) body = body.slice(0, -1)
  const names = body.split(';').map((field) => {
    const eq = field.indexOf('=')
    return (eq === -1 ? '' : field.slice(0, eq)).trim().toLowerCase()
  })
  const canonical = (list: readonly string[]) => list.filter((name) => names.includes(name.toLowerCase()))
  const iot = canonical(IOT_HUB_ONLY)
  const serviceBus = canonical(SERVICE_BUS_ONLY)
  if (serviceBus.length === 0) return undefined
  if (iot.length > 0) {
    fail(
      'ERR_CONNECTION_STRING_MIXED_FAMILY',
      `it mixes two kinds of connection string: ${iot.join(', ')} belong to IoT Hub strings (HostName=…), ${serviceBus.join(', ')} to Service Bus-family strings (Endpoint=sb://…: Event Hubs, Service Bus, Relay, Notification Hubs); keep the fields of one (SharedAccessKeyName, SharedAccessKey and SharedAccessSignature belong to both)`,
    )
  }
  return body
}

function parse(text: string): ConnectionString {
  const body = serviceBusBody(text)
  if (body !== undefined) {
    const sb = parseServiceBusConnectionString(body)
    Object.defineProperty(sb, inspect.custom, REDACTED_INSPECT)
    return sb
  }
  const f = validate(tokenize(text))
  checkCombination(f)
  const hostName = f.HostName
  // The same rule as checkCombination's: DeviceId makes a device, DeviceId and ModuleId a module.
  const cs: IotHubConnectionString =
    f.DeviceId === undefined
      ? { kind: 'service', hostName }
      : f.ModuleId === undefined
        ? { kind: 'device', hostName, deviceId: f.DeviceId }
        : { kind: 'module', hostName, deviceId: f.DeviceId, moduleId: f.ModuleId }
  if (f.SharedAccessKeyName !== undefined) cs.sharedAccessKeyName = f.SharedAccessKeyName
  if (f.SharedAccessKey !== undefined) cs.sharedAccessKey = f.SharedAccessKey
  if (f.SharedAccessSignature !== undefined) cs.sharedAccessSignature = f.SharedAccessSignature
  if (f.GatewayHostName !== undefined) cs.gatewayHostName = f.GatewayHostName
  if (f.x509 !== undefined) cs.x509 = true
  if (cs.sharedAccessSignature !== undefined) checkEmbeddedToken(cs, cs.sharedAccessSignature)
  Object.defineProperty(cs, inspect.custom, REDACTED_INSPECT)
  Object.defineProperty(cs, CHECKED, { value: { fields: snapshot(cs), value: cs } satisfies Checked })
  return cs
}

/** The fields of a checked connection string, as they were when it was checked. */
interface Snapshot {
  readonly kind: IotHubConnectionString['kind']
  readonly hostName: string
  readonly deviceId: string | undefined
  readonly moduleId: string | undefined
  readonly sharedAccessKeyName: string | undefined
  readonly sharedAccessKey: string | undefined
  readonly sharedAccessSignature: string | undefined
  readonly gatewayHostName: string | undefined
  readonly x509: true | undefined
}

/** An object that passed the checks: its fields as they were then, and the checked value. */
interface Checked {
  fields: Snapshot
  value: IotHubConnectionString
}

/**
 * Parse once: an object from the IoT Hub parser carries its {@link Checked} record under this symbol,
 * as a property that copies leave behind; an object that passed {@link checkedObject} has its
 * record in {@link checked}. An object whose fields have changed since is checked again.
 */
const CHECKED = Symbol('sas-token.checked')
const checked = new WeakMap<object, Checked>()

/** The record of a check `cs` passed, if any. */
function checkOf(cs: IotHubConnectionString): Checked | undefined {
  return (cs as { [CHECKED]?: Checked })[CHECKED] ?? checked.get(cs)
}

/** The last object {@link checkedObject} trusted: the common case is the same one again. */
let lastObject: IotHubConnectionString | undefined
let lastChecked: Checked | undefined

function snapshot(cs: IotHubConnectionString): Snapshot {
  return {
    kind: cs.kind,
    hostName: cs.hostName,
    deviceId: cs.deviceId,
    moduleId: cs.moduleId,
    sharedAccessKeyName: cs.sharedAccessKeyName,
    sharedAccessKey: cs.sharedAccessKey,
    sharedAccessSignature: cs.sharedAccessSignature,
    gatewayHostName: cs.gatewayHostName,
    x509: cs.x509,
  }
}

function unchanged(cs: IotHubConnectionString, f: Snapshot): boolean {
  return (
    cs.sharedAccessKey === f.sharedAccessKey &&
    cs.hostName === f.hostName &&
    cs.deviceId === f.deviceId &&
    cs.moduleId === f.moduleId &&
    cs.kind === f.kind &&
    cs.sharedAccessKeyName === f.sharedAccessKeyName &&
    cs.sharedAccessSignature === f.sharedAccessSignature &&
    cs.gatewayHostName === f.gatewayHostName &&
    cs.x509 === f.x509
  )
}

/** The fields of `cs` as text, in canonical order, unchecked. */
function toText(cs: ConnectionString): string {
  if (cs.kind === 'service-bus') return serviceBusText(cs)
  return FIELDS.filter(([, property]) => cs[property] !== undefined)
    .map(([name, property]) => `${name}=${String(cs[property])}`)
    .join(';')
}

/**
 * Writes a connection string in canonical field order. It checks the result, so
 * `formatConnectionString(parseConnectionString(s))` always parses back to the same value.
 *
 * @throws {SasTokenError} any code of {@link parseConnectionString}, when `cs` is not valid;
 *   `ERR_INVALID_ARGUMENT` when it is not an object.
 */
export function formatConnectionString(cs: ConnectionString): string {
  return toText(checkedAny(cs, 'formatConnectionString'))
}

/** Service Bus-family objects checked, with the text they were checked as. */
const checkedServiceBus = new WeakMap<object, { text: string; value: ServiceBusConnectionString }>()

/** Checks a connection-string object of either family exactly as if it had been parsed from text. */
function checkedAny(cs: ConnectionString, fn: string): ConnectionString {
  if (typeof cs !== 'object' || cs === null || Array.isArray(cs)) throw notAConnectionString(fn, cs, true)
  if (cs.kind !== 'service-bus') return checkedObject(cs, fn)
  const text = serviceBusText(cs)
  const known = checkedServiceBus.get(cs)
  if (known !== undefined && known.text === text) return known.value
  const parsed = parseConnectionString(text)
  if (parsed.kind !== 'service-bus' || parsed.service !== cs.service) {
    fail(
      'ERR_CONNECTION_STRING_MISSING_KEY',
      `its fields make a ${parsed.kind} connection string${parsed.kind === 'service-bus' ? ` for the service '${parsed.service}'` : ''}, not this one`,
    )
  }
  checkedServiceBus.set(cs, { text, value: parsed })
  return parsed
}

/** Checks an IoT Hub connection-string object exactly as if it had been parsed from text. */
function checkedObject(cs: IotHubConnectionString, fn = 'formatConnectionString'): IotHubConnectionString {
  if (cs === lastObject && lastChecked !== undefined && unchanged(cs, lastChecked.fields))
    return lastChecked.value
  if (typeof cs !== 'object' || cs === null || Array.isArray(cs)) throw notAConnectionString(fn, cs, true)
  const known = checkOf(cs)
  if (known !== undefined && unchanged(cs, known.fields)) {
    lastObject = cs
    lastChecked = known
    return known.value
  }
  const parsed = parseConnectionString(toText(cs))
  if (parsed.kind === 'service-bus' || parsed.kind !== cs.kind) {
    fail(
      'ERR_CONNECTION_STRING_MISSING_KEY',
      `its fields make a ${parsed.kind} connection string, not a ${String(cs.kind)} one`,
    )
  }
  checked.set(cs, { fields: snapshot(cs), value: parsed })
  return parsed
}

/** The last text {@link toConnectionString} parsed, and its result (never handed to a caller). */
let lastText: string | undefined
let lastParsed: IotHubConnectionString | undefined

/**
 * A checked connection string from text or from an object, for the functions that accept
 * either: a hand-built object gets the same checks as parsed text, once; an object from the
 * parser, or one already checked and unchanged since, is trusted. The result is for the
 * library's own use: callers must not hand it out.
 *
 * @param fn The public function asking, named in the error for a wrong argument.
 * @throws {SasTokenError} any code of {@link parseConnectionString}; `ERR_INVALID_ARGUMENT` for
 *   something that is neither text nor an object.
 */
export function toConnectionString(source: string | ConnectionString, fn: string): IotHubConnectionString {
  if (typeof source !== 'string') {
    const cs = checkedAny(source, fn)
    return cs.kind === 'service-bus' ? notIotHub(fn) : cs
  }
  if (source === lastText && lastParsed !== undefined) return checkedObject(lastParsed, fn)
  const parsed = parseConnectionString(source)
  if (parsed.kind === 'service-bus') return notIotHub(fn)
  lastText = source
  lastParsed = parsed
  return parsed
}

/** The error for a Service Bus-family string given where an IoT Hub identity is needed. */
function notIotHub(fn: string): never {
  fail(
    'ERR_CONNECTION_STRING_UNSUPPORTED',
    `${fn} needs an IoT Hub connection string (HostName=…), and this is a Service Bus-family one (Endpoint=sb://…), which names no device; use the IoT hub's connection string from the portal`,
  )
}

/**
 * {@link toConnectionString} for the functions that take either family (a token for the string's
 * own resource). Internal.
 *
 * @throws {SasTokenError} as {@link toConnectionString}.
 */
export function toAnyConnectionString(source: string | ConnectionString, fn: string): ConnectionString {
  return typeof source === 'string' && serviceBusBody(source) === undefined
    ? toConnectionString(source, fn)
    : typeof source === 'string'
      ? parseConnectionString(source)
      : checkedAny(source, fn)
}

/**
 * Writes a connection string with `SharedAccessKey` and the token's `sig` replaced by
 * `<redacted>`, safe for logs. Text that does not parse is redacted all the same.
 *
 * @throws {SasTokenError} `ERR_INVALID_ARGUMENT` when `cs` is neither text nor an object.
 */
export function redactConnectionString(cs: ConnectionString | string): string {
  if (typeof cs !== 'string' && (typeof cs !== 'object' || cs === null)) {
    throw notAConnectionString('redactConnectionString', cs, true)
  }
  return (typeof cs === 'string' ? cs : toText(cs))
    .replace(/(SharedAccessKey\s*=)[^;]*/gi, '$1<redacted>')
    .replace(/\b(sig=)[^&;\s]*/gi, '$1<redacted>')
}
