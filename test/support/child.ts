// A child process that reports on stdout, one JSON object a line, and that a test waits on.
import { type ChildProcess, spawn } from 'node:child_process'
import { cleanEnv } from './cli.js'

export type Line = Record<string, unknown>

/** A running child, its JSON lines so far, and a way to wait for one. */
export class Reporter {
  readonly lines: Line[] = []
  stderr = ''
  stdout = ''
  readonly exited: Promise<number | null>
  private waiters = new Set<{
    match: (l: Line) => boolean
    resolve: (l: Line) => void
    reject: (e: Error) => void
  }>()
  private ended = false

  readonly child: ChildProcess

  constructor(child: ChildProcess) {
    this.child = child
    let buffer = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d
      buffer += d
      let nl = buffer.indexOf('\n')
      while (nl !== -1) {
        const text = buffer.slice(0, nl).trim()
        buffer = buffer.slice(nl + 1)
        nl = buffer.indexOf('\n')
        let line: unknown
        try {
          line = JSON.parse(text)
        } catch {
          continue
        }
        if (typeof line !== 'object' || line === null) continue
        this.lines.push(line as Line)
        for (const w of this.waiters)
          if (w.match(line as Line)) {
            this.waiters.delete(w)
            w.resolve(line as Line)
          }
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d))
    this.exited = new Promise((resolve) =>
      child.on('close', (code) => {
        this.ended = true
        for (const w of this.waiters)
          w.reject(new Error(`the child exited (${code}) first; stderr:\n${this.stderr}`))
        this.waiters.clear()
        resolve(code)
      }),
    )
  }

  /** The first line (so far or to come) that matches; rejects when the child exits first. */
  waitFor(match: (l: Line) => boolean): Promise<Line> {
    const found = this.lines.find(match)
    if (found !== undefined) return Promise.resolve(found)
    if (this.ended) return Promise.reject(new Error(`the child has exited; stderr:\n${this.stderr}`))
    return new Promise((resolve, reject) => this.waiters.add({ match, resolve, reject }))
  }

  /** Waits for text on stderr. */
  async waitForStderr(pattern: RegExp): Promise<void> {
    while (!pattern.test(this.stderr)) {
      if (this.ended) throw new Error(`the child exited before printing ${pattern}; stderr:\n${this.stderr}`)
      await new Promise<void>((resolve) => this.child.stderr?.once('data', () => resolve()) ?? resolve())
    }
  }

  /** Ends the child: closes its stdin (the scripts here stop on that), then signals it. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    this.child.stdin?.end()
    if (!this.ended) this.child.kill(signal)
    return this.exited
  }
}

/** Spawns `command args` with a clean environment plus `env`. */
export function spawnReporter(command: string, args: string[], env: Record<string, string>): Reporter {
  return new Reporter(spawn(command, args, { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] }))
}
