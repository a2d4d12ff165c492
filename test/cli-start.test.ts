// How the bin starts: the bundle compiled with the V8 code cache made at build time. A cache
// V8 cannot use (garbage, truncated, missing, switched off) must change nothing but the speed;
// and a command loads only what it needs (no clipboardy, aedes or ws unless it uses them).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { BIN, cleanEnv } from './support/cli.js'
import { AT_VECTOR_TIME, DEVICE_CS, VECTORS } from './support/fixtures.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Runs a bin with the vector clock; returns its exit code, stdout and stderr. */
function run(bin: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: cleanEnv({ ...AT_VECTOR_TIME, ...env }),
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A copy of the installed package's bin and bundle, with `cache` as its code cache (or none). */
function packageWithCache(cache: Buffer | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'sas-token-cache-'))
  mkdirSync(join(dir, 'bin'))
  mkdirSync(join(dir, 'dist'))
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  copyFileSync(BIN, join(dir, 'bin/sas-token.js'))
  for (const file of ['cli.js', 'cli.cjs']) copyFileSync(join(ROOT, 'dist', file), join(dir, 'dist', file))
  if (cache !== undefined) writeFileSync(join(dir, 'dist/cli.cache'), cache)
  return join(dir, 'bin/sas-token.js')
}

describe('the code cache', () => {
  const args = ['generate', '-c', DEVICE_CS]
  it('the shipped cache gives the vector', () => {
    assert.deepEqual(run(BIN, args), { code: 0, stdout: `${VECTORS.device}\n`, stderr: '' })
  })
  const real = readFileSync(join(ROOT, 'dist/cli.cache'))
  for (const [name, cache] of [
    ['garbage', Buffer.from('not a V8 code cache at all'.repeat(100))],
    ['truncated', real.subarray(0, real.length >> 1)],
    ['bit-flipped', Buffer.from(real.map((b, i) => (i % 997 === 500 ? b ^ 0xff : b)))],
    ['missing', undefined],
  ] as const) {
    it(`${name}: the same output, nothing on stderr`, () => {
      const bin = packageWithCache(cache)
      assert.deepEqual(run(bin, args), { code: 0, stdout: `${VECTORS.device}\n`, stderr: '' })
      assert.equal(run(bin, ['--help']).code, 0)
    })
  }
  it('SAS_TOKEN_CODE_CACHE=off: the same output', () => {
    assert.deepEqual(run(BIN, args, { SAS_TOKEN_CODE_CACHE: 'off' }), {
      code: 0,
      stdout: `${VECTORS.device}\n`,
      stderr: '',
    })
  })
})

describe('lazy loading', () => {
  // A preload that logs every module resolved (ES modules, through a resolve hook) and every
  // CommonJS module in require.cache at exit.
  const dir = mkdtempSync(join(tmpdir(), 'sas-token-loads-'))
  const log = join(dir, 'loaded.log')
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  appendFileSync(${JSON.stringify(log)}, specifier + '\\n')
  return next(specifier, context)
}\n`,
  )
  writeFileSync(
    join(dir, 'preload.mjs'),
    `import { register, createRequire } from 'node:module'
import { appendFileSync } from 'node:fs'
register(${JSON.stringify(new URL(`file://${join(dir, 'hooks.mjs')}`).href)})
const require = createRequire(import.meta.url)
process.on('exit', () => appendFileSync(${JSON.stringify(log)}, Object.keys(require.cache).join('\\n') + '\\n'))\n`,
  )
  /** The modules a run loaded. */
  function loads(args: string[]): string {
    writeFileSync(log, '')
    const r = spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8',
      env: cleanEnv({ NODE_OPTIONS: `--import=${join(dir, 'preload.mjs')}` }),
    })
    assert.notEqual(r.status, null)
    return readFileSync(log, 'utf8')
  }
  const token = run(BIN, ['generate', '-c', DEVICE_CS]).stdout.trim()
  for (const args of [
    ['generate', '-c', DEVICE_CS],
    ['mqtt', '-c', DEVICE_CS],
    ['inspect', token],
    ['--help'],
  ]) {
    it(`${args[0]}: no clipboardy, aedes or ws`, () => {
      const loaded = loads(args)
      assert.match(loaded, /cli\.js/, 'the hook saw the bundle load')
      assert.doesNotMatch(loaded, /clipboardy|aedes|(?:^|[/\\])ws(?:$|[/\\])/m)
    })
  }
  /** The Node built-ins a run loaded (`process.moduleLoadList`, written at exit by a preload). */
  function builtins(args: string[]): string[] {
    const out = join(dir, 'builtins.log')
    const preload = join(dir, 'builtins.cjs')
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join('\\n')))\n`,
    )
    writeFileSync(out, '')
    const r = spawnSync(process.execPath, ['--require', preload, BIN, ...args], {
      encoding: 'utf8',
      env: cleanEnv(),
    })
    assert.notEqual(r.status, null)
    return readFileSync(out, 'utf8').split('\n')
  }
  for (const args of [
    ['generate', '-c', DEVICE_CS],
    ['mqtt', '-c', DEVICE_CS],
    ['inspect', token],
  ]) {
    it(`${args[0]}: no https, tls, http, assert or worker_threads built-in (made lazy at build time)`, () => {
      const loaded = builtins(args)
      assert.ok(loaded.includes('NativeModule crypto'), 'the preload saw the built-ins')
      for (const name of ['https', 'tls', '_http_client', 'assert', 'worker_threads'])
        assert.ok(!loaded.includes(`NativeModule ${name}`), `${name} was loaded`)
    })
  }
  it('generate --copy does load clipboardy (the check above can see it)', () => {
    assert.match(loads(['generate', '-c', DEVICE_CS, '--copy']), /clipboardy/)
  })
})

describe('help text', () => {
  // yargs measures help text with string-width; the bundle answers printable ASCII itself (its
  // width is its length) and loads the real module, with its Intl.Segmenter, only for other text.
  const UNBUNDLED = join(ROOT, 'dist/cli/main.js')
  const cases = [
    ['--help'],
    ['generate', '--help'],
    ['mqtt', '--help'],
    ['inspect', '--help'],
    ['topic', '--help'],
    ['derive-key', '--help'],
    ['doctor', '--help'],
    ['hub', '--help'],
    ['gen', '--no-such-option'],
    [],
  ]
  for (const args of cases) {
    it(`${args.join(' ') || '(no command)'}: the same as yargs with the real string-width`, () => {
      assert.deepEqual(run(BIN, args), run(UNBUNDLED, args))
    })
  }
  it('--help builds no Intl.Segmenter', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sas-token-segmenter-'))
    const preload = join(dir, 'segmenter.cjs')
    writeFileSync(
      preload,
      `const Real = Intl.Segmenter
Intl.Segmenter = class extends Real { constructor(...a) { super(...a); process.stderr.write('SEGMENTER\\n') } }\n`,
    )
    const r = spawnSync(process.execPath, ['--require', preload, BIN, '--help'], {
      encoding: 'utf8',
      env: cleanEnv(),
    })
    assert.equal(r.status, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /SEGMENTER/)
    const unbundled = spawnSync(process.execPath, ['--require', preload, UNBUNDLED, '--help'], {
      encoding: 'utf8',
      env: cleanEnv(),
    })
    assert.match(unbundled.stderr, /SEGMENTER/, 'the preload can see a Segmenter built')
  })
})
