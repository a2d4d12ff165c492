// `npm run bench`: every figure is a ratio of two things measured in this one run, on this
// machine, so the budgets in DESIGN.md and issue 9 can be checked anywhere. Not a test: a missed
// budget is printed, and the exit code stays 0.
//
// "Today's" CLI, the one-thread CLI of 2026-12-01, is built once from git into a temporary
// directory (SAS_TOKEN_BENCH_BASELINE=<commit> picks another), so batch ratios against it come
// from the same run. SAS_TOKEN_BENCH_LINES sets the big batch size (default 1,000,000).
import { execFileSync, spawnSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createSasToken,
  createServiceBusSasToken,
  parseConnectionString,
  tokenFromConnectionString,
} from '../dist/index.js'

const require = createRequire(import.meta.url)
const sdk = require('azure-iot-common')

const ROOT = new URL('..', import.meta.url).pathname
const KEY = 'cGFzc3dvcmQ='
const HOST = 'myhub.azure-devices.net'
const RESOURCE = `${HOST}/devices/dev1`
const DEVICE_CS = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${KEY}`
const SERVICE_CS = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
const BIN = join(ROOT, 'bin/sas-token.js')
const BASELINE_REF = process.env.SAS_TOKEN_BENCH_BASELINE ?? '6704471'
const LINES = Number(process.env.SAS_TOKEN_BENCH_LINES ?? 1_000_000)
const SMALL = 100_000

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const work = mkdtempSync(join(tmpdir(), 'sas-token-bench-'))

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en') : x.toFixed(2))
const n = (count) => (count >= 1e6 ? `${count / 1e6}M` : `${count / 1e3}k`)
/** A row: the ratio, whether it meets the budget (`≥` or `≤` a limit), and the raw figures. */
function row(name, value, op, limit, detail) {
  if (!Number.isFinite(value)) return [name, 'n/a', `${op} ${limit.toFixed(2)}×`, '', detail]
  const ok = op === '≥' ? value >= limit : value <= limit
  return [name, `${value.toFixed(2)}×`, `${op} ${limit.toFixed(2)}×`, ok ? 'ok' : 'MISSED', detail]
}
const ms = (x) => `${fmt(x)} ms`
const s = (x) => `${x.seconds.toFixed(2)} s`

/** Prints the rows of the table. */
function printRows(rows) {
  const width = Math.max(...rows.map((r) => r[0].length))
  console.log(`sas-token bench (node ${process.version}, ${process.platform}/${process.arch})\n`)
  for (const [name, value, budget, verdict, detail] of rows)
    console.log(
      `${name.padEnd(width)}  ${value.padStart(6)}  ${budget.padEnd(8)} ${verdict.padEnd(6)}  ${detail}`,
    )
}

/** Builds the baseline CLI from git once; returns its bin, or undefined (with a warning). */
function baselineBin() {
  const dir = join(tmpdir(), `sas-token-bench-baseline-${BASELINE_REF}`)
  const bin = join(dir, 'bin/sas-token.js')
  if (existsSync(join(dir, 'dist/cli.js'))) return bin
  try {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const archive = execFileSync('git', ['-C', ROOT, 'archive', BASELINE_REF], { maxBuffer: 1 << 30 })
    execFileSync('tar', ['-x', '-C', dir], { input: archive })
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: dir,
    })
    execFileSync(process.execPath, ['scripts/bundle-cli.js'], { cwd: dir })
    return bin
  } catch (err) {
    console.error(`warning: could not build the baseline ${BASELINE_REF}: ${err.message.split('\n')[0]}`)
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
}

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

/**
 * Median wall time of each command, in ms, run `runs` times interleaved. The order rotates from
 * round to round: a command that always ran right after the same one was measured slower.
 */
function coldStarts(commands, runs = 21) {
  const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]))
  const entries = Object.entries(commands)
  for (let r = 0; r < runs; r++) {
    for (const [name, args] of [
      ...entries.slice(r % entries.length),
      ...entries.slice(0, r % entries.length),
    ]) {
      const start = process.hrtime.bigint()
      const result = spawnSync(process.execPath, args, { encoding: 'utf8' })
      if (result.status !== 0)
        console.error(`warning: ${name} exited ${result.status}: ${result.stderr.split('\n')[0]}`)
      times[name].push(Number(process.hrtime.bigint() - start) / 1e6)
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, xs]) => [name, median(xs)]))
}

// Peak RSS of a child: a preload writes the process's maxRSS (threads included) when it exits.
const RSS_PRELOAD = join(work, 'rss.cjs')
writeFileSync(
  RSS_PRELOAD,
  `const { isMainThread } = require('node:worker_threads')
