/**
 * Redacts anything shaped like a SAS token in what the hub reports: every `sig=` value
 * (also `sig%3D`, as it reads inside an encoded string), wherever it stands, so a token a client
 * sent in the wrong field (a username and password swapped, a token in the client id) never
 * reaches an event, a log line, the SSE stream, `GET /_emulator/refused` or the console.
 * The rest of the token (`sr`, `se`, `skn`) stays: it is what a person needs to see what went
 * wrong, and it signs nothing.
 *
 * @module
 */

/** What a redacted signature reads as. */
export const REDACTED = '<redacted>'

// a signature runs to the next field separator, space, quote or delimiter of the text around it
const SIG = /(\bsig(?:=|%3d))[^&\s;,"'<>]+/gi
const SHAPED = /sig(?:=|%3d)/i

/** The text with every `sig=` value replaced by `<redacted>`. */
export function redactSignatures(text: string): string {
  return SHAPED.test(text) ? text.replace(SIG, `$1${REDACTED}`) : text
}

/**
 * A copy of `value` with every string in it (deep, through plain objects and arrays) passed
 * through {@link redactSignatures}; a value with nothing to redact is returned as it is, and
 * anything else (a `Buffer`, a class instance) is left alone.
 */
export function redactDeep<T>(value: T): T {
  return redactValue(value, 0) as T
}

// deeper than this, a value is not the hub's own report: leave it be rather than recurse for ever
const MAX_DEPTH = 64

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactSignatures(value)
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    value.forEach((item: unknown, i) => {
      const next = redactValue(item, depth + 1)
      if (next !== item) {
        copy ??= [...value]
        copy[i] = next
      }
    })
    return copy ?? value
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  let copy: Record<string, unknown> | undefined
  for (const [key, item] of Object.entries(value)) {
    const next = redactValue(item, depth + 1)
    if (next !== item) {
      copy ??= { ...value }
      copy[key] = next
    }
  }
  return copy ?? value
}
