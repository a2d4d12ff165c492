// `npm run bench` (hub part): 1,000 devices connected from this one process over MQTT/TLS,
// each sending telemetry at QoS 1, first to a plain aedes broker with no checks at all, then to
// the product hub (sas-token/hub: token checks, topic rules, events); then the same devices send
// the same telemetry to the hub over AMQP/TLS (rhea clients, SASL PLAIN with each device's token,
// each message waiting for its `accepted`, as QoS 1 waits for its PUBACK). After the MQTT round,
// the official @azure/event-hubs EventHubConsumerClient reads every message of it back from the
// Event Hub-compatible endpoint (UseDevelopmentEmulator=true, all partitions, from earliest),
// timed from `subscribe` (the SDK's start-up included) to the last message: its read rate against
// the rate the hub took them in. Each server runs in its own child process, so its memory per
// connected device can be read apart from the clients'.
// Every figure is a ratio measured in this one run. Reported, never failing.
//
//   node scripts/bench-hub.js [--devices 1000] [--messages 10] [--rounds 2]
//   node scripts/bench-hub.js --serve aedes|hub --devices N   (the server side, internal)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs'
import mqtt from 'mqtt'
import rhea from 'rhea'
import { mqttCredentials, telemetryTopic } from '../dist/index.js'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}
const DEVICES = Number(arg('devices', 1000))
const MESSAGES = Number(arg('messages', 10))
const ROUNDS = Number(arg('rounds', 2))
/** Connections in flight at once, as a device fleet reconnecting after an outage would be. */
const IN_FLIGHT = 100

const serving = arg('serve', undefined)
if (serving !== undefined) await serve(serving)
else await main()

/** The server side: prints one JSON line with what the clients need, then answers `mem` lines. */
async function serve(kind) {
  const out = (value) => process.stdout.write(`${JSON.stringify(value)}\n`)
  let ready
  if (kind === 'hub') {
    const { startHub } = await import('../dist/hub/index.js')
    const hub = await startHub({ inMemory: true, host: '127.0.0.1', hostName: 'localhost' })
    const devices = []
    for (let i = 0; i < DEVICES; i++) devices.push((await hub.addDevice(`bench-${i}`)).connectionString)
    ready = {
      port: hub.ports.mqtt,
      amqpPort: hub.ports.amqp,
      eventHub: hub.eventHubDevelopmentConnectionString,
      ca: hub.ca,
      devices,
    }
  } else {
    const { createCertificateAuthority, createServerCertificate } = await import(
      '../dist/hub/tls/certificates.js'
    )
    const { Aedes } = await import('aedes')
    const tls = await import('node:tls')
    const ca = createCertificateAuthority()
    const server = createServerCertificate(ca, ['localhost', '127.0.0.1'])
    const broker = await Aedes.createBroker()
    const listener = tls.createServer({ key: server.key, cert: server.cert }, broker.handle)
    await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve))
    // The same credentials the hub would get; this broker reads none of them.
    const key = Buffer.alloc(32, 7).toString('base64')
    const devices = Array.from(
      { length: DEVICES },
      (_, i) => `HostName=localhost;DeviceId=bench-${i};SharedAccessKey=${key}`,
    )
    ready = { port: listener.address().port, ca: ca.cert, devices }
  }
  out(ready)
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'mem') {
      globalThis.gc?.()
      const m = process.memoryUsage()
      out({ rss: m.rss, heapUsed: m.heapUsed })
    }
  }
  process.exit(0)
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool(items, limit, fn) {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        await fn(items[i], i)
      }
    }),
  )
}

/** One device over AMQP/TLS (SASL PLAIN with its token): its telemetry sender, and how to send. */
async function amqpDevice(ready, cs, i) {
  const c = mqttCredentials(cs, { ttl: 3600 })
  const connection = rhea.create_container().connect({
    transport: 'tls',
    host: '127.0.0.1',
    servername: 'localhost',
    port: ready.amqpPort,
    ca: ready.ca,
    username: `bench-${i}@sas.localhost`,
    password: c.password,
    reconnect: false,
  })
  connection.on('error', () => {})
  const sender = connection.open_sender({ target: { address: `/devices/bench-${i}/messages/events` } })
  await once(sender, 'sendable')
  const pending = new Map()
  sender.on('accepted', (ctx) => pending.get(ctx.delivery)?.())
  return {
    send(body) {
      const delivery = sender.send({
        body: rhea.message.data_section(Buffer.from(body)),
        application_properties: { n: String(i) },
      })
      return new Promise((resolve) => pending.set(delivery, resolve))
    },
    end() {
      connection.close()
      return once(connection, 'connection_close')
    },
  }
}

/**
 * Reads `count` messages with @azure/event-hubs from every partition, from earliest: the seconds
 * from `subscribe` to the last one, and from the first one to the last.
 */
async function readAll(connectionString, count) {
  const client = new EventHubConsumerClient('$Default', connectionString)
  let got = 0
  let first
  const t0 = process.hrtime.bigint()
  await new Promise((resolve, reject) => {
    const subscription = client.subscribe(
      {
        processEvents: async (events) => {
          if (events.length === 0) return
          first ??= process.hrtime.bigint()
          got += events.length
          if (got >= count) {
            resolve()
            await subscription.close()
          }
        },
        processError: async (err) => reject(err),
      },
      { startPosition: earliestEventPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1 },
    )
  })
  const t1 = process.hrtime.bigint()
  await client.close()
  return { seconds: Number(t1 - t0) / 1e9, steadySeconds: Number(t1 - (first ?? t0)) / 1e9 }
}

