import assert from 'node:assert/strict'
import { test } from 'node:test'

const modulePath = '../../dist/query-string.js'
const { readQuery, repeatedName } = (await import(modulePath)) as typeof import('../dist/query-string.js')

test('readQuery splits at every & and the first =, decoding nothing', () => {
  assert.deepEqual(readQuery(''), [])
  assert.deepEqual(readQuery('a=1&b=x=y&c&d='), [
    { name: 'a', value: '1' },
    { name: 'b', value: 'x=y' },
    { name: 'c', value: undefined },
    { name: 'd', value: '' },
  ])
  assert.deepEqual(readQuery('a%20b=%2F&&'), [
    { name: 'a%20b', value: '%2F' },
    { name: '', value: undefined },
    { name: '', value: undefined },
  ])
})

test('repeatedName names the first repeat', () => {
  assert.equal(repeatedName(readQuery('a=1&b=2')), undefined)
  assert.equal(repeatedName(readQuery('a=1&b=2&b=3&a=4')), 'b')
})
