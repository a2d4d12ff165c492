/**
 * How a worker thread builds the same batch job as the main thread: the job's name and its
 * inputs, all plain data that `postMessage` can copy. Each command that has a batch job makes
 * its recipe; `batch-worker.ts` turns a recipe back into the job.
 *
 * @module
 */
import type { SigningIdentity } from './identity-options.js'
import type { ExpiryRequest } from './signer.js'

/** A batch job, as data. */
export type JobRecipe =
  | { job: 'generate'; identity: SigningIdentity | undefined; expiry: ExpiryRequest }
  | { job: 'derive-key'; groupKey: string }
