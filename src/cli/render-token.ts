/**
 * The output formats of a generated token: `token`, `connection-string`, `json`, and the variable
 * formats `env`, `powershell` and `cmd`.
 *
 * @module
 */
import { formatConnectionString } from '../connection-string.js'
import { UsageError } from './errors.js'
import type { SigningIdentity } from './identity-options.js'
import { VARIABLE_FORMATS, variableLines } from './shell-formats.js'
import { summarizeToken, type TokenFacts } from './token-summary.js'

/** The single-token formats of `generate`. */
export const TOKEN_FORMATS = ['token', 'connection-string', 'json', ...VARIABLE_FORMATS] as const
export type TokenFormat = (typeof TOKEN_FORMATS)[number]

/**
 * Renders a token in `format`, from the facts its signer returned.
 * - `connection-string` is Device Explorer's `HostName=…;DeviceId=…[;ModuleId=…];SharedAccessSignature=…`,
 *   so it needs a device or module token;
 * - `json` is one document: token, kind, resource, ids, key name, expiry in ISO and epoch form;
 * - `env`, `powershell` and `cmd` set `SAS_TOKEN`, `SAS_TOKEN_RESOURCE_URI` and
 *   `SAS_TOKEN_EXPIRES_AT` in that shell (see `shell-formats.ts`).
 *
 * @throws {UsageError} `--format connection-string` for a token that is not a device's or a module's.
 * @throws {CliError} `ERR_FORMAT_UNREPRESENTABLE` when a variable format cannot hold a value.
 */
export function renderToken(
  signed: TokenFacts,
  format: TokenFormat,
  nowMs: number,
  identity?: SigningIdentity,
): string {
  const token = signed.token
  switch (format) {
    case 'token':
      return token
    case 'json':
      return JSON.stringify(summarizeToken(signed, nowMs), null, 2)
    case 'env':
    case 'powershell':
    case 'cmd': {
      const summary = summarizeToken(signed, nowMs)
      return variableLines(format, {
        SAS_TOKEN: token,
        SAS_TOKEN_RESOURCE_URI: summary.resourceUri,
        SAS_TOKEN_EXPIRES_AT: summary.expiresAtEpoch,
      })
    }
    case 'connection-string': {
      const { hostName, deviceId, moduleId, kind } = summarizeToken(signed, nowMs)
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
