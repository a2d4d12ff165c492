/**
 * What the main thread and a batch worker thread say to each other (see `batch-pool.ts` and
 * `batch-worker.ts`): the data a worker starts with, a chunk to sign and its records. Its own
 * module, so that the pool, which starts workers, does not import the worker's code.
 *
 * @module
 */
import type { JobRecipe } from './batch-recipe.js'
import type { BatchFormat } from './batch-records.js'

/** What a worker is started with. */
export interface WorkerData {
  sasTokenBatchWorker: { recipe: JobRecipe; format: BatchFormat; secrets: string[] }
}

/**
 * A chunk to sign: `buffer[offset, offset + length)` holds whole lines, from `firstLine` on.
 * `spare`, when set, is a reply buffer the main thread has written out, for the worker to reuse.
 */
export interface WorkerTask {
  seq: number
  firstLine: number
  buffer: ArrayBuffer
  offset: number
  length: number
  spare?: ArrayBuffer
}

/**
 * A chunk's records: `buffer[0, length)`, and how many lines were non-blank and failed. `input`
 * is the task's buffer, handed back for the main thread's next chunks.
 */
export interface WorkerReply {
  seq: number
  buffer: ArrayBuffer
  length: number
  lines: number
  failed: number
  input: ArrayBuffer
}

/**
 * Set in a batch worker's environment. It only says where to look: {@link batchWorkerData}
 * still checks that this is a worker thread started with batch data.
 */
export const WORKER_ENV = 'SAS_TOKEN_BATCH_WORKER_THREAD'
