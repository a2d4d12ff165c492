// The Service Bus family (Event Hubs, Service Bus, Relay, Notification Hubs): tokens
// byte-identical to the official SDKs' own providers (`@azure/core-amqp`, which the Event Hubs
// and Service Bus SDKs sign with, and `@azure/notification-hubs`), connection strings the Event
// Hubs and Service Bus clients accept (constructed offline and closed: no network here), and the
// parser's and verifier's errors. The SDKs put `se` at `Date.now()` + 1 hour, so each run sets
// the clock with node:test's timer mock (`Date` only) to make random expiries; the SDKs' code
// is the real one.
import assert from 'node:assert/strict'
import { describe, it, mock } from 'node:test'
import { createSasTokenProvider } from '@azure/core-amqp'
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  parseEventHubConnectionString,
} from '@azure/event-hubs'
import { createClientContext } from '@azure/notification-hubs/api'
import { ServiceBusClient, parseServiceBusConnectionString } from '@azure/service-bus'
import fc from 'fast-check'
import {
  createSasToken,
  createServiceBusSasToken,
  formatConnectionString,
  parseConnectionString,
  parseSasToken,
  SasTokenError,
  tokenFromConnectionString,
  verifySasToken,
  verifySasTokenSignature,
} from 'sas-token'
import * as arb from './support/arbitraries.js'

const label = fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?$/)
const namespace = fc
  .tuple(
    label,
    fc.constantFrom('servicebus.windows.net', 'servicebus.chinacloudapi.cn', 'servicebus.usgovcloudapi.net'),
  )
  .map(([ns, suffix]) => `${ns}.${suffix}`)
const segment = fc.stringMatching(/^[A-Za-z0-9\-._~@]{1,30}$/)
const entityPath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'))
/** A portal key (base64 text), or any text without whitespace, ASCII or not: the SDKs sign its UTF-8 bytes. */
const textKey = fc.oneof(
  arb.key,
  fc.string({
    unit: fc.constantFrom(...'abcXYZ019+/=!$%&()*,-.:<>?@[]^_`{|}~éü€😀'),
    minLength: 1,
    maxLength: 60,
  }),
)
const nowSeconds = fc.integer({ min: 1_000_000_000, max: 4_000_000_000 })

/** Runs `fn` with `Date.now()` at `seconds`; the SDKs sign for `Date.now()` + 3600 s. */
async function at<T>(seconds: number, fn: () => Promise<T>): Promise<T> {
  mock.timers.enable({ apis: ['Date'], now: seconds * 1000 })
  try {
    return await fn()
  } finally {
    mock.timers.reset()
  }
}

