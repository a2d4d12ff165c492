// The package as users get it: `npm pack`, installed into a fresh consumer project, then
// type-checked with skipLibCheck off (with and without @types/node), required from CommonJS
// and imported from ESM on this Node.js, with only the runtime dependencies installed.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DERIVED, GROUP_KEY, KEY } from './support/fixtures.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
const NODE_TYPES = join(ROOT, 'node_modules/@types')

function run(command: string, args: string[], cwd: string): { status: number | null; output: string } {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8' })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

const work = mkdtempSync(join(tmpdir(), 'sas-token-consumer-'))
const consumer = join(work, 'consumer')

// Every export, used the way a consumer would, with the types named: if a .d.ts needed Node.js
// types (Buffer, KeyObject, NodeJS.Timeout) or anything else not declared, this fails to compile.
const CONSUMER_TS = `import {
  type ConnectionString,
  type Expiry,
  type IncomingTopic,
  type MqttCredentials,
  type ParsedSasToken,
  type SasTokenErrorCode,
  type TokenSource,
  SasTokenError,
  createTokenSource,
  decodeKey,
  mqttCredentials,
  parseConnectionString,
  parseTopic,
  tokenFromConnectionString,
  verifySasToken,
} from 'sas-token'
import * as api from 'sas-token'

const cs: ConnectionString = parseConnectionString('HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=cGFzc3dvcmQ=')
const expiry: Expiry = { ttl: '1h' }
const token: string = tokenFromConnectionString(cs, expiry)
const parsed: ParsedSasToken = verifySasToken(token, { key: 'cGFzc3dvcmQ=' })
const bytes: Uint8Array = decodeKey('cGFzc3dvcmQ=')
const creds: MqttCredentials = mqttCredentials(cs)
const topic: IncomingTopic = parseTopic('$iothub/twin/res/200/?$rid=1')
const source: TokenSource = createTokenSource(cs)
source.stop()
const code: SasTokenErrorCode | undefined = new SasTokenError('ERR_INVALID_KEY', 'm').code
export const all = [api, parsed, bytes, creds, topic, code] as const
`

// Each layer declares its own codes: the core alone knows no ERR_HUB_* code; importing
// \`sas-token/hub\` adds the hub's, on the same SasTokenError, and never the CLI's.
const CONSUMER_CORE_CODES_TS = `import { SasTokenError, type CoreErrorCode, type SasTokenErrorCode } from 'sas-token'
const core: CoreErrorCode = 'ERR_INVALID_KEY'
// @ts-expect-error: a hub code, and this file does not import the hub
const hub: SasTokenErrorCode = 'ERR_HUB_CLOSED'
export const all = [core, hub, new SasTokenError(core, 'm')] as const
`
const CONSUMER_HUB_CODES_TS = `import { SasTokenError, type SasTokenErrorCode } from 'sas-token'
import type { HubErrorCode } from 'sas-token/hub'
const hub: HubErrorCode = 'ERR_HUB_CLOSED'
const any: SasTokenErrorCode = hub
// @ts-expect-error: a code of the CLI's hub client, which the package does not ship
const cli: SasTokenErrorCode = 'ERR_HUB_UNREACHABLE'
export const all = [any, cli, new SasTokenError('ERR_HUB_NOT_FOUND', 'm').code] as const
`

// CommonJS TypeScript: \`import … = require()\` of an ES module, which "module": "nodenext" and
// "node20" allow (the README says so) and "node16" refuses.
const CONSUMER_CTS = `import sas = require('sas-token')
const token: string = sas.tokenFromConnectionString('HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=cGFzc3dvcmQ=')
export = token
`

function tsconfig(module: string, withNodeTypes: boolean, files: string[]): string {
  return JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2023'],
      module,
      moduleResolution: module === 'node20' ? 'nodenext' : module,
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      verbatimModuleSyntax: true,
      skipLibCheck: false,
      noEmit: true,
      types: withNodeTypes ? ['node'] : [],
      ...(withNodeTypes ? { typeRoots: [NODE_TYPES] } : {}),
    },
    files,
  })
}

function typeCheck(name: string, module: string, withNodeTypes: boolean, files: string[]) {
  writeFileSync(join(consumer, name), tsconfig(module, withNodeTypes, files))
  return run(process.execPath, [TSC, '-p', name], consumer)
}

