/**
 * `sas-token inspect <token | connection-string | ->`: what a token or connection string is for
 * and when it expires; with a key, whether its signature is right. Exit 1 when the token is
 * expired or invalid, so a cron job can test it.
 *
 * @module
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { parseConnectionString, type ConnectionString } from '../../connection-string.js'
import { SasTokenError } from '../../errors.js'
import { verifySasToken } from '../../sas-token.js'
import { keyOptions } from '../identity-options.js'
import { nowMs, readKey, valueOrStdin, type KeySource } from '../input.js'
import { withSharedChecks } from '../options.js'
import { registerSecret, relativeTime, renderError, table, warn, writeJson, writeValue } from '../output.js'
import { policyPasswordWarning, summarizeToken, type TokenSummary } from '../token-summary.js'

/** The options of `inspect`. */
export interface InspectArgs extends KeySource {
  input?: string | undefined
  json?: boolean | undefined
  showSecrets?: boolean | undefined
}

/** What `inspect` reports. */
interface Report {
  type: 'token' | 'connection-string'
  /** The connection string's fields, secrets redacted unless --show-secrets. */
  fields?: Record<string, string>
  /** The token (or the connection string's embedded token), described. */
  token?: Omit<TokenSummary, 'token'> & {
    expired: boolean
    signature: 'verified' | 'invalid' | 'not checked'
  }
}

const REDACTED = '<redacted>'

/** The connection string's fields under their canonical names. */
function csFields(cs: ConnectionString, showSecrets: boolean): Record<string, string> {
  const secret = (value: string | undefined): string | undefined =>
    value === undefined || showSecrets ? value : REDACTED
  const fields: Record<string, string | undefined> = {
    HostName: cs.hostName,
    DeviceId: cs.deviceId,
    ModuleId: cs.moduleId,
    SharedAccessKeyName: cs.sharedAccessKeyName,
    SharedAccessKey: secret(cs.sharedAccessKey),
    SharedAccessSignature: secret(cs.sharedAccessSignature),
    GatewayHostName: cs.gatewayHostName,
    x509: cs.x509 === true ? 'true' : undefined,
  }
  return Object.fromEntries(
    Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined),
  )
}

/**
 * Describes `token`, and verifies its signature when a key is given. The signature is checked as
 * of a moment inside the token's lifetime, so an expired token still says whether it was signed
 * with that key; expiry is reported separately.
 */
function describeToken(token: string, key: string | undefined, now: number): NonNullable<Report['token']> {
  const { token: _omit, ...summary } = summarizeToken(token, now)
  let signature: 'verified' | 'invalid' | 'not checked' = 'not checked'
  if (key !== undefined) {
    try {
      verifySasToken(token, { key, now: (summary.expiresAtEpoch - 1) * 1000 })
      signature = 'verified'
    } catch (err) {
      if (!(err instanceof SasTokenError) || err.code === 'ERR_INVALID_KEY') throw err
      signature = 'invalid'
    }
  }
  return { ...summary, expired: summary.expiresIn <= 0, signature }
}

function renderText(report: Report): string {
  const t = report.token
  const rows: Array<[string, string | undefined]> = [['type', report.type]]
  for (const [name, value] of Object.entries(report.fields ?? {})) rows.push([name, value])
  if (t !== undefined) {
    rows.push(
      ['kind', t.kind],
      ['resource', t.resourceUri],
      ['host', t.hostName],
      ['device', t.deviceId],
      ['module', t.moduleId],
      ['id scope', t.idScope],
      ['registration', t.registrationId],
      ['key name', t.keyName ?? undefined],
      ['expires', `${t.expiresAt} (${relativeTime(t.expiresIn)})`],
      ['status', t.expired ? 'expired' : 'valid'],
      ['signature', t.signature],
    )
  }
  return table(rows)
}

function builder(y: Argv) {
  return withSharedChecks(y)
    .positional('input', {
      type: 'string',
      describe: 'A SAS token or a connection string; - or nothing reads it from stdin',
    })
    .options({
      ...keyOptions,
      json: { type: 'boolean', describe: 'Print one JSON document' },
      'show-secrets': { type: 'boolean', describe: 'Show keys and signatures instead of <redacted>' },
    })
    .conflicts('key', ['key-file', 'key-env'])
    .conflicts('key-file', 'key-env')
    .example('$0 inspect "$TOKEN"', 'Kind, resource, ids and expiry of a token')
    .example('$0 inspect "$TOKEN" --key-env DEVICE_KEY', 'Also verify its signature')
    .example('$0 inspect - < device.cs', 'The fields of a connection string, keys redacted')
    .example('$0 inspect "$TOKEN" >/dev/null || renew', 'Exit 1 once the token has expired')
}

async function handler(args: ArgumentsCamelCase<InspectArgs>): Promise<void> {
  // yargs-parser hands a lone `-` positional over as an empty string.
  const input = (await valueOrStdin(args.input === undefined || args.input === '' ? '-' : args.input)).trim()
  const key = await readKey(args)
  const now = nowMs()
  let report: Report
  if (/^SharedAccessSignature /.test(input)) {
    report = { type: 'token', token: describeToken(input, key, now) }
  } else {
    const cs = parseConnectionString(input)
    registerSecret(cs.sharedAccessKey)
    const token =
      cs.sharedAccessSignature === undefined ? undefined : describeToken(cs.sharedAccessSignature, key, now)
    report = {
      type: 'connection-string',
      fields: csFields(cs, args.showSecrets === true),
      ...(token !== undefined && { token }),
    }
  }
  if (args.json === true) writeJson(report)
  else writeValue(renderText(report))

  const t = report.token
  if (t?.kind === 'policy') warn(policyPasswordWarning(t.keyName ?? '', t.deviceId))
  const problem =
    t?.signature === 'invalid'
      ? new SasTokenError(
          'ERR_TOKEN_SIGNATURE_MISMATCH',
          'the signature does not match the key: the token was signed with another key or for another resource.',
        )
      : t?.expired === true
        ? new SasTokenError(
            'ERR_TOKEN_EXPIRED',
            `the token expired ${relativeTime(t.expiresIn)}, at ${t.expiresAt}.`,
          )
        : key !== undefined && t === undefined
          ? new SasTokenError(
              'ERR_INVALID_OPTION',
              'there is no token to verify: this connection string holds a key, not a SharedAccessSignature.',
            )
          : undefined
  if (problem !== undefined) process.exitCode = renderError(problem, args.json === true)
}

/** The `inspect` command module. */
export const inspect: CommandModule<object, InspectArgs> = {
  command: 'inspect [input]',
  describe: 'Show what a token or connection string is for, and whether it has expired',
  builder: builder as unknown as CommandModule<object, InspectArgs>['builder'],
  handler,
}
