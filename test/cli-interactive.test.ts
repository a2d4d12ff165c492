// The interactive form in a real terminal: tmux runs the bin, send-keys types, capture-pane
// reads the screen. The pasted connection string must never appear on the screen.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { after, describe, it, mock } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createSasTokenProvider } from '@azure/core-amqp'
import { BIN } from './support/cli.js'
import { AT_VECTOR_TIME, DEVICE_CS, KEY, SERVICE_CS, VECTORS } from './support/fixtures.js'

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const socket = `sas-token-test-${process.pid}`
const tmux = (...args: string[]): string =>
  execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
const screen = (session: string): string => tmux('capture-pane', '-p', '-J', '-t', session)

async function waitFor(session: string, pattern: RegExp): Promise<string> {
  let text = ''
  for (let i = 0; i < 200; i++) {
    text = screen(session)
    if (pattern.test(text)) return text
    await sleep(50)
  }
  assert.fail(`timed out waiting for ${pattern} on the screen:\n${text}`)
}

/** Starts the CLI in a detached tmux session with a pinned clock; the shell reports its exit code. */
function start(session: string, args: string): void {
  const now = AT_VECTOR_TIME.SAS_TOKEN_NOW
  const command = `env -u DISPLAY -u WAYLAND_DISPLAY -u IOTHUB_DEVICE_CONNECTION_STRING -u IOTHUB_CONNECTION_STRING SAS_TOKEN_NOW=${now} ${process.execPath} ${BIN} ${args}; echo "EXIT=$?"; sleep 30`
  tmux('new-session', '-d', '-s', session, '-x', '400', '-y', '50', command)
}

