// Builds the hub's web console page into dist/hub/console/assets/: the TypeScript under
// src/hub/console/page/ bundled by esbuild into one ES module (no framework, nothing fetched
// at run time), plus its stylesheet and HTML shell. The page is type-checked separately by
// `tsc -p src/hub/console/page` (DOM lib), as part of `npm run build`.
import { copyFileSync, mkdirSync } from 'node:fs'
import { build } from 'esbuild'

const src = 'src/hub/console/page'
const out = 'dist/hub/console/assets'
mkdirSync(out, { recursive: true })
await build({
  entryPoints: [`${src}/main.ts`],
  outfile: `${out}/console.js`,
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  charset: 'utf8',
})
copyFileSync(`${src}/index.html`, `${out}/index.html`)
copyFileSync(`${src}/console.css`, `${out}/console.css`)
