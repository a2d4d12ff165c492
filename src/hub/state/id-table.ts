/**
 * Tables keyed by ids (devices, modules, sessions, enrollments, CAs): null-prototype objects,
 * so an id such as `__proto__` or `constructor` is an ordinary key.
 *
 * @module
 */

/** A new empty table keyed by ids. */
export function idTable<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}
