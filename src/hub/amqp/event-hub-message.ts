/**
 * A device-to-cloud message as the Event Hub-compatible endpoint sends it (IoT Hub's built-in
 * endpoint, read by `@azure/event-hubs`): the body as one data section; the message's own system
 * properties in AMQP's properties section (`message-id`, `correlation-id`, `user-id`, `to`,
 * `content-type`, `content-encoding`, `absolute-expiry-time`, `creation-time`); IoT Hub's
 * `iothub-*` annotations (`iothub-enqueuedtime` a timestamp), `dt-subject` for a component, and
 * Event Hubs' `x-opt-sequence-number`, `x-opt-offset`, `x-opt-enqueued-time` and
 * `x-opt-partition-key` (the device id) as message annotations; the application properties as
 * they came. The SDK maps the annotations to `systemProperties`, `sequenceNumber`, `offset`,
 * `enqueuedTimeUtc` and `partitionKey`, the properties section to `messageId`, `contentType`…
 *
 * @module
 */
import rhea from 'rhea'
import type { Message } from 'rhea'
import type { D2cPartitionInfo, D2cRecord } from '../state/d2c-log.js'

const time = (text: string | undefined): Date | undefined => {
  if (text === undefined) return undefined
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : new Date(ms)
}

/**
 * The AMQP message of a logged message.
 *
 * @param runtime With it (the receiver asked for `com.microsoft:enable-receiver-runtime-metric`),
 *   the partition's last enqueued message, as delivery annotations.
 */
export function eventHubMessage(record: D2cRecord, runtime?: D2cPartitionInfo): Message {
  const sp = record.systemProperties
  const annotations: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(sp)) if (name.startsWith('iothub-')) annotations[name] = value
  const enqueued = time(sp['iothub-enqueuedtime'])
  if (enqueued !== undefined) annotations['iothub-enqueuedtime'] = enqueued
  if (sp.componentName !== undefined) annotations['dt-subject'] = sp.componentName
  annotations['x-opt-sequence-number'] = rhea.types.wrap_long(record.sequenceNumber)
  annotations['x-opt-offset'] = record.offset
  annotations['x-opt-enqueued-time'] = new Date(record.enqueuedTime)
  annotations['x-opt-partition-key'] = record.partitionKey
  const message: Message = {
    body: rhea.message.data_section(record.body),
    message_annotations: annotations,
    application_properties: record.properties,
  }
  if (sp.messageId !== undefined) message.message_id = sp.messageId
  if (sp.correlationId !== undefined) message.correlation_id = sp.correlationId
  if (sp.userId !== undefined) message.user_id = sp.userId
  if (sp.to !== undefined) message.to = sp.to
  if (sp.contentType !== undefined) message.content_type = sp.contentType
  if (sp.contentEncoding !== undefined) message.content_encoding = sp.contentEncoding
  const expiry = time(sp.expiryTimeUtc)
  if (expiry !== undefined) message.absolute_expiry_time = expiry
  const created = time(sp.creationTimeUtc)
  if (created !== undefined) message.creation_time = created
  if (runtime !== undefined) {
    message.delivery_annotations = {
      last_enqueued_sequence_number: rhea.types.wrap_long(runtime.lastEnqueuedSequenceNumber),
      last_enqueued_offset: runtime.lastEnqueuedOffset,
      last_enqueued_time_utc: new Date(runtime.lastEnqueuedTime),
      runtime_info_retrieval_time_utc: new Date(),
    }
  }
  return message
}
