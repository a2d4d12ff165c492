// The hub's own DER encoder and certificates, checked against known DER bytes, node:crypto's
// X509Certificate, openssl (as an independent verifier, when installed) and a real TLS handshake.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from 'node:tls'
import { describe, it } from 'node:test'
import { createCertificateAuthority, createServerCertificate } from 'sas-token/hub'

const hex = (b: Buffer): string => b.toString('hex')

/** The internal encoder (not a public export), loaded from the build. */
interface Der {
  tlv(tag: number, content: Buffer): Buffer
  objectIdentifier(dotted: string): Buffer
  unsignedInteger(bytes: Buffer): Buffer
  time(date: Date): Buffer
  boolean(value: boolean): Buffer
  bitString(content: Buffer): Buffer
}

describe('hub DER encoder (known answers)', async () => {
  const path = '../../dist/hub/tls/der.js'
  const der: Der = await import(path)
  it('OID, lengths, integers, times', () => {
    assert.equal(hex(der.objectIdentifier('1.2.840.10045.4.3.2')), '06082a8648ce3d040302')
    assert.equal(hex(der.objectIdentifier('2.5.29.17')), '0603551d11')
    assert.equal(hex(der.tlv(0x04, Buffer.alloc(200)).subarray(0, 3)), '0481c8')
    assert.equal(hex(der.tlv(0x04, Buffer.alloc(300)).subarray(0, 4)), '0482012c')
    assert.equal(hex(der.tlv(0x04, Buffer.alloc(127)).subarray(0, 2)), '047f')
    assert.equal(hex(der.unsignedInteger(Buffer.from([0x80]))), '02020080')
    assert.equal(hex(der.unsignedInteger(Buffer.from([0, 0, 5]))), '020105')
    assert.equal(hex(der.unsignedInteger(Buffer.from([0]))), '020100')
    assert.equal(der.time(new Date('2049-12-31T23:59:59Z')).toString('latin1'), '\x17\x0d491231235959Z')
    assert.equal(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1'), '\x18\x0f20500101000000Z')
    assert.equal(hex(der.boolean(true)), '0101ff')
    assert.equal(hex(der.bitString(Buffer.from([0xab]))), '030200ab')
  })
})

describe('hub certificates', () => {
  const ca = createCertificateAuthority()
  const server = createServerCertificate(ca, ['localhost', '127.0.0.1', '::1', 'myhub.local'])

  it('the CA is a CA and the server certificate is issued by it, with every name as subjectAltName', () => {
    const caCert = new X509Certificate(ca.cert)
    const cert = new X509Certificate(server.cert)
    assert.equal(caCert.ca, true)
    assert.equal(cert.ca, false)
    assert.ok(cert.checkIssued(caCert))
    assert.ok(cert.verify(caCert.publicKey))
    assert.ok(caCert.verify(caCert.publicKey))
    assert.equal(
      cert.subjectAltName,
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:myhub.local',
    )
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'])
    assert.ok(
      Date.parse(cert.validFrom) < Date.now() && Date.parse(cert.validTo) > Date.now() + 800 * 86_400_000,
    )
  })

  it('openssl verifies the chain in strict X.509 mode', (t) => {
    try {
      execFileSync('openssl', ['version'])
    } catch {
      t.skip('openssl is not installed')
      return
    }
    const dir = mkdtempSync(join(tmpdir(), 'sas-token-cert-'))
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.cert)
      writeFileSync(join(dir, 'server.pem'), server.cert)
      const out = execFileSync('openssl', [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslserver',
        '-CAfile',
        join(dir, 'ca.pem'),
        join(dir, 'server.pem'),
      ]).toString()
      assert.match(out, /server\.pem: OK/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a TLS client that trusts only the CA completes a handshake for localhost and 127.0.0.1; another CA fails', async () => {
    const tls = createServer({ cert: server.cert, key: server.key }, (s) => s.end('ok'))
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', () => resolve()))
    const port = (tls.address() as { port: number }).port
    const handshake = (o: { servername?: string; ca: string }): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect(
          {
            host: '127.0.0.1',
            port,
            ca: o.ca,
            ...(o.servername === undefined ? {} : { servername: o.servername }),
          },
          () => {
            resolve(socket.authorized ? 'authorized' : String(socket.authorizationError))
            socket.destroy()
          },
        )
        socket.on('error', reject)
      })
    try {
      assert.equal(await handshake({ servername: 'localhost', ca: ca.cert }), 'authorized')
      assert.equal(await handshake({ servername: 'myhub.local', ca: ca.cert }), 'authorized')
      assert.equal(await handshake({ ca: ca.cert }), 'authorized')
      await assert.rejects(
        handshake({ servername: 'elsewhere.example', ca: ca.cert }),
        /altnames|ERR_TLS_CERT_ALTNAME_INVALID/,
      )
      await assert.rejects(
        handshake({ servername: 'localhost', ca: createCertificateAuthority().cert }),
        /certificate/,
      )
    } finally {
      tls.close()
    }
  })
})
