/**
 * What the tabs share: the hub's host name, the device list (kept live from events), and the
 * event stream fanned out to every tab.
 *
 * @module
 */

import { api, seg } from './api.js'
import type { HubEvent, StreamState } from './events.js'

/** A device or module identity as the hub's REST API returns it (the fields the page uses). */
export interface Identity {
  deviceId: string
  moduleId?: string
  status?: string
  connectionState?: string
  lastActivityTime?: string
  authentication?: {
    type?: string
    symmetricKey?: { primaryKey?: string; secondaryKey?: string }
  }
}

/** A device row: the device and its modules. */
export interface DeviceEntry {
  device: Identity
  modules: Identity[]
}

/** What `/api/_console/info` answers: nothing secret. */
export interface ConsoleInfo {
  hostName: string
  ports?: Record<string, number>
}

type Listener<T> = (value: T) => void

/** The shared state of the page. */
export class Store {
  info: ConsoleInfo = { hostName: 'localhost' }
  devices = new Map<string, DeviceEntry>()
  #eventListeners = new Set<Listener<HubEvent>>()
  #deviceListeners = new Set<Listener<Map<string, DeviceEntry>>>()
  #stateListeners = new Set<Listener<StreamState>>()

  onEvent(fn: Listener<HubEvent>): void {
    this.#eventListeners.add(fn)
  }
  onDevices(fn: Listener<Map<string, DeviceEntry>>): void {
    this.#deviceListeners.add(fn)
  }
  onStreamState(fn: Listener<StreamState>): void {
    this.#stateListeners.add(fn)
  }
  streamState(state: StreamState): void {
    for (const fn of this.#stateListeners) fn(state)
  }

  /** Fans an event out to the tabs, after updating the device list from it. */
  emit(event: HubEvent): void {
    this.#track(event)
    for (const fn of this.#eventListeners) {
      try {
        fn(event)
      } catch (err) {
        console.error('console: a tab failed on an event', err)
      }
    }
  }

  devicesChanged(): void {
    for (const fn of this.#deviceListeners) fn(this.devices)
  }

  /** Reloads every device and its modules from the hub. */
  async refreshDevices(): Promise<void> {
    const list = await api('GET', '/devices/')
    const next = new Map<string, DeviceEntry>()
    const ids = Array.isArray(list) ? (list as Identity[]) : []
    await Promise.all(
      ids.map(async (device) => {
        let modules: Identity[] = []
        try {
          const m = await api('GET', `/devices/${seg(device.deviceId)}/modules`)
          modules = Array.isArray(m) ? (m as Identity[]) : []
        } catch {
          modules = []
        }
        next.set(device.deviceId, { device, modules })
      }),
    )
    this.devices = new Map([...next].sort(([a], [b]) => a.localeCompare(b)))
    this.devicesChanged()
  }

  /** Finds the identity an event is about. */
  identity(deviceId: string, moduleId?: string): Identity | undefined {
    const entry = this.devices.get(deviceId)
    if (!entry) return undefined
    if (moduleId === undefined) return entry.device
    return entry.modules.find((m) => m.moduleId === moduleId)
  }

  #track(event: HubEvent): void {
    if (event.deviceId === undefined) return
    const id = this.identity(event.deviceId, event.moduleId)
    if (!id) {
      if (event.event === 'connect' || event.event === 'dps-register')
        void this.refreshDevices().catch(() => {})
      return
    }
    if (event.event === 'refuse') return
    id.lastActivityTime = event.time
    if (event.event === 'connect') id.connectionState = 'Connected'
    // A connection replaced by a newer one closes after the new one connected: still online.
    if ((event.event === 'disconnect' || event.event === 'close') && !/replaced/i.test(event.reason))
      id.connectionState = 'Disconnected'
    this.devicesChanged()
  }
}
