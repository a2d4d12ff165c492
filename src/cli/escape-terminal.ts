/**
 * Makes text that came from a device (or any peer) safe to print on a terminal: every control
 * character (C0, DEL, C1), the line and paragraph separators U+2028/2029 and the bidirectional
 * controls (which reorder what follows) are written as JSON writes an escape (`\n`, `\r`, `\t`,
 * `\u001b`, `\u202e`…). So a device can neither send an escape sequence (set the title, clear
 * the screen) nor start a line of its own that looks like the hub's. Every text renderer of
 * hub events prints device text through {@link escapeTerminal}.
 *
 * A backslash is left as it is: JSON text a renderer already made keeps its own escapes.
 *
 * @module
 */

// C0, DEL and C1; U+061C, U+200E/F, U+202A–E, U+2066–9 (bidi controls); U+2028/9
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const SHORT: Record<string, string> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
}

function escapeOne(c: string): string {
  return SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/** `text` with every terminal control character written as its JSON escape. */
export function escapeTerminal(text: string): string {
  return text.replace(UNSAFE, escapeOne)
}
