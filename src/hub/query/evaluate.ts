/**
 * Runs a parsed query over a collection of JSON documents (twins): WHERE keeps a document only
 * when its condition is `true`, GROUP BY groups, SELECT projects, TOP cuts. Conditions follow
 * the SQL-like rules IoT Hub inherits: a property that is not there is `undefined`, and so is a
 * comparison with it, one between values of different types, or one of objects or arrays; `AND`,
 * `OR` and `NOT` are three-valued. Pure: documents in, rows out.
 *
 * @module
 */
import type { AggregateName, BinaryOperator, Expr, FunctionName, Query, SelectItem, Value } from './parser.js'

/** What a query gives: the rows, and whether they are whole twins (`twin`) or projections (`raw`). */
export interface QueryResult {
  readonly rows: readonly unknown[]
  /** IoT Hub's `x-ms-item-type`. */
  readonly itemType: 'twin' | 'deviceJob' | 'raw'
  /** The document each row came from, row for row; absent for aggregates (a row is a group). */
  readonly sources?: readonly unknown[]
}

/** `true` when the rows of `query` are groups (`GROUP BY`, or an aggregate in SELECT), not documents. */
export function isAggregate(query: Query): boolean {
  return (
    query.select !== '*' && (query.groupBy.length > 0 || query.select.some((i) => i.kind === 'aggregate'))
  )
}

type Primitive = null | boolean | number | string

function isPrimitive(v: Value): v is Primitive {
  return v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string'
}

function kind(v: Primitive): string {
  return v === null ? 'null' : typeof v
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** The value at `path` of a document; `undefined` when any step is missing or not an object. */
export function valueAt(doc: unknown, path: readonly string[]): Value {
  let v: unknown = doc
  for (const segment of path) {
    if (!isObject(v) || !Object.hasOwn(v, segment)) return undefined
    v = v[segment]
  }
  return v as Value
}

function compare(op: BinaryOperator, a: Value, b: Value): Value {
  if (!isPrimitive(a) || !isPrimitive(b) || kind(a) !== kind(b)) return undefined
  switch (op) {
    case '=':
      return a === b
    case '!=':
      return a !== b
    default: {
      if (a === null || b === null || typeof a === 'boolean' || typeof b === 'boolean') return undefined
      if (op === '<') return a < b
      if (op === '>') return a > b
      if (op === '<=') return a <= b
      return a >= b
    }
  }
}

function arithmetic(op: BinaryOperator, a: Value, b: Value): Value {
  if (typeof a !== 'number' || typeof b !== 'number') return undefined
  const r = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : op === '/' ? a / b : a % b
  return Number.isFinite(r) ? r : undefined
}

function logical(op: 'AND' | 'OR', a: Value, b: Value): Value {
  if (op === 'AND') {
    if (a === false || b === false) return false
    return a === true && b === true ? true : undefined
  }
  if (a === true || b === true) return true
  return a === false && b === false ? false : undefined
}

function strings(a: Value, b: Value, f: (a: string, b: string) => boolean): Value {
  return typeof a === 'string' && typeof b === 'string' ? f(a, b) : undefined
}

function call(name: FunctionName, args: readonly Value[]): Value {
  const [a, b] = args
  switch (name) {
    case 'IS_DEFINED':
      return a !== undefined
    case 'IS_NULL':
      return a === null
    case 'IS_BOOL':
      return typeof a === 'boolean'
    case 'IS_NUMBER':
      return typeof a === 'number'
    case 'IS_STRING':
      return typeof a === 'string'
    case 'IS_OBJECT':
      return isObject(a)
    case 'IS_ARRAY':
      return Array.isArray(a)
    case 'IS_PRIMITIVE':
      return a !== undefined && isPrimitive(a)
    case 'STARTSWITH':
      return strings(a, b, (x, y) => x.startsWith(y))
    case 'ENDSWITH':
      return strings(a, b, (x, y) => x.endsWith(y))
    case 'CONTAINS':
      return strings(a, b, (x, y) => x.includes(y))
    case 'LOWER':
      return typeof a === 'string' ? a.toLowerCase() : undefined
    case 'UPPER':
      return typeof a === 'string' ? a.toUpperCase() : undefined
    case 'LENGTH':
      return typeof a === 'string' ? a.length : undefined
  }
}

/** The value of an expression over one document. */
export function evaluate(expr: Expr, doc: unknown): Value {
  switch (expr.type) {
    case 'literal':
      return expr.value
    case 'path':
      return valueAt(doc, expr.path)
    case 'array':
      return [...expr.items]
    case 'not': {
      const v = evaluate(expr.operand, doc)
      return typeof v === 'boolean' ? !v : undefined
    }
    case 'negate': {
      const v = evaluate(expr.operand, doc)
      return typeof v === 'number' ? -v : undefined
    }
    case 'in': {
      const v = evaluate(expr.operand, doc)
      if (v === undefined || !isPrimitive(v)) return undefined
      const found = expr.list.some(
        (item) => item !== undefined && isPrimitive(item) && kind(item) === kind(v) && item === v,
      )
      return expr.negated ? !found : found
    }
    case 'call':
      return call(
        expr.name,
        expr.args.map((a) => evaluate(a, doc)),
      )
    case 'binary': {
      const left = evaluate(expr.left, doc)
      const right = evaluate(expr.right, doc)
      if (expr.op === 'AND' || expr.op === 'OR') return logical(expr.op, left, right)
      if (['+', '-', '*', '/', '%'].includes(expr.op)) return arithmetic(expr.op, left, right)
      return compare(expr.op, left, right)
    }
  }
}

function aggregate(
  name: AggregateName,
  path: readonly string[] | undefined,
  docs: readonly unknown[],
): Value {
  if (name === 'COUNT') return docs.length
  const numbers = docs.map((d) => valueAt(d, path ?? [])).filter((v): v is number => typeof v === 'number')
  if (name === 'SUM') return numbers.reduce((s, n) => s + n, 0)
  if (numbers.length === 0) return undefined
  if (name === 'AVG') return numbers.reduce((s, n) => s + n, 0) / numbers.length
  return name === 'MIN' ? Math.min(...numbers) : Math.max(...numbers)
}

function row(items: readonly SelectItem[], value: (item: SelectItem) => Value): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const item of items) {
    const v = value(item)
    if (v !== undefined)
      Object.defineProperty(out, item.name, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      })
  }
  return out
}

