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
  /** Every live device or module session (what an outage drops). */
  sessions(): Iterable<Session>
  /**
   * Throws when the identity is not in the registry.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  requireIdentity(deviceId: string, moduleId?: string): void
  /** Ends a session as its token's expiry does (`token expired`). */
  expire(session: Session): void
}

// ---- the operator's faults (POST /_emulator/faults, hub.fault(), `sas-token hub fault`) ------

/** The default time an operator's fault lasts (a refusal, a methods fault, an outage), seconds. */
export const DEFAULT_OPERATOR_FAULT_SECONDS = 60

/** The longest delay of a method answer, seconds: the longest method timeout IoT Hub allows. */
export const MAX_METHOD_DELAY_SECONDS = 300

/** The most connects one `refuse` may count. */
export const MAX_REFUSE_COUNT = 1000

/** The identity an operator's fault is about. */
export interface OperatorFaultTarget {
  /** The device. */
  deviceId: string
  /** A module of the device. */
  moduleId?: string | undefined
}

/**
 * A fault the operator asks for, by `kind`. Each lasts at most {@link MAX_FAULT_SECONDS}
 * (`durationSeconds`, default {@link DEFAULT_OPERATOR_FAULT_SECONDS}):
 *
 * - `drop`: the identity's connection is dropped now (its TCP connection destroyed; a transport
 *   that cannot, closed).
 * - `refuse`: its next `count` connects (default: all of them, for the duration) are refused
 *   with CONNACK `returnCode` (1–5, default 5 not authorized; AMQP and HTTPS refuse as they
 *   refuse a bad token).
 * - `expire`: its token expires now: the session ends as a token expiry ends it (`token expired`).
 * - `delay-methods`: its direct-method answers reach the caller `delaySeconds` (1–300) late;
 *   over the call's timeout, the call fails as IoT Hub's 504 GatewayTimeout.
 * - `drop-methods`: its direct-method answers are never passed on (every call times out, 504).
 * - `outage`: the device listeners (MQTT/TLS, MQTT and AMQP over WebSocket, AMQP) close every new
 *   connection at once and every live device connection is dropped; they resume at the end.
 * - `clear`: ends the identity's faults (a refusal, a methods fault, a throttling window), or,
 *   without `deviceId`, every fault and the outage.
 */
export type OperatorFault =
  | ({
      /** Drop the identity's connection now. */
      kind: 'drop'
    } & OperatorFaultTarget)
  | ({
      /** Refuse the identity's next connects. */
      kind: 'refuse'
      /** How many connects to refuse, 1–1000; default every connect for the duration. */
      count?: number | undefined
      /** The CONNACK return code, 1–5; default 5 (not authorized). */
      returnCode?: number | undefined
      /** Seconds the refusal lasts at most, 1–3600; default 60. */
      durationSeconds?: number | undefined
    } & OperatorFaultTarget)
  | ({
      /** Expire the identity's token now. */
      kind: 'expire'
    } & OperatorFaultTarget)
  | ({
      /** Hold the identity's direct-method answers. */
      kind: 'delay-methods'
      /** Seconds each answer is held, 1–300. */
      delaySeconds: number
      /** Seconds the fault lasts, 1–3600; default 60. */
      durationSeconds?: number | undefined
    } & OperatorFaultTarget)
  | ({
      /** Never pass the identity's direct-method answers on. */
      kind: 'drop-methods'
      /** Seconds the fault lasts, 1–3600; default 60. */
      durationSeconds?: number | undefined
    } & OperatorFaultTarget)
  | {
      /** Pause the device listeners. */
      kind: 'outage'
      /** Seconds the outage lasts, 1–3600; default 60. */
      durationSeconds?: number | undefined
    }
  | {
      /** End faults early. */
      kind: 'clear'
      /** The identity whose faults end; absent: every fault, and the outage. */
      deviceId?: string | undefined
      /** A module of the device. */
      moduleId?: string | undefined
    }

/** The kinds of {@link OperatorFault}. */
export const OPERATOR_FAULT_KINDS = [
  'drop',
  'refuse',
  'expire',
  'delay-methods',
  'drop-methods',
  'outage',
  'clear',
] as const satisfies readonly OperatorFault['kind'][]

/** What an operator's fault did: the `fault` event it published, without its name and time. */
export interface FaultOutcome {
  /** The operator's action (`drop`, `refuse`, …). */
  fault: string
  /** What the hub did. */
  action: string
  /** The device it hit; absent for the outage. */
  deviceId?: string
  /** The module it hit. */
  moduleId?: string
  /** The transport of the connection it hit. */
  protocol?: Session['protocol']
  /** When it ends, ISO 8601. */
  until?: string
}

/** A fault in force, as `GET /_emulator/faults` lists it. */
export interface ActiveFault {
  /** What it is: the fault type or operator action (`refuse`, `AuthFailure`, `delay-methods`, `outage`, …). */
  fault: string
  /** What it does now. */
  action: string
  /** The device; absent for the outage. */
  deviceId?: string
  /** The module. */
  moduleId?: string
  /** When it ends, ISO 8601. */
  until: string
}

