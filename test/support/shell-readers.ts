// Readers for the PowerShell and cmd lines the CLI prints, written from the shells' documented
// rules and not from the CLI's code, so a test can check that a value comes back as it went in.
// pwsh is not on Debian and cmd.exe is not here: these readers are what the tests run instead.
//
// PowerShell (language specification, lexical grammar; about_Quoting_Rules;
// about_Special_Characters):
// - a verbatim string starts and ends with a single-quote-character: ' U+2018 U+2019 U+201A
//   U+201B; inside it every character is literal except two single-quote-characters in a row,
//   which stand for one (the tokenizer keeps the second);
// - an expandable string starts and ends with a double-quote-character: " U+201C U+201D U+201E;
//   a backtick escapes the next character (`0 `a `b `e `f `n `r `t `v are control characters,
//   any other character stands for itself); `$` starts a variable, which this reader refuses;
// - PowerShell reads a native command's output line by line (CR, LF or CRLF end a line), so each
//   line must be a whole statement.
//
// cmd.exe, a batch file (`set /?`; the phases of "How does the Windows Command Interpreter
// (CMD.EXE) parse scripts?", Stack Overflow 4094699, and jeb's notes on caret phases, dostips):
// - phase 0: a line ends at LF; Ctrl-Z (0x1A) reads as LF;
// - phase 1: `%%` is `%`; `%0`…`%9` and `%*` are arguments; `%name%` is the variable (nothing
//   when unset); a `%` with no closing `%` is dropped;
// - phase 2: CR is dropped; `"` toggles quoting; outside quotes `^` escapes the next character
//   and `&`, `|`, `<`, `>` are operators; `@` first hides the echo;
// - phase 5, only with delayed expansion on and only on a line that holds a `!`: `^` escapes the
//   next character anywhere, `!name!` is the variable, a lone `!` is dropped;
// - `set "NAME=value"`: the text from after the first `"` to the last `"` of the line, split at
//   its first `=`; an empty value removes the variable.

const PS_SINGLE = new Set(["'", '\u2018', '\u2019', '\u201A', '\u201B'])
const PS_DOUBLE = new Set(['"', '\u201C', '\u201D', '\u201E'])
const PS_ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\u0007',
  b: '\b',
  e: '\u001b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
}

/** One PowerShell string literal at `text[at]`: its value and where it ends. */
function readPowerShellString(text: string, at: number): { value: string; end: number } {
  const open = text[at] ?? ''
  let value = ''
  let i = at + 1
  if (PS_SINGLE.has(open)) {
    for (;;) {
      const c = text[i]
      if (c === undefined) throw new Error(`unterminated verbatim string from ${at}`)
      if (PS_SINGLE.has(c)) {
        const next = text[i + 1]
        if (next !== undefined && PS_SINGLE.has(next)) {
          value += next
          i += 2
          continue
        }
        return { value, end: i + 1 }
      }
      value += c
      i++
    }
  }
  if (PS_DOUBLE.has(open)) {
    for (;;) {
      const c = text[i]
      if (c === undefined) throw new Error(`unterminated expandable string from ${at}`)
      if (PS_DOUBLE.has(c)) {
        const next = text[i + 1]
        if (next !== undefined && PS_DOUBLE.has(next)) {
          value += next
          i += 2
          continue
        }
        return { value, end: i + 1 }
      }
      if (c === '$')
        throw new Error(`a $ in an expandable string at ${i}: this reader does not expand variables`)
      if (c === '`') {
        const next = text[i + 1]
        if (next === undefined) throw new Error('a backtick at the end')
        value += PS_ESCAPES[next] ?? next
        i += 2
        continue
      }
      value += c
      i++
    }
  }
  throw new Error(`no string literal at ${at}: ${JSON.stringify(text.slice(at, at + 10))}`)
}

/**
 * Reads PowerShell output of `$env:NAME = <string> [+ <string>]…` statements, one a line, as
 * PowerShell would split it; returns the variables in order.
 */
export function readPowerShell(output: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const line of output.replace(/(\r\n|\r|\n)$/, '').split(/\r\n|\r|\n/)) {
    const m = /^\$env:([A-Za-z_][A-Za-z0-9_]*) = /.exec(line)
    if (m === null) throw new Error(`not a $env: assignment: ${JSON.stringify(line)}`)
    let at = m[0].length
    let value = ''
    for (;;) {
      const term = readPowerShellString(line, at)
      value += term.value
      at = term.end
      if (at === line.length) break
      if (!line.startsWith(' + ', at))
        throw new Error(`unexpected text after a string: ${JSON.stringify(line.slice(at))}`)
      at += 3
    }
    out.push([m[1] ?? '', value])
  }
  return out
}

