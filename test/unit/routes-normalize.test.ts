import { describe, expect, it } from 'vitest'
import { normalizeUri, RequestUriError } from '../../src/routes/normalize.js'

function problemOf (uri: string): string | undefined {
  try {
    normalizeUri(uri)
  } catch (err) {
    expect(err).toBeInstanceOf(RequestUriError)
    expect((err as RequestUriError).code).toBe('PORTCULLIS_URI_INVALID')
    return (err as RequestUriError).problem
  }
  return undefined
}

describe('normalizeUri: version prefix', () => {
  it('keeps a path without version prefix and reports no version', () => {
    const result = normalizeUri('/containers/json')
    expect(result.path).toBe('/containers/json')
    expect(result.apiVersion).toBeUndefined()
    expect(result.query).toEqual({})
  })

  it('strips /v{version} and reports the version', () => {
    expect(normalizeUri('/v1.41/containers/json')).toEqual({ path: '/containers/json', query: {}, apiVersion: '1.41' })
    expect(normalizeUri('/v1.24/_ping').apiVersion).toBe('1.24')
  })

  it('strips only one prefix, as dockerd registers only one', () => {
    expect(normalizeUri('/v1.41/v1.40/containers/json').path).toBe('/v1.40/containers/json')
  })

  it('does not take /version or /volumes for a version prefix', () => {
    expect(normalizeUri('/version').path).toBe('/version')
    expect(normalizeUri('/volumes/v1').path).toBe('/volumes/v1')
    expect(normalizeUri('/version').apiVersion).toBeUndefined()
  })

  it('leaves a bare /v1.41 alone: no route follows the prefix', () => {
    expect(normalizeUri('/v1.41')).toEqual({ path: '/v1.41', query: {} })
    expect(normalizeUri('/v1.41/').path).toBe('/v1.41')
  })

  it('looks for the prefix after cleaning, like mux after its redirect', () => {
    expect(normalizeUri('/v1.41/../containers/json')).toEqual({ path: '/containers/json', query: {} })
    expect(normalizeUri('/v1.41/images/../containers/json')).toEqual({ path: '/containers/json', query: {}, apiVersion: '1.41' })
    expect(normalizeUri('//v1.41//containers/json').apiVersion).toBe('1.41')
  })
})

describe('normalizeUri: percent-decoding', () => {
  it('decodes %2F into a slash, as r.URL.Path does', () => {
    expect(normalizeUri('/containers/a%2Fb/json').path).toBe('/containers/a/b/json')
    expect(normalizeUri('/v1.41/images/localhost%3A5000%2Fa%2Fb%3A1/json').path).toBe('/images/localhost:5000/a/b:1/json')
  })

  it('decodes other escapes, lower or upper case hex, and multi-byte UTF-8', () => {
    expect(normalizeUri('/containers/a%20b/json').path).toBe('/containers/a b/json')
    expect(normalizeUri('/containers/%63ontainer/json').path).toBe('/containers/container/json')
    expect(normalizeUri('/volumes/caf%C3%A9').path).toBe('/volumes/café')
    expect(normalizeUri('/volumes/caf%c3%a9').path).toBe('/volumes/café')
  })

  it('keeps + as + in the path (only the query turns it into a space)', () => {
    expect(normalizeUri('/volumes/a+b').path).toBe('/volumes/a+b')
  })

  it('does not start the query at an escaped ?', () => {
    expect(normalizeUri('/containers/a%3Fb/json?x=1')).toEqual({ path: '/containers/a?b/json', query: { x: ['1'] } })
  })

  it('keeps # as part of the path: a request URI has no fragment', () => {
    expect(normalizeUri('/containers/a#b/json').path).toBe('/containers/a#b/json')
  })

  it('cleans dot segments that escapes spelled out', () => {
    expect(normalizeUri('/containers/x/%2E%2E/%2E%2E/images/json').path).toBe('/images/json')
    expect(normalizeUri('/containers/x%2F..%2F..%2Fimages/json').path).toBe('/images/json')
  })

  it('refuses invalid escapes', () => {
    expect(problemOf('/containers/%zz/json')).toBe('invalid-escape')
    expect(problemOf('/containers/%G1/json')).toBe('invalid-escape')
    expect(problemOf('/containers/%2')).toBe('invalid-escape')
    expect(problemOf('/containers/abc%')).toBe('invalid-escape')
  })

  it('refuses escapes that decode to bytes that are not UTF-8', () => {
    expect(problemOf('/containers/%FF/json')).toBe('invalid-utf8')
    expect(problemOf('/containers/%C3/json')).toBe('invalid-utf8')
  })

  it('tells the user what to do in the message', () => {
    expect(() => normalizeUri('/containers/%zz/json')).toThrow(/%25/)
  })
})

