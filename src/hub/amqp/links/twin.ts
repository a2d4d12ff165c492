/**
 * The twin channel, `/devices/{deviceId}/twin` (a module's: `/devices/{d}/modules/{m}/twin`), as
 * azure-iot-device-amqp's `AmqpTwinClient` uses it: the device attaches a sender (its requests)
 * and a receiver (the answers and the desired patches) to the same address, both with the link
 * property `com.microsoft:channel-correlation-id` = `twin:{uuid}` (one value for the pair) and
 * `com.microsoft:api-version`. A request carries the message annotation `operation` (`GET`,
 * `PATCH`, `PUT`, `DELETE`) and, but for GET, `resource`; its `correlation_id` (text) comes back
 * on the answer, whose annotations are `status` (an AMQP int: 200, 204, 400, 404, 500) and, for a
 * reported patch, `version` (a long); an error's body is IoT Hub's JSON
 * `{"errorCode","message"}`.
 * - `GET`: 200 with `{"desired":{…,"$version"},"reported":{…,"$version"}}` (a `twin-get` event);
 * - `PATCH /properties/reported`: the hub's `patchReported`, answered once durable (204, or 400
 *   for a patch IoT Hub refuses, 500 when the state cannot be written);
 * - `PUT` / `DELETE /notifications/twin/properties/desired`: the desired-properties subscription
 *   on and off (200; `subscribe` / `unsubscribe` events). While on, a desired patch goes on the
 *   receiver link as a message with no `correlation_id` (how the SDK tells it from an answer),
 *   the patch with its `$version` as the body and the `version` annotation.
 * Every body is one data section (an empty one for a 204 or a 200 with nothing to say).
 *
 * @module
 */
import rhea from 'rhea'
import type { EventContext, Message, Receiver, Sender } from 'rhea'
import type { HubService } from '../../service.js'
import type { Session } from '../../state/sessions.js'
import { idFields } from '../../state/sessions.js'
import { throttledAnswer } from '../../service.js'
import type { AmqpDeviceLink } from '../amqp-link.js'
import type { AmqpContext } from '../context.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'
import { decodeMessage } from '../message-mapping.js'
import { Outbox, openSenders } from '../outbox.js'

/** The resource of a reported-properties patch. */
export const REPORTED_RESOURCE = '/properties/reported'
/** The resource of the desired-properties subscription. */
export const DESIRED_RESOURCE = '/notifications/twin/properties/desired'
/** The link property that pairs a twin sender with its receiver. */
const CHANNEL = 'com.microsoft:channel-correlation-id'
/** How many twin requests a device may have in flight on its link. */
export const TWIN_CREDIT = 10

/** A twin answer, before it is an AMQP message. */
export interface TwinAnswer {
  status: 200 | 204 | 400 | 403 | 404 | 429 | 500
  /** The reported properties' version after a patch. */
  version?: number
  /** The body (JSON text); none for a 204. */
  body?: string
}

