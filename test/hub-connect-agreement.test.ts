// One CONNECT rule set: ~240 CONNECT variants, mutated with a seeded PRNG from valid ones
// (username, client id, password), go to a running hub (startHub, real mqtt.js over TLS) and
// to diagnoseConnect given the same registry facts; accept/refuse and the error codes agree on
// every one. Tokens are signed here with node:crypto (support/hmac-token.ts); the registry the
// diagnosis is given is this file's own copy of what was added to the hub, not read back from it.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type DiagnoseConnectOptions, diagnoseConnect } from 'sas-token'
import { type Hub, type HubEvent, type HubEventOf, STATE_FILE, startHub } from 'sas-token/hub'
import { hmacToken } from './support/hmac-token.js'
import { connect } from './support/hub-mqtt.js'

const key = (n: number): string => Buffer.alloc(32, n).toString('base64')
const DEV_KEYS = [key(1), key(2)] as const
const MOD_KEYS = [key(3), key(4)] as const
const OFF_KEYS = [key(5), key(6)] as const
const ENROLL_KEYS = [key(7), key(8)] as const
const GROUP_KEYS = [key(9), key(10)] as const
const STRANGER = key(17)
const THUMBPRINT = 'A'.repeat(40)
const HOST = 'localhost'
const API = '?api-version=2021-04-12'
const DPS_API = 'api-version=2019-03-31'

const derive = (groupKey: string, id: string): string =>
  createHmac('sha256', Buffer.from(groupKey, 'base64')).update(id).digest('base64')

/** What the test put into the hub's registry, by identity. */
type Registered =
  | { kind: 'sas'; keys: readonly string[]; status: 'enabled' | 'disabled' }
  | { kind: 'x509'; thumbprints: readonly string[]; status: 'enabled' | 'disabled' }

const REGISTRY: Record<string, Registered> = {
  dev1: { kind: 'sas', keys: DEV_KEYS, status: 'enabled' },
  'dev1/m1': { kind: 'sas', keys: MOD_KEYS, status: 'enabled' },
  off1: { kind: 'sas', keys: OFF_KEYS, status: 'disabled' },
  cam1: { kind: 'x509', thumbprints: [THUMBPRINT], status: 'enabled' },
}
const ENROLLMENTS: Record<string, readonly string[]> = { reg1: ENROLL_KEYS }
/** The hub's policies, as its state file holds them (the hub generates their keys). */
let POLICIES: Record<string, { deviceConnect: boolean; key: readonly string[] }> = {}
const policyKeys = (name: string): readonly string[] => POLICIES[name]?.key ?? []

interface Variant {
  /** What was mutated, for the report. */
  classes: string[]
  clientId: string
  username: string | undefined
  password: string | undefined
}

/** mulberry32: a small seeded PRNG, so every run sends the same variants. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const nowS = (): number => Math.floor(Date.now() / 1000)

/** The valid CONNECTs the variants start from. */
function bases(): Array<Variant & { base: string }> {
  const se = nowS() + 3600
  return [
    {
      base: 'device',
      classes: [],
      clientId: 'dev1',
      username: `${HOST}/dev1/${API}`,
      password: hmacToken(`${HOST}/devices/dev1`, DEV_KEYS[0], se),
    },
    {
      base: 'module',
      classes: [],
      clientId: 'dev1/m1',
      username: `${HOST}/dev1/m1/${API}`,
      password: hmacToken(`${HOST}/devices/dev1/modules/m1`, MOD_KEYS[1], se),
    },
    {
      base: 'policy',
      classes: [],
      clientId: 'dev1',
      username: `${HOST}/dev1/${API}`,
      password: hmacToken(HOST, policyKeys('iothubowner')[0] ?? '', se, 'iothubowner'),
    },
    {
      base: 'dps-individual',
      classes: [],
      clientId: 'reg1',
      username: `0ne00000000/registrations/reg1/${DPS_API}`,
      password: hmacToken('0ne00000000/registrations/reg1', ENROLL_KEYS[0], se, 'registration'),
    },
    {
      base: 'dps-group',
      classes: [],
      clientId: 'gdev7',
      username: `0ne00000000/registrations/gdev7/${DPS_API}`,
      password: hmacToken(
        '0ne00000000/registrations/gdev7',
        derive(GROUP_KEYS[0], 'gdev7'),
        se,
        'registration',
      ),
    },
  ]
}

