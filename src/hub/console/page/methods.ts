/**
 * The Methods tab: invoke a direct method with a JSON payload and a timeout, and show the
 * device's status and response, or the hub's 404 (device not online) or 504 (timeout) plainly.
 *
 * @module
 */

import { ApiError, api, seg } from './api.js'
import { h, replace, status } from './dom.js'

/** Mounts the tab into `panel`. */
export function mountMethods(panel: HTMLElement): void {
  const deviceId = h('input', { name: 'deviceId', list: 'device-ids', required: true, autocomplete: 'off' })
  const moduleId = h('input', {
    name: 'moduleId',
    list: 'module-ids',
    placeholder: 'optional',
    autocomplete: 'off',
  })
  const methodName = h('input', {
    name: 'methodName',
    required: true,
    autocomplete: 'off',
    placeholder: 'reboot',
  })
  const payload = h('textarea', {
    name: 'payload',
    rows: 4,
    placeholder: '{"delay": 5} (JSON; empty means null)',
  })
  const timeout = h('input', { name: 'timeout', type: 'number', min: 5, max: 300, value: 30 })
  const msg = h('p', { class: 'status info', role: 'status', 'data-field': 'method-status' })
  const response = h('pre', { class: 'body', 'data-field': 'method-response' })
  const invoke = h('button', { type: 'submit', class: 'primary' }, 'Invoke')

  const form = h(
    'form',
    {
      class: 'grid',
      'data-form': 'method',
      onsubmit: (e: Event) => {
        e.preventDefault()
        let body: unknown = null
        if (payload.value.trim() !== '') {
          try {
            body = JSON.parse(payload.value)
          } catch (err) {
            status(msg, 'error', `Payload is not JSON: ${err instanceof Error ? err.message : String(err)}`)
            return
          }
        }
        const d = deviceId.value.trim()
        const m = moduleId.value.trim()
        const path = m ? `/twins/${seg(d)}/modules/${seg(m)}/methods` : `/twins/${seg(d)}/methods`
        const seconds = Number(timeout.value) || 30
        invoke.disabled = true
        replace(response)
        status(msg, 'info', `Calling ${methodName.value} (timeout ${seconds} s)…`)
        api('POST', path, {
          methodName: methodName.value.trim(),
          payload: body,
          responseTimeoutInSeconds: seconds,
          connectTimeoutInSeconds: 0,
        })
          .then(
            (answer) => {
              const a = (answer ?? {}) as { status?: unknown; payload?: unknown }
              status(msg, 'ok', `Device answered status ${String(a.status)}`)
              response.textContent = JSON.stringify(a.payload, null, 2) ?? 'null'
            },
            (err: unknown) => {
              if (err instanceof ApiError && err.status === 404) {
                status(msg, 'error', `404 — device not online or not subscribed to methods. ${err.message}`)
              } else if (err instanceof ApiError && err.status === 504) {
                status(msg, 'error', `504 — the device did not answer within ${seconds} s. ${err.message}`)
              } else if (err instanceof ApiError) {
                status(msg, 'error', `${err.status} — ${err.message}`)
              } else status(msg, 'error', err instanceof Error ? err.message : String(err))
            },
          )
          .finally(() => {
            invoke.disabled = false
          })
      },
    },
    h('label', null, 'Device id', deviceId),
    h('label', null, 'Module id', moduleId),
    h('label', null, 'Method', methodName),
    h('label', null, 'Timeout (s)', timeout),
    h('label', { class: 'wide' }, 'Payload', payload),
    h('div', { class: 'buttons' }, invoke),
  )
  replace(panel, form, msg, h('h3', null, 'Response'), response)
}
