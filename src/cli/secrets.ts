/**
 * The CLI's secret registry and scrubbing. Every key the CLI reads is registered here, and every
 * line bound for stderr or an error record passes through {@link scrub}, so a key can never leak
 * into a message by accident: not whole, not as a fragment of 12 characters or more, and not
 * re-encoded (without padding, base64url, percent-encoded, as hex).
 *
 * @module
 */

/** The shortest fragment of a secret that is redacted wherever it appears. */
export const MIN_FRAGMENT = 12

const REDACTED = '<redacted>'

/** Every 12-character window of every form of every registered secret. */
const windows = new Set<string>()
/** Registered secrets too short to have a window: redacted whole. */
const short = new Set<string>()

/** The forms a key may take in a message: as given, without padding, base64url, %-encoded, hex. */
function forms(secret: string): string[] {
  const unpadded = secret.replace(/=+$/, '')
  const out = [
    secret,
    unpadded,
    unpadded.replaceAll('+', '-').replaceAll('/', '_'),
    encodeURIComponent(secret),
  ]
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) out.push(Buffer.from(secret, 'base64').toString('hex'))
  return out
}

/** Every secret registered, as given: batch workers register them again in their own thread. */
const registered: string[] = []

/** The secrets registered so far, for a batch worker thread to register in turn. */
export function registeredSecrets(): readonly string[] {
  return registered
}

/** Remembers a secret (a key, a group key) so that {@link scrub} removes it from any message. */
export function registerSecret(secret: string | undefined): void {
  if (secret === undefined || secret.length < 4) return
  registered.push(secret)
  for (const form of forms(secret)) {
    if (form.length < MIN_FRAGMENT) short.add(form)
    for (let i = 0; i + MIN_FRAGMENT <= form.length; i++) windows.add(form.slice(i, i + MIN_FRAGMENT))
  }
}

/**
 * Removes every registered secret, every fragment of one that is 12 characters or longer, and
 * anything shaped like `SharedAccessKey=…`, from `text`.
 */
export function scrub(text: string): string {
  let out = text.replace(/(SharedAccessKey=)[A-Za-z0-9+/=%_-]{4,}/g, `$1${REDACTED}`)
  for (const secret of short) out = out.split(secret).join(REDACTED)
  if (windows.size === 0 || out.length < MIN_FRAGMENT) return out
  const covered = new Uint8Array(out.length)
  let any = false
  for (let i = 0; i + MIN_FRAGMENT <= out.length; i++) {
    if (windows.has(out.slice(i, i + MIN_FRAGMENT))) {
      covered.fill(1, i, i + MIN_FRAGMENT)
      any = true
    }
  }
  if (!any) return out
  let result = ''
  for (let i = 0; i < out.length; i++) {
    if (covered[i] === 0) result += out[i]
    else if (i === 0 || covered[i - 1] === 0) result += REDACTED
  }
  return result
}

/** A word or CamelCase words (`SharedAccessKeyName`): a long run of letters that is no key. */
const WORDS = /^[A-Za-z][a-z]+(?:[A-Z][a-z]+)*=?$/

/**
 * {@link scrub}, and also every `sig=` value and every run of 16 or more base64 characters: for
 * text the CLI did not write itself and that may hold a key nobody registered, such as a batch
 * input line or an argument yargs complains about (`Unknown argument: <a key without --key>`).
 * Plain words and CamelCase names are kept. It may redact a long id too; that is the price of
 * never echoing a key.
 */
export function scrubUntrusted(text: string): string {
  return scrub(text)
    .replace(/(sig=)[^&;\s"]+/gi, `$1${REDACTED}`)
    .replace(/[A-Za-z0-9+/=]{16,}/g, (run) => (WORDS.test(run) ? run : REDACTED))
}
