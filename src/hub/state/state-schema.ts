/**
 * The schema of `state.json`: one zod schema per stored type, mirroring the TypeScript
 * interfaces (`HubState`, `DeviceEntry`, `Identity`, `Policy`, `TwinState`, `QueuedC2d`, the DPS
 * enrollments, groups, registrations and policies, `RegisteredCa`), checked deeply when the hub loads the
 * file, so that a hand-edited state that would crash the hub later is refused at start with the
 * JSON path of the first problem. Keys are checked with the core's base64 rule, ids with the
 * core's id rules; a table's key must be the id of its entry.
 *
 * Every table keyed by an id (devices, modules, sessions, enrollments, groups, registrations,
 * certificates, twin collections) is a null-prototype object, on load and when made fresh
 * ({@link idTable}): an id such as `__proto__` or `constructor` is then an ordinary key. (zod's
 * own `record` drops a `__proto__` key, so tables use {@link table} here.)
 *
 * zod stays internal: nothing here is exported from the package.
 *
 * @module
 */
import * as z from 'zod/mini'
import { SasTokenError } from '../../errors.js'
import { assertDeviceId, assertRegistrationId } from '../../identity.js'
import { assertKey } from '../../keys.js'
import { C2D_ACKS } from './c2d-feedback.js'
import { type RegisteredCa, assertCaName } from './ca-registry.js'
import { idTable } from './id-table.js'
import type { DeviceJob, StoredJob } from './jobs.js'
import type { DeviceEntry, Identity, Policy, QueuedC2d } from './registry.js'
import type { DpsPolicy, Enrollment, EnrollmentGroup, HubState, Registration } from './state-store.js'
import type { JsonObject, TwinState } from './twin.js'

/**
 * The error for a state file that cannot be used.
 *
 * @param why What is wrong, as a sentence part after the file name ("is empty").
 */
export function stateCorrupt(file: string, why: string): SasTokenError {
  return Object.assign(
    new SasTokenError(
      'ERR_HUB_STATE_CORRUPT',
      `The hub state file ${file} ${why}. It was left as it is: fix it, or move it away (the hub then starts empty), or start with another --state-dir.`,
    ),
    { file },
  )
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

/** A zod check that runs one of the core's assertions; its message (never the value) is the issue's. */
function rule(assert: (value: string) => unknown) {
  return z.superRefine((value: string, ctx) => {
    try {
      assert(value)
    } catch (err) {
      if (!(err instanceof SasTokenError)) throw err
      ctx.issues.push({ code: 'custom', input: '', message: err.message })
    }
  })
}

const text = z.string()
const key = z.string().check(rule((v) => assertKey(v, 'the key')))
const thumbprint = z.string().check(
  z.refine((v) => v === '' || /^(?:[0-9A-F]{40}|[0-9A-F]{64})$/.test(v), {
    error: 'expected a SHA-1 (40) or SHA-256 (64) thumbprint in upper-case hex, or ""',
  }),
)
const base64 = z
  .string()
  .check(z.refine((v) => Buffer.from(v, 'base64').toString('base64') === v, { error: 'expected base64' }))
const count = z.int().check(z.nonnegative())
const status = z.enum(['enabled', 'disabled'])
const optional = z.exactOptional

/** The parse options: every issue's message is {@link expected}'s, which never repeats the input. */
const PARSE = { error: expected } as const

/**
 * A table keyed by ids, as a null-prototype object (zod's `record` would drop `__proto__`).
 *
 * @param checkKey Checks a key (an id rule); throws a {@link SasTokenError}.
 * @param idOf The path of the member of an entry that must equal its key.
 */
function table<T extends z.ZodMiniType>(
  entry: T,
  o: { checkKey?: (key: string) => unknown; idOf?: readonly string[] } = {},
) {
  return z.pipe(
    z.custom<Record<string, unknown>>(isPlainObject, 'expected an object'),
    z.transform((input: Record<string, unknown>, ctx): Record<string, z.output<T>> => {
      const out = idTable<z.output<T>>()
      for (const name of Object.keys(input)) {
        if (o.checkKey) {
          try {
            o.checkKey(name)
          } catch (err) {
            if (!(err instanceof SasTokenError)) throw err
            ctx.issues.push({ code: 'custom', input: '', path: [name], message: `its key: ${err.message}` })
            continue
          }
        }
        const value = input[name]
        const result = z.safeParse(entry, value, PARSE)
        if (!result.success) {
          for (const issue of result.error.issues)
            ctx.issues.push({
              code: 'custom',
              input: '',
              path: [name, ...issue.path],
              message: issue.message,
            })
          continue
        }
        if (o.idOf !== undefined && member(value, o.idOf) !== name) {
          ctx.issues.push({
            code: 'custom',
            input: '',
            path: [name, ...o.idOf],
            message: `expected ${JSON.stringify(name)}, the key it is stored under`,
          })
          continue
        }
        out[name] = result.data
      }
      return out
    }),
  )
}

/** The member of `value` at `path`, or `undefined`. */
function member(value: unknown, path: readonly string[]): unknown {
  let at = value
  for (const name of path) at = isPlainObject(at) && Object.hasOwn(at, name) ? at[name] : undefined
  return at
}

/** Twin collections: JSON objects whose members are the user's (kept as they are, `__proto__` too). */
const collection = table(z.unknown())

const policy = z.strictObject({
  keyName: text,
  primaryKey: key,
  secondaryKey: key,
  rights: z.array(z.enum(['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'])),
}) satisfies z.ZodMiniType<Policy>

const twin = z.strictObject({
  version: count,
  tags: collection,
  desired: collection,
  desiredVersion: count,
  reported: collection,
  reportedVersion: count,
}) satisfies z.ZodMiniType<TwinState & { tags: JsonObject }>

const authentication = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('sas'),
      symmetricKey: z.strictObject({ primaryKey: key, secondaryKey: key }),
    }),
    z.strictObject({
      type: z.literal('selfSigned'),
      x509Thumbprint: z.strictObject({ primaryThumbprint: thumbprint, secondaryThumbprint: thumbprint }),
    }),
    z.strictObject({ type: z.literal('certificateAuthority') }),
  ],
  { error: 'expected a type of "sas", "selfSigned" or "certificateAuthority"' },
)

