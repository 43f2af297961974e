import { describe, expect, it } from 'vitest'
import { contentLength, goMediaType, headerProblems, headerValue, isFormMediaType } from '../../src/request/headers.js'

describe('goMediaType reads a Content-Type as Go\'s mime.ParseMediaType does', () => {
  it('lowercases and trims the type and ignores parameters', () => {
    expect(goMediaType('Application/JSON')).toEqual({ kind: 'type', type: 'application/json' })
    expect(goMediaType(' application/json ; charset=utf-8')).toEqual({ kind: 'type', type: 'application/json' })
    expect(goMediaType('application/x-www-form-urlencoded; ===')).toEqual({ kind: 'type', type: 'application/x-www-form-urlencoded' })
    expect(goMediaType('text/plain')).toEqual({ kind: 'type', type: 'text/plain' })
  })

  it('says absent for no header or a blank one', () => {
    expect(goMediaType(undefined)).toEqual({ kind: 'absent' })
    expect(goMediaType('  ')).toEqual({ kind: 'absent' })
  })

  it('refuses non-ASCII letters Go would fold into ASCII (İ → i, Kelvin K → k)', () => {
    expect(goMediaType('applİcation/x-www-form-urlencoded').kind).toBe('invalid')
    expect(goMediaType('multipart/form-data; boundary=\u212A').kind).toBe('invalid')
    expect(goMediaType('application/json\u0000').kind).toBe('invalid')
  })

  it('refuses what is not token or token/token', () => {
    expect(goMediaType('application/json/x').kind).toBe('invalid')
    expect(goMediaType('application json').kind).toBe('invalid')
    expect(goMediaType('/json').kind).toBe('invalid')
  })

  it('knows the form media types Go reads ahead of the query', () => {
    expect(isFormMediaType('application/x-www-form-urlencoded')).toBe(true)
    expect(isFormMediaType('multipart/form-data')).toBe(true)
    expect(isFormMediaType('multipart/mixed')).toBe(true)
    expect(isFormMediaType('application/json')).toBe(false)
  })
})

describe('headerProblems', () => {
  it('accepts what the docker CLI sends', () => {
    expect(headerProblems({ 'Content-Type': 'application/json', 'Content-Length': '176', 'User-Agent': 'Docker-Client/20.10.24+dfsg1 (linux)', 'X-Portcullis-Token': 'a.b.c' })).toBeUndefined()
  })

  it('refuses a sensitive header under two names, in any case or Unicode folding', () => {
    expect(headerProblems({ 'Content-Type': 'text/plain', 'content-type': 'application/x-www-form-urlencoded' })).toMatchObject({ header: 'Content-Type', problem: 'repeated' })
    expect(headerProblems({ 'X-Portcullis-Token': 'a', 'X-PORTCULLIS-TOKEN': 'b' })).toMatchObject({ header: 'X-Portcullis-Token', problem: 'repeated' })
    expect(headerProblems({ 'X-Portcullis-Token': 'a', 'X-Portcullis-To\u212Aen': 'b' })).toMatchObject({ header: 'X-Portcullis-Token', problem: 'repeated' })
    expect(headerProblems({ 'X-Portcullis-Bridge': 'a', 'x-portcullis-bridge': 'b' })).toMatchObject({ header: 'X-Portcullis-Bridge' })
  })

  it('refuses non-ASCII names and values of identity headers: never read as anonymous', () => {
    expect(headerProblems({ 'X-Portcullis-To\u212Aen': 'a' })).toMatchObject({ header: 'X-Portcullis-Token', problem: 'not-plain' })
    expect(headerProblems({ 'X-Portcullis-Internal': 'sécret' })).toMatchObject({ header: 'X-Portcullis-Internal', problem: 'not-plain' })
    expect(headerProblems({ 'Content-Type': 'applİcation/json' })).toMatchObject({ header: 'Content-Type', problem: 'not-plain' })
  })

  it('leaves other headers alone', () => {
    expect(headerProblems({ 'User-Agent': 'ünïcode', 'X-Custom': 'a', 'x-custom': 'b' })).toBeUndefined()
  })
})

describe('headerValue and contentLength', () => {
  it('find a header in any ASCII case', () => {
    expect(headerValue({ 'content-type': 'text/plain' }, 'Content-Type')).toBe('text/plain')
    expect(headerValue({}, 'Content-Type')).toBeUndefined()
  })

  it('read Content-Length as digits only', () => {
    expect(contentLength({ 'Content-Length': '12' })).toBe(12)
    expect(contentLength({})).toBeUndefined()
    expect(contentLength({ 'Content-Length': '-1' })).toBeNaN()
    expect(contentLength({ 'Content-Length': '0x10' })).toBeNaN()
  })
})
