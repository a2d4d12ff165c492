/**
 * `--copy`: puts the output on the clipboard. clipboardy is imported here, lazily, so that no
 * other run pays for loading it. A failed copy (no display, no xsel) is a one-line warning; the
 * value has already been printed and the exit code stays 0.
 *
 * @module
 */
import { warn } from './output.js'

/** Copies `text` to the clipboard; returns whether it worked. Never throws. */
export async function copyToClipboard(text: string): Promise<boolean> {
  try {
    const { default: clipboard } = await import('clipboardy')
    await clipboard.write(text)
    return true
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n', 1)[0] : String(err)
    warn(`could not copy to the clipboard (${reason}); the value is on stdout.`)
    return false
  }
}
