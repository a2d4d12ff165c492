/**
 * Faults on purpose, protocol-neutral: the one owner of every fault the hub is asked to do to a
 * device, whether by IoT Hub's own fault-injection message (a telemetry message whose
 * application properties name `AzIoTHub_FaultOperationType`, as the SDKs' e2e tests send it) or
 * by the operator. A fault either hits the identity's connection (carried out by its
 * `DeviceLink.fault`, in the adapter that owns the connection), opens a window in which
 * the identity's operations are throttled or over quota ({@link HubFaults.admit}), or refuses
 * its next connects ({@link HubFaults.refusal}, asked by the one CONNECT rule). Every fault is a
 * `fault` event, when it is asked and when it is done. Timers are bounded and cleared on close.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'
// the hub's ERR_HUB_* codes, for the console page's program, which compiles this file alone
import type {} from '../hub-error-codes.js'
import type { HubEvents } from '../events.js'
import type { Session } from './sessions.js'

/** The application properties of a fault-injection message, as the SDKs' e2e tests name them. */
export const FAULT_PROPERTIES = Object.freeze({
  type: 'AzIoTHub_FaultOperationType',
  closeReason: 'AzIoTHub_FaultOperationCloseReason',
  delay: 'AzIoTHub_FaultOperationDelayInSecs',
  duration: 'AzIoTHub_FaultOperationDurationInSecs',
})

/**
 * What a fault does to one connection, for its adapter to carry out: `kill-tcp` destroys the
 * socket with no goodbye; `shutdown-mqtt` / `shutdown-amqp` close the protocol connection (an
 * MQTT connection has no close packet from the server: the socket ends; AMQP sends close);
 * `amqp-*` detach or end the named AMQP piece (the connection, the session, or one link of the
 * CBS, telemetry, C2D, twin or method pairs).
 */
export type LinkFault =
  | 'kill-tcp'
  | 'shutdown-mqtt'
  | 'shutdown-amqp'
  | 'amqp-connection'
  | 'amqp-session'
  | 'amqp-cbs-request'
  | 'amqp-cbs-response'
  | 'amqp-d2c'
  | 'amqp-c2d'
  | 'amqp-twin-request'
  | 'amqp-twin-response'
  | 'amqp-method-request'
  | 'amqp-method-response'

/**
 * The link faults after which the identity's session is over; the others detach one AMQP link,
 * which a client may attach again (azure-iot-device-amqp closes the connection itself).
 */
const ENDS_SESSION: ReadonlySet<LinkFault> = new Set<LinkFault>([
  'kill-tcp',
  'shutdown-mqtt',
  'shutdown-amqp',
  'amqp-connection',
  'amqp-session',
])

/** What a fault type does. */
export type FaultEffect =
  | { kind: 'link'; link: LinkFault }
  /** Later operations are answered with IoT Hub's throttling (`throttled`) or quota error. */
  | { kind: 'window'; error: 'throttled' | 'quota' }
  /**
   * The identity's next connects are refused (not authorized), and so are its operations on a
   * live connection (MQTT: the connection is dropped, as IoT Hub drops it; AMQP and HTTPS: an
   * unauthorized answer).
   */
  | { kind: 'auth' }

/**
 * IoT Hub's fault types, by the name a fault-injection message gives. `Throttling`,
 * `QuotaExceeded` and `AuthFailure` are the names the issue and some SDK tests use for IoT Hub's
 * `InvokeThrottling`, `InvokeMaxMessageQuota` and `InvokeAuthError`.
 */
export const FAULT_TYPES: Readonly<Record<string, FaultEffect>> = Object.freeze({
  KillTcp: { kind: 'link', link: 'kill-tcp' },
  ShutDownMqtt: { kind: 'link', link: 'shutdown-mqtt' },
  ShutDownAmqp: { kind: 'link', link: 'shutdown-amqp' },
  KillAmqpConnection: { kind: 'link', link: 'amqp-connection' },
  KillAmqpSession: { kind: 'link', link: 'amqp-session' },
  KillAmqpCBSLinkReq: { kind: 'link', link: 'amqp-cbs-request' },
  KillAmqpCBSLinkResp: { kind: 'link', link: 'amqp-cbs-response' },
  KillAmqpD2CLink: { kind: 'link', link: 'amqp-d2c' },
  KillAmqpC2DLink: { kind: 'link', link: 'amqp-c2d' },
  KillAmqpTwinLinkReq: { kind: 'link', link: 'amqp-twin-request' },
  KillAmqpTwinLinkResp: { kind: 'link', link: 'amqp-twin-response' },
  KillAmqpMethodReqLink: { kind: 'link', link: 'amqp-method-request' },
  KillAmqpMethodRespLink: { kind: 'link', link: 'amqp-method-response' },
  InvokeThrottling: { kind: 'window', error: 'throttled' },
  Throttling: { kind: 'window', error: 'throttled' },
  InvokeMaxMessageQuota: { kind: 'window', error: 'quota' },
  QuotaExceeded: { kind: 'window', error: 'quota' },
  InvokeAuthError: { kind: 'auth' },
  AuthFailure: { kind: 'auth' },
})

