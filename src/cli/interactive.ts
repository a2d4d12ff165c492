/**
 * The interactive form, like Device Explorer's "SAS Token" form: connection string (masked),
 * device id when it is a service string, TTL with a default, then the token and its expiry, and
 * an offer to copy. Prompts go to stderr; the value goes to stdout. Built on node:readline's
 * keypress events only, loaded when the form opens.
 *
 * @module
 */
import { parseConnectionString } from '../connection-string.js'
import { copyToClipboard } from './clipboard.js'
import { resolveCliExpiry, signToken, type ExpiryArgs, type Identity } from './identity-options.js'
import { connectionStringFromEnv } from './input.js'
import { notice, registerSecret, relativeTime, UsageError, writeValue } from './output.js'
import { renderToken, type TokenFormat } from './render-token.js'

/** The default TTL the form offers. */
export const DEFAULT_TTL = '1h'

/** Thrown when the user presses Ctrl-C or Ctrl-D at a prompt. */
class Cancelled extends Error {
  readonly code = 'ERR_CANCELLED'
}

/**
 * Asks one question on stderr and reads the answer key by key. With `mask`, every character is
 * shown as `*`, so a pasted connection string never appears on the screen.
 */
async function ask(prompt: string, o: { mask?: boolean; fallback?: string } = {}): Promise<string> {
  const { emitKeypressEvents } = await import('node:readline')
  const input = process.stdin
  const output = process.stderr
  output.write(o.fallback === undefined ? prompt : `${prompt} [${o.fallback}]: `)
  emitKeypressEvents(input)
  input.setRawMode(true)
  input.resume()
  return new Promise((resolve, reject) => {
    let value = ''
    const done = (err?: Error): void => {
      input.off('keypress', onKey)
      input.setRawMode(false)
      input.pause()
      output.write('\n')
      if (err === undefined) resolve(value.trim() === '' ? (o.fallback ?? '') : value.trim())
      else reject(err)
    }
    const onKey = (
      text: string | undefined,
      key: { name?: string; ctrl?: boolean; meta?: boolean } = {},
    ): void => {
      if (key.ctrl === true && (key.name === 'c' || key.name === 'd'))
        return done(new Cancelled('cancelled.'))
      if (key.name === 'return' || key.name === 'enter') return done()
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

async function askYesNo(prompt: string): Promise<boolean> {
  return /^y(es)?$/i.test(await ask(`${prompt} [y/N]: `))
}

/**
 * Runs the form and prints the token in `format`. Options given on the command line (`--ttl`,
 * `--expires-at`, `--copy`) are used instead of asking.
 */
export async function runInteractive(
  args: ExpiryArgs & { copy?: boolean | undefined },
  format: TokenFormat,
): Promise<void> {
  if (!process.stdin.isTTY) throw new UsageError('the interactive form (-i) needs a terminal on stdin.')
  const fromEnv = connectionStringFromEnv()
  const text = await ask(
    fromEnv === undefined ? 'Connection string: ' : `Connection string (Enter: $${fromEnv.name}): `,
    { mask: true },
  )
  const cs = parseConnectionString(text === '' && fromEnv !== undefined ? fromEnv.value : text)
  registerSecret(cs.sharedAccessKey)
  let identity: Identity = { type: 'connection-string', connectionString: cs }
  if (cs.kind === 'service') {
    const deviceId = await ask('Device id (empty: a hub-level policy token): ')
    if (deviceId !== '') identity = { ...identity, deviceId }
  }
  const ttl =
    args.ttl ?? args.expiresAt ?? (await ask('Time to live (90s, 15m, 24h, 7d)', { fallback: DEFAULT_TTL }))
  const expiry = resolveCliExpiry(args.expiresAt === undefined ? { ttl } : { expiresAt: args.expiresAt })
  const output = renderToken(signToken(identity, expiry), format, expiry.now, identity)
  writeValue(output)
  notice(
    `expires ${new Date(expiry.expiresAt * 1000).toISOString()} (${relativeTime(expiry.expiresAt - Math.floor(expiry.now / 1000))}).`,
  )
  if (args.copy === true || (await askYesNo('Copy to the clipboard?'))) {
    if (await copyToClipboard(output)) notice('copied.')
  }
}