type Mutation = (v: Variant, base: string) => Variant | undefined

const withPassword = (v: Variant, password: string | undefined): Variant => ({ ...v, password })
const isDps = (base: string): boolean => base.startsWith('dps')
/** The identity a (well-formed) username names: `dev1`, `dev1/m1` or a registration id. */
const named = (v: Variant): string => v.clientId

/** Every class of mutation, by name. */
const MUTATIONS: Record<string, Mutation> = {
  // the username
  'username: missing': (v) => ({ ...v, username: undefined }),
  'username: api-version=banana': (v, b) =>
    isDps(b)
      ? { ...v, username: v.username?.replace(DPS_API, 'api-version=banana') }
      : { ...v, username: v.username?.replace(API, '?api-version=banana') },
  'username: api-version missing': (v, b) =>
    isDps(b)
      ? { ...v, username: v.username?.replace(DPS_API, 'ClientVersion=x') }
      : { ...v, username: v.username?.replace(API, '?DeviceClientType=x') },
  'username: model-id not a DTMI': (v, b) =>
    isDps(b) ? undefined : { ...v, username: `${v.username}&model-id=not-a-dtmi` },
  'username: model-id a DTMI': (v, b) =>
    isDps(b) ? undefined : { ...v, username: `${v.username}&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1` },
  'username: no question mark': (v, b) =>
    isDps(b) ? undefined : { ...v, username: v.username?.replace('/?', '/') },
  'username: another host': (v, b) =>
    isDps(b) ? undefined : { ...v, username: v.username?.replace(`${HOST}/`, 'myhub.azure-devices.net/') },
  'username: host upper-case': (v, b) =>
    isDps(b) ? undefined : { ...v, username: v.username?.replace(`${HOST}/`, `${HOST.toUpperCase()}/`) },
  'username: extra segment': (v, b) =>
    isDps(b) ? undefined : { ...v, username: v.username?.replace('/?', '/x/y/?') },
  'username: ID scope upper-case': (v, b) =>
    isDps(b) ? { ...v, username: v.username?.replace('0ne00000000', '0NE00000000') } : undefined,
  'username: another ID scope': (v, b) =>
    isDps(b) ? { ...v, username: v.username?.replace('0ne00000000', '0ne99999999') } : undefined,
  'username: unknown identity': (v, b) =>
    isDps(b)
      ? undefined
      : {
          ...v,
          clientId: v.clientId.replace('dev1', 'ghost'),
          username: v.username?.replace('/dev1/', '/ghost/'),
        },
  'username: disabled identity': (v, b) =>
    b === 'device' || b === 'policy'
      ? { ...v, clientId: 'off1', username: v.username?.replace('/dev1/', '/off1/') }
      : undefined,
  'username: an X.509 identity': (v, b) =>
    b === 'device' || b === 'policy'
      ? { ...v, clientId: 'cam1', username: v.username?.replace('/dev1/', '/cam1/') }
      : undefined,
  'username: no enrollment': (v, b) =>
    b === 'dps-individual'
      ? {
          ...v,
          clientId: 'nobody',
          username: v.username?.replace('/reg1/', '/nobody/'),
          password: hmacToken(
            '0ne00000000/registrations/nobody',
            ENROLL_KEYS[0],
            nowS() + 600,
            'registration',
          ),
        }
      : undefined,
  // the client id
  'client id: another': (v) => ({ ...v, clientId: `${v.clientId}x` }),
  'client id: upper-case': (v) => ({ ...v, clientId: v.clientId.toUpperCase() }),
  // the password
  'password: missing': (v) => withPassword(v, undefined),
  'password: not a token': (v) => withPassword(v, 'hunter2'),
  'password: a literal … as the signature': (v) => withPassword(v, v.password?.replace(/sig=[^&]+/, 'sig=…')),
  'password: truncated signature': (v) => withPassword(v, v.password?.replace(/(sig=[^&]{10})[^&]+/, '$1')),
  'password: a stranger key': (v, b) => withPassword(v, resign(v, b, STRANGER)),
  'password: expired': (v, b) => withPassword(v, resign(v, b, undefined, nowS() - 7200)),
  'password: expired within the skew': (v, b) => withPassword(v, resign(v, b, undefined, nowS() - 60)),
  'password: a DPS token at the hub': (v, b) =>
    isDps(b)
      ? undefined
      : withPassword(
          v,
          hmacToken(`0ne00000000/registrations/${named(v)}`, DEV_KEYS[0], nowS() + 600, 'registration'),
        ),
  'password: a hub token at DPS': (v, b) =>
    isDps(b)
      ? withPassword(v, hmacToken(`${HOST}/devices/${named(v)}`, ENROLL_KEYS[0], nowS() + 600))
      : undefined,
  'password: another device token': (v, b) =>
    isDps(b) ? undefined : withPassword(v, hmacToken(`${HOST}/devices/dev2`, DEV_KEYS[0], nowS() + 600)),
  'password: a module token for the device': (v, b) =>
    b === 'device'
      ? withPassword(v, hmacToken(`${HOST}/devices/dev1/modules/m1`, DEV_KEYS[0], nowS() + 600))
      : undefined,
  'password: registryRead policy': (v, b) =>
    isDps(b)
      ? undefined
      : withPassword(v, hmacToken(HOST, policyKeys('registryRead')[0] ?? '', nowS() + 600, 'registryRead')),
  'password: unknown policy': (v, b) =>
    isDps(b)
      ? undefined
      : withPassword(v, hmacToken(HOST, policyKeys('iothubowner')[0] ?? '', nowS() + 600, 'nosuch')),
  'password: policy scoped to dev2': (v, b) =>
    isDps(b)
      ? undefined
      : withPassword(
          v,
          hmacToken(`${HOST}/devices/dev2`, policyKeys('iothubowner')[0] ?? '', nowS() + 600, 'iothubowner'),
        ),
  'password: the group key itself': (v, b) =>
    b === 'dps-group'
      ? withPassword(
          v,
          hmacToken(`0ne00000000/registrations/${named(v)}`, GROUP_KEYS[1], nowS() + 600, 'registration'),
        )
      : undefined,
  'password: the other key': (v, b) => withPassword(v, resign(v, b, 'other')),
}

