import { describe, expect, it } from 'vitest'
import { MAX_FORWARDED_BODY, readBody } from '../../src/request/facts.js'

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')
const json = { 'Content-Type': 'application/json' }

function problemOf (result: ReturnType<typeof readBody>): string | undefined {
  return 'problem' in result ? result.problem : undefined
}

describe('readBody', () => {
  it('decodes a forwarded JSON object', () => {
    const result = readBody('container-create', b64('{"Image":"alpine","HostConfig":{"Privileged":false}}'), json)
    expect(result).toEqual({ value: { Image: 'alpine', HostConfig: { Privileged: false } }, unknown: [] })
  })

  it('reports a missing body', () => {
    for (const body of [null, undefined]) {
      const result = readBody('container-create', body, json)
      expect(problemOf(result)).toBe('missing')
      expect('detail' in result && result.detail).toMatch(/Content-Type: application\/json/)
    }
    expect(problemOf(readBody('exec-create', null, null))).toBe('missing')
    expect(problemOf(readBody('exec-create', undefined))).toBe('missing')
  })

  it('explains a body the daemon kept back because of its Content-Type', () => {
    const result = readBody('container-create', null, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': '20' })
    expect(problemOf(result)).toBe('missing')
    expect('detail' in result && result.detail).toMatch(/charset=utf-8/)
  })

  it('reports bodies the daemon does not forward because of their size as too large', () => {
    expect(problemOf(readBody('container-create', null, { ...json, 'Content-Length': String(MAX_FORWARDED_BODY) }))).toBe('too-large')
    expect(problemOf(readBody('container-create', null, { ...json, 'content-length': '5000000' }))).toBe('too-large')
    expect(problemOf(readBody('container-create', null, { ...json, 'Transfer-Encoding': 'chunked' }))).toBe('too-large')
    expect(problemOf(readBody('container-create', null, { ...json, 'Content-Length': String(MAX_FORWARDED_BODY - 1) }))).toBe('missing')
  })

  it('denies an empty body (CVE-2024-41110)', () => {
    expect(problemOf(readBody('container-create', '', json))).toBe('empty')
    expect(problemOf(readBody('container-create', b64(' \n\t'), json))).toBe('empty')
    expect(problemOf(readBody('container-create', null, { ...json, 'Content-Length': '0' }))).toBe('empty')
    const result = readBody('container-create', '', json)
    expect('detail' in result && result.detail).toMatch(/CVE-2024-41110/)
  })

  it('reports invalid JSON', () => {
    for (const body of ['{', '{"Image":}', '{"a":1} {"HostConfig":{"Privileged":true}}', '{"a":1}garbage']) {
      expect(problemOf(readBody('container-create', b64(body), json)), body).toBe('invalid-json')
    }
  })

  it('reports a body that is not valid base64', () => {
    expect(problemOf(readBody('container-create', 'e30=!', json))).toBe('invalid-json')
    expect(problemOf(readBody('container-create', 'e30', json))).toBe('invalid-json')
  })

  it('reports bodies that are not JSON objects', () => {
    for (const body of ['null', '[]', '[{"Privileged":true}]', '"x"', '1', 'true']) {
      expect(problemOf(readBody('container-create', b64(body), json)), body).toBe('not-an-object')
    }
  })

  it('reports values of the wrong type, which the daemon refuses too', () => {
    const result = readBody('container-create', b64('{"HostConfig":{"Privileged":"true"}}'), json)
    expect(problemOf(result)).toBe('invalid-json')
    expect('detail' in result && result.detail).toMatch(/HostConfig\.Privileged must be a boolean/)
  })

  it('denies absurdly deep bodies', () => {
    const deep = '{"Labels":' + '['.repeat(500) + ']'.repeat(500) + '}'
    expect(problemOf(readBody('container-create', b64(deep), json))).toBe('invalid-json')
  })

  it('decodes each kind with its own schema', () => {
    expect(readBody('exec-create', b64('{"Cmd":["sh"],"privileged":true}'), json))
      .toEqual({ value: { Cmd: ['sh'], Privileged: true }, unknown: [] })
    expect(readBody('network-connect', b64('{"container":"web"}'), json)).toEqual({ value: { Container: 'web' }, unknown: [] })
    expect(problemOf(readBody('exec-create', b64('{"Cmd":"sh"}'), json))).toBe('invalid-json') // a []string, not a StrSlice
  })
})
