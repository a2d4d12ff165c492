// Bundles the CLI (yargs, zod and the core) into one script, dist/cli.cjs, with a V8 code cache
// for it, dist/cli.cache, and a small ES module, dist/cli.js (from src/cli/launch.ts), that the
// bin imports: it compiles the bundle with the cache and runs it. See the README's Performance
// section for what each step is worth.
//
// clipboardy (and anything else marked external) stays out of the bundle and is imported
// lazily, only by the command that needs it.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { build } from 'esbuild'

/**
 * yargs measures help text with `string-width`, whose top-level code builds an
 * `Intl.Segmenter` and compiles `\p{RGI_Emoji}` and other Unicode-property regexes: about a
 * third of the CLI's start-up, paid by every command, though only `--help` and usage errors
 * wrap text, and plain ASCII text never uses them. This plugin:
 * - puts every copy of `string-width` behind a stub that loads the real module on its first
 *   call (esbuild runs a `require()`d ES module's top level on first use), so commands that
 *   print no help never run it;
 * - answers printable ASCII (all of our help text) in the stub: its width is its length;
 * - in the real module, turns each top-level `const x = new Intl.Segmenter()` or Unicode-property
 *   regex into `x()`, built on first use, so help text in ASCII never builds them.
 */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData === 'real') return undefined
      const real = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: 'real',
      })
      if (real.errors.length > 0) return { errors: real.errors }
      return { path: real.path, namespace: 'lazy-string-width' }
    })
    b.onLoad({ filter: /[/\\]string-width[/\\]index\.js$/, namespace: 'file' }, (args) => {
      let source = readFileSync(args.path, 'utf8')
      const lazy = []
      source = source.replace(
        /^const (\w+) = (new Intl\.Segmenter\(\)|\/.*\\p\{.*\/[a-z]*);$/gm,
        (_, name, value) => {
          lazy.push(name)
          return `let ${name}$; const ${name} = () => (${name}$ ??= ${value});`
        },
      )
      if (lazy.length === 0) throw new Error(`bundle-cli: nothing to make lazy in ${args.path}`)
      for (const name of lazy)
        source = source.replace(new RegExp(`(?<![\\w$.])${name}(?![\\w$(]| = )`, 'g'), `${name}()`)
      return { contents: source, loader: 'js', resolveDir: dirname(args.path) }
    })
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: [
        'let real;',
        'export default function stringWidth(text, options) {',
        // Printable ASCII is one column a character, whatever the options: the real module would
        // build an Intl.Segmenter (~20 ms, more than the rest of `--help`) to find that out.
        "  if (typeof text === 'string' && /^[\\x20-\\x7e]*$/.test(text)) return text.length;",
        `  real ??= require(${JSON.stringify(args.path)}).default;`,
        '  return real(text, options);',
        '}',
      ].join('\n'),
      loader: 'js',
      resolveDir: '/',
    }))
  },
}

/**
 * Node built-ins that some command needs but a plain `generate` never touches: `node:https` and
 * `node:tls` (the hub client, with `http` and `net` behind them: about 3 ms of every start),
 * and `node:worker_threads` (a large batch; about 1.5 ms).
 * Each import of one becomes a module of getters that loads the real built-in on first use, so
 * the start no longer pays for them.
 *
 * yargs checks its own invariants with `assert`'s `strictEqual` and `notStrictEqual` on every
 * run; loading `node:assert` costs about 1.5 ms (it sets up stderr colours). Those two become
 * `Object.is` checks that call the real function only when the check fails, so a failure
 * throws the same AssertionError as before.
 */
