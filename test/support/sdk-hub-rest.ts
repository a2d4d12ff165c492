// The operator REST API of the SDK tests' hub (support/sdk-hub.ts): its 443 on its own loopback
// address, signed with the token its hub connection string makes.
import { parseConnectionString, tokenFromConnectionString } from 'sas-token'
import { type Reply, rest } from './hub-rest.js'
import type { SdkHub } from './sdk-hub.js'

/**
 * One operator call (`body` sent as JSON), authorized as the hub's owner policy.
 * @throws Error when the request cannot be made (the hub is not listening, its TLS is refused).
 */
export function sdkHubRest(s: SdkHub, method: string, path: string, body?: unknown): Promise<Reply> {
  const auth = tokenFromConnectionString(parseConnectionString(s.hub.hubConnectionString))
  return rest(s.hub, method, path, { host: s.address, auth, body })
}
