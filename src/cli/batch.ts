/**
 * Batch mode: the loop and the writer. One input per stdin line, one output record per
 * non-blank input line, as NDJSON or CSV. Each command owns its {@link BatchJob}: what a line
 * means and what its record holds.
 *
 * A bad line gives an error record for that line and never stops the others. Input is read in
 * chunks and split in linear time; a line longer than {@link MAX_LINE_CHARS} is refused without
 * being held whole. Output is written in large chunks, so the run costs little more than the
 * signing itself. A progress line goes to stderr when stderr is a terminal.
 *
 * @module
 */
import { fstatSync, read } from 'node:fs'
import { once } from 'node:events'
import { StringDecoder } from 'node:string_decoder'
import { CliError } from './errors.js'
import { csvField } from './csv.js'
import { ECHO_CHARS, type Line, LineSplitter, MAX_LINE_CHARS } from './line-splitter.js'
import { describeError } from './render-error.js'
import { notice } from './output.js'
import { scrubUntrusted } from './secrets.js'
import { BatchPool, firstCut } from './batch-pool.js'
import type { JobRecipe } from './batch-recipe.js'

/** The output formats of batch mode. */
export type BatchFormat = 'json' | 'csv'

/** What to do with each line: a command's per-line job. */
export interface BatchJob {
  /** What the lines hold, for the terminal hint: `device ids`, `registration ids`, … */
  reads: string
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
   * connection strings). An echoed line is cut short and scrubbed all the same: a line fed to
   * the wrong mode may hold a key.
   */
  echoInput: boolean
  /**
   * How a worker thread can build the same job (see `batch-pool.ts`); without it the batch runs
   * on the main thread.
   */
  recipe?: JobRecipe
}

/** How a batch went: `failed` of `lines` non-blank lines gave an error record. */
export interface BatchResult {
  lines: number
  failed: number
}

