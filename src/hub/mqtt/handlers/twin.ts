/**
 * Twin requests: a GET answers the twin's document, a reported PATCH answers once the patch is
 * on disk (the hub's `patchReported`). Answers go on `$iothub/twin/res/…` when the device has
 * subscribed there.
 *
 * @module
 */
import type { DeviceRequestTopic } from '../../../mqtt/topics.js'
import { twinResponseTopic } from '../../../mqtt/topics.js'
import { throttledAnswer } from '../../service.js'
import type { HubService } from '../../service.js'
import type { Identity } from '../../state/registry.js'
import { idFields } from '../context.js'
import type { Connection, MqttContext } from '../context.js'
import type { PublishRequest } from './publish.js'

/** `$iothub/twin/GET/?$rid=…`: the twin's desired and reported properties. */
export function twinGet(c: Connection, identity: Identity, rid: string, hub: HubService): void {
  hub.events.publish({ event: 'twin-get', ...idFields(c.session) })
  if (!c.session.subscriptions.has('twin-responses')) return
  let document: string
  try {
    document = JSON.stringify(hub.deviceTwin(c.session, identity))
  } catch (err) {
    // the hub's tier throttles twin reads: IoT Hub's `$iothub/twin/res/429/?$rid=…`
    const refused = throttledAnswer(err)
    if (refused === undefined) throw err
    const body = JSON.stringify({ errorCode: refused.errorCode, message: refused.message })
    c.link.publish('twin-responses', twinResponseTopic({ status: refused.status, rid }), body)
    return
  }
  c.link.publish('twin-responses', twinResponseTopic({ status: 200, rid }), document)
}

/** `$iothub/twin/PATCH/properties/reported/?$rid=…`: 204 with the new version once durable. */
export function twinReported(ctx: MqttContext, c: Connection, r: PublishRequest<DeviceRequestTopic>): void {
  const { rid } = r.topic
  ctx.hub
    .patchReported(c.session, r.payload.toString('utf8'))
    .then((a) => {
      if (!c.session.subscriptions.has('twin-responses')) return
      const answer = a.status === 204 ? { status: 204, rid, version: a.version } : { status: a.status, rid }
      const body = a.status === 204 ? '' : JSON.stringify({ errorCode: a.errorCode, message: a.message })
      c.link.publish('twin-responses', twinResponseTopic(answer), body)
    })
    .catch((err: unknown) => ctx.warn(`A twin answer could not be sent (${(err as Error).message}).`))
}