describe('normalizeUri: path cleaning', () => {
  it('collapses repeated slashes', () => {
    expect(normalizeUri('//containers//json').path).toBe('/containers/json')
    expect(normalizeUri('/containers///web////start').path).toBe('/containers/web/start')
  })

  it('resolves . and .. like Go path.Clean, never above the root', () => {
    expect(normalizeUri('/containers/./json').path).toBe('/containers/json')
    expect(normalizeUri('/images/../containers/json').path).toBe('/containers/json')
    expect(normalizeUri('/../../containers/json').path).toBe('/containers/json')
    expect(normalizeUri('/containers/web/..').path).toBe('/containers')
    expect(normalizeUri('/containers/...').path).toBe('/containers/...')
  })

  it('drops a trailing slash', () => {
    expect(normalizeUri('/containers/json/').path).toBe('/containers/json')
    expect(normalizeUri('/networks/').path).toBe('/networks')
    expect(normalizeUri('/v1.41/containers/json/?all=1')).toEqual({ path: '/containers/json', query: { all: ['1'] }, apiVersion: '1.41' })
  })

  it('keeps the root', () => {
    expect(normalizeUri('/').path).toBe('/')
    expect(normalizeUri('/./').path).toBe('/')
  })
})

describe('normalizeUri: request target forms', () => {
  it('routes an absolute-form target on its path, as Go does', () => {
    expect(normalizeUri('http://docker/v1.41/containers/json?all=1')).toEqual({
      path: '/containers/json', query: { all: ['1'] }, apiVersion: '1.41'
    })
    expect(normalizeUri('http://user@docker:2375//containers//json').path).toBe('/containers/json')
    expect(normalizeUri('http://docker').path).toBe('/')
  })

  it('refuses targets that are not a path', () => {
    expect(problemOf('containers/json')).toBe('not-a-path')
    expect(problemOf('*')).toBe('not-a-path')
    expect(problemOf('')).toBe('not-a-path')
    expect(problemOf('mailto:root')).toBe('not-a-path')
  })

  it('refuses raw control characters', () => {
    expect(problemOf('/containers/json\n')).toBe('control-character')
    expect(problemOf('/containers/a\tb/json')).toBe('control-character')
    expect(problemOf('/containers/json?a=\x7f')).toBe('control-character')
  })
})

describe('normalizeUri: query', () => {
  it('is empty without a query string, or with an empty one', () => {
    expect(normalizeUri('/containers/json').query).toEqual({})
    expect(normalizeUri('/containers/json?').query).toEqual({})
  })

  it('keeps every value of a repeated key, in order', () => {
    expect(normalizeUri('/images/get?names=a&names=b%2Fc&names=a').query).toEqual({ names: ['a', 'b/c', 'a'] })
  })

  it('decodes like url.ParseQuery: + is a space, %2B a plus, a key alone has an empty value', () => {
    const { query } = normalizeUri('/images/create?fromImage=my+image&tag=1%2B2&flag&empty=&&x=a=b')
    expect(query).toEqual({ fromImage: ['my image'], tag: ['1+2'], flag: [''], empty: [''], x: ['a=b'] })
  })

  it('splits at the first ? only', () => {
    expect(normalizeUri('/containers/json?filters=a?b').query).toEqual({ filters: ['a?b'] })
  })

  it('decodes JSON filters', () => {
    const uri = '/containers/json?filters=' + encodeURIComponent(JSON.stringify({ label: ['portcullis.project=web'] }))
    expect(JSON.parse(normalizeUri(uri).query.filters![0]!)).toEqual({ label: ['portcullis.project=web'] })
  })

  it('treats __proto__ and constructor as plain parameter names', () => {
    const { query } = normalizeUri('/commit?__proto__=x&constructor=y')
    expect(query.__proto__).toEqual(['x'])
    expect(query.constructor).toEqual(['y'])
    expect(Object.keys(query)).toEqual(['__proto__', 'constructor'])
  })

  it('refuses invalid escapes in the query', () => {
    expect(problemOf('/containers/json?all=%zz')).toBe('invalid-escape')
    expect(problemOf('/containers/json?%=1')).toBe('invalid-escape')
    expect(problemOf('/containers/json?all=%FF')).toBe('invalid-utf8')
  })

  it('refuses ; which Go versions split differently', () => {
    expect(problemOf('/commit?container=a;container=b')).toBe('query-semicolon')
    expect(normalizeUri('/commit?container=a%3Bb').query).toEqual({ container: ['a;b'] })
  })
})
