// Runs the built CLI (bin/sas-token.js) as users do, and the fixtures the CLI tests share.
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

/** Key `cGFzc3dvcmQ=` (base64 of "password"), the key of the known-answer vectors (sdk-facts §9.2). */
export const KEY = 'cGFzc3dvcmQ='
export const HOST = 'myhub.azure-devices.net'
export const DEVICE_CS = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${KEY}`
export const MODULE_CS = `HostName=${HOST};DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${KEY}`
export const SERVICE_CS = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`

/** Pins the CLI's clock (epoch ms) so that the default one-hour TTL gives se = 1700000000. */
export const AT_VECTOR_TIME = { SAS_TOKEN_NOW: String((1_700_000_000 - 3600) * 1000) }

/** Known-answer tokens at se = 1700000000 (sdk-facts §9.2). */
export const VECTORS = {
  device:
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000',
  module:
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=fGXCx3v8IsZ5KZEGgop3RhYJ9cnRSs9VqP3uTffvtUc%3D&se=1700000000',
  hub: 'SharedAccessSignature sr=myhub.azure-devices.net&sig=QSsTq4hIq8YzaKkHvHYM34vUvXN2XD%2FX%2Byr4pyjF%2ByY%3D&se=1700000000&skn=iothubowner',
  devicePolicy:
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000&skn=iothubowner',
  dps: 'SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fmy-device-01&sig=OOwWM29FRWxgrGImQ16T0OAc3Op91yMQnW3bkcsi3pI%3D&se=1700000000&skn=registration',
} as const

/** The DPS group key of the docs (concepts-symmetric-key-attestation.md) and keys derived from it. */
export const GROUP_KEY =
  '8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw=='
export const DERIVED = {
  'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6': 'Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=',
  'my-device-01': 'i0eNaxR9P2qCHaK3RkHpn3erozYVBcdCwAsiEzQHCM4=',
} as const

/**
 * A key that must never be printed: valid base64, distinctive, and the fragment of it that a
 * careless message would most likely show.
 */
export const SECRET_KEY = 'U2VjcmV0S2V5VGhhdE11c3ROZXZlckxlYWsxMjM0NTY='
export const SECRET_FRAGMENT = 'U2VjcmV0S2V5'

/** A future expiry far enough away for any test run: 2100-01-01T00:00:00Z. */
export const FUTURE_SE = 4_102_444_800
