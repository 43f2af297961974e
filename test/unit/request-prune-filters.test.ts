import { describe, expect, it } from 'vitest'
import { confinedProjects, FilterError, parseFilters, pruneFacts } from '../../src/request/prune-filters.js'
import { readRequest } from '../../src/authz/read-request.js'

const sets = (text: string): Record<string, string[]> =>
  Object.fromEntries([...parseFilters(text)].map(([key, values]) => [key, [...values].sort()]))
const projects = (text: string): string[] => confinedProjects(parseFilters(text))

describe('parseFilters reads filters as dockerd\'s filters.FromJSON does', () => {
  it('reads the set form the docker CLI sends', () => {
    expect(sets('{"label":{"portcullis.project=payments":true,"tier=db":true}}')).toEqual({ label: ['portcullis.project=payments', 'tier=db'] })
  })
  it('ignores the bool of the set form (MatchKVList only looks at the keys)', () => {
    expect(projects('{"label":{"portcullis.project=payments":false}}')).toEqual(['payments'])
    expect(projects('{"label":{"portcullis.project=payments":null}}')).toEqual(['payments'])
  })
  it('falls back to the legacy list form', () => {
    expect(sets('{"label":["portcullis.project=payments"],"until":["1h"]}')).toEqual({ label: ['portcullis.project=payments'], until: ['1h'] })
    expect(sets('{"label":[null]}')).toEqual({ label: [''] })
  })
  it('an empty string, null and {} are no filter', () => {
    expect(sets('')).toEqual({})
    expect(sets('null')).toEqual({})
    expect(sets('{}')).toEqual({})
  })
  it('a later duplicate key replaces the earlier one, null included (Go map rules)', () => {
    expect(projects('{"label":{"portcullis.project=payments":true},"label":null}')).toEqual([])
    expect(projects('{"label":{"portcullis.project=web":true},"label":{"portcullis.project=payments":true}}')).toEqual(['payments'])
    expect(projects('{"label":["portcullis.project=web"],"label":["x=y"]}')).toEqual([])
  })
  it('keys are case-sensitive', () => {
    expect(projects('{"Label":{"portcullis.project=payments":true}}')).toEqual([])
    expect(projects('{"label":{"Portcullis.project=payments":true}}')).toEqual([])
  })
  it('refuses what dockerd refuses: mixed forms, wrong types, trailing data, bad JSON', () => {
    for (const text of [
      '{"label":{"a=b":true},"until":["1h"]}', '{"label":{"a=b":"yes"}}', '{"label":[1]}', '{"label":"a=b"}',
      '[]', '"x"', '{"label":{}} x', '{"label":'
    ]) {
      expect(() => parseFilters(text), text).toThrow(FilterError)
    }
  })
})

describe('confinedProjects: label filters are ANDed, split at the first =', () => {
  it('every exact portcullis.project=P value is a project', () => {
    expect(projects('{"label":{"portcullis.project=payments":true,"portcullis.project=web":true}}').sort()).toEqual(['payments', 'web'])
    expect(projects('{"label":{"portcullis.project=a=b":true}}')).toEqual(['a=b'])
    expect(projects('{"label":{"portcullis.project=":true}}')).toEqual([''])
  })
  it('a key-only filter, label! and other keys do not confine', () => {
    expect(projects('{"label":{"portcullis.project":true}}')).toEqual([])
    expect(projects('{"label!":{"portcullis.project=web":true}}')).toEqual([])
    expect(projects('{"label":{"portcullis.projectx=payments":true," portcullis.project=payments":true}}')).toEqual([])
  })
})

describe('pruneFacts', () => {
  it('marks image and build-cache prunes as global only', () => {
    expect(pruneFacts('image.prune', {})).toMatchObject({ globalOnly: true })
    expect(pruneFacts('image.build-prune', {})).toMatchObject({ globalOnly: true })
    expect(pruneFacts('volume.prune', {})).toMatchObject({ globalOnly: false, projects: [] })
    expect(pruneFacts('container.list', {})).toBeUndefined()
  })
  it('refuses to guess between two filters parameters', () => {
    expect(pruneFacts('container.prune', { filters: ['{}', '{"label":["portcullis.project=p"]}'] })?.problem).toMatch(/more than one/)
  })
  it('reports unreadable filters as a problem', () => {
    expect(pruneFacts('network.prune', { filters: ['{'] })?.problem).toMatch(/not valid JSON/)
  })
  it('is read off the request URI, with the filters kept for the audit record', () => {
    const filters = encodeURIComponent('{"label":{"portcullis.project=payments":true}}')
    const facts = readRequest({ RequestMethod: 'POST', RequestUri: `/v1.41/volumes/prune?filters=${filters}` })
    expect(facts.prune).toMatchObject({ projects: ['payments'], globalOnly: false })
    expect(facts.auditFields.filters).toBe('{"label":{"portcullis.project=payments":true}}')
  })
})
