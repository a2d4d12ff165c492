/**
 * Cloud-to-device messages: the device's receiver link on `/devices/{deviceId}/messages/devicebound`
 * is its C2D link (the hub's `AmqpDeviceLink`): the queue (state/c2d-queue.ts) delivers within
 * the link's credit, and the device's outcome settles each message: accepted → complete,
 * rejected → reject, released or modified → abandon. The link closing abandons what it held.
 *
 * @module
 */
import type { AmqpAddress } from '../link-address.js'
import { pattern } from '../link-address.js'

/** The C2D address of a device. */
export const c2dAddresses: readonly AmqpAddress[] = [
  {
    role: 'receiver',
    pattern: '/devices/{deviceId}/messages/devicebound',
    what: 'cloud-to-device messages',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/messages/devicebound'),
    attach(r) {
      if (r.grant.kind !== 'device') return
      const { hub } = r.ctx
      const { session, link: device } = r.grant.device
      device.hold('c2d', r.link)
      device.attachC2d(r.link)
      session.subscriptions.set('messages', 1)
      r.link.once('sender_close', () => {
        session.subscriptions.delete('messages')
        device.detachC2d()
        hub.c2d.detach(session.deviceId, device)
      })
      hub.c2d.attach(session.deviceId, device)
    },
  },
]
