/**
 * The SAS token form, as Device Explorer had it: identity, key, TTL or absolute expiry, then
 * Generate and Copy. The hub signs it with the same core as the CLI
 * (`POST /_emulator/sas-token`); the page only shows the answer.
 *
 * @module
 */

import { api } from './api.js'
import { copyText, h, replace, status } from './dom.js'

interface SasAnswer {
  token: string
  expiresAt: number
  resourceUri: string
}

function isSasAnswer(v: unknown): v is SasAnswer {
  return typeof v === 'object' && v !== null && typeof (v as SasAnswer).token === 'string'
}

/** Mounts the tab into `panel`. */
export function mountSas(panel: HTMLElement): void {
  const deviceId = h('input', { name: 'deviceId', list: 'device-ids', required: true, autocomplete: 'off' })
  const moduleId = h('input', {
    name: 'moduleId',
    list: 'module-ids',
    placeholder: 'optional',
    autocomplete: 'off',
  })
  const key = h(
    'select',
    { name: 'key' },
    h('option', { value: 'primary' }, 'Primary key'),
    h('option', { value: 'secondary' }, 'Secondary key'),
  )
  const ttl = h('input', { name: 'ttl', value: '1h', placeholder: '90s, 15m, 1h, 7d', autocomplete: 'off' })
  const expiresAt = h('input', { name: 'expiresAt', type: 'datetime-local', step: 1 })
  const out = h('textarea', {
    name: 'token',
    readonly: true,
    rows: 4,
    'aria-label': 'SAS token',
    spellcheck: 'false',
  })
  const meta = h('dl', { class: 'meta' })
  const msg = h('p', { class: 'status info', role: 'status' })
  const copy = h('button', { type: 'button', disabled: true, 'data-action': 'copy-token' }, 'Copy')

  copy.addEventListener('click', () => {
    copyText(out.value).then(
      () => status(msg, 'ok', 'Token copied.'),
      (err: unknown) => status(msg, 'error', String(err)),
    )
  })

  const form = h(
    'form',
    {
      class: 'grid',
      'data-form': 'sas',
      onsubmit: (e: Event) => {
        e.preventDefault()
        const request: Record<string, string | number> = { deviceId: deviceId.value.trim(), key: key.value }
        if (moduleId.value.trim() !== '') request.moduleId = moduleId.value.trim()
        if (expiresAt.value !== '') {
          // datetime-local is the browser's local time; send epoch seconds
          request.expiresAt = Math.floor(new Date(expiresAt.value).getTime() / 1000)
        } else request.ttl = ttl.value.trim() || '1h'
        status(msg, 'info', 'Signing…')
        api('POST', '/_emulator/sas-token', request).then(
          (answer) => {
            if (!isSasAnswer(answer)) throw new Error('the hub answered without a token')
            out.value = answer.token
            copy.disabled = false
            const at = new Date(answer.expiresAt * 1000)
            replace(
              meta,
              h('dt', null, 'Resource'),
              h('dd', { 'data-field': 'resourceUri' }, answer.resourceUri),
              h('dt', null, 'Expires (UTC)'),
              h('dd', { 'data-field': 'expires-utc' }, at.toISOString().replace('.000Z', 'Z')),
              h('dt', null, 'Expires (local)'),
              h(
                'dd',
                { 'data-field': 'expires-local' },
                `${at.toLocaleString()} (${Intl.DateTimeFormat().resolvedOptions().timeZone})`,
              ),
              h('dt', null, 'se'),
              h('dd', { 'data-field': 'se' }, String(answer.expiresAt)),
            )
            status(msg, 'ok', 'Token generated.')
          },
          (err: unknown) => {
            out.value = ''
            copy.disabled = true
            replace(meta)
            status(msg, 'error', err instanceof Error ? err.message : String(err))
          },
        )
      },
    },
    h('label', null, 'Device id', deviceId),
    h('label', null, 'Module id', moduleId),
    h('label', null, 'Key', key),
    h('label', null, 'TTL', ttl),
    h('label', null, 'or expires at (local time)', expiresAt),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Generate'), copy),
  )
  replace(panel, form, msg, h('label', { class: 'wide' }, 'Token', out), meta)
}