function failure(status: 400 | 403 | 404 | 429 | 500, errorCode: number, message: string): TwinAnswer {
  return { status, body: JSON.stringify({ errorCode, message }) }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/**
 * Decides one twin request of a connected identity, as IoT Hub answers it.
 *
 * @throws Never: a request the hub cannot serve is a 400 answer.
 */
export async function twinRequest(
  hub: HubService,
  session: Session,
  request: { operation: string | undefined; resource: string | undefined; body: Buffer },
): Promise<TwinAnswer> {
  const { operation, resource } = request
  if (operation === 'GET') {
    hub.events.publish({ event: 'twin-get', ...idFields(session) })
    const identity = hub.identity(session.deviceId, session.moduleId)
    if (identity === undefined) return failure(404, 404001, 'The identity was deleted.')
    try {
      return { status: 200, body: JSON.stringify(hub.deviceTwin(session, identity)) }
    } catch (err) {
      const refused = throttledAnswer(err)
      if (refused === undefined) throw err
      return failure(refused.status, refused.errorCode, refused.message)
    }
  }
  if (operation === 'PATCH' && resource === REPORTED_RESOURCE) {
    const answer = await hub.patchReported(session, request.body.toString('utf8'))
    return answer.status === 204
      ? { status: 204, version: answer.version }
      : failure(answer.status, answer.errorCode, answer.message)
  }
  if ((operation === 'PUT' || operation === 'DELETE') && resource === DESIRED_RESOURCE) {
    if (operation === 'PUT') session.subscriptions.set('desired', 0)
    else session.subscriptions.delete('desired')
    hub.subscriptionsChanged(session)
    hub.events.publish(
      operation === 'PUT'
        ? { event: 'subscribe', ...idFields(session), topics: [{ topic: DESIRED_RESOURCE, qos: 0 }] }
        : { event: 'unsubscribe', ...idFields(session), topics: [DESIRED_RESOURCE] },
    )
    return { status: 200 }
  }
  return failure(
    400,
    400004,
    `The twin request (operation ${JSON.stringify(operation ?? null)}, resource ${JSON.stringify(resource ?? null)}) is not one IoT Hub serves: GET; PATCH ${REPORTED_RESOURCE}; PUT or DELETE ${DESIRED_RESOURCE}.`,
  )
}

/** The AMQP message of a twin answer to the request with `correlationId`. */
export function twinAnswerMessage(correlationId: string | number | Buffer, answer: TwinAnswer): Message {
  const annotations: Record<string, unknown> = { status: rhea.types.wrap_int(answer.status) }
  if (answer.version !== undefined) annotations.version = rhea.types.wrap_long(answer.version)
  // an empty data section when there is nothing to say: rhea would otherwise send an amqp-value
  // null, a body the C SDK refuses on a twin answer
  return {
    body: rhea.message.data_section(Buffer.from(answer.body ?? '', 'utf8')),
    correlation_id: correlationId,
    message_annotations: annotations,
  }
}

/** The AMQP message of a desired-properties patch (`body`: the patch with its `$version`). */
export function desiredMessage(version: number, body: string): Message {
  return {
    body: rhea.message.data_section(Buffer.from(body, 'utf8')),
    message_annotations: { version: rhea.types.wrap_long(version) },
  }
}

/** The identity's twin senders (the device's receivers), the one of `channel` first. */
function twinSenders(device: AmqpDeviceLink, channel?: unknown): Sender[] {
  const senders = openSenders(device, 'twin')
  if (channel !== undefined)
    senders.sort(
      (a, b) => Number(b.properties?.[CHANNEL] === channel) - Number(a.properties?.[CHANNEL] === channel),
    )
  return senders
}

/** The device's twin sender link (its requests): each is answered on its paired receiver. */
function attachRequests(r: AttachRequest<Receiver>): void {
  if (r.grant.kind !== 'device') return
  const { ctx, link } = r
  const { session, link: device } = r.grant.device
  device.hold('twin-requests', link)
  const channel: unknown = link.properties?.[CHANNEL]
  link.on('message', (context: EventContext) => {
    const { message, delivery } = context
    if (delivery !== undefined && !delivery.remote_settled) delivery.accept()
    if (message === undefined) return link.add_credit(1)
    answer(ctx, session, device, message, channel)
      .catch((err: unknown) =>
        ctx.warn(`A twin request failed: ${(err as Error)?.message ?? String(err)}`, idFields(session)),
      )
      .finally(() => link.add_credit(1))
  })
  link.add_credit(TWIN_CREDIT)
}

async function answer(
  ctx: AmqpContext,
  session: Session,
  device: AmqpDeviceLink,
  message: Message,
  channel: unknown,
): Promise<void> {
  const decoded = decodeMessage(message)
  const annotations = message.message_annotations ?? {}
  const result: TwinAnswer = decoded.ok
    ? await twinRequest(ctx.hub, session, {
        operation: text(annotations.operation),
        resource: text(annotations.resource),
        body: decoded.payload,
      })
    : failure(400, 400004, decoded.description)
  if (message.correlation_id === undefined || message.correlation_id === null) {
    ctx.warn('A twin request came without a correlation_id: it cannot be answered.', idFields(session))
    return
  }
  const sender = twinSenders(device, channel)[0]
  if (sender === undefined) {
    ctx.warn(
      `A twin answer (${result.status}) is not delivered: the identity has no receiver link on its twin address.`,
      idFields(session),
    )
    return
  }
  Outbox.of(sender).send(twinAnswerMessage(message.correlation_id, result))
}

/** The device's twin receiver link: answers and, once subscribed, desired patches. */
function attachReplies(r: AttachRequest<Sender>): void {
  if (r.grant.kind !== 'device') return
  const { ctx, link } = r
  const { session, link: device } = r.grant.device
  device.hold('twin', link)
  device.senders.sendDesired = (version, body) => {
    const sender = twinSenders(device)[0]
    if (sender === undefined || !Outbox.of(sender).send(desiredMessage(version, body)))
      ctx.warn(
        'A desired-properties patch was dropped: the device gives its twin link no credit.',
        idFields(session),
      )
  }
  link.once('sender_close', () => {
    if (twinSenders(device).length > 0) return
    delete device.senders.sendDesired
    if (session.subscriptions.delete('desired')) {
      ctx.hub.subscriptionsChanged(session)
      ctx.hub.events.publish({ event: 'unsubscribe', ...idFields(session), topics: [DESIRED_RESOURCE] })
    }
  })
}

/** The twin addresses of devices and modules. */
export const twinAddresses: readonly AmqpAddress[] = [
  {
    role: 'sender',
    pattern: '/devices/{deviceId}/twin',
    what: 'device twin requests',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/twin'),
    attach: attachRequests,
  },
  {
    role: 'receiver',
    pattern: '/devices/{deviceId}/twin',
    what: 'device twin answers and desired patches',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/twin'),
    attach: attachReplies,
  },
  {
    role: 'sender',
    pattern: '/devices/{deviceId}/modules/{moduleId}/twin',
    what: 'module twin requests',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/modules/{moduleId}/twin'),
    attach: attachRequests,
  },
  {
    role: 'receiver',
    pattern: '/devices/{deviceId}/modules/{moduleId}/twin',
    what: 'module twin answers and desired patches',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/modules/{moduleId}/twin'),
    attach: attachReplies,
  },
]
