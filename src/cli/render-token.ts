/**
 * The output formats of a generated token: `token`, `connection-string`, `json` and `env`.
 *
 * @module
 */
import { formatConnectionString } from '../connection-string.js'
import type { Identity } from './identity-options.js'
import { envLines, UsageError } from './output.js'
import { summarizeToken } from './token-summary.js'

/** The single-token formats of `generate`. */
export const TOKEN_FORMATS = ['token', 'connection-string', 'json', 'env'] as const
export type TokenFormat = (typeof TOKEN_FORMATS)[number]

/**
 * Renders `token` in `format`.
 * - `connection-string` is Device Explorer's `HostName=…;DeviceId=…[;ModuleId=…];SharedAccessSignature=…`,
 *   so it needs a device or module token;
 * - `json` is one document: token, kind, resource, ids, key name, expiry in ISO and epoch form;
 * - `env` is `export` lines for `eval`.
 */
export function renderToken(token: string, format: TokenFormat, nowMs: number, identity?: Identity): string {
  switch (format) {
    case 'token':
      return token
    case 'json':
      return JSON.stringify(summarizeToken(token, nowMs), null, 2)
    case 'env': {
      const summary = summarizeToken(token, nowMs)
      return envLines({
        SAS_TOKEN: token,
        SAS_TOKEN_RESOURCE_URI: summary.resourceUri,
        SAS_TOKEN_EXPIRES_AT: summary.expiresAtEpoch,
      })
    }
    case 'connection-string': {
      const { hostName, deviceId, moduleId, kind } = summarizeToken(token, nowMs)
      if (hostName === undefined || deviceId === undefined) {
        throw new UsageError(
          `--format connection-string needs a device or module token; this is a ${kind} token.`,
        )
      }
      const gatewayHostName =
        identity?.type === 'connection-string' ? identity.connectionString.gatewayHostName : undefined
      const common = {
        hostName,
        deviceId,
        sharedAccessSignature: token,
        ...(gatewayHostName !== undefined && { gatewayHostName }),
      }
      return formatConnectionString(
        moduleId === undefined ? { kind: 'device', ...common } : { kind: 'module', moduleId, ...common },
      )
    }
  }
}
