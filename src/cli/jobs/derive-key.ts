/**
 * The per-line job of `derive-key --batch` (see `batch-records.ts`): the device key of each
 * registration id line. Its own module, so that the command and the batch worker threads build
 * the same job without importing each other.
 *
 * @module
 */
import { deriveDeviceKey } from '../../keys.js'
import type { BatchJob } from '../batch-records.js'

/** The `derive-key --batch` job: one derived device key per registration id line. */
export function deriveKeyJob(groupKey: string): BatchJob {
  return {
    reads: 'registration ids',
    columns: ['registrationId', 'deviceKey'],
    echoInput: true,
    run: (registrationId) => [registrationId, deriveDeviceKey(groupKey, registrationId)],
    recipe: { job: 'derive-key', groupKey },
  }
}
