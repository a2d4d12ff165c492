// IoT Hub's query language as the hub parses and runs it (src/hub/query/): known answers over
// twins written out here, refusals that point at the token, and a fuzz: any text either parses
// or throws the one query error, and a parsed query runs over any twin without throwing.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { SasTokenError } from 'sas-token'

const parserPath = '../../dist/hub/query/parser.js'
const evaluatePath = '../../dist/hub/query/evaluate.js'
const { parseQuery } = (await import(parserPath)) as typeof import('../dist/hub/query/parser.js')
const { runQuery } = (await import(evaluatePath)) as typeof import('../dist/hub/query/evaluate.js')

type Json = Record<string, unknown>

const twin = (deviceId: string, o: Json = {}): Json => ({
  deviceId,
  status: 'enabled',
  connectionState: 'Disconnected',
  lastActivityTime: '0001-01-01T00:00:00Z',
  capabilities: { iotEdge: false },
  tags: {},
  properties: { desired: { $version: 1 }, reported: { $version: 1 } },
  ...o,
})

const TWINS: Json[] = [
  twin('a1', {
    tags: { site: 'north', floor: 1 },
    properties: { desired: { fan: 'on', $version: 2 }, reported: { temp: 21.5, ok: true, $version: 3 } },
  }),
  twin('a2', { tags: { site: 'south', floor: 2 }, properties: { desired: {}, reported: { temp: 30 } } }),
  twin('b1', {
    status: 'disabled',
    connectionState: 'Connected',
    tags: { site: 'north', floor: 3, owner: null },
  }),
  twin('b2', { tags: { site: 'north', floor: '3' }, capabilities: { iotEdge: true } }),
  twin('c1', { tags: { site: { name: 'x' } } }),
]

function ids(query: string): string[] {
  return runQuery(parseQuery(query), TWINS).rows.map((r) => String((r as Json).deviceId))
}

function refusal(query: string): SasTokenError {
  try {
    parseQuery(query)
  } catch (err) {
    assert.ok(err instanceof SasTokenError, String(err))
    assert.equal(err.code, 'ERR_HUB_QUERY_INVALID')
    return err
  }
  assert.fail(`${query} parsed`)
}

