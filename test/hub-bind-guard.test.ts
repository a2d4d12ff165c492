// The development-key bind guard compares keys as HMAC does: HMAC pads a key shorter than its
// 64-byte block with zero bytes and hashes a longer one first, so base64(devkey ‖ 0x00) signs
// exactly what the documented key signs and must be refused beyond loopback too. node:crypto's
// HMAC is the oracle for which keys are the same key. All of 127/8, ::1 and localhost are
// loopback (127.0.0.2 is bound here, never a real external interface).
import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { startHub } from 'sas-token/hub'
import { hmacKeysEquivalent } from 'sas-token'

const DEV = Buffer.from('OHBYC2KV0vyuXXQkH+62BWYFZ9hgktnHL4oIQlHDkO0=', 'base64')
const b64 = (b: Buffer): string => b.toString('base64')
const mac = (k: Buffer): string => createHmac('sha256', k).update('probe').digest('base64')

describe('hmacKeysEquivalent', () => {
  it('agrees with node:crypto HMAC on padded, hashed and different keys', () => {
    const long = Buffer.alloc(100, 3)
    const cases: Array<[Buffer, Buffer]> = [
      [DEV, DEV],
      [DEV, Buffer.concat([DEV, Buffer.alloc(1)])],
      [DEV, Buffer.concat([DEV, Buffer.alloc(32)])],
      [DEV, Buffer.concat([DEV, Buffer.alloc(33)])],
      [DEV, Buffer.concat([DEV, Buffer.from([1])])],
      [long, createHash('sha256').update(long).digest()],
      [long, Buffer.concat([createHash('sha256').update(long).digest(), Buffer.alloc(5)])],
      [long, Buffer.alloc(100, 4)],
      [Buffer.alloc(1, 1), Buffer.alloc(2, 1)],
    ]
    for (const [a, b] of cases) {
      assert.equal(hmacKeysEquivalent(b64(a), b64(b)), mac(a) === mac(b), `${b64(a)} vs ${b64(b)}`)
    }
  })
})

describe('startHub bind guard', () => {
  it('refuses 0.0.0.0 with the development key padded by a zero byte (ERR_HUB_INSECURE_BIND)', async () => {
    const padded = b64(Buffer.concat([DEV, Buffer.alloc(1)]))
    const started = await startHub({ host: '0.0.0.0', ownerKey: padded, mqttPort: 0, httpsPort: 0 }).then(
      async (hub) => {
        await hub.close()
        return 'started'
      },
      (err: Error & { code?: string }) => err.code,
    )
    assert.equal(started, 'ERR_HUB_INSECURE_BIND')
  })

  it('treats all of 127/8 as loopback: 127.0.0.2 starts with the development key', async () => {
    const hub = await startHub({ host: '127.0.0.2', mqttPort: 0, httpsPort: 0 })
    try {
      assert.ok(hub.ports.mqtt > 0)
    } finally {
      await hub.close()
    }
  })
})
