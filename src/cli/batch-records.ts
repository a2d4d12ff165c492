/**
 * Batch records: what a command's per-line job is ({@link BatchJob}), and how a line becomes a
 * record in NDJSON or CSV ({@link LineRecorder}). The one place a line becomes a record, shared
 * by the main thread (`batch.ts`) and the worker threads (`batch-worker.ts`), so both give the
 * same bytes.
 *
 * @module
 */
import { CliError } from './errors.js'
import { csvField } from './csv.js'
import { ECHO_CHARS, type Line, LineSplitter, MAX_LINE_CHARS } from './line-splitter.js'
import { describeError } from './render-error.js'
import { scrubUntrusted } from './secrets.js'
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
