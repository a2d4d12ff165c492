/**
 * How a message body is shown: pretty JSON when it parses, the raw text, or a hex dump. The
 * body comes from the hub's event as `{ text }` (valid UTF-8) or `{ base64 }` (anything else).
 *
 * @module
 */

/** The three views of a body. */
export type BodyView = 'pretty' | 'raw' | 'hex'

/** A body as the hub's telemetry event carries it. */
export interface EventBody {
  text?: string
  base64?: string
}

/** The body's bytes. */
export function bodyBytes(body: EventBody | undefined): Uint8Array {
  if (body?.text !== undefined) return new TextEncoder().encode(body.text)
  if (body?.base64 !== undefined) {
    const bin = atob(body.base64)
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
    return out
  }
  return new Uint8Array(0)
}

/** A classic 16-bytes-a-line hex dump with an ASCII column. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = []
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16)
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ')
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`)
  }
  return lines.join('\n')
}

/** The text to show for `view`, and whether the body was JSON. */
export function renderBody(body: EventBody | undefined, view: BodyView): { text: string; json: boolean } {
  const text = body?.text
  let json = false
  let pretty: string | undefined
  if (text !== undefined) {
    try {
      pretty = JSON.stringify(JSON.parse(text), null, 2)
      json = true
    } catch {
      pretty = undefined
    }
  }
  if (view === 'hex' || text === undefined) {
    return { text: hexDump(bodyBytes(body)), json }
  }
  if (view === 'pretty' && pretty !== undefined) return { text: pretty, json }
  return { text, json }
}