describe('interactive form (tmux)', {
  skip: hasTmux() ? false : 'tmux not installed (.ci/run installs it)',
}, () => {
  after(() => {
    try {
      tmux('kill-server')
    } catch {
      // already gone
    }
  })

  it('device connection string: masked input, default TTL, token and expiry shown, copy declined', async () => {
    start('device', 'generate -i')
    await waitFor('device', /Connection string: $/m)
    tmux('send-keys', '-t', 'device', '-l', DEVICE_CS)
    await waitFor('device', /Connection string: \*{10,}$/m)
    tmux('send-keys', '-t', 'device', 'Enter')
    await waitFor('device', /Time to live .*\[1h\]: $/m)
    tmux('send-keys', '-t', 'device', 'Enter')
    await waitFor('device', /Copy to the clipboard\? \[y\/N\]: $/m)
    tmux('send-keys', '-t', 'device', 'n', 'Enter')
    const text = await waitFor('device', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=0$/m)
    assert.ok(text.includes(`Connection string: ${'*'.repeat(DEVICE_CS.length)}\n`), text)
    assert.ok(!text.includes(KEY), 'the key is never echoed')
    assert.ok(!text.includes('SharedAccessKey'), 'nothing of the connection string is echoed')
    assert.ok(text.includes(VECTORS.device), text)
    assert.match(text, /expires 2023-11-14T22:13:20\.000Z \(in 1 hour\)/)
  })

  it('service string: asks for the device id; a typed TTL; backspace edits the masked input', async () => {
    start('service', 'gen')
    await waitFor('service', /Connection string: $/m)
    tmux('send-keys', '-t', 'service', '-l', `${SERVICE_CS}xy`)
    tmux('send-keys', '-t', 'service', 'BSpace', 'BSpace', 'Enter')
    await waitFor('service', /Device id .*: $/m)
    tmux('send-keys', '-t', 'service', '-l', 'dev1')
    tmux('send-keys', '-t', 'service', 'Enter')
    await waitFor('service', /Time to live .*\[1h\]: $/m)
    tmux('send-keys', '-t', 'service', '-l', '3600')
    tmux('send-keys', '-t', 'service', 'Enter')
    await waitFor('service', /Copy to the clipboard\? \[y\/N\]: $/m)
    tmux('send-keys', '-t', 'service', 'Enter')
    const text = await waitFor('service', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=0$/m)
    assert.ok(!text.includes(KEY))
    assert.ok(text.includes(VECTORS.devicePolicy), text)
  })

  it('Endpoint=sb://… string: asks for the entity; the token is the one core-amqp makes', async () => {
    const cs = `Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${KEY}`
    start('sb', 'gen')
    await waitFor('sb', /Connection string: $/m)
    tmux('send-keys', '-t', 'sb', '-l', cs)
    tmux('send-keys', '-t', 'sb', 'Enter')
    await waitFor('sb', /Event hub, queue or topic .*: $/m)
    tmux('send-keys', '-t', 'sb', '-l', 'orders')
    tmux('send-keys', '-t', 'sb', 'Enter')
    await waitFor('sb', /Time to live .*\[1h\]: $/m)
    tmux('send-keys', '-t', 'sb', 'Enter')
    await waitFor('sb', /Copy to the clipboard\? \[y\/N\]: $/m)
    tmux('send-keys', '-t', 'sb', 'Enter')
    const text = await waitFor('sb', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=0$/m)
    assert.ok(!text.includes(KEY))
    mock.timers.enable({ apis: ['Date'], now: Number(AT_VECTOR_TIME.SAS_TOKEN_NOW) })
    const expected = await createSasTokenProvider({
      sharedAccessKeyName: 'RootManageSharedAccessKey',
      sharedAccessKey: KEY,
    }).getToken('sb://myns.servicebus.windows.net/orders')
    mock.timers.reset()
    assert.ok(text.includes(expected.token), text)
  })

  it('a bad connection string: an error, exit 1, and the key still not shown', async () => {
    start('bad', 'generate -i')
    await waitFor('bad', /Connection string: $/m)
    tmux('send-keys', '-t', 'bad', '-l', `HostName=x;DeviceId=d;SharedAccessKey=${KEY}!`)
    tmux('send-keys', '-t', 'bad', 'Enter')
    const text = await waitFor('bad', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=1$/m)
    assert.match(text, /sas-token: error: /)
    assert.ok(!text.includes(KEY))
  })

  it('Ctrl-C cancels with exit 1', async () => {
    start('cancel', 'generate -i')
    await waitFor('cancel', /Connection string: $/m)
    tmux('send-keys', '-t', 'cancel', 'C-c')
    const text = await waitFor('cancel', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=1$/m)
    assert.match(text, /cancelled/)
  })

  // issue 8, defect 9: a bad TTL ended the form, so the connection string had to be pasted again.
  it('a bad TTL is asked again; the connection string is not', async () => {
    start('ttl', 'generate -i')
    await waitFor('ttl', /Connection string: $/m)
    tmux('send-keys', '-t', 'ttl', '-l', DEVICE_CS)
    tmux('send-keys', '-t', 'ttl', 'Enter')
    await waitFor('ttl', /Time to live .*\[1h\]: $/m)
    tmux('send-keys', '-t', 'ttl', '-l', '1.5h')
    tmux('send-keys', '-t', 'ttl', 'Enter')
    await waitFor('ttl', /Try again[\s\S]*Time to live .*\[1h\]: $/m)
    tmux('send-keys', '-t', 'ttl', 'Enter')
    await waitFor('ttl', /Copy to the clipboard\? \[y\/N\]: $/m)
    tmux('send-keys', '-t', 'ttl', 'Enter')
    const text = await waitFor('ttl', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=0$/m)
    assert.ok(text.includes(VECTORS.device), text)
    assert.ok(!text.includes(KEY))
  })

  // issue 8, defect 9: Ctrl-C at the copy question, after the token was printed, exited 1.
  it('Ctrl-C at "Copy to the clipboard?" declines the copy: exit 0', async () => {
    start('copy', 'generate -i')
    await waitFor('copy', /Connection string: $/m)
    tmux('send-keys', '-t', 'copy', '-l', DEVICE_CS)
    tmux('send-keys', '-t', 'copy', 'Enter')
    await waitFor('copy', /Time to live .*\[1h\]: $/m)
    tmux('send-keys', '-t', 'copy', 'Enter')
    await waitFor('copy', /Copy to the clipboard\? \[y\/N\]: $/m)
    tmux('send-keys', '-t', 'copy', 'C-c')
    const text = await waitFor('copy', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=0$/m)
    assert.ok(text.includes(VECTORS.device), text)
  })

  // issue 8, defect 9: a line break inside a paste submitted the masked prompt and spilled the rest
  // (here: the key) into the next prompt, unmasked. With bracketed paste it stays in the field.
  it('a pasted connection string with a line break stays masked and whole', async () => {
    start('paste', 'generate -i')
    await waitFor('paste', /Connection string: $/m)
    tmux('set-buffer', '-b', 'cs', `HostName=myhub.azure-devices.net;DeviceId=dev1;\nSharedAccessKey=${KEY}`)
    tmux('paste-buffer', '-p', '-b', 'cs', '-t', 'paste')
    await waitFor('paste', /Connection string: \*{40,}$/m)
    tmux('send-keys', '-t', 'paste', 'Enter')
    await waitFor('paste', /Time to live .*\[1h\]: $/m)
    tmux('send-keys', '-t', 'paste', 'Enter')
    await waitFor('paste', /Copy to the clipboard\? \[y\/N\]: $/m)
    tmux('send-keys', '-t', 'paste', 'Enter')
    const text = await waitFor('paste', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=0$/m)
    assert.ok(text.includes(VECTORS.device), text)
    assert.ok(!text.includes(KEY), 'no part of the paste reaches an unmasked prompt')
  })

  // issue 8, defect 10: gen --batch reading a terminal waited silently.
  it('gen --batch on a terminal says what it reads and how to end', async () => {
    start('batch', `gen --batch -c '${SERVICE_CS}'`)
    await waitFor('batch', /reading device ids .*one per line.*Ctrl-D/)
    tmux('send-keys', '-t', 'batch', '-l', 'dev1')
    tmux('send-keys', '-t', 'batch', 'Enter')
    tmux('send-keys', '-t', 'batch', 'C-d')
    const text = await waitFor('batch', /^EXIT=\d+/m)
    assert.match(text, /^EXIT=0$/m)
    assert.ok(text.includes(VECTORS.devicePolicy), text)
  })
})
