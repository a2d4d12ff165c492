// A SAS token signed here with node:crypto alone, to check a token the library made without
// computing the expected value with the code under test.
import { createHmac } from 'node:crypto'

/** `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]`: HMAC-SHA256 of "<encoded resource>\n<se>" with the decoded key. */
export function hmacToken(resourceUri: string, key: string, se: number, keyName?: string): string {
  const sr = encodeURIComponent(resourceUri)
  const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64')
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}${keyName === undefined ? '' : `&skn=${keyName}`}`
}
