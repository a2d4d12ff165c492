/**
 * The `$cbs` node (claims-based security): the client attaches a sender to `$cbs` for its
 * put-token requests and a receiver on `$cbs` for the answers. A request carries the
 * application properties `operation: put-token`, `type` (`servicebus.windows.net:sastoken`, or
 * IoT Hub's `azure-devices.net:sastoken`) and `name` (the audience), the token as its body; it
 * is decided by the hub's rule set (authorize.ts) and answered with `status-code` 200 or 401
 * (400 for a request that is no put-token) and `status-description`, `correlation-id` = the
 * request's `message-id`, on the reply link the request's `reply-to` names (azure-iot-amqp-base
 * says `cbs`, @azure/core-amqp names its receiver link). A refusal is a `refuse` event with the
 * findings (and the `fault`, when a fault on purpose refused a token the findings accept: the
 * answer is the same 401, its description the fault's). A token for an audience the connection already holds renews it (a device session's
 * expiry moves: `HubService.renewToken`).
 *
 * @module
 */
import type { EventContext, Message, Receiver, Sender } from 'rhea'
import { decideToken } from '../authorize.js'
import { clientIdOf } from '../context.js'
import { idFields } from '../../state/sessions.js'
import type { AmqpConnection, AmqpContext } from '../context.js'
import { authenticatedDevice } from '../device-session.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'

/** The token types a put-token may name. */
export const CBS_TOKEN_TYPES: readonly string[] = Object.freeze([
  'servicebus.windows.net:sastoken',
  'azure-devices.net:sastoken',
])

/** How many put-token requests a client may have in flight on one link. */
const CBS_CREDIT = 16

function textOf(body: unknown): string | undefined {
  if (typeof body === 'string') return body
  if (Buffer.isBuffer(body)) return body.toString('utf8')
  if (typeof body === 'object' && body !== null && 'content' in body && Buffer.isBuffer(body.content))
    return body.content.toString('utf8')
  return undefined
}

/** The reply link a request names, or the connection's only one. */
function replyLink(conn: AmqpConnection, replyTo: unknown): Sender | undefined {
  if (typeof replyTo === 'string') {
    const named = conn.cbsReplies.get(replyTo)
    if (named !== undefined) return named
  }
  return conn.cbsReplies.values().next().value
}

function answer(
  ctx: AmqpContext,
  conn: AmqpConnection,
  request: Message,
  status: number,
  description: string,
): void {
  const link = replyLink(conn, request.reply_to)
  if (link === undefined) {
    ctx.warn(
      'A CBS put-token came with no receiver attached on $cbs to answer on: attach one before putting a token.',
    )
    return
  }
  link.send({
    ...(request.message_id === undefined ? {} : { correlation_id: request.message_id }),
    ...(typeof request.reply_to === 'string' ? { to: request.reply_to } : {}),
    application_properties: { 'status-code': status, 'status-description': description },
    body: null,
  })
}

/** One put-token request. */
function putToken(r: AttachRequest<Receiver>, context: EventContext): void {
  const { ctx, conn } = r
  const { hub } = ctx
  const request = context.message
  const delivery = context.delivery
  r.link.add_credit(1)
  if (request === undefined) return
  if (delivery !== undefined && !delivery.remote_settled) delivery.accept()
  const props = request.application_properties ?? {}
  const operation = props.operation
  const type = props.type
  const name = props.name
  const token = textOf(request.body)
  if (operation !== 'put-token') {
    answer(
      ctx,
      conn,
      request,
      400,
      `The $cbs node serves operation put-token only, not ${JSON.stringify(operation)}.`,
    )
    return
  }
  if (typeof type !== 'string' || !CBS_TOKEN_TYPES.includes(type)) {
    answer(
      ctx,
      conn,
      request,
      400,
      `A put-token's type must be ${CBS_TOKEN_TYPES.join(' or ')}, not ${JSON.stringify(type)}.`,
    )
    return
  }
  if (typeof name !== 'string' || name === '' || token === undefined || token === '') {
    answer(
      ctx,
      conn,
      request,
      400,
      'A put-token needs the audience in the application property name and the SAS token as its body.',
    )
    return
  }
  const decision = decideToken(hub, name, token, 'cbs')
  if (!decision.ok) {
    const first = decision.findings.find((f) => f.severity === 'error')
    hub.refuse({
      time: new Date(hub.now()).toISOString(),
      clientId: decision.identity === undefined ? '' : clientIdOf(decision.identity),
      username: conn.saslUsername,
      protocol: conn.protocol,
      condition: decision.condition,
      audience: name.slice(0, 300),
      ...(decision.identity === undefined ? {} : idFields(decision.identity)),
      findings: decision.findings,
      ...(decision.fault === undefined
        ? {}
        : { fault: { fault: decision.fault.fault, message: decision.fault.message } }),
    })
    answer(ctx, conn, request, 401, first?.message ?? decision.fault?.message ?? 'The token was refused.')
    return
  }
  const { authorization } = decision
  conn.grant(authorization)
  if (authorization.kind === 'device') authenticatedDevice(ctx, conn, authorization)
  answer(ctx, conn, request, 200, 'OK')
}

/** The `$cbs` node's two ends. */
export const cbsAddresses: readonly AmqpAddress[] = [
  {
    role: 'sender',
    pattern: '$cbs',
    what: 'CBS put-token requests',
    needs: { kind: 'none' },
    match: pattern('$cbs'),
    attach(r) {
      const { link, conn } = r
      conn.cbsRequests.add(link)
      link.once('receiver_close', () => conn.cbsRequests.delete(link))
      link.on('message', (context: EventContext) => putToken(r, context))
      link.add_credit(CBS_CREDIT)
    },
  },
  {
    role: 'receiver',
    pattern: '$cbs',
    what: 'CBS put-token answers',
    needs: { kind: 'none' },
    match: pattern('$cbs'),
    attach(r) {
      const { name } = r.link
      r.conn.cbsReplies.set(name, r.link)
      r.link.once('sender_close', () => {
        if (r.conn.cbsReplies.get(name) === r.link) r.conn.cbsReplies.delete(name)
      })
    },
  },
]
