/**
 * Throttling as the real hub throttles, opt-in (`startHub({ tier })`, `sas-token hub --tier S1`):
 * whether an operation may run now under an IoT Hub tier and unit count. One token bucket per
 * operation class for the whole hub (IoT Hub's limits are per hub, or per hub per unit, not per
 * device), and the daily message quota, counted in metered chunks (4 KB; 0.5 KB on the free
 * tier) and reset at 00:00 UTC by the hub's clock. With no tier nothing is throttled.
 *
 * The numbers are IoT Hub's documented ones, read on 2026-12-03 from
 * https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling (ms.date
 * 2025-05-21: operation throttles), …/iot-hub-scaling (2025-03-20: messages per day per unit,
 * units per hub) and …/iot-hub-devguide-pricing (2025-08-13: what is metered, in what chunks).
 * A limit written "1.67/sec/unit (100/min/unit)" is a bucket of a minute's worth; one written
 * per second, a bucket of a second's worth. IoT Hub's traffic shaping (a burst queued for a
 * minute or two before 429) is not modelled: over the limit is refused at once.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'
// the hub's ERR_HUB_* codes, for the console page's program, which compiles this file alone
import type {} from '../hub-error-codes.js'
import type { HubEvents } from '../events.js'
import { WarningThrottle } from '../net/warning-throttle.js'
import type { FaultRefusal, FaultTarget } from './faults.js'

/** The tiers the hub can act as: free, and standard sizes 1–3. */
export type TierName = 'F1' | 'S1' | 'S2' | 'S3'

/** The operation classes IoT Hub throttles (the quotas page's rows the hub serves). */
export type ThrottledOperation =
  /** Identity registry operations: create, retrieve, list, update, delete (bulk too). */
  | 'registry'
  /** New device connections (the rate of new ones, not how many are open). */
  | 'connect'
  /** Device-to-cloud sends. */
  | 'd2c'
  /** Cloud-to-device sends. */
  | 'c2dSend'
  /** Twin reads, device and module, from the device or the service. */
  | 'twinRead'
  /** Twin updates, device and module (reported from the device; tags and desired from the service). */
  | 'twinUpdate'
  /** Direct methods, metered in 4 KB of request payload. */
  | 'methods'
  /** Queries (`POST /devices/query`). */
  | 'queries'
  /** Jobs operations: create, update, list, delete. */
  | 'jobs'

/**
 * One throttle: `perUnit` operations (or 4 KB meters, for methods) per window per unit, but
 * never fewer than `atLeast` for the hub; the window is a second or a minute, as documented.
 */
export interface ThrottleLimit {
  /** The window the numbers are per. */
  per: 'second' | 'minute'
  /** Per window per unit. */
  perUnit?: number
  /** Per window for the hub, whatever its units (the floor, or the whole limit when `perUnit` is absent). */
  atLeast?: number
}

/** A tier: its throttles, its daily quota and how it meters messages. */
export interface TierLimits {
  /** The most units a hub of this tier may have. */
  maxUnits: number
  /** Messages per day per unit (the free tier: for the hub). */
  messagesPerDayPerUnit: number
  /** The size one metered message stands for, bytes: 4 KB, 0.5 KB on the free tier. */
  meterBytes: number
  /** The operation throttles. */
  throttles: Readonly<Record<ThrottledOperation, ThrottleLimit>>
}

const s = (perUnit: number | undefined, atLeast?: number): ThrottleLimit => ({
  per: 'second',
  ...(perUnit === undefined ? {} : { perUnit }),
  ...(atLeast === undefined ? {} : { atLeast }),
})
const m = (perUnit: number): ThrottleLimit => ({ per: 'minute', perUnit })

/** Free and S1 share their throttles (the quotas page's "Free, B1, and S1" / "Free and S1" columns). */
const SIZE_1: TierLimits['throttles'] = {
  registry: m(100),
  connect: s(12, 100),
  d2c: s(12, 100),
  c2dSend: m(100),
  twinRead: s(undefined, 100),
  twinUpdate: s(undefined, 50),
  // 160 KB/sec/unit, metered in 4 KB
  methods: s(40),
  queries: m(20),
  jobs: m(100),
}

/**
 * IoT Hub's documented limits per tier, read 2026-12-03 (see the module's doc comment). The
 * basic tiers (B1–B3) share the standard sizes' throttles but serve no C2D, twins or methods;
 * the hub does not act as one.
 */