/** The variant's token signed again: with `signer` (a key, or `other` for the other of primary and secondary), expiring at `se`. */
function resign(v: Variant, base: string, signer: string | undefined, se = nowS() + 600): string | undefined {
  const id = named(v)
  const other = signer === 'other'
  const pick = (keys: readonly string[]): string =>
    signer !== undefined && !other ? signer : (keys[other ? 1 : 0] ?? '')
  switch (base) {
    case 'device':
      return hmacToken(`${HOST}/devices/${id}`, pick(DEV_KEYS), se)
    case 'module':
      return hmacToken(`${HOST}/devices/dev1/modules/m1`, pick(MOD_KEYS), se)
    case 'policy':
      return hmacToken(HOST, pick(policyKeys('iothubowner')), se, 'iothubowner')
    case 'dps-individual':
      return hmacToken(`0ne00000000/registrations/${id}`, pick(ENROLL_KEYS), se, 'registration')
    default:
      return hmacToken(
        `0ne00000000/registrations/${id}`,
        signer !== undefined && !other ? signer : derive(GROUP_KEYS[other ? 1 : 0], id),
        se,
        'registration',
      )
  }
}

/** Every class once on each base it applies to, then random pairs, to `count` variants. */
function variants(count: number, seed: number): Variant[] {
  const random = prng(seed)
  const out: Variant[] = []
  const names = Object.keys(MUTATIONS)
  for (const b of bases()) {
    out.push(b)
    for (const name of names) {
      const v = MUTATIONS[name]?.(b, b.base)
      if (v !== undefined) out.push({ ...v, classes: [name] })
    }
  }
  while (out.length < count) {
    const list = bases()
    const b = list[Math.floor(random() * list.length)]
    if (b === undefined) continue
    const first = names[Math.floor(random() * names.length)] ?? ''
    const second = names[Math.floor(random() * names.length)] ?? ''
    if (first === second) continue
    const once = MUTATIONS[first]?.(b, b.base)
    const twice = once === undefined ? undefined : MUTATIONS[second]?.(once, b.base)
    if (twice !== undefined) out.push({ ...twice, classes: [first, second] })
  }
  return out
}

