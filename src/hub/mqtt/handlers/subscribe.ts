/**
 * SUBSCRIBE and UNSUBSCRIBE: only the documented filters of the connection's own identity
 * (the core's `filterKind`), QoS 2 granted as 1 as IoT Hub does; the hub keeps a CleanSession 0
 * device's subscriptions, and C2D flows while the device is subscribed to it.
 *
 * @module
 */
import type { AuthorizeSubscribeHandler, Client, Subscription } from 'aedes'
import { subscriptionKind } from '../../state/sessions.js'
import { attachC2d, detachC2d } from '../c2d-link.js'
import { idFields } from '../context.js'
import type { MqttContext } from '../context.js'

/** Grants a documented filter (at most QoS 1) and closes the connection for any other. */
export function authorizeSubscribe(ctx: MqttContext): AuthorizeSubscribeHandler {
  return (client, sub, done) => {
    const c = ctx.connections.get(client)
    if (c === undefined) return done(new Error('not authenticated'))
    const kind = subscriptionKind(sub.topic, c.session)
    if (kind === undefined)
      return done(ctx.violate(client, `subscription not supported: ${JSON.stringify(sub.topic)}`))
    const qos: 0 | 1 = sub.qos === 0 ? 0 : 1
    c.session.subscriptions.set(kind, qos)
    const granted: Subscription = { ...sub, qos }
    done(null, granted)
  }
}

/** After SUBACK: logged, kept, and C2D starts. */
export function subscribed(ctx: MqttContext) {
  return (subscriptions: Subscription[], client: Client): void => {
    const c = ctx.connections.get(client)
    if (c === undefined) return
    ctx.hub.events.publish({
      event: 'subscribe',
      ...idFields(c.session),
      topics: subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })),
    })
    ctx.hub.subscriptionsChanged(c.session)
    attachC2d(ctx.hub, c.session, c.link)
  }
}

/** After UNSUBACK: no more of that kind; C2D it held unanswered goes back to the queue. */
export function unsubscribed(ctx: MqttContext) {
  return (topics: string[], client: Client): void => {
    const c = ctx.connections.get(client)
    if (c === undefined) return
    for (const topic of topics) {
      const kind = subscriptionKind(topic, c.session)
      if (kind) c.session.subscriptions.delete(kind)
      if (kind === 'messages') detachC2d(ctx.hub, c.session)
    }
    ctx.hub.events.publish({ event: 'unsubscribe', ...idFields(c.session), topics })
    ctx.hub.subscriptionsChanged(c.session)
  }
}
