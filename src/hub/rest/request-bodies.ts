/**
 * Every request body the operator API takes, checked at the boundary with one schema each:
 * C2D and module-input messages, direct-method calls, device and module identities, the
 * emulator's SAS-token, CA and DPS enrollment bodies, a device's batch of events. What passes
 * is typed, so nothing further down checks a field's type again. Unknown fields are ignored,
 * as IoT Hub and DPS ignore read-only ones. A refusal is `ERR_HUB_BAD_REQUEST` naming the field.
 *
 * @module
 */
import * as z from 'zod/mini'
import { SasTokenError } from '../../errors.js'
import { assertDeviceId } from '../../identity.js'
import { C2D_ACKS } from '../state/c2d-feedback.js'

const validDeviceId = (id: string): boolean => {
  try {
    assertDeviceId(id, 'deviceId')
    return true
  } catch {
    return false
  }
}

/** A non-empty string, or absent (`null` counts as absent). */
const text = z.nullish(z.string().check(z.minLength(1, { error: 'must be a non-empty string' })))

const c2dBody = z.looseObject({
  payload: z.optional(z.string({ error: 'must be a string (use payloadEncoding "base64" for bytes)' })),
  payloadEncoding: z.optional(z.enum(['utf8', 'base64'], { error: 'must be "utf8" or "base64"' })),
  properties: z.nullish(z.record(z.string(), z.string({ error: 'must be a string' }))),
  messageId: text,
  correlationId: text,
  userId: text,
  contentType: text,
  contentEncoding: text,
  expiryTimeUtc: text,
  ack: z.nullish(z.enum(C2D_ACKS, { error: `must be one of ${C2D_ACKS.map((a) => `"${a}"`).join(', ')}` })),
})

/** A C2D or module-input message, as checked: the body of `POST /_emulator/devices/{id}/messages`. */
export type C2dBody = z.infer<typeof c2dBody>

const methodBody = z.looseObject({
  methodName: z.string({ error: 'is required: the name of the method to call' }),
  payload: z.optional(z.unknown()),
  responseTimeoutInSeconds: z.optional(
    z.number({ error: 'must be a whole number from 5 to 300 (default 30)' }),
  ),
  connectTimeoutInSeconds: z.optional(z.number({ error: 'must be a number of seconds' })),
})

/** A direct-method call, as checked: the body of `POST /twins/{id}/methods`. */
export type MethodBody = z.infer<typeof methodBody>

/** A key of `symmetricKey`: base64 (checked by the registry), or empty or `null` to have one made. */
const keyText = z.nullish(z.string({ error: 'must be a base64 key, or empty to have one made' }))
/** A thumbprint of `x509Thumbprint`: hex (checked by the registry), or `null`. */
const thumbprintText = z.nullish(
  z.string({ error: 'must be a certificate thumbprint (40 or 64 hex digits), or null' }),
)

/**
 * IoT Hub's `AuthenticationMechanism`, field by field, so that a malformed one is refused naming
 * the field instead of keys being made up for it. `null` members are absent (the SDK sends the
 * members of the other types as `null`).
 */
const authentication = z.nullish(
  z.looseObject(
    {
      type: z.nullish(
        z.enum(['sas', 'selfSigned', 'certificateAuthority'], {
          error: 'must be "sas", "selfSigned" or "certificateAuthority"',
        }),
      ),
      symmetricKey: z.nullish(
        z.looseObject(
          { primaryKey: keyText, secondaryKey: keyText },
          { error: 'must be an object: {"primaryKey": …, "secondaryKey": …}' },
        ),
      ),
      x509Thumbprint: z.nullish(
        z.looseObject(
          { primaryThumbprint: thumbprintText, secondaryThumbprint: thumbprintText },
          { error: 'must be an object: {"primaryThumbprint": …, "secondaryThumbprint": …}' },
        ),
      ),
    },
    { error: 'must be an object: {"type": "sas", "symmetricKey": {…}}' },
  ),
)

/** IoT Hub's `DeviceCapabilities`: `iotEdge` (an IoT Edge device). */
const capabilities = z.nullish(
  z.looseObject(
    { iotEdge: z.nullish(z.boolean({ error: 'must be true or false' })) },
    { error: 'must be an object: {"iotEdge": true|false}' },
  ),
)

const identityBody = z.looseObject({
  deviceId: z.optional(z.unknown()),
  moduleId: z.optional(z.unknown()),
  status: z.nullish(z.enum(['enabled', 'disabled'], { error: 'must be "enabled" or "disabled"' })),
  statusReason: z.nullish(z.string()),
  authentication,
  capabilities,
  etag: z.optional(z.unknown()),
})

