// `sas-token hub` serves the console: the built bin is spawned as users run it, on free ports,
// and the URL it prints is opened with a plain HTTP client. `--no-console` serves none.
import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { BIN, cleanEnv } from './support/cli.js'

interface Ready {
  event: string
  consoleUrl: string | null
  hubConnectionString: string
}

async function startCli(
  args: string[],
): Promise<{ ready: Ready; child: ChildProcessWithoutNullStreams; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    [BIN, 'hub', '--json', '--in-memory', '--mqtt-port', '0', '--https-port', '0', ...args],
    {
      env: cleanEnv(),
    },
  )
  let err = ''
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`hub exited ${code}: ${err}`)))
  })
  return { ready: JSON.parse(first) as Ready, child, stderr: () => err }
}

async function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  return exited
}

describe('sas-token hub and its console', () => {
  it('--console-port 0: the ready line carries the console URL, which opens the page and the API', async () => {
    const { ready, child, stderr } = await startCli(['--console-port', '0', '--device', 'dev1'])
    try {
      assert.equal(ready.event, 'ready')
      assert.ok(ready.consoleUrl)
      const url = new URL(ready.consoleUrl)
      assert.equal(url.hostname, '127.0.0.1')
      assert.notEqual(url.port, '8884')
      const token = url.searchParams.get('token')
      assert.ok(token && token.length >= 43)
      const page = await fetch(url)
      assert.equal(page.status, 200)
      assert.match(await page.text(), /sas-token hub console/)
      assert.equal((await fetch(`${url.origin}/`)).status, 401)
      const list = await fetch(`${url.origin}/api/devices/`, {
        headers: { authorization: `Bearer ${token}` },
      })
      assert.equal(list.status, 200)
      assert.deepEqual(
        ((await list.json()) as Array<{ deviceId: string }>).map((d) => d.deviceId),
        ['dev1'],
      )
      assert.doesNotMatch(stderr(), new RegExp(token))
    } finally {
      assert.equal(await stop(child), 0)
    }
  })

  it('--no-console serves none', async () => {
    const { ready, child } = await startCli(['--no-console'])
    try {
      assert.equal(ready.consoleUrl, null)
    } finally {
      await stop(child)
    }
  })

  it('a bad --console-port is a usage error', async () => {
    const child = spawn(process.execPath, [BIN, 'hub', '--in-memory', '--console-port', '70000'], {
      env: cleanEnv(),
    })
    let err = ''
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    assert.equal(code, 2)
    assert.match(err, /--console-port must be a port from 0 to 65535/)
  })
})