const identity = z.strictObject({
  deviceId: text.check(rule((v) => assertDeviceId(v, 'deviceId'))),
  moduleId: optional(text.check(rule((v) => assertDeviceId(v, 'moduleId')))),
  generationId: text,
  etag: text,
  status,
  statusReason: z.nullable(text),
  authentication,
  connectionState: z.enum(['Connected', 'Disconnected']),
  connectionStateUpdatedTime: text,
  lastActivityTime: text,
  // a device's capabilities; a file written before they were kept has none (iotEdge false)
  capabilities: optional(z.strictObject({ iotEdge: z.boolean() })),
  twin,
}) satisfies z.ZodMiniType<Identity>

/**
 * A queued C2D message. To add a member (a delivery count, a lock, a state), add it here and
 * to `QueuedC2d` in registry.ts; `optional(...)` for a member that older state files lack.
 */
const c2dMessage = z.strictObject({
  messageId: text,
  payload: base64,
  properties: z.strictObject({
    outputName: optional(text),
    messageId: optional(text),
    correlationId: optional(text),
    userId: optional(text),
    to: optional(text),
    contentType: optional(text),
    contentEncoding: optional(text),
    interfaceId: optional(text),
    expiryTimeUtc: optional(text),
    componentName: optional(text),
    properties: optional(table(text)),
  }),
  enqueuedTime: text,
  // c2d-queue.ts counts deliveries; a file written before it kept none (a lock is never kept:
  // a restart is a lost link)
  deliveryCount: z._default(count, 0),
  // the feedback it asked for (c2d-feedback.ts); a file written before it was kept has none
  ack: optional(z.enum(C2D_ACKS)),
}) satisfies z.ZodMiniType<QueuedC2d>

