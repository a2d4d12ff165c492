/**
 * The Refused tab: every refused CONNECT with the reason `diagnoseConnect` gives, which no
 * real hub shows. Loads the hub's recent list, then adds `refuse` events live.
 *
 * @module
 */

import { api } from './api.js'
import { h, localTime, replace, status } from './dom.js'
import type { HubEventOf } from '../../event-types.js'
import type { Store } from './store.js'

/** A refusal: the `refuse` event, or a record of `GET /_emulator/refused` (the same, unnamed). */
type Refusal = Omit<HubEventOf<'refuse'>, 'event'>

/** The hub's list (the page's own hub: its records are trusted to be refusals). */
function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && 'findings' in value && Array.isArray(value.findings)
}

/** How many refusals the tab keeps. */
const LIMIT = 200

/** Mounts the tab into `panel`. */
export function mountRefused(panel: HTMLElement, store: Store): void {
  const list = h('ol', { class: 'refused', reversed: true })
  const msg = h('p', { class: 'status info', role: 'status' })
  const seen = new Set<string>()

  function card(e: Refusal): HTMLLIElement {
    const findings = e.findings
    return h(
      'li',
      { class: 'refusal' },
      h(
        'div',
        { class: 'head' },
        h('strong', { class: 'who' }, e.clientId),
        h('time', { class: 'time', datetime: e.time }, localTime(e.time)),
        h(
          'span',
          { class: 'tag error' },
          e.returnCode === undefined ? (e.condition ?? `HTTP ${e.status}`) : `CONNACK ${e.returnCode}`,
        ),
        h('span', { class: 'tag' }, e.protocol),
      ),
      h('div', { class: 'username' }, 'username: ', h('code', null, e.username)),
      h(
        'ul',
        { class: 'findings' },
        ...(findings.length
          ? findings.map((f) =>
              h(
                'li',
                { class: `finding ${f.severity}`, 'data-code': f.code },
                h('code', null, f.code),
                ' ',
                f.message,
              ),
            )
          : [h('li', null, 'no finding given')]),
      ),
    )
  }

  function add(e: Refusal): void {
    const key = `${e.time}|${e.clientId}|${e.username}`
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
        const items: unknown[] = Array.isArray(answer)
          ? answer
          : typeof answer === 'object' &&
              answer !== null &&
              'refused' in answer &&
              Array.isArray(answer.refused)
            ? answer.refused
            : []
        const refusals = items.filter(isRefusal)
        refusals.sort((a, b) => a.time.localeCompare(b.time))
        for (const e of refusals) add(e)
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