/** The record writer for one format. */
export interface Records {
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

/** The record writer for `format`. */
export function recordsFor(format: BatchFormat, columns: readonly string[]): Records {
  return format === 'csv' ? csv(columns) : ndjson(columns)
}

/** The `{code, message, …facts}` of a line's error, scrubbed as text that may hold a key. */
function describeLineError(err: unknown): Record<string, unknown> & { code: string; message: string } {
  const described = describeError(err)
  return { ...described, message: scrubUntrusted(described.message) }
}

/** What an error record may show of an input line: a short prefix, scrubbed. */
function echo(line: string): string {
  return scrubUntrusted(line.length > ECHO_CHARS ? `${line.slice(0, ECHO_CHARS)}…` : line)
}

/**
 * Progress on stderr, at most ten times a second, only when stderr is a terminal: a bar when the
 * input's size (`total` bytes) is known, else a count.
 */
function progress(total = 0): { update(bytes: number, lines: number): void; done(): void } {
  if (!process.stderr.isTTY) return { update() {}, done() {} }
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

/** The size of the output buffers. */
const WRITER_BYTES = 1 << 20

/** The size of the reads when stdin is a file. */
const READ_BYTES = 64 << 10

/** The size of `fd` when it is a regular file. */
function fileSize(fd: number): number | undefined {
  try {
    const stat = fstatSync(fd)
    return stat.isFile() ? stat.size : undefined
  } catch {
    return undefined
  }
}

/**
 * The bytes of a file, read into one buffer again and again: each piece is only good until the
 * next is asked for. (A stream reads into a new buffer each time, and those pile up as the
 * input grows.)
 */
async function* fileChunks(fd: number): AsyncGenerator<Buffer> {
  const buffer = Buffer.allocUnsafeSlow(READ_BYTES)
  for (;;) {
    const bytes = await new Promise<number>((resolve, reject) =>
      read(fd, buffer, 0, READ_BYTES, null, (err, n) => (err === null ? resolve(n) : reject(err))),
    )
    if (bytes === 0) return
    yield buffer.subarray(0, bytes)
  }
}

/**
 * Collects output in one reusable buffer and writes it to stdout a megabyte at a time: encoding
 * each small record into the buffer is much cheaper than joining and converting big strings.
 */
class ChunkedWriter {
  #buffer = Buffer.allocUnsafe(WRITER_BYTES)
  /** Buffers stdout has written out, to fill again (a fresh one per flush would pile up). */
  readonly #free: Array<Buffer<ArrayBuffer>> = []
  #used = 0
  /** Set when stdout asked us to wait; see {@link ChunkedWriter.drained}. */
  #full = false

  /** Appends `text`; writes the buffer out first when `text` might not fit. */
  write(text: string): void {
    if (this.#used + text.length * 3 > this.#buffer.length) this.flush()
    if (text.length * 3 > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(text.length * 3)
    this.#used += this.#buffer.write(text, this.#used)
  }

  /**
   * Writes what has been collected, and goes on in another buffer: the stream may hold on to
   * this one until its callback says it is written, and then it is filled again.
   */
  flush(): void {
    if (this.#used === 0) return
    const buffer = this.#buffer
    const done = (err?: Error | null): void => {
      if (err == null && buffer.length === WRITER_BYTES) this.#free.push(buffer)
    }
    if (!process.stdout.write(buffer.subarray(0, this.#used), done)) this.#full = true
    this.#buffer = this.#free.pop() ?? Buffer.allocUnsafe(WRITER_BYTES)
    this.#used = 0
  }

  /** Resolves once stdout has taken what was written (at once, unless it is backed up). */
  async drained(): Promise<void> {
    if (!this.#full) return
    this.#full = false
    await once(process.stdout, 'drain')
  }
}

/** The byte-order marks of UTF-16, which a batch cannot read. */
function isUtf16(head: Buffer): boolean {
  return (head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)
}

/**
 * Turns lines into records, numbering them: the one place a line becomes a record, used by the
 * main thread and by each worker thread alike, so both give the same bytes.
 */
export class LineRecorder {
  /** The number of the last line seen, blank ones included. */
  lineNo: number
  /** Non-blank lines seen. */
  lines = 0
  /** Lines that gave an error record. */
  failed = 0
  readonly #job: BatchJob
  readonly #records: Records
  readonly #write: (record: string) => void

  constructor(job: BatchJob, records: Records, write: (record: string) => void, firstLine = 1) {
    this.#job = job
    this.#records = records
    this.#write = write
    this.lineNo = firstLine - 1
  }

  /** Records one line (an arrow function, so that it can be handed to the splitter as it is). */
  readonly line = ({ text, tooLong }: Line): void => {
    this.lineNo++
    const line = text.trim()
    if (line === '' && tooLong === undefined) return
    this.lines++
    let record: string
    try {
      if (tooLong !== undefined) {
        throw new CliError(
          'ERR_BATCH_LINE_TOO_LONG',
          `the line has ${tooLong} characters, more than the ${MAX_LINE_CHARS} a batch line may have.`,
          { length: tooLong, limit: MAX_LINE_CHARS },
        )
      }
      record = this.#records.ok(this.lineNo, this.#job.run(line))
    } catch (err) {
      this.failed++
      record = this.#records.error(this.lineNo, this.#job.echoInput ? echo(line) : undefined, err)
    }
    this.#write(record)
  }
}

/** Records every line of `text`, a whole number of lines: a worker's chunk. */
export function recordChunk(text: string, recorder: LineRecorder): void {
  const splitter = new LineSplitter()
  splitter.push(text, recorder.line)
  splitter.end(recorder.line)
}

/**
 * Runs `job` over every line of `input` (stdin by default), writing records to stdout. A large
 * input is signed on two worker threads when the job has a recipe (see `batch-pool.ts`); the
 * records, their order and the result are the same either way.
 *
 * @returns How many non-blank lines there were and how many failed.
 * @throws {CliError} `ERR_BATCH_INPUT_ENCODING` when the input is UTF-16 (before any record);
 *   `ERR_BATCH_WORKER_FAILED` when a worker thread fails.
 */
export async function runBatch(
  job: BatchJob,
  format: BatchFormat,
  input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
): Promise<BatchResult> {
  const records = recordsFor(format, job.columns)
  if (input.isTTY === true) notice(`reading ${job.reads} from the terminal, one per line; end with Ctrl-D.`)
  const size = input === process.stdin ? fileSize(0) : undefined
  const bar = progress(size)
  const out = new ChunkedWriter()
  const splitter = new LineSplitter()
  const decoder = new StringDecoder('utf8')
  const recorder = new LineRecorder(job, records, (record) => out.write(record))
  let workers = workerPlan(job, input, size)
  let pool: BatchPool | undefined
  let bytes = 0
  let first = true

  try {
    // Each piece is used up (decoded, or copied by the pool) before the next is read.
    const pieces = size !== undefined ? fileChunks(0) : (input as AsyncIterable<Buffer | string>)
    for await (const raw of pieces) {
      let chunk = typeof raw === 'string' ? Buffer.from(raw) : raw
      if (first) {
        first = false
        if (isUtf16(chunk)) {
          throw new CliError(
            'ERR_BATCH_INPUT_ENCODING',
            'the input is UTF-16 (it starts with a UTF-16 byte-order mark); batch input must be UTF-8: convert it, e.g. with iconv -f UTF-16 -t UTF-8.',
            { encoding: 'UTF-16' },
          )
        }
        out.write(records.header)
        if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3)
      }
      bytes += chunk.length
      if (pool === undefined && workers !== undefined && bytes > workers.after) {
        // Switch at the first line end: from there on, the chunks hold whole lines.
        const cut = bytes - chunk.length === 0 ? 0 : firstCut(chunk)
        if (cut >= 0) {
          splitter.push(decoder.write(chunk.subarray(0, cut)), recorder.line)
          out.flush()
          await out.drained()
          pool = new BatchPool(workers.recipe, format, recorder.lineNo + 1)
          chunk = chunk.subarray(cut)
        }
      }
      if (pool !== undefined && !(await pool.push(chunk))) {
        // A line too long to hold: finish the chunks sent, read on here with what is held back.
        const result = await pool.end(false)
        recorder.lineNo = pool.lineNo - 1
        recorder.lines += result.lines
        recorder.failed += result.failed
        chunk = pool.carry()
        await pool.close()
        pool = undefined
        workers = undefined
      }
      if (pool === undefined) splitter.push(decoder.write(chunk), recorder.line)
      bar.update(bytes, pool === undefined ? recorder.lineNo : pool.lineNo - 1)
      if (pool === undefined) await out.drained()
      if (process.stdout.destroyed) break // the reader went away (EPIPE)
    }
    if (first) out.write(records.header)
    if (pool !== undefined) {
      const result = await pool.end()
      recorder.lines += result.lines
      recorder.failed += result.failed
    } else {
      splitter.push(decoder.end(), recorder.line)
      splitter.end(recorder.line)
    }
  } finally {
    await pool?.close()
  }
  bar.done()
  out.flush()
  await out.drained()
  return { lines: recorder.lines, failed: recorder.failed }
}

/**
 * Whether and when this batch goes to worker threads: only with a recipe, never for a
 * terminal, and after {@link WORKERS_AFTER_BYTES} of input (a smaller batch gains little); from
 * the first byte for a file of that size (`size`), so that the main thread, which signs until
 * the switch, never grows a signing heap it keeps. `SAS_TOKEN_BATCH_WORKERS=on` uses them from
 * the first byte (the tests run every batch both ways), `off` never.
 */
function workerPlan(
  job: BatchJob,
  input: { isTTY?: boolean },
  size: number | undefined,
): { recipe: JobRecipe; after: number } | undefined {
  const setting = process.env.SAS_TOKEN_BATCH_WORKERS
  if (job.recipe === undefined || setting === 'off' || input.isTTY === true) return undefined
  const atOnce = setting === 'on' || (size !== undefined && size >= WORKERS_AFTER_BYTES)
  return { recipe: job.recipe, after: atOnce ? -1 : WORKERS_AFTER_BYTES }
}

/** Input size from which a batch uses worker threads. */
export const WORKERS_AFTER_BYTES = 4 << 20

/**
 * The error a batch with failed lines ends with: the records are out; this says how many.
 *
 * @returns `undefined` when no line failed.
 */
export function batchFailure(result: BatchResult): CliError | undefined {
  return result.failed === 0
    ? undefined
    : new CliError(
        'ERR_BATCH_LINES_FAILED',
        `${result.failed} of ${result.lines} lines failed; see their error records.`,
        { failed: result.failed, lines: result.lines },
      )
}