if (isMainThread && process.env.BENCH_RSS_FILE) process.on('exit', () => require('node:fs').writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)))\n`,
)

/** Runs a batch from `inputFile` to a file; returns seconds, peak RSS in MiB and the record count. */
function runBatch(bin, args, inputFile, env = {}) {
  const outFile = join(work, 'out')
  const rssFile = join(work, 'rss')
  rmSync(rssFile, { force: true })
  const input = openSync(inputFile, 'r')
  const out = openSync(outFile, 'w')
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, [bin, ...args], {
    stdio: [input, out, 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, ...env, NODE_OPTIONS: `--require=${RSS_PRELOAD}`, BENCH_RSS_FILE: rssFile },
  })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  closeSync(input)
  closeSync(out)
  const records = readFileSync(outFile, 'utf8').split('\n').length - 1
  rmSync(outFile)
  const rss = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) / 1024 : Number.NaN
  if (result.status !== 0)
    console.error(`warning: batch exited ${result.status}: ${result.stderr.split('\n')[0]}`)
  return { seconds, rss, records }
}

const AUDIENCE = 'sb://myns.servicebus.windows.net/myhub'
const SB_POLICY = 'RootManageSharedAccessKey'
let sink = 0
const PARSED = parseConnectionString(DEVICE_CS)
/** The signing contenders: IoT Hub's and the Service Bus family's, each against a raw loop. */
const SIGNING = {
  ours(n) {
    for (let i = 0; i < n; i++) sink += createSasToken({ resourceUri: RESOURCE, key: KEY, ttl: 3600 }).length
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
  serviceBus(n) {
    for (let i = 0; i < n; i++)
      sink += createServiceBusSasToken({ audience: AUDIENCE, keyName: SB_POLICY, key: KEY, ttl: 3600 }).length
  },
  /** `@azure/core-amqp`'s own loop: the key as its text, encodeURIComponent for sr and skn. */
  rawServiceBus(n) {
    const sr = encodeURIComponent(AUDIENCE)
    const skn = encodeURIComponent(SB_POLICY)
    for (let i = 0; i < n; i++) {
      const se = Math.floor(Date.now() / 1000) + 3600
      const sig = createHmac('sha256', KEY)
        .update(sr + '\n' + se)
        .digest('base64')
      sink += `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${skn}`.length
    }
  },
}

/** The Service Bus-family signing row. */
const serviceBusRow = (r) =>
  row(
    'signing: createServiceBusSasToken vs raw node:crypto loop',
    r.serviceBus / r.rawServiceBus,
    '≥',
    0.95,
    `${fmt(r.serviceBus)} vs ${fmt(r.rawServiceBus)} tokens/s`,
  )

// SAS_TOKEN_BENCH_ONLY=signing runs the signing races alone (no build of a baseline, no
// children), =start the cold starts alone (without the baseline): for a change to a signer or
// to what a command loads, on a machine others share.
if (process.env.SAS_TOKEN_BENCH_ONLY === 'signing') {
  const r = race(SIGNING, { ops: 20000 })
  printRows([
    row(
      'signing: createSasToken vs raw node:crypto loop',
      r.ours / r.rawCrypto,
      '≥',
      0.95,
      `${fmt(r.ours)} vs ${fmt(r.rawCrypto)} tokens/s`,
    ),
    serviceBusRow(r),
  ])
  rmSync(work, { recursive: true, force: true })
  process.exit(sink === 42 ? 1 : 0)
}

const baseline = process.env.SAS_TOKEN_BENCH_ONLY === 'start' ? undefined : baselineBin()

// Cold starts first: after the throughput races this process's own garbage collection would
// compete with the children for the machine's cores.
const TOKEN = createSasToken({ resourceUri: RESOURCE, key: KEY, ttl: 3600 })
mkdirSync(join(work, 'floor'))
writeFileSync(join(work, 'floor/package.json'), '{"type":"module"}')
writeFileSync(join(work, 'floor/bin.js'), "import './hmac.js'\n")
writeFileSync(
  join(work, 'floor/hmac.js'),
  "import { createHmac } from 'node:crypto'\nprocess.stdout.write(createHmac('sha256', Buffer.from('k')).update('x').digest('base64') + '\\n')\n",
)
const start = coldStarts({
  node: ['-e', '0'],
  floor: [join(work, 'floor/bin.js')],
  generate: [BIN, 'generate', '-c', DEVICE_CS],
  mqtt: [BIN, 'mqtt', '-c', DEVICE_CS],
  inspect: [BIN, 'inspect', TOKEN],
  help: [BIN, '--help'],
  ...(baseline && { baseline: [baseline, 'generate', '-c', DEVICE_CS] }),
})
/** The cold-start rows, against their budgets. */
const startRows = () => [
  row(
    'cold start: generate vs node -e 0',
    start.generate / start.node,
    '≤',
    1.5,
    `${ms(start.generate)} vs ${ms(start.node)}`,
  ),
  row('cold start: mqtt vs node -e 0', start.mqtt / start.node, '≤', 1.7, ms(start.mqtt)),
  row('cold start: inspect vs node -e 0', start.inspect / start.node, '≤', 1.7, ms(start.inspect)),
  row('cold start: --help vs node -e 0', start.help / start.node, '≤', 1.7, ms(start.help)),
]
if (process.env.SAS_TOKEN_BENCH_ONLY === 'start') {
  printRows(startRows())
  rmSync(work, { recursive: true, force: true })
  process.exit(0)
}

const signing = race(SIGNING, { ops: 20000 })

// Parsing distinct strings (as a batch does: no cache can help), and the SDK's parser.
const distinct = Array.from(
  { length: 20000 },
  (_, i) =>
    `HostName=${HOST};DeviceId=device-${i};SharedAccessKey=${Buffer.from(`key ${i}`).toString('base64')}`,
)
const parsing = race(
  {
    ours(n) {
      for (let i = 0; i < n; i++) sink += parseConnectionString(distinct[i % distinct.length]).hostName.length
    },
    sdk(n) {
      for (let i = 0; i < n; i++)
        sink += sdk.ConnectionString.parse(distinct[i % distinct.length], [
          'HostName',
          'DeviceId',
          'SharedAccessKey',
        ]).HostName.length
    },
  },
  { ops: 20000 },
)

const ids = Array.from({ length: LINES }, (_, i) => `device-${i}`)
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
  { ops: SMALL, rounds: 3 },
).sign

const idsFile = join(work, 'ids.txt')
const smallIdsFile = join(work, 'ids-small.txt')
const csFile = join(work, 'cs.txt')
writeFileSync(idsFile, `${ids.join('\n')}\n`)
writeFileSync(smallIdsFile, `${ids.slice(0, SMALL).join('\n')}\n`)
writeFileSync(
  csFile,
  `${ids.map((id, i) => `HostName=${HOST};DeviceId=${id};SharedAccessKey=${Buffer.from(`key ${i}`).toString('base64')}`).join('\n')}\n`,
)
const idArgs = ['generate', '--batch', '-c', SERVICE_CS]
const csArgs = ['generate', '--batch']
const off = { SAS_TOKEN_BATCH_WORKERS: 'off' }
const on = { SAS_TOKEN_BATCH_WORKERS: 'on' }
const b = {
  baseIds: baseline && runBatch(baseline, idArgs, idsFile),
  ids: runBatch(BIN, idArgs, idsFile),
  baseCs: baseline && runBatch(baseline, csArgs, csFile),
  cs: runBatch(BIN, csArgs, csFile),
  idsOne: runBatch(BIN, idArgs, idsFile, off),
  smallOne: runBatch(BIN, idArgs, smallIdsFile, off),
  smallOn: runBatch(BIN, idArgs, smallIdsFile, on),
  small: runBatch(BIN, idArgs, smallIdsFile),
}
rmSync(work, { recursive: true, force: true })

const rows = [
  ...startRows(),
  row('  floor: ESM bin doing one HMAC vs node -e 0', start.floor / start.node, '≤', 1.2, ms(start.floor)),
  row(
    `  ${BASELINE_REF} generate vs node -e 0`,
    baseline ? start.baseline / start.node : Number.NaN,
    '≤',
    2,
    baseline ? ms(start.baseline) : 'no baseline',
  ),
  row(
    `batch ${n(LINES)} device ids vs ${BASELINE_REF} (wall time)`,
    baseline ? b.ids.seconds / b.baseIds.seconds : Number.NaN,
    '≤',
    0.6,
    baseline ? `${s(b.ids)} vs ${s(b.baseIds)}` : 'no baseline',
  ),
  row(
    `batch ${n(LINES)} connection strings vs ${BASELINE_REF} (wall time)`,
    baseline ? b.cs.seconds / b.baseCs.seconds : Number.NaN,
    '≤',
    0.35,
    baseline ? `${s(b.cs)} vs ${s(b.baseCs)}` : 'no baseline',
  ),
  row(
    `batch ${n(SMALL)} device ids vs in-process createSasToken`,
    SMALL / b.small.seconds / inProcess,
    '≥',
    0.6,
    `${fmt(SMALL / b.small.seconds)} vs ${fmt(inProcess)} tokens/s`,
  ),
  row(
    `  ${n(SMALL)} forced onto workers vs one thread (wall time)`,
    b.smallOn.seconds / b.smallOne.seconds,
    '≤',
    1,
    `${s(b.smallOn)} vs ${s(b.smallOne)}`,
  ),
  row(
    `peak RSS ${n(LINES)} ids, one thread / 120 MiB`,
    b.idsOne.rss / 120,
    '≤',
    1,
    `${fmt(b.idsOne.rss)} MiB`,
  ),
  row(`peak RSS ${n(LINES)} ids, workers / 200 MiB`, b.ids.rss / 200, '≤', 1, `${fmt(b.ids.rss)} MiB`),
  row(
    `peak RSS ${n(LINES)} connection strings, workers / 200 MiB`,
    b.cs.rss / 200,
    '≤',
    1,
    `${fmt(b.cs.rss)} MiB`,
  ),
  row(
    `peak RSS one thread, ${n(LINES)} vs ${n(SMALL)} (flat)`,
    b.idsOne.rss / b.smallOne.rss,
    '≤',
    1.15,
    `${fmt(b.idsOne.rss)} vs ${fmt(b.smallOne.rss)} MiB`,
  ),
  row(
    `peak RSS workers, ${n(LINES)} vs ${n(SMALL)} (flat)`,
    b.ids.rss / b.smallOn.rss,
    '≤',
    1.15,
    `${fmt(b.ids.rss)} vs ${fmt(b.smallOn.rss)} MiB`,
  ),
  row(
    'signing: createSasToken vs raw node:crypto loop',
    signing.ours / signing.rawCrypto,
    '≥',
    0.95,
    `${fmt(signing.ours)} vs ${fmt(signing.rawCrypto)} tokens/s`,
  ),
  row(
    'signing: createSasToken vs azure-iot-common',
    signing.ours / signing.sdk,
    '≥',
    1.3,
    `${fmt(signing.sdk)} tokens/s`,
  ),
  row(
    'signing: tokenFromConnectionString(parsed) vs raw',
    signing.fromParsed / signing.rawCrypto,
    '≥',
    0.9,
    `${fmt(signing.fromParsed)} tokens/s`,
  ),
  row(
    'signing: tokenFromConnectionString(text) vs raw',
    signing.fromText / signing.rawCrypto,
    '≥',
    0.9,
    `${fmt(signing.fromText)} tokens/s`,
  ),
  serviceBusRow(signing),
  row(
    'parseConnectionString (zod inside) vs 2 µs per string',
    1e6 / parsing.ours / 2,
    '≤',
    1,
    `${(1e6 / parsing.ours).toFixed(2)} µs; azure-iot-common ${(1e6 / parsing.sdk).toFixed(2)} µs (no value checks)`,
  ),
]
for (const [name, result] of Object.entries(b))
  if (result && result.records !== (name.startsWith('small') ? SMALL : LINES))
    console.error(`warning: batch ${name} wrote ${result.records} records`)
printRows(rows)
if (sink === 42) console.log('')
