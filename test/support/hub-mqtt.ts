// Real mqtt.js clients against the product hub (sas-token/hub), over TLS or WebSocket, and a
// way to wait for the hub's own events without racing them.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Hub, HubEvent, HubEventName, HubEventOf } from 'sas-token/hub'

/** The CONNECT fields a test sends. */
export interface Connect {
  clientId: string
  username: string
  password?: string
  clean?: boolean
  will?: IClientOptions['will']
  keepalive?: number
}

/** Options for mqtt.js, TLS to the hub's MQTT port with its CA. */
export function tlsOptions(hub: Hub, c: Connect): IClientOptions {
  return {
    host: '127.0.0.1',
    port: hub.ports.mqtt,
    protocol: 'mqtts',
    ca: hub.ca,
    servername: 'localhost',
    clientId: c.clientId,
    username: c.username,
    ...(c.password === undefined ? {} : { password: c.password }),
    protocolVersion: 4,
    clean: c.clean ?? true,
    reconnectPeriod: 0,
    connectTimeout: 60_000,
    keepalive: c.keepalive ?? 60,
    ...(c.will === undefined ? {} : { will: c.will }),
  }
}

/** Connects and resolves with the client, or rejects with the CONNACK error (its `code`). */
export function connect(hub: Hub, c: Connect, o: { websocket?: boolean } = {}): Promise<MqttClient> {
  const options = tlsOptions(hub, c)
  const client = o.websocket
    ? mqtt.connect(`wss://localhost:${hub.ports.https}/$iothub/websocket`, {
        ...options,
        host: 'localhost',
        port: hub.ports.https,
        protocol: 'wss',
      })
    : mqtt.connect(options)
  closings.set(client, new Promise((resolve) => client.once('close', () => resolve())))
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', (err) => {
      client.end(true)
      reject(err)
    })
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

/** Resolves with the CONNACK return code of a refused CONNECT. */
export async function refusedCode(hub: Hub, c: Connect): Promise<number> {
  try {
    const client = await connect(hub, c)
    client.end(true)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'number') return code
    throw err
  }
  throw new Error('the CONNECT was accepted')
}

function isNamed<N extends HubEventName>(e: HubEvent, name: N): e is HubEventOf<N> {
  return e.event === name
}

/**
 * The first event (from now on) named `name` (and matching `where`), typed as that kind; or the
 * first matching `predicate`.
 */
export function nextEvent<N extends HubEventName>(
  hub: Hub,
  name: N,
  where?: (e: HubEventOf<N>) => boolean,
): Promise<HubEventOf<N>>
export function nextEvent(hub: Hub, predicate: (e: HubEvent) => boolean): Promise<HubEvent>
export function nextEvent<N extends HubEventName>(
  hub: Hub,
  test: N | ((e: HubEvent) => boolean),
  where: (e: HubEventOf<N>) => boolean = () => true,
): Promise<HubEvent> {
  const predicate = typeof test === 'function' ? test : (e: HubEvent): boolean => isNamed(e, test) && where(e)
  return new Promise((resolve) => {
    const on = (e: HubEvent): void => {
      if (predicate(e)) {
        hub.events.off('event', on)
        resolve(e)
      }
    }
    hub.events.on('event', on)
  })
}

const closings = new WeakMap<MqttClient, Promise<void>>()

/** Resolves when the client's connection closes (even if it closed already). */
export function closed(client: MqttClient): Promise<void> {
  return closings.get(client) ?? new Promise((resolve) => client.once('close', () => resolve()))
}

/** The next message on a client whose topic starts with `prefix`. */
export function nextMessage(client: MqttClient, prefix: string): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer): void => {
      if (topic.startsWith(prefix)) {
        client.off('message', on)
        resolve({ topic, payload })
      }
    }
    client.on('message', on)
  })
}
