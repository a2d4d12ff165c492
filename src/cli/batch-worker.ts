/**
 * A batch worker thread (see `batch-pool.ts`): it builds the job from its recipe once, then
 * turns each chunk of whole lines it is sent into records, numbered from the chunk's first
 * line, with the same {@link LineRecorder} as the main thread, and transfers them back.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { LineRecorder, recordChunk, recordsFor, type BatchFormat, type BatchJob } from './batch.js'
import type { JobRecipe } from './batch-recipe.js'
import { deriveKeyJob } from './commands/derive-key.js'
import { generateJob } from './commands/generate.js'
import { registerSecret } from './secrets.js'

/** What a worker is started with. */
export interface WorkerData {
  sasTokenBatchWorker: { recipe: JobRecipe; format: BatchFormat; secrets: string[] }
}

/** A chunk to sign: `buffer[offset, offset + length)` holds whole lines, from `firstLine` on. */
export interface WorkerTask {
  seq: number
  firstLine: number
  buffer: ArrayBuffer
  offset: number
  length: number
}

/** A chunk's records: `buffer[0, length)`, and how many lines were non-blank and failed. */
export interface WorkerReply {
  seq: number
  buffer: ArrayBuffer
  length: number
  lines: number
  failed: number
}

/** The job a recipe stands for. */
function jobFrom(recipe: JobRecipe): BatchJob {
  switch (recipe.job) {
    case 'generate':
      return generateJob(recipe.identity, recipe.expiry)
    case 'derive-key':
      return deriveKeyJob(recipe.groupKey)
  }
}

/** The data this thread was started with, when it is a batch worker. */
export function batchWorkerData(): WorkerData['sasTokenBatchWorker'] | undefined {
  const data: unknown = workerData
  if (parentPort === null || typeof data !== 'object' || data === null) return undefined
  return (data as Partial<WorkerData>).sasTokenBatchWorker
}

/** Collects one chunk's records as UTF-8 bytes, in a buffer that grows as needed. */
class RecordBuffer {
  buffer: Buffer & { buffer: ArrayBuffer }
  used = 0

  constructor(size: number) {
    this.buffer = Buffer.from(new ArrayBuffer(size))
  }

  readonly write = (record: string): void => {
    if (this.used + record.length * 3 > this.buffer.length) {
      const bigger = Buffer.from(
        new ArrayBuffer(Math.max(this.buffer.length * 2, this.used + record.length * 3)),
      )
      this.buffer.copy(bigger, 0, 0, this.used)
      this.buffer = bigger
    }
    this.used += this.buffer.write(record, this.used)
  }
}

/**
 * Serves chunks until the main thread ends the thread. `SAS_TOKEN_BATCH_WORKER_EXIT_AFTER=n`
 * (for the tests only) makes the thread exit after n chunks, as a crash would.
 */
export function runBatchWorker(data: WorkerData['sasTokenBatchWorker']): void {
  const port = parentPort
  if (port === null) return
  for (const secret of data.secrets) registerSecret(secret)
  const job = jobFrom(data.recipe)
  const records = recordsFor(data.format, job.columns)
  const exitAfter = Number(process.env.SAS_TOKEN_BATCH_WORKER_EXIT_AFTER ?? Number.NaN)
  let served = 0
  port.on('message', (task: WorkerTask) => {
    if (served++ === exitAfter) process.exit(70)
    const out = new RecordBuffer(Math.max(64 << 10, task.length * 24))
    const recorder = new LineRecorder(job, records, out.write, task.firstLine)
    recordChunk(Buffer.from(task.buffer, task.offset, task.length).toString('utf8'), recorder)
    const reply: WorkerReply = {
      seq: task.seq,
      buffer: out.buffer.buffer,
      length: out.used,
      lines: recorder.lines,
      failed: recorder.failed,
    }
    port.postMessage(reply, [out.buffer.buffer])
  })
}
