// The {property_bag}: SDK vectors (sdk-facts §4.2, §4.3, §9) and properties that must hold for
// any input. Expected strings are SDK vectors or percent-encodings written out by hand.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodePropertyBag, encodePropertyBag, SasTokenError, type MessageProperties } from 'sas-token'
import { assertSasTokenError } from './support/errors.js'

/** A decoded bag as a plain object, so deepStrictEqual also sees any extra (undefined) key. */
function plain(bag: ReturnType<typeof decodePropertyBag>): object {
  return { ...bag, properties: { ...bag.properties } }
}

describe('encodePropertyBag', () => {
  it('node SDK vectors: one system property, then application properties', () => {
    assert.equal(
      encodePropertyBag({ messageId: 'fakeMessageId', properties: { fakeKey: 'fakeValue' } }),
      '%24.mid=fakeMessageId&fakeKey=fakeValue',
    )
    assert.equal(
      encodePropertyBag({ interfaceId: 'urn:azureiot:Security:SecurityAgent:1' }),
      '%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1',
    )
    assert.equal(encodePropertyBag({ contentEncoding: 'utf-8' }), '%24.ce=utf-8')
    assert.equal(encodePropertyBag({ contentType: 'application/json' }), '%24.ct=application%2Fjson')
    assert.equal(
      encodePropertyBag({ properties: { key1: 'value1', key2: 'value2', key$: 'value$' } }),
      'key1=value1&key2=value2&key%24=value%24',
    )
  })

  it('py all-properties vector (py has no $.to; its order is ours)', () => {
    assert.equal(
      encodePropertyBag({
        outputName: 'output',
        messageId: '1234',
        correlationId: '5678',
        userId: 'userid',
        contentType: 'type',
        contentEncoding: 'utf-8',
        interfaceId: 'urn:azureiot:Security:SecurityAgent:1',
        expiryTimeUtc: '2019-02-02T00:00:00',
        properties: { custom1: 'value1', custom2: 'value2', custom3: 'value3' },
      }),
      '%24.on=output&%24.mid=1234&%24.cid=5678&%24.uid=userid&%24.ct=type&%24.ce=utf-8&%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1&%24.exp=2019-02-02T00%3A00%3A00&custom1=value1&custom2=value2&custom3=value3',
    )
  })

  it('system properties come in the fixed order whatever the object order', () => {
    const message: MessageProperties = {
      componentName: 'thermostat1',
      expiryTimeUtc: 'E',
      interfaceId: 'I',
      contentEncoding: 'CE',
      contentType: 'CT',
      to: 'T',
      userId: 'U',
      correlationId: 'C',
      messageId: 'M',
      outputName: 'O',
    }
    assert.equal(
      encodePropertyBag(message),
      '%24.on=O&%24.mid=M&%24.cid=C&%24.uid=U&%24.to=T&%24.ct=CT&%24.ce=CE&%24.ifid=I&%24.exp=E&%24.sub=thermostat1',
    )
  })

  it('py vectors: #, space and / are percent-encoded in names and values', () => {
    assert.equal(encodePropertyBag({ messageId: 'message#id' }), '%24.mid=message%23id')
    assert.equal(encodePropertyBag({ messageId: 'message id' }), '%24.mid=message%20id')
    assert.equal(encodePropertyBag({ messageId: 'message/id' }), '%24.mid=message%2Fid')
    assert.equal(encodePropertyBag({ properties: { 'custom#1': 'value#1' } }), 'custom%231=value%231')
  })

  it('&, =, $, + and non-ASCII (hand-encoded UTF-8)', () => {
    assert.equal(encodePropertyBag({ properties: { 'a&b': 'c=d' } }), 'a%26b=c%3Dd')
    assert.equal(
      encodePropertyBag({ properties: { température: '21 °C', 'x+y': '€' } }),
      'temp%C3%A9rature=21%20%C2%B0C&x%2By=%E2%82%AC',
    )
    assert.equal(
      encodePropertyBag({ contentType: 'application/json;charset=utf-8' }),
      '%24.ct=application%2Fjson%3Bcharset%3Dutf-8',
    )
  })

  it('a Date expiry is sent as toISOString()', () => {
    assert.equal(
      encodePropertyBag({ expiryTimeUtc: new Date(Date.UTC(2017, 0, 6, 23, 37, 0, 669)) }),
      '%24.exp=2017-01-06T23%3A37%3A00.669Z',
    )
  })

  it('nothing to send is the empty bag', () => {
    assert.equal(encodePropertyBag({}), '')
    assert.equal(encodePropertyBag({ properties: {} }), '')
  })

  it('$.-names are reserved; other names that look special are not', () => {
    for (const name of ['$.mid', '$.on', '$.sub', '$.ctime', '$.cdid', '$.cmid', '$.schema', '$.anything']) {
      assertSasTokenError(
        () => encodePropertyBag({ properties: { [name]: 'x' } }),
        'ERR_PROPERTY_NAME_RESERVED',
        /is in the hub's system namespace \('\$\.'\)/,
        { label: name },
      )
    }
    // iothub-creation-time-utc is an application property devices are meant to set (docs).
    assert.equal(
      encodePropertyBag({ properties: { 'iothub-creation-time-utc': '2021-04-21T11:30:16Z' } }),
      'iothub-creation-time-utc=2021-04-21T11%3A30%3A16Z',
    )
    assert.equal(encodePropertyBag({ properties: { '%24.mid': 'x', $mid: 'y' } }), '%2524.mid=x&%24mid=y')
  })

  it('bad names and values are coded errors', () => {
    assertSasTokenError(
      () => encodePropertyBag({ properties: { '': 'x' } }),
      'ERR_INVALID_PROPERTY',
      /application property has an empty name/,
    )
    assertSasTokenError(
      () => encodePropertyBag({ properties: { a: 1 as unknown as string } }),
      'ERR_INVALID_PROPERTY',
      /Application property "a" must have a string value/,
    )
    assertSasTokenError(
      () => encodePropertyBag({ messageId: '' }),
      'ERR_INVALID_PROPERTY',
      /messageId must be a non-empty string/,
    )
    assertSasTokenError(
      () => encodePropertyBag({ expiryTimeUtc: new Date(Number.NaN) }),
      'ERR_INVALID_PROPERTY',
      /expiryTimeUtc must be a valid date/,
    )
    assertSasTokenError(
      () => encodePropertyBag({ properties: { a: '\ud800' } }),
      'ERR_INVALID_PROPERTY',
      /Property "a" contains a lone UTF-16 surrogate/,
    )
    assertSasTokenError(
      () => encodePropertyBag({ properties: { '\udc00': 'a' } }),
      'ERR_INVALID_PROPERTY',
      /Property name .* contains a lone UTF-16 surrogate/,
    )
  })
})

