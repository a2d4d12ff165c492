/**
 * CSV cells for batch output (RFC 4180), neutralised against formula injection as OWASP's
 * CSV-injection guidance says: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
 * return gets a leading `'`, so a spreadsheet shows it as text instead of running it.
 *
 * @module
 */

/** The first characters that make a spreadsheet read a cell as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/

/** One CSV field: neutralised when it could be read as a formula, quoted when it must be. */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return ''
  let text = String(value)
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}
