/**
 * Redacts anything shaped like a SAS token in what the hub reports: every `sig=` value
 * (also `sig%3D`, as it reads inside an encoded string), wherever it stands, so a token a client
 * sent in the wrong field (a username and password swapped, a token in the client id) never
 * reaches an event, a log line, the SSE stream, `GET /_emulator/refused` or the console. The
 * fields of a refused CONNECT also lose any `SharedAccessKey=` value ({@link redactCredentials}:
 * a connection string pasted as the username).
 * The rest of the token (`sr`, `se`, `skn`) stays: it is what a person needs to see what went
 * wrong, and it signs nothing.
 *
 * @module
 */

/** What a redacted signature reads as. */
export const REDACTED = '<redacted>'

// a signature runs to the next field separator, space, quote or delimiter of the text around it
const SIG = /(\bsig(?:=|%3d))[^&\s;,"'<>]+/gi
const SHAPED = /[sS][iI][gG](?:=|%3[dD])/
const KEY = /(\bSharedAccessKey=)[^;\s"'<>]+/gi
const KEY_SHAPED = /SharedAccessKey=/i

/** What {@link redactDeep} redacts: signatures, or (`credentials`) keys too. */
interface Rule {
  test(text: string): boolean
  redact(text: string): string
}
const SIGNATURES: Rule = { test: (t) => SHAPED.test(t), redact: redactSignatures }
const CREDENTIALS: Rule = {
  test: (t) => SHAPED.test(t) || KEY_SHAPED.test(t),
  redact: (t) => redactSignatures(t).replace(KEY, `$1${REDACTED}`),
}

/** The text with every `sig=` value replaced by `<redacted>`. */
export function redactSignatures(text: string): string {
  return SHAPED.test(text) ? text.replace(SIG, `$1${REDACTED}`) : text
}

/**
 * A copy of `value` with every string in it (deep, through plain objects and arrays) passed
 * through {@link redactSignatures}; a value with nothing to redact is returned as it is (found
 * without allocating: most events hold no signature), and anything else (a `Buffer`, a class
 * instance) is left alone.
 */
export function redactDeep<T>(value: T, o: { credentials?: boolean } = {}): T {
  const rule = o.credentials ? CREDENTIALS : SIGNATURES
  return holds(value, 0, rule) ? (redactValue(value, 0, rule) as T) : value
}

// deeper than this, a value is not the hub's own report: leave it be rather than recurse for ever
const MAX_DEPTH = 64

function isPlain(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function holds(value: unknown, depth: number, rule: Rule): boolean {
  if (typeof value === 'string') return rule.test(value)
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return false
  if (Array.isArray(value)) {
    for (const item of value) if (holds(item, depth + 1, rule)) return true
    return false
  }
  if (!isPlain(value)) return false
  for (const item of Object.values(value)) if (holds(item, depth + 1, rule)) return true
  return false
}

function redactValue(value: unknown, depth: number, rule: Rule): unknown {
  if (typeof value === 'string') return rule.redact(value)
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) return value.map((item: unknown) => redactValue(item, depth + 1, rule))
  if (!isPlain(value)) return value
  const copy: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    // defineProperty: a key such as __proto__ stays a key
    Object.defineProperty(copy, key, {
      value: redactValue(item, depth + 1, rule),
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return copy
}
