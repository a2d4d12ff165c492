// The topic table in both directions: the hub-side builders give the strings the SDKs' own tests
// receive (sdk-facts §4.1, §9), parseDeviceTopic reads what the SDKs send, every builder and its
// parser are inverses, and the hub writes no topic of its own (it uses the table).
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  c2dTopic,
  desiredPatchTopic,
  dpsPollTopic,
  dpsRegisterTopic,
  dpsResponseTopic,
  filterKind,
  methodRequestTopic,
  methodResponseTopic,
  moduleInputTopic,
  parseDeviceTopic,
  parseTopic,
  telemetryTopic,
  twinGetTopic,
  twinReportedTopic,
  twinResponseTopic,
} from 'sas-token'
import { assertSasTokenError } from './support/errors.js'

describe('what the hub sends: builders', () => {
  it('match the topics the SDKs are tested with', () => {
    assert.equal(twinResponseTopic({ status: 200, rid: 'id_one' }), '$iothub/twin/res/200/?$rid=id_one')
    assert.equal(
      twinResponseTopic({ status: 204, rid: 'id_one', version: 16 }),
      '$iothub/twin/res/204/?$rid=id_one&$version=16',
    )
    assert.equal(desiredPatchTopic({ version: 1 }), '$iothub/twin/PATCH/properties/desired/?$version=1')
    assert.equal(
      methodRequestTopic({ method: 'TestMethod', rid: '1' }),
      '$iothub/methods/POST/TestMethod/?$rid=1',
    )
    assert.equal(c2dTopic({ deviceId: 'foo' }), 'devices/foo/messages/devicebound/')
    assert.equal(
      c2dTopic({ deviceId: 'foo' }, { expiryTimeUtc: '2017-01-06T23:37:00.669Z' }),
      'devices/foo/messages/devicebound/%24.exp=2017-01-06T23%3A37%3A00.669Z',
    )
    assert.equal(
      moduleInputTopic({ deviceId: 'foo', moduleId: 'moduleId', inputName: 'fakeInputName' }),
      'devices/foo/modules/moduleId/inputs/fakeInputName/',
    )
    assert.equal(
      dpsResponseTopic({ status: 202, rid: '1', retryAfter: 3 }),
      '$dps/registrations/res/202/?$rid=1&retry-after=3',
    )
    assert.equal(dpsResponseTopic({ status: 200, rid: '1' }), '$dps/registrations/res/200/?$rid=1')
  })

  it('a method name goes in raw, as the Node SDK reads it', () => {
    assert.equal(
      methodRequestTopic({ method: 'get:value', rid: '2' }),
      '$iothub/methods/POST/get:value/?$rid=2',
    )
    for (const method of ['', 'a/b', 'a#', 'a+b', 'a?b', 'a b'])
      assertSasTokenError(() => methodRequestTopic({ method, rid: '1' }), 'ERR_INVALID_OPTION', /Method name/)
  })

  it('refuse a bad status, version or rid', () => {
    assertSasTokenError(
      () => twinResponseTopic({ status: -1, rid: '1' }),
      'ERR_INVALID_OPTION',
      /Twin status -1/,
    )
    assertSasTokenError(() => desiredPatchTopic({ version: 1.5 }), 'ERR_INVALID_OPTION', /1\.5/)
    assertSasTokenError(
      () => dpsResponseTopic({ status: 202, rid: 'a b' }),
      'ERR_INVALID_OPTION',
      /Request id/,
    )
  })
})

describe('what a device sends: parseDeviceTopic', () => {
  it('reads the topics the SDKs send', () => {
    assert.deepEqual(parseDeviceTopic('$iothub/twin/GET/?$rid=0'), { type: 'twin-get', rid: '0' })
    assert.deepEqual(parseDeviceTopic('$iothub/twin/PATCH/properties/reported/?$rid=1'), {
      type: 'twin-reported',
      rid: '1',
    })
    assert.deepEqual(parseDeviceTopic('$iothub/methods/res/200/?$rid=3226c2f7'), {
      type: 'method-response',
      status: 200,
      rid: '3226c2f7',
    })
    assert.deepEqual(parseDeviceTopic('$dps/registrations/PUT/iotdps-register/?$rid=1'), {
      type: 'dps-register',
      rid: '1',
    })
    assert.deepEqual(
      parseDeviceTopic(
        '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1&operationId=4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d',
      ),
      { type: 'dps-poll', rid: '1', operationId: '4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d' },
    )
    const t = parseDeviceTopic('devices/deviceId/messages/events/%24.mid=fakeMessageId&fakeKey=fakeValue')
    assert.equal(t.type, 'telemetry')
    if (t.type === 'telemetry') {
      assert.equal(t.deviceId, 'deviceId')
      assert.equal(t.messageId, 'fakeMessageId')
      assert.deepEqual({ ...t.properties }, { fakeKey: 'fakeValue' })
      assert.ok(!('moduleId' in t))
    }
    const m = parseDeviceTopic('devices/my_device/modules/my_module_id/messages/events')
    assert.ok(m.type === 'telemetry' && m.moduleId === 'my_module_id' && m.deviceId === 'my_device')
  })

  it('tells unknown topics from malformed ones', () => {
    for (const topic of [
      'devices/dev1/whatever',
      '$iothub/twin/res/200/?$rid=1',
      'x',
      'devices/d/messages/devicebound/',
      'devices/d',
      'devices/d/messages/eventsX',
      'devices/d/modules/m',
      'devices/d/modulesX/m/messages/events',
    ])
      assertSasTokenError(() => parseDeviceTopic(topic), 'ERR_TOPIC_UNKNOWN', /is not one a device sends/, {
        label: topic,
      })
    for (const topic of [
      'devices//messages/events/',
      'devices/d/modules//messages/events/',
      'devices/d/messages/events/a=1/b',
      '$iothub/twin/GET/',
      '$iothub/twin/GET/x/?$rid=1',
      '$iothub/twin/GET/?$rid=1&$rid=2',
      '$iothub/twin/GET/?$rid=a%20b',
      '$iothub/methods/res/abc/?$rid=1',
      '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1',
      '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1&operationId=%zz',
    ])
      assertSasTokenError(
        () => parseDeviceTopic(topic),
        'ERR_TOPIC_MALFORMED',
        /malformed|percent-encoding|property bag/,
        {
          label: topic,
        },
      )
  })

  it('ignores empty and unknown query fields', () => {
    assert.deepEqual(parseDeviceTopic('$iothub/twin/GET/?$rid=5&&extra'), { type: 'twin-get', rid: '5' })
  })
})

