// The README cannot drift: its CLI examples are run against the built bin and their output
// compared, its TypeScript snippets are type-checked under the project's strict flags against the
// built package and run, and every export of the package appears in its API reference.
//
// How to write a README example that this test runs (see also "Contributing" in README.md):
//
// - CLI: a fenced block with the info string `console` is one shell session. A line starting
//   with `$ ` is a command; the block's commands run in order in one bash, in an empty temporary
//   directory (variables and files carry over), with `sas-token` on PATH (the built
//   bin/sas-token.js) and stdin empty. A command may go on over more lines ending in ` \`.
//   The lines after it, up to the next `$ ` line, are its stdout, compared line by line:
//     `…` inside a line matches any text (signatures, times, expiries);
//     a line that is only `…` matches any number of lines;
//     a last line `[exit N]` says the command exits with N (default 0).
//   stderr is not compared. Commands never need the network or a terminal.
// - CLI against a hub: a block with the info string `console hub` is run the same way beside a
//   hub this test starts (in memory, free loopback ports), with IOTHUB_CONNECTION_STRING,
//   SAS_TOKEN_HUB_ENDPOINT and NODE_EXTRA_CA_CERTS set for it, $CA the path of its CA
//   certificate and $HUB its HTTPS address (`https://localhost:<port>`).
// - The variables the examples use ($DEVICE_CS, $SERVICE_CS, $GROUP_KEY, …) come from the one
//   block with the info string `sh environment`: lines of `export NAME='value'`. They are the
//   README's example identities; the TypeScript snippets get them as process.env too.
// - TypeScript: a fenced block with the info string `ts` is one module. It must compile alone
//   (import what it uses from 'sas-token' or 'mqtt'; no undeclared variables) under
//   tsconfig.json's flags, then it is run with node. `ts check-only` compiles it but does not run
//   it: for snippets that would connect to a real hub. A line `expr // => value` (or
//   `const x = expr // => value`) asserts that expr (x) deep-equals value when it runs, so the
//   results the README shows are checked.
// - Any other block (`sh`, plain) is illustration and is not run.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startHub } from 'sas-token/hub'
import { BIN, cleanEnv } from './support/cli.js'
import { DEVICE_CS, GROUP_KEY, KEY, MODULE_CS, SERVICE_CS } from './support/fixtures.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

interface Block {
  info: string
  line: number
  indent: number
  lines: string[]
}

/** The fenced blocks of a Markdown text, with the 1-based line of their opening fence. */
function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = []
  let open: Block | undefined
  let fence = ''
  markdown.split('\n').forEach((text, index) => {
    const match = /^(\s*)(`{3,})(.*)$/.exec(text)
    if (open === undefined) {
      if (match) {
        fence = match[2] ?? '```'
        open = { info: (match[3] ?? '').trim(), line: index + 1, indent: (match[1] ?? '').length, lines: [] }
      }
    } else if (match && (match[2] ?? '').length >= fence.length && (match[3] ?? '').trim() === '') {
      blocks.push(open)
      open = undefined
    } else {
      const indent = open.indent
      open.lines.push(text.replace(/^ +/, (spaces) => spaces.slice(Math.min(spaces.length, indent))))
    }
  })
  return blocks
}

const blocks = fencedBlocks(README)

/** The README's example environment: `export NAME='value'` lines of the `sh environment` block. */
function exampleEnvironment(): Record<string, string> {
  const env: Record<string, string> = {}
  const block = blocks.find((b) => b.info === 'sh environment')
  assert.ok(block, 'README.md has no ```sh environment block')
  for (const text of block.lines) {
    if (text.trim() === '' || text.trim().startsWith('#')) continue
    const m = /^export ([A-Z_][A-Z0-9_]*)='([^']*)'$/.exec(text.trim())
    assert.ok(m, `README.md:${block.line}: not an export NAME='value' line: ${text}`)
    env[m[1] ?? ''] = m[2] ?? ''
  }
  return env
}