const deviceEntry = z
  .strictObject({
    device: identity,
    modules: table(identity, { checkKey: (k) => assertDeviceId(k, 'moduleId'), idOf: ['moduleId'] }),
    c2d: z.array(c2dMessage),
  })
  .check(
    z.superRefine((entry, ctx) => {
      if (entry.device.moduleId !== undefined)
        ctx.issues.push({
          code: 'custom',
          input: '',
          path: ['device', 'moduleId'],
          message: 'expected no moduleId on a device',
        })
      for (const [name, m] of Object.entries(entry.modules)) {
        if (m.deviceId !== entry.device.deviceId)
          ctx.issues.push({
            code: 'custom',
            input: '',
            path: ['modules', name, 'deviceId'],
            message: `expected ${JSON.stringify(entry.device.deviceId)}, its device's id`,
          })
      }
    }),
  ) satisfies z.ZodMiniType<DeviceEntry>

const enrollment = z.strictObject({
  registrationId: text,
  primaryKey: key,
  secondaryKey: key,
  deviceId: optional(text.check(rule((v) => assertDeviceId(v, 'deviceId')))),
  provisioningStatus: status,
  createdDateTimeUtc: text,
  etag: optional(text),
  lastUpdatedDateTimeUtc: optional(text),
}) satisfies z.ZodMiniType<Enrollment>

const enrollmentGroup = z.strictObject({
  enrollmentGroupId: text,
  primaryKey: key,
  secondaryKey: key,
  provisioningStatus: status,
  createdDateTimeUtc: text,
  etag: optional(text),
  lastUpdatedDateTimeUtc: optional(text),
}) satisfies z.ZodMiniType<EnrollmentGroup>

const dpsPolicy = z.strictObject({
  keyName: text,
  primaryKey: key,
  secondaryKey: key,
  rights: z.array(
    z.enum([
      'ServiceConfig',
      'EnrollmentRead',
      'EnrollmentWrite',
      'RegistrationStatusRead',
      'RegistrationStatusWrite',
    ]),
  ),
}) satisfies z.ZodMiniType<DpsPolicy>

const registration = z.strictObject({
  registrationId: text,
  deviceId: text.check(rule((v) => assertDeviceId(v, 'deviceId'))),
  assignedHub: text,
  enrollmentGroupId: optional(text),
  createdDateTimeUtc: text,
}) satisfies z.ZodMiniType<Registration>

const registeredCa = z.strictObject({
  name: text,
  certificate: text,
  thumbprint: text,
  subject: text,
  expiry: text,
  isVerified: z.boolean(),
  verificationCode: optional(text),
  created: text,
  updated: text,
}) satisfies z.ZodMiniType<RegisteredCa>

const jobType = z.enum(['scheduleUpdateTwin', 'scheduleDeviceMethod'])

const deviceJob = z.strictObject({
  deviceId: text,
  jobId: text,
  jobType,
  status: z.enum(['pending', 'running', 'completed', 'failed', 'canceled']),
  startTimeUtc: text,
  endTimeUtc: text,
  createdDateTimeUtc: text,
  lastUpdatedDateTimeUtc: text,
  outcome: optional(
    z.strictObject({ deviceMethodResponse: z.strictObject({ status: z.int(), payload: z.unknown() }) }),
  ),
  error: optional(z.strictObject({ code: text, description: text })),
}) satisfies z.ZodMiniType<DeviceJob>

/** A job (jobs.ts): what was asked, how it went, each device's part. */
const job = z.strictObject({
  jobId: text,
  type: jobType,
  queryCondition: text,
  updateTwin: optional(
    z.strictObject({
      tags: optional(collection),
      properties: optional(z.strictObject({ desired: optional(collection) })),
    }),
  ),
  cloudToDeviceMethod: optional(
    z.strictObject({
      methodName: text,
      payload: optional(z.unknown()),
      responseTimeoutInSeconds: optional(z.number()),
      connectTimeoutInSeconds: optional(z.number()),
    }),
  ),
  maxExecutionTimeInSeconds: optional(z.number()),
  status: z.enum(['queued', 'scheduled', 'running', 'completed', 'failed', 'cancelled']),
  createdTime: text,
  startTime: text,
  endTime: optional(text),
  failureReason: optional(text),
  devices: z.array(deviceJob),
}) satisfies z.ZodMiniType<StoredJob>