interface MethodFault {
  fault: 'delay-methods' | 'drop-methods'
  delayMs: number
  until: number
}

function bounded(
  value: number | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < min || value > max)
    throw new SasTokenError(
      'ERR_HUB_BAD_REQUEST',
      `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}.`,
    )
  return value
}

function targetOf(t: { deviceId?: string | undefined; moduleId?: string | undefined }): FaultTarget {
  if (t.deviceId === undefined || t.deviceId === '')
    throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'deviceId is required: the device the fault is for.')
  return t.moduleId === undefined ? { deviceId: t.deviceId } : { deviceId: t.deviceId, moduleId: t.moduleId }
}

function notOnline(t: FaultTarget): SasTokenError {
  return new SasTokenError('ERR_HUB_DEVICE_NOT_ONLINE', `${keyOf(t)} is not connected.`)
}

/** The hub's faults: pending ones, open windows and refusals, per identity. */
export class HubFaults {
  readonly #ctx: FaultsContext
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #windows = new Map<string, Window>()
  readonly #refusing = new Map<string, Refusing>()
  readonly #methods = new Map<string, MethodFault>()
  #outage: { until: number; timer: NodeJS.Timeout } | undefined

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

  /**
   * Does an operator's fault now and publishes its `fault` event (`source: 'api'`).
   *
   * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` (a bound: count 1–1000, returnCode 1–5,
   *   durationSeconds 1–3600, delaySeconds 1–300; no deviceId), `ERR_HUB_NOT_FOUND` (no such
   *   identity), `ERR_HUB_DEVICE_NOT_ONLINE` (`drop` or `expire` of an identity not connected).
   */
  operate(request: OperatorFault): FaultOutcome {
    const now = this.#ctx.now()
    const duration = (r: { durationSeconds?: number | undefined }): number =>
      bounded(r.durationSeconds, 'durationSeconds', 1, MAX_FAULT_SECONDS, DEFAULT_OPERATOR_FAULT_SECONDS)
    const iso = (ms: number): string => new Date(ms).toISOString()
    let outcome: FaultOutcome
    switch (request.kind) {
      case 'outage': {
        const until = now + duration(request) * 1000
        outcome = { fault: 'outage', action: this.#startOutage(until), until: iso(until) }
        break
      }
      case 'clear': {
        if (request.deviceId === undefined) {
          outcome = { fault: 'clear', action: this.#clearAll() }
          break
        }
        const target = targetOf(request)
        this.#ctx.requireIdentity(target.deviceId, target.moduleId)
        outcome = { fault: 'clear', ...target, action: this.#clear(target) }
        break
      }
      default: {
        const target = targetOf(request)
        this.#ctx.requireIdentity(target.deviceId, target.moduleId)
        outcome = { fault: request.kind, ...target, ...this.#operateOn(target, request, now, duration) }
      }
    }
    this.#ctx.events.publish({ event: 'fault', source: 'api', ...outcome })
    return outcome
  }

  #operateOn(
    target: FaultTarget,
    request: Exclude<OperatorFault, { kind: 'outage' | 'clear' }>,
    now: number,
    duration: (r: { durationSeconds?: number | undefined }) => number,
  ): Omit<FaultOutcome, 'fault'> {
    const key = keyOf(target)
    switch (request.kind) {
      case 'drop': {
        const session = this.#ctx.sessionOf(target.deviceId, target.moduleId)
        if (session === undefined) throw notOnline(target)
        session.closeReason = 'fault drop'
        // a transport whose adapter cannot kill its TCP connection is closed instead
        const killed = session.link.fault('kill-tcp')
        if (!killed) session.link.close()
        return { protocol: session.protocol, action: killed ? 'kill-tcp done' : 'connection closed' }
      }
      case 'expire': {
        const session = this.#ctx.sessionOf(target.deviceId, target.moduleId)
        if (session === undefined) throw notOnline(target)
        if (session.authMethod === 'x509')
          throw new SasTokenError(
            'ERR_HUB_BAD_REQUEST',
            `${key} is connected with an X.509 certificate: it has no token to expire.`,
          )
        this.#ctx.expire(session)
        return { protocol: session.protocol, action: 'token expired: session closed' }
      }
      case 'refuse': {
        const count = bounded(request.count, 'count', 1, MAX_REFUSE_COUNT, Number.POSITIVE_INFINITY)
        const returnCode = bounded(request.returnCode, 'returnCode', 1, 5, 5) as FaultRefusal['returnCode']
        const until = now + duration(request) * 1000
        this.refuseConnects(target, { fault: 'refuse', count, until, returnCode })
        const which = Number.isFinite(count)
          ? `the next ${count} connect${count === 1 ? '' : 's'}`
          : 'connects'
        return {
          action: `${which} refused with return code ${returnCode}`,
          until: new Date(until).toISOString(),
        }
      }
      case 'delay-methods':
      case 'drop-methods': {
        const delay =
          request.kind === 'delay-methods'
            ? bounded(request.delaySeconds, 'delaySeconds', 1, MAX_METHOD_DELAY_SECONDS, 0)
            : 0
        const until = now + duration(request) * 1000
        this.#methods.set(key, { fault: request.kind, delayMs: delay * 1000, until })
        return {
          action:
            request.kind === 'delay-methods'
              ? `method answers held ${delay} s`
              : 'method answers dropped (calls time out, 504)',
          until: new Date(until).toISOString(),
        }
      }
    }
  }

  /**
   * What to do with a device's direct-method answer now, asked by the method calls: hold it
   * `delayMs`, drop it, or (`undefined`) pass it on.
   */
  methodAnswer(target: FaultTarget): { delayMs: number } | 'drop' | undefined {
    const key = keyOf(target)
    const f = this.#methods.get(key)
    if (f === undefined) return undefined
    if (this.#ctx.now() >= f.until) {
      this.#methods.delete(key)
      return undefined
    }
    return f.fault === 'drop-methods' ? 'drop' : { delayMs: f.delayMs }
  }

  /** `true` while an outage pauses the device listeners: they close a new connection at once. */
  inOutage(): boolean {
    return this.#outage !== undefined && this.#ctx.now() < this.#outage.until
  }

  #startOutage(until: number): string {
    if (this.#outage !== undefined) clearTimeout(this.#outage.timer)
    const timer = setTimeout(() => this.#endOutage('ended'), Math.max(0, until - this.#ctx.now()))
    timer.unref()
    this.#outage = { until, timer }
    let dropped = 0
    for (const session of [...this.#ctx.sessions()]) {
      session.closeReason = 'fault outage'
      if (!session.link.fault('kill-tcp')) session.link.close()
      dropped += 1
    }
    return `device listeners paused (new connections closed at once), ${dropped} connection${dropped === 1 ? '' : 's'} dropped`
  }

  /** Ends the outage with its closing `fault` event; `false` when none is on. */
  #endOutage(why: 'ended' | 'cleared'): boolean {
    const outage = this.#outage
    if (outage === undefined) return false
    clearTimeout(outage.timer)
    this.#outage = undefined
    this.#ctx.events.publish({
      event: 'fault',
      fault: 'outage',
      source: 'api',
      action: `device listeners resumed (${why === 'ended' ? 'the outage ended' : 'cleared early'})`,
    })
    return true
  }

  #clear(target: FaultTarget): string {
    const key = keyOf(target)
    const ended = [
      this.#refusing.delete(key) ? 'refused connects' : '',
      this.#methods.delete(key) ? 'methods fault' : '',
      this.#windows.delete(key) ? 'throttling window' : '',
    ].filter((s) => s !== '')
    return ended.length === 0 ? 'nothing to clear' : `cleared: ${ended.join(', ')}`
  }

  #clearAll(): string {
    const count = this.#refusing.size + this.#methods.size + this.#windows.size
    this.#refusing.clear()
    this.#methods.clear()
    this.#windows.clear()
    const outage = this.#endOutage('cleared')
    return count === 0 && !outage
      ? 'nothing to clear'
      : `cleared ${count} identit${count === 1 ? 'y’s fault' : 'ies’ faults'}${outage ? ' and the outage' : ''}`
  }