interface Example {
  line: number
  command: string
  expected: string[]
  exitCode: number
}

/** The `$ command` / output pairs of one `console` block. */
function cliExamples(block: Block): Example[] {
  const examples: Example[] = []
  let current: Example | undefined
  let continued = false
  block.lines.forEach((text, i) => {
    if (current !== undefined && continued) {
      current.command += `\n${text}`
      continued = text.endsWith('\\')
      return
    }
    if (text.startsWith('$ ')) {
      current = { line: block.line + 1 + i, command: text.slice(2), expected: [], exitCode: 0 }
      examples.push(current)
      continued = text.endsWith('\\')
      return
    }
    assert.ok(current, `README.md:${block.line + 1 + i}: output before any $ command`)
    const exit = /^\[exit (\d+)\]$/.exec(text)
    if (exit) current.exitCode = Number(exit[1])
    else current.expected.push(text)
  })
  return examples
}

const SEPARATOR = '\u001e'

/**
 * Runs a block's commands in one bash session (variables and files carry over, as in a
 * terminal), and returns each command's stdout lines and exit code.
 */
function runSession(
  examples: Example[],
  cwd: string,
): { outputs: { lines: string[]; code: number }[]; stderr: string } {
  const r = spawnSync('bash', ['-c', sessionScript(examples)], {
    cwd,
    encoding: 'utf8',
    input: '',
    env: cleanEnv({ ...env, PATH: `${binDir}:${process.env.PATH ?? ''}` }),
  })
  return { outputs: sessionOutputs(r.stdout), stderr: r.stderr }
}

/** The bash script of a session: each command, then its exit code between separators. */
function sessionScript(examples: Example[]): string {
  return examples.map((e) => `${e.command}\nprintf '${SEPARATOR}%d${SEPARATOR}\\n' "$?"`).join('\n')
}

/** Each command's stdout lines and exit code, from a session's stdout. */
function sessionOutputs(stdout: string): { lines: string[]; code: number }[] {
  const outputs: { lines: string[]; code: number }[] = []
  const re = new RegExp(`\\n?${SEPARATOR}(\\d+)${SEPARATOR}\\n`, 'g')
  let last = 0
  for (const m of stdout.matchAll(re)) {
    const text = stdout.slice(last, m.index)
    outputs.push({ lines: text === '' ? [] : text.split('\n'), code: Number(m[1]) })
    last = m.index + m[0].length
  }
  return outputs
}

/**
 * {@link runSession} beside a hub this process runs (so not blocking it): with `extra` in the
 * environment.
 */
function runHubSession(
  examples: Example[],
  cwd: string,
  extra: Record<string, string>,
): Promise<{ outputs: { lines: string[]; code: number }[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', sessionScript(examples)], {
      cwd,
      env: cleanEnv({ ...env, ...extra, PATH: `${binDir}:${process.env.PATH ?? ''}` }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c
    })
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c
    })
    child.on('error', reject)
    child.on('close', () => resolve({ outputs: sessionOutputs(stdout), stderr }))
  })
}

/** Asserts that each command of a session exited and printed what the README says. */
function checkSession(
  examples: Example[],
  { outputs, stderr }: { outputs: { lines: string[]; code: number }[]; stderr: string },
): void {
  assert.equal(outputs.length, examples.length, `the session stopped early; stderr:\n${stderr}`)
  examples.forEach((example, i) => {
    const actual = outputs[i] ?? { lines: [], code: -1 }
    assert.equal(
      actual.code,
      example.exitCode,
      `README.md:${example.line}: $ ${example.command}: exit code; stderr:\n${stderr}`,
    )
    assert.ok(
      linesMatch(example.expected, actual.lines),
      `README.md:${example.line}: the output differs from the README.\n--- README\n${example.expected.join('\n')}\n--- actual\n${actual.lines.join('\n')}\n--- stderr\n${stderr}`,
    )
  })
}