/** A device or module identity, as checked: the body of `PUT /devices/{id}[/modules/{mid}]`. */
export type IdentityBody = z.infer<typeof identityBody>

/** A JSON object, passed on as parsed (not copied: a key such as `__proto__` stays a key). */
const jsonObject = z.custom<Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  { error: 'must be a JSON object' },
)

const twinBody = z.looseObject({
  tags: z.nullish(jsonObject),
  properties: z.nullish(z.looseObject({ desired: z.nullish(jsonObject) })),
})

/** A twin patch (PATCH) or replacement (PUT), as checked: the body of `/twins/{id}[/modules/{mid}]`. */
export type TwinBody = z.infer<typeof twinBody>

const sasTokenBody = z.looseObject({
  deviceId: z.string({ error: 'is required' }),
  moduleId: z.optional(z.string()),
  key: z.optional(z.enum(['primary', 'secondary'], { error: 'must be "primary" or "secondary"' })),
  ttl: z.optional(z.union([z.string(), z.number()])),
  expiresAt: z.optional(z.union([z.number(), z.iso.datetime({ offset: true })])),
})

/** The body of `POST /_emulator/sas-token`. */
export type SasTokenBody = z.infer<typeof sasTokenBody>

const certificateBody = z.looseObject({
  certificate: z.optional(z.unknown()),
  isVerified: z.optional(z.unknown()),
})

/** The body of `PUT /_emulator/certificates/{name}` and `POST …/verify`. */
export type CertificateBody = z.infer<typeof certificateBody>

const keyPair = z.looseObject({
  primaryKey: z.nullish(z.string()),
  secondaryKey: z.nullish(z.string()),
})

const common = {
  attestation: z.nullish(z.looseObject({ type: z.optional(z.string()), symmetricKey: z.optional(keyPair) })),
  primaryKey: z.nullish(z.string()),
  secondaryKey: z.nullish(z.string()),
  provisioningStatus: z.nullish(z.enum(['enabled', 'disabled'])),
}

const enrollmentBody = z.looseObject({
  ...common,
  deviceId: z.nullish(
    z.string().check(
      z.refine((id) => id === '' || validDeviceId(id), {
        error:
          "must be a device id the hub accepts: at most 128 letters, digits and - . % _ * ? ! ( ) , : = @ $ '",
      }),
    ),
  ),
})

/** The body of `PUT /enrollments/{id}` (DPS's `IndividualEnrollment`) and `PUT /_emulator/dps/enrollments/{id}`. */
export type EnrollmentBody = z.infer<typeof enrollmentBody>

const groupBody = z.looseObject(common)

/** The body of `PUT /enrollmentGroups/{id}` (DPS's `EnrollmentGroup`) and `PUT /_emulator/dps/enrollmentGroups/{id}`. */
export type GroupBody = z.infer<typeof groupBody>

const queryBody = z.looseObject({
  query: z.string({ error: 'is required: the query text, as SELECT * FROM devices' }),
})

/** The body of `POST /devices/query`. */
export type QueryBody = z.infer<typeof queryBody>

const dpsQueryBody = z.looseObject({
  query: z.string({ error: 'is required: "*" (every record)' }),
})

/** The body of DPS's `POST /enrollments/query`, `/enrollmentGroups/query`, `/registrations/{groupId}/query`. */
export type DpsQueryBody = z.infer<typeof dpsQueryBody>

const bulkItem = z.looseObject({
  id: z
    .string({ error: 'is required: the device id' })
    .check(z.minLength(1, { error: 'must be a device id' })),
  moduleId: z.nullish(z.string()),
  importMode: z.string({
    error: 'is required: create, update, updateIfMatchETag, delete or deleteIfMatchETag',
  }),
  eTag: z.nullish(z.string()),
  etag: z.nullish(z.string()),
  twinETag: z.nullish(z.string()),
  status: z.nullish(z.enum(['enabled', 'disabled'], { error: 'must be "enabled" or "disabled"' })),
  statusReason: z.nullish(z.string()),
  authentication,
  capabilities,
  tags: z.nullish(jsonObject),
  properties: z.nullish(z.looseObject({ desired: z.nullish(jsonObject) })),
})

/** The body of `POST /devices` (bulk registry): IoT Hub's `ExportImportDevice` list. */
export type BulkBody = z.infer<typeof bulkBody>
const bulkBody = z.array(bulkItem, { error: 'must be a JSON array of devices' })

const jobBody = z.looseObject({
  jobId: z.nullish(z.string()),
  type: z.enum(['scheduleUpdateTwin', 'scheduleDeviceMethod'], {
    error: 'must be "scheduleUpdateTwin" or "scheduleDeviceMethod"',
  }),
  queryCondition: z.string({ error: "is required: a WHERE condition, as deviceId IN ['dev1']" }),
  updateTwin: z.nullish(twinBody),
  cloudToDeviceMethod: z.nullish(methodBody),
  startTime: z.nullish(z.string()),
  maxExecutionTimeInSeconds: z.nullish(z.number()),
})