/** The longest delay or duration a fault may ask for: an hour. */
export const MAX_FAULT_SECONDS = 3600

/** A fault asked for: its type's name, what it does, when and for how long. */
export interface FaultRequest {
  /** IoT Hub's fault type as named (`KillTcp`, …). */
  type: string
  effect: FaultEffect
  /** `AzIoTHub_FaultOperationCloseReason`, for the log (`boom` ungraceful, `byebye` graceful). */
  closeReason?: string
  /** Seconds before it is done. */
  delaySeconds: number
  /** Seconds a window or a refusal lasts. */
  durationSeconds: number
}

/** The identity a fault is about. */
export interface FaultTarget {
  deviceId: string
  moduleId?: string
}

function seconds(value: string | null | undefined, name: string, fallback: number): number {
  if (value === undefined || value === null || value.trim() === '') return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0 || n > MAX_FAULT_SECONDS)
    throw new SasTokenError(
      'ERR_HUB_BAD_REQUEST',
      `${name} must be a number of seconds from 0 to ${MAX_FAULT_SECONDS}, not ${JSON.stringify(value.slice(0, 40))}.`,
    )
  return n
}

/**
 * The fault a message's application properties ask for, or `undefined` when they name none.
 * The delay defaults to 0 s and the duration to 5 s (the C# SDK's e2e default).
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` for an unknown fault type or a delay or
 *   duration that is not 0–3600 seconds.
 */
export function parseFaultRequest(
  properties: Readonly<Record<string, string | null>>,
): FaultRequest | undefined {
  const type = properties[FAULT_PROPERTIES.type]
  if (type === undefined || type === null) return undefined
  const effect = Object.hasOwn(FAULT_TYPES, type) ? FAULT_TYPES[type] : undefined
  if (effect === undefined)
    throw new SasTokenError(
      'ERR_HUB_BAD_REQUEST',
      `${FAULT_PROPERTIES.type} ${JSON.stringify(type.slice(0, 40))} is not a fault the hub knows: use one of ${Object.keys(FAULT_TYPES).join(', ')}.`,
    )
  const closeReason = properties[FAULT_PROPERTIES.closeReason]
  return {
    type,
    effect,
    ...(closeReason === undefined || closeReason === null ? {} : { closeReason: closeReason.slice(0, 100) }),
    delaySeconds: seconds(properties[FAULT_PROPERTIES.delay], FAULT_PROPERTIES.delay, 0),
    durationSeconds: seconds(properties[FAULT_PROPERTIES.duration], FAULT_PROPERTIES.duration, 5),
  }
}

/** A refusal of an identity's connects, as the CONNECT rule reports it. */
export interface FaultRefusal {
  /** What refuses: the fault type or operator action (`AuthFailure`, `refuse`). */
  fault: string
  /** The CONNACK return code to answer (1–5). */
  returnCode: 1 | 2 | 3 | 4 | 5
  /** Why, for the log and the refuse event. */
  message: string
}

interface Refusing {
  fault: string
  returnCode: FaultRefusal['returnCode']
  /** Connects still to refuse; `Infinity` until `until`. */
  left: number
  until: number
}

interface Window {
  fault: string
  error: 'throttled' | 'quota' | 'auth'
  until: number
}

function keyOf(t: FaultTarget): string {
  return t.moduleId === undefined ? t.deviceId : `${t.deviceId}/${t.moduleId}`
}

/** What the fault owner needs of the hub. */
export interface FaultsContext {
  events: HubEvents
  now: () => number
  /** The identity's live session, if connected. */
  sessionOf(deviceId: string, moduleId?: string): Session | undefined
}

/** The hub's faults: pending ones, open windows and refusals, per identity. */
export class HubFaults {
  readonly #ctx: FaultsContext
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #windows = new Map<string, Window>()
  readonly #refusing = new Map<string, Refusing>()

  constructor(ctx: FaultsContext) {
    this.#ctx = ctx
  }

  /**
   * Does `request` to `target` after its delay, from a fault-injection message or the operator
   * API, and publishes a `fault` event for it. A fault on the connection is never done inside
   * the operation that asked for it, even with no delay: the message asking for it is answered
   * first (MQTT: its PUBACK goes out), so a device does not send it again after reconnecting.
   */
  inject(target: FaultTarget, request: FaultRequest, source: 'message' | 'api'): void {
    const run = (): void => this.#run(target, request, source)
    if (request.delaySeconds === 0 && request.effect.kind !== 'link') {
      run()
      return
    }
    this.#later(request.delaySeconds * 1000, run)
  }