/** `…` matches any text within a line; a line of only `…` matches any number of lines. */
function linesMatch(expected: string[], actual: string[]): boolean {
  const [first, ...rest] = expected
  if (first === undefined) return actual.length === 0
  if (first === '…') {
    for (let skip = 0; skip <= actual.length; skip++) if (linesMatch(rest, actual.slice(skip))) return true
    return false
  }
  const pattern = new RegExp(
    `^${first
      .split('…')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  )
  return actual.length > 0 && pattern.test(actual[0] ?? '') && linesMatch(rest, actual.slice(1))
}

const env = exampleEnvironment()
const work = mkdtempSync(join(tmpdir(), 'sas-token-readme-'))
const binDir = join(work, 'bin')
mkdirSync(binDir)
writeFileSync(join(binDir, 'sas-token'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
chmodSync(join(binDir, 'sas-token'), 0o755)
after(() => rmSync(work, { recursive: true, force: true }))

describe('README: the pattern matcher', () => {
  it('matches … within a line and … as any number of lines, and nothing else', () => {
    assert.ok(linesMatch(['sig=…&se=…'], ['sig=abc&se=123']))
    assert.ok(linesMatch(['a', '…', 'z'], ['a', 'b', 'c', 'z']))
    assert.ok(linesMatch(['a', '…', 'z'], ['a', 'z']))
    assert.ok(!linesMatch(['sig=…&se=1'], ['sig=abc&se=12']))
    assert.ok(!linesMatch(['a'], ['a', 'b']))
    assert.ok(!linesMatch(['a.b'], ['axb']))
  })
})

describe("README: the examples' identities", () => {
  it('are the test fixtures, whose known answers the other suites check', () => {
    assert.equal(env.DEVICE_CS, DEVICE_CS)
    assert.equal(env.MODULE_CS, MODULE_CS)
    assert.equal(env.SERVICE_CS, SERVICE_CS)
    assert.equal(env.DEVICE_KEY, KEY)
    assert.equal(env.GROUP_KEY, GROUP_KEY)
  })
})

describe('README: CLI examples', () => {
  const sessions = blocks.filter((b) => b.info === 'console')
  it('has CLI examples to run', () => assert.ok(sessions.length >= 5, `only ${sessions.length} found`))
  for (const block of sessions) {
    const examples = cliExamples(block)
    it(`README.md:${block.line}: $ ${examples[0]?.command.split('\n')[0] ?? ''}`, () => {
      checkSession(examples, runSession(examples, mkdtempSync(join(work, 'cli-'))))
    })
  }
})

describe('README: CLI examples against a running hub', () => {
  const sessions = blocks.filter((b) => b.info === 'console hub')
  it('has examples to run against a hub', () =>
    assert.ok(sessions.length >= 1, `only ${sessions.length} found`))
  for (const block of sessions) {
    const examples = cliExamples(block)
    it(`README.md:${block.line}: $ ${examples[0]?.command.split('\n')[0] ?? ''}`, async () => {
      const hub = await startHub()
      try {
        const cwd = mkdtempSync(join(work, 'hub-'))
        const ca = join(cwd, 'ca.pem')
        writeFileSync(ca, hub.ca)
        const url = `https://localhost:${hub.ports.https}`
        checkSession(
          examples,
          await runHubSession(examples, cwd, {
            IOTHUB_CONNECTION_STRING: hub.hubConnectionString,
            SAS_TOKEN_HUB_ENDPOINT: url,
            NODE_EXTRA_CA_CERTS: ca,
            CA: ca,
            HUB: url,
          }),
        )
      } finally {
        await hub.close()
      }
    })
  }
})

/**
 * A snippet with its `// => value` comments turned into assertions, on the same lines (so that
 * compiler positions stay README positions): `expr // => v` checks expr, `const x = expr // => v`
 * checks x.
 */
