// The CLI on Service Bus-family strings and tokens: generate (a token, --json, --audience, a
// batch of entity paths), inspect (the service, the signature, the key-convention trap), with
// real processes. Expected tokens come from @azure/core-amqp's own provider, not from the toolkit.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it, mock } from 'node:test'
import { createSasTokenProvider } from '@azure/core-amqp'
import { cli } from './support/cli.js'

const KEY = Buffer.from('a service bus policy key, 32 b!!').toString('base64')
const NS = 'myns.servicebus.windows.net'
const CS = `Endpoint=sb://${NS}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${KEY}`
const SE = 1_893_456_000 // 2030-01-01T00:00Z

/** core-amqp's token for `audience`, expiring at SE (it signs for Date.now() + 1 hour). */
async function sdkToken(audience: string): Promise<string> {
  mock.timers.enable({ apis: ['Date'], now: (SE - 3600) * 1000 })
  try {
    return (
      await createSasTokenProvider({
        sharedAccessKeyName: 'RootManageSharedAccessKey',
        sharedAccessKey: KEY,
      }).getToken(audience)
    ).token
  } finally {
    mock.timers.reset()
  }
}

describe('sas-token generate and inspect with Endpoint=sb://… strings', () => {
  it('generate prints the token core-amqp makes, for the entity, or for --audience', async () => {
    const run = await cli(['generate', '-c', `${CS};EntityPath=orders`, '--expires-at', '2030-01-01T00:00Z'])
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stdout.trim(), await sdkToken(`sb://${NS}/orders`))
    assert.ok(!run.stderr.includes(KEY))
    const rest = await cli([
      'generate',
      '-c',
      CS,
      '--audience',
      `https://${NS}/orders`,
      '--expires-at',
      '2030-01-01T00:00Z',
      '--json',
    ])
    assert.equal(rest.code, 0, rest.stderr)
    const json = JSON.parse(rest.stdout) as Record<string, unknown>
    assert.equal(json.token, await sdkToken(`https://${NS}/orders`))
    assert.equal(json.kind, 'service-bus')
    assert.equal(json.entityPath, 'orders')
  })

  it('generate --batch signs one token per entity path line', async () => {
    const run = await cli(['generate', '-c', CS, '--batch', '--expires-at', '2030-01-01T00:00Z'], {
      input: 'a\nt/subscriptions/s\n',
    })
    assert.equal(run.code, 0, run.stderr)
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { entityPath: string; token: string })
    assert.deepEqual(
      lines.map((l) => l.entityPath),
      ['a', 't/subscriptions/s'],
    )
    assert.equal(lines[0]?.token, await sdkToken(`sb://${NS}/a`))
    assert.equal(lines[1]?.token, await sdkToken(`sb://${NS}/t/subscriptions/s`))
  })

  it('inspect names the service and verifies with --key; a token signed with the decoded key gets its own code', async () => {
    const token = await sdkToken(`sb://${NS}/orders`)
    const ok = await cli(['inspect', token, '--key', KEY, '--json'])
    const report = JSON.parse(ok.stdout) as { token: Record<string, unknown> }
    assert.equal(report.token.signature, 'verified')
    assert.equal(report.token.kind, 'service-bus')
    assert.match(
      String(report.token.service),
      /Event Hubs, Service Bus, Relay or Notification Hubs namespace/,
    )
    // The trap: an sb:// audience signed with the key decoded, as IoT Hub signs (by hand).
    const sr = encodeURIComponent(`sb://${NS}/orders`)
    const sig = createHmac('sha256', Buffer.from(KEY, 'base64')).update(`${sr}\n${SE}`).digest('base64')
    const decoded = `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${SE}&skn=RootManageSharedAccessKey`
    const bad = await cli(['inspect', decoded, '--key', KEY])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS|base64-decoded bytes/)
    assert.ok(!bad.stderr.includes(KEY) && !bad.stdout.includes(KEY))
    const cs = await cli(['inspect', `${CS};EntityPath=iothub-ehub-myhub-123-abc`])
    assert.equal(cs.code, 0, cs.stderr)
    assert.match(cs.stdout, /built-in Event Hub-compatible endpoint/)
    assert.match(cs.stdout, /SharedAccessKey\s+<redacted>/)
    assert.ok(!cs.stdout.includes(KEY))
  })

  it('generate --resource refuses an sb:// resource, which the IoT Hub signer would sign with the decoded key', async () => {
    const run = await cli(['generate', '--resource', `sb://${NS}/orders`, '--key', KEY, '--key-name', 'p'])
    assert.notEqual(run.code, 0)
    assert.match(run.stderr, /ERR_INVALID_RESOURCE_URI|Service Bus-family audience/)
    assert.equal(run.stdout, '')
  })

  it('mqtt refuses an Endpoint=sb://… string, which names no device', async () => {
    const run = await cli(['mqtt', '-c', CS])
    assert.notEqual(run.code, 0)
    assert.match(run.stderr, /IoT Hub connection string/)
  })
})
