// createTokenSource with an injected clock and timer: when it renews, whom it tells, and that
// stop() really stops it. Expected delays are written out from the rule (85% of the TTL).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import { createTokenSource, type IssuedToken, type TokenSourceOptions } from 'sas-token'
import { code } from './support/errors.js'
import { hmacToken } from './support/hmac-token.js'

const KEY = 'cGFzc3dvcmQ='
const DEVICE = `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${KEY}`
/** se = 1700000000 for a one-hour token signed at this instant (sdk-facts §9.2). */
const T0 = 1_699_996_400_000
const VECTOR =
  'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000'

/** A hand-cranked clock and timer. */
function fakeTime(start = T0) {
  let now = start
  let nextId = 1
  const pending = new Map<number, { callback: () => void; ms: number }>()
  const scheduled: number[] = []
  const cleared: number[] = []
  const options = {
    now: () => now,
    setTimer: (callback: () => void, ms: number) => {
      const id = nextId++
      pending.set(id, { callback, ms })
      scheduled.push(ms)
      return id
    },
    clearTimer: (handle: unknown) => {
      cleared.push(handle as number)
      pending.delete(handle as number)
    },
  } satisfies TokenSourceOptions
  return {
    options,
    scheduled,
    cleared,
    pending,
    advance(ms: number) {
      now += ms
    },
    /** Fires every pending timer (the test advances the clock first). */
    fireAll() {
      const due = [...pending]
      pending.clear()
      for (const [, { callback }] of due) callback()
    },
  }
}