function withExpectations(lines: string[]): string {
  let used = false
  const out = lines.map((text) => {
    const declared = /^(\s*)((?:const|let) ([A-Za-z_$][\w$]*) = .+?)\s*\/\/ => (.+)$/.exec(text)
    if (declared) {
      used = true
      return `${declared[1]}${declared[2]}; __expect(${declared[3]}, ${declared[4]})`
    }
    const bare = /^(\s*)(.+?)\s*\/\/ => (.+)$/.exec(text)
    if (bare) {
      used = true
      return `${bare[1]}__expect(${bare[2]}, ${bare[3]})`
    }
    return text
  })
  if (used) out.push("import { __expect } from './readme-expect.js'")
  return `${out.join('\n')}\n`
}

describe('README: TypeScript snippets', () => {
  const snippets = blocks.filter((b) => b.info === 'ts' || b.info === 'ts check-only')
  // Inside the package, so that `import 'sas-token'` resolves to the built package itself
  // (package.json "exports") and 'mqtt' to the dev dependency, as in a user's project.
  const dir = mkdtempSync(join(ROOT, '.readme-snippets-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(
    join(dir, 'readme-expect.ts'),
    "import assert from 'node:assert/strict'\n" +
      'export function __expect(actual: unknown, expected: unknown): void {\n' +
      '  assert.deepEqual(actual, expected)\n}\n',
  )
  const files = snippets.map((block, i) => {
    const file = `snippet-${i + 1}.ts`
    writeFileSync(join(dir, file), withExpectations(block.lines))
    return { file, block }
  })

  it('has TypeScript snippets', () => assert.ok(snippets.length >= 5, `only ${snippets.length} found`))

  it('type-check under the project flags (strict, exactOptionalPropertyTypes, …)', () => {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: { rootDir: '.', outDir: 'out', declaration: false, noUnusedLocals: false },
        files: ['readme-expect.ts', ...files.map((f) => f.file)],
        include: [],
      }),
    )
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    const report = (tsc.stdout + tsc.stderr).replace(
      /snippet-(\d+)\.ts\((\d+),(\d+)\)/g,
      (_, n, line, col) => {
        const block = files[Number(n) - 1]?.block
        return `README.md:${(block?.line ?? 0) + Number(line)}:${col}`
      },
    )
    assert.equal(tsc.status, 0, report)
  })

  for (const { file, block } of files) {
    if (block.info === 'ts check-only') continue
    it(`README.md:${block.line}: runs`, () => {
      const out = join(dir, 'out', file.replace(/\.ts$/, '.js'))
      const r = spawnSync(process.execPath, [out], { cwd: dir, encoding: 'utf8', env: cleanEnv(env) })
      assert.equal(r.status, 0, `README.md:${block.line}: the snippet failed:\n${r.stderr}`)
    })
  }
})

describe('README: the API reference names every export', () => {
  const start = README.indexOf('<!-- api-reference:start')
  const end = README.indexOf('<!-- api-reference:end -->')
  const reference = README.slice(start, end)

  it('has the generated reference section', () => assert.ok(start >= 0 && end > start))

  it('every runtime export of dist/index.js', async () => {
    const api: Record<string, unknown> = await import('sas-token')
    const names = Object.keys(api)
    assert.ok(names.length > 40)
    const missing = names.filter((n) => !reference.includes(`\`${n}\``) && !reference.includes(`\`${n}(`))
    assert.deepEqual(missing, [], 'exports missing from the README reference: run `npm run docs`')
  })

  it('every exported type of dist/index.d.ts', () => {
    const dts = readFileSync(join(ROOT, 'dist/index.d.ts'), 'utf8')
    const names = [...dts.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) =>
      (m[1] ?? '')
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
    )
    assert.ok(names.length > 20)
    const missing = names.filter((n) => !reference.includes(`\`${n}\``))
    assert.deepEqual(missing, [], 'types missing from the README reference: run `npm run docs`')
  })
})
