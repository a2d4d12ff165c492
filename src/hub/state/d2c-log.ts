/**
 * The owner of the device-to-cloud log: every message a device or module sent, whatever the
 * transport, in the order the hub took it, as the Event Hub-compatible endpoint serves it.
 *
 * - **Partitions**: 4 unless told (`partitions`, 1 to 128). A device's messages, and its
 *   modules', always go to one partition: the first 4 bytes of SHA-256 over the device id's
 *   UTF-8 bytes, big-endian, modulo the partition count ({@link partitionOf}); the device id is
 *   the message's partition key (`x-opt-partition-key`).
 * - **Positions**, per partition: sequence numbers from 0, one per message; the offset is the
 *   message's byte position in the partition's log (the bytes of every message before it, as
 *   written), as a decimal string, like Event Hubs' offsets; the enqueued time, epoch ms.
 *   Neither ever goes back, across restarts too.
 * - **Retention**: a message is kept while its partition holds at most `maxMessages` (default
 *   10 000) newer ones, at most `maxBytes` (default 64 MiB) of them, and it is younger than
 *   `maxAgeSeconds` (default 1 day); older ones are dropped from the head, as Event Hubs does.
 * - **On disk** (with a state directory): `d2c/{partition}/{sequence}-{offset}.ndjson`
 *   segments, one JSON line per message, appended (never rewritten): the messages of one tick,
 *   and those that come while a write is in flight, go into one write and one `fdatasync` per
 *   partition (group commit), {@link D2cLog.committed} is the promise of that write. A segment is
 *   rolled at an eighth of the count bound and removed when all its messages are out of
 *   retention; a line cut short by a crash is dropped at start. A write that fails (a full disk)
 *   is told once as a warning and retried; the messages stay readable meanwhile. In memory
 *   nothing is written.
 * - **Consumer groups**: `$Default` and those configured; any other is refused.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, rm, stat, truncate } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { SasTokenError } from '../../errors.js'
import { positiveInteger } from '../option-checks.js'
import { stateCorrupt } from './state-schema.js'

/** How long the log keeps messages, per partition. */
export interface D2cRetention {
  /** Messages kept per partition; default 10 000. */
  maxMessages?: number
  /** Bytes of messages (as written) kept per partition; default 64 MiB. */
  maxBytes?: number
  /** How long a message is kept, seconds; default 86 400 (1 day). */
  maxAgeSeconds?: number
}

/** Options of the log (`startHub({ partitions, consumerGroups, retention })`). */
export interface D2cLogOptions {
  /** Partitions, 1 to 128; default 4. */
  partitions?: number
  /** Consumer groups besides `$Default`. */
  consumerGroups?: string[]
  /** Retention bounds. */
  retention?: D2cRetention
}

/** One message in the log. */
export interface D2cRecord {
  /** Its partition. */
  partition: number
  /** Its sequence number in the partition (from 0). */
  sequenceNumber: number
  /** Its byte position in the partition's log, decimal. */
  offset: string
  /** When the hub took it, epoch ms. */
  enqueuedTime: number
  /** The device id: the partition key. */
  partitionKey: string
  /** The payload, as sent. */
  body: Buffer
  /** The application properties (a bare name is `null`). */
  properties: Record<string, string | null>
  /**
   * The system properties: the message's own (`messageId`, `correlationId`, `userId`, `to`,
   * `contentType`, `contentEncoding`, `expiryTimeUtc`, …) and IoT Hub's `iothub-*` annotations.
   */
  systemProperties: Record<string, string>
}

/** What {@link D2cLog.append} takes: a message without its position. */
export type D2cInput = Omit<D2cRecord, 'partition' | 'sequenceNumber' | 'offset'>

/** A partition's runtime information, as Event Hubs' `$management` answers it. */
export interface D2cPartitionInfo {
  /** The first sequence number kept (the next one when empty). */
  beginningSequenceNumber: number
  /** The last sequence number given, or -1 before the first message. */
  lastEnqueuedSequenceNumber: number
  /** The last message's offset, or `'-1'` before the first message. */
  lastEnqueuedOffset: string
  /** When the last message was taken, epoch ms, or 0 before the first message. */
  lastEnqueuedTime: number
  /** Whether no message is kept. */
  isEmpty: boolean
}

/** Where a reader starts, as Event Hubs' start positions say. */
export type D2cPosition =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offset'; offset: string; inclusive: boolean }
  | { kind: 'sequence'; sequenceNumber: number; inclusive: boolean }
  | { kind: 'enqueued'; time: number }

