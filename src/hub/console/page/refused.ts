/**
 * The Refused tab: every refused CONNECT with the reason `diagnoseConnect` gives, which no
 * real hub shows. Loads the hub's recent list, then adds `refuse` events live.
 *
 * @module
 */

import { api } from './api.js'
import { h, localTime, replace, status } from './dom.js'
import type { HubEvent } from './events.js'
import type { Store } from './store.js'

interface Finding {
  severity?: string
  code?: string
  message?: string
}

/** How many refusals the tab keeps. */
const LIMIT = 200

/** Mounts the tab into `panel`. */
export function mountRefused(panel: HTMLElement, store: Store): void {
  const list = h('ol', { class: 'refused', reversed: true })
  const msg = h('p', { class: 'status info', role: 'status' })
  const seen = new Set<string>()

  function card(e: HubEvent): HTMLLIElement {
    const findings = Array.isArray(e.findings) ? (e.findings as Finding[]) : []
    return h(
      'li',
      { class: 'refusal' },
      h(
        'div',
        { class: 'head' },
        h('strong', { class: 'who' }, String(e.clientId ?? e.deviceId ?? '?')),
        h('time', { class: 'time', datetime: String(e.time) }, localTime(e.time)),
        h('span', { class: 'tag error' }, `CONNACK ${String(e.returnCode ?? '?')}`),
        typeof e.protocol === 'string' ? h('span', { class: 'tag' }, e.protocol) : null,
      ),
      h('div', { class: 'username' }, 'username: ', h('code', null, String(e.username ?? ''))),
      h(
        'ul',
        { class: 'findings' },
        ...(findings.length
          ? findings.map((f) =>
              h(
                'li',
                {
                  class: `finding ${f.severity === 'warning' ? 'warning' : 'error'}`,
                  'data-code': String(f.code ?? ''),
                },
                h('code', null, String(f.code ?? '')),
                ' ',
                String(f.message ?? ''),
              ),
            )
          : [h('li', null, 'no finding given')]),
      ),
    )
  }

  function add(e: HubEvent): void {
    const key = `${e.time}|${String(e.clientId)}|${String(e.username)}`
    if (seen.has(key)) return
    seen.add(key)
    list.prepend(card(e))
    while (list.childElementCount > LIMIT && list.lastChild) list.removeChild(list.lastChild)
    status(msg, 'info', `${list.childElementCount} refused connection(s), newest first.`)
  }

  store.onEvent((e) => {
    if (e.event === 'refuse') add(e)
  })

  const reload = (): void => {
    api('GET', '/_emulator/refused').then(
      (answer) => {
        const items = Array.isArray(answer)
          ? answer
          : Array.isArray((answer as { refused?: unknown })?.refused)
            ? (answer as { refused: unknown[] }).refused
            : []
        const events = items.filter((x): x is HubEvent => typeof x === 'object' && x !== null)
        events.sort((a, b) => String(a.time).localeCompare(String(b.time)))
        for (const e of events) add({ ...e, event: 'refuse' })
        status(msg, 'info', `${list.childElementCount} refused connection(s), newest first.`)
      },
      (err: unknown) => status(msg, 'error', err instanceof Error ? err.message : String(err)),
    )
  }

  replace(
    panel,
    h(
      'div',
      { class: 'toolbar' },
      h('button', { type: 'button', onclick: reload }, 'Reload'),
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            replace(list)
            seen.clear()
          },
        },
        'Clear',
      ),
    ),
    msg,
    list,
  )
  reload()
}
