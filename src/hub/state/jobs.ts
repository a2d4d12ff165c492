/**
 * Jobs (`/jobs/v2`, the SDK's `JobClient`): a twin update (`scheduleUpdateTwin`) or a direct
 * method (`scheduleDeviceMethod`) over the devices a query condition selects, started at its
 * `startTime` (now when absent or past), through the hub's own operations (`updateTwin`,
 * `MethodCalls.invoke`), with the job's status and statistics and each device's result (the
 * `devices.jobs` collection of the query language). Jobs live in memory: a restart forgets them.
 *
 * @module
 */
import { SasTokenError, isSasTokenError } from '../../errors.js'
import { runQuery } from '../query/evaluate.js'
import { parseQuery } from '../query/parser.js'
import type { Query } from '../query/parser.js'
import { queryError } from '../query/query-error.js'
import type { HubService, TwinPatch } from '../service.js'
import type { MethodCalls, MethodInput } from './methods.js'
import { twinDocuments } from './query.js'

/** The job types the SDK schedules. */
export type JobType = 'scheduleUpdateTwin' | 'scheduleDeviceMethod'

/** A job as scheduled (the body of `PUT /jobs/v2/{id}`, checked). */
export interface JobInput {
  type: JobType
  queryCondition: string
  updateTwin?: TwinPatch | null | undefined
  cloudToDeviceMethod?: MethodInput | null | undefined
  startTime?: string | null | undefined
  maxExecutionTimeInSeconds?: number | null | undefined
}

type JobStatus = 'queued' | 'scheduled' | 'running' | 'completed' | 'failed' | 'cancelled'
type DeviceJobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'canceled'

interface DeviceJob {
  deviceId: string
  jobId: string
  jobType: JobType
  status: DeviceJobStatus
  startTimeUtc: string
  endTimeUtc: string
  createdDateTimeUtc: string
  lastUpdatedDateTimeUtc: string
  outcome?: { deviceMethodResponse: { status: number; payload: unknown } }
  error?: { code: string; description: string }
}

interface Job {
  jobId: string
  input: JobInput
  condition: Query
  status: JobStatus
  createdTime: string
  startTime: string
  endTime?: string
  failureReason?: string
  devices: DeviceJob[]
  timer?: NodeJS.Timeout
}

const NEVER = '0001-01-01T00:00:00Z'
const PREFIX = 'SELECT * FROM devices WHERE '

/** The condition as a query over device twins; its errors point into the condition itself. */
function conditionOf(condition: string): Query {
  try {
    return parseQuery(`${PREFIX}${condition}`)
  } catch (err) {
    if (!isSasTokenError(err, 'ERR_HUB_QUERY_INVALID')) throw err
    const position = Number(err.facts.position) - PREFIX.length
    const reason = err.message.replace(/^Query error at position \d+ \([^)]*\): /, '')
    throw queryError(
      Math.max(position - 1, 0),
      String(err.facts.token ?? ''),
      `in the job's queryCondition, ${reason}`,
    )
  }
}

/** The jobs of one hub. */
export class Jobs {
  readonly #jobs = new Map<string, Job>()
  readonly #hub: HubService
  readonly #methods: MethodCalls
  #closed = false

  constructor(hub: HubService, methods: MethodCalls) {
    this.#hub = hub
    this.#methods = methods
  }

  /**
   * Schedules a job.
   *
   * @throws {SasTokenError} `ERR_HUB_CONFLICT` (the id is taken), `ERR_HUB_BAD_REQUEST` (no
   *   method or patch for its type, a bad start time), `ERR_HUB_QUERY_INVALID` (the condition).
   */
  schedule(jobId: string, input: JobInput): Record<string, unknown> {
    if (this.#closed)
      throw new SasTokenError('ERR_HUB_CLOSED', 'The hub is closing: it schedules no more jobs.')
    if (this.#jobs.has(jobId)) throw new SasTokenError('ERR_HUB_CONFLICT', `Job ${jobId} exists already.`)
    if (input.type === 'scheduleDeviceMethod' && !input.cloudToDeviceMethod)
      throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'A scheduleDeviceMethod job needs cloudToDeviceMethod.')
    if (input.type === 'scheduleUpdateTwin' && !input.updateTwin)
      throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'A scheduleUpdateTwin job needs updateTwin.')
    const now = this.#hub.now()
    const start = input.startTime ? Date.parse(input.startTime) : now
    if (Number.isNaN(start))
      throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'startTime must be an ISO 8601 time.')
    const job: Job = {
      jobId,
      input,
      condition: conditionOf(input.queryCondition),
      status: start > now ? 'scheduled' : 'queued',
      createdTime: new Date(now).toISOString(),
      startTime: new Date(Math.max(start, now)).toISOString(),
      devices: [],
    }
    this.#jobs.set(jobId, job)
    job.timer = setTimeout(() => void this.#run(job), Math.min(Math.max(start - now, 0), 2 ** 31 - 1))
    job.timer.unref()
    return this.#json(job)
  }