/** The default partition count (IoT Hub's). */
export const DEFAULT_PARTITIONS = 4
/** The most partitions the log takes (IoT Hub's). */
export const MAX_PARTITIONS = 128
/** The default retention. */
export const DEFAULT_RETENTION: Required<D2cRetention> = {
  maxMessages: 10_000,
  maxBytes: 64 * 1024 * 1024,
  maxAgeSeconds: 86_400,
}
/** The consumer group every Event Hub has. */
export const DEFAULT_CONSUMER_GROUP = '$Default'
/** The log's directory in the state directory. */
export const D2C_DIR = 'd2c'

const CONSUMER_GROUP = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$/

/**
 * The partition of a device's messages: SHA-256 of its id, first 4 bytes big-endian, modulo
 * `partitions`.
 */
export function partitionOf(deviceId: string, partitions: number): number {
  return createHash('sha256').update(deviceId, 'utf8').digest().readUInt32BE(0) % partitions
}

/**
 * Checks the log's options.
 *
 * @throws {SasTokenError} `ERR_INVALID_OPTION` naming the option.
 */
export function checkD2cOptions(o: D2cLogOptions): {
  partitions: number
  consumerGroups: string[]
  retention: Required<D2cRetention>
} {
  const partitions = positiveInteger(o.partitions, DEFAULT_PARTITIONS, 'partitions')
  if (partitions > MAX_PARTITIONS)
    throw new SasTokenError(
      'ERR_INVALID_OPTION',
      `partitions must be ${MAX_PARTITIONS} or fewer (IoT Hub's bound); got ${partitions}.`,
    )
  const groups = [DEFAULT_CONSUMER_GROUP]
  for (const name of o.consumerGroups ?? []) {
    if (!CONSUMER_GROUP.test(name))
      throw new SasTokenError(
        'ERR_INVALID_OPTION',
        `consumer group ${JSON.stringify(name)}: 1 to 50 letters, digits, periods, hyphens and underscores, starting and ending with a letter or digit (Event Hubs' rule).`,
      )
    if (!groups.some((g) => g.toLowerCase() === name.toLowerCase())) groups.push(name)
  }
  const r = o.retention ?? {}
  return {
    partitions,
    consumerGroups: groups,
    retention: {
      maxMessages: positiveInteger(r.maxMessages, DEFAULT_RETENTION.maxMessages, 'retention.maxMessages'),
      maxBytes: positiveInteger(r.maxBytes, DEFAULT_RETENTION.maxBytes, 'retention.maxBytes'),
      maxAgeSeconds: positiveInteger(
        r.maxAgeSeconds,
        DEFAULT_RETENTION.maxAgeSeconds,
        'retention.maxAgeSeconds',
      ),
    },
  }
}

/** A message with the size of its line: what a partition holds. */
interface Kept {
  record: D2cRecord
  bytes: number
}

/** One segment file of a partition. */
interface Segment {
  file: string
  firstSequence: number
  /** The last sequence number in it, or `firstSequence - 1` when empty. */
  lastSequence: number
  count: number
}

/** A line as written: short names, the body in base64. */
interface Line {
  s: number
  o: number
  t: number
  k: string
  b: string
  p: Record<string, string | null>
  y: Record<string, string>
}

function lineOf(r: D2cRecord): string {
  const line: Line = {
    s: r.sequenceNumber,
    o: Number(r.offset),
    t: r.enqueuedTime,
    k: r.partitionKey,
    b: r.body.toString('base64'),
    p: r.properties,
    y: r.systemProperties,
  }
  return `${JSON.stringify(line)}\n`
}

const isStringMap = (v: unknown, nulls: boolean): boolean =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  Object.values(v).every((x) => typeof x === 'string' || (nulls && x === null))

function recordOf(text: string, partition: number): D2cRecord | undefined {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (v === null || typeof v !== 'object') return undefined
  const l = v as Partial<Line>
  if (
    !Number.isSafeInteger(l.s) ||
    !Number.isSafeInteger(l.o) ||
    typeof l.t !== 'number' ||
    typeof l.k !== 'string' ||
    typeof l.b !== 'string' ||
    !isStringMap(l.p, true) ||
    !isStringMap(l.y, false)
  )
    return undefined
  return {
    partition,
    sequenceNumber: l.s as number,
    offset: String(l.o),
    enqueuedTime: l.t,
    partitionKey: l.k,
    body: Buffer.from(l.b, 'base64'),
    properties: l.p as Record<string, string | null>,
    systemProperties: l.y as Record<string, string>,
  }
}

