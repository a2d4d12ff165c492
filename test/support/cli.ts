// Runs the built CLI (bin/sas-token.js) as users do. The values the tests share are in fixtures.ts.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The bin the package installs. */
export const BIN = fileURLToPath(new URL('../../../bin/sas-token.js', import.meta.url))

/** The result of one run. */
export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Options of {@link cli}. */
export interface RunOptions {
  /** Written to stdin, which is then closed. */
  input?: string | Buffer
  /** Added to a clean environment (no IOTHUB_*, no DISPLAY). */
  env?: Record<string, string | undefined>
}

/**
 * Set for every run of this test process, before `extra`: `cli-batch-workers.test.ts` runs the
 * batch suites again with `SAS_TOKEN_BATCH_WORKERS=on` here.
 */
export const runEnv: Record<string, string> = {}

/** The environment every run starts from: the inherited one minus what would change the CLI's behaviour. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(IOTHUB_|SAS_TOKEN_|DISPLAY$|WAYLAND_DISPLAY$)/.test(name)) env[name] = value
  }
  Object.assign(env, runEnv)
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

/** Runs `sas-token ...args` and collects its output and exit code. */
export function cli(args: readonly string[], o: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: cleanEnv(o.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.on('error', () => {}) // the CLI may exit before reading stdin
    child.stdin.end(o.input ?? '')
  })
}
