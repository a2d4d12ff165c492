// Our tokens against the Node SDK's (azure-iot-common), byte for byte, over thousands of random
// identities with every allowed special character, random keys and random expiries.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  createSasToken,
  deviceResourceUri,
  formatConnectionString,
  tokenFromConnectionString,
} from 'sas-token'
import * as arb from './support/arbitraries.js'
import { sdkDeviceToken } from './support/sdk.js'

describe('byte-identical to azure-iot-common', () => {
  it('device tokens', () => {
    fc.assert(
      fc.property(
        arb.hostName,
        arb.deviceId,
        arb.key,
        arb.clockAndExpiry,
        (host, deviceId, key, { now, expiresAt }) => {
          const ours = createSasToken({ resourceUri: deviceResourceUri(host, deviceId), key, expiresAt, now })
          assert.equal(ours, sdkDeviceToken(host, deviceId, key, expiresAt))
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('module tokens, from connection strings', () => {
    fc.assert(
      fc.property(
        arb.hostName,
        arb.deviceId,
        arb.deviceId,
        arb.key,
        arb.clockAndExpiry,
        (host, deviceId, moduleId, key, { now, expiresAt }) => {
          const cs = formatConnectionString({
            kind: 'module',
            hostName: host,
            deviceId,
            moduleId,
            sharedAccessKey: key,
          })
          const ours = tokenFromConnectionString(cs, { expiresAt, now })
          assert.equal(ours, sdkDeviceToken(host, deviceId, key, expiresAt, moduleId))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('device tokens with a TTL: floor(now / 1000) + ttl, as the SDK computes it', () => {
    fc.assert(
      fc.property(
        arb.deviceId,
        arb.key,
        fc.integer({ min: 1_000_000_000_000, max: 4_000_000_000_000 }),
        fc.integer({ min: 1, max: 10 ** 7 }),
        (deviceId, key, now, ttl) => {
          const ours = createSasToken({
            resourceUri: deviceResourceUri('h.azure-devices.net', deviceId),
            key,
            ttl,
            now,
          })
          assert.equal(
            ours,
            sdkDeviceToken('h.azure-devices.net', deviceId, key, Math.floor(now / 1000) + ttl),
          )
        },
      ),
      { numRuns: 1000 },
    )
  })
})
