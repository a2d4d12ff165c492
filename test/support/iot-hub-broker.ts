/**
 * A fake IoT Hub and a fake DPS: real aedes brokers behind real TLS on random loopback ports,
 * with the service's rules written here from the docs, independently of the library under test.
 *
 * The hub checks, at CONNECT: the username form `{hub}/{device}[/{module}]/?api-version=…`, that
 * the client id matches it, and the SAS token, verified with node:crypto (HMAC-SHA256 over
 * `sr + "\n" + se` with the base64-decoded key): unexpired by the injected clock, a device or
 * module key naming exactly that identity, or a policy key (`skn`) naming a segment prefix of
 * it. It then accepts only the documented publish topics and subscription filters, closes the
 * connection on QoS 2 and on any other topic, answers twin GET and reported PATCH, and can send
 * method requests, desired patches, C2D messages and module-input messages.
 *
 * DPS checks the username `{idScope}/registrations/{id}/api-version=2019-03-31`, a token for
 * `{idScope}/registrations/{id}` with `skn=registration`, and serves register (202) and poll
 * (202 once, then 200 with the assigned hub).
 *
 * @module
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer, type Server } from 'node:tls'
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes'

/** CONNACK return codes of MQTT 3.1.1. */
export const CONNACK = { IDENTIFIER_REJECTED: 2, BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5 } as const

interface Token {
  srRaw: string
  seRaw: string
  resource: string
  signature: string
  expiresAt: number
  keyName?: string
}

function refuse(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

/** Takes `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]` apart, or throws a CONNACK refusal. */
function readToken(password: Buffer | undefined): Token {
  const text = password?.toString('utf8') ?? ''
  const prefix = 'SharedAccessSignature '
  if (!text.startsWith(prefix)) throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'no SAS token')
  const fields = new Map<string, string>()
  for (const part of text.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=')
    if (eq <= 0) throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'malformed token')
    fields.set(part.slice(0, eq), part.slice(eq + 1))
  }
  const srRaw = fields.get('sr')
  const sig = fields.get('sig')
  const seRaw = fields.get('se')
  if (srRaw === undefined || sig === undefined || seRaw === undefined || !/^\d+$/.test(seRaw)) {
    throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'malformed token')
  }
  const skn = fields.get('skn')
  try {
    return {
      srRaw,
      seRaw,
      resource: decodeURIComponent(srRaw),
      signature: decodeURIComponent(sig),
      expiresAt: Number(seRaw),
      ...(skn === undefined ? {} : { keyName: decodeURIComponent(skn) }),
    }
  } catch {
    throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'malformed token')
  }
}

