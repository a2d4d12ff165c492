/**
 * What `bin/sas-token.js` imports: it compiles the bundled CLI (`dist/cli.cjs`) with the V8 code
 * cache made at build time (`dist/cli.cache`), then runs it. Node 20 has no module compile cache,
 * and compiling the bundle is a third of a cold start; with the cache V8 skips the parsing and
 * the compiling of every function the common commands run.
 *
 * A cache V8 cannot use (another Node version or V8 flags) is rejected by V8, and one that does
 * not match its checksum or the bundle's build id is not handed to V8 at all (see
 * {@link readCache}); either way the code compiles as usual: the cache only changes the speed.
 * Runtimes without V8 code caches (Bun, Deno) ignore it the same way.
 * `SAS_TOKEN_CODE_CACHE=off` skips it.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Script } from 'node:vm'

/** The bundle: CommonJS code wrapped in a function of what it lacks as a script. */
type Bundle = (
  require: NodeJS.Require,
  url: string,
  load: (specifier: string) => Promise<unknown>,
  module: { exports: { finished?: Promise<void> } },
) => void

const bundleUrl = new URL('./cli.cjs', import.meta.url)
const cacheUrl = new URL('./cli.cache', import.meta.url)

/** The build id at the end of the bundle, which its cache must carry too. */
function buildId(source: string): string | undefined {
  return /\/\/# sas-token-build ([0-9a-f]{32})\n$/.exec(source.slice(-64))?.[1]
}

/**
 * The cache file is the SHA-256 of the V8 data, the bundle's build id, then the V8 data. V8
 * checks its version, its flags and the source length, but release builds do not checksum the
 * data, and a damaged cache makes V8 abort the process: so it is checked here first.
 */
function readCache(source: string): Buffer | undefined {
  if (process.env.SAS_TOKEN_CODE_CACHE === 'off') return undefined
  let file: Buffer
  try {
    file = readFileSync(cacheUrl)
  } catch {
    return undefined
  }
  const id = buildId(source)
  if (id === undefined || file.length <= 48 || file.subarray(32, 48).toString('hex') !== id) return undefined
  const data = file.subarray(48)
  return createHash('sha256').update(data).digest().equals(file.subarray(0, 32)) ? data : undefined
}

/** The cache file for `data`: see {@link readCache}. */
function cacheFile(source: string, data: Buffer): Buffer {
  const id = Buffer.from(buildId(source) ?? '', 'hex')
  return Buffer.concat([createHash('sha256').update(data).digest(), id, data])
}

const source = readFileSync(bundleUrl, 'utf8')
const cachedData = readCache(source)
const script = new Script(source, {
  filename: fileURLToPath(bundleUrl),
  ...(cachedData === undefined ? {} : { cachedData }),
})
const bundle = script.runInThisContext() as Bundle

/** Runs the CLI once, on `process.argv`. */
function runCli(): Promise<void> {
  const module: { exports: { finished?: Promise<void> } } = { exports: {} }
  bundle(createRequire(bundleUrl), bundleUrl.href, (specifier) => import(specifier), module)
  return module.exports.finished ?? Promise.resolve()
}

/**
 * The build's warm-up (`scripts/bundle-cli.js`): runs each command line of
 * `SAS_TOKEN_WARM_UP` (JSON, an array of argument arrays) in turn, and writes the code cache,
 * with every function those runs compiled, to the file `SAS_TOKEN_WRITE_CODE_CACHE` names as
 * the process exits. The exit code is the last run's (each run starts from none: a warm-up
 * `inspect` of a made-up token exits 1, which is not the build's failure).
 */
async function warmUp(commands: string[][], out: string): Promise<void> {
  process.once('exit', () => {
    writeFileSync(`${out}.tmp`, cacheFile(source, script.createCachedData()))
    renameSync(`${out}.tmp`, out)
  })
  const [node, bin] = process.argv as [string, string]
  for (const args of commands) {
    process.argv = [node, bin, ...args]
    process.exitCode = undefined
    await runCli()
  }
}

const out = process.env.SAS_TOKEN_WRITE_CODE_CACHE
if (out === undefined || out === '') void runCli()
else await warmUp(JSON.parse(process.env.SAS_TOKEN_WARM_UP ?? '[]') as string[][], out)
