/**
 * Aligned `name  value` lines, for the text formats of `inspect` and `mqtt`.
 *
 * @module
 */

/** The rows with a value, names padded to one width. */
export function table(rows: ReadonlyArray<readonly [string, string | number | undefined]>): string {
  const present = rows.filter((row): row is readonly [string, string | number] => row[1] !== undefined)
  const width = Math.max(...present.map(([name]) => name.length))
  return present.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')
}
