/**
 * The hub's CA and server certificate, kept in the state directory (`ca.pem`, `ca-key.pem`,
 * `server.pem`, `server-key.pem`) or made fresh in memory. The CA is made once and kept; the
 * server certificate is re-issued when it no longer covers the host names or nears expiry.
 *
 * @module
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { join } from 'node:path'
import { SasTokenError } from '../../errors.js'
import { createCertificateAuthority, createServerCertificate, serverCertificateFits } from './certificates.js'
import type { CertificateKeyPair } from './certificates.js'
import { readIfExists, writeFileAtomic } from '../state/state-store.js'

/** The TLS material a hub runs with. */
export interface TlsMaterial {
  ca: CertificateKeyPair
  server: CertificateKeyPair
  /** The CA certificate's path, when kept in a state directory. */
  caPath?: string
}

function corrupt(file: string, cause: unknown): SasTokenError {
  return Object.assign(
    new SasTokenError(
      'ERR_HUB_STATE_CORRUPT',
      `${file} is not a valid PEM certificate or key. It was left as it is: restore it, or remove ca.pem and ca-key.pem to make a new CA (devices must then trust the new one).`,
      { cause },
    ),
    { file },
  )
}

async function readPair(certFile: string, keyFile: string): Promise<CertificateKeyPair | undefined> {
  const cert = await readIfExists(certFile)
  const key = await readIfExists(keyFile)
  if (cert === undefined && key === undefined) return undefined
  if (cert === undefined) throw corrupt(certFile, new Error('missing'))
  if (key === undefined) throw corrupt(keyFile, new Error('missing'))
  try {
    new X509Certificate(cert)
  } catch (cause) {
    throw corrupt(certFile, cause)
  }
  try {
    createPrivateKey(key)
  } catch (cause) {
    throw corrupt(keyFile, cause)
  }
  return { cert, key }
}

/**
 * Loads or makes the CA and a server certificate for `names`.
 *
 * @param dir The state directory, or `undefined` for in memory.
 * @throws {SasTokenError} `ERR_HUB_STATE_CORRUPT` (naming the file) or `ERR_HUB_STATE_IO`.
 */
export async function loadTlsMaterial(
  dir: string | undefined,
  names: readonly string[],
  now: number,
): Promise<TlsMaterial> {
  if (dir === undefined) {
    const ca = createCertificateAuthority({ now })
    return { ca, server: createServerCertificate(ca, names, { now }) }
  }
  const caPath = join(dir, 'ca.pem')
  let ca = await readPair(caPath, join(dir, 'ca-key.pem'))
  if (ca === undefined) {
    ca = createCertificateAuthority({ now })
    await writeFileAtomic(join(dir, 'ca-key.pem'), ca.key, 0o600)
    await writeFileAtomic(caPath, ca.cert, 0o644)
  }
  const serverPath = join(dir, 'server.pem')
  let server: CertificateKeyPair | undefined
  try {
    server = await readPair(serverPath, join(dir, 'server-key.pem'))
  } catch {
    server = undefined // the server certificate is derived data: re-issue it
  }
  if (server === undefined || !serverCertificateFits(server.cert, ca.cert, names, now)) {
    server = createServerCertificate(ca, names, { now })
    await writeFileAtomic(join(dir, 'server-key.pem'), server.key, 0o600)
    await writeFileAtomic(serverPath, server.cert, 0o644)
  }
  return { ca, server, caPath }
}
