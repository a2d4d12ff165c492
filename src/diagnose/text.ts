/**
 * Untrusted text and numbers as the findings write them: quoted and cut short for a message,
 * cut short for a fact, a span of seconds in words, an epoch second as ISO 8601.
 *
 * @module
 */

/** Untrusted text, quoted and cut short for a message. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 130 ? `${text.slice(0, 128)}…` : text)
}

/** Untrusted text, cut short for a fact. */
export function fact(text: string): string {
  return text.length > 256 ? `${text.slice(0, 255)}…` : text
}

/** `3 minutes`, `2 hours`, `26 years`: a rough reading of a span in seconds. */
export function span(seconds: number): string {
  const abs = Math.abs(seconds)
  const units: Array<[string, number]> = [
    ['year', 365 * 86400],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ]
  const [unit, size] = units.find(([name, s]) => abs >= (name === 'year' ? 2 * s : s)) ?? ['second', 1]
  const n = Math.floor(abs / size)
  return `${n} ${unit}${n === 1 ? '' : 's'}`
}

export const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()
