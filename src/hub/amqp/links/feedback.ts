/**
 * The feedback receiver: the service's receiver link on `/messages/serviceBound/feedback`
 * (azure-iothub `Client.getFeedbackReceiver`), under a hub policy token with `ServiceConnect`.
 * The link is a feedback link of the hub's feedback owner (state/c2d-feedback.ts), which hands it
 * batches within its credit. A batch is one message as IoT Hub sends it: content type
 * `application/vnd.microsoft.iothub.feedback.json`, `user-id` the hub's name, the message
 * annotation `iothub-enqueuedtime` (when the batch was made), the header's `delivery-count` (how
 * many times its records went out before), and a body of one data section,
 * the JSON array of records `{originalMessageId, deviceId, deviceGenerationId, statusCode,
 * description, enqueuedTimeUtc}`. The service's outcome settles it: accepted → complete (the
 * Node SDK accepts on arrival), rejected → reject (dropped), released or modified → abandon (the
 * records go out again). The link or its connection closing abandons what it held.
 *
 * @module
 */
import rhea from 'rhea'
import type { Delivery, Message, Sender } from 'rhea'
import type { C2dFeedbackBatch, C2dFeedbackLink } from '../../state/c2d-feedback.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'

/** The content type of a feedback batch. */
export const FEEDBACK_CONTENT_TYPE = 'application/vnd.microsoft.iothub.feedback.json'

/** A batch as the AMQP message IoT Hub sends. */
function batchMessage(batch: C2dFeedbackBatch, hubName: string): Message {
  const m: Message = {
    // the header's delivery-count: earlier deliveries of this batch's records
    delivery_count: batch.deliveryCount - 1,
    message_id: batch.messageId,
    content_type: FEEDBACK_CONTENT_TYPE,
    message_annotations: { 'iothub-enqueuedtime': new Date(batch.enqueuedTime) },
    body: rhea.message.data_section(Buffer.from(JSON.stringify(batch.records), 'utf8')),
  }
  // AMQP's user-id is binary (rhea's typings say string; it encodes what it is given as binary)
  return Object.assign(m, { user_id: Buffer.from(hubName, 'utf8') })
}

function attachFeedback(r: AttachRequest<Sender>): void {
  if (r.grant.kind !== 'service') return
  const { ctx, link, conn } = r
  const feedback = ctx.hub.c2d.feedback
  const hubName = ctx.hub.hostName.split('.')[0] ?? ctx.hub.hostName
  const tokens = new WeakMap<Delivery, string>()
  const receiver: C2dFeedbackLink = {
    ready: () => link.is_open() && link.sendable(),
    send(batch, lockToken) {
      const delivery = link.send(batchMessage(batch, hubName), rhea.string_to_uuid(lockToken))
      if (delivery.settled) return 'completed'
      tokens.set(delivery, lockToken)
      return 'locked'
    },
  }
  const settle = (outcome: 'complete' | 'reject' | 'abandon') => (context: { delivery?: Delivery }) => {
    const token = context.delivery === undefined ? undefined : tokens.get(context.delivery)
    if (token !== undefined) feedback[outcome](token)
  }
  link.on('accepted', settle('complete'))
  link.on('rejected', settle('reject'))
  // rhea reports `modified` as `released` (treat_modified_as_released)
  link.on('released', settle('abandon'))
  link.on('sendable', () => feedback.flush())
  let gone = false
  const detach = (): void => {
    if (gone) return
    gone = true
    feedback.detach(receiver)
  }
  link.once('sender_close', detach)
  conn.rhea.once('connection_close', detach)
  conn.rhea.once('disconnected', detach)
  feedback.attach(receiver)
}

/** The feedback receiver's address. */
export const feedbackAddresses: readonly AmqpAddress[] = [
  {
    role: 'receiver',
    pattern: '/messages/serviceBound/feedback',
    what: 'C2D delivery feedback batches',
    needs: { kind: 'service', rights: ['ServiceConnect'] },
    match: pattern('messages/serviceBound/feedback'),
    attach: attachFeedback,
  },
]