const registrationKey = (k: string): unknown => assertRegistrationId(k, 'registration id')

const hubState = z.strictObject({
  format: z.literal('sas-token-hub-state'),
  version: z.literal(1),
  policies: z.array(policy),
  devices: table(deviceEntry, {
    checkKey: (k) => assertDeviceId(k, 'deviceId'),
    idOf: ['device', 'deviceId'],
  }),
  sessions: table(z.array(text)),
  dps: z.strictObject({
    enrollments: table(enrollment, { checkKey: registrationKey, idOf: ['registrationId'] }),
    groups: table(enrollmentGroup, {
      checkKey: (k) => assertRegistrationId(k, 'enrollment group id'),
      idOf: ['enrollmentGroupId'],
    }),
    registrations: table(registration, { checkKey: registrationKey, idOf: ['registrationId'] }),
    policies: optional(z.array(dpsPolicy)),
  }),
  certificates: optional(table(registeredCa, { checkKey: assertCaName, idOf: ['name'] })),
  jobs: optional(table(job, { idOf: ['jobId'] })),
}) satisfies z.ZodMiniType<HubState>

/** What a schema expected, for one issue; never the input itself (it may be a key). */
function expected(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const want =
        issue.expected === 'int'
          ? 'an integer'
          : /^[aeio]/.test(issue.expected)
            ? `an ${issue.expected}`
            : `a ${issue.expected}`
      const input = issue.input
      const found =
        input === undefined
          ? 'it is missing'
          : input === null
            ? 'it is null'
            : Array.isArray(input)
              ? 'it is an array'
              : `it is ${/^[aeio]/.test(typeof input) ? 'an' : 'a'} ${typeof input}`
      return `expected ${want}, but ${found}`
    }
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`
    case 'unrecognized_keys':
      return `expected no member ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (not part of hub state)`
    case 'invalid_union':
      return 'expected one of the documented shapes'
    case 'too_small':
      return `expected at least ${String(issue.minimum)}`
    case 'too_big':
      return `expected at most ${String(issue.maximum)}`
    default:
      return issue.message ?? 'expected another value'
  }
}

/** A JSON path as people write it: `devices.dev1.c2d[0].messageId`, `devices["a b"]`. */
function pathText(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$-]*$/.test(part))
      out += out === '' ? part : `.${part}`
    else out += `[${JSON.stringify(String(part))}]`
  }
  return out === '' ? '(the top level)' : out
}

/** For a policy key, whose policy it is (`policies[0]` is the iothubowner one's, usually). */
function whose(value: unknown, path: readonly PropertyKey[]): string {
  if (path[0] !== 'policies' || typeof path[1] !== 'number' || !isPlainObject(value)) return ''
  const list = value.policies
  const entry = Array.isArray(list) ? list[path[1]] : undefined
  const name = isPlainObject(entry) ? entry.keyName : undefined
  return typeof name === 'string' ? ` (the ${JSON.stringify(name).slice(1, -1)} policy's key)` : ''
}

/**
 * Checks parsed JSON against the hub state schema and returns it with null-prototype tables.
 *
 * @param value The parsed contents of `file`.
 * @param file The file's path, for the error.
 * @throws {SasTokenError} `ERR_HUB_STATE_CORRUPT` naming `file`, the JSON path of the first
 *   problem and what was expected there (never the value).
 */
export function parseState(value: unknown, file: string): HubState {
  if (!isPlainObject(value) || value.format !== 'sas-token-hub-state')
    throw stateCorrupt(file, 'is not a sas-token hub state file')
  if (value.version !== 1)
    throw stateCorrupt(file, `has version ${JSON.stringify(value.version)}; this hub reads version 1`)
  const result = z.safeParse(hubState, value, PARSE)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const path = issue?.path ?? []
  throw Object.assign(
    stateCorrupt(
      file,
      `has an invalid value at ${pathText(path)}${whose(value, path)}: ${(issue?.message ?? 'it is not hub state').replace(/\.$/, '')}`,
    ),
    { path: pathText(path) },
  )
}
