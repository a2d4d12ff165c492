/**
 * The hub's state on disk: one JSON document (`state.json`) in the state directory, written
 * atomically (a temp file in the same directory, fsync, then rename), so a crash mid-write
 * leaves the previous state whole. A file that cannot be read as hub state (checked deeply by
 * state-schema.ts) is reported with its path and the JSON path inside it, and never overwritten. Without a directory (in memory) nothing is written.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { SasTokenError } from '../errors.js'
import type { RegisteredCa } from './ca-registry.js'
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
}

/** A DPS enrollment group (symmetric key): device keys are derived per registration id. */
export interface EnrollmentGroup {
  enrollmentGroupId: string
  primaryKey: string
  secondaryKey: string
  provisioningStatus: 'enabled' | 'disabled'
  createdDateTimeUtc: string
}

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
  }
  /** Registered X.509 CA certificates by name (absent in state written before they existed). */
  certificates?: Record<string, RegisteredCa>
}

/** The name of the state file in the state directory. */
export const STATE_FILE = 'state.json'

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

/** Keeps one {@link HubState} and writes it (coalesced, atomically) when told it changed. */
export class StateStore {
  /** The state directory; `undefined` in memory. */
  readonly dir: string | undefined
  readonly state: HubState
  #dirty = false
  #writing: Promise<void> | undefined
  #scheduled = false
  #onError: (err: unknown) => void

  private constructor(dir: string | undefined, state: HubState, onError: (err: unknown) => void) {
    this.dir = dir
    this.state = state
    this.#onError = onError
  }

  /**
   * Opens the state in `dir` (created when missing), or a fresh in-memory state.
   *
   * @param fresh Makes the state of a new hub.
   * @param onError Told about a failed background write (the hub keeps running).
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

  /** Marks the state changed; it is written soon (changes within one tick coalesce). */
  changed(): void {
    if (this.dir === undefined) return
    this.#dirty = true
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.flush().catch(this.#onError)
    })
  }

  /**
   * Writes the state now if it changed (or `force`), after any write in flight.
   *
   * @throws {SasTokenError} `ERR_HUB_STATE_IO`.
   */
  async flush(force = false): Promise<void> {
    if (this.dir === undefined) return
    while (this.#writing !== undefined) await this.#writing
    if (!this.#dirty && !force) return
    this.#dirty = false
    const file = join(this.dir, STATE_FILE)
    this.#writing = writeFileAtomic(file, JSON.stringify(this.state, null, 1) + '\n')
    try {
      await this.#writing
    } catch (err) {
      this.#dirty = true
      throw err
    } finally {
      this.#writing = undefined
    }
  }
}