/** One partition: its messages in memory, its segments on disk, its readers. */
class Partition {
  readonly id: number
  readonly dir: string | undefined
  /** The kept messages, oldest first, from `head`. */
  kept: Kept[] = []
  head = 0
  bytes = 0
  nextSequence = 0
  nextOffset = 0
  lastOffset = '-1'
  lastTime = 0
  segments: Segment[] = []
  /** Lines not yet written, in order. */
  pending: string[] = []
  pendingRecords: number[] = []
  handle: FileHandle | undefined
  readonly readers = new Set<(r: D2cRecord) => void>()

  constructor(id: number, dir: string | undefined) {
    this.id = id
    this.dir = dir
  }

  get size(): number {
    return this.kept.length - this.head
  }

  first(): D2cRecord | undefined {
    return this.kept[this.head]?.record
  }

  /** The index in `kept` of the first message with a sequence number ≥ `sequence`. */
  indexOf(sequence: number): number {
    const first = this.first()
    if (first === undefined) return this.kept.length
    return Math.min(this.kept.length, this.head + Math.max(0, sequence - first.sequenceNumber))
  }

  /** The index of the first message for which `after` holds (they are ordered by it). */
  search(after: (r: D2cRecord) => boolean): number {
    let lo = this.head
    let hi = this.kept.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const kept = this.kept[mid]
      if (kept !== undefined && after(kept.record)) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** Drops messages from the head over the bounds; compacts the array now and then. */
  evict(retention: Required<D2cRetention>, now: number): void {
    const oldest = now - retention.maxAgeSeconds * 1000
    while (this.size > 0) {
      const kept = this.kept[this.head]
      if (kept === undefined) break
      const over =
        this.size > retention.maxMessages ||
        this.bytes > retention.maxBytes ||
        kept.record.enqueuedTime < oldest
      if (!over) break
      this.bytes -= kept.bytes
      this.head += 1
    }
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head)
      this.head = 0
    }
  }

  /** The segments whose messages are all out of retention (never the one written to). */
  expiredSegments(): Segment[] {
    const begin = this.first()?.sequenceNumber ?? this.nextSequence
    const gone: Segment[] = []
    while (this.segments.length > 1) {
      const segment = this.segments[0]
      if (segment === undefined || segment.lastSequence >= begin) break
      gone.push(segment)
      this.segments.shift()
    }
    return gone
  }
}

const segmentName = (sequence: number, offset: number): string => `${sequence}-${offset}.ndjson`
const SEGMENT = /^(\d+)-(\d+)\.ndjson$/

function ioError(file: string, cause: unknown, what: string): SasTokenError {
  return Object.assign(
    new SasTokenError('ERR_HUB_STATE_IO', `Could not ${what} ${file}: ${(cause as Error).message}.`, {
      cause,
    }),
    { file },
  )
}

/** The partitioned device-to-cloud log (see the module's description). */
export class D2cLog {
  /** The partition count. */
  readonly partitionCount: number
  /** The consumer groups: `$Default` first. */
  readonly consumerGroups: readonly string[]
  /** The retention bounds. */
  readonly retention: Required<D2cRetention>
  /** The log's directory, or `undefined` in memory. */
  readonly dir: string | undefined
  /** When the log was made, epoch ms (its directory's birth; in memory, when it was opened). */
  createdAt: number
  readonly #partitions: Partition[]
  /** The partition of each device seen (a hash per message costs more than the rest of an append). */
  readonly #partitionOf = new Map<string, number>()
  readonly #now: () => number
  readonly #warn: (message: string) => void
  #scheduled = false
  #inflight: Promise<void> | undefined
  #next: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined
  #failing = false
  #retry: NodeJS.Timeout | undefined
  readonly #sweep: NodeJS.Timeout
  #closed = false