describe('decodePropertyBag', () => {
  it('docs: bare key is null, key= is empty, values are decoded', () => {
    assert.deepEqual(plain(decodePropertyBag('prop1&prop2=&prop3=a%20string')), {
      properties: { prop1: null, prop2: '', prop3: 'a string' },
    })
  })

  it('+ stays +', () => {
    assert.deepEqual(plain(decodePropertyBag('%24.cid=fake+corid&custom+1=value+1')), {
      correlationId: 'fake+corid',
      properties: { 'custom+1': 'value+1' },
    })
  })

  it('$.mid and %24.mid are the same name', () => {
    assert.deepEqual(plain(decodePropertyBag('$.mid=1&%24.cid=2')), {
      messageId: '1',
      correlationId: '2',
      properties: {},
    })
  })

  it('unknown $.-names stay application properties; bare system names are left out', () => {
    assert.deepEqual(plain(decodePropertyBag('%24.diagid=7&%24.cid&%24.uid=u')), {
      userId: 'u',
      properties: { '$.diagid': '7' },
    })
  })

  it('properties named like Object.prototype members are plain properties', () => {
    const bag = decodePropertyBag('__proto__=1&toString=2&constructor')
    assert.deepEqual(Object.entries(bag.properties), [
      ['__proto__', '1'],
      ['toString', '2'],
      ['constructor', null],
    ])
  })

  it('malformed bags are ERR_TOPIC_MALFORMED, never a URIError', () => {
    for (const bag of [
      'a=%E0%A4%A',
      'a=%',
      '%zz=1',
      'a=1&&b=2',
      'a=1&',
      '=x',
      'a=1&a=2',
      '%24.mid=1&$.mid=2',
    ]) {
      assertSasTokenError(
        () => decodePropertyBag(bag),
        'ERR_TOPIC_MALFORMED',
        /^The property bag (has an empty property name|has invalid percent-encoding|names .* twice)/,
        { label: bag },
      )
    }
  })

  const text = fc.string({ unit: 'binary' })
  const systemValue = fc.string({ unit: 'binary', minLength: 1 })
  const appName = fc.string({ unit: 'binary', minLength: 1 }).filter((name) => !name.startsWith('$.'))

  it('property: decode(encode(m)) gives m back', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            outputName: systemValue,
            messageId: systemValue,
            correlationId: systemValue,
            userId: systemValue,
            to: systemValue,
            contentType: systemValue,
            contentEncoding: systemValue,
            interfaceId: systemValue,
            expiryTimeUtc: systemValue,
            componentName: systemValue,
          },
          { requiredKeys: [] },
        ),
        fc.uniqueArray(fc.tuple(appName, text), { selector: ([name]) => name, maxLength: 8 }),
        (system, pairs) => {
          const properties: Record<string, string> = {}
          for (const [name, value] of pairs)
            Object.defineProperty(properties, name, { value, enumerable: true, writable: true })
          const decoded = decodePropertyBag(encodePropertyBag({ ...system, properties }))
          const { properties: got, ...gotSystem } = decoded
          assert.deepEqual({ ...gotSystem }, { ...system })
          assert.deepEqual(Object.entries(got), Object.entries(properties))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: any text either decodes or throws a SasTokenError', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', '=', '&', '%', '2', '4', '.', '$', 'E', '+', '\ud800', 'é') }),
        (bag) => {
          try {
            decodePropertyBag(bag)
          } catch (err) {
            assert.ok(err instanceof SasTokenError, String(err))
          }
        },
      ),
      { numRuns: 2000 },
    )
  })
})