  /** Every fault in force now: refusals, throttling windows, methods faults, the outage. */
  active(): ActiveFault[] {
    const now = this.#ctx.now()
    const iso = (ms: number): string => new Date(ms).toISOString()
    const ids = (key: string): { deviceId: string; moduleId?: string } => {
      const slash = key.indexOf('/')
      return slash === -1
        ? { deviceId: key }
        : { deviceId: key.slice(0, slash), moduleId: key.slice(slash + 1) }
    }
    const list: ActiveFault[] = []
    if (this.#outage !== undefined && now < this.#outage.until)
      list.push({ fault: 'outage', action: 'device listeners paused', until: iso(this.#outage.until) })
    for (const [key, r] of this.#refusing) {
      if (now >= r.until || r.left <= 0) continue
      const which = Number.isFinite(r.left) ? `${r.left} more connect${r.left === 1 ? '' : 's'}` : 'connects'
      list.push({
        fault: r.fault,
        ...ids(key),
        action: `${which} refused with return code ${r.returnCode}`,
        until: iso(r.until),
      })
    }
    for (const [key, w] of this.#windows) {
      if (now >= w.until) continue
      list.push({
        fault: w.fault,
        ...ids(key),
        action: w.error === 'quota' ? 'over quota' : 'throttled',
        until: iso(w.until),
      })
    }
    for (const [key, m] of this.#methods) {
      if (now >= m.until) continue
      list.push({
        fault: m.fault,
        ...ids(key),
        action:
          m.fault === 'drop-methods' ? 'method answers dropped' : `method answers held ${m.delayMs / 1000} s`,
        until: iso(m.until),
      })
    }
    return list
  }

  /** Clears every pending fault (hub close). */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#windows.clear()
    this.#refusing.clear()
    this.#methods.clear()
    if (this.#outage !== undefined) clearTimeout(this.#outage.timer)
    this.#outage = undefined
  }
}