  /** Runs `fn` after `ms`, unless the hub closes first. */
  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      fn()
    }, ms)
    timer.unref()
    this.#timers.add(timer)
  }

  #run(target: FaultTarget, request: FaultRequest, source: 'message' | 'api'): void {
    const { effect } = request
    const until = this.#ctx.now() + request.durationSeconds * 1000
    const ids = target.moduleId === undefined ? { deviceId: target.deviceId } : target
    if (effect.kind === 'link') {
      const session = this.#ctx.sessionOf(target.deviceId, target.moduleId)
      const done = session?.link.fault(effect.link) ?? false
      if (done && session !== undefined && ENDS_SESSION.has(effect.link))
        session.closeReason ??= `fault ${request.type}`
      this.#ctx.events.publish({
        event: 'fault',
        ...ids,
        fault: request.type,
        source,
        ...(session === undefined ? {} : { protocol: session.protocol }),
        action: done
          ? `${effect.link} done`
          : session === undefined
            ? 'nothing to do: not connected'
            : `nothing to do: ${effect.link} does not apply to ${session.protocol}`,
      })
      return
    }
    if (effect.kind === 'window') {
      this.#windows.set(keyOf(target), { fault: request.type, error: effect.error, until })
    } else {
      this.#windows.set(keyOf(target), { fault: request.type, error: 'auth', until })
      this.#refusing.set(keyOf(target), {
        fault: request.type,
        returnCode: 5,
        left: Number.POSITIVE_INFINITY,
        until,
      })
    }
    this.#ctx.events.publish({
      event: 'fault',
      ...ids,
      fault: request.type,
      source,
      action:
        effect.kind === 'window'
          ? `${effect.error === 'quota' ? 'over quota' : 'throttled'} for ${request.durationSeconds} s`
          : `connects and operations refused for ${request.durationSeconds} s`,
      until: new Date(until).toISOString(),
    })
  }

  /**
   * Refuses the identity's next `count` connects (or all of them) until `until`, with
   * `returnCode`, through the one CONNECT rule.
   */
  refuseConnects(
    target: FaultTarget,
    o: { fault: string; count?: number; until: number; returnCode?: FaultRefusal['returnCode'] },
  ): void {
    this.#refusing.set(keyOf(target), {
      fault: o.fault,
      returnCode: o.returnCode ?? 5,
      left: o.count ?? Number.POSITIVE_INFINITY,
      until: o.until,
    })
  }

  /**
   * Whether a connect of `target` is refused by a fault now; a counted refusal is used up by
   * this call. Asked by the CONNECT rule once its findings accept the connect.
   */
  refusal(target: FaultTarget): FaultRefusal | undefined {
    const key = keyOf(target)
    const r = this.#refusing.get(key)
    if (r === undefined) return undefined
    if (this.#ctx.now() >= r.until || r.left <= 0) {
      this.#refusing.delete(key)
      return undefined
    }
    r.left -= 1
    if (r.left <= 0) this.#refusing.delete(key)
    return {
      fault: r.fault,
      returnCode: r.returnCode,
      message: `refused on purpose by the fault ${r.fault}${Number.isFinite(r.left) ? ` (${r.left} more to refuse)` : ` until ${new Date(r.until).toISOString()}`}: the credentials are fine, retry later.`,
    }
  }

  /**
   * Throws when a fault's window throttles `target`, has it over quota or refuses it now.
   *
   * @throws {SasTokenError} `ERR_HUB_THROTTLED`, `ERR_HUB_QUOTA_EXCEEDED` or (`AuthFailure`)
   *   `ERR_HUB_FAULT_REFUSED`, with `retryAfterSeconds`.
   */
  admit(target: FaultTarget): void {
    const key = keyOf(target)
    const w = this.#windows.get(key)
    if (w === undefined) return
    const left = w.until - this.#ctx.now()
    if (left <= 0) {
      this.#windows.delete(key)
      return
    }
    const retryAfterSeconds = Math.ceil(left / 1000)
    if (w.error === 'auth')
      throw new SasTokenError(
        'ERR_HUB_FAULT_REFUSED',
        `IotHubUnauthorizedAccess: the fault ${w.fault} refuses ${key} for ${retryAfterSeconds} s more: the credentials are fine, retry later.`,
        { facts: { retryAfterSeconds } },
      )
    throw w.error === 'quota'
      ? new SasTokenError(
          'ERR_HUB_QUOTA_EXCEEDED',
          `IotHubQuotaExceeded: the fault ${w.fault} has ${key} over its message quota for ${retryAfterSeconds} s more.`,
          { facts: { retryAfterSeconds } },
        )
      : new SasTokenError(
          'ERR_HUB_THROTTLED',
          `IotHubThrottled: the fault ${w.fault} throttles ${key} for ${retryAfterSeconds} s more; retry later.`,
          { facts: { retryAfterSeconds } },
        )
  }

  /** Clears every pending fault (hub close). */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#windows.clear()
    this.#refusing.clear()
  }
}
