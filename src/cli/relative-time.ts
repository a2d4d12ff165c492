/**
 * `in 59 minutes`, `3 hours ago`: a rough, human reading of a span.
 *
 * @module
 */

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
]

/** A span in seconds, read as `in N units` (future) or `N units ago` (past). */
export function relativeTime(seconds: number): string {
  const abs = Math.abs(seconds)
  const [unit, size] = UNITS.find(([, s]) => abs >= s) ?? ['second', 1]
  const n = Math.floor(abs / size)
  const span = `${n} ${unit}${n === 1 ? '' : 's'}`
  return seconds >= 0 ? `in ${span}` : `${span} ago`
}
