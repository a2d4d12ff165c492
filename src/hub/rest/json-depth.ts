/**
 * How deep JSON text nests, read without parsing it (so without recursion): the REST API
 * refuses a body that nests deeper than {@link MAX_JSON_DEPTH} before `JSON.parse` and the twin
 * checks walk it, so a body of 100,000 `[` is a 400, not a stack overflow.
 *
 * @module
 */

/** How deep a request body may nest (objects and arrays); IoT Hub's twins allow 10 levels. */
export const MAX_JSON_DEPTH = 64

/** The deepest nesting of objects and arrays in JSON text (brackets inside strings do not count). */
export function jsonDepth(text: string): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // a backslash escapes the next character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      depth++
      if (depth > deepest) deepest = depth
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return deepest
}
