// Topics: golden strings from the SDKs' own tests and docs (sdk-facts §4.1, §9), parseTopic on
// every incoming vector, and properties over arbitrary input.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  c2dFilter,
  deviceSubscriptions,
  DESIRED_PATCHES_FILTER,
  DPS_RESPONSES_FILTER,
  dpsPollTopic,
  dpsRegisterTopic,
  METHOD_REQUESTS_FILTER,
  methodResponseTopic,
  moduleInputsFilter,
  parseTopic,
  SasTokenError,
  telemetryTopic,
  TWIN_RESPONSES_FILTER,
  twinGetTopic,
  twinReportedTopic,
  type IncomingTopic,
} from 'sas-token'
import { assertSasTokenError } from './support/errors.js'

/** parseTopic's result as a plain object, so deepStrictEqual also sees extra or undefined keys. */
function parsed(topic: string): object {
  const t: IncomingTopic = parseTopic(topic)
  return 'properties' in t ? { ...t, properties: { ...t.properties } } : { ...t }
}

describe('outgoing topics', () => {
  it('embc telemetry vectors', () => {
    assert.equal(telemetryTopic({ deviceId: 'my_device' }), 'devices/my_device/messages/events/')
    assert.equal(
      telemetryTopic({ deviceId: 'my_device', moduleId: 'my_module_id' }),
      'devices/my_device/modules/my_module_id/messages/events/',
    )
    assert.equal(
      telemetryTopic(
        { deviceId: 'my_device', moduleId: 'my_module_id' },
        { properties: { key: 'value', key_two: 'value2' } },
      ),
      'devices/my_device/modules/my_module_id/messages/events/key=value&key_two=value2',
    )
    assert.equal(telemetryTopic({ deviceId: 'thisIsDeviceID' }), 'devices/thisIsDeviceID/messages/events/')
  })

  it('node telemetry vectors', () => {
    assert.equal(
      telemetryTopic(
        { deviceId: 'deviceId' },
        { messageId: 'fakeMessageId', properties: { fakeKey: 'fakeValue' } },
      ),
      'devices/deviceId/messages/events/%24.mid=fakeMessageId&fakeKey=fakeValue',
    )
    assert.equal(
      telemetryTopic({ deviceId: 'deviceId' }, { interfaceId: 'urn:azureiot:Security:SecurityAgent:1' }),
      'devices/deviceId/messages/events/%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1',
    )
    // node: '…/key1=value1&key2=value2&key%24=value%24&%24.sub=abcd%24'; we send $.sub with the system properties.
    assert.equal(
      telemetryTopic(
        { deviceId: 'deviceId' },
        { componentName: 'abcd$', properties: { key1: 'value1', key2: 'value2', key$: 'value$' } },
      ),
      'devices/deviceId/messages/events/%24.sub=abcd%24&key1=value1&key2=value2&key%24=value%24',
    )
    // node sendOutputEvent adds a trailing '/', which the hub ignores; the DESIGN topic has none.
    assert.equal(
      telemetryTopic({ deviceId: 'deviceId', moduleId: 'moduleId' }, { outputName: 'fakeOutputName' }),
      'devices/deviceId/modules/moduleId/messages/events/%24.on=fakeOutputName',
    )
  })

  it('docs routing vector ($.ct sent as %24.ct, which the hub decodes to the same name)', () => {
    assert.equal(
      telemetryTopic({ deviceId: 'd' }, { contentType: 'application/json;charset=utf-8' }),
      'devices/d/messages/events/%24.ct=application%2Fjson%3Bcharset%3Dutf-8',
    )
  })

  it('ids go in raw (py: devices/my$device/…)', () => {
    assert.equal(c2dFilter({ deviceId: 'my$device' }), 'devices/my$device/messages/devicebound/#')
    assert.equal(
      telemetryTopic({ deviceId: "a-.%_*?!(),:=@$'" }),
      "devices/a-.%_*?!(),:=@$'/messages/events/",
    )
  })

  it('ids are checked', () => {
    for (const deviceId of ['my device', 'a/b', 'a#', 'a+b', '', 'é']) {
      assertSasTokenError(
        () => telemetryTopic({ deviceId }),
        'ERR_INVALID_IDENTIFIER',
        /^deviceId is (empty|not valid)/,
        { label: deviceId },
      )
      assertSasTokenError(
        () => c2dFilter({ deviceId }),
        'ERR_INVALID_IDENTIFIER',
        /^deviceId is (empty|not valid)/,
        { label: deviceId },
      )
    }
    assertSasTokenError(
      () => moduleInputsFilter({ deviceId: 'd', moduleId: 'm/1' }),
      'ERR_INVALID_IDENTIFIER',
      /moduleId is not valid: '\/'/,
    )
  })

  it('outputName belongs to modules', () => {
    assertSasTokenError(
      () => telemetryTopic({ deviceId: 'd' }, { outputName: 'o' }),
      'ERR_INVALID_OPTION',
      /outputName routes a module output: give moduleId/,
    )
  })

  it('subscription filters (node vectors and the DESIGN table)', () => {
    assert.equal(c2dFilter({ deviceId: 'deviceId' }), 'devices/deviceId/messages/devicebound/#')
    assert.equal(
      moduleInputsFilter({ deviceId: 'deviceId', moduleId: 'moduleId' }),
      'devices/deviceId/modules/moduleId/inputs/#',
    )
    assert.equal(METHOD_REQUESTS_FILTER, '$iothub/methods/POST/#')
    assert.equal(TWIN_RESPONSES_FILTER, '$iothub/twin/res/#')
    assert.equal(DESIRED_PATCHES_FILTER, '$iothub/twin/PATCH/properties/desired/#')
    assert.equal(DPS_RESPONSES_FILTER, '$dps/registrations/res/#')
  })

  it('twin, method and DPS vectors', () => {
    assert.equal(
      twinGetTopic({ rid: '3226c2f7-3d30-425c-b83b-0c34335f8220' }),
      '$iothub/twin/GET/?$rid=3226c2f7-3d30-425c-b83b-0c34335f8220',
    )
    assert.equal(twinGetTopic({ rid: 'id_one' }), '$iothub/twin/GET/?$rid=id_one')
    assert.equal(twinReportedTopic({ rid: 'id_one' }), '$iothub/twin/PATCH/properties/reported/?$rid=id_one')
    assert.equal(methodResponseTopic({ status: 200, rid: 'req1' }), '$iothub/methods/res/200/?$rid=req1')
    assert.equal(methodResponseTopic({ status: 200, rid: '1' }), '$iothub/methods/res/200/?$rid=1')
    assert.equal(methodResponseTopic({ status: 200, rid: '2' }), '$iothub/methods/res/200/?$rid=2')
    assert.equal(methodResponseTopic({ status: 65535, rid: '2' }), '$iothub/methods/res/65535/?$rid=2')
    assert.equal(dpsRegisterTopic({ rid: '1' }), '$dps/registrations/PUT/iotdps-register/?$rid=1')
    assert.equal(
      dpsPollTopic({ rid: '1', operationId: '4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d' }),
      '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1&operationId=4.d0a671905ea5b2c8.42d78160-4c78-479e-8be7-61d5e55dac0d',
    )
  })

  it('request ids are checked, not encoded', () => {
    for (const rid of ['', 'invalid$request?id', 'a&b', 'a=b', 'a/b', 'a#', 'a+b', 'a b', 'a%20b', 'é']) {
      assertSasTokenError(() => twinGetTopic({ rid }), 'ERR_INVALID_OPTION', /^Request id .* is not valid/, {
        label: rid,
      })
      assertSasTokenError(
        () => methodResponseTopic({ status: 200, rid }),
        'ERR_INVALID_OPTION',
        /^Request id .* is not valid/,
        { label: rid },
      )
    }
    for (const status of [-1, 1.5, Number.NaN, Infinity]) {
      assertSasTokenError(
        () => methodResponseTopic({ status, rid: '1' }),
        'ERR_INVALID_OPTION',
        /^Method status .* is not valid/,
        { label: String(status) },
      )
    }
    assertSasTokenError(
      () => dpsPollTopic({ rid: '1', operationId: '' }),
      'ERR_INVALID_OPTION',
      /operationId is empty/,
    )
  })

  it('a topic over 65,535 UTF-8 bytes is ERR_TOPIC_TOO_LONG; exactly 65,535 is fine', () => {
    const prefix = 'devices/d/messages/events/k=' // 28 bytes
    const fits = 'a'.repeat(65_535 - prefix.length)
    assert.equal(telemetryTopic({ deviceId: 'd' }, { properties: { k: fits } }), prefix + fits)
    assertSasTokenError(
      () => telemetryTopic({ deviceId: 'd' }, { properties: { k: fits + 'a' } }),
      'ERR_TOPIC_TOO_LONG',
      /topic is 65536 UTF-8 bytes; MQTT allows at most 65535/,
    )
    // '€' is 3 UTF-8 bytes, percent-encoded to 9 characters: 7,280 × 9 = 65,520 > 65,535 - 28.
    assertSasTokenError(
      () => telemetryTopic({ deviceId: 'd' }, { properties: { k: '€'.repeat(7_280) } }),
      'ERR_TOPIC_TOO_LONG',
      /topic is 65548 UTF-8 bytes; MQTT allows at most 65535/,
    )
  })
})

