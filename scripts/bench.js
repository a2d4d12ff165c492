// `npm run bench`: every figure is a ratio of two things measured in this one run, on this
// machine, so the budgets in DESIGN.md can be checked anywhere. Not a test: nothing fails.
import { spawnSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { createSasToken, parseConnectionString, tokenFromConnectionString } from '../dist/index.js'

const require = createRequire(import.meta.url)
const sdk = require('azure-iot-common')

const KEY = 'cGFzc3dvcmQ='
const HOST = 'myhub.azure-devices.net'
const RESOURCE = `${HOST}/devices/dev1`
const DEVICE_CS = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${KEY}`
const SERVICE_CS = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
const BIN = new URL('../bin/sas-token.js', import.meta.url).pathname

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Runs each contender `rounds` times, interleaved, and returns the median ops/s of each. */
function race(contenders, { ops, rounds = 9 }) {
  const rates = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]))
  for (const fn of Object.values(contenders)) fn(ops) // warm up
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const start = process.hrtime.bigint()
      fn(ops)
      rates[name].push(ops / (Number(process.hrtime.bigint() - start) / 1e9))
    }
  }
  return Object.fromEntries(Object.entries(rates).map(([name, xs]) => [name, median(xs)]))
}

// Cold starts first: after the throughput races this process's own garbage collection would
// compete with the children for the machine's cores.
const start = coldStarts({ node: ['-e', '0'], generate: [BIN, 'generate', '-c', DEVICE_CS] })

let sink = 0
const PARSED = parseConnectionString(DEVICE_CS)
const signing = race(
  {
    ours(n) {
      for (let i = 0; i < n; i++)
        sink += createSasToken({ resourceUri: RESOURCE, key: KEY, ttl: 3600 }).length
    },
    fromParsed(n) {
      for (let i = 0; i < n; i++) sink += tokenFromConnectionString(PARSED, { ttl: 3600 }).length
    },
    fromText(n) {
      for (let i = 0; i < n; i++) sink += tokenFromConnectionString(DEVICE_CS, { ttl: 3600 }).length
    },
    rawCrypto(n) {
      const key = Buffer.from(KEY, 'base64')
      const sr = encodeURIComponent(RESOURCE)
      for (let i = 0; i < n; i++) {
        const se = Math.floor(Date.now() / 1000) + 3600
        const sig = createHmac('sha256', key)
          .update(sr + '\n' + se)
          .digest('base64')
        sink += `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`.length
      }
    },
    sdk(n) {
      for (let i = 0; i < n; i++) {
        const se = Math.floor(Date.now() / 1000) + 3600
        sink += sdk.SharedAccessSignature.create(
          sdk.encodeUriComponentStrict(RESOURCE),
          null,
          KEY,
          se,
        ).toString().length
      }
    },
  },
  { ops: 20000 },
)

const parsing = race(
  {
    ours(n) {
      for (let i = 0; i < n; i++) sink += parseConnectionString(DEVICE_CS).hostName.length
    },
    sdk(n) {
      for (let i = 0; i < n; i++)
        sink += sdk.ConnectionString.parse(DEVICE_CS, ['HostName', 'DeviceId', 'SharedAccessKey']).HostName
          .length
    },
  },
  { ops: 20000 },
)

/** Median wall time of a command, in ms, run `runs` times interleaved with the others. */
function coldStarts(commands, runs = 21) {
  const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]))
  for (let r = 0; r < runs; r++) {
    for (const [name, args] of Object.entries(commands)) {
      const start = process.hrtime.bigint()
      const result = spawnSync(process.execPath, args, { encoding: 'utf8' })
      if (result.status !== 0)
        console.error(`warning: ${name} exited ${result.status}: ${result.stderr.split('\n')[0]}`)
      times[name].push(Number(process.hrtime.bigint() - start) / 1e6)
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, xs]) => [name, median(xs)]))
}

const BATCH = 100_000
const ids = Array.from({ length: BATCH }, (_, i) => `device-${i}`)
const inProcess = race(
  {
    sign(n) {
      for (let i = 0; i < n; i++)
        sink += createSasToken({
          resourceUri: `${HOST}/devices/${ids[i]}`,
          key: KEY,
          keyName: 'iothubowner',
          ttl: 3600,
        }).length
    },
  },
  { ops: BATCH, rounds: 3 },
).sign
// The batch writes to a file, as a provisioning job would: the figure is the CLI's own speed,
// not that of this process decoding 25 MB from a pipe.
const outDir = mkdtempSync(join(tmpdir(), 'sas-token-bench-'))
const outFile = join(outDir, 'tokens.ndjson')
const out = openSync(outFile, 'w')
const batchStart = process.hrtime.bigint()
const batch = spawnSync(process.execPath, [BIN, 'generate', '--batch', '-c', SERVICE_CS], {
  input: ids.join('\n') + '\n',
  stdio: ['pipe', out, 'pipe'],
  encoding: 'utf8',
})
const batchSeconds = Number(process.hrtime.bigint() - batchStart) / 1e9
closeSync(out)
const batchLines = readFileSync(outFile, 'utf8').split('\n').filter(Boolean).length
rmSync(outDir, { recursive: true })
const batchRate = batchLines === BATCH && batch.status === 0 ? BATCH / batchSeconds : 0

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en') : x.toFixed(2))
const ratio = (a, b) => (a / b).toFixed(2) + '×'
const rows = [
  [
    'signing: createSasToken vs raw node:crypto loop',
    ratio(signing.ours, signing.rawCrypto),
    '≥ 0.95×',
    `${fmt(signing.ours)} vs ${fmt(signing.rawCrypto)} tokens/s`,
  ],
  [
    'signing: tokenFromConnectionString(parsed) vs raw',
    ratio(signing.fromParsed, signing.rawCrypto),
    '≥ 0.90×',
    `${fmt(signing.fromParsed)} vs ${fmt(signing.rawCrypto)} tokens/s`,
  ],
  [
    'signing: tokenFromConnectionString(text) vs raw',
    ratio(signing.fromText, signing.rawCrypto),
    '≥ 0.90×',
    `${fmt(signing.fromText)} vs ${fmt(signing.rawCrypto)} tokens/s`,
  ],
  [
    'signing: ours vs azure-iot-common',
    ratio(signing.ours, signing.sdk),
    '≥ 1.15×',
    `${fmt(signing.ours)} vs ${fmt(signing.sdk)} tokens/s`,
  ],
  [
    'parseConnectionString vs ConnectionString.parse',
    ratio(parsing.ours, parsing.sdk),
    '(reported)',
    `${fmt(parsing.ours)} vs ${fmt(parsing.sdk)} parses/s`,
  ],
  [
    'CLI cold start: generate vs node -e 0',
    ratio(start.generate, start.node),
    '≤ 2.00×',
    `${fmt(start.generate)} vs ${fmt(start.node)} ms (median of 21)`,
  ],
  [
    `batch of ${BATCH.toLocaleString('en')} vs in-process signing`,
    batchRate ? ratio(batchRate, inProcess) : 'failed',
    '≥ 0.50×',
    batchRate
      ? `${fmt(batchRate)} vs ${fmt(inProcess)} tokens/s; ${fmt(BATCH / (batchSeconds - start.generate / 1000))}/s without the start-up`
      : `exit ${batch.status}, ${batchLines} lines: ${(batch.stderr || '').split('\n')[0]}`,
  ],
]
const width = Math.max(...rows.map((r) => r[0].length))
console.log(`sas-token bench (node ${process.version}, ${process.platform}/${process.arch})\n`)
for (const [name, value, budget, detail] of rows)
  console.log(`${name.padEnd(width)}  ${value.padStart(7)}  budget ${budget.padEnd(10)}  ${detail}`)
if (sink === 42) console.log('')
