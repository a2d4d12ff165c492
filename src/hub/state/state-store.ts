/**
 * The hub's state on disk: one JSON document (`state.json`) in the state directory, written
 * atomically (a temp file in the same directory, fsync, then rename), so a crash mid-write
 * leaves the previous state whole. A file that cannot be read as hub state (checked deeply by
 * state-schema.ts) is reported with its path and the JSON path inside it, and never overwritten. Without a directory (in memory) nothing is written.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { SasTokenError } from '../../errors.js'
import type { RegisteredCa } from './ca-registry.js'
import type { StoredJob } from './jobs.js'
import type { DeviceEntry, Policy } from './registry.js'
import { parseState, stateCorrupt } from './state-schema.js'

/** A DPS individual enrollment (symmetric key). */
export interface Enrollment {
  registrationId: string
  primaryKey: string
  secondaryKey: string
  /** The device id to create; the registration id when absent. */
  deviceId?: string
  provisioningStatus: 'enabled' | 'disabled'
  createdDateTimeUtc: string
  /** Changes with every write (If-Match); absent in state written before it was kept. */
  etag?: string
  /** When it was last written; absent in state written before it was kept. */
  lastUpdatedDateTimeUtc?: string
}

/** A DPS enrollment group (symmetric key): device keys are derived per registration id. */
export interface EnrollmentGroup {
  enrollmentGroupId: string
  primaryKey: string
  secondaryKey: string
  provisioningStatus: 'enabled' | 'disabled'
  createdDateTimeUtc: string
  /** Changes with every write (If-Match); absent in state written before it was kept. */
  etag?: string
  /** When it was last written; absent in state written before it was kept. */
  lastUpdatedDateTimeUtc?: string
}

/** A shared access policy of the DPS service API (`provisioningserviceowner`), apart from the hub's. */
export interface DpsPolicy {
  keyName: string
  primaryKey: string
  secondaryKey: string
  rights: DpsPermission[]
}

/** What a DPS shared access policy allows (DPS's own rights, not IoT Hub's). */
export type DpsPermission =
  | 'ServiceConfig'
  | 'EnrollmentRead'
  | 'EnrollmentWrite'
  | 'RegistrationStatusRead'
  | 'RegistrationStatusWrite'

/** A finished DPS registration. */
export interface Registration {
  registrationId: string
  deviceId: string
  assignedHub: string
  enrollmentGroupId?: string
  createdDateTimeUtc: string
}

/** Everything the hub keeps. */
export interface HubState {
  format: 'sas-token-hub-state'
  version: 1
  policies: Policy[]
  devices: Record<string, DeviceEntry>
  /** MQTT client id → what it subscribed to with CleanSession 0 (`messages`, `methods`, `twin-responses`, `desired`), kept across restarts. */
  sessions: Record<string, string[]>
  dps: {
    enrollments: Record<string, Enrollment>
    groups: Record<string, EnrollmentGroup>
    registrations: Record<string, Registration>
    /** The DPS service API's policies (absent in state written before it was served: made at start). */
    policies?: DpsPolicy[]
  }
  /** Registered X.509 CA certificates by name (absent in state written before they existed). */
  certificates?: Record<string, RegisteredCa>
  /** Jobs (`/jobs/v2`) by id, with each device's part (absent in state written before they were kept). */
  jobs?: Record<string, StoredJob>
}

/** The name of the state file in the state directory. */
export const STATE_FILE = 'state.json'

/** Makes a rename in `dir` durable (fsync of the directory); a platform that cannot is skipped. */
async function syncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(dir, 'r')
  } catch {
    return
  }
  try {
    await handle.sync()
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw cause
  } finally {
    await handle.close()
  }
}

/** Whether process `pid` is alive (another hub writing the same directory). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes the temp files a crash left beside `file` (`<name>.<pid>.<hex>.tmp` of a process gone). */
async function removeStaleTemps(file: string): Promise<void> {
  const prefix = `${basename(file)}.`
  for (const name of await readdir(dirname(file)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue
    const pid = Number(name.slice(prefix.length).split('.')[0])
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) continue
    await rm(join(dirname(file), name), { force: true }).catch(() => undefined)
  }
}

/**
 * Writes `data` to `file` atomically: a temp file beside it, fsync, rename.
 *
 * @throws {SasTokenError} `ERR_HUB_STATE_IO` naming the file.
 */
export async function writeFileAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    const handle = await open(temp, 'w', mode)
    try {
      await handle.writeFile(data, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
    await syncDir(dirname(file))
  } catch (cause) {
    await rm(temp, { force: true }).catch(() => undefined)
    throw Object.assign(
      new SasTokenError('ERR_HUB_STATE_IO', `Could not write ${file}: ${(cause as Error).message}.`, {
        cause,
      }),
      { file },
    )
  }
}

