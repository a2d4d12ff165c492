/**
 * IoT Hub's query language, parsed: `SELECT [TOP n] * | items FROM devices | devices.modules | devices.jobs
 * [WHERE condition] [GROUP BY paths]`, by recursive descent over the lexer's tokens. Keywords
 * are case-insensitive; property names are not. Total: any text either parses or throws the
 * one query error, pointing at the token. Pure: no hub state, no I/O.
 *
 * @module
 */
import { tokenize } from './lexer.js'
import type { Token } from './lexer.js'
import { queryError } from './query-error.js'

/** A JSON value, or `undefined` for a property that is not there. */
export type Value = null | boolean | number | string | Value[] | { [key: string]: Value } | undefined

/** The binary operators, as written (`<>` is read as `!=`). */
export type BinaryOperator = 'AND' | 'OR' | '=' | '!=' | '<' | '>' | '<=' | '>=' | '+' | '-' | '*' | '/' | '%'

/** The functions a condition may call, with how many arguments each takes. */
export const FUNCTIONS = {
  IS_DEFINED: 1,
  IS_NULL: 1,
  IS_BOOL: 1,
  IS_NUMBER: 1,
  IS_STRING: 1,
  IS_OBJECT: 1,
  IS_ARRAY: 1,
  IS_PRIMITIVE: 1,
  STARTSWITH: 2,
  ENDSWITH: 2,
  CONTAINS: 2,
  LOWER: 1,
  UPPER: 1,
  LENGTH: 1,
} as const

/** A function a condition may call. */
export type FunctionName = keyof typeof FUNCTIONS

/** Other spellings of the functions (the routing-query names). */
const FUNCTION_ALIASES: Readonly<Record<string, FunctionName>> = {
  STARTS_WITH: 'STARTSWITH',
  ENDS_WITH: 'ENDSWITH',
}

/** The aggregates a SELECT item may be. */
export type AggregateName = 'COUNT' | 'SUM' | 'AVG' | 'MIN' | 'MAX'
const AGGREGATES: readonly string[] = ['COUNT', 'SUM', 'AVG', 'MIN', 'MAX']

/** An expression of a condition; `index` is where it starts in the query (0-based). */
export type Expr =
  | { type: 'literal'; value: Value; index: number }
  | { type: 'path'; path: readonly string[]; index: number }
  | { type: 'array'; items: readonly Value[]; index: number }
  | { type: 'not'; operand: Expr; index: number }
  | { type: 'negate'; operand: Expr; index: number }
  | { type: 'binary'; op: BinaryOperator; left: Expr; right: Expr; index: number }
  | { type: 'in'; negated: boolean; operand: Expr; list: readonly Value[]; index: number }
  | { type: 'call'; name: FunctionName; args: readonly Expr[]; index: number }

/** One item of a SELECT list, with the name it has in each result row. */
export type SelectItem =
  | { kind: 'path'; path: readonly string[]; name: string; index: number }
  | { kind: 'aggregate'; aggregate: AggregateName; path?: readonly string[]; name: string; index: number }

/** The collections a query can run over. */
export type Collection = 'devices' | 'devices.modules' | 'devices.jobs'

/** A parsed query. */
export interface Query {
  /** `*` (whole twins) or the items of each row. */
  readonly select: '*' | readonly SelectItem[]
  /** `TOP n`: at most this many results. */
  readonly top?: number
  readonly from: Collection
  readonly where?: Expr
  /** The property paths of `GROUP BY`, empty without one. */
  readonly groupBy: readonly (readonly string[])[]
}

/** The longest query taken, characters. */
export const MAX_QUERY_LENGTH = 8192
/** How deep parentheses, NOT and operators may nest. */
export const MAX_NESTING = 64

const RESERVED = new Set([
  'SELECT',
  'TOP',
  'FROM',
  'WHERE',
  'GROUP',
  'BY',
  'AS',
  'AND',
  'OR',
  'NOT',
  'IN',
  'NIN',
  'TRUE',
  'FALSE',
  'NULL',
  'UNDEFINED',
])

const COMPARISONS: Readonly<Record<string, BinaryOperator>> = {
  '=': '=',
  '!=': '!=',
  '<>': '!=',
  '<': '<',
  '>': '>',
  '<=': '<=',
  '>=': '>=',
}

class Parser {
  readonly #tokens: readonly Token[]
  #at = 0
  #depth = 0
  /** The collection the query reads (known once FROM is parsed; conditions come after it). */
  #collection: Collection | undefined

  constructor(tokens: readonly Token[]) {
    this.#tokens = tokens
  }

