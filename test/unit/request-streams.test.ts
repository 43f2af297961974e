import { describe, expect, it } from 'vitest'
import { readRequest } from '../../src/authz/read-request.js'
import { goBoolValue } from '../../src/request/streams.js'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64')
const create = (body: unknown) => readRequest({
  RequestMethod: 'POST', RequestUri: '/v1.41/containers/create', RequestBody: b64(body), RequestHeaders: { 'Content-Type': 'application/json' }
})
const attach = (uri: string, method = 'POST', headers: Record<string, string> = {}) => readRequest({ RequestMethod: method, RequestUri: uri, RequestHeaders: headers })

describe('httputils.BoolValue, as dockerd reads a boolean query parameter', () => {
  it('is false only for "", 0, no, false, none, after trimming and lowercasing', () => {
    for (const v of ['', '0', 'no', 'false', 'none', ' FALSE ', '\tNo\n', 'None', '\u00a0false', '\u0085false']) expect(goBoolValue([v]), JSON.stringify(v)).toBe(false)
    for (const v of ['1', 'true', 'yes', 'x', 'falsee', '\ufefffalse', 'fal\u017fe', '\u200bfalse']) expect(goBoolValue([v]), JSON.stringify(v)).toBe(true)
  })
  it('reads the first value only, as FormValue does', () => {
    expect(goBoolValue(['1', '0'])).toBe(true)
    expect(goBoolValue(['0', '1'])).toBe(false)
    expect(goBoolValue(undefined)).toBe(false)
  })
})

describe('interactive streams read from requests', () => {
  it('container create with Tty, OpenStdin or AttachStdin, in any spelling Go accepts', () => {
    expect(create({ Image: 'x', Tty: true }).stream).toMatchObject({ tty: true })
    expect(create({ Image: 'x', OpenStdin: true }).stream).toMatchObject({ stdin: true })
    expect(create({ Image: 'x', attachstdin: true }).stream).toMatchObject({ stdin: true })
    expect(create({ Image: 'x', OPENſTDIN: true }).stream).toMatchObject({ stdin: true })
    expect(create({ Image: 'x', Tty: true, tty: false }).stream).toBeUndefined()
    expect(create({ Image: 'x', Tty: false, tty: true }).stream).toMatchObject({ tty: true })
    expect(create({ Image: 'x' }).stream).toBeUndefined()
  })
  it('attach with stdin, on the hijacked and the websocket route', () => {
    expect(attach('/v1.41/containers/c/attach?stream=1&stdin=1&stdout=1').stream).toMatchObject({ stdin: true })
    expect(attach('/v1.41/containers/c/attach?stdin=%20True%20').stream).toMatchObject({ stdin: true })
    expect(attach('/v1.41/containers/c/attach?stdin=0&stdin=1').stream).toBeUndefined()
    expect(attach('/v1.41/containers/c/attach?stream=1&stdout=1').stream).toBeUndefined()
    expect(attach('/v1.41/containers/c/attach/ws?stream=1', 'GET').stream).toMatchObject({ stdin: true })
  })
  it('an attach with a body Go might read form values from counts as stdin (or is refused as ambiguous first); the CLI\'s text/plain does not', () => {
    expect(attach('/v1.41/containers/c/attach?stream=1&stdout=1', 'POST', { 'Content-Type': 'text/plain' }).stream).toBeUndefined()
    expect(attach('/v1.41/containers/c/attach?stream=1&stdout=1', 'POST', { 'Content-Type': 'application/json; charset=utf-8' }).stream).toBeUndefined()
    for (const type of ['text/x-form', 'appl\u0130cation/json']) {
      const facts = attach('/v1.41/containers/c/attach?stream=1', 'POST', { 'Content-Type': type })
      expect(facts.wire !== undefined || facts.stream?.stdin === true).toBe(true)
    }
  })
})
