/**
 * Batch mode: the loop and the writer. One input per stdin line, one output record per
 * non-blank input line, as NDJSON or CSV. Each command has its {@link BatchJob} (in `jobs/`):
 * what a line means and what its record holds; `batch-records.ts` turns lines into records.
 *
 * A bad line gives an error record for that line and never stops the others. Input is read in
 * chunks and split in linear time; a line longer than `MAX_LINE_CHARS` is refused without being
 * held whole. Output is written in large chunks, so the run costs little more than the signing
 * itself. When stdout can take no more (its reader has gone), the batch stops reading and
 * signing (stdout-gone.ts). A progress line goes to stderr when stderr is a terminal.
 *
 * @module
 */
import { fstatSync, read } from 'node:fs'
import { once } from 'node:events'
import { StringDecoder } from 'node:string_decoder'
import { CliError } from './errors.js'
import { LineSplitter } from './line-splitter.js'
import { notice } from './output.js'
import { BatchPool, firstCut } from './batch-pool.js'
import { onStdoutGone, stdoutGone } from './stdout-gone.js'
import type { JobRecipe } from './batch-recipe.js'
import { type BatchFormat, type BatchJob, LineRecorder, recordsFor } from './batch-records.js'

/** How a batch went: `failed` of `lines` non-blank lines gave an error record. */
export interface BatchResult {
  lines: number
  failed: number
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
    if (stdoutGone.aborted) this.#used = 0 // nobody reads it
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
    // A reader that goes away never drains: the wait ends then too (the loop stops on it).
    await once(process.stdout, 'drain', { signal: stdoutGone }).catch((err: unknown) => {
      if (!stdoutGone.aborted) throw err
    })
  }
}

/** The byte-order marks of UTF-16, which a batch cannot read. */
function isUtf16(head: Buffer): boolean {
  return (head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)
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
  input: NodeJS.ReadableStream & { isTTY?: boolean; destroy?(): void } = process.stdin,
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

  // When stdout's reader goes, stop reading: input that is slow to come (a terminal, a pipe
  // from a slow producer) must not keep the batch waiting for lines nobody will see.
  const stopReading = onStdoutGone(() => input.destroy?.())
  try {
    // Each piece is used up (decoded, or copied by the pool) before the next is read.
    const pieces = size !== undefined ? fileChunks(0) : (input as AsyncIterable<Buffer | string>)
    for await (const raw of readUntilGone(pieces)) {
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
      if (stdoutGone.aborted) break
    }
    if (stdoutGone.aborted) return { lines: recorder.lines, failed: recorder.failed } // the pool closes below
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
    stopReading()
    await pool?.close()
    bar.done()
  }
  out.flush()
  await out.drained()
  return { lines: recorder.lines, failed: recorder.failed }
}

/** The pieces of `input`, until stdout's reader goes (reading stops then, and that is no error). */
async function* readUntilGone<T>(input: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    for await (const piece of input) {
      yield piece
      if (stdoutGone.aborted) return
    }
  } catch (err) {
    if (!stdoutGone.aborted) throw err
  }
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