/** What the registry knows, as diagnoseConnect takes it: this file's own copy of what it added to the hub. */
function diagnoseOptions(idScope: string): DiagnoseConnectOptions {
  return {
    hubHostName: HOST,
    idScope,
    policies: POLICIES,
    now: Date.now(),
    registry: {
      identity(deviceId, moduleId) {
        const id = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`
        const r = Object.hasOwn(REGISTRY, id) ? REGISTRY[id] : undefined
        if (r === undefined) return undefined
        const status = REGISTRY[deviceId]?.status ?? 'enabled'
        return r.kind === 'sas'
          ? { status, authentication: { type: 'sas', keys: r.keys } }
          : { status, authentication: { type: 'selfSigned', thumbprints: r.thumbprints } }
      },
      enrollment(registrationId) {
        const keys = Object.hasOwn(ENROLLMENTS, registrationId) ? ENROLLMENTS[registrationId] : undefined
        return keys === undefined ? undefined : { status: 'enabled', keys }
      },
      enrollmentGroups: [{ enrollmentGroupId: 'grp1', status: 'enabled', keys: GROUP_KEYS }],
    },
  }
}

interface Outcome {
  accepted: boolean
  codes: string[]
}

const errorCodes = (findings: ReadonlyArray<{ severity: string; code: string }>): string[] =>
  findings.filter((f) => f.severity === 'error').map((f) => f.code)

async function sendToHub(hub: Hub, v: Variant): Promise<Outcome> {
  const refusals: HubEventOf<'refuse'>[] = []
  const on = (e: HubEvent): void => {
    if (e.event === 'refuse') refusals.push(e)
  }
  hub.events.on('event', on)
  try {
    const c = {
      clientId: v.clientId,
      username: v.username ?? '',
      ...(v.password === undefined ? {} : { password: v.password }),
    }
    try {
      const client = await connect(hub, c)
      client.end(true)
      await new Promise<void>((resolve) => client.once('close', () => resolve()))
      return { accepted: true, codes: [] }
    } catch (err) {
      if (typeof (err as { code?: unknown }).code !== 'number') throw err
    }
    const refusal = refusals[0]
    assert.ok(refusal, 'a refused CONNECT publishes a refuse event')
    return {
      accepted: false,
      codes: errorCodes(refusal.findings),
    }
  } finally {
    hub.events.off('event', on)
  }
}

describe('the hub and diagnoseConnect are one CONNECT rule set', () => {
  let hub: Hub
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sas-token-agreement-'))
    hub = await startHub({ stateDir: dir })
    await hub.addDevice('dev1', { primaryKey: DEV_KEYS[0], secondaryKey: DEV_KEYS[1] })
    await hub.addModule('dev1', 'm1', { primaryKey: MOD_KEYS[0], secondaryKey: MOD_KEYS[1] })
    await hub.addDevice('off1', { primaryKey: OFF_KEYS[0], secondaryKey: OFF_KEYS[1], status: 'disabled' })
    await hub.addDevice('cam1', { x509Thumbprint: { primaryThumbprint: THUMBPRINT } })
    await hub.addEnrollment('reg1', { primaryKey: ENROLL_KEYS[0], secondaryKey: ENROLL_KEYS[1] })
    await hub.addEnrollmentGroup('grp1', { primaryKey: GROUP_KEYS[0], secondaryKey: GROUP_KEYS[1] })
    await hub.flush()
    POLICIES = await policiesOf(dir)
  })
  after(async () => {
    await hub.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('agree on accept/refuse and on the error codes of 240 seeded variants', {
    timeout: 300_000,
  }, async () => {
    const all = variants(240, 15)
    const disagreements: string[] = []
    const byClass = new Map<string, number>()
    const single = new Map<string, Outcome[]>()
    for (const v of all) {
      const fromHub = await sendToHub(hub, v)
      if (v.classes.length <= 1) {
        const name = v.classes[0] ?? 'valid'
        single.set(name, [...(single.get(name) ?? []), fromHub])
      }
      const findings = diagnoseConnect(
        {
          clientId: v.clientId,
          username: v.username ?? '',
          ...(v.password === undefined ? {} : { password: v.password }),
        },
        diagnoseOptions(hub.idScope),
      )
      const diagnosed: Outcome = { accepted: errorCodes(findings).length === 0, codes: errorCodes(findings) }
      if (fromHub.accepted !== diagnosed.accepted || fromHub.codes.join() !== diagnosed.codes.join()) {
        const what = v.classes.length === 0 ? 'valid' : v.classes.join(' + ')
        for (const c of v.classes.length === 0 ? ['valid'] : v.classes)
          byClass.set(c, (byClass.get(c) ?? 0) + 1)
        disagreements.push(
          `${what} (${v.clientId}): hub ${fromHub.accepted ? 'accepts' : `refuses [${fromHub.codes}]`}, diagnose ${diagnosed.accepted ? 'accepts' : `refuses [${diagnosed.codes}]`}`,
        )
      }
    }
    assert.ok(all.length >= 240)
    // the decisions themselves, as IoT Hub makes them (see the README's diagnoseConnect section)
    const expect: Array<[string, (o: Outcome) => boolean]> = [
      ['valid', (o) => o.accepted],
      ['password: the other key', (o) => o.accepted],
      ['username: api-version=banana', (o) => o.accepted],
      ['username: model-id not a DTMI', (o) => o.accepted],
      ['username: model-id a DTMI', (o) => o.accepted],
      ['username: ID scope upper-case', (o) => o.accepted],
      ['username: host upper-case', (o) => o.accepted],
      ['username: unknown identity', (o) => o.codes[0] === 'ERR_IDENTITY_NOT_FOUND'],
      ['username: disabled identity', (o) => o.codes.includes('ERR_DEVICE_DISABLED')],
      ['username: no enrollment', (o) => o.codes.join() === 'ERR_ENROLLMENT_NOT_FOUND'],
      ['username: another ID scope', (o) => o.codes[0] === 'ERR_ID_SCOPE_MISMATCH'],
      ['password: a literal … as the signature', (o) => o.codes.join() === 'ERR_PASSWORD_NOT_SAS_TOKEN'],
      ['password: a stranger key', (o) => !o.accepted],
      ['password: expired', (o) => o.codes.includes('ERR_TOKEN_EXPIRED')],
      ['password: expired within the skew', (o) => o.accepted],
    ]
    for (const [name, holds] of expect) {
      const outcomes = single.get(name) ?? []
      assert.ok(outcomes.length > 0, name)
      for (const o of outcomes) assert.ok(holds(o), `${name}: ${JSON.stringify(o)}`)
    }
    assert.deepEqual(
      disagreements,
      [],
      `${disagreements.length} of ${all.length} disagree; by class: ${JSON.stringify([...byClass])}`,
    )
  })
})

/** The policies of the hub's state file, as diagnoseConnect takes them. */
async function policiesOf(dir: string): Promise<typeof POLICIES> {
  const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as {
    policies: Array<{ keyName: string; primaryKey: string; secondaryKey: string; rights: string[] }>
  }
  return Object.fromEntries(
    state.policies.map((p) => [
      p.keyName,
      { deviceConnect: p.rights.includes('DeviceConnect'), key: [p.primaryKey, p.secondaryKey] },
    ]),
  )
}
