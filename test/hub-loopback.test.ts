// Loopback is every address the operating system keeps on the machine: `localhost`, `::1`, all
// of 127.0.0.0/8, and those written as IPv4-mapped IPv6 addresses. The hub starts there with
// the development owner key and refuses it anywhere else; a hub bound to one of them serves a
// certificate for that address, so its clients (the console among them) can dial it.
import assert from 'node:assert/strict'
import { connect } from 'node:tls'
import { describe, it } from 'node:test'
import { startConsole, startHub } from 'sas-token/hub'

/** What `startHub` does with the development key on `host`: `started`, or the error code. */
async function startOn(host: string): Promise<string> {
  return startHub({ host, inMemory: true, mqttPort: 0, httpsPort: 0 }).then(
    async (hub) => {
      await hub.close()
      return 'started'
    },
    (err: Error & { code?: string }) => err.code ?? err.message,
  )
}

/** Whether a TLS client that trusts only `ca` accepts the server at `host:port`. */
function verifies(host: string, port: number, ca: string): Promise<boolean | string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, ca }, () => {
      resolve(socket.authorized)
      socket.destroy()
    })
    socket.on('error', (err) => resolve(err.message))
  })
}

describe('loopback binds', () => {
  for (const host of [
    'localhost',
    'LocalHost',
    '::1',
    '0:0:0:0:0:0:0:1',
    '127.0.0.2',
    '127.255.255.254',
    '::ffff:127.0.0.3',
  ]) {
    it(`${host} is loopback: the hub starts there with the development key`, async () => {
      assert.equal(await startOn(host), 'started')
    })
  }

  for (const host of [
    '0.0.0.0',
    '::',
    '10.1.2.3',
    '128.0.0.1',
    '::ffff:10.1.2.3',
    '::2',
    '127.0.0.1.nip.io',
    'localhost.example.com',
  ]) {
    it(`${host} is not loopback: the development key is refused there`, async () => {
      assert.equal(await startOn(host), 'ERR_HUB_INSECURE_BIND')
    })
  }

  it('a hub on 127.0.0.2 serves a certificate for 127.0.0.2, and the console reaches it', async () => {
    const hub = await startHub({ host: '127.0.0.2', inMemory: true, mqttPort: 0, httpsPort: 0 })
    const web = await startConsole({ hub, port: 0, hubAddress: '127.0.0.2' })
    try {
      assert.equal(await verifies('127.0.0.2', hub.ports.mqtt, hub.ca), true)
      assert.equal(await verifies('127.0.0.2', hub.ports.https, hub.ca), true)
      const res = await fetch(new URL('/api/devices', web.origin), {
        headers: { authorization: `Bearer ${web.token}` },
      })
      assert.equal(res.status, 200, await res.clone().text())
      assert.deepEqual(await res.json(), [])
    } finally {
      await web.close()
      await hub.close()
    }
  })
})