export const IOT_HUB_TIERS: Readonly<Record<TierName, TierLimits>> = Object.freeze({
  F1: { maxUnits: 1, messagesPerDayPerUnit: 8_000, meterBytes: 512, throttles: SIZE_1 },
  S1: { maxUnits: 200, messagesPerDayPerUnit: 400_000, meterBytes: 4096, throttles: SIZE_1 },
  S2: {
    maxUnits: 200,
    messagesPerDayPerUnit: 6_000_000,
    meterBytes: 4096,
    throttles: {
      registry: m(100),
      connect: s(120),
      d2c: s(120),
      c2dSend: m(100),
      twinRead: s(10, 100),
      twinUpdate: s(5, 50),
      // 480 KB/sec/unit
      methods: s(120),
      queries: m(20),
      jobs: m(100),
    },
  },
  S3: {
    maxUnits: 10,
    messagesPerDayPerUnit: 300_000_000,
    meterBytes: 4096,
    throttles: {
      registry: m(5000),
      connect: s(6000),
      d2c: s(6000),
      c2dSend: m(5000),
      twinRead: s(500),
      twinUpdate: s(250),
      // 24 MB/sec/unit
      methods: s(6144),
      queries: m(1000),
      jobs: m(5000),
    },
  },
})

/** The tier a hub acts as: its name and unit count. */
export interface HubTier {
  /** `F1`, `S1`, `S2` or `S3`. */
  name: TierName
  /** Units (1 by default; F1 has 1, S1 and S2 up to 200, S3 up to 10). */
  units?: number
}

function isTierName(name: string): name is TierName {
  return Object.hasOwn(IOT_HUB_TIERS, name)
}

/**
 * Checks a tier option.
 *
 * @returns The tier with its units.
 * @throws {SasTokenError} `ERR_INVALID_OPTION` for an unknown tier or a unit count it cannot have.
 */
export function checkTier(tier: HubTier): Required<HubTier> {
  const name = String(tier.name).toUpperCase()
  if (!isTierName(name))
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `tier must be one of ${Object.keys(IOT_HUB_TIERS).join(', ')} (the basic tiers B1–B3 are not served), not ${JSON.stringify(String(tier.name).slice(0, 20))}.`,
      { facts: { option: 'tier' } },
    )
  const units = tier.units ?? 1
  const { maxUnits } = IOT_HUB_TIERS[name]
  if (!Number.isInteger(units) || units < 1 || units > maxUnits)
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `${name} has 1 to ${maxUnits} units; got ${String(units)}.`,
      { facts: { option: 'tier', limit: maxUnits } },
    )
  return { name, units }
}

/** The operations charged against the daily quota (the pricing page's metered ones). */
const METERED: ReadonlySet<ThrottledOperation> = new Set([
  'd2c',
  'c2dSend',
  'twinRead',
  'twinUpdate',
  'methods',
])

const DAY_MS = 86_400_000

interface Bucket {
  capacity: number
  /** Tokens per ms. */
  rate: number
  tokens: number
  at: number
}

/** What an admitted operation costs: its size, for the methods meter and the daily quota. */
export interface ThrottleCost {
  /** The payload's bytes (methods: the request's; messages: body and properties). */
  bytes?: number
  /** How many operations one request is (a bulk registry request: its items); default 1. */
  operations?: number
}

/** What the hub uses of its tier today. */
export interface ThrottleUsage {
  /** The tier and units. */
  tier: Required<HubTier>
  /** Metered messages used today (UTC). */
  messages: number
  /** The daily quota. */
  quota: number
  /** The UTC day counted, `YYYY-MM-DD`. */
  day: string
}

/** The hub's throttle: off without a tier. */
export class HubThrottle {
  readonly #now: () => number
  readonly #hostName: string
  readonly #tier: Required<HubTier> | undefined
  readonly #buckets = new Map<ThrottledOperation, Bucket>()
  readonly #warnings: WarningThrottle
  #day = 0
  #used = 0

  constructor(o: { events: HubEvents; now: () => number; hostName: string; tier?: HubTier | undefined }) {
    this.#now = o.now
    this.#hostName = o.hostName
    this.#tier = o.tier === undefined ? undefined : checkTier(o.tier)
    this.#warnings = new WarningThrottle(o.events)
  }

  /** The tier the hub acts as, or `undefined` (nothing throttled). */
  get tier(): Required<HubTier> | undefined {
    return this.#tier
  }

