/**
 * DPS over MQTT: a register or poll goes to the hub's DPS (state/dps.ts), and its answer goes
 * back on `$dps/registrations/res/{status}/?$rid=…[&retry-after=…]` (an assignment once it is
 * on disk).
 *
 * @module
 */
import type { DeviceRequestTopic, DpsPollTopic } from '../../../mqtt/topics.js'
import { dpsResponseTopic } from '../../../mqtt/topics.js'
import { handlePoll, handleRegister } from '../../state/dps.js'
import type { Connection, MqttContext } from '../context.js'
import type { PublishRequest } from './publish.js'

/** A register or poll on a DPS connection. */
export function dpsRequest(
  ctx: MqttContext,
  c: Connection,
  r: PublishRequest<DeviceRequestTopic | DpsPollTopic>,
): void {
  const { session, accepted } = c
  if (accepted.kind !== 'dps') return
  const answer =
    r.topic.type === 'dps-poll'
      ? handlePoll(ctx.hub, session, accepted, r.topic.operationId)
      : handleRegister(session, accepted, r.payload)
  const rid = r.topic.rid
  Promise.resolve(answer)
    .then(({ status, body, retryAfter }) => {
      if (!session.subscriptions.has('dps')) return
      const topic = dpsResponseTopic(retryAfter === undefined ? { status, rid } : { status, rid, retryAfter })
      c.link.publish('dps', topic, JSON.stringify(body))
    })
    .catch((err: unknown) => ctx.warn(`A DPS answer could not be sent (${(err as Error).message}).`))
}
