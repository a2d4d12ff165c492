/**
 * The deep shape of `state.json`, checked at load so that a hand-edited file that would crash
 * the hub later (a `sas` device without keys, an empty C2D message, a module without a twin) is
 * refused at start, naming the file, the JSON path inside it and what was expected. One schema
 * per type, mirroring the TypeScript interfaces (`registry.ts`, `twin.ts`, `state-store.ts`):
 * a new member of a type is one line in its schema. Unknown members are kept, not stripped. The
 * schemas stay internal; the parsed value is the original object.
 *
 * @module
 */
import * as z from 'zod'
import { assertKey } from '../keys.js'

const json = z.record(z.string(), z.unknown())
/** A key the core accepts (standard base64, padded: `keys.ts`). */
const key = z.string().check(
  z.refine((v) => {
    try {
      assertKey(v)
      return true
    } catch {
      return false
    }
  }, 'a base64 key'),
)
const time = z.string()
const count = z.number().int().nonnegative()

/** `Policy` (registry.ts). */
const policy = z.looseObject({
  keyName: z.string(),
  primaryKey: key,
  secondaryKey: key,
  rights: z.array(z.enum(['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'])),
})

/** `Authentication` (registry.ts). */
const authentication = z.discriminatedUnion('type', [
  z.looseObject({
    type: z.literal('sas'),
    symmetricKey: z.looseObject({ primaryKey: key, secondaryKey: key }),
  }),
  z.looseObject({
    type: z.literal('selfSigned'),
    x509Thumbprint: z.looseObject({ primaryThumbprint: z.string(), secondaryThumbprint: z.string() }),
  }),
  z.looseObject({ type: z.literal('certificateAuthority') }),
])

/** `TwinState` (twin.ts). */
const twin = z.looseObject({
  version: count,
  tags: json,
  desired: json,
  desiredVersion: count,
  reported: json,
  reportedVersion: count,
})

/** `Identity` (registry.ts). */
const identity = z.looseObject({
  deviceId: z.string().min(1),
  moduleId: z.optional(z.string().min(1)),
  generationId: z.string(),
  etag: z.string(),
  status: z.enum(['enabled', 'disabled']),
  statusReason: z.nullable(z.string()),
  authentication,
  connectionState: z.enum(['Connected', 'Disconnected']),
  connectionStateUpdatedTime: time,
  lastActivityTime: time,
  twin,
})

/** `QueuedC2d` (registry.ts); a lock is never kept (a restart is a lost link). */
const queuedC2d = z.looseObject({
  messageId: z.string().min(1),
  payload: z.string(),
  properties: z.record(z.string(), z.unknown()),
  enqueuedTime: time,
  deliveryCount: z.optional(count),
})

/** `DeviceEntry` (registry.ts). */
const deviceEntry = z.looseObject({
  device: identity,
  modules: z.record(z.string(), identity),
  c2d: z.array(queuedC2d),
})

const provisioningStatus = z.enum(['enabled', 'disabled'])

/** `Enrollment`, `EnrollmentGroup`, `Registration` (state-store.ts). */
const enrollment = z.looseObject({
  registrationId: z.string(),
  primaryKey: key,
  secondaryKey: key,
  deviceId: z.optional(z.string()),
  provisioningStatus,
  createdDateTimeUtc: time,
})
const enrollmentGroup = z.looseObject({
  enrollmentGroupId: z.string(),
  primaryKey: key,
  secondaryKey: key,
  provisioningStatus,
  createdDateTimeUtc: time,
})
const registration = z.looseObject({
  registrationId: z.string(),
  deviceId: z.string(),
  assignedHub: z.string(),
  enrollmentGroupId: z.optional(z.string()),
  createdDateTimeUtc: time,
})

/** `RegisteredCa` (ca-registry.ts). */
const registeredCa = z.looseObject({
  name: z.string().min(1),
  certificate: z.string().min(1),
  thumbprint: z.string().min(1),
  subject: z.string(),
  expiry: time,
  isVerified: z.boolean(),
  verificationCode: z.optional(z.string()),
})

/** `HubState` (state-store.ts); a new top-level member goes here. */
const hubState = z.looseObject({
  format: z.literal('sas-token-hub-state'),
  version: z.literal(1),
  policies: z.array(policy),
  devices: z.record(z.string(), deviceEntry).superRefine((devices, ctx) => {
    for (const [id, entry] of Object.entries(devices)) {
      if (entry.device.deviceId !== id)
        ctx.addIssue({
          code: 'custom',
          path: [id, 'device', 'deviceId'],
          message: `the id it is filed under, ${JSON.stringify(id)}`,
        })
    }
  }),
  sessions: z.record(z.string(), z.array(z.string())),
  dps: z.looseObject({
    enrollments: z.record(z.string(), enrollment),
    groups: z.record(z.string(), enrollmentGroup),
    registrations: z.record(z.string(), registration),
  }),
  certificates: z.optional(z.record(z.string(), registeredCa)),
})

/**
 * Checks parsed `state.json` deeply.
 *
 * @returns `undefined` when it is hub state, else the first problem: its JSON path (`$.devices["d1"].c2d[0]`) and what was expected.
 */
export function stateProblem(value: unknown): { path: string; expected: string } | undefined {
  const result = hubState.safeParse(value)
  if (result.success) return undefined
  const issue = result.error.issues[0]
  if (issue === undefined) return { path: '$', expected: 'hub state' }
  const path = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `[${JSON.stringify(String(p))}]`))
    .join('')
  return { path: `$${path}`, expected: issue.message }
}
