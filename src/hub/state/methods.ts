/**
 * Direct methods, whatever the transport: a request goes to the identity's connection through
 * its link (`DeviceLink.sendMethod`) with a request id, and the answer comes back to
 * {@link MethodCalls.answer} with that id. MQTT: `$iothub/methods/POST/{name}/?$rid={rid}` at
 * QoS 0, answered on `$iothub/methods/res/{status}/?$rid={rid}`; AMQP: a message on the
 * `/methods/devicebound` link, answered on the same address with its correlation id. The timeout
 * is 5–300 s (default 30): it answers 504; an offline identity, or one that does not listen for
 * methods, answers 404 at once.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'
import type { HubService } from '../service.js'
import type { Session } from './sessions.js'

/** The body of `POST /twins/{id}/methods`. */
export interface MethodInput {
  /** The method's name. */
  methodName: string
  /** The request's JSON payload; default `null`. */
  payload?: unknown
  /** How long to wait for the device's answer: 5–300 s, default 30. */
  responseTimeoutInSeconds?: number | undefined
  /** Accepted and ignored (the device must already be connected). */
  connectTimeoutInSeconds?: number | undefined
}

/** A device's answer. */
export interface MethodResult {
  status: number
  payload: unknown
}

interface Pending {
  resolve: (r: MethodResult) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
  session: Session
  /** The timer of an answer held by a `delay-methods` fault. */
  held?: NodeJS.Timeout
}

/** The default method timeout, seconds. */
export const DEFAULT_METHOD_TIMEOUT = 30

function bad(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

/** How a connection listens for method requests, for the message that says it does not. */
function methodsListener(session: Session): string {
  const path =
    session.moduleId === undefined ? session.deviceId : `${session.deviceId}/modules/${session.moduleId}`
  return session.protocol === 'amqp' || session.protocol === 'amqp-ws'
    ? `AMQP: attach a receiver to /devices/${path}/methods/devicebound`
    : 'MQTT: subscribe to $iothub/methods/POST/#'
}

/** Calls in flight, by session and request id. */
export class MethodCalls {
  readonly #pending = new Map<string, Pending>()
  #counter = 0
  readonly #hub: HubService

  constructor(hub: HubService) {
    this.#hub = hub
  }

  /**
   * Invokes a method and waits for the answer.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`, `ERR_HUB_BAD_REQUEST` (name, timeout),
   *   `ERR_HUB_DEVICE_NOT_ONLINE` (404), `ERR_HUB_METHOD_TIMEOUT` (504), `ERR_HUB_THROTTLED` /
   *   `ERR_HUB_QUOTA_EXCEEDED` (the hub's tier, throttle.ts: 4 KB meters of the payload).
   */
  async invoke(deviceId: string, moduleId: string | undefined, input: MethodInput): Promise<MethodResult> {
    const name = input.methodName
    if (name === '' || /[/#+?\s]/.test(name) || name.length > 128) {
      throw bad('methodName must be a non-empty name without / # + ? or spaces.')
    }
    const timeout = input.responseTimeoutInSeconds ?? DEFAULT_METHOD_TIMEOUT
    if (!Number.isInteger(timeout) || timeout < 5 || timeout > 300) {
      throw bad('responseTimeoutInSeconds must be a whole number from 5 to 300 (default 30).')
    }
    this.#hub.requireIdentity(deviceId, moduleId)
    const payloadText = JSON.stringify(input.payload ?? null)
    if (Buffer.byteLength(payloadText) > 128 * 1024) throw bad('The method payload is over 128 KB.')
    this.#hub.throttle.admit('methods', moduleId === undefined ? { deviceId } : { deviceId, moduleId }, {
      bytes: Buffer.byteLength(payloadText),
    })
    const session = this.#hub.sessionOf(deviceId, moduleId)
    const who = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`
    if (session === undefined || !session.subscriptions.has('methods')) {
      this.#hub.events.publish({
        event: 'method',
        deviceId,
        ...(moduleId === undefined ? {} : { moduleId }),
        methodName: name,
        status: 404,
      })
      throw new SasTokenError(
        'ERR_HUB_DEVICE_NOT_ONLINE',
        session === undefined
          ? `${who} is not connected.`
          : `${who} is connected but does not listen for methods (${methodsListener(session)}).`,
      )
    }
    this.#counter = (this.#counter + 1) % 0x7fffffff
    const rid = this.#counter.toString(16)
    const key = `${session.clientId}\n${rid}`
    return await new Promise<MethodResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearTimeout(this.#pending.get(key)?.held)
        this.#pending.delete(key)
        this.#hub.events.publish({
          event: 'method',
          deviceId,
          ...(moduleId === undefined ? {} : { moduleId }),
          methodName: name,
          status: 504,
        })
        reject(
          new SasTokenError('ERR_HUB_METHOD_TIMEOUT', `${who} did not answer ${name} within ${timeout} s.`),
        )
      }, timeout * 1000)
      this.#pending.set(key, {
        resolve: (r) => {
          this.#hub.events.publish({
            event: 'method',
            deviceId,
            ...(moduleId === undefined ? {} : { moduleId }),
            methodName: name,
            status: r.status,
          })
          resolve(r)
        },
        reject,
        timer,
        session,
      })
      session.link.sendMethod(name, rid, payloadText)
    })
  }

  /**
   * A device's response; `false` when no call waits for it. An operator's methods fault
   * (faults.ts) holds it for its delay or drops it: the call then times out (504) unless the
   * held answer comes first.
   */
  answer(session: Session, rid: string, status: number, body: Buffer): boolean {
    const key = `${session.clientId}\n${rid}`
    const pending = this.#pending.get(key)
    if (pending === undefined || pending.session !== session || pending.held !== undefined) return false
    const fault = this.#hub.faults.methodAnswer(session)
    if (fault === 'drop') return true
    if (fault !== undefined) {
      pending.held = setTimeout(() => {
        if (this.#pending.get(key) === pending) this.#deliver(key, pending, status, body)
      }, fault.delayMs)
      return true
    }
    this.#deliver(key, pending, status, body)
    return true
  }

  #deliver(key: string, pending: Pending, status: number, body: Buffer): void {
    this.#pending.delete(key)
    clearTimeout(pending.timer)
    const text = body.toString('utf8')
    let payload: unknown = text
    if (text.length === 0) payload = null
    else {
      try {
        payload = JSON.parse(text)
      } catch {
        payload = text
      }
    }
    pending.resolve({ status, payload })
  }

  /** Stops every timer (hub close). */
  close(): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer)
      clearTimeout(p.held)
      p.reject(new SasTokenError('ERR_HUB_CLOSED', 'The hub closed before the device answered.'))
    }
    this.#pending.clear()
  }
}
