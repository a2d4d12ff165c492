/**
 * A batch worker thread (see `batch-pool.ts`): it builds the job from its recipe once, then
 * turns each chunk of whole lines it is sent into records, numbered from the chunk's first
 * line, with the same {@link LineRecorder} as the main thread, and transfers them back.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { JobRecipe } from './batch-recipe.js'
import { WORKER_ENV, type WorkerData, type WorkerReply, type WorkerTask } from './batch-messages.js'
import { type BatchJob, LineRecorder, recordChunk, recordsFor } from './batch-records.js'
import { deriveKeyJob } from './jobs/derive-key.js'
import { generateJob } from './jobs/generate.js'
import { registerSecret } from './secrets.js'

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
  // Asked first, so that the main thread's start never loads node:worker_threads (see the bundle).
  if (process.env[WORKER_ENV] !== '1') return undefined
  const data: unknown = workerData
  if (parentPort === null || typeof data !== 'object' || data === null) return undefined
  return (data as Partial<WorkerData>).sasTokenBatchWorker
}

/** Collects one chunk's records as UTF-8 bytes, in a buffer that grows as needed. */
class RecordBuffer {
  buffer: Buffer & { buffer: ArrayBuffer }
  used = 0

  constructor(buffer: ArrayBuffer) {
    this.buffer = Buffer.from(buffer)
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

/** Reply bytes per input byte for the first chunk, before a ratio has been seen. */
const FIRST_RATIO = 16

/** Room to spare in a reply buffer, over the bytes the last chunk's ratio predicts. */
const SLACK_BYTES = 16 << 10

/** Reply buffers in reserve, at most (one comes with each task, one leaves with each reply). */
const MAX_SPARES = 4

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
  /** Reply bytes per input byte in the last chunk: sizes the next reply buffer. */
  let ratio = FIRST_RATIO
  const spares: ArrayBuffer[] = []
  port.on('message', (task: WorkerTask) => {
    if (served++ === exitAfter) process.exit(70)
    if (task.spare !== undefined && spares.length < MAX_SPARES) spares.push(task.spare)
    const want = Math.ceil(task.length * ratio * 1.25) + SLACK_BYTES
    let buffer = spares.pop()
    while (buffer !== undefined && buffer.byteLength < want) buffer = spares.pop()
    const out = new RecordBuffer(buffer ?? new ArrayBuffer(want))
    const recorder = new LineRecorder(job, records, out.write, task.firstLine)
    recordChunk(Buffer.from(task.buffer, task.offset, task.length).toString('utf8'), recorder)
    const reply: WorkerReply = {
      seq: task.seq,
      buffer: out.buffer.buffer,
      length: out.used,
      lines: recorder.lines,
      failed: recorder.failed,
      input: task.buffer,
    }
    if (task.length > 0) ratio = out.used / task.length
    port.postMessage(reply, [out.buffer.buffer, task.buffer])
  })
}