describe('query language: known answers', () => {
  it('SELECT * with and without WHERE, keywords in any case', () => {
    assert.deepEqual(ids('SELECT * FROM devices'), ['a1', 'a2', 'b1', 'b2', 'c1'])
    assert.deepEqual(ids("select * from DEVICES where tags.site = 'north'"), ['a1', 'b1', 'b2'])
    assert.equal(runQuery(parseQuery('SELECT * FROM devices'), TWINS).itemType, 'twin')
  })

  it('comparisons between values of one type; another type or a missing property never matches', () => {
    assert.deepEqual(ids('SELECT * FROM devices WHERE tags.floor >= 2'), ['a2', 'b1'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE tags.floor = '3'"), ['b2'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE tags.site <> 'north'"), ['a2'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE tags.site != 'north'"), ['a2'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE properties.reported.temp < 25.0'), ['a1'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE deviceId > 'a2'"), ['b1', 'b2', 'c1'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE tags.owner = null'), ['b1'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE tags.floor = 0x3'), ['b1'])
  })

  it('AND, OR, NOT are three-valued: NOT of a missing comparison does not match', () => {
    assert.deepEqual(ids("SELECT * FROM devices WHERE tags.site = 'north' AND tags.floor > 1"), ['b1'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE tags.site = 'south' OR status = 'disabled'"), [
      'a2',
      'b1',
    ])
    assert.deepEqual(ids('SELECT * FROM devices WHERE NOT tags.floor = 1'), ['a2', 'b1'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE NOT (tags.site = 'north' OR tags.floor = 2)"), [])
    assert.deepEqual(ids('SELECT * FROM devices WHERE NOT IS_DEFINED(tags.floor)'), ['c1'])
  })

  it('IN and NIN over constant lists', () => {
    assert.deepEqual(ids("SELECT * FROM devices WHERE deviceId IN ['a2', 'b2', 'zz']"), ['a2', 'b2'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE tags.floor NIN [1, 2]'), ['b1', 'b2'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE tags.floor IN []'), [])
  })

  it('the functions', () => {
    assert.deepEqual(ids('SELECT * FROM devices WHERE IS_DEFINED(properties.reported.temp)'), ['a1', 'a2'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE is_null(tags.owner)'), ['b1'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE IS_BOOL(properties.reported.ok)'), ['a1'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE IS_NUMBER(tags.floor)'), ['a1', 'a2', 'b1'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE IS_STRING(tags.floor)'), ['b2'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE IS_OBJECT(tags.site)'), ['c1'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE STARTSWITH(deviceId, 'b')"), ['b1', 'b2'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE ENDSWITH(deviceId, '1')"), ['a1', 'b1', 'c1'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE STARTS_WITH(tags.site, 'so')"), ['a2'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE CONTAINS(tags.site, 'ort')"), ['a1', 'b1', 'b2'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE UPPER(tags.site) = 'SOUTH'"), ['a2'])
  })

  it('status, connectionState, capabilities, $version and arithmetic', () => {
    assert.deepEqual(ids("SELECT * FROM devices WHERE connectionState = 'Connected'"), ['b1'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE capabilities.iotEdge = true'), ['b2'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE properties.reported.$version = 3'), ['a1'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE tags.floor * 2 + 1 = 5'), ['a2'])
    assert.deepEqual(ids('SELECT * FROM devices WHERE -tags.floor = -3'), ['b1'])
    assert.deepEqual(ids("SELECT * FROM devices WHERE devices.tags.site = 'south'"), ['a2'])
  })

  it('projections: the last segment names a value, AS renames, a missing value is left out', () => {
    const r = runQuery(
      parseQuery('SELECT deviceId, tags.floor AS level, tags.owner FROM devices WHERE tags.floor >= 2'),
      TWINS,
    )
    assert.equal(r.itemType, 'raw')
    assert.deepEqual(r.rows, [
      { deviceId: 'a2', level: 2 },
      { deviceId: 'b1', level: 3, owner: null },
    ])
  })

  it('COUNT() with and without GROUP BY, and SUM/AVG/MIN/MAX', () => {
    assert.deepEqual(runQuery(parseQuery('SELECT COUNT() AS n FROM devices'), TWINS).rows, [{ n: 5 }])
    assert.deepEqual(runQuery(parseQuery("SELECT COUNT() FROM devices WHERE tags.site = 'x'"), TWINS).rows, [
      { $1: 0 },
    ])
    assert.deepEqual(
      runQuery(parseQuery('SELECT status, COUNT() AS n FROM devices GROUP BY status'), TWINS).rows,
      [
        { status: 'enabled', n: 4 },
        { status: 'disabled', n: 1 },
      ],
    )
    assert.deepEqual(
      runQuery(
        parseQuery(
          'SELECT tags.site AS site, COUNT() AS n, MAX(tags.floor) AS highest FROM devices WHERE IS_STRING(tags.site) GROUP BY tags.site',
        ),
        TWINS,
      ).rows,
      [
        { site: 'north', n: 3, highest: 3 },
        { site: 'south', n: 1, highest: 2 },
      ],
    )
    assert.deepEqual(
      runQuery(
        parseQuery('SELECT SUM(tags.floor) AS s, AVG(tags.floor) AS a, MIN(tags.floor) AS m FROM devices'),
        TWINS,
      ).rows,
      [{ s: 6, a: 2, m: 1 }],
    )
  })

  it('TOP and FROM devices.modules', () => {
    assert.deepEqual(ids('SELECT TOP 2 * FROM devices'), ['a1', 'a2'])
    const modules = [
      { deviceId: 'd', moduleId: 'm1', tags: { role: 'x' } },
      { deviceId: 'd', moduleId: 'm2' },
    ]
    const q = parseQuery("SELECT * FROM devices.modules WHERE devices.modules.moduleId = 'm2'")
    assert.equal(q.from, 'devices.modules')
    assert.deepEqual(runQuery(q, modules).rows, [{ deviceId: 'd', moduleId: 'm2' }])
    assert.deepEqual(
      runQuery(parseQuery("SELECT * FROM devices.modules WHERE tags.role = 'x'"), modules).rows,
      [modules[0]],
    )
  })

  it('FROM devices.jobs: its rows are device jobs, a leading devices.jobs. is dropped', () => {
    const rows = [
      { deviceId: 'd1', jobId: 'j1', status: 'completed' },
      { deviceId: 'd2', jobId: 'j2', status: 'failed' },
    ]
    const r = runQuery(parseQuery("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'j2'"), rows)
    assert.equal(r.itemType, 'deviceJob')
    assert.deepEqual(r.rows, [rows[1]])
  })

  it('strings in either quote with escapes', () => {
    const docs = [{ deviceId: 'q', tags: { s: `it's "x"\\é` } }]
    for (const q of [
      `SELECT * FROM devices WHERE tags.s = 'it\\'s "x"\\\\\\u00e9'`,
      `SELECT * FROM devices WHERE tags.s = "it's \\"x\\"\\\\é"`,
    ])
      assert.equal(runQuery(parseQuery(q), docs).rows.length, 1, q)
  })
})

describe('query language: refusals point at the token', () => {
  const cases: Array<[string, number, string, RegExp]> = [
    ['', 1, '', /starts with SELECT/],
    ['SELEC * FROM devices', 1, 'SELEC', /starts with SELECT/],
    ['SELECT * FORM devices', 10, 'FORM', /expected FROM/],
    ['SELECT * FROM things', 15, 'things', /FROM takes devices, devices\.modules or devices\.jobs\./],
    [
      'SELECT * FROM devices.things',
      23,
      'things',
      /devices, devices\.modules or devices\.jobs, not devices\.things/,
    ],
    ['SELECT * FROM devices WHER x = 1', 23, 'WHER', /end of the query/],
    ["SELECT * FROM devices WHERE tags.a = 'open", 38, "'open", /not closed/],
    ['SELECT * FROM devices WHERE tags.a = #', 38, '#', /not part of the query language/],
    ['SELECT * FROM devices WHERE tags.a =', 37, '', /expected a value/],
    ['SELECT * FROM devices WHERE (tags.a = 1', 40, '', /close the "\("/],
    ['SELECT * FROM devices WHERE NOPE(tags.a)', 29, 'NOPE', /not a function/],
    ['SELECT * FROM devices WHERE COUNT() = 1', 29, 'COUNT', /aggregate/],
    ['SELECT * FROM devices WHERE STARTSWITH(deviceId)', 29, 'STARTSWITH', /2 arguments, not 1/],
    ['SELECT * FROM devices WHERE deviceId IN [tags.a]', 42, 'tags', /constants only/],
    ['SELECT * FROM devices WHERE deviceId IN ("a")', 41, '(', /list of constants in brackets/],
    ['SELECT deviceId, COUNT() AS n FROM devices', 8, 'deviceId', /must be grouped/],
    ['SELECT status, tags.site FROM devices GROUP BY status', 16, 'tags.site', /not in the GROUP BY list/],
    ['SELECT * FROM devices GROUP BY status', 1, 'SELECT', /SELECT \* cannot be grouped/],
    ['SELECT a.x, b.x FROM devices', 13, 'x', /two SELECT items are named "x"/],
    ['SELECT TOP 0 * FROM devices', 12, '0', /TOP takes a whole number/],
    ['SELECT * FROM devices WHERE tags.a = 12abc', 38, '12a', /cannot run into a name/],
    ["SELECT * FROM devices WHERE tags.a = '\\q'", 39, '\\q', /unknown escape/],
  ]
  for (const [query, position, token, message] of cases) {
    it(JSON.stringify(query), () => {
      const err = refusal(query)
      assert.equal(err.facts.position, position, err.message)
      assert.equal(err.facts.token, token, err.message)
      assert.match(err.message, new RegExp(`^Query error at position ${position} `))
      assert.match(err.message, message)
    })
  }

  it('deep nesting and over-long queries are refused, not a stack overflow', () => {
    assert.match(
      refusal(`SELECT * FROM devices WHERE ${'('.repeat(3000)}1${')'.repeat(3000)}`).message,
      /nests deeper/,
    )
    assert.match(refusal(`SELECT * FROM devices WHERE ${'NOT '.repeat(1500)}true`).message, /nests deeper/)
    assert.match(refusal(`SELECT * FROM devices WHERE ${'-'.repeat(3000)}1 = 1`).message, /nests deeper/)
    assert.match(
      refusal(`SELECT * FROM devices WHERE tags.a = '${'x'.repeat(9000)}'`).message,
      /longer than 8192/,
    )
  })
})

describe('query language: fuzz', () => {
  const words = fc.constantFrom(
    'SELECT',
    'select',
    '*',
    'FROM',
    'devices',
    'devices.modules',
    'WHERE',
    'GROUP',
    'BY',
    'AS',
    'TOP',
    '2',
    'AND',
    'OR',
    'NOT',
    'IN',
    'NIN',
    '(',
    ')',
    '[',
    ']',
    ',',
    '.',
    '=',
    '!=',
    '<>',
    '<',
    '<=',
    '>',
    '>=',
    '+',
    '-',
    '/',
    '%',
    'tags',
    'tags.site',
    'properties.reported.temp',
    'deviceId',
    "'north'",
    '"x"',
    "'",
    '"',
    '\\',
    '0x1F',
    '1.5e3',
    'true',
    'null',
    'undefined',
    'COUNT()',
    'COUNT',
    'SUM',
    'IS_DEFINED',
    'STARTSWITH',
    'constructor',
    '__proto__',
    'toString',
    '$version',
    '\u0000',
    'é',
    '\uD83D',
  )
  const soup = fc
    .array(fc.oneof(words, fc.string({ maxLength: 4 })), { maxLength: 30 })
    .map((w) => w.join(' '))
  const prefixed = soup.map((s) => `SELECT * FROM devices WHERE ${s}`)

  it('any text parses or throws ERR_HUB_QUERY_INVALID at a position inside it; what parses runs', () => {
    fc.assert(
      fc.property(
        fc.oneof(soup, prefixed, fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 60 })),
        (text) => {
          let query: ReturnType<typeof parseQuery>
          try {
            query = parseQuery(text)
          } catch (err) {
            assert.ok(err instanceof SasTokenError, `not a SasTokenError: ${String(err)}`)
            assert.equal(err.code, 'ERR_HUB_QUERY_INVALID')
            const position = Number(err.facts.position)
            assert.ok(
              position >= 1 && position <= text.length + 1,
              `${position} outside ${JSON.stringify(text)}`,
            )
            assert.match(err.message, /^Query error at position \d+ \(/)
            return
          }
          const result = runQuery(query, [...TWINS, Object.create(null) as Json, { tags: [1, 2] }])
          assert.ok(Array.isArray(result.rows))
          JSON.stringify(result.rows)
        },
      ),
      { numRuns: 3000 },
    )
  })

  // Conditions from the grammar itself: every one must parse, and run over odd twins.
  const { expr } = fc.letrec<{ expr: string; value: string }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(
        'tags.site',
        'tags.floor',
        'properties.reported.temp',
        'deviceId',
        'tags.__proto__',
        'x.$version',
      ),
      fc.constantFrom(
        "'north'",
        '"a\\"b"',
        '3',
        '-2.5',
        '0x10',
        'true',
        'false',
        'null',
        'undefined',
        "['a', 1, null]",
      ),
      fc
        .tuple(tie('value'), fc.constantFrom('+', '-', '*', '/', '%'), tie('value'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      fc
        .tuple(
          fc.constantFrom('LOWER', 'UPPER', 'LENGTH', 'IS_DEFINED', 'IS_NULL', 'IS_OBJECT'),
          tie('value'),
        )
        .map(([f, a]) => `${f}(${a})`),
    ),
    expr: fc.oneof(
      { depthSize: 'small' },
      fc
        .tuple(tie('value'), fc.constantFrom('=', '!=', '<>', '<', '<=', '>', '>='), tie('value'))
        .map((p) => p.join(' ')),
      fc.tuple(tie('value'), fc.constantFrom('IN', 'NIN')).map(([a, op]) => `${a} ${op} ['north', 2, true]`),
      fc
        .tuple(fc.constantFrom('STARTSWITH', 'ENDSWITH', 'CONTAINS'), tie('value'), tie('value'))
        .map(([f, a, b]) => `${f}(${a}, ${b})`),
      fc
        .tuple(tie('expr'), fc.constantFrom('AND', 'OR', 'and'), tie('expr'))
        .map(([a, op, b]) => `(${a}) ${op} (${b})`),
      tie('expr').map((e) => `NOT (${e})`),
      tie('value'),
    ),
  }))

  it('every condition the grammar makes parses and runs', () => {
    const odd = [
      ...TWINS,
      Object.create(null) as Json,
      { tags: [1, 2] },
      { tags: { site: null, floor: 'x' } },
    ]
    fc.assert(
      fc.property(expr, fc.boolean(), (condition, grouped) => {
        const text = grouped
          ? `SELECT tags.site, COUNT() AS n, AVG(tags.floor) AS a FROM devices WHERE ${condition} GROUP BY tags.site`
          : `SELECT TOP 3 * FROM devices WHERE ${condition}`
        const result = runQuery(parseQuery(text), odd)
        assert.ok(result.rows.length <= (grouped ? odd.length : 3))
        JSON.stringify(result.rows)
      }),
      { numRuns: 2000 },
    )
  })

  it('no row gets a prototype member from a property named __proto__', () => {
    const r = runQuery(parseQuery('SELECT tags.__proto__ FROM devices'), [
      { tags: JSON.parse('{"__proto__": {"polluted": 1}}') },
    ])
    assert.deepEqual(Object.keys(r.rows[0] as object), ['__proto__'])
    assert.equal(({} as Json).polluted, undefined)
  })
})
