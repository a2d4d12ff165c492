/**
 * Batch mode: one input per stdin line, one output record per input line, as NDJSON or CSV.
 *
 * A bad line gives an error record for that line and never stops the others; the exit code is 1
 * at the end when any line failed. Input is read in chunks and output written in large chunks,
 * so the run costs little more than the signing itself. A progress line goes to stderr when
 * stderr is a terminal.
 *
 * @module
 */
import { fstatSync } from 'node:fs'
import { once } from 'node:events'
import { parseConnectionString } from '../connection-string.js'
import { SasTokenError } from '../errors.js'
import { assertHostName } from '../identity.js'
import { deriveDeviceKey } from '../keys.js'
import { createDpsSasToken, createSasToken, deviceResourceUri } from '../sas-token.js'
import { tokenFromConnectionString } from '../token-from-connection-string.js'
import { dpsDeviceKey, type Identity, type ResolvedExpiry } from './identity-options.js'
import { csvField, describeError, EXIT_FAILURE, notice, scrubUntrusted, UsageError } from './output.js'

/** The output formats of batch mode. */
export type BatchFormat = 'json' | 'csv'

/** What to do with each line. */
export interface BatchJob {
  /** The names of the fields {@link BatchJob.run} returns, in order (after `line`). */
  columns: readonly string[]
  /**
   * Turns one trimmed, non-empty input line into the values of {@link BatchJob.columns}; throws
   * on bad input. The values are ids the core has checked and tokens or keys it has made, so
   * none holds a quote, a backslash or a control character: they go into JSON unescaped.
   */
  run(line: string): ReadonlyArray<string | undefined>
  /**
   * Whether an error record may echo the input line (not when lines hold secrets, such as
   * connection strings). An echoed line is scrubbed all the same: a line fed to the wrong mode
   * may hold a key.
   */
  echoInput: boolean
}

/** The record writer for one format. */
interface Records {
  header: string
  ok(line: number, values: ReadonlyArray<string | undefined>): string
  error(line: number, input: string | undefined, err: unknown): string
}

function ndjson(columns: readonly string[]): Records {
  return {
    header: '',
    ok(line, values) {
      let out = `{"line":${line}`
      for (let i = 0; i < columns.length; i++) {
        const value = values[i]
        if (value !== undefined) out += `,"${columns[i]}":"${value}"`
      }
      return `${out}}\n`
    },
    error(line, input, err) {
      return `${JSON.stringify({ line, ...(input !== undefined && { input }), error: describeLineError(err) })}\n`
    },
  }
}

function csv(columns: readonly string[]): Records {
  const empty = columns.map(() => '').join(',')
  return {
    header: `line,${columns.join(',')},error\n`,
    ok(line, values) {
      let out = `${line}`
      for (let i = 0; i < columns.length; i++) out += `,${csvField(values[i])}`
      return `${out},\n`
    },
    error(line, input, err) {
      const { code, message } = describeLineError(err)
      const first =
        input === undefined ? empty : [csvField(input), ...columns.slice(1).map(() => '')].join(',')
      return `${line},${first},${csvField(`${code}: ${message}`)}\n`
    },
  }
}

/** The `{code, message}` of a line's error, scrubbed as text that may hold a key. */
function describeLineError(err: unknown): { code: string; message: string } {
  const { code, message } = describeError(err)
  return { code, message: scrubUntrusted(message) }
}

