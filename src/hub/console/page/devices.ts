/**
 * The Devices tab: every device and module with its live connection state and last activity;
 * add and remove devices and modules; copy a connection string (the key is shown nowhere, it
 * only goes to the clipboard on request); break a connected one on purpose (drop its
 * connection, refuse its next connect, expire its token: `POST /_emulator/faults`), and see the
 * hub's `fault` events as they come.
 *
 * @module
 */

import { api, seg } from './api.js'
import { copyText, h, localTime, replace, status } from './dom.js'
import type { Identity, Store } from './store.js'

/** The device connection string for an identity, from its primary key. */
export function connectionString(
  hostName: string,
  id: Identity,
  key: 'primary' | 'secondary' = 'primary',
): string {
  const sym = id.authentication?.symmetricKey
  const value = key === 'primary' ? sym?.primaryKey : sym?.secondaryKey
  if (!value) throw new Error(`${id.moduleId ? 'module' : 'device'} has no symmetric ${key} key`)
  return (
    `HostName=${hostName};DeviceId=${id.deviceId}` +
    (id.moduleId ? `;ModuleId=${id.moduleId}` : '') +
    `;SharedAccessKey=${value}`
  )
}

function stateCell(id: Identity): HTMLElement {
  const online = id.connectionState === 'Connected'
  return h(
    'span',
    { class: `state ${online ? 'online' : 'offline'}`, 'data-state': online ? 'online' : 'offline' },
    online ? 'Connected' : 'Disconnected',
  )
}

/** The last activity, or `—` for none: IoT Hub writes `0001-01-01T00:00:00Z` (year 1) for a time that never was. */
function lastActivity(time: string | undefined): string {
  return time === undefined || !(new Date(time).getUTCFullYear() > 1) ? '—' : localTime(time)
}

