/**
 * The Twin tab: view a device's or module's twin, edit its desired properties and tags as
 * JSON (checked before sending), and see reported properties update live.
 *
 * @module
 */

import { api, seg } from './api.js'
import { h, localTime, replace, status } from './dom.js'
import type { Store } from './store.js'

interface Twin {
  etag?: string
  version?: number
  tags?: Record<string, unknown>
  properties?: { desired?: Record<string, unknown>; reported?: Record<string, unknown> }
}

function withoutMeta(doc: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(doc ?? {})) if (k !== '$metadata' && k !== '$version') out[k] = v
  return out
}

/**
 * Checks the editor's text: a JSON object whose members are only `desired` and `tags`, each an
 * object. Returns the PATCH body, or throws with what is wrong.
 */
export function checkTwinEdit(text: string): {
  tags?: Record<string, unknown>
  properties?: { desired: Record<string, unknown> }
} {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new Error(`not JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new Error('expected a JSON object with "desired" and/or "tags"')
  const patch: { tags?: Record<string, unknown>; properties?: { desired: Record<string, unknown> } } = {}
  for (const [k, v] of Object.entries(doc)) {
    if (k !== 'desired' && k !== 'tags')
      throw new Error(`unexpected member "${k}": only "desired" and "tags" can be edited`)
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new Error(`"${k}" must be a JSON object`)
    if (k === 'tags') patch.tags = v as Record<string, unknown>
    else patch.properties = { desired: v as Record<string, unknown> }
  }
  if (!patch.tags && !patch.properties) throw new Error('nothing to send: give "desired" and/or "tags"')
  return patch
}

/** Mounts the tab into `panel`. */
export function mountTwin(panel: HTMLElement, store: Store): void {
  const deviceId = h('input', { name: 'deviceId', list: 'device-ids', required: true, autocomplete: 'off' })
  const moduleId = h('input', {
    name: 'moduleId',
    list: 'module-ids',
    placeholder: 'optional',
    autocomplete: 'off',
  })
  const view = h('pre', { class: 'body twin', 'data-field': 'twin' })
  const reported = h('pre', { class: 'body', 'data-field': 'reported' })
  const reportedAt = h('span', { class: 'time', 'data-field': 'reported-time' })
  const editor = h('textarea', {
    name: 'edit',
    rows: 10,
    spellcheck: 'false',
    'aria-label': 'desired and tags JSON',
  })
  const msg = h('p', { class: 'status info', role: 'status', 'data-field': 'twin-status' })
  let loaded: { deviceId: string; moduleId: string } | undefined
  let etag: string | undefined

  const path = (): string =>
    loaded?.moduleId
      ? `/twins/${seg(loaded.deviceId)}/modules/${seg(loaded.moduleId)}`
      : `/twins/${seg(loaded?.deviceId ?? '')}`

  function show(twin: Twin, fillEditor: boolean): void {
    etag = twin.etag
    view.textContent = JSON.stringify(twin, null, 2)
    reported.textContent = JSON.stringify(withoutMeta(twin.properties?.reported), null, 2)
    if (fillEditor) {
      editor.value = JSON.stringify(
        { desired: withoutMeta(twin.properties?.desired), tags: twin.tags ?? {} },
        null,
        2,
      )
    }
  }

  async function load(fillEditor: boolean): Promise<void> {
    const twin = (await api('GET', path())) as Twin
    show(twin, fillEditor)
  }

  const loadForm = h(
    'form',
    {
      class: 'row',
      'data-form': 'twin-load',
      onsubmit: (e: Event) => {
        e.preventDefault()
        loaded = { deviceId: deviceId.value.trim(), moduleId: moduleId.value.trim() }
        load(true).then(
          () =>
            status(
              msg,
              'ok',
              `Twin of ${loaded?.deviceId}${loaded?.moduleId ? `/${loaded.moduleId}` : ''} loaded.`,
            ),
          (err: unknown) => status(msg, 'error', err instanceof Error ? err.message : String(err)),
        )
      },
    },
    h('label', null, 'Device id ', deviceId),
    h('label', null, 'Module id ', moduleId),
    h('button', { type: 'submit' }, 'Load twin'),
  )

  const save = h(
    'button',
    { type: 'button', class: 'primary', 'data-action': 'twin-save' },
    'Send desired + tags',
  )
  save.addEventListener('click', () => {
    if (!loaded) {
      status(msg, 'error', 'Load a twin first.')
      return
    }
    let patch: ReturnType<typeof checkTwinEdit>
    try {
      patch = checkTwinEdit(editor.value)
    } catch (err) {
      status(msg, 'error', `Not sent: ${err instanceof Error ? err.message : String(err)}`)
      return
    }
    api('PATCH', path(), patch, { 'if-match': etag ?? '*' }).then(
      (twin) => {
        if (twin && typeof twin === 'object') show(twin as Twin, true)
        else void load(true)
        status(msg, 'ok', 'Twin updated.')
      },
      (err: unknown) => status(msg, 'error', err instanceof Error ? err.message : String(err)),
    )
  })

  store.onEvent((e) => {
    if (!loaded || e.deviceId !== loaded.deviceId || (e.moduleId ?? '') !== loaded.moduleId) return
    if (e.event !== 'twin-reported' && e.event !== 'twin-desired') return
    if (e.event === 'twin-reported') reportedAt.textContent = `updated ${localTime(e.time)}`
    load(false).catch((err: unknown) =>
      status(msg, 'error', err instanceof Error ? err.message : String(err)),
    )
  })

  replace(
    panel,
    loadForm,
    msg,
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        null,
        h('h3', null, 'Edit desired and tags'),
        h(
          'p',
          { class: 'hint' },
          'A JSON object with "desired" and "tags". Sent as a patch: set a member to null to delete it.',
        ),
        editor,
        h('div', { class: 'buttons' }, save),
      ),
      h('section', null, h('h3', null, 'Reported ', reportedAt), reported),
    ),
    h('details', null, h('summary', null, 'Whole twin'), view),
  )
}