describe('createTokenSource', () => {
  test('signs at once; renews when 15% of the TTL is left (one hour: after 3,060 s)', () => {
    const time = fakeTime()
    const source = createTokenSource(DEVICE, time.options)
    assert.deepEqual(source.current(), {
      token: VECTOR,
      expiresAt: 1_700_000_000,
      renewAt: 1_700_000_000 - 540,
    })
    assert.deepEqual(time.scheduled, [3_060_000])

    const seen: IssuedToken[] = []
    source.onRenew((t) => seen.push(t))
    time.advance(3_060_000 - 1)
    assert.equal(source.current().token, VECTOR, 'not yet due')
    time.advance(1)
    time.fireAll()
    assert.equal(seen.length, 1)
    assert.equal(seen[0]?.expiresAt, 1_700_003_060)
    assert.equal(seen[0]?.token, hmacToken('myhub.azure-devices.net/devices/dev1', KEY, 1_700_003_060))
    assert.notEqual(seen[0]?.token, VECTOR)
    assert.deepEqual(source.current(), seen[0])
    assert.deepEqual(time.scheduled, [3_060_000, 3_060_000])
    source.stop()
  })

  test('renewBefore overrides the margin; ttl text works', () => {
    const time = fakeTime()
    const source = createTokenSource(DEVICE, { ...time.options, ttl: '10m', renewBefore: 60 })
    assert.equal(source.current().expiresAt, 1_699_996_400 + 600)
    assert.deepEqual(time.scheduled, [540_000])
    source.stop()
  })

  test('a timer that fires early re-arms without renewing; long waits are chained', () => {
    const time = fakeTime()
    const source = createTokenSource(DEVICE, { ...time.options, ttl: '30d' })
    // 85% of 30 days is 2,203,200,000 ms, more than setTimeout's 2,147,483,647.
    assert.deepEqual(time.scheduled, [2_147_483_647])
    let renewed = 0
    source.onRenew(() => renewed++)
    time.advance(2_147_483_647)
    time.fireAll()
    assert.equal(renewed, 0)
    assert.deepEqual(time.scheduled, [2_147_483_647, 2_203_200_000 - 2_147_483_647])
    time.advance(2_203_200_000 - 2_147_483_647)
    time.fireAll()
    assert.equal(renewed, 1)
    source.stop()
  })

  test('current() renews on demand when the timer is late (a sleeping machine)', () => {
    const time = fakeTime()
    const source = createTokenSource(DEVICE, time.options)
    const seen: IssuedToken[] = []
    source.onRenew((t) => seen.push(t))
    time.advance(3_500_000)
    const fresh = source.current()
    assert.equal(fresh.expiresAt, 1_699_996_400 + 3_500 + 3_600)
    assert.deepEqual(seen, [fresh])
    assert.equal(time.cleared.length, 1, 'the stale timer was cleared')
    source.stop()
  })

  test('renew() forces a token; unsubscribe stops notifications; a throwing listener does not starve the others', () => {
    const time = fakeTime()
    const source = createTokenSource(DEVICE, time.options)
    let a = 0
    let b = 0
    const offA = source.onRenew(() => {
      a++
      throw new Error('listener failed')
    })
    source.onRenew(() => b++)
    time.advance(1000)
    assert.throws(() => source.renew(), /listener failed/)
    assert.equal(a, 1)
    assert.equal(b, 1)
    offA()
    source.renew()
    assert.equal(a, 1)
    assert.equal(b, 2)
    source.stop()
  })

  test('on the timer, a throwing listener goes to onError and renewals go on', () => {
    const time = fakeTime()
    const errors: unknown[] = []
    const source = createTokenSource(DEVICE, { ...time.options, onError: (err) => errors.push(err) })
    const seen: number[] = []
    source.onRenew(() => {
      throw new Error('listener failed')
    })
    source.onRenew(({ expiresAt }) => seen.push(expiresAt))
    for (let round = 1; round <= 2; round++) {
      time.advance(3_060_000)
      time.fireAll() // would throw out of the timer callback, and crash a real program, without onError
      assert.equal(errors.length, round)
      assert.equal(seen.length, round)
      assert.equal(time.pending.size, 1, 'the next renewal is scheduled')
    }
    assert.deepEqual(seen, [1_700_000_000 + 3060, 1_700_000_000 + 2 * 3060])
    assert.match(String(errors[0]), /listener failed/)
    source.stop()
  })

  test('stop() clears the timer and makes the source unusable', () => {
    const time = fakeTime()
    const source = createTokenSource(DEVICE, time.options)
    let renewed = 0
    source.onRenew(() => renewed++)
    source.stop()
    assert.deepEqual(time.cleared, [1])
    assert.equal(time.pending.size, 0)
    source.stop()
    assert.deepEqual(time.cleared, [1], 'a second stop does nothing')
    assert.equal(
      code(() => source.current()),
      'ERR_TOKEN_SOURCE_STOPPED',
    )
    assert.equal(
      code(() => source.renew()),
      'ERR_TOKEN_SOURCE_STOPPED',
    )
    assert.equal(
      code(() => source.onRenew(() => {})),
      'ERR_TOKEN_SOURCE_STOPPED',
    )
    assert.equal(renewed, 0)
  })

  test('a service string signs for the deviceId given', () => {
    const time = fakeTime()
    const source = createTokenSource(
      `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`,
      {
        ...time.options,
        deviceId: 'dev1',
      },
    )
    assert.equal(source.current().token, `${VECTOR}&skn=iothubowner`)
    source.stop()
  })

  test('bad options and key-less strings are coded errors', () => {
    const time = fakeTime()
    assert.equal(
      code(() => createTokenSource(DEVICE, { ...time.options, renewBefore: 3600 })),
      'ERR_INVALID_RENEW_BEFORE',
    )
    assert.equal(
      code(() => createTokenSource(DEVICE, { ...time.options, renewBefore: 0 })),
      'ERR_INVALID_RENEW_BEFORE',
    )
    assert.equal(
      code(() => createTokenSource(DEVICE, { ...time.options, renewBefore: Number.NaN })),
      'ERR_INVALID_RENEW_BEFORE',
    )
    assert.equal(
      code(() => createTokenSource(DEVICE, { setTimer: time.options.setTimer })),
      'ERR_INVALID_OPTION',
    )
    assert.equal(
      code(() => createTokenSource(DEVICE, { ...time.options, ttl: '0s' })),
      'ERR_INVALID_TTL',
    )
    assert.equal(
      code(() => createTokenSource('HostName=myhub.azure-devices.net;DeviceId=dev1;x509=true', time.options)),
      'ERR_KEY_REQUIRED',
    )
    assert.equal(
      code(() =>
        createTokenSource(
          `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessSignature=${VECTOR}`,
          time.options,
        ),
      ),
      'ERR_KEY_REQUIRED',
    )
    assert.equal(time.scheduled.length, 0, 'nothing was scheduled')
  })

  test('the default timer is unref()ed: a process with a live source exits', {
    timeout: 60_000,
  }, async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const script = `import { createTokenSource } from 'sas-token'
const s = createTokenSource(${JSON.stringify(DEVICE)}, { ttl: '1h' })
s.current()
console.log('started')`
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { cwd: root, timeout: 50_000 },
        (err, out) => (err ? reject(err) : resolve(out)),
      )
    })
    assert.equal(stdout.trim(), 'started')
  })
})
