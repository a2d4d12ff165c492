// The PowerShell and cmd variable formats, by rule (pwsh and cmd.exe do not run here):
// known-answer lines derived by hand from the shells' documented rules, and a property test in
// which independent readers of those rules (support/shell-readers.ts) get every value back, or
// the CLI refused it with ERR_FORMAT_UNREPRESENTABLE, never a line that reads as another value.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { everyVariableSet, readBatch, readPowerShell } from './support/shell-readers.js'

type Formats = typeof import('../dist/cli/shell-formats.js')
type PowerShell = typeof import('../dist/cli/shell-powershell.js')
type Cmd = typeof import('../dist/cli/shell-cmd.js')
const load = async <T>(name: string): Promise<T> =>
  (await import(new URL(`../../dist/cli/${name}.js`, import.meta.url).href)) as T
const { variableLines } = await load<Formats>('shell-formats')
const { powershellString } = await load<PowerShell>('shell-powershell')
const { CMD_DELAYED_EXPANSION_CHECK } = await load<Cmd>('shell-cmd')

/** The error a refused value throws, as data (its code, facts and message). */
function refusal(f: () => unknown): { code: unknown; facts: unknown; message: string } | undefined {
  try {
    f()
    return undefined
  } catch (err) {
    assert.ok(err instanceof Error)
    const { code, facts } = err as Error & { code?: unknown; facts?: unknown }
    return { code, facts, message: err.message }
  }
}

describe('--format powershell: known answers (about_Quoting_Rules, the language spec)', () => {
  const vectors: Array<[string, string, string]> = [
    ['plain', 'dev1', "'dev1'"],
    ['a quote is doubled', "it's", "'it''s'"],
    [
      'typographic single quotes are quotes too, and doubled',
      'a\u2018b\u2019c\u201Ad\u201Be',
      "'a‘‘b’’c‚‚d‛‛e'",
    ],
    ['typographic double quotes are plain text in single quotes', '“x” "y"', `'“x” "y"'`],
    ['$ does not expand', '$env:PATH $(1+1)', "'$env:PATH $(1+1)'"],
    ['a backtick is literal', 'a`nb`', "'a`nb`'"],
    ['% ! ^ & | < > are literal', '%2F%3D !x! ^&|<>()', "'%2F%3D !x! ^&|<>()'"],
    [
      'a SAS token',
      'SharedAccessSignature sr=h%2Fdevices%2Fd&sig=a%2Bb%3D&se=1',
      "'SharedAccessSignature sr=h%2Fdevices%2Fd&sig=a%2Bb%3D&se=1'",
    ],
    ['non-ASCII', 'Grüße, 東京 🚀', "'Grüße, 東京 🚀'"],
    ['LF: an escape, so the line stays one line', 'a\nb', `'a' + "\`n" + 'b'`],
    ['CRLF, leading and trailing', '\r\nx\n', `"\`r" + "\`n" + 'x' + "\`n"`],
    ['the empty string', '', "''"],
  ]
  for (const [what, value, expected] of vectors) {
    it(what, () => {
      assert.equal(powershellString(value), expected)
      if (value !== '') assert.equal(variableLines('powershell', { X: value }), `$env:X = ${expected}`)
    })
  }
  it('numbers are written as strings; undefined variables are left out', () => {
    assert.equal(
      variableLines('powershell', { A: 8883, B: undefined, C: 'c' }),
      "$env:A = '8883'\n$env:C = 'c'",
    )
  })
  for (const [what, value, character] of [
    ['an empty value (assigning it removes the variable)', '', 'empty'],
    ['NUL (no environment variable holds it)', 'a\0b', 'U+0000'],
  ] as const) {
    it(`refuses ${what}`, () => {
      const r = refusal(() => variableLines('powershell', { MQTT_PASSWORD: value }))
      assert.deepEqual(r?.facts, { format: 'powershell', variable: 'MQTT_PASSWORD', character })
      assert.equal(r?.code, 'ERR_FORMAT_UNREPRESENTABLE')
      assert.match(
        r?.message ?? '',
        /^--format powershell cannot set MQTT_PASSWORD: .*; use --format json\.$/,
      )
    })
  }
})