describe('parseTopic', () => {
  it('py C2D vector', () => {
    assert.deepEqual(
      parsed(
        'devices/fake_device/messages/devicebound/%24.mid=6b822696-f75a-46f5-8b02-0680db65abf5&%24.to=%2Fdevices%2Ffake_device%2Fmessages%2Fdevicebound',
      ),
      {
        type: 'c2d',
        deviceId: 'fake_device',
        messageId: '6b822696-f75a-46f5-8b02-0680db65abf5',
        to: '/devices/fake_device/messages/devicebound',
        properties: {},
      },
    )
  })

  it('py all-properties module input vector', () => {
    assert.deepEqual(
      parsed(
        'devices/fake_device/modules/fake_module/inputs/fake_input/%24.exp=3237-07-19T23%3A06%3A40.0000000Z&%24.cid=fake_corid&%24.mid=6b822696-f75a-46f5-8b02-0680db65abf5&%24.to=%2Fdevices%2Ffake_device%2Fmodules%2Ffake_module%2Finputs%2Ffake_input&%24.ct=fake_content_type&%24.ce=utf-8&iothub-ack=positive',
      ),
      {
        type: 'module-input',
        deviceId: 'fake_device',
        moduleId: 'fake_module',
        inputName: 'fake_input',
        expiryTimeUtc: '3237-07-19T23:06:40.0000000Z',
        correlationId: 'fake_corid',
        messageId: '6b822696-f75a-46f5-8b02-0680db65abf5',
        to: '/devices/fake_device/modules/fake_module/inputs/fake_input',
        contentType: 'fake_content_type',
        contentEncoding: 'utf-8',
        properties: { 'iothub-ack': 'positive' },
      },
    )
  })

  it('py null/empty vector: bare keys are null, bare system names are absent', () => {
    assert.deepEqual(
      parsed(
        'devices/fakedevice/messages/devicebound/topic=%2Fsubscriptions%2FresourceGroups&subject=%2FgraphInstances&dataVersion&%24.cdid=fakecdid&%24.mid=e32c2285-668e-4161-a236-9f5f6b90362c&%24.cid&%24.uid&classname',
      ),
      {
        type: 'c2d',
        deviceId: 'fakedevice',
        connectionDeviceId: 'fakecdid',
        messageId: 'e32c2285-668e-4161-a236-9f5f6b90362c',
        properties: {
          topic: '/subscriptions/resourceGroups',
          subject: '/graphInstances',
          dataVersion: null,
          classname: null,
        },
      },
    )
  })

  it('py + vector: + stays +, in the id too (the hub is the authority on its ids)', () => {
    assert.deepEqual(parsed('devices/fake+device/messages/devicebound/%24.cid=fake+corid&custom+1=value+1'), {
      type: 'c2d',
      deviceId: 'fake+device',
      correlationId: 'fake+corid',
      properties: { 'custom+1': 'value+1' },
    })
  })

  it('node receiver vectors', () => {
    assert.deepEqual(parsed('devices/foo/messages/devicebound/%24.exp=2017-01-06T23%3A37%3A00.669Z'), {
      type: 'c2d',
      deviceId: 'foo',
      expiryTimeUtc: '2017-01-06T23:37:00.669Z',
      properties: {},
    })
    assert.deepEqual(parsed('devices/foo/messages/devicebound/'), {
      type: 'c2d',
      deviceId: 'foo',
      properties: {},
    })
    assert.deepEqual(parsed('devices/foo/modules/moduleId/inputs/fakeInputName/'), {
      type: 'module-input',
      deviceId: 'foo',
      moduleId: 'moduleId',
      inputName: 'fakeInputName',
      properties: {},
    })
  })

  it('c vectors (the module-input bag ends with a /)', () => {
    assert.deepEqual(
      parsed(
        'devices/myDeviceId/messages/devicebound/iothub-ack=Full&%24.to=%2Fdevices%2FmyDeviceId%2Fmessages%2FdeviceBound&%24.cid=123&%24.uid=456',
      ),
      {
        type: 'c2d',
        deviceId: 'myDeviceId',
        to: '/devices/myDeviceId/messages/deviceBound',
        correlationId: '123',
        userId: '456',
        properties: { 'iothub-ack': 'Full' },
      },
    )
    assert.deepEqual(
      parsed(
        'devices/thisIsDeviceID/modules/thisIsModuleID/inputs/input1/%24.cdid=connected_device&%24.cmid=connected_module/',
      ),
      {
        type: 'module-input',
        deviceId: 'thisIsDeviceID',
        moduleId: 'thisIsModuleID',
        inputName: 'input1',
        connectionDeviceId: 'connected_device',
        connectionModuleId: 'connected_module',
        properties: {},
      },
    )
  })

  it('cs vector (trailing /)', () => {
    assert.deepEqual(
      parsed(
        'devices/d10/messages/devicebound/%24.cid=Corrid1&%24.mid=MessageId1&Prop1=Value1&Prop2=Value2&Prop3=Value3/',
      ),
      {
        type: 'c2d',
        deviceId: 'd10',
        correlationId: 'Corrid1',
        messageId: 'MessageId1',
        properties: { Prop1: 'Value1', Prop2: 'Value2', Prop3: 'Value3' },
      },
    )
  })

  it('embc C2D vector', () => {
    assert.deepEqual(
      parsed(
        'devices/useragent_c/messages/devicebound/%24.to=%2Fdevices%2Fuseragent_c%2Fmessages%2FdeviceBound&abc=123&ghi=%2Fsome%2Fthing&jkl=%2Fsome%2Fthing%2F%3Fbla%3Dbla',
      ),
      {
        type: 'c2d',
        deviceId: 'useragent_c',
        to: '/devices/useragent_c/messages/deviceBound',
        properties: { abc: '123', ghi: '/some/thing', jkl: '/some/thing/?bla=bla' },
      },
    )
  })

  it('twin, desired and method vectors', () => {
    assert.deepEqual(parsed('$iothub/twin/res/200/?$rid=id_one'), {
      type: 'twin-response',
      status: 200,
      rid: 'id_one',
    })
    assert.deepEqual(parsed('$iothub/twin/res/204/?$rid=id_one&$version=16'), {
      type: 'twin-response',
      status: 204,
      rid: 'id_one',
      version: 16,
    })
    assert.deepEqual(parsed('$iothub/twin/res/204/?$rid=1&$version=6'), {
      type: 'twin-response',
      status: 204,
      rid: '1',
      version: 6,
    })
    assert.deepEqual(parsed('$iothub/twin/res/429/?$rid=3226c2f7-3d30-425c-b83b-0c34335f8220'), {
      type: 'twin-response',
      status: 429,
      rid: '3226c2f7-3d30-425c-b83b-0c34335f8220',
    })
    assert.deepEqual(parsed('$iothub/twin/PATCH/properties/desired/?$version=1'), {
      type: 'desired-patch',
      version: 1,
    })
    assert.deepEqual(parsed('$iothub/methods/POST/TestMethod/?$rid=1'), {
      type: 'method-request',
      method: 'TestMethod',
      rid: '1',
    })
    assert.deepEqual(parsed('$iothub/methods/POST/do%20it/?$rid=b'), {
      type: 'method-request',
      method: 'do it',
      rid: 'b',
    })
  })

  it('DPS responses', () => {
    assert.deepEqual(parsed('$dps/registrations/res/202/?$rid=1&retry-after=3'), {
      type: 'dps-response',
      status: 202,
      rid: '1',
      retryAfter: 3,
    })
    assert.deepEqual(parsed('$dps/registrations/res/200/?$rid=1'), {
      type: 'dps-response',
      status: 200,
      rid: '1',
    })
    assert.deepEqual(parsed('$dps/registrations/res/401/?$rid=x&future=1'), {
      type: 'dps-response',
      status: 401,
      rid: 'x',
    })
  })

  it('outgoing and foreign topics are ERR_TOPIC_UNKNOWN', () => {
    for (const topic of [
      '',
      'foo',
      'devices/d/messages/events/',
      'devices/d/modules/m/messages/events/',
      '$iothub/twin/GET/?$rid=1',
      '$iothub/twin/PATCH/properties/reported/?$rid=1',
      '$iothub/methods/res/200/?$rid=1',
      '$dps/registrations/PUT/iotdps-register/?$rid=1',
      'Devices/d/messages/devicebound/',
      'devices/d/messages/deviceboundx',
    ]) {
      assertSasTokenError(
        () => parseTopic(topic),
        'ERR_TOPIC_UNKNOWN',
        /is not one IoT Hub or DPS sends to a device/,
        { label: topic },
      )
    }
  })

  it('malformed topics are ERR_TOPIC_MALFORMED', () => {
    for (const topic of [
      'devices//messages/devicebound/',
      'devices/d/messages/devicebound/a=%E0%A4%A',
      'devices/d/messages/devicebound/a=1&&b=2',
      'devices/d/messages/devicebound/a=1/b=2',
      'devices/d/modules//inputs/i/',
      'devices/d/modules/m/inputs/',
      'devices/d/modules/m/inputs/%zz/',
      '$iothub/twin/res/abc/?$rid=1',
      '$iothub/twin/res/2000/?$rid=1',
      '$iothub/twin/res/200/',
      '$iothub/twin/res/200/?',
      '$iothub/twin/res/200/?$version=1',
      '$iothub/twin/res/200/?$rid=1&$rid=2',
      '$iothub/twin/res/200/?$rid=1&$version=-1',
      '$iothub/twin/res/200/x/?$rid=1',
      '$iothub/twin/PATCH/properties/desired/?$version=x',
      '$iothub/twin/PATCH/properties/desired/',
      '$iothub/methods/POST//?$rid=1',
      '$iothub/methods/POST/m/?$rid=a%20b',
      '$iothub/methods/POST/m?$rid=1',
      '$dps/registrations/res/202/?$rid=1&retry-after=soon',
    ]) {
      assertSasTokenError(
        () => parseTopic(topic),
        'ERR_TOPIC_MALFORMED',
        /^(Topic ".*" (is malformed|has invalid percent-encoding)|The property bag has)/,
        { label: topic },
      )
    }
  })

  it('a parsed method request answers with the same rid', () => {
    const request = parseTopic('$iothub/methods/POST/reboot/?$rid=3226c2f7-3d30-425c-b83b-0c34335f8220')
    assert.equal(request.type, 'method-request')
    if (request.type === 'method-request') {
      assert.equal(
        methodResponseTopic({ status: 200, rid: request.rid }),
        '$iothub/methods/res/200/?$rid=3226c2f7-3d30-425c-b83b-0c34335f8220',
      )
    }
  })

  it('property: parseTopic on any string returns or throws a SasTokenError', () => {
    const prefix = fc.constantFrom(
      '',
      'devices/',
      'devices/d/messages/devicebound/',
      'devices/d/modules/m/inputs/',
      '$iothub/twin/res/',
      '$iothub/twin/res/200/?',
      '$iothub/twin/PATCH/properties/desired/?',
      '$iothub/methods/POST/',
      '$dps/registrations/res/202/?',
    )
    const tail = fc.string({
      unit: fc.constantFrom(
        'a',
        '/',
        '?',
        '&',
        '=',
        '%',
        '2',
        '$',
        'rid',
        '$rid=',
        'version',
        '+',
        '#',
        '\ud800',
        'é',
      ),
    })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(prefix, tail).map(([p, t]) => p + t),
          fc.string({ unit: 'binary' }),
        ),
        (topic) => {
          try {
            const t = parseTopic(topic)
            for (const value of Object.values(t)) assert.notEqual(value, undefined)
          } catch (err) {
            assert.ok(err instanceof SasTokenError, String(err))
          }
        },
      ),
      { numRuns: 3000 },
    )
  })
})

describe('deviceSubscriptions', () => {
  it('a device listens for C2D, methods, twin responses and desired patches (node SDK filters)', () => {
    assert.deepEqual(deviceSubscriptions({ deviceId: 'deviceId' }), [
      'devices/deviceId/messages/devicebound/#',
      '$iothub/methods/POST/#',
      '$iothub/twin/res/#',
      '$iothub/twin/PATCH/properties/desired/#',
    ])
  })
  it('a module listens on its inputs instead of C2D', () => {
    assert.equal(
      deviceSubscriptions({ deviceId: 'deviceId', moduleId: 'moduleId' })[0],
      'devices/deviceId/modules/moduleId/inputs/#',
    )
    assertSasTokenError(
      () => deviceSubscriptions({ deviceId: 'a#b' }),
      'ERR_INVALID_IDENTIFIER',
      /deviceId is not valid: '#' is an MQTT wildcard/,
    )
  })
})