/** The body of `PUT /jobs/v2/{id}`. */
export type JobBody = z.infer<typeof jobBody>

const eventBatchBody = z.array(
  z.looseObject({
    body: z.string({ error: 'is required: the message body, base64 (or text with "base64Encoded": false)' }),
    base64Encoded: z.optional(z.boolean({ error: 'must be true or false' })),
    properties: z.nullish(z.record(z.string(), z.string({ error: 'must be a string' }))),
  }),
  { error: 'must be a JSON array of {"body": …, "properties": {…}}' },
)

/**
 * A device's batch of events (`Content-Type: application/vnd.microsoft.iothub.json` on
 * `POST /devices/{id}/messages/events`), as checked: each body base64 unless `base64Encoded` is
 * `false`, each property named as its HTTP header would be (`iothub-app-*`, `iothub-messageid`…).
 */
export type EventBatchBody = z.infer<typeof eventBatchBody>

const faultTarget = {
  deviceId: z
    .string({ error: 'is required: the device the fault is for' })
    .check(z.minLength(1, { error: 'must be a device id' })),
  moduleId: z.optional(z.string({ error: 'must be a module id' })),
}
const faultSeconds = z.optional(
  z.number({ error: 'must be a whole number of seconds, 1 to 3600 (default 60)' }),
)

const faultBody = z.discriminatedUnion(
  'kind',
  [
    z.looseObject({ kind: z.literal('drop'), ...faultTarget }),
    z.looseObject({
      kind: z.literal('refuse'),
      ...faultTarget,
      count: z.optional(z.number({ error: 'must be a whole number of connects, 1 to 1000' })),
      returnCode: z.optional(z.number({ error: 'must be a CONNACK return code, 1 to 5' })),
      durationSeconds: faultSeconds,
    }),
    z.looseObject({ kind: z.literal('expire'), ...faultTarget }),
    z.looseObject({
      kind: z.literal('delay-methods'),
      ...faultTarget,
      delaySeconds: z.number({ error: 'is required: the whole seconds each answer is held, 1 to 300' }),
      durationSeconds: faultSeconds,
    }),
    z.looseObject({ kind: z.literal('drop-methods'), ...faultTarget, durationSeconds: faultSeconds }),
    z.looseObject({ kind: z.literal('outage'), durationSeconds: faultSeconds }),
    z.looseObject({
      kind: z.literal('clear'),
      deviceId: z.optional(z.string({ error: 'must be a device id' })),
      moduleId: z.optional(z.string({ error: 'must be a module id' })),
    }),
  ],
  {
    error: 'must be one of "drop", "refuse", "expire", "delay-methods", "drop-methods", "outage", "clear"',
  },
)

/** The body of `POST /_emulator/faults`: an operator's fault, by `kind` (faults.ts `OperatorFault`). */
export type FaultBody = z.infer<typeof faultBody>

/** A request body's schema and the words its refusals use. */
export interface BodySchema<T> {
  readonly schema: z.ZodMiniType<T>
  /** What the body is, for the message: `The {what} body is not valid: …`. */
  readonly what: string
}

/** The schema of each body, by route. */
export const BODIES = {
  c2d: { schema: c2dBody, what: 'message' },
  method: { schema: methodBody, what: 'method call' },
  identity: { schema: identityBody, what: 'identity' },
  twin: { schema: twinBody, what: 'twin patch' },
  sasToken: { schema: sasTokenBody, what: 'SAS token request' },
  certificate: { schema: certificateBody, what: 'certificate' },
  enrollment: { schema: enrollmentBody, what: 'enrollment' },
  group: { schema: groupBody, what: 'enrollment group' },
  query: { schema: queryBody, what: 'query' },
  dpsQuery: { schema: dpsQueryBody, what: 'query specification' },
  bulk: { schema: bulkBody, what: 'bulk registry' },
  job: { schema: jobBody, what: 'job' },
  eventBatch: { schema: eventBatchBody, what: 'event batch' },
  fault: { schema: faultBody, what: 'fault' },
} as const satisfies Record<string, BodySchema<unknown>>

/**
 * Checks a body against its schema.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST`, naming the first field that is wrong.
 */
export function readBody<T>(body: BodySchema<T>, input: unknown): T {
  const result = z.safeParse(body.schema, input)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'the body'
  throw new SasTokenError(
    'ERR_HUB_BAD_REQUEST',
    `The ${body.what} body is not valid: ${field} ${issue?.message ?? 'is malformed'}. Fix that field and send it again.`,
  )
}
