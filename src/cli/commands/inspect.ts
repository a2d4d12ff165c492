/**
 * `sas-token inspect <token | connection-string | ->`: what a token or connection string is for
 * and when it expires; with a key, whether its signature is right. Exit 1 when the token is
 * expired or invalid, so a cron job can test it.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import { parseConnectionString, unquote, type ConnectionString } from '../../connection-string.js'
import { SasTokenError } from '../../errors.js'
import { parseSasToken, verifySasTokenSignature } from '../../sas-token.js'
import { describeService } from '../../service-bus-connection-string.js'
import type { ArgsOf, OptionsOf } from '../command.js'
import { CliError } from '../errors.js'
import { keyOptions } from '../identity-options.js'
import { nowMs, readKey, registerConnectionStringSecrets, valueOrStdin } from '../input.js'
import { withSharedChecks } from '../options.js'
import { notice, warn, writeJson, writeValue } from '../output.js'
import { relativeTime } from '../relative-time.js'
import { table } from '../table.js'
import { policyPasswordWarning, summarizeToken, type TokenSummary } from '../token-summary.js'

/** What `inspect` reports. */
interface Report {
  type: 'token' | 'connection-string'
  /** The connection string's fields, secrets redacted unless --show-secrets. */
  fields?: Record<string, string>
  /** The token (or the connection string's embedded token), described. */
  token?: Omit<TokenSummary, 'token'> & {
    expired: boolean
    signature: 'verified' | 'invalid' | 'not checked'
    /** Why the signature is invalid, when it was signed with the key in the other family's convention. */
    signatureError?: 'ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS' | 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB'
  }
}

const REDACTED = '<redacted>'

/** The connection string's fields under their canonical names. */
function csFields(cs: ConnectionString, showSecrets: boolean): Record<string, string> {
  const secret = (value: string | undefined): string | undefined =>
    value === undefined || showSecrets ? value : REDACTED
  const fields: Record<string, string | undefined> =
    cs.kind === 'service-bus'
      ? {
          Endpoint: `sb://${cs.namespace}${cs.port === undefined ? '' : `:${cs.port}`}/`,
          SharedAccessKeyName: cs.sharedAccessKeyName,
          SharedAccessKey: secret(cs.sharedAccessKey),
          SharedAccessSignature: secret(cs.sharedAccessSignature),
          EntityPath: cs.entityPath,
          UseDevelopmentEmulator: cs.useDevelopmentEmulator === true ? 'true' : undefined,
          service: describeService(cs.service),
        }
      : {
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
 * Describes `token`, and verifies its signature when a key is given. The signature is checked
 * apart from the expiry, so an expired token still says whether it was signed with that key;
 * expiry is reported separately.
 */
function describeToken(token: string, key: string | undefined, now: number): NonNullable<Report['token']> {
  const { token: _omit, ...summary } = summarizeToken({ token, ...parseSasToken(token) }, now)
  let signature: 'verified' | 'invalid' | 'not checked' = 'not checked'
  let signatureError: NonNullable<Report['token']>['signatureError']
  if (key !== undefined) {
    try {
      verifySasTokenSignature(token, key)
      signature = 'verified'
    } catch (err) {
      if (!(err instanceof SasTokenError) || err.code === 'ERR_INVALID_KEY') throw err
      signature = 'invalid'
      if (
        err.code === 'ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS' ||
        err.code === 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB'
      )
        signatureError = err.code
    }
  }
  return {
    ...summary,
    expired: summary.expiresIn <= 0,
    signature,
    ...(signatureError !== undefined && { signatureError }),
  }
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
      ['entity', t.entityPath],
      ['service', t.service],
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
    .example(
      "$0 inspect 'Endpoint=sb://…' ",
      'An Event Hubs or Service Bus string: its namespace and service',
    )
    .example('$0 inspect "$TOKEN" >/dev/null || renew', 'Exit 1 once the token has expired')
}

/** A bare `sr=…&sig=…&se=…`: a token without its `SharedAccessSignature ` prefix. */
const BARE_TOKEN = /^sr=[^&]+&(?:[a-z]+=[^&]*&?)+$/

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  // yargs-parser hands a lone `-` positional over as an empty string.
  let input = unquote(await valueOrStdin(args.input === undefined || args.input === '' ? '-' : args.input))
  registerConnectionStringSecrets(input)
  const key = (await readKey(args))?.value
  const now = nowMs()
  let report: Report
  if (BARE_TOKEN.test(input)) {
    input = `SharedAccessSignature ${input}`
    notice("the token had no 'SharedAccessSignature ' prefix; it was read as if it had.")
  }
  if (/^SharedAccessSignature /.test(input)) {
    report = { type: 'token', token: describeToken(input, key, now) }
  } else {
    const cs = parseConnectionString(input)
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
  // The report is out; a problem it shows is the run's failure (exit 1).
  if (t?.signatureError === 'ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS') {
    throw new SasTokenError(
      t.signatureError,
      "the key is right, but the token was signed with its base64-decoded bytes, as IoT Hub signs; Event Hubs, Service Bus, Relay and Notification Hubs sign with the key's text: sign it again with sas-token generate -c 'Endpoint=sb://…'.",
    )
  }
  if (t?.signatureError === 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB') {
    throw new SasTokenError(
      t.signatureError,
      "the key is right, but the token was signed with the key's text, as the Service Bus family signs; IoT Hub and DPS sign with its base64-decoded bytes: sign it again with sas-token generate.",
    )
  }
  if (t?.signature === 'invalid') {
    throw new SasTokenError(
      'ERR_TOKEN_SIGNATURE_MISMATCH',
      'the signature does not match the key: the token was signed with another key or for another resource.',
    )
  }
  if (t?.expired === true) {
    throw new SasTokenError(
      'ERR_TOKEN_EXPIRED',
      `the token expired ${relativeTime(t.expiresIn)}, at ${t.expiresAt}.`,
      {
        facts: { expiresAt: t.expiresAtEpoch },
      },
    )
  }
  if (key !== undefined && t === undefined) {
    throw new CliError(
      'ERR_NOTHING_TO_VERIFY',
      'there is no token to verify: this connection string holds a key, not a SharedAccessSignature.',
    )
  }
}

/** The `inspect` command module. */
export const inspect: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'inspect [input]',
  describe: 'Show what a token or connection string is for, and whether it has expired',
  builder,
  handler,
}
