// Bad clients never stop the others: garbage bytes, a CONNECT flood, a client that stops
// reading. Each time a well-behaved mqtt.js device still connects and sends telemetry.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { connect, nextEvent } from './support/hub-mqtt.js'

const KEY = Buffer.alloc(32, 8).toString('base64')
const nowS = (): number => Math.floor(Date.now() / 1000)

/** An MQTT 3.1.1 CONNECT packet, encoded here by hand. */
function connectPacket(clientId: string, username: string, password: string): Buffer {
  const str = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8')
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
  }
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, 0xc2, 0, 60]),
    str(clientId),
    str(username),
    str(password),
  ])
  const length: number[] = []
  let n = body.length
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    length.push(byte)
  } while (n > 0)
  return Buffer.concat([Buffer.from([0x10, ...length]), body])
}

function raw(hub: Hub): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', port: hub.ports.mqtt, ca: hub.ca, servername: 'localhost' },
      () => resolve(socket),
    )
    socket.on('error', reject)
  })
}

function ended(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve()
    socket.once('close', () => resolve())
  })
}

describe('hub faults', () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
    await hub.addDevice('good', { primaryKey: KEY })
    await hub.addDevice('slow', { primaryKey: KEY })
  })
  after(() => hub.close())

  const stillWorks = async (): Promise<void> => {
    const client = await connect(hub, {
      clientId: 'good',
      username: 'localhost/good/?api-version=2021-04-12',
      password: hmacToken('localhost/devices/good', KEY, nowS() + 600),
    })
    const seen = nextEvent(hub, 'telemetry', (e) => e.deviceId === 'good')
    client.publish('devices/good/messages/events/', 'still here', { qos: 1 })
    assert.deepEqual((await seen).body, { text: 'still here' })
    client.end(true)
  }

  it('garbage bytes close that connection only', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => raw(hub)))
    for (const s of sockets) {
      s.on('error', () => undefined)
      s.write(randomBytes(4096))
    }
    await Promise.all(sockets.map(ended))
    // a publish before any CONNECT, and a CONNECT claiming a huge length
    const early = await raw(hub)
    early.on('error', () => undefined)
    early.write(Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x62, 0x63]))
    await ended(early)
    await stillWorks()
  })

  it('a CONNECT flood (bad tokens, half-open sockets) is refused and the hub keeps serving', async () => {
    const bad = hmacToken('localhost/devices/good', Buffer.alloc(32, 1).toString('base64'), nowS() + 60)
    const sockets = await Promise.all(Array.from({ length: 100 }, () => raw(hub)))
    const answers: Array<Promise<Buffer | undefined>> = sockets.map(
      (s, i) =>
        new Promise((resolve) => {
          s.on('error', () => resolve(undefined))
          s.once('data', (d: Buffer) => resolve(d))
          s.once('close', () => resolve(undefined))
          if (i % 2 === 0) s.write(connectPacket('good', 'localhost/good/?api-version=2021-04-12', bad))
        }),
    )
    const refusedAll = await Promise.all(answers.filter((_, i) => i % 2 === 0))
    for (const a of refusedAll) assert.equal(a?.[3], 5, 'CONNACK 5')
    await stillWorks()
    for (const s of sockets) s.destroy()
  })

  it('a PUBLISH declaring 10 MB is closed at its header, before the body is buffered', async () => {
    const socket = await raw(hub)
    socket.on('error', () => undefined)
    socket.write(
      connectPacket(
        'good',
        'localhost/good/?api-version=2021-04-12',
        hmacToken('localhost/devices/good', KEY, nowS() + 600),
      ),
    )
    await new Promise((resolve) => socket.once('data', resolve))
    const logged = nextEvent(hub, 'close', (e) => e.deviceId === 'good')
    // fixed header: PUBLISH QoS 0, remaining length 10,000,000 (varint 0x80 0xAD 0xE2 0x04); no body follows
    socket.write(Buffer.from([0x30, 0x80, 0xad, 0xe2, 0x04, 0x00, 0x01]))
    await ended(socket)
    assert.match(String((await logged).reason), /too large: a packet of 10000000 bytes/)
    await stillWorks()
  })

  it('a client that stops reading does not hold up the others', async () => {
    const socket = await raw(hub)
    socket.on('error', () => undefined)
    socket.write(
      connectPacket(
        'slow',
        'localhost/slow/?api-version=2021-04-12',
        hmacToken('localhost/devices/slow', KEY, nowS() + 600),
      ),
    )
    await new Promise((resolve) => socket.once('data', resolve))
    // SUBSCRIBE $iothub/twin/PATCH/properties/desired/# QoS 0, then stop reading
    const filter = Buffer.from('$iothub/twin/PATCH/properties/desired/#')
    const sub = Buffer.concat([
      Buffer.from([0x82, 2 + 2 + filter.length + 1, 0, 1, 0, filter.length]),
      filter,
      Buffer.from([0]),
    ])
    socket.write(sub)
    await new Promise((resolve) => socket.once('data', resolve))
    socket.pause()
    for (let i = 0; i < 200; i++) await hub.updateDesired('slow', { blob: 'x'.repeat(16 * 1024), i })
    await stillWorks()
    socket.destroy()
  })
})

describe('hub packet size guard', async () => {
  const path = '../../dist/hub/mqtt/packet-guard.js'
  const { PacketSizeGuard } = (await import(path)) as {
    PacketSizeGuard: new (limit: number) => { feed(chunk: Buffer): number | undefined }
  }
  it('follows packet boundaries across chunks and names the first oversized packet', () => {
    const guard = new PacketSizeGuard(1000)
    // PINGREQ, a 200-byte PUBLISH split over chunks, then a 2-byte-varint 1001-byte header split mid-varint
    assert.equal(guard.feed(Buffer.from([0xc0, 0x00, 0x30, 0xc8, 0x01])), undefined)
    assert.equal(guard.feed(Buffer.alloc(150)), undefined)
    assert.equal(guard.feed(Buffer.concat([Buffer.alloc(50), Buffer.from([0x30, 0xe9])])), undefined)
    assert.equal(guard.feed(Buffer.from([0x07])), 1001)
  })
  it('a packet of exactly the limit passes', () => {
    const guard = new PacketSizeGuard(1000)
    assert.equal(
      guard.feed(
        Buffer.concat([Buffer.from([0x30, 0xe8, 0x07]), Buffer.alloc(1000), Buffer.from([0xc0, 0x00])]),
      ),
      undefined,
    )
  })
})
