// The canary for the two aedes internals the hub uses where aedes has no public hook
// (src/hub/mqtt/aedes-internals.ts): a real aedes broker, a real mqtt.js client over TCP. When
// an aedes upgrade renames or reshapes `_parser` or `_nextBatch`, this fails, before the hub
// silently grants QoS 2 or stops holding device input behind a slow log.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { test } from 'node:test'
import { Aedes, type Client } from 'aedes'
import mqtt from 'mqtt'

const modulePath = '../../dist/hub/mqtt/aedes-internals.js'
const { batchReader, packetParser } = (await import(
  modulePath
)) as typeof import('../dist/hub/mqtt/aedes-internals.js')

test('aedes still has the packet parser and the batch reader the hub hooks', {
  timeout: 20_000,
}, async () => {
  const broker = await Aedes.createBroker()
  const clients: Client[] = []
  const server = createServer((socket) => clients.push(broker.handle(socket)))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${address.port}`, { reconnectPeriod: 0 })
  try {
    const client = clients[0]
    assert.ok(client, 'aedes handled the connection')
    const parser = packetParser(client)
    assert.ok(parser, 'client._parser is an EventEmitter')
    const seen: string[] = []
    parser.prependListener('packet', (p: { cmd: string }) => seen.push(p.cmd))
    const reader = batchReader(client)
    assert.ok(reader, 'client._nextBatch is a function')
    let batches = 0
    reader.replace((err) => {
      batches += 1
      reader.next(err)
    })
    await device.subscribeAsync('a/b', { qos: 1 })
    assert.ok(seen.includes('subscribe'), 'the parser emitted the SUBSCRIBE packet')
    assert.ok(batches > 0, 'aedes read its next batch through the replaced function')
  } finally {
    await device.endAsync(true)
    server.close()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
  }
})
