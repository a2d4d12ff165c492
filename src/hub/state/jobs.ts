/**
 * Jobs (`/jobs/v2`, the SDK's `JobClient`): a twin update (`scheduleUpdateTwin`) or a direct
 * method (`scheduleDeviceMethod`) over the devices a query condition selects, started at its
 * `startTime` (now when absent or past), through the hub's own operations (`updateTwin`,
 * `MethodCalls.invoke`), with the job's status and statistics and each device's result (the
 * `devices.jobs` collection of the query language).
 *
 * Jobs are kept in the state (`state.jobs`), as IoT Hub keeps a job's history: after a restart a
 * job is listed with its results, and one scheduled for later still runs at its time. A job
 * that was running when the hub stopped is not resumed (a direct method is never called twice):
 * it is `failed`, and so are its devices that had not finished. A job that ended more than
 * {@link JOB_HISTORY_DAYS} days ago is forgotten at start.
 *
 * @module
 */
import { SasTokenError, isSasTokenError } from '../../errors.js'
import { runQuery } from '../query/evaluate.js'
import { page, pageSize, pageStart } from '../query/paging.js'
import { parseQuery } from '../query/parser.js'
import type { Query } from '../query/parser.js'
import { queryError } from '../query/query-error.js'
import type { HubService, TwinPatch } from '../service.js'
import { idTable } from './id-table.js'
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

/** A job's status, as IoT Hub names it. */
export type JobStatus = 'queued' | 'scheduled' | 'running' | 'completed' | 'failed' | 'cancelled'

/** A device's part in a job, as IoT Hub names it. */
export type DeviceJobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'canceled'

/** One device's part in one job: a row of `devices.jobs`. */
export interface DeviceJob {
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

/** A job as the state keeps it (plain JSON: what was asked, how it went, each device's part). */
export interface StoredJob {
  jobId: string
  type: JobType
  queryCondition: string
  updateTwin?: { tags?: Record<string, unknown>; properties?: { desired?: Record<string, unknown> } }
  cloudToDeviceMethod?: {
    methodName: string
    payload?: unknown
    responseTimeoutInSeconds?: number
    connectTimeoutInSeconds?: number
  }
  maxExecutionTimeInSeconds?: number
  status: JobStatus
  createdTime: string
  startTime: string
  endTime?: string
  failureReason?: string
  devices: DeviceJob[]
}

/** How long an ended job is kept, in days (IoT Hub keeps a job's history 30 days). */
export const JOB_HISTORY_DAYS = 30

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

/** The part of a checked body the job keeps (the body's other members are not IoT Hub's). */
function stored(jobId: string, input: JobInput): Omit<StoredJob, 'status' | 'createdTime' | 'startTime'> {
  const job: Omit<StoredJob, 'status' | 'createdTime' | 'startTime'> = {
    jobId,
    type: input.type,
    queryCondition: input.queryCondition,
    devices: [],
  }
  const twin = input.updateTwin
  if (input.type === 'scheduleUpdateTwin' && twin) {
    job.updateTwin = {}
    if (twin.tags) job.updateTwin.tags = twin.tags
    if (twin.properties?.desired) job.updateTwin.properties = { desired: twin.properties.desired }
  }
  const method = input.cloudToDeviceMethod
  if (input.type === 'scheduleDeviceMethod' && method) {
    job.cloudToDeviceMethod = { methodName: method.methodName }
    if (method.payload !== undefined) job.cloudToDeviceMethod.payload = method.payload
    if (method.responseTimeoutInSeconds !== undefined)
      job.cloudToDeviceMethod.responseTimeoutInSeconds = method.responseTimeoutInSeconds
    if (method.connectTimeoutInSeconds !== undefined)
      job.cloudToDeviceMethod.connectTimeoutInSeconds = method.connectTimeoutInSeconds
  }
  if (typeof input.maxExecutionTimeInSeconds === 'number')
    job.maxExecutionTimeInSeconds = input.maxExecutionTimeInSeconds
  return job
}

/** The jobs of one hub, kept in its state. */
export class Jobs {
  readonly #hub: HubService
  readonly #methods: MethodCalls
  /** The timer of each job waiting for its start time. */
  readonly #timers = new Map<string, NodeJS.Timeout>()
  #closed = false

