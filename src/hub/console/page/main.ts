/**
 * The console page's entry: takes the access token from `?token=`, builds the tabs, and opens
 * the live event stream.
 *
 * @module
 */

import { api, setAccessToken } from './api.js'
import { mountC2d } from './c2d.js'
import { mountDevices } from './devices.js'
import { h, replace } from './dom.js'
import { openEvents } from './events.js'
import { mountMethods } from './methods.js'
import { mountRefused } from './refused.js'
import { mountSas } from './sas.js'
import { type ConsoleInfo, Store } from './store.js'
import { mountTelemetry } from './telemetry.js'
import { mountTwin } from './twin.js'

const TABS = [
  ['devices', 'Devices'],
  ['sas', 'SAS token'],
  ['telemetry', 'Telemetry'],
  ['c2d', 'Cloud to device'],
  ['methods', 'Methods'],
  ['twin', 'Twin'],
  ['refused', 'Refused'],
] as const
type TabId = (typeof TABS)[number][0]

/**
 * The access token from `?token=`. It stays in the address bar so that a reload works (the
 * page itself is refused without it, and no cookie stands in for it); `Referrer-Policy:
 * no-referrer` keeps it out of any `Referer`.
 */
function takeToken(): string {
  return new URL(window.location.href).searchParams.get('token') ?? ''
}

function boot(): void {
  setAccessToken(takeToken())
  const store = new Store()
  const root = document.getElementById('app')
  if (!root) return

  const live = h('span', { class: 'live connecting', 'data-field': 'stream' }, 'connecting…')
  const hubName = h('span', { class: 'hub-name' })
  const nav = h('nav', { class: 'tabs', role: 'tablist' })
  const panels = new Map<TabId, HTMLElement>()
  const buttons = new Map<TabId, HTMLButtonElement>()
  for (const [id, label] of TABS) {
    const panel = h('section', { class: 'panel', id: `panel-${id}`, role: 'tabpanel', hidden: true })
    const button = h(
      'button',
      { type: 'button', role: 'tab', 'data-tab': id, 'aria-controls': `panel-${id}` },
      label,
    )
    button.addEventListener('click', () => {
      window.location.hash = id
    })
    panels.set(id, panel)
    buttons.set(id, button)
    nav.appendChild(button)
  }
  const deviceIds = h('datalist', { id: 'device-ids' })
  const moduleIds = h('datalist', { id: 'module-ids' })
  replace(
    root,
    h('header', null, h('h1', null, 'sas-token hub'), hubName, live),
    nav,
    ...panels.values(),
    deviceIds,
    moduleIds,
  )

  const select = (): void => {
    const wanted = window.location.hash.slice(1)
    const current: TabId = TABS.some(([id]) => id === wanted) ? (wanted as TabId) : 'devices'
    for (const [id, panel] of panels) {
      panel.hidden = id !== current
      buttons.get(id)?.setAttribute('aria-selected', String(id === current))
    }
  }
  window.addEventListener('hashchange', select)
  select()

  store.onDevices((devices) => {
    replace(deviceIds, ...[...devices.keys()].map((id) => h('option', { value: id })))
    const mods = new Set<string>()
    for (const { modules } of devices.values()) for (const m of modules) if (m.moduleId) mods.add(m.moduleId)
    replace(moduleIds, ...[...mods].map((id) => h('option', { value: id })))
  })
  store.onStreamState((state) => {
    live.className = `live ${state}`
    live.textContent =
      state === 'live'
        ? '● live'
        : state === 'unauthorized'
          ? 'access token refused: open the URL the hub printed'
          : state === 'down'
            ? 'reconnecting…'
            : 'connecting…'
  })

  const get = (id: TabId): HTMLElement => panels.get(id) ?? h('section')
  mountDevices(get('devices'), store)
  mountSas(get('sas'))
  mountTelemetry(get('telemetry'), store)
  mountC2d(get('c2d'), store)
  mountMethods(get('methods'))
  mountTwin(get('twin'), store)
  mountRefused(get('refused'), store)

  // The stream first, so that nothing between the list load and the stream is missed.
  openEvents(
    (e) => store.emit(e),
    (s) => store.streamState(s),
  )
  api('GET', '/_console/info').then(
    (info) => {
      store.info = info as ConsoleInfo
      hubName.textContent = store.info.hostName
    },
    () => {},
  )
  store.refreshDevices().catch(() => {})
}

boot()