  /**
   * A job's status.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  get(jobId: string): Record<string, unknown> {
    return this.#json(this.#require(jobId))
  }

  /**
   * Cancels a job that has not ended.
   *
   * @throws {SasTokenError} `ERR_HUB_NOT_FOUND`.
   */
  cancel(jobId: string): Record<string, unknown> {
    const job = this.#require(jobId)
    if (job.status === 'queued' || job.status === 'scheduled' || job.status === 'running') {
      clearTimeout(job.timer)
      job.status = 'cancelled'
      job.endTime = new Date(this.#hub.now()).toISOString()
      for (const d of job.devices) if (d.status === 'pending') d.status = 'canceled'
    }
    return this.#json(job)
  }

  /** Every job, optionally of one type and status (`GET /jobs/v2/query`). */
  list(type?: string, status?: string): Record<string, unknown>[] {
    return [...this.#jobs.values()]
      .filter(
        (j) => (type === undefined || j.input.type === type) && (status === undefined || j.status === status),
      )
      .map((j) => this.#json(j))
  }

  /** Each device's part in each job: the `devices.jobs` collection. */
  deviceJobs(): Record<string, unknown>[] {
    return [...this.#jobs.values()].flatMap((j) => j.devices.map((d) => ({ ...d })))
  }

  /** Stops every job that has not started, and starts none (hub close). */
  close(): void {
    this.#closed = true
    for (const job of this.#jobs.values()) clearTimeout(job.timer)
  }

  #require(jobId: string): Job {
    const job = this.#jobs.get(jobId)
    if (job === undefined) throw new SasTokenError('ERR_HUB_NOT_FOUND', `Job ${jobId} does not exist.`)
    return job
  }

  async #run(job: Job): Promise<void> {
    if (job.status === 'cancelled' || this.#closed) return
    job.status = 'running'
    try {
      await this.#runAll(job)
    } catch (err) {
      job.status = 'failed'
      job.failureReason = isSasTokenError(err) ? err.message : 'The job could not run.'
      job.endTime = new Date(this.#hub.now()).toISOString()
    }
  }

  async #runAll(job: Job): Promise<void> {
    const started = new Date(this.#hub.now()).toISOString()
    const targets = runQuery(job.condition, twinDocuments(this.#hub, 'devices')).rows.map((t) =>
      String((t as { deviceId: unknown }).deviceId),
    )
    job.devices = targets.map((deviceId) => ({
      deviceId,
      jobId: job.jobId,
      jobType: job.input.type,
      status: 'pending',
      startTimeUtc: started,
      endTimeUtc: NEVER,
      createdDateTimeUtc: job.createdTime,
      lastUpdatedDateTimeUtc: started,
    }))
    await Promise.all(job.devices.map((d) => this.#runOn(job, d)))
    if (job.status !== 'running') return
    job.status = 'completed'
    job.endTime = new Date(this.#hub.now()).toISOString()
  }

  async #runOn(job: Job, d: DeviceJob): Promise<void> {
    if (job.status !== 'running') return
    d.status = 'running'
    try {
      const method = job.input.cloudToDeviceMethod
      if (job.input.type === 'scheduleDeviceMethod' && method) {
        d.outcome = { deviceMethodResponse: await this.#methods.invoke(d.deviceId, undefined, method) }
      } else {
        const patch = job.input.updateTwin ?? {}
        this.#hub.updateTwin(d.deviceId, undefined, { tags: patch.tags, properties: patch.properties })
      }
      d.status = 'completed'
    } catch (err) {
      d.status = 'failed'
      d.error = {
        code: isSasTokenError(err) ? err.code : 'ERR_HUB_INTERNAL',
        description: isSasTokenError(err) ? err.message : 'The job could not run on this device.',
      }
    }
    const now = new Date(this.#hub.now()).toISOString()
    d.endTimeUtc = now
    d.lastUpdatedDateTimeUtc = now
  }

  #json(job: Job): Record<string, unknown> {
    const count = (s: DeviceJobStatus): number => job.devices.filter((d) => d.status === s).length
    return {
      jobId: job.jobId,
      queryCondition: job.input.queryCondition,
      createdTime: job.createdTime,
      startTime: job.startTime,
      endTime: job.endTime ?? NEVER,
      maxExecutionTimeInSeconds: job.input.maxExecutionTimeInSeconds ?? 3600,
      type: job.input.type,
      ...(job.input.cloudToDeviceMethod ? { cloudToDeviceMethod: job.input.cloudToDeviceMethod } : {}),
      ...(job.input.updateTwin ? { updateTwin: job.input.updateTwin } : {}),
      status: job.status,
      ...(job.failureReason === undefined ? {} : { failureReason: job.failureReason }),
      deviceJobStatistics: {
        deviceCount: job.devices.length,
        failedCount: count('failed'),
        succeededCount: count('completed'),
        runningCount: count('running'),
        pendingCount: count('pending'),
      },
    }
  }
}
