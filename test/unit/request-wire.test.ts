import { describe, expect, it } from 'vitest'
import { readRequest } from '../../src/authz/read-request.js'
import type { AuthZRequest } from '../../src/core/types.js'
import { MAX_HEADER_BYTES, MAX_REFERENCES, MAX_URI_LENGTH } from '../../src/request/limits.js'
import { checkLimits, checkWire } from '../../src/request/wire.js'
import { bodyClassOf } from '../../src/routes/request-bodies.js'
import { KNOWN_ACTIONS } from '../../src/routes/table.js'

const b64 = (s: string): string => Buffer.from(s).toString('base64')
const req = (method: string, uri: string, headers: Record<string, string>, body: string | null = null): AuthZRequest =>
  ({ RequestMethod: method, RequestUri: uri, RequestHeaders: headers, RequestBody: body === null ? null : b64(body) })

describe('requests as the docker CLI 20.10 sends them pass', () => {
  const honest: Array<[string, AuthZRequest]> = [
    ['start (text/plain, no body)', req('POST', '/v1.41/containers/c1/start', { 'Content-Length': '0', 'Content-Type': 'text/plain' })],
    ['pull', req('POST', '/v1.41/images/create?fromImage=busybox&tag=1', { 'Content-Length': '0', 'Content-Type': 'text/plain' })],
    ['build (chunked tar)', req('POST', '/v1.41/build?t=b', { 'Content-Type': 'application/x-tar' })],
    ['cp into a container', req('PUT', '/v1.41/containers/c1/archive?path=%2Ftmp', { 'Content-Type': 'text/plain' })],
    ['import', req('POST', '/v1.41/images/create?fromSrc=-&repo=x', { 'Content-Type': 'text/plain' })],
    ['load', req('POST', '/v1.41/images/load?quiet=1', { 'Content-Type': 'application/x-tar' })],
    ['exec create', req('POST', '/v1.41/containers/c1/exec', { 'Content-Length': '17', 'Content-Type': 'application/json' }, '{"Cmd":["true"]}')],
    ['commit', req('POST', '/v1.41/commit?container=c1', { 'Content-Length': '5', 'Content-Type': 'application/json' }, 'null\n')],
    ['ps', req('GET', '/v1.41/containers/json', {})],
    ['login (body never forwarded)', req('POST', '/v1.41/auth', { 'Content-Length': '60', 'Content-Type': 'application/json' })],
    ['session hijack', req('POST', '/v1.41/session', { Upgrade: 'h2c', Connection: 'Upgrade' })]
  ]
  for (const [name, request] of honest) {
    it(name, () => {
      expect(readRequest(request).wire).toBeUndefined()
    })
  }
})