describe('--format cmd: known answers (batch-file rules)', () => {
  const vectors: Array<[string, string, string]> = [
    ['plain', 'dev1', '@set "X=dev1"'],
    ['% is doubled (a batch file reads %% as %)', 'a%2Fb%3D', '@set "X=a%%2Fb%%3D"'],
    ['%name% cannot expand', '%PATH% %1 %*', '@set "X=%%PATH%% %%1 %%*"'],
    ['^ & | < > ( ) are literal inside the quotes', '^&|<>()', '@set "X=^&|<>()"'],
    ["' $ ` are plain", "it's $x `y", '@set "X=it\'s $x `y"'],
    ['leading and trailing spaces stay', '  a  ', '@set "X=  a  "'],
    ['a value that starts with =', '=a', '@set "X==a"'],
    ['non-ASCII stays as it is', 'Grüße 東京', '@set "X=Grüße 東京"'],
  ]
  for (const [what, value, expected] of vectors) {
    it(what, () => assert.equal(variableLines('cmd', { X: value }), expected))
  }
  it('a value with ! gets the delayed-expansion check first', () => {
    assert.equal(
      variableLines('cmd', { A: 'dev1', B: 'dev!1' }),
      `${CMD_DELAYED_EXPANSION_CHECK}\n@set "A=dev1"\n@set "B=dev!1"`,
    )
    assert.match(CMD_DELAYED_EXPANSION_CHECK, /^@if "!!"=="" \(echo [^!"()%^&|<>]* 1>&2& exit \/b 1\)$/)
  })
  for (const [what, value, character] of [
    ['LF', 'a\nb', 'U+000A'],
    ['CR', 'a\rb', 'U+000D'],
    ['Ctrl-Z (read as LF)', 'a\u001ab', 'U+001A'],
    ['a double quote', 'a"b', 'U+0022'],
    ['NUL', 'a\0b', 'U+0000'],
    ['an empty value (set "X=" removes X)', '', 'empty'],
  ] as const) {
    it(`refuses ${what}, naming the variable and the character, not the value`, () => {
      const r = refusal(() => variableLines('cmd', { OK: 'fine', SAS_TOKEN: value }))
      assert.equal(r?.code, 'ERR_FORMAT_UNREPRESENTABLE')
      assert.deepEqual(r?.facts, { format: 'cmd', variable: 'SAS_TOKEN', character })
      assert.match(
        r?.message ?? '',
        /^--format cmd cannot set SAS_TOKEN: .*; use --format (powershell or --format )?json\.$/,
      )
    })
  }
})

describe('the independent readers agree with the rules they are written from', () => {
  it('PowerShell: a doubled quote of any kind is one quote; escapes in double quotes', () => {
    assert.deepEqual(readPowerShell("$env:A = 'it''s'\n$env:B = 'x’’y' + \"`n`t\"\n"), [
      ['A', "it's"],
      ['B', 'x’y\n\t'],
    ])
    assert.throws(() => readPowerShell("$env:A = 'it's'"), /unexpected text/)
    assert.throws(() => readPowerShell("$env:A = 'a\nb'"), /unterminated/)
  })
  it('cmd: %% is %, %name% expands, a lone % goes, delayed expansion eats ! and ^', () => {
    const off = everyVariableSet(false)
    const on = everyVariableSet(true)
    assert.deepEqual(readBatch('@set "A=%%2F %PATH% 5%"\r\n', off), { set: [['A', '%2F <PATH> 5']] })
    assert.deepEqual(readBatch('set "A=x!y!z^^"', on), { set: [['A', 'x<y>z^']] })
    assert.deepEqual(readBatch('set "A=a^b"', on), { set: [['A', 'a^b']] })
    assert.deepEqual(readBatch('set "A="', off), { set: [['A', undefined]] })
    assert.throws(() => readBatch('set "A=a"&b"', off), /operator &/)
  })
})

/** Strings rich in the characters the shells treat specially. */
const tricky = fc
  .array(
    fc.oneof(
      fc.constantFrom(...'\'\u2018\u2019\u201A\u201B"\u201C\u201D$`%!^&|<>()=@ \t\r\n\0\u001a\\#;,:'),
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.constantFrom('%2F', '%3D', '%PATH%', '!x!', "''", '%%', '^!', '%1', '$env:X'),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''))

describe('every value round-trips through the readers, or is refused with its code', () => {
  it('PowerShell', () => {
    fc.assert(
      fc.property(tricky, tricky, (a, b) => {
        const refusable = (v: string) => v === '' || v.includes('\0')
        const r = refusal(() => variableLines('powershell', { A: a, B: b }))
        if (refusable(a) || refusable(b)) {
          assert.equal(r?.code, 'ERR_FORMAT_UNREPRESENTABLE')
          return
        }
        assert.equal(r, undefined)
        const out = variableLines('powershell', { A: a, B: b })
        assert.equal(out.split(/\r\n|\r|\n/).length, 2, 'one line per variable')
        assert.deepEqual(readPowerShell(out), [
          ['A', a],
          ['B', b],
        ])
      }),
      { numRuns: 3000 },
    )
  })
  it('cmd, with delayed expansion off (the default) and on, every variable name set', () => {
    fc.assert(
      fc.property(tricky, tricky, (a, b) => {
        const refusable = (v: string) => v === '' || [...'\r\n\u001a"\0'].some((c) => v.includes(c))
        const r = refusal(() => variableLines('cmd', { A: a, B: b }))
        if (refusable(a) || refusable(b)) {
          assert.equal(r?.code, 'ERR_FORMAT_UNREPRESENTABLE')
          return
        }
        assert.equal(r, undefined)
        const out = variableLines('cmd', { A: a, B: b })
        const values = { set: [['A', a] as [string, string], ['B', b] as [string, string]] }
        assert.deepEqual(readBatch(out, everyVariableSet(false)), values)
        const on = readBatch(out, everyVariableSet(true))
        if (`${a}${b}`.includes('!')) assert.ok('stopped' in on, 'delayed expansion on: the file stops')
        else assert.deepEqual(on, values)
      }),
      { numRuns: 3000 },
    )
  })
})
