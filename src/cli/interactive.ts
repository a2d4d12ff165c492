/**
 * The interactive form, like Device Explorer's "SAS Token" form: connection string (masked),
 * device id when it is a service string, TTL with a default, then the token and its expiry, and
 * an offer to copy. Prompts go to stderr; the value goes to stdout. Built on node:readline's
 * keypress events only, loaded when the form opens.
 *
 * - A bad device id or TTL is reported and asked again, so the connection string need not be
 *   pasted twice. A bad connection string ends the form (nothing else has been asked yet).
 * - The masked prompt turns on bracketed paste: a pasted line break does not submit, so no part
 *   of a pasted secret can spill into the next (unmasked) prompt. Keys typed before a prompt
 *   is shown are dropped.
 * - Ctrl-C or Ctrl-D cancels (exit 1) until the token is printed; at the copy question it only
 *   declines the copy (exit 0).
 *
 * @module
 */
import { parseConnectionString } from '../connection-string.js'
import { assertEntityPath, serviceBusAudience } from '../service-bus-connection-string.js'
import { resolveExpiry } from '../expiry.js'
import { assertDeviceId } from '../identity.js'
import { copyToClipboard } from './clipboard.js'
import { CliError, UsageError } from './errors.js'
import type { SigningIdentity } from './identity-options.js'
import { connectionStringFromEnv, nowMs, registerConnectionStringSecrets } from './input.js'
import { notice, writeValue } from './output.js'
import { relativeTime } from './relative-time.js'
import { describeError } from './render-error.js'
import { renderToken, type TokenFormat } from './render-token.js'
import { expiryRequest, signerFor, type ExpiryRequest } from './signer.js'

/** The default TTL the form offers. */
export const DEFAULT_TTL = '1h'

const PASTE_ON = '\x1b[?2004h'
const PASTE_OFF = '\x1b[?2004l'

/**
 * Asks one question on stderr and reads the answer key by key. With `mask`, every character is
 * shown as `*`, so a pasted connection string never appears on the screen.
 *
 * @throws {CliError} `ERR_CANCELLED` on Ctrl-C or Ctrl-D.
 */
async function ask(prompt: string, o: { mask?: boolean; fallback?: string } = {}): Promise<string> {
  const { emitKeypressEvents } = await import('node:readline')
  const input = process.stdin
  const output = process.stderr
  emitKeypressEvents(input)
  // Drop what was typed before this prompt was shown (emitted now, with no listener).
  while (input.read() !== null) {
    // discard
  }
  output.write(o.fallback === undefined ? prompt : `${prompt} [${o.fallback}]: `)
  if (o.mask === true) output.write(PASTE_ON)
  input.setRawMode(true)
  input.resume()
  return new Promise((resolve, reject) => {
    let value = ''
    let pasting = false
    const done = (err?: Error): void => {
      input.off('keypress', onKey)
      input.setRawMode(false)
      input.pause()
      if (o.mask === true) output.write(PASTE_OFF)
      output.write('\n')
      if (err === undefined) resolve(value.trim() === '' ? (o.fallback ?? '') : value.trim())
      else reject(err)
    }
    const onKey = (
      text: string | undefined,
      key: { name?: string; ctrl?: boolean; meta?: boolean } = {},
    ): void => {
      if (key.name === 'paste-start') pasting = true
      if (key.name === 'paste-end') pasting = false
      if (key.name === 'paste-start' || key.name === 'paste-end') return
      if (key.ctrl === true && (key.name === 'c' || key.name === 'd'))
        return done(new CliError('ERR_CANCELLED', 'cancelled.'))
      if (key.name === 'return' || key.name === 'enter') {
        if (!pasting) done()
        return
      }
      if (key.name === 'backspace') {
        if (value.length > 0) {
          value = value.slice(0, -1)
          output.write('\b \b')
        }
        return
      }
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control keys are what this drops
      if (text === undefined || key.ctrl === true || key.meta === true || /[\x00-\x1f\x7f]/.test(text)) return
      value += text
      output.write(o.mask === true ? '*'.repeat(text.length) : text)
    }
    input.on('keypress', onKey)
  })
}

/** Asks until `check` accepts the answer; a rejected answer is reported on stderr. */
async function askUntil<T>(
  prompt: string,
  o: { fallback?: string },
  check: (answer: string) => T,
): Promise<T> {
  for (;;) {
    const answer = await ask(prompt, o)
    try {
      return check(answer)
    } catch (err) {
      notice(`${describeError(err).message} Try again, or press Ctrl-C to cancel.`)
    }
  }
}

/** Yes or no; Ctrl-C or Ctrl-D is a no. */
async function askYesNo(prompt: string): Promise<boolean> {
  try {
    return /^y(es)?$/i.test(await ask(`${prompt} [y/N]: `))
  } catch (err) {
    if (err instanceof CliError && err.code === 'ERR_CANCELLED') return false
    throw err
  }
}

/**
 * Runs the form and prints the token in `format`. Options given on the command line (`--ttl`,
 * `--expires-at`, `--copy`) are used instead of asking.
 */
export async function runInteractive(
  args: { ttl?: string | undefined; expiresAt?: string | undefined; copy?: boolean | undefined },
  format: TokenFormat,
): Promise<void> {
  if (!process.stdin.isTTY) throw new UsageError('the interactive form (-i) needs a terminal on stdin.')
  const fromEnv = connectionStringFromEnv()
  const text = await ask(
    fromEnv === undefined ? 'Connection string: ' : `Connection string (Enter: $${fromEnv.name}): `,
    { mask: true },
  )
  const chosen = text === '' && fromEnv !== undefined ? fromEnv.value : text
  registerConnectionStringSecrets(chosen)
  const cs = parseConnectionString(chosen)
  let identity: SigningIdentity = { type: 'connection-string', connectionString: cs }
  if (cs.kind === 'service') {
    const deviceId = await askUntil('Device id (empty: a hub-level policy token): ', {}, (answer) =>
      answer === '' ? answer : assertDeviceId(answer),
    )
    if (deviceId !== '') identity = { ...identity, deviceId }
  } else if (cs.kind === 'service-bus' && cs.entityPath === undefined && cs.sharedAccessKey !== undefined) {
    // An Event Hubs, Service Bus, Relay or Notification Hubs namespace's policy: which entity?
    const entityPath = await askUntil(
      'Event hub, queue or topic (empty: the whole namespace): ',
      {},
      (answer) => (answer === '' ? answer : assertEntityPath(answer)),
    )
    if (entityPath !== '') identity = { ...identity, audience: serviceBusAudience({ ...cs, entityPath }) }
  }
  const now = nowMs()
  let expiry: ExpiryRequest
  if (args.ttl !== undefined || args.expiresAt !== undefined || cs.sharedAccessSignature !== undefined) {
    expiry = expiryRequest(args, now)
  } else {
    expiry = await askUntil('Time to live (90s, 15m, 24h, 7d)', { fallback: DEFAULT_TTL }, (ttl) => {
      const request = expiryRequest({ ttl }, now)
      resolveExpiry(request)
      return request
    })
  }
  const signed = signerFor(identity, expiry).sign()
  const output = renderToken(signed, format, now, identity)
  writeValue(output)
  notice(
    `expires ${new Date(signed.expiresAt * 1000).toISOString()} (${relativeTime(signed.expiresAt - Math.floor(now / 1000))}).`,
  )
  if (args.copy === true || (await askYesNo('Copy to the clipboard?'))) {
    if (await copyToClipboard(output)) notice('copied.')
  }
}