  /** What the hub used of its daily quota, or `undefined` without a tier. */
  usage(): ThrottleUsage | undefined {
    const tier = this.#tier
    if (tier === undefined) return undefined
    this.#rollDay()
    const limits = IOT_HUB_TIERS[tier.name]
    return {
      tier,
      messages: this.#used,
      quota: limits.messagesPerDayPerUnit * tier.units,
      day: new Date(this.#day * DAY_MS).toISOString().slice(0, 10),
    }
  }

  #rollDay(): void {
    const day = Math.floor(this.#now() / DAY_MS)
    if (day !== this.#day) {
      this.#day = day
      this.#used = 0
    }
  }

  #bucket(operation: ThrottledOperation, tier: Required<HubTier>): Bucket {
    let bucket = this.#buckets.get(operation)
    if (bucket === undefined) {
      const limit = IOT_HUB_TIERS[tier.name].throttles[operation]
      const capacity = Math.max(limit.atLeast ?? 0, (limit.perUnit ?? 0) * tier.units)
      const windowMs = limit.per === 'second' ? 1000 : 60_000
      bucket = { capacity, rate: capacity / windowMs, tokens: capacity, at: this.#now() }
      this.#buckets.set(operation, bucket)
    }
    const now = this.#now()
    bucket.tokens = Math.min(bucket.capacity, bucket.tokens + (now - bucket.at) * bucket.rate)
    bucket.at = now
    return bucket
  }

  /**
   * Admits one `operation` of `target` (absent for a service-wide one) under the tier, or throws
   * IoT Hub's error; an admitted metered operation is charged against the daily quota. Each kind
   * of refusal is a `warning` event, at most one per 10 s with a count of the rest.
   *
   * @throws {SasTokenError} `ERR_HUB_THROTTLED` (over the operation's rate) or
   *   `ERR_HUB_QUOTA_EXCEEDED` (the day's quota used; until 00:00 UTC), with `retryAfterSeconds`.
   */
  admit(operation: ThrottledOperation, target?: FaultTarget, cost: ThrottleCost = {}): void {
    const tier = this.#tier
    if (tier === undefined) return
    const limits = IOT_HUB_TIERS[tier.name]
    const metered = METERED.has(operation)
    if (metered) {
      this.#rollDay()
      const quota = limits.messagesPerDayPerUnit * tier.units
      if (this.#used >= quota) {
        const retryAfterSeconds = Math.max(1, Math.ceil(((this.#day + 1) * DAY_MS - this.#now()) / 1000))
        const err = new SasTokenError(
          'ERR_HUB_QUOTA_EXCEEDED',
          `IotHubQuotaExceeded: total number of messages on IotHub '${this.#hostName}' exceeded the allocated quota (${tier.name} × ${tier.units}). Max allowed message count: ${quota}, current message count: ${this.#used}. Send and receive operations are blocked for this hub until the next UTC day.`,
          { facts: { retryAfterSeconds, limit: quota } },
        )
        this.#report('quota', operation, target, err.message)
        throw err
      }
    }
    // methods are throttled in 4 KB meters of their payload; every other operation counts one
    const tokens = operation === 'methods' ? chunks(cost.bytes ?? 0, 4096) : Math.max(1, cost.operations ?? 1)
    const bucket = this.#bucket(operation, tier)
    if (bucket.tokens < tokens) {
      const waitMs = (tokens - bucket.tokens) / bucket.rate
      const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000))
      const limit = limits.throttles[operation]
      const err = new SasTokenError(
        'ERR_HUB_THROTTLED',
        `IotHubThrottled: ${operation} is over ${tier.name} × ${tier.units}'s limit of ${round(bucket.capacity)}${operation === 'methods' ? ' 4 KB meters' : ''} per ${limit.per}; retry in ${retryAfterSeconds} s.`,
        { facts: { retryAfterSeconds, limit: round(bucket.capacity) } },
      )
      this.#report('throttle', operation, target, err.message)
      throw err
    }
    bucket.tokens -= tokens
    if (metered) this.#used += chunks(cost.bytes ?? 0, limits.meterBytes)
  }

  /**
   * A new connection of `target` over the tier's connect rate, as the CONNECT rule refuses it:
   * CONNACK 3 (server unavailable), which the SDKs retry; `undefined` when admitted.
   */
  connectRefusal(target: FaultTarget): FaultRefusal | undefined {
    try {
      this.admit('connect', target)
      return undefined
    } catch (err) {
      return {
        fault: 'throttled',
        returnCode: 3,
        message: err instanceof Error ? err.message : String(err),
      }
    }
  }

  #report(
    kind: string,
    operation: ThrottledOperation,
    target: FaultTarget | undefined,
    message: string,
  ): void {
    const who =
      target === undefined
        ? ''
        : ` (first: ${target.moduleId === undefined ? target.deviceId : `${target.deviceId}/${target.moduleId}`})`
    this.#warnings.report(
      `${kind}:${operation}`,
      { message: `tier ${this.#tier?.name ?? ''}: refused ${message}${who}` },
      (count) => ({
        message: `tier ${this.#tier?.name ?? ''}: ${count} more ${operation} ${kind === 'quota' ? 'over the daily quota' : 'throttled'} in the last 10 s.`,
      }),
    )
  }

  /** Stops the warnings' timers (hub close). */
  close(): void {
    this.#warnings.close()
  }
}

/** How many `size`-byte chunks `bytes` is metered as: at least one. */
export function chunks(bytes: number, size: number): number {
  return Math.max(1, Math.ceil(bytes / size))
}

function round(n: number): number {
  return Math.round(n * 100) / 100
}