describe('requests dockerd could read differently are refused', () => {
  it('a body on a route that takes none: the pull that became an import', () => {
    const facts = readRequest(req('POST', '/v1.41/images/create?fromImage=busybox', { 'Content-Type': 'text/plain', 'Content-Length': '40' }))
    expect(facts.action).toBe('image.pull')
    expect(facts.wire).toMatchObject({ code: 'AMBIGUOUS_REQUEST', header: 'Content-Type' })
    expect(facts.wire?.reason).toMatch(/takes no request body/)
    expect(facts.auditFields).toMatchObject({ wire: { code: 'AMBIGUOUS_REQUEST', header: 'Content-Type' }, contentType: 'text/plain', contentLength: '40', bodyForwarded: false })
  })

  it('the same with a chunked body (Go drops Transfer-Encoding: a Content-Type with no Content-Length)', () => {
    expect(readRequest(req('POST', '/v1.41/images/create?fromImage=busybox', { 'Content-Type': 'text/plain' })).wire?.code).toBe('AMBIGUOUS_REQUEST')
    expect(readRequest(req('GET', '/v1.41/images/get?names=a', { 'Content-Type': 'text/plain' })).wire?.code).toBe('AMBIGUOUS_REQUEST')
  })

  it('a JSON body the daemon did not forward although the visible Content-Type is JSON', () => {
    const facts = readRequest(req('POST', '/v1.41/containers/c1/start', { 'Content-Type': 'application/json', 'Content-Length': '2' }))
    expect(facts.wire?.reason).toMatch(/takes no request body/)
    const exec = readRequest(req('POST', '/v1.41/exec/abc/start', { 'Content-Type': 'application/json', 'Content-Length': '29' }))
    expect(exec.wire?.reason).toMatch(/an earlier Content-Type header must have hidden it/)
  })

  it('a form or multipart Content-Type on any route, also with parameters or odd case', () => {
    for (const type of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-Urlencoded; charset=x', 'multipart/form-data; boundary=x']) {
      expect(readRequest(req('POST', '/v1.41/build', { 'Content-Type': type })).wire?.code).toBe('AMBIGUOUS_REQUEST')
      expect(readRequest(req('GET', '/v1.41/_ping', { 'Content-Type': type })).wire?.code).toBe('AMBIGUOUS_REQUEST')
    }
  })

  it('a non-ASCII Content-Type (applİcation/x-www-form-urlencoded)', () => {
    expect(readRequest(req('POST', '/v1.41/images/create?fromImage=a', { 'Content-Type': 'applİcation/x-www-form-urlencoded', 'Content-Length': '3' })).wire)
      .toMatchObject({ code: 'AMBIGUOUS_REQUEST', header: 'Content-Type' })
  })

  it('an opaque route with a Content-Type the docker CLI does not send', () => {
    expect(readRequest(req('POST', '/v1.41/build', { 'Content-Type': 'text/plain' })).wire?.reason).toMatch(/image.build takes a body portcullis cannot see/)
    expect(readRequest(req('POST', '/v1.41/session', { 'Content-Type': 'application/x-tar' })).wire?.code).toBe('AMBIGUOUS_REQUEST')
  })

  it('a body of 1 MiB or more, which the daemon never forwards', () => {
    expect(checkWire(req('POST', '/v1.41/exec/a/start', { 'Content-Type': 'application/json', 'Content-Length': String(1 << 20) }), 'exec.start')?.code).toBe('REQUEST_TOO_LARGE')
  })

  it('a token or a Content-Type under two names', () => {
    expect(readRequest(req('GET', '/_ping', { 'X-Portcullis-Token': 'a', 'x-portcullis-token': 'b' })).wire).toMatchObject({ header: 'X-Portcullis-Token' })
  })
})

describe('limits', () => {
  it('refuses a URI beyond MAX_URI_LENGTH before parsing it', () => {
    const facts = readRequest(req('GET', '/_ping?' + 'a'.repeat(MAX_URI_LENGTH), {}))
    expect(facts.wire?.code).toBe('REQUEST_TOO_LARGE')
    expect(facts.action).toBeNull()
    expect(readRequest(req('GET', '/_ping?' + 'a'.repeat(MAX_URI_LENGTH - 100), {})).wire).toBeUndefined()
  })

  it('refuses headers beyond MAX_HEADER_BYTES', () => {
    expect(checkLimits(req('GET', '/_ping', { 'X-Big': 'a'.repeat(MAX_HEADER_BYTES) }))?.code).toBe('REQUEST_TOO_LARGE')
  })

  it('refuses more than MAX_REFERENCES objects before any look-up', () => {
    const names = Array.from({ length: MAX_REFERENCES + 1 }, (_, i) => `c${i}`)
    const body = JSON.stringify({ Image: 'busybox', HostConfig: { VolumesFrom: names } })
    const facts = readRequest(req('POST', '/v1.41/containers/create', { 'Content-Type': 'application/json', 'Content-Length': String(body.length) }, body))
    expect(facts.wire?.code).toBe('TOO_MANY_REFERENCES')
    expect(facts.references).toEqual([])
    const fewer = JSON.stringify({ Image: 'busybox', HostConfig: { VolumesFrom: names.slice(1) } })
    expect(readRequest(req('POST', '/v1.41/containers/create', { 'Content-Type': 'application/json', 'Content-Length': String(fewer.length) }, fewer)).wire).toBeUndefined()
  })
})

describe('the body table', () => {
  it('classifies every action, with the stream routes opaque', () => {
    for (const action of KNOWN_ACTIONS) expect(['none', 'json', 'opaque']).toContain(bodyClassOf(action))
    expect(bodyClassOf('image.build')).toBe('opaque')
    expect(bodyClassOf('container.create')).toBe('json')
    expect(bodyClassOf('image.pull')).toBe('none')
  })
})