const rid = fc.stringMatching(/^[A-Za-z0-9\-._~:@!$'()*,;]{1,20}$/)
const id = fc.stringMatching(/^[A-Za-z0-9\-._]{1,20}$/)

describe('filterKind', () => {
  it('knows the documented filters of each identity and nothing else', () => {
    const dev = { deviceId: 'dev1' }
    const mod = { deviceId: 'dev1', moduleId: 'm1' }
    assert.equal(filterKind('devices/dev1/messages/devicebound/#', dev), 'messages')
    assert.equal(filterKind('devices/dev1/modules/m1/inputs/#', mod), 'messages')
    assert.equal(filterKind('devices/dev1/modules/m1/#', mod), 'messages')
    assert.equal(filterKind('$iothub/methods/POST/#', mod), 'methods')
    assert.equal(filterKind('$iothub/twin/res/#', dev), 'twin-responses')
    assert.equal(filterKind('$iothub/twin/PATCH/properties/desired/#', dev), 'desired')
    for (const filter of [
      'devices/dev2/messages/devicebound/#',
      'devices/+/messages/devicebound/#',
      '#',
      'devices/dev1/modules/m1/#',
    ])
      assert.equal(filterKind(filter, dev), undefined, filter)
  })
})

describe('every builder and its parser are inverses', () => {
  it('device to cloud', () => {
    fc.assert(
      fc.property(
        rid,
        fc.nat(999),
        fc.string({ minLength: 1, maxLength: 20 }),
        id,
        (r, status, op, device) => {
          assert.deepEqual(parseDeviceTopic(twinGetTopic({ rid: r })), { type: 'twin-get', rid: r })
          assert.deepEqual(parseDeviceTopic(twinReportedTopic({ rid: r })), { type: 'twin-reported', rid: r })
          assert.deepEqual(parseDeviceTopic(dpsRegisterTopic({ rid: r })), { type: 'dps-register', rid: r })
          assert.deepEqual(parseDeviceTopic(methodResponseTopic({ status, rid: r })), {
            type: 'method-response',
            status,
            rid: r,
          })
          if (!/[\uD800-\uDFFF]/.test(op))
            assert.deepEqual(parseDeviceTopic(dpsPollTopic({ rid: r, operationId: op })), {
              type: 'dps-poll',
              rid: r,
              operationId: op,
            })
          const t = parseDeviceTopic(telemetryTopic({ deviceId: device }, { messageId: r }))
          assert.ok(t.type === 'telemetry' && t.deviceId === device && t.messageId === r)
        },
      ),
    )
  })

  it('cloud to device', () => {
    fc.assert(
      fc.property(
        rid,
        fc.integer({ min: 100, max: 599 }),
        fc.nat(),
        id,
        id,
        (r, status, version, device, input) => {
          assert.deepEqual(parseTopic(twinResponseTopic({ status, rid: r, version })), {
            type: 'twin-response',
            status,
            rid: r,
            version,
          })
          assert.deepEqual(parseTopic(desiredPatchTopic({ version })), { type: 'desired-patch', version })
          assert.deepEqual(parseTopic(methodRequestTopic({ method: input, rid: r })), {
            type: 'method-request',
            method: input,
            rid: r,
          })
          assert.deepEqual(parseTopic(dpsResponseTopic({ status, rid: r, retryAfter: version })), {
            type: 'dps-response',
            status,
            rid: r,
            retryAfter: version,
          })
          const c = parseTopic(c2dTopic({ deviceId: device }, { messageId: r }))
          assert.ok(c.type === 'c2d' && c.deviceId === device && c.messageId === r)
          const m = parseTopic(moduleInputTopic({ deviceId: device, moduleId: input, inputName: input }))
          assert.ok(m.type === 'module-input' && m.moduleId === input && m.inputName === input)
        },
      ),
    )
  })
})

describe('the hub writes no topic of its own', () => {
  it('no template literal in src/hub starts a $iothub/, $dps/ or devices/{id} topic', () => {
    const root = fileURLToPath(new URL('../../src/hub/', import.meta.url))
    const offenders: string[] = []
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name)
        if (statSync(path).isDirectory()) walk(path)
        else if (name.endsWith('.ts'))
          readFileSync(path, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if (/`(\$iothub\/|\$dps\/|devices\/\$\{)[^`]*\$\{/.test(line))
                offenders.push(`${path.slice(root.length)}:${i + 1}`)
            })
      }
    }
    walk(root)
    assert.deepEqual(offenders, [])
  })
})