/** Progress on stderr, at most ten times a second, only when stderr is a terminal. */
function progress(): { update(bytes: number, lines: number): void; done(): void } {
  if (!process.stderr.isTTY) return { update() {}, done() {} }
  let total = 0
  try {
    const stat = fstatSync(0)
    if (stat.isFile()) total = stat.size
  } catch {
    // stdin without a size: show a count instead of a bar.
  }
  let last = 0
  return {
    update(bytes, lines) {
      const now = Date.now()
      if (now - last < 100) return
      last = now
      if (total > 0) {
        const ratio = Math.min(1, bytes / total)
        const filled = Math.round(ratio * 30)
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${Math.floor(ratio * 100)}% ${lines} lines`,
        )
      } else {
        process.stderr.write(`\r${lines} lines`)
      }
    },
    done() {
      if (last !== 0) process.stderr.write('\r\x1b[K')
    },
  }
}

/**
 * Collects output in one reusable buffer and writes it to stdout a megabyte at a time: encoding
 * each small record into the buffer is much cheaper than joining and converting big strings.
 */
class ChunkedWriter {
  #buffer = Buffer.allocUnsafe(1 << 20)
  #used = 0
  /** Set when stdout asked us to wait; see {@link ChunkedWriter.drained}. */
  #full = false

  /** Appends `text`; writes the buffer out first when `text` might not fit. */
  write(text: string): void {
    if (this.#used + text.length * 3 > this.#buffer.length) this.flush()
    if (text.length * 3 > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(text.length * 3)
    this.#used += this.#buffer.write(text, this.#used)
  }

  /** Writes what has been collected, and starts a new buffer (the stream may hold on to the old one). */
  flush(): void {
    if (this.#used === 0) return
    if (!process.stdout.write(this.#buffer.subarray(0, this.#used))) this.#full = true
    this.#buffer = Buffer.allocUnsafe(this.#buffer.length)
    this.#used = 0
  }

  /** Resolves once stdout has taken what was written (at once, unless it is backed up). */
  async drained(): Promise<void> {
    if (!this.#full) return
    this.#full = false
    await once(process.stdout, 'drain')
  }
}

/**
 * Runs `job` over every line of `input` (stdin by default), writing records to stdout. Sets
 * `process.exitCode` to 1 when any line failed.
 */
export async function runBatch(
  job: BatchJob,
  format: BatchFormat,
  input: NodeJS.ReadableStream = process.stdin,
): Promise<void> {
  const records = format === 'csv' ? csv(job.columns) : ndjson(job.columns)
  const bar = progress()
  const out = new ChunkedWriter()
  let lineNo = 0
  let failed = 0
  let bytes = 0
  let rest = ''

  const handle = (raw: string): void => {
    lineNo++
    const line = raw.trim()
    if (line === '') return
    let record: string
    try {
      record = records.ok(lineNo, job.run(line))
    } catch (err) {
      failed++
      record = records.error(lineNo, job.echoInput ? scrubUntrusted(line) : undefined, err)
    }
    out.write(record)
  }

  out.write(records.header)
  input.setEncoding('utf8')
  for await (const chunk of input as AsyncIterable<string>) {
    bytes += chunk.length
    const lines = (rest + chunk).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) handle(line)
    bar.update(bytes, lineNo)
    await out.drained()
    if (process.stdout.destroyed) break // the reader went away (EPIPE)
  }
  if (rest !== '') handle(rest)
  bar.done()
  out.flush()
  await out.drained()
  if (failed > 0) {
    notice(`${failed} of ${lineNo} lines failed; see their error records.`)
    process.exitCode = EXIT_FAILURE
  }
}

/** `deviceId` or `deviceId/moduleId` (a `/` cannot appear in an id); the core checks the ids. */
function splitDeviceLine(line: string): [string, string | undefined] {
  const slash = line.indexOf('/')
  return slash < 0 ? [line, undefined] : [line.slice(0, slash), line.slice(slash + 1)]
}

/**
 * The `generate --batch` job for an identity:
 * - a service (policy) identity signs a device-scoped policy token for each `deviceId` or
 *   `deviceId/moduleId` line;
 * - a DPS identity with a group key signs a registration token for each registration id line,
 *   with the derived device key;
 * - no identity reads one connection string per line.
 * Every token of the run shares one expiry.
 */
export function tokenJob(identity: Identity | undefined, expiry: ResolvedExpiry): BatchJob {
  const expiresAt = new Date(expiry.expiresAt * 1000).toISOString()
  if (identity === undefined) {
    return {
      columns: ['deviceId', 'moduleId', 'token', 'expiresAt'],
      echoInput: false,
      run(line) {
        const cs = parseConnectionString(line)
        return [cs.deviceId, cs.moduleId, tokenFromConnectionString(cs, expiry), expiresAt]
      },
    }
  }
  if (identity.type === 'connection-string' && identity.connectionString.kind === 'service') {
    const { hostName, sharedAccessKey: key, sharedAccessKeyName: keyName } = identity.connectionString
    if (key === undefined || keyName === undefined) {
      throw new SasTokenError(
        'ERR_KEY_REQUIRED',
        '--batch needs a service connection string with SharedAccessKeyName and SharedAccessKey.',
      )
    }
    const { expiresAt: se, now } = expiry
    // Checked once here, so that a bad host fails the run rather than every line.
    assertHostName(hostName)
    return {
      columns: ['deviceId', 'moduleId', 'token', 'expiresAt'],
      echoInput: true,
      run(line) {
        const [deviceId, moduleId] = splitDeviceLine(line)
        const resourceUri = deviceResourceUri(hostName, deviceId, moduleId)
        const token = createSasToken({ resourceUri, key, keyName, expiresAt: se, now })
        return [deviceId, moduleId, token, expiresAt]
      },
    }
  }
  if (identity.type === 'dps' && identity.groupKey !== undefined) {
    const { idScope } = identity
    return {
      columns: ['registrationId', 'token', 'expiresAt'],
      echoInput: true,
      run(registrationId) {
        const key = dpsDeviceKey(identity, registrationId)
        return [registrationId, createDpsSasToken({ idScope, registrationId, key, ...expiry }), expiresAt]
      },
    }
  }
  throw new UsageError(
    '--batch signs many ids with one policy or group key: give a service connection string (or --host --key-name --key) for device ids, --dps --id-scope --group-key for registration ids, or no identity to read connection strings from stdin.',
  )
}

/** The `derive-key --batch` job: one derived device key per registration id line. */
export function deriveKeyJob(groupKey: string): BatchJob {
  return {
    columns: ['registrationId', 'deviceKey'],
    echoInput: true,
    run: (registrationId) => [registrationId, deriveDeviceKey(groupKey, registrationId)],
  }
}