  get #token(): Token {
    return (
      this.#tokens[this.#at] ?? this.#tokens[this.#tokens.length - 1] ?? { kind: 'end', text: '', index: 0 }
    )
  }

  #next(): Token {
    const t = this.#token
    if (t.kind !== 'end') this.#at += 1
    return t
  }

  #fail(reason: string, t: Token = this.#token): never {
    throw queryError(t.index, t.text, reason)
  }

  #isKeyword(word: string, t: Token = this.#token): boolean {
    return t.kind === 'name' && t.text.toUpperCase() === word
  }

  #isOp(op: string, t: Token = this.#token): boolean {
    return t.kind === 'op' && t.text === op
  }

  #keyword(word: string, expected = `expected ${word}.`): Token {
    if (!this.#isKeyword(word)) this.#fail(expected)
    return this.#next()
  }

  #op(op: string, expected = `expected "${op}".`): Token {
    if (!this.#isOp(op)) this.#fail(expected)
    return this.#next()
  }

  #nest<T>(f: () => T): T {
    this.#depth += 1
    if (this.#depth > MAX_NESTING) this.#fail(`the query nests deeper than ${MAX_NESTING} levels.`)
    try {
      return f()
    } finally {
      this.#depth -= 1
    }
  }

  query(): Query {
    this.#keyword('SELECT', 'a query starts with SELECT.')
    let top: number | undefined
    if (this.#isKeyword('TOP')) {
      this.#next()
      const n = this.#token
      if (n.kind !== 'number' || !Number.isSafeInteger(n.value) || n.value < 1)
        this.#fail('TOP takes a whole number of at least 1.')
      top = n.value
      this.#next()
    }
    const select = this.#selectList()
    this.#keyword('FROM', 'expected FROM after the SELECT list (or "," and another item).')
    const from = this.#from()
    this.#collection = from
    let where: Expr | undefined
    if (this.#isKeyword('WHERE')) {
      this.#next()
      where = this.#expression()
    }
    const groupBy: (readonly string[])[] = []
    if (this.#isKeyword('GROUP')) {
      this.#next()
      this.#keyword('BY', 'expected BY after GROUP.')
      do {
        if (groupBy.length > 0) this.#next()
        groupBy.push(
          this.#path(from, 'GROUP BY takes property paths (tags.site, properties.reported.status).'),
        )
      } while (this.#isOp(','))
    }
    if (this.#token.kind !== 'end') {
      const after = groupBy.length > 0 ? 'the GROUP BY list' : where ? 'the WHERE condition' : 'FROM'
      this.#fail(
        `expected the end of the query after ${after}${where || groupBy.length > 0 ? '' : ' (or WHERE, GROUP BY)'}.`,
      )
    }
    const query: Query = {
      select,
      from,
      groupBy,
      ...(top === undefined ? {} : { top }),
      ...(where === undefined ? {} : { where }),
    }
    checkGrouping(query)
    return query
  }

  #selectList(): '*' | SelectItem[] {
    if (this.#isOp('*')) {
      this.#next()
      return '*'
    }
    const items: SelectItem[] = []
    do {
      if (items.length > 0) this.#next()
      items.push(this.#selectItem(items.length + 1))
    } while (this.#isOp(','))
    const names = new Set<string>()
    for (const item of items) {
      if (names.has(item.name))
        throw queryError(
          item.index,
          item.name,
          `two SELECT items are named ${JSON.stringify(item.name)}; give one another name with AS.`,
        )
      names.add(item.name)
    }
    return items
  }

  #selectItem(position: number): SelectItem {
    const start = this.#token
    const after = this.#tokens[this.#at + 1]
    let item: SelectItem
    if (start.kind === 'name' && after !== undefined && this.#isOp('(', after)) {
      const aggregate = start.text.toUpperCase()
      if (!AGGREGATES.includes(aggregate))
        this.#fail(
          'a SELECT item is a property path or an aggregate: COUNT(), SUM(p), AVG(p), MIN(p) or MAX(p).',
        )
      this.#next()
      this.#next()
      const name = aggregate as AggregateName
      if (name === 'COUNT') {
        this.#op(')', 'COUNT takes no argument: write COUNT().')
        item = { kind: 'aggregate', aggregate: name, name: `$${position}`, index: start.index }
      } else {
        const path = this.#path(
          undefined,
          `${name} takes a property path, as ${name}(properties.reported.temperature).`,
        )
        this.#op(')', `expected ")" to close ${name}(.`)
        item = { kind: 'aggregate', aggregate: name, path, name: `$${position}`, index: start.index }
      }
    } else {
      const path = this.#path(
        undefined,
        'a SELECT item is *, a property path (deviceId, tags.site) or an aggregate such as COUNT().',
      )
      item = { kind: 'path', path, name: path[path.length - 1] ?? '', index: start.index }
    }
    if (this.#isKeyword('AS')) {
      this.#next()
      const alias = this.#token
      if (alias.kind !== 'name' || RESERVED.has(alias.text.toUpperCase()))
        this.#fail('AS takes a name that is not a keyword.')
      this.#next()
      item = { ...item, name: alias.text }
    }
    return item
  }

  #from(): Collection {
    const first = this.#token
    if (!this.#isKeyword('DEVICES')) this.#fail('FROM takes devices, devices.modules or devices.jobs.')
    this.#next()
    if (!this.#isOp('.')) return 'devices'
    this.#next()
    const second = this.#token
    if (this.#isKeyword('MODULES')) {
      this.#next()
      return 'devices.modules'
    }
    if (this.#isKeyword('JOBS')) {
      this.#next()
      return 'devices.jobs'
    }
    return this.#fail(
      `FROM takes devices, devices.modules or devices.jobs, not ${first.text}.${second.text}.`,
      second,
    )
  }

  /** A property path; in a WHERE or GROUP BY of `from`, a leading `devices.` (`devices.modules.`) is dropped. */
  #path(from: Collection | undefined, expected: string): string[] {
    const first = this.#token
    if (first.kind !== 'name' || RESERVED.has(first.text.toUpperCase())) this.#fail(expected)
    this.#next()
    const path = [first.text]
    while (this.#isOp('.')) {
      this.#next()
      const part = this.#token
      if (part.kind !== 'name') this.#fail('expected a property name after ".".')
      this.#next()
      path.push(part.text)
    }
    return withoutCollection(path, from)
  }

  #expression(): Expr {
    return this.#nest(() => this.#or())
  }

  #or(): Expr {
    let left = this.#and()
    while (this.#isKeyword('OR')) {
      this.#next()
      left = { type: 'binary', op: 'OR', left, right: this.#and(), index: left.index }
    }
    return left
  }

  #and(): Expr {
    let left = this.#not()
    while (this.#isKeyword('AND')) {
      this.#next()
      left = { type: 'binary', op: 'AND', left, right: this.#not(), index: left.index }
    }
    return left
  }

  #not(): Expr {
    if (!this.#isKeyword('NOT')) return this.#comparison()
    const t = this.#next()
    return this.#nest(() => ({ type: 'not', operand: this.#not(), index: t.index }))
  }

  #comparison(): Expr {
    const left = this.#additive()
    const t = this.#token
    const op = t.kind === 'op' ? COMPARISONS[t.text] : undefined
    if (op !== undefined) {
      this.#next()
      return { type: 'binary', op, left, right: this.#additive(), index: left.index }
    }
    if (this.#isKeyword('IN') || this.#isKeyword('NIN')) {
      this.#next()
      const list = this.#token
      if (!this.#isOp('['))
        this.#fail(`${t.text.toUpperCase()} takes a list of constants in brackets: ['a', 'b'].`)
      const items = this.#array()
      return {
        type: 'in',
        negated: t.text.toUpperCase() === 'NIN',
        operand: left,
        list: items,
        index: list.index,
      }
    }
    return left
  }

  #additive(): Expr {
    let left = this.#multiplicative()
    while (this.#isOp('+') || this.#isOp('-')) {
      const op = this.#next().text as '+' | '-'
      left = { type: 'binary', op, left, right: this.#multiplicative(), index: left.index }
    }
    return left
  }

  #multiplicative(): Expr {
    let left = this.#unary()
    while (this.#isOp('*') || this.#isOp('/') || this.#isOp('%')) {
      const op = this.#next().text as '*' | '/' | '%'
      left = { type: 'binary', op, left, right: this.#unary(), index: left.index }
    }
    return left
  }

  #unary(): Expr {
    if (!this.#isOp('-')) return this.#primary()
    const t = this.#next()
    return this.#nest(() => ({ type: 'negate', operand: this.#unary(), index: t.index }))
  }

  #primary(): Expr {
    const t = this.#token
    if (t.kind === 'number' || t.kind === 'string') {
      this.#next()
      return { type: 'literal', value: t.value, index: t.index }
    }
    if (this.#isOp('(')) {
      this.#next()
      const inner = this.#expression()
      this.#op(')', 'expected ")" to close the "(".')
      return inner
    }
    if (this.#isOp('[')) return { type: 'array', items: this.#array(), index: t.index }
    if (t.kind !== 'name')
      this.#fail('expected a value: a property path, a constant, a function call or "(".')
    const word = t.text.toUpperCase()
    const constant = constantOf(word)
    if (constant !== NOT_CONSTANT) {
      this.#next()
      return { type: 'literal', value: constant, index: t.index }
    }
    const after = this.#tokens[this.#at + 1]
    if (after !== undefined && this.#isOp('(', after)) return this.#call()
    if (RESERVED.has(word)) this.#fail(`${word} cannot stand here; expected a value.`)
    return { type: 'path', path: this.#pathOfCondition(), index: t.index }
  }

  #pathOfCondition(): string[] {
    return this.#path(this.#collection, 'expected a property path.')
  }

  #call(): Expr {
    const t = this.#next()
    const upper = t.text.toUpperCase()
    const name =
      FUNCTION_ALIASES[upper] ?? (Object.hasOwn(FUNCTIONS, upper) ? (upper as FunctionName) : undefined)
    if (name === undefined) {
      const reason = AGGREGATES.includes(upper)
        ? `${upper}() is an aggregate: it goes in the SELECT list, not in a condition.`
        : `${t.text}() is not a function the hub knows; the functions are ${Object.keys(FUNCTIONS).join(', ')}.`
      this.#fail(reason, t)
    }
    this.#next()
    const args: Expr[] = []
    if (!this.#isOp(')')) {
      do {
        if (args.length > 0) this.#next()
        args.push(this.#expression())
      } while (this.#isOp(','))
    }
    const arity = FUNCTIONS[name]
    if (args.length !== arity)
      this.#fail(
        `${name} takes ${arity === 1 ? 'one argument' : `${arity} arguments`}, not ${args.length}.`,
        t,
      )
    this.#op(')', `expected ")" to close ${name}(.`)
    return { type: 'call', name, args, index: t.index }
  }

  /** `[c, c, …]`: constants only. */
  #array(): Value[] {
    this.#next()
    const items: Value[] = []
    if (this.#isOp(']')) {
      this.#next()
      return items
    }
    do {
      if (items.length > 0) this.#next()
      items.push(this.#constant())
    } while (this.#isOp(','))
    this.#op(']', 'expected "," or "]" in the list.')
    return items
  }

  #constant(): Value {
    const t = this.#token
    if (t.kind === 'number' || t.kind === 'string') {
      this.#next()
      return t.value
    }
    if (this.#isOp('-')) {
      const n = this.#tokens[this.#at + 1]
      if (n?.kind === 'number') {
        this.#next()
        this.#next()
        return -n.value
      }
    }
    if (this.#isOp('[')) return this.#nest(() => this.#array())
    const constant = t.kind === 'name' ? constantOf(t.text.toUpperCase()) : NOT_CONSTANT
    if (constant === NOT_CONSTANT)
      this.#fail('a list holds constants only: numbers, strings, true, false, null.')
    this.#next()
    return constant
  }
}

const NOT_CONSTANT = Symbol('not a constant')

function constantOf(word: string): Value | typeof NOT_CONSTANT {
  switch (word) {
    case 'TRUE':
      return true
    case 'FALSE':
      return false
    case 'NULL':
      return null
    case 'UNDEFINED':
      return undefined
    default:
      return NOT_CONSTANT
  }
}

/** `devices.tags.x` in a query FROM devices is `tags.x` (and `devices.modules.…` FROM devices.modules). */
function withoutCollection(path: string[], from: Collection | undefined): string[] {
  const lower = path.map((p) => p.toLowerCase())
  if (from === 'devices' && path.length > 1 && lower[0] === 'devices') return path.slice(1)
  for (const child of ['modules', 'jobs']) {
    if (from === `devices.${child}` && path.length > 2 && lower[0] === 'devices' && lower[1] === child)
      return path.slice(2)
  }
  return path
}

/** With GROUP BY or an aggregate, every plain SELECT item must be one of the GROUP BY paths. */
function checkGrouping(query: Query): void {
  const items = query.select === '*' ? [] : query.select
  const aggregated = items.some((i) => i.kind === 'aggregate')
  if (query.select === '*' && query.groupBy.length > 0)
    throw queryError(
      0,
      'SELECT',
      'SELECT * cannot be grouped: select the GROUP BY paths and aggregates such as COUNT().',
    )
  if (!aggregated && query.groupBy.length === 0) return
  const grouped = new Set(query.groupBy.map((p) => p.join('.')))
  for (const item of items) {
    if (item.kind === 'path' && !grouped.has(item.path.join('.'))) {
      const why =
        query.groupBy.length === 0
          ? 'next to an aggregate, a SELECT item must be grouped: add GROUP BY'
          : 'this SELECT item is not in the GROUP BY list: add it there'
      throw queryError(item.index, item.path.join('.'), `${why} ${item.path.join('.')}.`)
    }
  }
}

/**
 * Parses a query.
 *
 * @throws {SasTokenError} `ERR_HUB_QUERY_INVALID` for anything that is not a query the hub can run,
 *   with the position (1-based) and the token in the message and as facts.
 */
export function parseQuery(text: string): Query {
  if (text.length > MAX_QUERY_LENGTH)
    throw queryError(
      MAX_QUERY_LENGTH,
      text.slice(MAX_QUERY_LENGTH, MAX_QUERY_LENGTH + 10),
      `the query is longer than ${MAX_QUERY_LENGTH} characters.`,
    )
  return new Parser(tokenize(text)).query()
}