  /**
   * Takes the jobs of the hub's state: forgets those that ended more than
   * {@link JOB_HISTORY_DAYS} days ago, fails those a stop interrupted, and arms the others.
   */
  constructor(hub: HubService, methods: MethodCalls) {
    this.#hub = hub
    this.#methods = methods
    const now = hub.now()
    const jobs = this.#jobs()
    for (const job of Object.values(jobs)) {
      const ended = job.endTime === undefined ? Number.NaN : Date.parse(job.endTime)
      if (now - ended > JOB_HISTORY_DAYS * 86_400_000) {
        delete jobs[job.jobId]
        hub.store.changed()
      } else if (job.status === 'running') this.#interrupted(job)
      else if (job.status === 'queued' || job.status === 'scheduled') this.#arm(job)
    }
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
    const jobs = this.#jobs()
    if (Object.hasOwn(jobs, jobId))
      throw new SasTokenError('ERR_HUB_CONFLICT', `Job ${jobId} exists already.`)
    if (input.type === 'scheduleDeviceMethod' && !input.cloudToDeviceMethod)
      throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'A scheduleDeviceMethod job needs cloudToDeviceMethod.')
    if (input.type === 'scheduleUpdateTwin' && !input.updateTwin)
      throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'A scheduleUpdateTwin job needs updateTwin.')
    const now = this.#hub.now()
    const start = input.startTime ? Date.parse(input.startTime) : now
    if (Number.isNaN(start))
      throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'startTime must be an ISO 8601 time.')
    conditionOf(input.queryCondition)
    const job: StoredJob = {
      ...stored(jobId, input),
      status: start > now ? 'scheduled' : 'queued',
      createdTime: new Date(now).toISOString(),
      startTime: new Date(Math.max(start, now)).toISOString(),
    }
    jobs[jobId] = job
    this.#hub.store.changed()
    this.#arm(job)
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
      clearTimeout(this.#timers.get(jobId))
      this.#timers.delete(jobId)
      job.status = 'cancelled'
      job.endTime = new Date(this.#hub.now()).toISOString()
      for (const d of job.devices) if (d.status === 'pending') d.status = 'canceled'
      this.#hub.store.changed()
    }
    return this.#json(job)
  }

  /**
   * One page of the jobs, optionally of one type and status (`GET /jobs/v2/query`, the SDK's
   * `JobClient.createQuery`), in the order they were scheduled.
   *
   * @param paging The `x-ms-continuation` and `x-ms-max-item-count` headers, if any.
   * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` for a bad paging header.
   */
  list(
    type?: string,
    status?: string,
    paging: { continuation?: string | undefined; maxItemCount?: string | undefined } = {},
  ): { items: Record<string, unknown>[]; continuation: string | undefined } {
    const rows = Object.values(this.#jobs())
      .filter((j) => (type === undefined || j.type === type) && (status === undefined || j.status === status))
      .map((j) => this.#json(j))
    return page(rows, pageStart(paging.continuation), pageSize(paging.maxItemCount))
  }

  /** Each device's part in each job: the `devices.jobs` collection. */
  deviceJobs(): Record<string, unknown>[] {
    return Object.values(this.#jobs()).flatMap((j) => j.devices.map((d) => ({ ...d })))
  }

  /**
   * Stops every job that has not started (it runs after a restart) and starts none; a running
   * job is failed, as a restart would find it (hub close).
   */
  close(): void {
    this.#closed = true
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    for (const job of Object.values(this.#jobs())) if (job.status === 'running') this.#interrupted(job)
  }

  /** The state's jobs table (made when the state has none: a file written before jobs were kept). */
  #jobs(): Record<string, StoredJob> {
    const state = this.#hub.state
    state.jobs ??= idTable()
    return state.jobs
  }

  #require(jobId: string): StoredJob {
    const jobs = this.#jobs()
    const job = Object.hasOwn(jobs, jobId) ? jobs[jobId] : undefined
    if (job === undefined) throw new SasTokenError('ERR_HUB_NOT_FOUND', `Job ${jobId} does not exist.`)
    return job
  }

  #arm(job: StoredJob): void {
    const delay = Date.parse(job.startTime) - this.#hub.now()
    const timer = setTimeout(
      () => {
        this.#timers.delete(job.jobId)
        void this.#run(job)
      },
      Math.min(Math.max(Number.isNaN(delay) ? 0 : delay, 0), 2 ** 31 - 1),
    )
    timer.unref()
    this.#timers.set(job.jobId, timer)
  }

  /** A job the hub stopped while it ran (at close, or found so at start): failed, and its unfinished devices. */
  #interrupted(job: StoredJob): void {
    const now = new Date(this.#hub.now()).toISOString()
    job.status = 'failed'
    job.failureReason =
      'The hub stopped while the job ran; it was not resumed (a direct method is never called twice).'
    job.endTime = now
    for (const d of job.devices) {
      if (d.status !== 'pending' && d.status !== 'running') continue
      d.status = 'failed'
      d.error = { code: 'ERR_HUB_CLOSED', description: 'The hub stopped before this device was done.' }
      d.endTimeUtc = now
      d.lastUpdatedDateTimeUtc = now
    }
    this.#hub.store.changed()
  }

  async #run(job: StoredJob): Promise<void> {
    if (job.status === 'cancelled' || this.#closed) return
    job.status = 'running'
    this.#hub.store.changed()
    try {
      await this.#runAll(job)
    } catch (err) {
      job.status = 'failed'
      job.failureReason = isSasTokenError(err) ? err.message : 'The job could not run.'
      job.endTime = new Date(this.#hub.now()).toISOString()
    }
    this.#hub.store.changed()
  }

  async #runAll(job: StoredJob): Promise<void> {
    const started = new Date(this.#hub.now()).toISOString()
    const condition = conditionOf(job.queryCondition)
    const targets = runQuery(condition, twinDocuments(this.#hub, 'devices')).rows.map((t) =>
      String((t as { deviceId: unknown }).deviceId),
    )
    job.devices = targets.map((deviceId) => ({
      deviceId,
      jobId: job.jobId,
      jobType: job.type,
      status: 'pending',
      startTimeUtc: started,
      endTimeUtc: NEVER,
      createdDateTimeUtc: job.createdTime,
      lastUpdatedDateTimeUtc: started,
    }))
    this.#hub.store.changed()
    await Promise.all(job.devices.map((d) => this.#runOn(job, d)))
    if (job.status !== 'running') return
    job.status = 'completed'
    job.endTime = new Date(this.#hub.now()).toISOString()
  }

  async #runOn(job: StoredJob, d: DeviceJob): Promise<void> {
    if (job.status !== 'running') return
    d.status = 'running'
    try {
      const method = job.cloudToDeviceMethod
      if (job.type === 'scheduleDeviceMethod' && method) {
        d.outcome = { deviceMethodResponse: await this.#methods.invoke(d.deviceId, undefined, method) }
      } else {
        const patch = job.updateTwin ?? {}
        this.#hub.updateTwin(d.deviceId, undefined, { tags: patch.tags, properties: patch.properties })
      }
      if (this.#closed) return
      d.status = 'completed'
    } catch (err) {
      // the hub closed meanwhile: the device's row was failed then (the call ended with the hub)
      if (this.#closed) return
      d.status = 'failed'
      d.error = {
        code: isSasTokenError(err) ? err.code : 'ERR_HUB_INTERNAL',
        description: isSasTokenError(err) ? err.message : 'The job could not run on this device.',
      }
    }
    const now = new Date(this.#hub.now()).toISOString()
    d.endTimeUtc = now
    d.lastUpdatedDateTimeUtc = now
    this.#hub.store.changed()
  }

  #json(job: StoredJob): Record<string, unknown> {
    const count = (s: DeviceJobStatus): number => job.devices.filter((d) => d.status === s).length
    return {
      jobId: job.jobId,
      queryCondition: job.queryCondition,
      createdTime: job.createdTime,
      startTime: job.startTime,
      endTime: job.endTime ?? NEVER,
      maxExecutionTimeInSeconds: job.maxExecutionTimeInSeconds ?? 3600,
      type: job.type,
      ...(job.cloudToDeviceMethod ? { cloudToDeviceMethod: job.cloudToDeviceMethod } : {}),
      ...(job.updateTwin ? { updateTwin: job.updateTwin } : {}),
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
