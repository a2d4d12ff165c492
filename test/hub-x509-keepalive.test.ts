// X.509 devices (the client certificate's thumbprint against the registry) and keep-alive
// enforcement, from real TLS clients.
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { connect as tlsConnect } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import mqtt from 'mqtt'
import { createCertificateAuthority, createServerCertificate, type Hub, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { nextEvent } from './support/hub-mqtt.js'

const KEY = Buffer.alloc(32, 2).toString('base64')

describe('hub X.509 devices and keep-alive', () => {
  let hub: Hub
  const ca = createCertificateAuthority()
  const deviceCert = createServerCertificate(ca, ['x1'])
  const otherCert = createServerCertificate(ca, ['x1'])
  before(async () => {
    hub = await startHub()
    const thumbprint = new X509Certificate(deviceCert.cert).fingerprint.replaceAll(':', '')
    await hub.addDevice('x1', { x509Thumbprint: { primaryThumbprint: thumbprint } })
    await hub.addDevice('ka', { primaryKey: KEY })
  })
  after(() => hub.close())

  const x509Connect = (cert: { cert: string; key: string }, password?: string): Promise<number> =>
    new Promise((resolve) => {
      const client = mqtt.connect({
        host: '127.0.0.1',
        port: hub.ports.mqtt,
        protocol: 'mqtts',
        ca: hub.ca,
        servername: 'localhost',
        cert: cert.cert,
        key: cert.key,
        clientId: 'x1',
        username: 'localhost/x1/?api-version=2021-04-12',
        ...(password === undefined ? {} : { password }),
        reconnectPeriod: 0,
      })
      client.once('connect', () => {
        client.end(true)
        resolve(0)
      })
      client.once('error', (err) => {
        client.end(true)
        resolve(Number((err as { code?: unknown }).code))
      })
    })

  it('a device whose client certificate has the registered thumbprint connects without a password', async () => {
    const accepted = nextEvent(hub, 'connect', (e) => e.deviceId === 'x1')
    assert.equal(await x509Connect(deviceCert), 0)
    assert.equal((await accepted).authMethod, 'x509')
  })

  it('another certificate is refused (CONNACK 5) with the reason', async () => {
    const refused = nextEvent(hub, 'refuse', (e) => e.clientId === 'x1')
    assert.equal(await x509Connect(otherCert), 5)
    assert.equal(((await refused).reason as { code: string }).code, 'ERR_THUMBPRINT_MISMATCH')
  })

  it('an X.509 identity that sends a password is refused', async () => {
    const refused = nextEvent(hub, 'refuse', (e) => e.clientId === 'x1')
    assert.equal(
      await x509Connect(
        deviceCert,
        hmacToken('localhost/devices/x1', KEY, Math.floor(Date.now() / 1000) + 60),
      ),
      5,
    )
    assert.equal(((await refused).reason as { code: string }).code, 'ERR_X509_WITH_PASSWORD')
  })

  it('a client silent for 1.5× its keep-alive is closed, and the log says keep-alive', async () => {
    const socket = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port: hub.ports.mqtt, ca: hub.ca, servername: 'localhost' },
        () => resolve(s),
      )
      s.on('error', reject)
    })
    const str = (s: string): Buffer => {
      const b = Buffer.from(s)
      return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
    }
    const password = hmacToken('localhost/devices/ka', KEY, Math.floor(Date.now() / 1000) + 600)
    // CONNECT, MQTT 3.1.1, clean session, username + password, keep-alive 1 s
    const body = Buffer.concat([
      str('MQTT'),
      Buffer.from([4, 0xc2, 0, 1]),
      str('ka'),
      str('localhost/ka/?api-version=2021-04-12'),
      str(password),
    ])
    const lengthBytes: number[] = []
    for (let n = body.length; ; ) {
      let byte = n % 128
      n = Math.floor(n / 128)
      if (n > 0) byte |= 0x80
      lengthBytes.push(byte)
      if (n === 0) break
    }
    const closedEvent = nextEvent(hub, 'close', (e) => e.deviceId === 'ka')
    socket.write(Buffer.concat([Buffer.from([0x10, ...lengthBytes]), body]))
    const connack = await new Promise<Buffer>((resolve) => socket.once('data', resolve))
    assert.equal(connack[3], 0)
    await new Promise((resolve) => socket.once('close', resolve))
    assert.match(String((await closedEvent).reason), /keep-alive/)
  })
})