describe('Service Bus-family tokens against the SDKs', () => {
  it('are byte-identical to @azure/core-amqp (Event Hubs, Service Bus) over random inputs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('sb', 'https', 'amqps'),
        namespace,
        fc.option(entityPath, { nil: undefined }),
        arb.keyName,
        textKey,
        nowSeconds,
        async (scheme, ns, entity, keyName, key, now) => {
          const audience = `${scheme}://${ns}/${entity ?? ''}`
          const theirs = await at(now, () =>
            createSasTokenProvider({ sharedAccessKeyName: keyName, sharedAccessKey: key }).getToken(audience),
          )
          assert.equal(
            createServiceBusSasToken({ audience, keyName, key, expiresAt: now + 3600, now: now * 1000 }),
            theirs.token,
          )
          assert.equal(theirs.expiresOnTimestamp, now + 3600)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('are byte-identical to @azure/notification-hubs, which lower-cases the audience', async () => {
    await fc.assert(
      fc.asyncProperty(
        namespace,
        segment,
        arb.keyName,
        textKey,
        nowSeconds,
        async (ns, hub, keyName, key, now) => {
          const cs = `Endpoint=sb://${ns}/;SharedAccessKeyName=${keyName};SharedAccessKey=${key}`
          const audience = `https://${ns}/${hub}`
          const theirs = await at(now, async () => {
            const headers = await createClientContext(cs, hub).createHeaders('test')
            return headers.get('authorization')
          })
          // The client signs its base URL, https://{namespace}/ (not the hub's own path).
          const base = `https://${ns}/`
          const ours = createServiceBusSasToken({
            audience: base,
            keyName,
            key,
            expiresAt: now + 3600,
            now: now * 1000,
            lowercaseAudience: true,
          })
          assert.equal(ours, theirs)
          // and the same for a hub's own audience, against the Notification Hubs rule by hand:
          const sr = encodeURIComponent(audience.toLowerCase())
          assert.equal(
            parseSasToken(
              createServiceBusSasToken({
                audience,
                keyName,
                key,
                expiresAt: now + 1,
                now: now * 1000,
                lowercaseAudience: true,
              }),
            ).encodedResourceUri,
            sr,
          )
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('tokenFromConnectionString signs what core-amqp signs for the string the SDK parsed', async () => {
    await fc.assert(
      fc.asyncProperty(
        namespace,
        entityPath,
        arb.keyName,
        textKey,
        nowSeconds,
        async (ns, entity, keyName, key, now) => {
          const text = `Endpoint=sb://${ns}/;SharedAccessKeyName=${keyName};SharedAccessKey=${key};EntityPath=${entity}`
          const cs = parseConnectionString(text)
          assert.equal(cs.kind, 'service-bus')
          const formatted = formatConnectionString(cs)
          const eh = parseEventHubConnectionString(formatted)
          const sb = parseServiceBusConnectionString(formatted)
          assert.equal(eh.sharedAccessKey, key)
          assert.equal(sb.sharedAccessKeyName, keyName)
          assert.equal(eh.eventHubName, entity)
          assert.equal(eh.fullyQualifiedNamespace, ns)
          const theirs = await at(now, () =>
            createSasTokenProvider({ sharedAccessKeyName: keyName, sharedAccessKey: key }).getToken(
              `${eh.endpoint}${entity}`,
            ),
          )
          assert.equal(
            tokenFromConnectionString(formatted, { expiresAt: now + 3600, now: now * 1000 }),
            theirs.token,
          )
          assert.equal(
            tokenFromConnectionString(cs, { expiresAt: now + 3600, now: now * 1000 }),
            theirs.token,
          )
        },
      ),
      { numRuns: 1000 },
    )
  })
})

describe('Service Bus-family connection strings round-trip', () => {
  it('formatConnectionString(parseConnectionString(s)) parses back to the same value, ports and emulator flags too', () => {
    fc.assert(
      fc.property(
        fc.oneof(namespace, fc.constant('localhost')),
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        fc.option(entityPath, { nil: undefined }),
        arb.keyName,
        textKey.filter((k) => !k.includes(';')),
        fc.boolean(),
        (ns, port, entity, keyName, key, emulator) => {
          const text = [
            `Endpoint=sb://${ns}${port === undefined ? '' : `:${port}`}/`,
            `SharedAccessKeyName=${keyName}`,
            `SharedAccessKey=${key}`,
            ...(entity === undefined ? [] : [`EntityPath=${entity}`]),
            ...(emulator ? ['UseDevelopmentEmulator=true'] : []),
          ].join(';')
          const cs = parseConnectionString(text)
          assert.equal(formatConnectionString(cs), text)
          assert.deepEqual(parseConnectionString(formatConnectionString(cs)), cs)
          assert.ok(cs.kind === 'service-bus')
          assert.equal(cs.port, port)
          assert.equal(cs.service === 'emulator', emulator || ns === 'localhost')
        },
      ),
      { numRuns: 2000 },
    )
  })
})

describe('Service Bus-family connection strings and the SDK clients', () => {
  const key = Buffer.from('sas-token service bus test key 32').toString('base64')
  const text = `Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${key};EntityPath=orders`

  it('the Event Hubs and Service Bus clients accept a formatted string, with a key or a token', async () => {
    const formatted = formatConnectionString(parseConnectionString(text))
    assert.equal(formatted, text)
    const producer = new EventHubProducerClient(formatted)
    assert.equal(producer.eventHubName, 'orders')
    assert.equal(producer.fullyQualifiedNamespace, 'myns.servicebus.windows.net')
    await producer.close()
    const consumer = new EventHubConsumerClient('$Default', formatted)
    await consumer.close()
    const sbClient = new ServiceBusClient(formatted)
    assert.equal(sbClient.fullyQualifiedNamespace, 'myns.servicebus.windows.net')
    await sbClient.close()
    const token = tokenFromConnectionString(text, { ttl: '1h' })
    const withToken = formatConnectionString(
      parseConnectionString(
        `Endpoint=sb://myns.servicebus.windows.net/;SharedAccessSignature=${token};EntityPath=orders`,
      ),
    )
    const sasClient = new ServiceBusClient(withToken)
    await sasClient.close()
    const sasProducer = new EventHubProducerClient(withToken)
    await sasProducer.close()
  })

  it('parses the emulator and the IoT hub built-in endpoint, and says which service', async () => {
    const emulator = parseConnectionString(
      'Endpoint=sb://localhost:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;',
    )
    assert.equal(emulator.kind, 'service-bus')
    assert.ok(emulator.kind === 'service-bus')
    assert.equal(emulator.service, 'emulator')
    assert.equal(emulator.port, 5672)
    assert.equal(
      formatConnectionString(emulator),
      'Endpoint=sb://localhost:5672/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true',
    )
    const emulatorClient = new EventHubProducerClient(formatConnectionString(emulator), 'hub')
    assert.equal(emulatorClient.fullyQualifiedNamespace, 'localhost')
    await emulatorClient.close()
    const builtIn = parseConnectionString(
      `Endpoint=sb://ihsuprodblres053dednamespace.servicebus.windows.net/;SharedAccessKeyName=iothubowner;SharedAccessKey=${key};EntityPath=iothub-ehub-myhub-1234-abcdef1234`,
    )
    assert.ok(builtIn.kind === 'service-bus')
    assert.equal(builtIn.service, 'iot-hub-event-hub')
    const plain = parseConnectionString(text)
    assert.ok(plain.kind === 'service-bus')
    assert.equal(plain.service, 'azure-namespace')
  })

  const code = (fn: () => unknown): string => {
    try {
      fn()
    } catch (err) {
      assert.ok(err instanceof SasTokenError)
      assert.ok(!err.message.includes(key), err.message)
      return `${err.code}: ${err.message}`
    }
    assert.fail('expected a SasTokenError')
  }

  it('refuses what the SDKs would take and fail with later, naming the field', () => {
    assert.match(
      code(() => parseConnectionString(text.replace('Endpoint', 'endpoint'))),
      /ERR_CONNECTION_STRING_UNKNOWN_KEY: .*did you mean 'Endpoint'/,
    )
    assert.match(
      code(() => parseConnectionString(text.replace('EntityPath', 'Entitypath'))),
      /did you mean 'EntityPath'/,
    )
    assert.match(
      code(() => parseConnectionString(`${text};HostName=myhub.azure-devices.net;DeviceId=d`)),
      /ERR_CONNECTION_STRING_MIXED_FAMILY: .*HostName, DeviceId belong to IoT Hub strings.*Endpoint, EntityPath to Service Bus-family/,
    )
    assert.match(
      code(() => parseConnectionString(text.replace('sb://', 'https://'))),
      /ERR_CONNECTION_STRING_SYNTAX: .*sb:\/\/ scheme/,
    )
    assert.match(
      code(() => parseConnectionString(text.replace('windows.net/', 'windows.net/orders'))),
      /has a path; give the entity as EntityPath/,
    )
    assert.match(
      code(() => parseConnectionString(text.replace(';SharedAccessKeyName=RootManageSharedAccessKey', ''))),
      /ERR_CONNECTION_STRING_MISSING_KEY: .*SharedAccessKeyName/,
    )
    assert.match(
      code(() => parseConnectionString(text.replace(key, ` ${key}`))),
      /ERR_INVALID_KEY/,
    )
    assert.match(
      code(() => parseConnectionString(`${text};SharedAccessKey=${key}`)),
      /ERR_CONNECTION_STRING_DUPLICATE_KEY/,
    )
    assert.match(
      code(() => parseConnectionString(text.replace('orders', 'a//b'))),
      /ERR_INVALID_ENTITY_PATH/,
    )
    assert.match(
      code(() => parseConnectionString(text.replace(':', ':').replace('.net/', '.net:99999/'))),
      /port/,
    )
    assert.match(
      code(() => parseConnectionString(`${text};${key}`)),
      /ERR_CONNECTION_STRING_SYNTAX: .*field 5 has no '='/,
    )
    assert.match(
      code(() => tokenFromConnectionString(text, { deviceId: 'dev1' })),
      /ERR_IDENTITY_MISMATCH/,
    )
    assert.match(
      code(() => tokenFromConnectionString(text, { entityPath: 'other' })),
      /ERR_IDENTITY_MISMATCH/,
    )
    // an IoT-only function refuses the family with its reason
    assert.match(
      code(() => verifySasToken('x', { key })),
      /ERR_TOKEN_MALFORMED/,
    )
  })

  it('refuses a SharedAccessSignature for another namespace or entity', () => {
    const other = createServiceBusSasToken({
      audience: 'sb://other.servicebus.windows.net/orders',
      keyName: 'p',
      key,
      ttl: '1h',
    })
    assert.match(
      code(() =>
        parseConnectionString(`Endpoint=sb://myns.servicebus.windows.net/;SharedAccessSignature=${other}`),
      ),
      /ERR_CONNECTION_STRING_TOKEN_MISMATCH/,
    )
    const namespaceWide = createServiceBusSasToken({
      audience: 'sb://myns.servicebus.windows.net/',
      keyName: 'p',
      key,
      ttl: '1h',
    })
    const cs = parseConnectionString(
      `Endpoint=sb://myns.servicebus.windows.net/;SharedAccessSignature=${namespaceWide};EntityPath=orders`,
    )
    assert.equal(cs.sharedAccessSignature, namespaceWide)
  })
})

describe('verifying both key conventions', () => {
  const key = Buffer.from('sas-token service bus test key 32').toString('base64')
  const expiresAt = 2_000_000_000
  const now = 1_900_000_000_000

  it('verifies a Service Bus-family token with the key as text, an IoT Hub token with it decoded', () => {
    const sb = createServiceBusSasToken({
      audience: 'sb://myns.servicebus.windows.net/orders',
      keyName: 'send',
      key,
      expiresAt,
    })
    const parsed = verifySasToken(sb, { key, now, resourceUri: 'sb://MYNS.servicebus.windows.net/orders' })
    assert.equal(parsed.family, 'service-bus')
    assert.equal(parsed.hostName, 'myns.servicebus.windows.net')
    assert.equal(parsed.entityPath, 'orders')
    const iot = createSasToken({ resourceUri: 'myhub.azure-devices.net/devices/dev1', key, expiresAt })
    assert.equal(verifySasToken(iot, { key, now }).family, 'iot-hub')
  })

  it('names the trap: an sb:// audience signed with the decoded key, and the reverse', () => {
    // Signed with the decoded key, as IoT Hub signs (by hand: createSasToken refuses an sb:// resource).
    const audience = encodeURIComponent('sb://myns.servicebus.windows.net/orders')
    const decodedSig = encodeURIComponent(
      createHmacBase64(Buffer.from(key, 'base64'), `${audience}\n${expiresAt}`),
    )
    const decoded = `SharedAccessSignature sr=${audience}&sig=${decodedSig}&se=${expiresAt}&skn=send`
    assert.throws(
      () =>
        createSasToken({
          resourceUri: 'sb://myns.servicebus.windows.net/orders',
          key,
          keyName: 'send',
          expiresAt,
        }),
      { code: 'ERR_INVALID_RESOURCE_URI', message: /createServiceBusSasToken/ },
    )
    assert.throws(() => verifySasToken(decoded, { key, now }), {
      code: 'ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS',
    })
    // A device token signed with the key's text (by hand, as a Service Bus SDK would sign it).
    const sr = encodeURIComponent('myhub.azure-devices.net/devices/dev1')
    const sig = encodeURIComponent(createHmacBase64(key, `${sr}\n${expiresAt}`))
    const asText = `SharedAccessSignature sr=${sr}&sig=${sig}&se=${expiresAt}`
    assert.throws(() => verifySasTokenSignature(asText, key), { code: 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB' })
    // Another key altogether is still a plain mismatch.
    const otherKey = Buffer.alloc(32, 7).toString('base64')
    assert.throws(() => verifySasTokenSignature(decoded, otherKey), { code: 'ERR_TOKEN_SIGNATURE_MISMATCH' })
  })
})

import { createHmac } from 'node:crypto'
function createHmacBase64(key: string | Buffer, message: string): string {
  return createHmac('sha256', key).update(message).digest('base64')
}
