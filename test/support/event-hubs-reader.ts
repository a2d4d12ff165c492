// A backend written with the official @azure/event-hubs EventHubConsumerClient, unmodified: run
// as a child process (with NODE_EXTRA_CA_CERTS set to the hub's CA for TLS). It reports every
// step on stdout as one JSON line, and stops when stdin closes.
//   env EVENTHUB_CS  the connection string the hub printed
//   env GROUP        the consumer group (default $Default)
//   env MODE         read (default) | properties
//   env START        earliest (default) | latest | sequence:N | sequence>=:N | offset:X | enqueued:MS
//   env PARTITION    read only this partition (default: all)
// read: {step:'init', partitionId} once a partition's receiver is up, {step:'event', …} for each
// event, {step:'error', …} for each error. properties: {step:'hub', …}, then {step:'partition', …}
// for each partition, then {step:'done'}.
import { EventHubConsumerClient, earliestEventPosition, latestEventPosition } from '@azure/event-hubs'
import type { EventPosition, ReceivedEventData, Subscription } from '@azure/event-hubs'

const out = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function position(text: string): EventPosition {
  const [kind = '', value = ''] = text.split(':')
  switch (kind) {
    case 'latest':
      return latestEventPosition
    case 'sequence':
      return { sequenceNumber: Number(value) }
    case 'sequence>=':
      return { sequenceNumber: Number(value), isInclusive: true }
    case 'offset':
      return { offset: value }
    case 'enqueued':
      return { enqueuedOn: Number(value) }
    default:
      return earliestEventPosition
  }
}

function eventLine(partitionId: string, e: ReceivedEventData): Record<string, unknown> {
  return {
    step: 'event',
    partitionId,
    body: Buffer.isBuffer(e.body) ? e.body.toString() : e.body,
    properties: e.properties ?? {},
    systemProperties: e.systemProperties ?? {},
    sequenceNumber: e.sequenceNumber,
    offset: e.offset,
    enqueuedTimeUtc: e.enqueuedTimeUtc.getTime(),
    partitionKey: e.partitionKey,
    messageId: e.messageId,
    contentType: e.contentType,
    correlationId: e.correlationId,
  }
}

const client = new EventHubConsumerClient(process.env.GROUP ?? '$Default', process.env.EVENTHUB_CS ?? '', {
  retryOptions: { maxRetries: 0, timeoutInMs: 10_000 },
})
let subscription: Subscription | undefined

try {
  if (process.env.MODE === 'properties') {
    const hub = await client.getEventHubProperties()
    out({ step: 'hub', name: hub.name, createdOn: hub.createdOn.getTime(), partitionIds: hub.partitionIds })
    for (const id of hub.partitionIds) {
      const p = await client.getPartitionProperties(id)
      out({ step: 'partition', ...p, lastEnqueuedOnUtc: p.lastEnqueuedOnUtc.getTime() })
    }
    out({ step: 'done' })
  } else {
    const handlers = {
      processInitialize: async (context: { partitionId: string }) => {
        out({ step: 'init', partitionId: context.partitionId })
      },
      processEvents: async (events: ReceivedEventData[], context: { partitionId: string }) => {
        for (const e of events) out(eventLine(context.partitionId, e))
      },
      processError: async (err: Error & { code?: string }, context: { partitionId: string }) => {
        out({
          step: 'error',
          partitionId: context.partitionId,
          name: err.name,
          code: err.code,
          message: err.message,
        })
      },
    }
    const options = { startPosition: position(process.env.START ?? 'earliest'), maxWaitTimeInSeconds: 1 }
    subscription =
      process.env.PARTITION === undefined
        ? client.subscribe(handlers, options)
        : client.subscribe(process.env.PARTITION, handlers, options)
  }
} catch (err) {
  out({
    step: 'failed',
    name: (err as Error).name,
    code: (err as { code?: string }).code,
    message: (err as Error).message,
  })
}

process.stdin.resume()
process.stdin.on('end', () => {
  const done = async (): Promise<void> => {
    await subscription?.close()
    await client.close()
  }
  done().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