describe('the packed package in a consumer project', () => {
  before(() => {
    // --ignore-scripts: no `prepare` rebuild while other suites run the built bin; `npm test`
    // has just built dist/.
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    assert.equal(pack.status, 0, pack.stderr)
    const [info] = JSON.parse(pack.stdout) as [{ filename: string }]
    mkdirSync(consumer)
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
    writeFileSync(join(consumer, 'consumer.mts'), CONSUMER_TS)
    writeFileSync(join(consumer, 'consumer.cts'), CONSUMER_CTS)
    writeFileSync(join(consumer, 'core-codes.mts'), CONSUMER_CORE_CODES_TS)
    writeFileSync(join(consumer, 'hub-codes.mts'), CONSUMER_HUB_CODES_TS)
    const install = run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=dev', join(work, info.filename)],
      consumer,
    )
    assert.equal(install.status, 0, install.output)
  })
  after(() => rmSync(work, { recursive: true, force: true }))

  it('installs only the runtime dependencies: zod and clipboardy, never yargs', () => {
    const pkg = JSON.parse(readFileSync(join(consumer, 'node_modules/sas-token/package.json'), 'utf8'))
    assert.deepEqual(
      Object.keys(pkg.dependencies ?? {}).sort(),
      ['clipboardy', 'zod'].concat(hubDeps(pkg)).sort(),
    )
    const ls = run('npm', ['ls', '--all', '--parseable'], consumer)
    assert.doesNotMatch(ls.output, /node_modules[/\\]yargs/)
  })

  it('type-checks without skipLibCheck and without @types/node (module nodenext)', () => {
    const r = typeCheck('tsconfig.esm.json', 'nodenext', false, ['consumer.mts'])
    assert.equal(r.status, 0, r.output)
  })

  it('type-checks without skipLibCheck with @types/node (module node20)', () => {
    const r = typeCheck('tsconfig.node.json', 'node20', true, ['consumer.mts'])
    assert.equal(r.status, 0, r.output)
  })

  it('the core declares no hub code; sas-token/hub adds its own to SasTokenErrorCode', () => {
    const core = typeCheck('tsconfig.core-codes.json', 'nodenext', false, ['core-codes.mts'])
    assert.equal(core.status, 0, core.output)
    const hub = typeCheck('tsconfig.hub-codes.json', 'nodenext', true, ['hub-codes.mts'])
    assert.equal(hub.status, 0, hub.output)
  })

  it('CommonJS TypeScript can require() it with module nodenext or node20, not node16', () => {
    for (const module of ['nodenext', 'node20']) {
      const r = typeCheck(`tsconfig.cjs-${module}.json`, module, true, ['consumer.cts'])
      assert.equal(r.status, 0, `${module}: ${r.output}`)
    }
    const old = typeCheck('tsconfig.cjs-node16.json', 'node16', true, ['consumer.cts'])
    assert.notEqual(old.status, 0)
    assert.match(old.output, /TS1471|TS1479/)
  })

  it("require('sas-token') works on this Node.js (>= 20.19)", () => {
    const r = run(
      process.execPath,
      [
        '-e',
        "const s = require('sas-token'); " +
          `process.stdout.write(s.deriveDeviceKey('${GROUP_KEY}', 'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6'))`,
      ],
      consumer,
    )
    assert.equal(r.status, 0, r.output)
    assert.equal(r.output, DERIVED['sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6']) // the DPS docs' vector
  })

  it('an ESM import works', () => {
    const r = run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { deviceResourceUri } from 'sas-token'; process.stdout.write(deviceResourceUri('h.azure-devices.net', 'd', 'm'))",
      ],
      consumer,
    )
    assert.equal(r.status, 0, r.output)
    assert.equal(r.output, 'h.azure-devices.net/devices/d/modules/m')
  })

  it('the installed bin runs', () => {
    const r = run(
      join(consumer, 'node_modules/.bin/sas-token'),
      ['derive-key', '--group-key', KEY, '--registration-id', 'dev1'],
      consumer,
    )
    assert.equal(r.status, 0, r.output)
    assert.match(r.output, /^[A-Za-z0-9+/]{43}=\n$/)
  })
})

/** The hub's runtime dependencies (aedes, rhea, ws), once `sas-token/hub` ships them. */
function hubDeps(pkg: { dependencies?: Record<string, string> }): string[] {
  return ['aedes', 'rhea', 'ws'].filter((name) => pkg.dependencies?.[name] !== undefined)
}