  private constructor(
    o: ReturnType<typeof checkD2cOptions>,
    dir: string | undefined,
    now: () => number,
    warn: (message: string) => void,
  ) {
    this.partitionCount = o.partitions
    this.consumerGroups = o.consumerGroups
    this.retention = o.retention
    this.dir = dir
    this.createdAt = now()
    this.#now = now
    this.#warn = warn
    this.#partitions = Array.from(
      { length: o.partitions },
      (_, i) => new Partition(i, dir === undefined ? undefined : join(dir, String(i))),
    )
    // the age bound holds on an idle hub too
    const every = Math.min(60_000, Math.max(1000, (o.retention.maxAgeSeconds * 1000) / 10))
    this.#sweep = setInterval(() => this.#evictAll(), every)
    this.#sweep.unref()
  }

  /**
   * Opens the log kept in `stateDir` (its `d2c/` directory, made when missing), or an empty one
   * in memory. Messages out of retention are dropped; a last line cut short by a crash is cut off.
   *
   * @param warn Told when a write fails (once until one succeeds again).
   * @throws {SasTokenError} `ERR_INVALID_OPTION` (an option), `ERR_HUB_STATE_IO` (the directory
   *   cannot be read or made), `ERR_HUB_STATE_CORRUPT` (a line that is no message, not the last;
   *   the partition count differs from the one the log was written with).
   */
  static async open(
    stateDir: string | undefined,
    options: D2cLogOptions,
    now: () => number,
    warn: (message: string) => void,
  ): Promise<D2cLog> {
    const checked = checkD2cOptions(options)
    const dir = stateDir === undefined ? undefined : join(stateDir, D2C_DIR)
    const log = new D2cLog(checked, dir, now, warn)
    if (dir !== undefined) {
      try {
        await log.#load(dir)
      } catch (err) {
        clearInterval(log.#sweep)
        await log.#closeHandles()
        throw err
      }
    }
    return log
  }

  async #load(dir: string): Promise<void> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
    } catch (cause) {
      throw ioError(dir, cause, 'create')
    }
    const made = await stat(dir).catch(() => undefined)
    if (made !== undefined) this.createdAt = made.birthtimeMs > 0 ? made.birthtimeMs : made.ctimeMs
    const written = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n))
    const extra = written.map(Number).filter((n) => n >= this.partitionCount)
    if (extra.length > 0)
      throw stateCorrupt(
        dir,
        `holds partition ${extra[0]}, beyond the ${this.partitionCount} asked for (a device's partition would change): start with --partitions ${Math.max(...extra) + 1} or more, or move ${dir} away`,
      )
    for (const p of this.#partitions) await this.#loadPartition(p)
    this.#evictAll()
  }

  async #loadPartition(p: Partition): Promise<void> {
    const dir = p.dir as string
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
    } catch (cause) {
      throw ioError(dir, cause, 'create')
    }
    let names: string[]
    try {
      names = await readdir(dir)
    } catch (cause) {
      throw ioError(dir, cause, 'read')
    }
    const files = names
      .map((name) => ({ name, m: SEGMENT.exec(name) }))
      .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
      .map(({ name, m }) => ({ name, sequence: Number(m[1]), offset: Number(m[2]) }))
      .sort((a, b) => a.sequence - b.sequence)
    for (const [i, f] of files.entries()) {
      const file = join(dir, f.name)
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (cause) {
        throw ioError(file, cause, 'read')
      }
      const segment: Segment = { file, firstSequence: f.sequence, lastSequence: f.sequence - 1, count: 0 }
      p.nextSequence = Math.max(p.nextSequence, f.sequence)
      p.nextOffset = Math.max(p.nextOffset, f.offset)
      let at = 0
      let line = 0
      while (at < text.length) {
        const end = text.indexOf('\n', at)
        const lastFile = i === files.length - 1
        const record = end === -1 ? undefined : recordOf(text.slice(at, end), p.id)
        if (record === undefined) {
          if (lastFile && (end === -1 || text.indexOf('\n', end + 1) === -1)) {
            // cut short by a crash: the rest goes
            await truncate(file, Buffer.byteLength(text.slice(0, at))).catch((cause: unknown) => {
              throw ioError(file, cause, 'truncate')
            })
            break
          }
          throw stateCorrupt(file, `line ${line + 1} is not a device-to-cloud message`)
        }
        const bytes = Buffer.byteLength(text.slice(at, end + 1))
        p.kept.push({ record, bytes })
        p.bytes += bytes
        segment.lastSequence = record.sequenceNumber
        segment.count += 1
        p.nextSequence = record.sequenceNumber + 1
        p.nextOffset = Number(record.offset) + bytes
        p.lastOffset = record.offset
        p.lastTime = record.enqueuedTime
        at = end + 1
        line += 1
      }
      p.segments.push(segment)
    }
  }

  /** The partition of a device's (and its modules') messages. */
  partitionOf(deviceId: string): number {
    let p = this.#partitionOf.get(deviceId)
    if (p === undefined) {
      p = partitionOf(deviceId, this.partitionCount)
      if (this.#partitionOf.size >= 100_000) this.#partitionOf.clear()
      this.#partitionOf.set(deviceId, p)
    }
    return p
  }

  /**
   * The consumer group as the log knows it (Event Hubs compares names without case), or
   * `undefined` when it has none of that name.
   */
  consumerGroup(name: string): string | undefined {
    return this.consumerGroups.find((g) => g.toLowerCase() === name.toLowerCase())
  }

  /**
   * Appends a message to its device's partition; readers of that partition get it now, and the
   * disk soon ({@link committed}).
   *
   * @returns The message with its position.
   * @throws {SasTokenError} `ERR_HUB_CLOSED` after {@link close}.
   */
  append(input: D2cInput): D2cRecord {
    if (this.#closed) throw new SasTokenError('ERR_HUB_CLOSED', 'The device-to-cloud log is closed.')
    const p = this.#partitions[this.partitionOf(input.partitionKey)] as Partition
    const record: D2cRecord = {
      partition: p.id,
      sequenceNumber: p.nextSequence,
      offset: String(p.nextOffset),
      ...input,
    }
    const line = lineOf(record)
    const bytes = Buffer.byteLength(line)
    p.nextSequence += 1
    p.nextOffset += bytes
    p.lastOffset = record.offset
    p.lastTime = record.enqueuedTime
    p.kept.push({ record, bytes })
    p.bytes += bytes
    p.evict(this.retention, this.#now())
    if (this.dir !== undefined) {
      p.pending.push(line)
      p.pendingRecords.push(record.sequenceNumber)
      this.#schedule()
    }
    for (const reader of p.readers) reader(record)
    return record
  }

  /** Runtime information of partition `n`. */
  partition(n: number): D2cPartitionInfo {
    const p = this.#require(n)
    return {
      beginningSequenceNumber: p.first()?.sequenceNumber ?? p.nextSequence,
      lastEnqueuedSequenceNumber: p.nextSequence - 1,
      lastEnqueuedOffset: p.lastOffset,
      lastEnqueuedTime: p.lastTime,
      isEmpty: p.size === 0,
    }
  }

  /** The sequence number a reader at `position` gets first (the next one when none is kept yet). */
  startOf(n: number, position: D2cPosition): number {
    const p = this.#require(n)
    let index: number
    switch (position.kind) {
      case 'earliest':
        index = p.head
        break
      case 'latest':
        return p.nextSequence
      case 'offset': {
        if (position.offset === '-1') {
          index = p.head
          break
        }
        const at = Number(position.offset)
        index = p.search((r) => (position.inclusive ? Number(r.offset) >= at : Number(r.offset) > at))
        break
      }
      case 'sequence': {
        const s = position.sequenceNumber
        index = p.search((r) => (position.inclusive ? r.sequenceNumber >= s : r.sequenceNumber > s))
        break
      }
      case 'enqueued':
        index = p.search((r) => r.enqueuedTime > position.time)
        break
    }
    return p.kept[index]?.record.sequenceNumber ?? p.nextSequence
  }

  /** Up to `max` kept messages of partition `n` from sequence number `from` on. */
  read(n: number, from: number, max: number): D2cRecord[] {
    const p = this.#require(n)
    const start = p.indexOf(from)
    const out: D2cRecord[] = []
    for (let i = start; i < p.kept.length && out.length < max; i++) {
      const kept = p.kept[i]
      if (kept !== undefined) out.push(kept.record)
    }
    return out
  }

  /**
   * Calls `reader` with every message appended to partition `n` from now on.
   *
   * @returns Stops it.
   */
  tail(n: number, reader: (record: D2cRecord) => void): () => void {
    const p = this.#require(n)
    p.readers.add(reader)
    return () => {
      p.readers.delete(reader)
    }
  }

  /**
   * The promise of the write carrying every message appended so far.
   *
   * @returns A promise that settles when they are on disk; it rejects with `ERR_HUB_STATE_IO`
   *   when they could not be written (they are retried).
   */
  committed(): Promise<void> {
    return this.#next?.promise ?? this.#inflight ?? Promise.resolve()
  }

  /**
   * Writes what is pending and closes the files; {@link append} refuses afterwards.
   *
   * @throws {SasTokenError} `ERR_HUB_STATE_IO` when the last messages could not be written.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    clearInterval(this.#sweep)
    clearTimeout(this.#retry)
    try {
      await this.#inflight?.catch(() => undefined)
      if (this.#partitions.some((p) => p.pending.length > 0)) await this.#flushNow()
    } finally {
      this.#closed = true
      for (const p of this.#partitions) p.readers.clear()
      await this.#closeHandles()
    }
  }

  #require(n: number): Partition {
    const p = Number.isInteger(n) ? this.#partitions[n] : undefined
    if (p === undefined)
      throw new SasTokenError(
        'ERR_HUB_NOT_FOUND',
        `Partition ${n} does not exist: the partitions are 0 to ${this.partitionCount - 1}.`,
      )
    return p
  }

  #evictAll(): void {
    const now = this.#now()
    for (const p of this.#partitions) {
      p.evict(this.retention, now)
      // a segment being written to is the writer's to drop (#writePartition)
      if (p.dir === undefined || p.pending.length > 0 || this.#inflight !== undefined) continue
      for (const gone of p.expiredSegments()) void rm(gone.file, { force: true }).catch(() => undefined)
    }
  }

  #schedule(): void {
    if (this.#next === undefined) {
      let resolve: () => void = () => undefined
      let reject: (e: unknown) => void = () => undefined
      const promise = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      promise.catch(() => undefined)
      this.#next = { promise, resolve, reject }
    }
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#flushNow().catch(() => undefined)
    })
  }

  async #flushNow(): Promise<void> {
    while (this.#inflight !== undefined) await this.#inflight.catch(() => undefined)
    const commit = this.#next
    if (commit === undefined) return
    this.#next = undefined
    const write = this.#writeAll()
    this.#inflight = write
    try {
      await write
      if (this.#failing) this.#warn('The device-to-cloud log is written again.')
      this.#failing = false
      commit.resolve()
    } catch (err) {
      if (!this.#failing)
        this.#warn(`${(err as Error).message} The messages stay readable; retrying every second.`)
      this.#failing = true
      commit.reject(err)
      if (!this.#closed) {
        clearTimeout(this.#retry)
        this.#retry = setTimeout(() => this.#schedule(), 1000)
        this.#retry.unref()
      }
      throw err
    } finally {
      if (this.#inflight === write) this.#inflight = undefined
    }
  }

  async #writeAll(): Promise<void> {
    const failures: unknown[] = []
    await Promise.all(
      this.#partitions.map((p) =>
        p.pending.length === 0 ? undefined : this.#writePartition(p).catch((e: unknown) => failures.push(e)),
      ),
    )
    if (failures.length > 0) throw failures[0]
  }

  async #writePartition(p: Partition): Promise<void> {
    const dir = p.dir as string
    // lines of messages already out of retention need not be written
    const begin = p.first()?.sequenceNumber ?? p.nextSequence
    let skip = 0
    while (skip < p.pendingRecords.length && (p.pendingRecords[skip] as number) < begin) skip += 1
    const lines = p.pending.slice(skip)
    const sequences = p.pendingRecords.slice(skip)
    p.pending = []
    p.pendingRecords = []
    if (lines.length === 0) return
    let segment = p.segments[p.segments.length - 1]
    const firstSequence = sequences[0] as number
    const rollAt = Math.max(64, Math.ceil(this.retention.maxMessages / 8))
    const fresh = segment === undefined || segment.count >= rollAt
    if (fresh) {
      const firstOffset = Number(p.kept[p.indexOf(firstSequence)]?.record.offset ?? p.nextOffset)
      segment = {
        file: join(dir, segmentName(firstSequence, firstOffset)),
        firstSequence,
        lastSequence: firstSequence - 1,
        count: 0,
      }
    }
    const target = segment as Segment
    let size = 0
    try {
      if (fresh || p.handle === undefined) {
        await p.handle?.close().catch(() => undefined)
        p.handle = undefined
        p.handle = await open(target.file, 'a', 0o600)
      }
      size = (await p.handle.stat()).size
      const data = lines.join('')
      await p.handle.write(data)
      await p.handle.datasync()
    } catch (cause) {
      // leave the file as it was (no half line), and keep the lines for the retry
      await p.handle?.truncate(size).catch(() => undefined)
      p.pending = [...lines, ...p.pending]
      p.pendingRecords = [...sequences, ...p.pendingRecords]
      throw ioError(target.file, cause, 'append to the device-to-cloud log')
    }
    if (fresh) p.segments.push(target)
    target.count += lines.length
    target.lastSequence = sequences[sequences.length - 1] as number
    for (const gone of p.expiredSegments()) await rm(gone.file, { force: true }).catch(() => undefined)
  }

  async #closeHandles(): Promise<void> {
    for (const p of this.#partitions) {
      await p.handle?.close().catch(() => undefined)
      p.handle = undefined
    }
  }
}
