// `npm run docs` and `npm run docs:check`.
//
// TypeDoc needs the classic TypeScript compiler API (TypeScript 5 or 6), which the project's
// TypeScript 7 does not have, and npm refuses typedoc's peer range beside typescript@7. So TypeDoc
// and a TypeScript 5.9 live in this folder's own small package (scripts/docs/package.json and its
// lockfile), installed on first use with `npm ci --prefix scripts/docs`.
//
//   npm run docs        HTML reference in docs/api/ (not committed) and the compact reference
//                       section of README.md, rewritten between its api-reference markers.
//   npm run docs:check  fails on any export or exported property without a doc comment, on any
//                       broken {@link}, and on a README reference section that is out of date.
//
// The entry points are read from package.json "exports", so a new subpath (sas-token/hub) is
// documented and checked without touching this file.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderReference, replaceReference } from './reference.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const check = process.argv.includes('--check')

function run(command, args, cwd = root) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

if (!existsSync(join(here, 'node_modules', 'typedoc'))) {
  run('npm', ['ci', '--prefix', relative(root, here), '--no-audit', '--no-fund'])
}

/** `./dist/hub/index.js` → `src/hub/index.ts`, for every entry of package.json "exports". */
function entryPoints() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const entries = []
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const file = typeof target === 'string' ? target : (target.default ?? target.import)
    if (!file?.endsWith('.js')) continue
    entries.push({ subpath, source: file.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts') })
  }
  return entries
}

/** The README as `npm run format` (Biome) leaves it, so that the check and the formatter agree. */
function formatMarkdown(text) {
  const biome = join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome')
  const result = spawnSync(process.execPath, [biome, 'format', '--stdin-file-path=README.md'], {
    cwd: root,
    input: text,
    encoding: 'utf8',
  })
  if (result.status !== 0) {
    console.error(result.stderr)
    process.exit(result.status ?? 1)
  }
  return result.stdout
}

const entries = entryPoints()
const tmp = mkdtempSync(join(tmpdir(), 'sas-token-docs-'))
const json = join(tmp, 'api.json')
const args = [
  join(here, 'node_modules', 'typedoc', 'bin', 'typedoc'),
  '--options',
  join(here, 'typedoc.json'),
  ...entries.flatMap((e) => ['--entryPoints', e.source]),
  '--json',
  json,
]
if (!check) args.push('--out', 'docs/api')
try {
  run(process.execPath, args)
  const reference = renderReference(JSON.parse(readFileSync(json, 'utf8')), entries)
  const readmePath = join(root, 'README.md')
  const readme = readFileSync(readmePath, 'utf8')
  const updated = formatMarkdown(replaceReference(readme, reference))
  if (check) {
    if (updated !== readme) {
      console.error(
        'README.md: the API reference section is out of date (an export was added, renamed or ' +
          're-documented). Run `npm run docs` and commit README.md.',
      )
      process.exit(1)
    }
    console.log(
      'docs:check: every export is documented, every {@link} resolves, README reference is current.',
    )
  } else {
    writeFileSync(readmePath, updated)
    console.log('docs/api/index.html written; README.md API reference updated.')
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