/** How the batch file runs: delayed expansion on or off, and what `%name%` and `!name!` find. */
export interface BatchRun {
  delayedExpansion: boolean
  /** The value of a variable, `undefined` when unset. */
  lookup(name: string): string | undefined
}

/** What a batch file did: the variables it set, in order, or the message it stopped with. */
export type BatchOutcome = { set: Array<[string, string | undefined]> } | { stopped: string }

/** Phase 1 of a batch line: `%` expansion. */
function percentPhase(line: string, run: BatchRun): string {
  let out = ''
  let i = 0
  while (i < line.length) {
    const c = line[i] ?? ''
    if (c !== '%') {
      out += c
      i++
      continue
    }
    const next = line[i + 1]
    if (next === '%') {
      out += '%'
      i += 2
    } else if (next !== undefined && /[0-9*]/.test(next)) {
      i += 2 // an argument: the file is called with none
    } else if (next === '~') {
      throw new Error('%~ argument modifiers are not modelled')
    } else {
      const close = line.indexOf('%', i + 1)
      if (close < 0) {
        i++ // a lone % is dropped
      } else {
        out += run.lookup(line.slice(i + 1, close)) ?? ''
        i = close + 1
      }
    }
  }
  return out
}

/**
 * Phase 2 of a batch line, for one simple command: drops CR and a leading `@`, removes carets
 * outside quotes, and refuses an operator outside quotes (a line the CLI prints never has one
 * but in the delayed-expansion check, which {@link readBatch} reads itself).
 */
function specialPhase(line: string): string {
  let out = ''
  let quoted = false
  const text = line.replaceAll('\r', '').replace(/^@/, '')
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? ''
    if (c === '"') quoted = !quoted
    else if (!quoted && c === '^') {
      i++
      out += text[i] ?? ''
      continue
    } else if (!quoted && /[&|<>]/.test(c))
      throw new Error(`an operator ${c} outside quotes: ${JSON.stringify(line)}`)
    out += c
  }
  return out
}

/** Phase 5, delayed expansion, on a line that holds a `!`. */
function delayedPhase(text: string, run: BatchRun): string {
  if (!run.delayedExpansion || !text.includes('!')) return text
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i] ?? ''
    if (c === '^') {
      out += text[i + 1] ?? ''
      i += 2
    } else if (c === '!') {
      const close = text.indexOf('!', i + 1)
      if (close < 0) {
        i++
      } else {
        const name = text.slice(i + 1, close)
        out += name === '' ? '' : (run.lookup(name) ?? '')
        i = close + 1
      }
    } else {
      out += c
      i++
    }
  }
  return out
}

/**
 * Runs the lines of a batch file that sets variables: `set "NAME=value"` lines, and an
 * `if "A"=="B" (echo … & exit /b 1)` check. Anything else is an error.
 */
export function readBatch(file: string, run: BatchRun): BatchOutcome {
  const set: Array<[string, string | undefined]> = []
  for (const raw of file.replaceAll('\u001a', '\n').split('\n')) {
    const expanded = percentPhase(raw, run)
    if (expanded.replaceAll('\r', '') === '') continue
    const check = /^@?if "([^"]*)"=="([^"]*)" \((echo [^()"]*) 1>&2& exit \/b 1\)\r?$/.exec(expanded)
    if (check !== null) {
      if (delayedPhase(check[1] ?? '', run) === delayedPhase(check[2] ?? '', run))
        return { stopped: delayedPhase(check[3] ?? '', run) }
      continue
    }
    const text = delayedPhase(specialPhase(expanded), run)
    const m = /^set "/i.exec(text)
    if (m === null) throw new Error(`not a set "NAME=value" line: ${JSON.stringify(raw)}`)
    const last = text.lastIndexOf('"')
    const assignment = text.slice(m[0].length, last < m[0].length ? text.length : last)
    const eq = assignment.indexOf('=')
    if (eq <= 0) throw new Error(`no NAME= in ${JSON.stringify(raw)}`)
    const value = assignment.slice(eq + 1)
    set.push([assignment.slice(0, eq), value === '' ? undefined : value])
  }
  return { set }
}

/** A run in which every variable name but the empty one is set, to `<name>`: the worst case. */
export function everyVariableSet(delayedExpansion: boolean): BatchRun {
  return { delayedExpansion, lookup: (name) => (name === '' ? undefined : `<${name}>`) }
}
