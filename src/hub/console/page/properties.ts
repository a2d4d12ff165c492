/**
 * The `key=value` per line text that the C2D form takes for application properties.
 *
 * @module
 */

/** Parses `key=value` lines (blank lines skipped) into a record. Throws on a line without `=`. */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '') continue
    const eq = line.indexOf('=')
    if (eq <= 0) throw new Error(`property line ${i + 1} is not key=value: ${line}`)
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim()
  }
  return out
}
