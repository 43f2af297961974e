import { describe, expect, it } from 'vitest'
import { ResponseCorrelator } from '../../src/authz/correlate.js'
import type { AuthZRequest } from '../../src/core/types.js'

const call = (token: string, uri = '/v1.41/containers/web/exec', method = 'POST'): AuthZRequest => ({
  RequestMethod: method,
  RequestUri: uri,
  RequestHeaders: { 'X-Portcullis-Token': token }
})

describe('an AuthZRes is paired with its AuthZReq', () => {
  it('by method, URI and the exact token, oldest first', () => {
    const pending = new ResponseCorrelator()
    pending.remember(call('tok-a'), 1)
    pending.remember(call('tok-a'), 2)
    pending.remember(call('tok-b'), 3)
    expect(pending.take(call('tok-a', '/v1.41/containers/db/exec'))).toBeNull()
    expect(pending.take(call('tok-a', undefined, 'GET'))).toBeNull()
    expect(pending.take(call('tok-b'))).toBe(3)
    expect(pending.take(call('tok-a'))).toBe(1)
    expect(pending.take(call('tok-a'))).toBe(2)
    expect(pending.take(call('tok-a'))).toBeNull()
  })

  it('never pairs two tokens that only end the same way', () => {
    const tail = 'x'.repeat(100)
    const pending = new ResponseCorrelator()
    pending.remember(call('alice.' + tail), 1)
    pending.remember(call('mallory.' + tail), 2)
    expect(pending.take(call('mallory.' + tail))).toBe(2)
    expect(pending.take(call('bob.' + tail))).toBeNull()
    expect(pending.take(call('alice.' + tail))).toBe(1)
  })

  it('pairs calls with long URIs and long tokens (kept as digests) exactly', () => {
    const longUri = '/v1.41/containers/json?filters=' + 'a'.repeat(3000)
    const longToken = 't'.repeat(3000)
    const pending = new ResponseCorrelator()
    pending.remember(call(longToken, longUri), 7)
    expect(pending.take(call(longToken.slice(1) + 'u', longUri))).toBeNull()
    expect(pending.take(call(longToken, longUri + 'b'))).toBeNull()
    expect(pending.take(call(longToken, longUri))).toBe(7)
  })

  it('pairs a call without a token by method, URI and user', () => {
    const pending = new ResponseCorrelator()
    pending.remember({ RequestMethod: 'GET', RequestUri: '/_ping', User: 'carol', UserAuthNMethod: 'TLS' }, 4)
    expect(pending.take({ RequestMethod: 'GET', RequestUri: '/_ping', User: 'dave' })).toBeNull()
    expect(pending.take({ RequestMethod: 'GET', RequestUri: '/_ping', User: 'carol' })).toBe(4)
  })
})