/** Mounts the tab into `panel`. */
export function mountDevices(panel: HTMLElement, store: Store): void {
  const msg = h('p', { class: 'status info', role: 'status' })
  const newDevice = h('input', {
    name: 'deviceId',
    placeholder: 'device id',
    required: true,
    autocomplete: 'off',
  })
  const modDevice = h('input', {
    name: 'deviceId',
    placeholder: 'device id',
    list: 'device-ids',
    required: true,
  })
  const modId = h('input', {
    name: 'moduleId',
    placeholder: 'module id',
    required: true,
    autocomplete: 'off',
  })
  const body = h('tbody')

  const report = (p: Promise<unknown>, done: string): void => {
    p.then(
      () => status(msg, 'ok', done),
      (err: unknown) => status(msg, 'error', err instanceof Error ? err.message : String(err)),
    )
  }

  const addDevice = h(
    'form',
    {
      class: 'row',
      'data-form': 'add-device',
      onsubmit: (e: Event) => {
        e.preventDefault()
        const id = newDevice.value.trim()
        report(
          api('PUT', `/devices/${seg(id)}`, {
            deviceId: id,
            status: 'enabled',
            authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
          }).then(() => {
            newDevice.value = ''
            return store.refreshDevices()
          }),
          `Device ${id} added.`,
        )
      },
    },
    h('label', null, 'New device ', newDevice),
    h('button', { type: 'submit' }, 'Add device'),
  )
  const addModule = h(
    'form',
    {
      class: 'row',
      'data-form': 'add-module',
      onsubmit: (e: Event) => {
        e.preventDefault()
        const d = modDevice.value.trim()
        const m = modId.value.trim()
        report(
          api('PUT', `/devices/${seg(d)}/modules/${seg(m)}`, {
            deviceId: d,
            moduleId: m,
            authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
          }).then(() => {
            modId.value = ''
            return store.refreshDevices()
          }),
          `Module ${d}/${m} added.`,
        )
      },
    },
    h('label', null, 'New module ', modDevice),
    modId,
    h('button', { type: 'submit' }, 'Add module'),
  )
  const refresh = h(
    'button',
    { type: 'button', onclick: () => report(store.refreshDevices(), 'Device list reloaded.') },
    'Refresh',
  )

  function row(id: Identity, isModule: boolean): HTMLTableRowElement {
    const name = isModule ? `${id.deviceId}/${id.moduleId ?? ''}` : id.deviceId
    const path = isModule
      ? `/devices/${seg(id.deviceId)}/modules/${seg(id.moduleId ?? '')}`
      : `/devices/${seg(id.deviceId)}`
    const copy = h(
      'button',
      {
        type: 'button',
        'data-action': 'copy-connection-string',
        onclick: () => {
          let cs: string
          try {
            cs = connectionString(store.info.hostName, id)
          } catch (err) {
            status(msg, 'error', err instanceof Error ? err.message : String(err))
            return
          }
          report(copyText(cs), `Connection string of ${name} copied.`)
        },
      },
      'Copy connection string',
    )
    const remove = h(
      'button',
      {
        type: 'button',
        class: 'danger',
        'data-action': 'remove',
        onclick: () => {
          if (!window.confirm(`Remove ${isModule ? 'module' : 'device'} ${name}?`)) return
          report(
            api('DELETE', path, undefined, { 'if-match': '*' }).then(() => store.refreshDevices()),
            `${name} removed.`,
          )
        },
      },
      'Remove',
    )
    const faultButton = (kind: 'drop' | 'refuse' | 'expire', label: string, done: string): HTMLElement =>
      h(
        'button',
        {
          type: 'button',
          'data-fault': kind,
          onclick: () =>
            report(
              api('POST', '/_emulator/faults', {
                kind,
                deviceId: id.deviceId,
                ...(isModule ? { moduleId: id.moduleId } : {}),
                ...(kind === 'refuse' ? { count: 1 } : {}),
              }),
              done,
            ),
        },
        label,
      )
    const faults = [
      faultButton('drop', 'Drop', `${name}: connection dropped.`),
      faultButton('refuse', 'Refuse next', `${name}: its next connect will be refused.`),
      faultButton('expire', 'Expire token', `${name}: token expired.`),
    ]
    return h(
      'tr',
      { class: isModule ? 'module' : 'device', 'data-identity': name },
      h('td', { class: 'id', 'data-label': isModule ? 'Module' : 'Device' }, isModule ? `↳ ${name}` : name),
      h('td', { 'data-label': 'State' }, stateCell(id)),
      h('td', { 'data-label': 'Last activity', class: 'time' }, lastActivity(id.lastActivityTime)),
      h(
        'td',
        { 'data-label': 'Auth' },
        `${id.authentication?.type ?? '?'}${id.status === 'disabled' ? ' (disabled)' : ''}`,
      ),
      h('td', { class: 'actions' }, copy, ...faults, remove),
    )
  }

  // the hub's fault events, newest first (at most 20)
  const faultList = h('ul', { class: 'faults', 'data-list': 'faults' })
  store.onEvent((e) => {
    if (e.event !== 'fault') return
    const who =
      e.deviceId === undefined ? 'hub' : `${e.deviceId}${e.moduleId === undefined ? '' : `/${e.moduleId}`}`
    const item = h(
      'li',
      { 'data-fault': e.fault },
      `${localTime(e.time)} ${who} ${e.fault} (${e.source}): ${e.action}${e.until === undefined ? '' : ` until ${localTime(e.until)}`}`,
    )
    faultList.prepend(item)
    while (faultList.children.length > 20) faultList.lastElementChild?.remove()
  })

  store.onDevices((devices) => {
    const rows: HTMLTableRowElement[] = []
    for (const { device, modules } of devices.values()) {
      rows.push(row(device, false))
      for (const m of modules) rows.push(row(m, true))
    }
    if (rows.length === 0) {
      replace(body, h('tr', null, h('td', { colspan: 5, class: 'empty' }, 'No devices yet. Add one above.')))
    } else replace(body, ...rows)
  })

  replace(
    panel,
    h('div', { class: 'forms' }, addDevice, addModule, refresh),
    msg,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'devices cards' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', null, 'Identity'),
            h('th', null, 'State'),
            h('th', null, 'Last activity'),
            h('th', null, 'Auth'),
            h('th', null, ''),
          ),
        ),
        body,
      ),
    ),
    h('h3', null, 'Faults'),
    faultList,
  )
}