/**
 * Reads a file, or `undefined` when it does not exist.
 *
 * @throws {SasTokenError} `ERR_HUB_STATE_IO` for any other read error.
 */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw Object.assign(
      new SasTokenError('ERR_HUB_STATE_IO', `Could not read ${file}: ${(cause as Error).message}.`, {
        cause,
      }),
      { file },
    )
  }
}

interface Commit {
  promise: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
}

function newCommit(): Commit {
  let resolve: () => void = () => undefined
  let reject: (err: unknown) => void = () => undefined
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // A commit nobody awaits must not become an unhandled rejection; awaiters still see it.
  promise.catch(() => undefined)
  return { promise, resolve, reject }
}

/**
 * Keeps one {@link HubState} and writes it group-committed: every change marked within a tick
 * (and while a write is in flight) goes into one fsync'd atomic write, and the promise of that
 * write is what an answer waits for, so an answer means the change is on disk.
 */
export class StateStore {
  /** The state directory; `undefined` in memory. */
  readonly dir: string | undefined
  readonly state: HubState
  /** The commit that will carry the changes marked since the last write started. */
  #pending: Commit | undefined
  /** The write in flight, settled when it is on disk (or failed). */
  #inflight: Promise<void> | undefined
  /** The last write failed: the state on disk is behind the state in memory. */
  #failed = false
  #onError: (err: unknown) => void

  private constructor(dir: string | undefined, state: HubState, onError: (err: unknown) => void) {
    this.dir = dir
    this.state = state
    this.#onError = onError
  }

  /**
   * Opens the state in `dir` (created when missing), or a fresh in-memory state. Temp files a
   * crash left in `dir` are removed.
   *
   * @param fresh Makes the state of a new hub.
   * @param onError Told about a failed write (the hub keeps running; the answers waiting for it fail).
   * @throws {SasTokenError} `ERR_HUB_STATE_CORRUPT` or `ERR_HUB_STATE_IO`, naming the file.
   */
  static async open(
    dir: string | undefined,
    fresh: () => HubState,
    onError: (err: unknown) => void,
  ): Promise<{ store: StateStore; created: boolean }> {
    if (dir === undefined) return { store: new StateStore(undefined, fresh(), onError), created: true }
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
    } catch (cause) {
      throw Object.assign(
        new SasTokenError(
          'ERR_HUB_STATE_IO',
          `Could not create the state directory ${dir}: ${(cause as Error).message}.`,
          { cause },
        ),
        { file: dir },
      )
    }
    const file = join(dir, STATE_FILE)
    await removeStaleTemps(file)
    const text = await readIfExists(file)
    if (text === undefined) {
      const store = new StateStore(dir, fresh(), onError)
      await store.flush(true)
      return { store, created: true }
    }
    let parsed: unknown
    try {
      // A UTF-8 BOM (an editor's) is not part of the JSON.
      parsed = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
    } catch {
      throw stateCorrupt(
        file,
        text.length === 0 ? 'is empty' : 'is not valid JSON (cut short by a crash, or edited by hand?)',
      )
    }
    return { store: new StateStore(dir, parseState(parsed, file), onError), created: false }
  }

  /**
   * Marks the state changed. The changes of one tick (and those made while a write is in
   * flight) are written together soon after; {@link committed} is the promise of that write.
   */
  changed(): void {
    if (this.dir === undefined || this.#pending !== undefined) return
    this.#pending = newCommit()
    setImmediate(() => {
      this.#commit().catch(this.#onError)
    })
  }

  /**
   * The commit of every change marked so far: what an answer waits for before it is sent.
   *
   * @returns A promise that settles when those changes are on disk; it rejects with
   *   `ERR_HUB_STATE_IO` when they could not be written.
   */
  committed(): Promise<void> {
    return this.#pending?.promise ?? this.#inflight ?? Promise.resolve()
  }

  async #commit(): Promise<void> {
    while (this.#inflight !== undefined) await this.#inflight.catch(() => undefined)
    const commit = this.#pending
    if (commit === undefined || this.dir === undefined) return
    this.#pending = undefined
    const file = join(this.dir, STATE_FILE)
    const write = writeFileAtomic(file, JSON.stringify(this.state, null, 1) + '\n')
    this.#inflight = write
    try {
      await write
      this.#failed = false
      commit.resolve()
    } catch (err) {
      this.#failed = true
      commit.reject(err)
      throw err
    } finally {
      if (this.#inflight === write) this.#inflight = undefined
    }
  }

  /**
   * Writes the state now if anything changed since the last good write (or `force`), after any
   * write in flight.
   *
   * @throws {SasTokenError} `ERR_HUB_STATE_IO`.
   */
  async flush(force = false): Promise<void> {
    if (this.dir === undefined) return
    await this.committed().catch(() => undefined)
    if (!this.#failed && !force) return
    const commit = this.#pending ?? newCommit()
    this.#pending = commit
    await this.#commit()
    await commit.promise
  }
}
