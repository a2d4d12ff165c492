/**
 * The Telemetry tab: the live stream from now on (the hub replays nothing), filtered by
 * device, each message with its body (pretty JSON, raw text or hex), its application and system
 * properties and its enqueued time. Pause holds new messages back, Clear drops them; at most
 * `limit` messages are kept, the oldest go first.
 *
 * @module
 */

import { type BodyView, renderBody } from './body.js'
import { h, localTime, replace } from './dom.js'
import type { HubEventOf } from '../../event-types.js'
import type { Store } from './store.js'

type Telemetry = HubEventOf<'telemetry'>

/** How many messages the tab keeps by default. */
export const DEFAULT_LIMIT = 500

function propsTable(title: string, props: Record<string, string | null>): HTMLElement | null {
  const entries = Object.entries(props)
  if (entries.length === 0) return null
  return h(
    'div',
    { class: 'props' },
    h('h4', null, title),
    h(
      'table',
      { class: 'kv', 'data-props': title },
      h(
        'tbody',
        null,
        ...entries.map(([k, v]) =>
          h('tr', null, h('th', null, k), h('td', null, v === null ? '(no value)' : v)),
        ),
      ),
    ),
  )
}

/** Mounts the tab into `panel`. */
export function mountTelemetry(panel: HTMLElement, store: Store): void {
  let view: BodyView = 'pretty'
  let paused = false
  let limit = DEFAULT_LIMIT
  const kept: Telemetry[] = []
  const held: Telemetry[] = []

  const filter = h('input', {
    name: 'device',
    list: 'device-ids',
    placeholder: 'all devices',
    autocomplete: 'off',
  })
  const viewSel = h(
    'select',
    { name: 'view' },
    h('option', { value: 'pretty' }, 'Pretty JSON'),
    h('option', { value: 'raw' }, 'Raw text'),
    h('option', { value: 'hex' }, 'Hex'),
  )
  const limitIn = h('input', { name: 'limit', type: 'number', min: 1, max: 10000, value: DEFAULT_LIMIT })
  const pause = h('button', { type: 'button', 'data-action': 'pause' }, 'Pause')
  const clear = h('button', { type: 'button', 'data-action': 'clear' }, 'Clear')
  const counter = h('span', { class: 'counter', 'data-field': 'count' })
  const list = h('ol', { class: 'messages', reversed: true })

  const matches = (e: Telemetry): boolean => {
    const f = filter.value.trim()
    if (f === '') return true
    return e.deviceId === f || (e.moduleId !== undefined && `${e.deviceId}/${e.moduleId}` === f)
  }

  function card(e: Telemetry): HTMLLIElement {
    const body = e.body
    const shown = renderBody(body, view)
    const enqueued = e.systemProperties['iothub-enqueuedtime'] ?? e.time
    const who = e.moduleId ? `${e.deviceId}/${e.moduleId}` : e.deviceId
    return h(
      'li',
      { class: 'message', 'data-device': e.deviceId },
      h(
        'div',
        { class: 'head' },
        h('strong', { class: 'who' }, who),
        h('time', { class: 'time', datetime: enqueued, title: `enqueued ${enqueued}` }, localTime(enqueued)),
        h('span', { class: 'tag', 'data-field': 'protocol', title: 'how it came' }, e.protocol),
        h('span', { class: 'tag' }, shown.json ? 'JSON' : body.base64 !== undefined ? 'binary' : 'text'),
      ),
      h('pre', { class: 'body', 'data-field': 'body' }, shown.text),
      propsTable('Application properties', e.properties),
      propsTable('System properties', e.systemProperties),
    )
  }

  function render(): void {
    const shown = kept.filter(matches)
    replace(list, ...shown.slice().reverse().map(card))
    counter.textContent = `${shown.length} shown, ${kept.length} kept (max ${limit})${held.length ? `, ${held.length} held while paused` : ''}`
  }

  function keep(e: Telemetry): void {
    kept.push(e)
    while (kept.length > limit) kept.shift()
  }

  store.onEvent((e) => {
    if (e.event !== 'telemetry') return
    if (paused) {
      held.push(e)
      while (held.length > limit) held.shift()
      counter.textContent = `${held.length} held while paused`
      return
    }
    keep(e)
    while (list.childElementCount >= limit && list.lastChild) list.removeChild(list.lastChild)
    if (matches(e)) list.prepend(card(e))
    counter.textContent = `${kept.length} kept (max ${limit})`
  })

  pause.addEventListener('click', () => {
    paused = !paused
    pause.textContent = paused ? 'Resume' : 'Pause'
    pause.setAttribute('aria-pressed', String(paused))
    if (!paused) {
      for (const e of held.splice(0)) keep(e)
      render()
    }
  })
  clear.addEventListener('click', () => {
    kept.length = 0
    held.length = 0
    render()
  })
  filter.addEventListener('input', render)
  viewSel.addEventListener('change', () => {
    view = viewSel.value === 'raw' ? 'raw' : viewSel.value === 'hex' ? 'hex' : 'pretty'
    render()
  })
  limitIn.addEventListener('change', () => {
    const n = Number(limitIn.value)
    if (Number.isInteger(n) && n > 0) limit = n
    while (kept.length > limit) kept.shift()
    render()
  })

  replace(
    panel,
    h(
      'div',
      { class: 'toolbar' },
      h('label', null, 'Device ', filter),
      h('label', null, 'Body ', viewSel),
      h('label', null, 'Keep last ', limitIn),
      pause,
      clear,
      counter,
    ),
    h('p', { class: 'hint' }, 'Live from the moment this page opened; nothing is replayed.'),
    list,
  )
  render()
}
