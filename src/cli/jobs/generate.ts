/**
 * The per-line job of `generate --batch` (see `batch-records.ts`): a token for each device id,
 * entity path, registration id or connection string line. Its own module, so that the command
 * and the batch worker threads build the same job without importing each other.
 *
 * @module
 */
import { parseConnectionString } from '../../connection-string.js'
import { SasTokenError } from '../../errors.js'
import { resolveExpiry } from '../../expiry.js'
import { deviceResources, signEncoded } from '../../sas-token.js'
import { signConnectionString } from '../../token-from-connection-string.js'
import type { BatchJob } from '../batch-records.js'
import { UsageError } from '../errors.js'
import type { SigningIdentity } from '../identity-options.js'
import { type ExpiryRequest, signerFor } from '../signer.js'

/** `deviceId` or `deviceId/moduleId` (a `/` cannot appear in an id); the core checks the ids. */
function splitDeviceLine(line: string): { deviceId: string; moduleId?: string } {
  const slash = line.indexOf('/')
  return slash < 0 ? { deviceId: line } : { deviceId: line.slice(0, slash), moduleId: line.slice(slash + 1) }
}

/** `expiresAt` as ISO text, remembered: every token of a run usually shares one expiry. */
function isoCache(): (seconds: number) => string {
  let last = Number.NaN
  let text = ''
  return (seconds) => {
    if (seconds !== last) {
      last = seconds
      text = new Date(seconds * 1000).toISOString()
    }
    return text
  }
}

/**
 * The expiry every line of a batch shares, worked out once (the TTL text is not parsed again
 * for each line); when it cannot be worked out, each line reports why, as before.
 */
function fixedExpiry(expiry: ExpiryRequest): ExpiryRequest {
  try {
    return { now: expiry.now, expiresAt: resolveExpiry(expiry) }
  } catch {
    return expiry
  }
}

/**
 * The `generate --batch` job for an identity:
 * - a service (policy) identity signs a device-scoped policy token for each `deviceId` or
 *   `deviceId/moduleId` line;
 * - a DPS identity with a group key signs a registration token for each registration id line,
 *   with the derived device key;
 * - no identity reads one connection string per line.
 */
export function generateJob(identity: SigningIdentity | undefined, expiry: ExpiryRequest): BatchJob {
  const iso = isoCache()
  if (identity === undefined) {
    return {
      reads: 'connection strings',
      columns: ['deviceId', 'moduleId', 'token', 'expiresAt'],
      echoInput: false,
      recipe: { job: 'generate', identity, expiry },
      run(line) {
        // Parsed once; the signer's checks of the identity are the parser's own.
        const cs = parseConnectionString(line)
        const { token, expiresAt } = signConnectionString(cs, expiry)
        return [cs.deviceId, cs.moduleId, token, iso(expiresAt)]
      },
    }
  }
  if (identity.type === 'connection-string' && identity.connectionString.kind === 'service') {
    const { sharedAccessKey, sharedAccessKeyName } = identity.connectionString
    if (sharedAccessKey === undefined || sharedAccessKeyName === undefined) {
      throw new SasTokenError(
        'ERR_KEY_REQUIRED',
        '--batch needs a service connection string with SharedAccessKeyName and SharedAccessKey.',
      )
    }
    signerFor(identity, expiry) // checks the identity once, not on every line
    const resourceOf = deviceResources(identity.connectionString.hostName)
    const lineExpiry = fixedExpiry(expiry)
    return {
      reads: 'device ids',
      columns: ['deviceId', 'moduleId', 'token', 'expiresAt'],
      echoInput: true,
      recipe: { job: 'generate', identity, expiry },
      run(line) {
        const { deviceId, moduleId } = splitDeviceLine(line)
        const { resourceUri, sr } = resourceOf(deviceId, moduleId)
        const signed = signEncoded(resourceUri, sr, sharedAccessKey, sharedAccessKeyName, lineExpiry)
        return [deviceId, moduleId, signed.token, iso(signed.expiresAt)]
      },
    }
  }
  if (identity.type === 'connection-string' && identity.connectionString.kind === 'service-bus') {
    const signer = signerFor(identity, fixedExpiry(expiry))
    return {
      reads: 'entity paths',
      columns: ['entityPath', 'token', 'expiresAt'],
      echoInput: true,
      recipe: { job: 'generate', identity, expiry },
      run(entityPath) {
        const { token, expiresAt } = signer.sign({ entityPath })
        return [entityPath, token, iso(expiresAt)]
      },
    }
  }
  if (identity.type === 'dps' && identity.groupKey !== undefined) {
    const signer = signerFor(identity, expiry)
    return {
      reads: 'registration ids',
      columns: ['registrationId', 'token', 'expiresAt'],
      echoInput: true,
      recipe: { job: 'generate', identity, expiry },
      run(registrationId) {
        const { token, expiresAt } = signer.sign({ registrationId })
        return [registrationId, token, iso(expiresAt)]
      },
    }
  }
  throw new UsageError(
    '--batch signs many ids with one policy or group key: give a service connection string (or --host --key-name --key) for device ids, an Endpoint=sb://… string for entity paths, --dps --id-scope --group-key for registration ids, or no identity to read connection strings from stdin.',
  )
}