/** The service's signature check: it signs `sr` exactly as received. */
function signatureMatches(token: Token, key: string): boolean {
  const expected = createHmac('sha256', Buffer.from(key, 'base64'))
    .update(`${token.srRaw}\n${token.seRaw}`)
    .digest()
  const given = Buffer.from(token.signature, 'base64')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

interface Listening {
  port: number
  close(): Promise<void>
}

async function listen(broker: Aedes, tls: { key: string; cert: string }): Promise<Listening> {
  const server: Server = createServer(tls, (socket) => broker.handle(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function send(client: Client, topic: string, payload: string, qos: 0 | 1 = 0): Promise<void> {
  return new Promise((resolve, reject) =>
    client.publish(
      { cmd: 'publish', topic, payload: Buffer.from(payload), qos, dup: false, retain: false },
      (err) => (err ? reject(err) : resolve()),
    ),
  )
}

// ---------------------------------------------------------------------------------------------
// IoT Hub

export interface HubIdentity {
  deviceId: string
  moduleId?: string
  /** The identity's registry key (base64). */
  key: string
}

export interface FakeHubOptions {
  hostName: string
  identities: HubIdentity[]
  /** Shared access policies whose tokens may connect devices (with `skn`). */
  policies?: Array<{ name: string; key: string }>
  /** The hub's clock, epoch milliseconds. */
  now?: () => number
  tls: { key: string; cert: string }
}

interface Session {
  client: Client
  clientId: string
  deviceId: string
  moduleId?: string
  expiresAt: number
  /** When the hub accepted the CONNECT, by its own clock (epoch ms). */
  acceptedAt: number
  filters: Set<string>
}

export interface FakeHub {
  port: number
  /**
   * Emits `session` ({ clientId, expiresAt, acceptedAt }) after each accepted CONNECT, and `subscribe`
   * ({ clientId, filter }) for each granted subscription.
   */
  events: EventEmitter
  /** Telemetry topics received, in order, with their payloads. */
  telemetry: Array<{ clientId: string; topic: string; payload: string; qos: number }>
  /** Each identity's reported properties, as patched. */
  reported: Map<string, Record<string, unknown>>
  /** The `se` of the connected session of `clientId`, if any. */
  sessionExpiry(clientId: string): number | undefined
  /** Sends a direct-method request; resolves with the device's answer. */
  invokeMethod(
    clientId: string,
    method: string,
    payload: unknown,
  ): Promise<{ status: number; payload: string }>
  /** Sends a desired-properties patch with the next version. */
  patchDesired(clientId: string, patch: Record<string, unknown>): Promise<number>
  /** Sends a C2D message with a ready-encoded property bag. */
  sendC2d(deviceId: string, bag: string, body: string): Promise<void>
  /** Routes a message to a module input, with a ready-encoded property bag. */
  sendToInput(deviceId: string, moduleId: string, input: string, bag: string, body: string): Promise<void>
  /** Closes every session whose token has expired by the hub clock; returns their client ids. */
  disconnectExpired(): string[]
  close(): Promise<void>
}

const HUB_FILTERS = [
  '$iothub/twin/res/#',
  '$iothub/twin/PATCH/properties/desired/#',
  '$iothub/methods/POST/#',
]

export async function startFakeHub(o: FakeHubOptions): Promise<FakeHub> {
  const now = o.now ?? Date.now
  const sessions = new Map<Client, Session>()
  const events = new EventEmitter()
  const telemetry: FakeHub['telemetry'] = []
  const reported = new Map<string, Record<string, unknown>>()
  const versions = new Map<string, number>()
  const pendingMethods = new Map<string, (answer: { status: number; payload: string }) => void>()
  let nextRid = 0

  function sessionOf(clientId: string): Session | undefined {
    return [...sessions.values()].find((s) => s.clientId === clientId)
  }

  function nextVersion(clientId: string): number {
    const version = (versions.get(clientId) ?? 1) + 1
    versions.set(clientId, version)
    return version
  }

  const authenticate: AedesOptions['authenticate'] = (client, username, password, done) => {
    try {
      const name = username ?? ''
      const q = name.indexOf('/?')
      if (q === -1) throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'username lacks /?api-version=')
      const params = new URLSearchParams(name.slice(q + 2))
      if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(params.get('api-version') ?? '')) {
        throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'username lacks api-version')
      }
      const [host, deviceId, moduleId, ...extra] = name.slice(0, q).split('/')
      if (host !== o.hostName || !deviceId || extra.length > 0)
        throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'username names another hub')
      if (client.id !== (moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`)) {
        throw refuse(CONNACK.IDENTIFIER_REJECTED, 'client id does not match the username')
      }
      const token = readToken(password)
      if (token.expiresAt * 1000 <= now()) throw refuse(CONNACK.NOT_AUTHORIZED, 'token expired')
      const resource = `${o.hostName}/devices/${deviceId}${moduleId === undefined ? '' : `/modules/${moduleId}`}`
      let key: string | undefined
      if (token.keyName !== undefined) {
        key = o.policies?.find((p) => p.name === token.keyName)?.key
        if (resource !== token.resource && !resource.startsWith(`${token.resource}/`)) key = undefined
      } else if (token.resource === resource) {
        key = o.identities.find((i) => i.deviceId === deviceId && i.moduleId === moduleId)?.key
      }
      if (key === undefined || !signatureMatches(token, key))
        throw refuse(CONNACK.NOT_AUTHORIZED, 'token does not grant this identity')
      sessions.set(client, {
        client,
        clientId: client.id,
        deviceId,
        ...(moduleId === undefined ? {} : { moduleId }),
        expiresAt: token.expiresAt,
        acceptedAt: now(),
        filters: new Set(),
      })
      done(null, true)
    } catch (err) {
      done(err as AuthenticateError, false)
    }
  }

  const authorizePublish: AedesOptions['authorizePublish'] = (client, packet, done) => {
    const session = client === null ? undefined : sessions.get(client)
    if (session === undefined) return done(new Error('not connected'))
    if (packet.qos === 2) return done(new Error('IoT Hub does not support QoS 2: closing the connection'))
    const topic = packet.topic
    const path = `devices/${session.deviceId}${session.moduleId === undefined ? '' : `/modules/${session.moduleId}`}`
    const payload = packet.payload.toString()
    if (topic.startsWith(`${path}/messages/events/`)) {
      telemetry.push({ clientId: session.clientId, topic, payload, qos: packet.qos })
      return done(null)
    }
    const get = /^\$iothub\/twin\/GET\/\?\$rid=([^&/]+)$/.exec(topic)
    if (get) {
      done(null)
      if (session.filters.has('$iothub/twin/res/#')) {
        const twin = {
          desired: { $version: versions.get(session.clientId) ?? 1 },
          reported: reported.get(session.clientId) ?? {},
        }
        void send(client!, `$iothub/twin/res/200/?$rid=${get[1]}`, JSON.stringify(twin))
      }
      return
    }
    const patch = /^\$iothub\/twin\/PATCH\/properties\/reported\/\?\$rid=([^&/]+)$/.exec(topic)
    if (patch) {
      done(null)
      reported.set(session.clientId, {
        ...reported.get(session.clientId),
        ...(JSON.parse(payload) as Record<string, unknown>),
      })
      if (session.filters.has('$iothub/twin/res/#')) {
        void send(
          client!,
          `$iothub/twin/res/204/?$rid=${patch[1]}&$version=${nextVersion(session.clientId)}`,
          '',
        )
      }
      return
    }
    const answer = /^\$iothub\/methods\/res\/(\d+)\/\?\$rid=([^&/]+)$/.exec(topic)
    if (answer) {
      done(null)
      pendingMethods.get(`${session.clientId} ${answer[2]}`)?.({ status: Number(answer[1]), payload })
      return
    }
    done(new Error(`IoT Hub does not accept publishes to ${topic}: closing the connection`))
  }

  const authorizeSubscribe: AedesOptions['authorizeSubscribe'] = (client, sub, done) => {
    const session = sessions.get(client)
    const own =
      session === undefined
        ? []
        : session.moduleId === undefined
          ? [`devices/${session.deviceId}/messages/devicebound/#`]
          : [`devices/${session.deviceId}/modules/${session.moduleId}/inputs/#`]
    // The hub grants QoS 1 to a QoS 2 request; aedes cannot downgrade a grant, so the fake refuses it.
    if (session === undefined || sub.qos > 1 || ![...own, ...HUB_FILTERS].includes(sub.topic))
      return done(null, null)
    session.filters.add(sub.topic)
    done(null, sub)
    events.emit('subscribe', { clientId: session.clientId, filter: sub.topic })
  }

  const broker = await Aedes.createBroker({ authenticate, authorizePublish, authorizeSubscribe })
  broker.on('clientReady', (client) => {
    const session = sessions.get(client)
    if (session)
      events.emit('session', {
        clientId: session.clientId,
        expiresAt: session.expiresAt,
        acceptedAt: session.acceptedAt,
      })
  })
  broker.on('clientDisconnect', (client) => sessions.delete(client))
  const server = await listen(broker, o.tls)

  function subscribed(clientId: string, filter: string): Session {
    const session = sessionOf(clientId)
    if (session === undefined || !session.filters.has(filter))
      throw new Error(`${clientId} is not subscribed to ${filter}`)
    return session
  }

  return {
    port: server.port,
    events,
    telemetry,
    reported,
    sessionExpiry: (clientId) => sessionOf(clientId)?.expiresAt,
    async invokeMethod(clientId, method, payload) {
      const session = subscribed(clientId, '$iothub/methods/POST/#')
      const rid = (++nextRid).toString(16)
      const answered = new Promise<{ status: number; payload: string }>((resolve) =>
        pendingMethods.set(`${clientId} ${rid}`, resolve),
      )
      await send(session.client, `$iothub/methods/POST/${method}/?$rid=${rid}`, JSON.stringify(payload))
      return answered
    },
    async patchDesired(clientId, patch) {
      const session = subscribed(clientId, '$iothub/twin/PATCH/properties/desired/#')
      const version = nextVersion(clientId)
      await send(
        session.client,
        `$iothub/twin/PATCH/properties/desired/?$version=${version}`,
        JSON.stringify({ ...patch, $version: version }),
      )
      return version
    },
    async sendC2d(deviceId, bag, body) {
      const session = subscribed(deviceId, `devices/${deviceId}/messages/devicebound/#`)
      await send(session.client, `devices/${deviceId}/messages/devicebound/${bag}`, body, 1)
    },
    async sendToInput(deviceId, moduleId, input, bag, body) {
      const session = subscribed(
        `${deviceId}/${moduleId}`,
        `devices/${deviceId}/modules/${moduleId}/inputs/#`,
      )
      await send(session.client, `devices/${deviceId}/modules/${moduleId}/inputs/${input}/${bag}`, body, 1)
    },
    disconnectExpired() {
      const expired = [...sessions.values()].filter((s) => s.expiresAt * 1000 <= now())
      for (const s of expired) s.client.close()
      return expired.map((s) => s.clientId)
    },
    close: server.close,
  }
}

// ---------------------------------------------------------------------------------------------
// DPS

export interface FakeDpsOptions {
  idScope: string
  /** Registration id → the device key DPS expects (individual, or derived from a group key). */
  enrollments: Map<string, string>
  /** The hub DPS assigns devices to. */
  assignedHub: string
  now?: () => number
  tls: { key: string; cert: string }
}

export interface FakeDps {
  port: number
  close(): Promise<void>
}

export async function startFakeDps(o: FakeDpsOptions): Promise<FakeDps> {
  const now = o.now ?? Date.now
  const registrations = new Map<Client, string>()
  const subscribedClients = new Set<Client>()
  const operations = new Map<string, { registrationId: string; polls: number }>()

  const authenticate: AedesOptions['authenticate'] = (client, username, password, done) => {
    try {
      const registrationId = client.id
      if (username !== `${o.idScope}/registrations/${registrationId}/api-version=2019-03-31`) {
        throw refuse(CONNACK.BAD_USERNAME_OR_PASSWORD, 'bad DPS username')
      }
      const token = readToken(password)
      const key = o.enrollments.get(registrationId)
      if (
        token.expiresAt * 1000 <= now() ||
        token.keyName !== 'registration' ||
        token.resource !== `${o.idScope}/registrations/${registrationId}` ||
        key === undefined ||
        !signatureMatches(token, key)
      ) {
        throw refuse(CONNACK.NOT_AUTHORIZED, 'bad DPS token')
      }
      registrations.set(client, registrationId)
      done(null, true)
    } catch (err) {
      done(err as AuthenticateError, false)
    }
  }

  const authorizeSubscribe: AedesOptions['authorizeSubscribe'] = (client, sub, done) => {
    if (sub.topic !== '$dps/registrations/res/#' || sub.qos > 1) return done(null, null)
    subscribedClients.add(client)
    done(null, sub)
  }

  const authorizePublish: AedesOptions['authorizePublish'] = (client, packet, done) => {
    const registrationId = client === null ? undefined : registrations.get(client)
    if (registrationId === undefined || packet.qos === 2) return done(new Error('refused'))
    const register = /^\$dps\/registrations\/PUT\/iotdps-register\/\?\$rid=([^&/]+)$/.exec(packet.topic)
    const poll =
      /^\$dps\/registrations\/GET\/iotdps-get-operationstatus\/\?\$rid=([^&/]+)&operationId=([^&/]+)$/.exec(
        packet.topic,
      )
    if (register) {
      const body = JSON.parse(packet.payload.toString()) as { registrationId?: string }
      if (body.registrationId !== registrationId) return done(new Error('registrationId in the body differs'))
      done(null)
      const operationId = `4.${randomUUID().replaceAll('-', '').slice(0, 16)}.${randomUUID()}`
      operations.set(operationId, { registrationId, polls: 0 })
      if (subscribedClients.has(client!)) {
        void send(
          client!,
          `$dps/registrations/res/202/?$rid=${register[1]}&retry-after=3`,
          JSON.stringify({ operationId, status: 'assigning' }),
          1,
        )
      }
      return
    }
    if (poll) {
      const operationId = decodeURIComponent(poll[2] ?? '')
      const operation = operations.get(operationId)
      if (operation === undefined || operation.registrationId !== registrationId)
        return done(new Error('unknown operation'))
      done(null)
      operation.polls++
      const topic =
        operation.polls < 2
          ? `$dps/registrations/res/202/?$rid=${poll[1]}&retry-after=1`
          : `$dps/registrations/res/200/?$rid=${poll[1]}`
      const body =
        operation.polls < 2
          ? { operationId, status: 'assigning' }
          : {
              operationId,
              status: 'assigned',
              registrationState: {
                registrationId,
                assignedHub: o.assignedHub,
                deviceId: registrationId,
                status: 'assigned',
              },
            }
      if (subscribedClients.has(client!)) void send(client!, topic, JSON.stringify(body), 1)
      return
    }
    done(new Error(`DPS does not accept publishes to ${packet.topic}`))
  }

  const broker = await Aedes.createBroker({ authenticate, authorizePublish, authorizeSubscribe })
  broker.on('clientDisconnect', (client) => {
    registrations.delete(client)
    subscribedClients.delete(client)
  })
  const server = await listen(broker, o.tls)
  return { port: server.port, close: server.close }
}
