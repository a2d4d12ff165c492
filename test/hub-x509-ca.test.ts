// X.509 CA authentication (certificateAuthority identities): the client chain must lead to a
// verified CA registered with the hub, be within its validity at the hub's clock, and the
// leaf's CN must be the identity. Certificates are made here with the openssl CLI; clients are
// mqtt.js over TLS and the official azure-iot-device + azure-iot-device-mqtt.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import mqtt from 'mqtt'
import { type Hub, type HubEventOf, startHub } from 'sas-token/hub'
import { nextEvent } from './support/hub-mqtt.js'
import { BIN, cleanEnv, cli } from './support/cli.js'
import { type HubAddress, ownerKey, policyToken, rest } from './support/hub-rest.js'

const require = createRequire(import.meta.url)

const dir = mkdtempSync(join(tmpdir(), 'hub-x509-ca-'))
const file = (name: string): string => join(dir, name)
const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
}
writeFileSync(
  file('ca.ext'),
  'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
)
writeFileSync(
  file('leaf.ext'),
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
)

interface Pair {
  cert: string
  key: string
}

/** A P-256 key and a certificate for `cn`: self-signed, or signed by `issuer` (a name made before). */
function make(name: string, cn: string, o: { issuer?: string; ca?: boolean; days?: number } = {}): Pair {
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`)
  openssl(
    'req',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    `/CN=${cn.replaceAll('/', '\\/')}`,
    '-out',
    `${name}.csr`,
  )
  const signer =
    o.issuer === undefined
      ? ['-signkey', `${name}.key`]
      : ['-CA', `${o.issuer}.pem`, '-CAkey', `${o.issuer}.key`, '-CAcreateserial']
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    ...signer,
    '-extfile',
    o.ca ? 'ca.ext' : 'leaf.ext',
    '-days',
    String(o.days ?? 30),
    '-out',
    `${name}.pem`,
  )
  return { cert: readFileSync(file(`${name}.pem`), 'utf8'), key: readFileSync(file(`${name}.key`), 'utf8') }
}

const root = make('root', 'test root CA', { ca: true })
const intermediate = make('inter', 'test intermediate CA', { issuer: 'root', ca: true })
const leaf = make('leaf', 'ca-dev', { issuer: 'root' })
const chained = make('chained', 'ca-dev', { issuer: 'inter' })
const selfSigned = make('self', 'ca-dev')
const otherRoot = make('other', 'unregistered CA', { ca: true })
const otherLeaf = make('otherleaf', 'ca-dev', { issuer: 'other' })
const pendingRoot = make('pending', 'pending CA', { ca: true })
const pendingLeaf = make('pendingleaf', 'ca-dev', { issuer: 'pending' })
const wrongCn = make('wrongcn', 'someone-else', { issuer: 'root' })
const expired = make('expired', 'ca-dev', { issuer: 'root', days: -1 })
const moduleLeaf = make('module', 'ca-dev/m1', { issuer: 'root' })
/** The leaf and the intermediate, as a device sends its chain. */
const chain: Pair = { cert: chained.cert + intermediate.cert, key: chained.key }

after(() => rmSync(dir, { recursive: true, force: true }))

/** CONNECT over TLS with a client certificate: 0 when accepted, else the CONNACK code. */
function x509Connect(hub: HubAddress, pair: Pair, id = 'ca-dev'): Promise<number> {
  return new Promise((resolve) => {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port: hub.ports.mqtt,
      protocol: 'mqtts',
      ca: hub.ca,
      servername: 'localhost',
      cert: pair.cert,
      key: pair.key,
      clientId: id,
      username: `localhost/${id}/?api-version=2021-04-12`,
      reconnectPeriod: 0,
      connectTimeout: 60_000,
    })
    client.once('connect', () => {
      client.end(true)
      resolve(0)
    })
    client.once('error', (err) => {
      client.end(true)
      resolve(Number((err as { code?: unknown }).code))
    })
  })
}

/** The refusal's code and its first finding, once refused. */
async function refusal(
  hub: Hub,
  pair: Pair,
  id = 'ca-dev',
): Promise<{ code: number; event: HubEventOf<'refuse'> | undefined }> {
  const refused = nextEvent(hub, 'refuse', (e) => e.clientId === id)
  const code = await x509Connect(hub, pair, id)
  // accepted: no refusal comes (the test fails on the code)
  return { code, event: code === 0 ? undefined : await refused }
}

const reasonCode = (e: HubEventOf<'refuse'> | undefined): string | undefined => e?.reason?.code

async function addCaDevice(hub: HubAddress, id = 'ca-dev', auth?: string): Promise<void> {
  const r = await rest(hub, 'PUT', `/devices/${id}`, {
    body: { deviceId: id, authentication: { type: 'certificateAuthority' } },
    ...(auth === undefined ? {} : { auth }),
  })
  assert.equal(r.status, 200, r.text)
}

describe('hub X.509 CA: no CA registered', { timeout: 120_000 }, () => {
  let hub: Hub
  before(async () => {
    hub = await startHub()
    await addCaDevice(hub)
  })
  after(() => hub.close())

  it('a self-signed certificate does not connect as a certificateAuthority device (the bypass)', async () => {
    const { code, event } = await refusal(hub, selfSigned)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_NO_CA_REGISTERED')
    const findings = event?.findings ?? []
    assert.equal(findings[0]?.code, 'ERR_X509_NO_CA_REGISTERED')
    assert.match(findings[0]?.message ?? '', /--x509-ca/)
  })

  it('nor does a leaf of a real CA that was never registered', async () => {
    const { code, event } = await refusal(hub, leaf)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_NO_CA_REGISTERED')
  })
})

describe('hub X.509 CA: a registered CA', { timeout: 300_000 }, () => {
  let hub: Hub
  before(async () => {
    hub = await startHub({ x509Ca: [root.cert] })
    await addCaDevice(hub)
    const m = await rest(hub, 'PUT', '/devices/ca-dev/modules/m1', {
      body: { deviceId: 'ca-dev', moduleId: 'm1', authentication: { type: 'certificateAuthority' } },
    })
    assert.equal(m.status, 200, m.text)
    const p = await rest(hub, 'PUT', '/_emulator/certificates/pending', {
      body: { certificate: pendingRoot.cert },
    })
    assert.equal(p.status, 200, p.text)
  })
  after(() => hub.close())

  it('lists the CA given at start as verified, with its thumbprint, subject and expiry', async () => {
    const r = await rest(hub, 'GET', '/_emulator/certificates')
    assert.equal(r.status, 200)
    const list = r.body as Array<{ name: string; properties: Record<string, unknown> }>
    const started = list.find((c) => c.properties.subject === 'CN=test root CA')
    assert.ok(started, r.text)
    assert.equal(started.properties.isVerified, true)
    const fingerprint = execFileSync('openssl', [
      'x509',
      '-in',
      file('root.pem'),
      '-noout',
      '-fingerprint',
      '-sha256',
    ])
      .toString()
      .trim()
      .replace(/^.*=/, '')
      .replaceAll(':', '')
    assert.equal(started.properties.thumbprint, fingerprint)
    assert.ok(Date.parse(String(started.properties.expiry)) > Date.now())
    assert.equal(list.find((c) => c.name === 'pending')?.properties.isVerified, false)
  })

  it('a leaf signed by the registered CA, CN = device id, connects (auth x509)', async () => {
    const accepted = nextEvent(hub, 'connect', (e) => e.deviceId === 'ca-dev')
    assert.equal(await x509Connect(hub, leaf), 0)
    assert.equal((await accepted).authMethod, 'x509')
  })

  it('a leaf signed by an intermediate the device sends with it connects', async () => {
    assert.equal(await x509Connect(hub, chain), 0)
  })

  it('the same leaf without its intermediate is refused: the chain does not reach the CA', async () => {
    const { code, event } = await refusal(hub, chained)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CHAIN_UNTRUSTED')
  })

  it('a self-signed certificate is refused, and /_emulator/refused explains it', async () => {
    const { code, event } = await refusal(hub, selfSigned)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CHAIN_UNTRUSTED')
    const r = await rest(hub, 'GET', '/_emulator/refused')
    const last = (r.body as Array<{ findings: Array<{ code: string; subject?: string }> }>).at(-1)
    assert.equal(last?.findings[0]?.code, 'ERR_X509_CHAIN_UNTRUSTED')
    assert.equal(last?.findings[0]?.subject, 'CN=ca-dev')
  })

  it('a leaf of an unregistered CA is refused', async () => {
    const { code, event } = await refusal(hub, otherLeaf)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CHAIN_UNTRUSTED')
  })

  it('a leaf whose CN is not the device id is refused', async () => {
    const { code, event } = await refusal(hub, wrongCn)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CN_MISMATCH')
    // the certificate's facts are fields of the finding beside the core's
    const finding: Record<string, unknown> = { ...event?.findings[0] }
    assert.equal(finding?.commonName, 'someone-else')
    assert.equal(finding?.expectedCommonName, 'ca-dev')
  })

  it('an expired leaf is refused', async () => {
    const { code, event } = await refusal(hub, expired)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CERT_EXPIRED')
  })

  it('a module connects with CN = {deviceId}/{moduleId}, and not with the device CN', async () => {
    assert.equal(await x509Connect(hub, moduleLeaf, 'ca-dev/m1'), 0)
    const { code, event } = await refusal(hub, leaf, 'ca-dev/m1')
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CN_MISMATCH')
  })

  it('a CA registered but not verified does not authenticate; proof of possession verifies it', async () => {
    const first = await refusal(hub, pendingLeaf)
    assert.equal(first.code, 5)
    assert.equal(reasonCode(first.event), 'ERR_X509_CA_NOT_VERIFIED')

    const g = await rest(hub, 'POST', '/_emulator/certificates/pending/generateVerificationCode')
    assert.equal(g.status, 200, g.text)
    const verificationCode = (g.body as { verificationCode: string }).verificationCode
    assert.match(verificationCode, /^[0-9A-F]{40}$/)
    const wrong = make('proof-wrong', verificationCode, { issuer: 'root' })
    const refusedProof = await rest(hub, 'POST', '/_emulator/certificates/pending/verify', {
      body: { certificate: wrong.cert },
    })
    assert.equal(refusedProof.status, 400, refusedProof.text)
    const proof = make('proof', verificationCode, { issuer: 'pending' })
    const v = await rest(hub, 'POST', '/_emulator/certificates/pending/verify', {
      body: { certificate: proof.cert },
    })
    assert.equal(v.status, 200, v.text)
    assert.equal((v.body as { properties: { isVerified: boolean } }).properties.isVerified, true)
    assert.equal(await x509Connect(hub, pendingLeaf), 0)
  })

  it('a CA registered at run time (verified) authenticates at once, and no longer once deleted', async () => {
    const put = await rest(hub, 'PUT', '/_emulator/certificates/other', {
      body: { certificate: otherRoot.cert, isVerified: true },
    })
    assert.equal(put.status, 200, put.text)
    assert.equal(await x509Connect(hub, otherLeaf), 0)
    assert.equal((await rest(hub, 'DELETE', '/_emulator/certificates/other')).status, 204)
    const { code, event } = await refusal(hub, otherLeaf)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CHAIN_UNTRUSTED')
  })

  it('an intermediate registered as the CA authenticates its leaves on its own (a partial chain)', async () => {
    const put = await rest(hub, 'PUT', '/_emulator/certificates/inter', {
      body: { certificate: intermediate.cert, isVerified: true },
    })
    assert.equal(put.status, 200, put.text)
    try {
      assert.equal(await x509Connect(hub, chained), 0)
    } finally {
      assert.equal((await rest(hub, 'DELETE', '/_emulator/certificates/inter')).status, 204)
    }
  })

  it('the registry refuses a device certificate as a CA, and the endpoints need the owner', async () => {
    const r = await rest(hub, 'PUT', '/_emulator/certificates/leaf', { body: { certificate: leaf.cert } })
    assert.equal(r.status, 400)
    assert.match(r.text, /not a CA certificate/)
    assert.equal((await rest(hub, 'GET', '/_emulator/certificates', { auth: null })).status, 401)
  })

  it('the official azure-iot-device client connects with the leaf+intermediate chain, and not self-signed', async () => {
    const { Client } = require('azure-iot-device') as {
      Client: {
        fromConnectionString(
          cs: string,
          transport: unknown,
        ): {
          setOptions(o: Record<string, unknown>, cb: (err?: Error) => void): void
          open(cb: (err?: Error) => void): void
          close(cb: (err?: Error) => void): void
        }
      }
    }
    const { Mqtt } = require('azure-iot-device-mqtt') as { Mqtt: unknown }
    const open = async (pair: Pair): Promise<Error | undefined> => {
      // HostName carries the hub's free port (the SDK dials mqtts://{HostName}; the hub accepts
      // its host name with one of its ports in the username)
      const client = Client.fromConnectionString(
        `HostName=localhost:${hub.ports.mqtt};DeviceId=ca-dev;x509=true`,
        Mqtt,
      )
      await new Promise<void>((resolve, reject) =>
        client.setOptions({ cert: pair.cert, key: pair.key, ca: hub.ca }, (err) =>
          err ? reject(err) : resolve(),
        ),
      )
      const err = await new Promise<Error | undefined>((resolve) =>
        client.open((e) => resolve(e ?? undefined)),
      )
      await new Promise<void>((resolve) => client.close(() => resolve()))
      return err
    }
    const accepted = nextEvent(hub, 'connect', (e) => e.deviceId === 'ca-dev')
    assert.equal(await open(chain), undefined)
    assert.equal((await accepted).authMethod, 'x509')
    const refused = nextEvent(hub, 'refuse', (e) => e.clientId === 'ca-dev')
    assert.ok((await open(selfSigned)) instanceof Error)
    assert.equal(reasonCode(await refused), 'ERR_X509_CHAIN_UNTRUSTED')
  })
})

describe("hub X.509 CA: validity is read on the hub's clock", { timeout: 120_000 }, () => {
  let hub: Hub
  before(async () => {
    // two days behind: the leaf issued just now is not valid yet for the hub (OpenSSL, on the
    // system clock, says it is)
    const behind = 2 * 86_400_000
    hub = await startHub({ x509Ca: [root.cert], now: () => Date.now() - behind })
    const se = Math.floor((Date.now() - behind) / 1000) + 600
    await addCaDevice(hub, 'ca-dev', policyToken(ownerKey(hub), 'iothubowner', se))
  })
  after(() => hub.close())

  it('a leaf valid now but not yet valid at the hub clock is refused', async () => {
    const { code, event } = await refusal(hub, leaf)
    assert.equal(code, 5)
    assert.equal(reasonCode(event), 'ERR_X509_CERT_NOT_YET_VALID')
  })
})

describe('sas-token hub --x509-ca', { timeout: 120_000 }, () => {
  it('registers the file verified: a leaf of that CA connects, and the CA is listed', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'hub',
        '--json',
        '--in-memory',
        '--mqtt-port',
        '0',
        '--https-port',
        '0',
        '--no-console',
        '--x509-ca',
        file('root.pem'),
      ],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    try {
      const first = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      )
      const ready = JSON.parse(first) as HubAddress & { event: string }
      assert.equal(ready.event, 'ready')
      await addCaDevice(ready)
      assert.equal(await x509Connect(ready, leaf), 0)
      const list = (await rest(ready, 'GET', '/_emulator/certificates')).body as Array<{
        properties: { subject: string; isVerified: boolean }
      }>
      assert.deepEqual(
        list.map((c) => [c.properties.subject, c.properties.isVerified]),
        [['CN=test root CA', true]],
      )
    } finally {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  })

  it('a file that is not a CA certificate is an error naming it', async () => {
    const r = await cli([
      'hub',
      '--in-memory',
      '--mqtt-port',
      '0',
      '--https-port',
      '0',
      '--no-console',
      '--x509-ca',
      file('leaf.pem'),
    ])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /not a CA certificate/)
    const missing = await cli(['hub', '--in-memory', '--no-console', '--x509-ca', file('nope.pem')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /--x509-ca .*nope\.pem: cannot read it \(ENOENT\)/)
  })
})

describe('sas-token doctor --cert --ca', { timeout: 120_000 }, () => {
  writeFileSync(file('chain.pem'), chain.cert)
  const doctor = (cert: string, ...cas: string[]) =>
    cli([
      'doctor',
      '-c',
      'HostName=localhost;DeviceId=ca-dev;x509=true',
      '--cert',
      file(cert),
      ...cas.flatMap((c) => ['--ca', file(c)]),
      '--json',
    ])
  const codes = (stdout: string): string[] =>
    (JSON.parse(stdout) as { findings: Array<{ code: string }> }).findings.map((f) => f.code)

  it('accepts a leaf of the CA, and a leaf with its intermediate', async () => {
    for (const cert of ['leaf.pem', 'chain.pem']) {
      const r = await doctor(cert, 'root.pem')
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(codes(r.stdout), [])
    }
  })

  it('explains what the hub refuses, with the same codes', async () => {
    const cases: Array<[string, string[], string]> = [
      ['self.pem', ['root.pem'], 'ERR_X509_CHAIN_UNTRUSTED'],
      ['chained.pem', ['root.pem'], 'ERR_X509_CHAIN_UNTRUSTED'],
      ['otherleaf.pem', ['root.pem'], 'ERR_X509_CHAIN_UNTRUSTED'],
      ['wrongcn.pem', ['root.pem'], 'ERR_X509_CN_MISMATCH'],
      ['expired.pem', ['root.pem'], 'ERR_X509_CERT_EXPIRED'],
      ['leaf.pem', [], 'ERR_X509_NO_CA_REGISTERED'],
    ]
    for (const [cert, cas, code] of cases) {
      const r = await doctor(cert, ...cas)
      assert.equal(r.code, 1, `${cert}: ${r.stderr}`)
      assert.deepEqual(codes(r.stdout), [code], cert)
    }
  })
})

describe('hub X.509 CA: registered CAs are kept in the state directory', { timeout: 120_000 }, () => {
  it('a CA registered over REST authenticates after a restart', async () => {
    const stateDir = join(dir, 'state')
    const first = await startHub({ stateDir })
    await addCaDevice(first)
    const put = await rest(first, 'PUT', '/_emulator/certificates/kept', {
      body: { certificate: root.cert, isVerified: true },
    })
    assert.equal(put.status, 200, put.text)
    await first.close()
    const saved = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      certificates: Record<string, { name: string; isVerified: boolean; subject: string; thumbprint: string }>
    }
    assert.equal(saved.certificates.kept?.isVerified, true)
    assert.equal(saved.certificates.kept?.subject, 'CN=test root CA')
    const second = await startHub({ stateDir })
    try {
      assert.equal(await x509Connect(second, leaf), 0)
    } finally {
      await second.close()
    }
  })
})
