/**
 * The Cloud-to-device tab: send a message with properties, messageId and correlationId, and
 * watch it go from queued to delivered, then completed (the device's PUBACK), abandoned
 * (requeued), expired, dead-lettered or rejected (from the hub's `c2d` events).
 *
 * @module
 */

import { api, seg } from './api.js'
import { h, localTime, replace, status } from './dom.js'
import { parseProperties } from './properties.js'
import type { Store } from './store.js'

/** States after which a message changes no more. */
const FINAL = new Set(['completed', 'expired', 'dead-lettered', 'rejected'])

/** An answer may arrive after events about the same message: it never moves a state back. */
const RANK: Record<string, number> = { queued: 0, abandoned: 1, delivered: 2 }
const later = (a: string, b: string): string =>
  FINAL.has(a) ? a : FINAL.has(b) ? b : (RANK[b] ?? 0) > (RANK[a] ?? 0) ? b : a

interface Sent {
  messageId: string
  deviceId: string
  state: string
  time: string
  stateCell: HTMLElement
}

/** Mounts the tab into `panel`. */
export function mountC2d(panel: HTMLElement, store: Store): void {
  const deviceId = h('input', { name: 'deviceId', list: 'device-ids', required: true, autocomplete: 'off' })
  const payload = h('textarea', { name: 'payload', rows: 4, placeholder: '{"command":"reboot"}' })
  const props = h('textarea', { name: 'properties', rows: 3, placeholder: 'key=value, one a line' })
  const messageId = h('input', {
    name: 'messageId',
    placeholder: 'generated when empty',
    autocomplete: 'off',
  })
  const correlationId = h('input', { name: 'correlationId', autocomplete: 'off' })
  const contentType = h('input', {
    name: 'contentType',
    placeholder: 'application/json',
    autocomplete: 'off',
  })
  const msg = h('p', { class: 'status info', role: 'status' })
  const list = h('tbody')
  const sent = new Map<string, Sent>()

  const form = h(
    'form',
    {
      class: 'grid',
      'data-form': 'c2d',
      onsubmit: (e: Event) => {
        e.preventDefault()
        let properties: Record<string, string>
        try {
          properties = parseProperties(props.value)
        } catch (err) {
          status(msg, 'error', err instanceof Error ? err.message : String(err))
          return
        }
        const d = deviceId.value.trim()
        const request: Record<string, unknown> = {
          payload: payload.value,
          payloadEncoding: 'utf8',
          properties,
        }
        if (messageId.value.trim()) request.messageId = messageId.value.trim()
        if (correlationId.value.trim()) request.correlationId = correlationId.value.trim()
        if (contentType.value.trim()) request.contentType = contentType.value.trim()
        status(msg, 'info', 'Sending…')
        api('POST', `/_emulator/devices/${seg(d)}/messages`, request).then(
          (answer) => {
            const a = (answer ?? {}) as { messageId?: string; state?: string }
            const id = String(a.messageId ?? request.messageId ?? '?')
            const state = String(a.state ?? 'queued')
            const stateCell = h(
              'td',
              { 'data-field': 'state', 'data-label': 'State', class: `c2d-${state}` },
              state,
            )
            const prior = sent.get(id)
            const entry: Sent = {
              messageId: id,
              deviceId: d,
              state: prior === undefined ? state : later(state, prior.state),
              time: new Date().toISOString(),
              stateCell,
            }
            stateCell.textContent = entry.state
            stateCell.className = `c2d-${entry.state}`
            sent.set(id, entry)
            list.prepend(
              h(
                'tr',
                { 'data-message-id': id },
                h('td', { class: 'time', 'data-label': 'Sent' }, localTime(entry.time)),
                h('td', { 'data-label': 'Device' }, d),
                h('td', { class: 'id', 'data-label': 'messageId' }, id),
                stateCell,
              ),
            )
            status(msg, 'ok', `Message ${id} ${entry.state}.`)
          },
          (err: unknown) => status(msg, 'error', err instanceof Error ? err.message : String(err)),
        )
      },
    },
    h('label', null, 'Device id', deviceId),
    h('label', null, 'messageId', messageId),
    h('label', null, 'correlationId', correlationId),
    h('label', null, 'contentType', contentType),
    h('label', { class: 'wide' }, 'Payload', payload),
    h('label', { class: 'wide' }, 'Application properties', props),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Send')),
  )

  store.onEvent((e) => {
    if (e.event !== 'c2d') return
    const entry = sent.get(e.messageId)
    const state = e.state
    if (!entry) {
      // delivered (or further) before the POST answered: remember it for the row to come
      if (state !== 'queued')
        sent.set(e.messageId, {
          messageId: e.messageId,
          deviceId: e.deviceId,
          state,
          time: e.time,
          stateCell: h('td'),
        })
      return
    }
    if (FINAL.has(entry.state)) return
    entry.state = state
    entry.stateCell.textContent = state
    entry.stateCell.className = `c2d-${state}`
  })

  replace(
    panel,
    form,
    msg,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'sent cards' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', null, 'Sent'),
            h('th', null, 'Device'),
            h('th', null, 'messageId'),
            h('th', null, 'State'),
          ),
        ),
        list,
      ),
    ),
  )
}
