/**
 * Module inputs: a module's receiver link on `/devices/{d}/modules/{m}/messages/events` (the
 * address its outputs are sent to, attached the other way: azure-iot-device-amqp's module
 * transport receives its inputs there). While it is attached the module listens to its inputs
 * (the `messages` subscription, as MQTT's `…/inputs/#`; `subscribe` / `unsubscribe` events),
 * and each message sent to one of them (`sendModuleInput`, state/c2d.ts) goes out mapped as any
 * hub message is (message-mapping.ts), with the input's name in the message annotation
 * `x-opt-input-name` (what the SDK emits `inputMessage` with). Inputs are not queued, so the
 * module's outcome settles nothing.
 *
 * @module
 */
import type { Message, Sender } from 'rhea'
import type { MessageProperties } from '../../../mqtt/property-bag.js'
import { idFields } from '../../state/sessions.js'
import type { AmqpDeviceLink } from '../amqp-link.js'
import type { AmqpAddress, AttachRequest } from '../link-address.js'
import { pattern } from '../link-address.js'
import { encodeMessage } from '../message-mapping.js'
import { Outbox, openSenders } from '../outbox.js'

/** The message annotation an input's name travels in. */
export const INPUT_NAME_ANNOTATION = 'x-opt-input-name'

/** The AMQP message of a module input. */
export function inputMessage(inputName: string, properties: MessageProperties, payload: Buffer): Message {
  return encodeMessage(payload, properties, { annotations: { [INPUT_NAME_ANNOTATION]: inputName } })
}

function inputSenders(device: AmqpDeviceLink): Sender[] {
  return openSenders(device, 'inputs')
}

function attachInputs(r: AttachRequest<Sender>): void {
  if (r.grant.kind !== 'device') return
  const { ctx, link, address } = r
  const { hub } = ctx
  const { session, link: device } = r.grant.device
  device.hold('inputs', link)
  device.senders.sendInput = (inputName, properties, payload) => {
    const sender = inputSenders(device)[0]
    if (sender === undefined || !Outbox.of(sender).send(inputMessage(inputName, properties, payload)))
      ctx.warn(
        'A module input message was dropped: the module gives its input link no credit.',
        idFields(session),
      )
  }
  if (!session.subscriptions.has('messages')) {
    session.subscriptions.set('messages', 1)
    hub.subscriptionsChanged(session)
    hub.events.publish({ event: 'subscribe', ...idFields(session), topics: [{ topic: address, qos: 1 }] })
  }
  link.once('sender_close', () => {
    if (inputSenders(device).length > 0) return
    delete device.senders.sendInput
    if (session.subscriptions.delete('messages')) {
      hub.subscriptionsChanged(session)
      hub.events.publish({ event: 'unsubscribe', ...idFields(session), topics: [address] })
    }
  })
}

/** A module's input address. */
export const moduleInputAddresses: readonly AmqpAddress[] = [
  {
    role: 'receiver',
    pattern: '/devices/{deviceId}/modules/{moduleId}/messages/events',
    what: 'module inputs',
    needs: { kind: 'device' },
    match: pattern('devices/{deviceId}/modules/{moduleId}/messages/events'),
    attach: attachInputs,
  },
]