function grouped(
  query: Query,
  items: readonly SelectItem[],
  docs: readonly unknown[],
): Record<string, unknown>[] {
  const groups = new Map<string, { values: Value[]; docs: unknown[] }>()
  if (query.groupBy.length === 0) groups.set('', { values: [], docs: [...docs] })
  for (const doc of query.groupBy.length === 0 ? [] : docs) {
    const values = query.groupBy.map((p) => valueAt(doc, p))
    const key = JSON.stringify(values.map((v) => (v === undefined ? { undefined: true } : { v })))
    const group = groups.get(key)
    if (group) group.docs.push(doc)
    else groups.set(key, { values, docs: [doc] })
  }
  const at = new Map(query.groupBy.map((p, i) => [p.join('.'), i]))
  return [...groups.values()].map((g) =>
    row(items, (item) =>
      item.kind === 'aggregate'
        ? aggregate(item.aggregate, item.path, g.docs)
        : g.values[at.get(item.path.join('.')) ?? -1],
    ),
  )
}

/** Runs `query` over `documents` (in the order given). */
export function runQuery(query: Query, documents: readonly unknown[]): QueryResult {
  const where = query.where
  const kept = where === undefined ? documents : documents.filter((d) => evaluate(where, d) === true)
  const cut = <T>(rows: readonly T[]): readonly T[] =>
    query.top === undefined ? rows : rows.slice(0, query.top)
  if (query.select === '*') {
    const rows = cut(kept)
    return { rows, itemType: query.from === 'devices.jobs' ? 'deviceJob' : 'twin', sources: rows }
  }
  const items = query.select
  if (isAggregate(query)) return { rows: cut(grouped(query, items, kept)), itemType: 'raw' }
  const sources = cut(kept)
  const rows = sources.map((d) =>
    row(items, (item) => (item.kind === 'path' ? valueAt(d, item.path) : undefined)),
  )
  return { rows, itemType: 'raw', sources }
}
