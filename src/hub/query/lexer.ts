/**
 * The tokens of IoT Hub's query language: names (`tags`, `$version`, keywords), numbers
 * (decimal, `0x` hex), strings in single or double quotes (escapes `\'` `\"` `\\` `\/` `\b` `\f`
 * `\n` `\r` `\t` `\uXXXX`) and the operators and punctuation. Pure: text in, tokens out, each
 * with its position for the messages.
 *
 * @module
 */
import { queryError } from './query-error.js'

/** One token: its kind, its text as written, its value (strings unescaped, numbers parsed), where it starts. */
export type Token =
  | { kind: 'name'; text: string; index: number }
  | { kind: 'number'; text: string; value: number; index: number }
  | { kind: 'string'; text: string; value: string; index: number }
  | { kind: 'op'; text: string; index: number }
  | { kind: 'end'; text: ''; index: number }

/** The operators and punctuation, longest first (so `<=` wins over `<`). */
const OPERATORS = [
  '<=',
  '>=',
  '<>',
  '!=',
  '=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
  '.',
  ',',
  '(',
  ')',
  '[',
  ']',
]

const NAME_START = /[A-Za-z_$]/
const NAME_PART = /[A-Za-z0-9_$]/
const DIGIT = /[0-9]/

const ESCAPES: Readonly<Record<string, string>> = {
  "'": "'",
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
}

function readString(text: string, start: number): { value: string; end: number } {
  const quote = text[start]
  let value = ''
  let i = start + 1
  while (i < text.length) {
    const c = text[i] ?? ''
    if (c === quote) return { value, end: i + 1 }
    if (c !== '\\') {
      value += c
      i += 1
      continue
    }
    const e = text[i + 1] ?? ''
    if (e === 'u') {
      const hex = text.slice(i + 2, i + 6)
      if (!/^[0-9A-Fa-f]{4}$/.test(hex))
        throw queryError(i, text.slice(i, i + 6), 'a \\u escape takes exactly 4 hexadecimal digits.')
      value += String.fromCharCode(Number.parseInt(hex, 16))
      i += 6
      continue
    }
    const escaped = ESCAPES[e]
    if (escaped === undefined)
      throw queryError(
        i,
        text.slice(i, i + 2),
        `unknown escape; use \\' \\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX.`,
      )
    value += escaped
    i += 2
  }
  throw queryError(start, text.slice(start, start + 20), `the string is not closed: end it with ${quote}.`)
}

function readNumber(text: string, start: number): { value: number; end: number } {
  const hex = /^0[xX][0-9A-Fa-f]+/.exec(text.slice(start))
  let end = start
  if (hex) end = start + hex[0].length
  else {
    const m = /^[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(start))
    end = start + (m?.[0].length ?? 1)
  }
  if (end < text.length && NAME_PART.test(text[end] ?? ''))
    throw queryError(
      start,
      text.slice(start, end + 1),
      'a number cannot run into a name; put a space or an operator between them.',
    )
  const written = text.slice(start, end)
  const value = hex ? Number.parseInt(written.slice(2), 16) : Number(written)
  if (!Number.isFinite(value)) throw queryError(start, written, 'the number is too large.')
  return { value, end }
}

/**
 * Splits a query into tokens; the last is `end`.
 *
 * @throws {SasTokenError} `ERR_HUB_QUERY_INVALID` for a character the language does not use, an
 *   unclosed string, a bad escape or a malformed number, pointing at it.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i] ?? ''
    if (/\s/.test(c)) {
      i += 1
      continue
    }
    if (NAME_START.test(c)) {
      let end = i + 1
      while (end < text.length && NAME_PART.test(text[end] ?? '')) end += 1
      tokens.push({ kind: 'name', text: text.slice(i, end), index: i })
      i = end
      continue
    }
    if (DIGIT.test(c)) {
      const { value, end } = readNumber(text, i)
      tokens.push({ kind: 'number', text: text.slice(i, end), value, index: i })
      i = end
      continue
    }
    if (c === "'" || c === '"') {
      const { value, end } = readString(text, i)
      tokens.push({ kind: 'string', text: text.slice(i, end), value, index: i })
      i = end
      continue
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i))
    if (op === undefined) {
      const shown = String.fromCodePoint(text.codePointAt(i) ?? 0)
      throw queryError(i, shown, 'this character is not part of the query language.')
    }
    tokens.push({ kind: 'op', text: op, index: i })
    i += op.length
  }
  tokens.push({ kind: 'end', text: '', index: text.length })
  return tokens
}
