/**
 * A large batch on two worker threads. The main thread reads the input, cuts it into chunks of
 * about 64 KiB at line ends, numbers the lines (it counts them, so each chunk knows its first
 * line number), and hands each chunk to the less busy worker as a transferred buffer, not a
 * copy. A worker turns its chunk into records, exactly as the main thread would (see
 * `batch-worker.ts`), and transfers them back; the main thread writes them in input order. So
 * the output is byte for byte the output of one thread.
 *
 * A worker that fails (an exception, a crash, an exit) fails the run with
 * `ERR_BATCH_WORKER_FAILED`: the records before the lost chunk are out, in order, and no
 * record is written twice or left out silently.
 *
 * @module
 */
import { Worker } from 'node:worker_threads'
import type { JobRecipe } from './batch-recipe.js'
import { WORKER_ENV, type WorkerData, type WorkerReply, type WorkerTask } from './batch-messages.js'
import { CliError } from './errors.js'
import { registeredSecrets } from './secrets.js'
import { onStdoutGone, stdoutGone } from './stdout-gone.js'

/** The size of the chunks a worker gets (they end at a line end, so they vary a little). */
export const CHUNK_BYTES = 64 << 10

/** Chunks sent and not yet written: enough to keep both workers busy, little memory. */
const IN_FLIGHT = 6

/**
 * The size of an input buffer: a chunk and one more piece of input fit without growing. Input
 * buffers go round (main thread, worker, back), as do reply buffers (worker, main thread once
 * written, back): memory handed between threads is external to V8's heap, which the main thread
 * seldom collects, so fresh buffers would pile up as the input grows.
 */
const INPUT_BYTES = 2 * CHUNK_BYTES

/** A line this long (in bytes) without an end is handed back to the main thread. */
export const MAX_CARRY_BYTES = 1 << 20

/** Each worker's young generation, in MiB. */
const YOUNG_GENERATION_MB = 4

/**
 * Each worker's old generation, in MiB. A worker holds little for long (its job, one chunk and
 * its records), but without a cap V8 lets the old generation grow with the run, so the peak
 * grew with N; 12 MiB was measured to be enough for 1M connection strings. A worker that still
 * runs out fails the run with `ERR_BATCH_WORKER_FAILED`, as any worker failure does.
 */
const OLD_GENERATION_MB = 24

const LF = 10
const CR = 13

/**
 * Where a chunk may be cut so that both parts hold whole lines: just after the first line end,
 * or -1 when there is none yet. A `\r` at the very end is not a place to cut: a `\n` may follow.
 */
export function firstCut(chunk: Uint8Array): number {
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk[i]
    if (c === LF) return i + 1
    if (c === CR) {
      if (i + 1 === chunk.length) return -1
      return chunk[i + 1] === LF ? i + 2 : i + 1
    }
  }
  return -1
}

/** Just after the last line end of `chunk`, as {@link firstCut} would cut; -1 when none. */
export function lastCut(chunk: Uint8Array): number {
  for (let i = chunk.length - 1; i >= 0; i--) {
    const c = chunk[i]
    if (c === LF) return i + 1
    if (c === CR && i + 1 < chunk.length) return i + 1 // not followed by '\n', or that was found
  }
  return -1
}

/** How many lines `chunk` ends (`\n`, `\r\n` and a lone `\r` each end one). */
export function countLines(chunk: Buffer): number {
  let lines = 0
  for (let at = chunk.indexOf(LF); at !== -1; at = chunk.indexOf(LF, at + 1)) lines++
  for (let at = chunk.indexOf(CR); at !== -1; at = chunk.indexOf(CR, at + 1))
    if (chunk[at + 1] !== LF) lines++
  return lines
}

/** What the pool reports at the end: the non-blank lines and the failed ones. */
export interface PoolResult {
  lines: number
  failed: number
}