const LAZY_BUILTINS = ['https', 'tls', 'worker_threads']
const ASSERT_SHIM = [
  "export function strictEqual(actual, expected, message) { if (!Object.is(actual, expected)) require('node:assert').strictEqual(actual, expected, message) }",
  "export function notStrictEqual(actual, expected, message) { if (Object.is(actual, expected)) require('node:assert').notStrictEqual(actual, expected, message) }",
].join('\n')
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(?:node:)?(?:${LAZY_BUILTINS.join('|')})$`)
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true }
        : { path: `node:${args.path.replace(/^node:/, '')}`, namespace: 'lazy-builtin' },
    )
    b.onResolve({ filter: /^assert$/ }, (args) =>
      /[/\\]yargs[/\\]/.test(args.importer) ? { path: 'assert', namespace: 'assert-shim' } : undefined,
    )
    b.onLoad({ filter: /.*/, namespace: 'assert-shim' }, () => ({ contents: ASSERT_SHIM, loader: 'js' }))
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      const names = Object.keys(await import(args.path)).filter((name) => name !== 'default')
      const id = JSON.stringify(args.path)
      return {
        contents: [
          `let real; const load = () => (real ??= require(${id}));`,
          `Object.defineProperty(exports, '__esModule', { value: false });`,
          ...names.map(
            (name) =>
              `Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get: () => load()[${JSON.stringify(name)}] });`,
          ),
        ].join('\n'),
        loader: 'js',
      }
    })
  },
}

/** Packages loaded at run time, never bundled: each only by the command that needs it. */
const EXTERNAL = ['clipboardy', 'aedes', 'rhea', 'ws']

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  write: false,
}

// The CLI as the body of a function `(require, url, load) => void`: a script that V8 can cache
// (an ES module cannot be compiled with a cache on Node 20). `import.meta.url` becomes the `url`
// argument and each `import()` of a package calls `load`, the launcher's own `import()`.
const [cli] = (
  await build({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.cjs',
    format: 'cjs',
    external: EXTERNAL,
    plugins: [lazyStringWidth, lazyBuiltins],
    define: { 'import.meta.url': '__sasTokenUrl' },
  })
).outputFiles
let dynamicImports = 0
// The hub is imported by URL (\`import(url.href)\`, src/cli/load-hub.ts), so that it stays a file apart.
const byUrl = /\bimport\((?=new URL\(|[A-Za-z_$][\w$]*\.href\))/g
const body = cli.text.replace(new RegExp(`${/\bimport\((?=["'`])/.source}|${byUrl.source}`, 'g'), () => {
  dynamicImports++
  return '__sasTokenLoad('
})
const expected =
  (cli.text.match(/\bimport\("(?:node:[a-z_]+|clipboardy|aedes|rhea|ws)[^"]*"\)/g) ?? []).length +
  (cli.text.match(byUrl) ?? []).length
if (dynamicImports !== expected)
  throw new Error(`bundle-cli: ${dynamicImports} dynamic imports, ${expected} of known modules`)
writeFileSync(
  'dist/cli.cjs',
  `(function (require, __sasTokenUrl, __sasTokenLoad, module) {var exports = module.exports;${body}\n})\n//# sas-token-build ${randomBytes(16).toString('hex')}\n`,
)

const [launcher] = (
  await build({ ...common, entryPoints: ['src/cli/launch.ts'], outfile: 'dist/cli.js', format: 'esm' })
).outputFiles
writeFileSync('dist/cli.js', launcher.text)

// The code cache: V8's code for the bundle after the common commands have run in one process,
// so the functions they use are in it, not just the top level. Their output is thrown away.
const CS = 'HostName=cache.azure-devices.net;DeviceId=d;SharedAccessKey=cGFzc3dvcmQ='
const TOKEN = 'SharedAccessSignature sr=cache.azure-devices.net%2Fdevices%2Fd&sig=aG1hYw%3D%3D&se=4102444800'
const warmUp = [
  ['generate', '-c', CS],
  ['mqtt', '-c', CS],
  ['inspect', TOKEN],
  ['--help'], // last: yargs ends the process after help
]
rmSync('dist/cli.cache', { force: true })
const warm = spawnSync(process.execPath, ['bin/sas-token.js'], {
  env: {
    ...process.env,
    SAS_TOKEN_CODE_CACHE: 'off',
    SAS_TOKEN_WRITE_CODE_CACHE: 'dist/cli.cache',
    SAS_TOKEN_WARM_UP: JSON.stringify(warmUp),
  },
  encoding: 'utf8',
})
if (warm.status !== 0) throw new Error(`bundle-cli: the warm-up run failed: ${warm.stderr}`)
const size = (file) => `${file} ${(readFileSync(file).length / 1024).toFixed(0)} KiB`
console.log(`${size('dist/cli.cjs')}, ${size('dist/cli.cache')}`)