/** One measured round against one server kind (`hub-amqp`: the hub, its devices over AMQP). */
async function round(kind) {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      fileURLToPath(import.meta.url),
      '--serve',
      kind === 'hub-amqp' ? 'hub' : kind,
      '--devices',
      String(DEVICES),
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const read = async () => JSON.parse((await lines.next()).value)
  const ready = await read()
  child.stdin.write('mem\n')
  const before = await read()

  const clients = []
  const t0 = process.hrtime.bigint()
  await pool(ready.devices, IN_FLIGHT, async (cs, i) => {
    if (kind === 'hub-amqp') {
      clients[i] = { amqp: await amqpDevice(ready, cs, i) }
      return
    }
    const c = mqttCredentials(cs, { ttl: 3600 })
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: '127.0.0.1',
      servername: 'localhost',
      port: ready.port,
      ca: ready.ca,
      clientId: c.clientId,
      username: c.username,
      password: c.password,
      protocolVersion: 4,
      clean: false,
      reconnectPeriod: 0,
      keepalive: 180,
    })
    client.on('error', () => {})
    await once(client, 'connect')
    clients[i] = {
      client,
      topic: telemetryTopic({ deviceId: `bench-${i}` }, { properties: { n: String(i) } }),
    }
  })
  const connectSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  child.stdin.write('mem\n')
  const connected = await read()

  const body = JSON.stringify({ temperature: 21.5, humidity: 40 })
  const t1 = process.hrtime.bigint()
  await Promise.all(
    clients.map(async ({ client, topic, amqp }) => {
      for (let m = 0; m < MESSAGES; m++) {
        if (amqp) await amqp.send(body)
        else await client.publishAsync(topic, body, { qos: 1 })
      }
    }),
  )
  const publishSeconds = Number(process.hrtime.bigint() - t1) / 1e9
  await Promise.all(clients.map(({ client, amqp }) => (amqp ? amqp.end() : client.endAsync())))
  const readBack = kind === 'hub' ? await readAll(ready.eventHub, DEVICES * MESSAGES) : undefined
  child.stdin.end()
  await once(child, 'exit')
  return {
    connectRate: DEVICES / connectSeconds,
    messageRate: (DEVICES * MESSAGES) / publishSeconds,
    bytesPerDevice: (connected.rss - before.rss) / DEVICES,
    heapPerDevice: (connected.heapUsed - before.heapUsed) / DEVICES,
    ...(readBack === undefined
      ? {}
      : {
          readRatio: publishSeconds / readBack.seconds,
          readRate: (DEVICES * MESSAGES) / readBack.seconds,
          steadyReadRate: (DEVICES * MESSAGES) / readBack.steadySeconds,
        }),
  }
}

async function main() {
  const results = { aedes: [], hub: [], 'hub-amqp': [] }
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of ['aedes', 'hub', 'hub-amqp']) results[kind].push(await round(kind))
  }
  const best = (kind, field) => Math.max(...results[kind].map((x) => x[field]))
  const least = (kind, field) => Math.min(...results[kind].map((x) => x[field]))
  const ratio = (a, b) => `${(a / b).toFixed(2)}×`
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`
  const rows = [
    [
      'hub connect rate vs plain aedes',
      ratio(best('hub', 'connectRate'), best('aedes', 'connectRate')),
      '>= 0.7×',
      `${best('hub', 'connectRate').toFixed(0)} vs ${best('aedes', 'connectRate').toFixed(0)} connects/s, ${DEVICES} devices, ${IN_FLIGHT} in flight`,
    ],
    [
      'hub telemetry rate vs plain aedes',
      ratio(best('hub', 'messageRate'), best('aedes', 'messageRate')),
      '>= 0.7×',
      `${best('hub', 'messageRate').toFixed(0)} vs ${best('aedes', 'messageRate').toFixed(0)} msg/s at QoS 1, ${DEVICES}×${MESSAGES}`,
    ],
    [
      'AMQP telemetry vs MQTT telemetry (same hub)',
      ratio(best('hub-amqp', 'messageRate'), best('hub', 'messageRate')),
      '>= 0.8×',
      `${best('hub-amqp', 'messageRate').toFixed(0)} vs ${best('hub', 'messageRate').toFixed(0)} msg/s, each waiting for its accepted / PUBACK, ${DEVICES}×${MESSAGES}`,
    ],
    [
      'Event Hubs read rate vs hub ingest rate',
      ratio(Math.max(...results.hub.map((x) => x.readRatio)), 1),
      '>= 1.0×',
      `@azure/event-hubs reading the ${DEVICES}×${MESSAGES} MQTT messages of a round back (all partitions, from earliest) vs that round's ingest rate: ${results.hub.map((x) => `${x.readRate.toFixed(0)} vs ${x.messageRate.toFixed(0)} msg/s`).join(', ')}; from subscribe, the SDK's start-up included (from its first event: ${results.hub.map((x) => ratio(x.steadyReadRate, x.messageRate)).join(', ')})`,
    ],
    [
      'hub memory per connected device',
      kib(least('hub', 'bytesPerDevice')),
      'reported',
      `RSS; heap ${kib(least('hub', 'heapPerDevice'))}; plain aedes ${kib(least('aedes', 'bytesPerDevice'))} RSS (${ratio(least('hub', 'bytesPerDevice'), least('aedes', 'bytesPerDevice'))})`,
    ],
  ]
  const width = Math.max(...rows.map(([name]) => name.length))
  console.log(`\nsas-token hub bench (best of ${ROUNDS} rounds each, interleaved)\n`)
  for (const [name, value, budget, detail] of rows)
    console.log(`${name.padEnd(width)}  ${value.padStart(9)}  budget ${budget.padEnd(8)}  ${detail}`)
}
