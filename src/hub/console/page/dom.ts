/**
 * The page's only way to make DOM nodes. Text always goes in through `textContent` (via text
 * nodes), attributes through `setAttribute` with names fixed in the page's own code, so nothing a
 * device sends can become markup or script. The page never assigns `innerHTML`.
 *
 * @module
 */

/** A child of {@link h}: a node, a string (becomes a text node), or nothing. */
export type Child = Node | string | number | null | undefined | false

/** Attributes and handlers of {@link h}. `on*` entries are listeners, never attribute strings. */
export interface Props {
  class?: string
  [attribute: string]: string | number | boolean | undefined | EventListener
}

/**
 * Makes an element. String children become text nodes; attribute values are set with
 * `setAttribute`; `on<event>` entries are added with `addEventListener`.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  if (props) {
    for (const [name, value] of Object.entries(props)) {
      if (value === undefined || value === false) continue
      if (typeof value === 'function') {
        el.addEventListener(name.slice(2).toLowerCase(), value)
      } else if (value === true) {
        el.setAttribute(name, '')
      } else {
        el.setAttribute(name, String(value))
      }
    }
  }
  append(el, ...children)
  return el
}

/** Appends children as {@link h} does. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

/** Removes every child of `el`, then appends `children`. */
export function replace(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild)
  append(el, ...children)
}

/** Copies text to the clipboard; falls back to a selected textarea where the API is missing. */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text)
    return
  }
  const area = h('textarea', { class: 'offscreen', readonly: true })
  area.value = text
  document.body.appendChild(area)
  area.select()
  document.execCommand('copy')
  area.remove()
}

/** Formats an ISO time or epoch ms as `YYYY-MM-DD HH:MM:SS.mmm` local time. */
export function localTime(time: string | number | Date): string {
  const d = new Date(time)
  if (Number.isNaN(d.getTime())) return String(time)
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
  )
}

/** A status line: `kind` picks its colour (ok, error, info). */
export function status(el: HTMLElement, kind: 'ok' | 'error' | 'info', ...children: Child[]): void {
  el.className = `status ${kind}`
  replace(el, ...children)
}
