/**
 * The one reader of `name=value&name=value` text: a token's fields, a topic's query, a property
 * bag and a username's `?api-version=…`. It only splits; what a field may be called, whether a
 * name may repeat and whether a value is percent-decoded are the caller's rules, so each keeps
 * its own error with its own words.
 *
 * @module
 */

/** One field of a query string, exactly as sent. */
export interface QueryField {
  /** The text before the first `=` (the whole field when there is none); may be empty. */
  readonly name: string
  /** The text after the first `=`, or `undefined` when the field has no `=`. */
  readonly value: string | undefined
}

/**
 * Splits `text` at every `&` into its fields, in order, nothing decoded. The empty string has no
 * fields; an empty field (`a=1&&b=2`, a trailing `&`) is one with an empty name, so a caller that
 * refuses those sees them.
 *
 * @example
 * readQuery('$rid=1&$version=3&flag') // [{name:'$rid',value:'1'}, {name:'$version',value:'3'}, {name:'flag',value:undefined}]
 */
export function readQuery(text: string): QueryField[] {
  if (text === '') return []
  return text.split('&').map((field) => {
    const eq = field.indexOf('=')
    return eq === -1
      ? { name: field, value: undefined }
      : { name: field.slice(0, eq), value: field.slice(eq + 1) }
  })
}

/** The first name that `fields` holds twice, or `undefined` when every name is distinct. */
export function repeatedName(fields: readonly QueryField[]): string | undefined {
  const seen = new Set<string>()
  for (const { name } of fields) {
    if (seen.has(name)) return name
    seen.add(name)
  }
  return undefined
}
