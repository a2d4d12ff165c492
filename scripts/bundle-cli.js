// Bundles the CLI (yargs, zod and the core) into one file, dist/cli.js, so that `sas-token`
// starts by reading one module instead of a few hundred. clipboardy stays external: it is
// imported lazily, only for --copy.
import { build } from 'esbuild'

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  external: ['clipboardy'],
  // yargs' ESM build uses require() in places; give the bundle a real one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
})
