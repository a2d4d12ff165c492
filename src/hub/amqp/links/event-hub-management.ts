/**
 * The Event Hub-compatible endpoint's `$management` node: the client attaches a sender on
 * `$management` for its requests and a receiver there for the answers (its link name is the
 * requests' `reply-to`), under a token for `sb://{host}/{eventHub}/$management`. A request with the application
 * properties `operation: READ`, `name` (the event hub) and `type` is answered, `correlation-id`
 * = its `message-id`, `status-code` 200, with a map body:
 * - `com.microsoft:eventhub`: `name`, `type`, `created_at`, `partition_count`, `partition_ids`;
 * - `com.microsoft:partition` (and `partition`): `name`, `type`, `partition`,
 *   `begin_sequence_number`, `last_enqueued_sequence_number`, `last_enqueued_offset`,
 *   `last_enqueued_time_utc`, `is_partition_empty`.
 * Anything else is answered with a 4xx `status-code`, `error-condition` and `status-description`,
 * as `@azure/event-hubs` reads them (managementClient.ts, requestResponseLink.ts).
 *
 * @module
 */
import rhea from 'rhea'
import type { EventContext, Message, Receiver, Sender } from 'rhea'
import { eventHubName } from '../../event-hub-endpoint.js'
import type { AmqpConnection } from '../context.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'

/** `@azure/event-hubs` attaches both links to `$management` (its audience names the event hub). */
const PATTERN = '$management'
const CREDIT = 16

/** The reply links of each connection, by link name. */
const replies = new WeakMap<AmqpConnection, Map<string, Sender>>()

function repliesOf(conn: AmqpConnection): Map<string, Sender> {
  let links = replies.get(conn)
  if (links === undefined) {
    links = new Map()
    replies.set(conn, links)
  }
  return links
}

type Answer =
  | { status: 200; body: Record<string, unknown> }
  | { status: 400 | 404; condition: string; description: string }

/** The answer to one request. */
function answerOf(r: AttachRequest<Receiver>, request: Message): Answer {
  const { hub } = r.ctx
  const log = hub.d2c
  const name = eventHubName(hub.hostName)
  const props = request.application_properties ?? {}
  if (props.operation !== 'READ')
    return {
      status: 400,
      condition: 'com.microsoft:argument-error',
      description: `The $management node serves operation READ only, not ${JSON.stringify(props.operation)}.`,
    }
  if (typeof props.name !== 'string' || props.name.toLowerCase() !== name.toLowerCase())
    return {
      status: 404,
      condition: 'amqp:not-found',
      description: `The messaging entity ${JSON.stringify(props.name)} could not be found: this hub's Event Hub-compatible name is '${name}'.`,
    }
  if (props.type === 'com.microsoft:eventhub') {
    return {
      status: 200,
      body: {
        name,
        type: 'com.microsoft:eventhub',
        created_at: new Date(log.createdAt),
        partition_count: log.partitionCount,
        partition_ids: Array.from({ length: log.partitionCount }, (_, i) => String(i)),
      },
    }
  }
  if (props.type === 'com.microsoft:partition') {
    const id = String(props.partition)
    const n = /^\d{1,3}$/.test(id) ? Number(id) : Number.NaN
    if (!(n < log.partitionCount))
      return {
        status: 400,
        condition: 'com.microsoft:argument-out-of-range',
        description: `The partition '${id}' does not exist: the partitions are 0 to ${log.partitionCount - 1}.`,
      }
    const info = log.partition(n)
    return {
      status: 200,
      body: {
        name,
        type: 'com.microsoft:partition',
        partition: id,
        begin_sequence_number: rhea.types.wrap_long(info.beginningSequenceNumber),
        last_enqueued_sequence_number: rhea.types.wrap_long(info.lastEnqueuedSequenceNumber),
        last_enqueued_offset: info.lastEnqueuedOffset,
        last_enqueued_time_utc: new Date(info.lastEnqueuedTime),
        is_partition_empty: info.isEmpty,
      },
    }
  }
  return {
    status: 400,
    condition: 'com.microsoft:argument-error',
    description: `A READ's type must be com.microsoft:eventhub or com.microsoft:partition, not ${JSON.stringify(props.type)}.`,
  }
}

function request(r: AttachRequest<Receiver>, context: EventContext): void {
  r.link.add_credit(1)
  const message = context.message
  if (message === undefined) return
  const delivery = context.delivery
  if (delivery !== undefined && !delivery.remote_settled) delivery.accept()
  const links = repliesOf(r.conn)
  const reply =
    (typeof message.reply_to === 'string' ? links.get(message.reply_to) : undefined) ??
    links.values().next().value
  if (reply === undefined) {
    r.ctx.warn(
      'An Event Hubs $management request came with no receiver attached on $management to answer on.',
    )
    return
  }
  const answer = answerOf(r, message)
  reply.send({
    ...(message.message_id === undefined ? {} : { correlation_id: message.message_id }),
    ...(typeof message.reply_to === 'string' ? { to: message.reply_to } : {}),
    application_properties:
      answer.status === 200
        ? { 'status-code': 200, 'status-description': 'OK' }
        : {
            'status-code': answer.status,
            'status-description': answer.description,
            'error-condition': answer.condition,
          },
    body: answer.status === 200 ? answer.body : null,
  })
}

const needs = {
  kind: 'service',
  rights: ['ServiceConnect'],
  audience: (_: Readonly<Record<string, string>>, host: string) =>
    `sb://${host}/${eventHubName(host)}/$management`,
} as const

/** The `$management` node's two ends. */
export const eventHubManagementAddresses: readonly AmqpAddress[] = [
  {
    role: 'sender',
    pattern: PATTERN,
    what: "the Event Hub-compatible endpoint's $management requests",
    needs,
    match: pattern(PATTERN),
    attach(r) {
      r.link.on('message', (context: EventContext) => request(r, context))
      r.link.add_credit(CREDIT)
    },
  },
  {
    role: 'receiver',
    pattern: PATTERN,
    what: "the Event Hub-compatible endpoint's $management answers",
    needs,
    match: pattern(PATTERN),
    attach(r) {
      const { name } = r.link
      const links = repliesOf(r.conn)
      links.set(name, r.link)
      r.link.once('sender_close', () => {
        if (links.get(name) === r.link) links.delete(name)
      })
    },
  },
]