/** Two worker threads signing chunks of one batch; see the module comment. */
export class BatchPool {
  /** The number the next line will have. */
  lineNo: number
  readonly #workers: Array<{ worker: Worker; busy: number }> = []
  /** Replies that arrived ahead of their turn, by chunk number. */
  readonly #ready = new Map<number, WorkerReply>()
  #sent = 0
  #written = 0
  #lines = 0
  #failed = 0
  /** Input not yet sent, in `#carry[0, #carryBytes)`: the start of a line that has not ended. */
  #carry: Buffer & { buffer: ArrayBuffer }
  #carryBytes = 0
  /** Input buffers the workers have handed back. */
  readonly #freeInputs: ArrayBuffer[] = []
  /** Reply buffers written out, each to go back to a worker with a task. */
  readonly #freeReplies: ArrayBuffer[] = []
  /** The first line number of each chunk not yet written. */
  readonly #firstLines = new Map<number, number>()
  #failure: CliError | undefined
  #closing = false
  /** Wakes {@link BatchPool.#wait} when a reply comes in or a worker fails. */
  #wake: (() => void) | undefined

  constructor(recipe: JobRecipe, format: 'json' | 'csv', firstLine: number, workers = 2) {
    this.lineNo = firstLine
    this.#carry = this.#inputBuffer()
    const workerData: WorkerData = {
      sasTokenBatchWorker: { recipe, format, secrets: [...registeredSecrets()] },
    }
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(new URL('./cli.js', import.meta.url), {
        workerData,
        env: { ...process.env, [WORKER_ENV]: '1' },
        // A small young generation: most of a thread's memory otherwise, and it signs no slower.
        // An old generation capped, or it grows with the run (see OLD_GENERATION_MB).
        resourceLimits: {
          maxYoungGenerationSizeMb: YOUNG_GENERATION_MB,
          maxOldGenerationSizeMb: OLD_GENERATION_MB,
        },
      })
      const slot = { worker, busy: 0 }
      worker.on('message', (reply: WorkerReply) => {
        slot.busy--
        this.#freeInputs.push(reply.input)
        this.#ready.set(reply.seq, reply)
        this.#wake?.()
      })
      worker.on('error', (err) => this.#fail(`a worker thread failed: ${err.message}`))
      worker.on('exit', (code) => {
        if (!this.#closing) this.#fail(`a worker thread stopped (exit code ${code})`)
      })
      this.#workers.push(slot)
    }
  }

  /**
   * Takes the next piece of input; sends every whole line it completes, in chunks.
   *
   * @returns `false` when a line has grown past {@link MAX_CARRY_BYTES} without ending: the
   *   caller then ends the pool and reads on with {@link BatchPool.carry} on its own thread.
   */
  async push(piece: Buffer): Promise<boolean> {
    if (stdoutGone.aborted) return true // nobody reads the records: sign no more
    // Copied at once: the caller may reuse `piece` once this returns or waits.
    if (this.#carryBytes + piece.length > this.#carry.length) {
      const bigger = Buffer.from(
        new ArrayBuffer(Math.max(2 * this.#carry.length, this.#carryBytes + piece.length)),
      )
      this.#carry.copy(bigger, 0, 0, this.#carryBytes)
      this.#carry = bigger
    }
    this.#carryBytes += piece.copy(this.#carry, this.#carryBytes)
    if (this.#carryBytes < CHUNK_BYTES) return true
    const chunk = this.#carry
    const length = this.#carryBytes
    const cut = lastCut(chunk.subarray(0, length))
    if (cut < 0) return length <= MAX_CARRY_BYTES
    this.#carry = this.#inputBuffer()
    this.#carryBytes = chunk.copy(this.#carry, 0, cut, length)
    await this.#send(chunk, cut)
    return true
  }

  /** The input held back: the start of a line not yet ended (see {@link BatchPool.push}). */
  carry(): Buffer & { buffer: ArrayBuffer } {
    return this.#takeCarry()
  }

  /** Sends what is left as the last chunk, waits for every record to be written. */
  async end(final = true): Promise<PoolResult> {
    if (final && this.#carryBytes > 0) {
      const rest = this.#takeCarry()
      await this.#send(rest, rest.length)
    }
    while (this.#written < this.#sent && !stdoutGone.aborted) await this.#wait()
    return { lines: this.#lines, failed: this.#failed }
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    this.#closing = true
    await Promise.all(this.#workers.map(({ worker }) => worker.terminate()))
  }

  /** The input held back, in a buffer of its own (the pool's buffer is taken back). */
  #takeCarry(): Buffer & { buffer: ArrayBuffer } {
    const held = Buffer.from(this.#carry.buffer, 0, this.#carryBytes)
    this.#carry = this.#inputBuffer()
    this.#carryBytes = 0
    return held
  }

  /** An input buffer handed back by a worker, or a new one (never a pooled one: it is transferred). */
  #inputBuffer(): Buffer & { buffer: ArrayBuffer } {
    return Buffer.from(this.#freeInputs.pop() ?? new ArrayBuffer(INPUT_BYTES))
  }

  /** Sends `chunk[0, length)` to the less busy worker, once there is room. */
  async #send(chunk: Buffer & { buffer: ArrayBuffer }, length: number): Promise<void> {
    while (this.#sent - this.#written >= IN_FLIGHT) {
      if (stdoutGone.aborted) return
      await this.#wait()
    }
    const slot = this.#workers.reduce((a, b) => (b.busy < a.busy ? b : a))
    const task: WorkerTask = {
      seq: this.#sent++,
      firstLine: this.lineNo,
      buffer: chunk.buffer,
      offset: chunk.byteOffset,
      length,
    }
    const spare = this.#freeReplies.pop()
    if (spare !== undefined) task.spare = spare
    this.#firstLines.set(task.seq, task.firstLine)
    this.lineNo += countLines(chunk.subarray(0, length))
    slot.busy++
    slot.worker.postMessage(task, spare === undefined ? [chunk.buffer] : [chunk.buffer, spare])
    this.#flushReady()
  }

  /** Writes every reply whose turn has come, in order. */
  #flushReady(): void {
    if (this.#failure !== undefined) return
    for (let reply = this.#ready.get(this.#written); reply !== undefined; ) {
      this.#ready.delete(this.#written)
      this.#firstLines.delete(this.#written)
      this.#written++
      this.#lines += reply.lines
      this.#failed += reply.failed
      if (reply.length > 0 && !stdoutGone.aborted) {
        const { buffer } = reply
        // Back to a worker once written (not on an error: the run stops then anyway).
        process.stdout.write(Buffer.from(buffer, 0, reply.length), (err) => {
          if (err == null) this.#freeReplies.push(buffer)
        })
      }
      reply = this.#ready.get(this.#written)
    }
  }

  /** Waits for a reply (writing those whose turn it is) or for stdout to drain; throws on a failure. */
  async #wait(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure
    if (process.stdout.writableNeedDrain && !stdoutGone.aborted) {
      // A reader that goes away (EPIPE) never drains stdout (and process.stdout never reads as
      // destroyed: Node.js keeps it open), so the wait ends on that too. Every listener goes
      // once one fires: a race of once() calls left the losers' listeners behind, one set per
      // wait (MaxListenersExceededWarning on stderr).
      await new Promise<void>((resolve) => {
        let stopListening = (): void => {}
        const done = (): void => {
          process.stdout.off('drain', done)
          stopListening()
          resolve()
        }
        process.stdout.on('drain', done)
        stopListening = onStdoutGone(done)
      })
    } else if (!this.#ready.has(this.#written)) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
      this.#wake = undefined
    }
    if (this.#failure !== undefined) throw this.#failure
    this.#flushReady()
  }

  #fail(reason: string): void {
    this.#failure ??= new CliError(
      'ERR_BATCH_WORKER_FAILED',
      `${reason}; the records before line ${this.#nextUnwritten()} are written, none after. Run the batch again, or with SAS_TOKEN_BATCH_WORKERS=off to sign on one thread.`,
      { line: this.#nextUnwritten() },
    )
    this.#wake?.()
  }

  /** The first line whose record is not out yet. */
  #nextUnwritten(): number {
    return this.#firstLines.get(this.#written) ?? this.lineNo
  }
}
