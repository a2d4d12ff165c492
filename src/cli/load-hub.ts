/**
 * Loads `sas-token/hub` (aedes, ws) only when `sas-token hub` starts one. The CLI is one
 * bundled file (`dist/cli.js`); the hub stays outside it, at `dist/hub/index.js`, so no other
 * command pays for it.
 *
 * @module
 */
import type * as HubModule from '../hub/index.js'

/**
 * Imports the hub library that sits beside the CLI bundle.
 *
 * @throws {Error} When the package was built without `dist/hub`.
 */
export async function loadHub(): Promise<typeof HubModule> {
  const url = new URL('./hub/index.js', import.meta.url)
  const module: typeof HubModule = await import(url.href)
  return module
}
