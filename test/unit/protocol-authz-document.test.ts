// What the plugin keeps of an AuthZReq document that is not what the daemon sends: enough to name the caller.
import { describe, expect, it } from 'vitest'
import { readAuthZDocument } from '../../src/protocol/authz-document.js'

describe('reading the daemon\'s AuthZReq document', () => {
  it('accepts what dockerd sends', () => {
    const doc = readAuthZDocument(JSON.stringify({ User: '', UserAuthNMethod: '', RequestMethod: 'GET', RequestUri: '/_ping', RequestHeaders: {} }), 'request')
    expect(doc.ok).toBe(true)
  })

  it('refuses text that is not JSON, or JSON that is not an object, keeping nothing', () => {
    expect(readAuthZDocument('{"User":', 'request')).toMatchObject({ ok: false, partial: null, problem: expect.stringMatching(/^not JSON/) })
    expect(readAuthZDocument('[1]', 'request')).toMatchObject({ ok: false, partial: null, problem: 'not a JSON object but an array' })
    expect(readAuthZDocument('null', 'request')).toMatchObject({ ok: false, partial: null, problem: 'not a JSON object but null' })
  })

  it('names every field of the wrong type, and keeps the fields that are right (the token header among them)', () => {
    const doc = readAuthZDocument(JSON.stringify({ RequestMethod: 7, RequestUri: '/x', RequestHeaders: { 'X-Portcullis-Token': 't', 'X-N': 1 }, ResponseStatusCode: '200' }), 'request')
    expect(doc.ok).toBe(false)
    if (doc.ok) return
    expect(doc.problem).toBe('RequestMethod must be a string, not a number; RequestHeaders must map names to strings ("X-N" is not); ResponseStatusCode must be a number, not a string')
    expect(doc.partial).toMatchObject({ RequestUri: '/x', RequestHeaders: { 'X-Portcullis-Token': 't' } })
    expect(doc.partial?.RequestMethod).toBeUndefined()
  })

  it('an AuthZReq must name its method and URI; an AuthZRes need not (the daemon already acted)', () => {
    expect(readAuthZDocument(JSON.stringify({ RequestMethod: 'GET', RequestUri: '' }), 'request')).toMatchObject({ ok: false, problem: 'RequestUri is missing' })
    expect(readAuthZDocument(JSON.stringify({ ResponseStatusCode: 200 }), 'response').ok).toBe(true)
  })

  it('a field named __proto__ is only a field', () => {
    const doc = readAuthZDocument('{"__proto__": {"polluted": 1}, "RequestMethod": 1, "RequestUri": "/x"}', 'request')
    expect(doc.ok).toBe(false)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('accepts exactly the documents whose every field has the type the daemon sends (random documents, both endpoints)', () => {
    const values: unknown[] = [undefined, null, '', 'x', 0, 7, true, [], ['x'], {}, { a: 's' }, { a: 's', b: 1 }, { a: null }]
    const pick = (): unknown => values[Math.floor(Math.random() * values.length)]
    const names = ['User', 'UserAuthNMethod', 'RequestMethod', 'RequestUri', 'RequestBody', 'ResponseBody', 'RequestHeaders', 'ResponseHeaders', 'ResponseStatusCode']
    const isString = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string'
    const isMap = (v: unknown): boolean => v === undefined || v === null ||
      (typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((entry) => typeof entry === 'string'))
    for (let i = 0; i < 5000; i++) {
      const fields: Record<string, unknown> = {}
      for (const name of names) {
        const value = pick()
        if (value !== undefined) fields[name] = value
      }
      for (const endpoint of ['request', 'response'] as const) {
        const wellFormed = ['User', 'UserAuthNMethod', 'RequestMethod', 'RequestUri', 'RequestBody', 'ResponseBody'].every((n) => isString(fields[n])) &&
          isMap(fields.RequestHeaders) && isMap(fields.ResponseHeaders) &&
          (fields.ResponseStatusCode === undefined || fields.ResponseStatusCode === null || typeof fields.ResponseStatusCode === 'number') &&
          (endpoint === 'response' || (['RequestMethod', 'RequestUri'].every((n) => fields[n] !== undefined && fields[n] !== null && fields[n] !== '')))
        const doc = readAuthZDocument(JSON.stringify(fields), endpoint)
        expect([fields, endpoint, doc.ok]).toEqual([fields, endpoint, wellFormed])
        if (doc.ok) expect(doc.request).toEqual(fields)
        else expect(doc.problem).not.toBe('')
      }
    }
  })
})
