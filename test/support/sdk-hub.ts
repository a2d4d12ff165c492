// The product hub (sas-token/hub) on the ports the official SDKs dial (8883 for MQTT, 443 for
// MQTT and AMQP over WebSocket and REST, 5671 for AMQP: they cannot be told otherwise), on a loopback address of its
// own, 127.x.y.z picked at random, so that test files and other engineers' runs on this machine
// never collide on those ports. Its host name is that address, so the device connection strings
// need no change at all. Child processes trust its CA through NODE_EXTRA_CA_CERTS.
import { randomBytes, randomInt } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hub } from 'sas-token/hub'
import { HubEventLog, type HubEventLike } from './hub-event-log.js'

/** What these tests use of the hub (the contract of sas-token/hub). */
export interface ProductHub
  extends Pick<
    Hub,
    | 'addDevice'
    | 'addModule'
    | 'sendC2d'
    | 'fault'
    | 'updateDesired'
    | 'eventHubConnectionString'
    | 'eventHubDevelopmentConnectionString'
  > {
  hubConnectionString: string
  dpsConnectionString: string
  ca: string
  hostName: string
  ports: { mqtt: number; https: number }
  events: NodeJS.EventEmitter
  close(): Promise<void>
}

/** A hub for the SDK tests, or the reason there is none. */
export interface SdkHub {
  hub: ProductHub
  /** The loopback address it listens on, and its host name. */
  address: string
  caFile: string
  /** Env for child processes: NODE_EXTRA_CA_CERTS and IOTHUB_CONNECTION_STRING. */
  env: Record<string, string>
  /** Every event the hub has emitted so far. */
  seen: HubEventLike[]
  /** Resolves with the first event (already seen, or to come) that matches; with `ms`, rejects when none comes in time. */
  waitForEvent(match: (e: HubEventLike) => boolean, ms?: number): Promise<HubEventLike>
  close(): Promise<void>
}

export type { HubEventLike }

/** Can this process listen on `port` of `address`? The error code when not. */
function probe(address: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
    s.listen(port, address, () => s.close(() => resolve(undefined)))
  })
}

/**
 * Starts the product hub on 8883, 443 and 5671 of a random loopback address.
 * @param options more `startHub` options (such as `c2d`), beside the address, ports and key it sets.
 * @returns the hub, or a string saying why it cannot run here (for `t.skip`).
 */
export async function startSdkHub(options: Record<string, unknown> = {}): Promise<SdkHub | string> {
  let startHub: (o: Record<string, unknown>) => Promise<ProductHub>
  try {
    const spec = 'sas-token/hub'
    ;({ startHub } = (await import(spec)) as { startHub: typeof startHub })
  } catch (err) {
    return `sas-token/hub cannot be loaded (${(err as Error).message})`
  }
  let address = ''
  for (let attempt = 0; ; attempt++) {
    address = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
    const busy = (await probe(address, 8883)) ?? (await probe(address, 443)) ?? (await probe(address, 5671))
    if (busy === undefined) break
    if (busy === 'EACCES' || busy === 'EPERM')
      return `the official SDKs dial ports 8883, 443 and 5671, which this user may not bind (${busy}); run as root or grant CAP_NET_BIND_SERVICE`
    if (attempt === 5) return `ports 8883/443/5671 are busy on every loopback address tried (${busy})`
  }
  const hub = await startHub({
    ...options,
    inMemory: true,
    host: address,
    hostName: address,
    // An owner key of its own: the hub refuses the documented one on any address but 127.0.0.1.
    ownerKey: randomBytes(32).toString('base64'),
    mqttPort: 8883,
    httpsPort: 443,
    amqpPort: 5671,
  })
  const dir = mkdtempSync(join(tmpdir(), 'sdk-hub-'))
  const caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, hub.ca)
  const log = new HubEventLog()
  log.follow(hub.events)
  return {
    hub,
    address,
    caFile,
    env: { NODE_EXTRA_CA_CERTS: caFile, IOTHUB_CONNECTION_STRING: hub.hubConnectionString },
    seen: log.seen,
    waitForEvent: (match, ms) => log.waitFor(match, ms),
    async close() {
      await hub.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * {@link startSdkHub} as a test file keeps it: `sdk` when the hub runs, `skip` (for `t.skip`) when not.
 * @param options more `startHub` options, as for {@link startSdkHub}.
 */
export async function sdkHubOrSkip(
  options: Record<string, unknown> = {},
): Promise<{ sdk?: SdkHub; skip?: string }> {
  const started = await startSdkHub(options)
  return typeof started === 'string' ? { skip: started } : { sdk: started }
}
