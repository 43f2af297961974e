// Every name Docker's published Engine API v1.41 definition gives is classified, and every name the tables
// classify is one the API has (or one of the explicit exceptions below, each with why).
//
// The names come from moby/moby api/docs/v1.41.yaml (docs/api/v1.41.yaml in older trees), extracted once with
// scripts/extract-engine-api-names.py into test/fixtures/engine-api-v1.41-names.json: every `in: query`
// parameter per path and method, and every property of the `in: body` schema, following $ref and allOf
// (`A.B` object property, `A[].B` array items, `A.*.B` map values).

import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BODY_TABLES } from '../../src/request/fields/index.js'
import { HOST_REACHING_BODIES } from '../../src/request/fields/host-reaching.js'
import { flatten } from '../../src/request/fields/table.js'
import { QUERY_PARAMS } from '../../src/request/query-params.js'
import { ROUTES } from '../../src/routes/table.js'

interface Names { routes: Record<string, { query: string[], body: string[] }> }
const fixture = JSON.parse(readFileSync(new URL('../fixtures/engine-api-v1.41-names.json', import.meta.url), 'utf8')) as Names

/** `GET /containers/{name:.*}/json` and `GET /containers/{id}/json` are the same route. */
const shape = (key: string): string => key.replace(/\{[^}]*\}/g, '{}').replace(/^(\S+ \S+?)\/$/, '$1')

/** Query parameters dockerd 20.10 reads that the v1.41 definition does not document. */
const EXTRA_PARAMS: Record<string, { names: string[], why: string }> = {
  'GET /containers/json': { names: ['since', 'before'], why: 'legacy list options the handler still reads' },
  'GET /containers/{}/logs': { names: ['details'], why: 'read by getContainersLogs (--details)' },
  'GET /containers/{}/attach/ws': { names: ['stdin', 'stdout', 'stderr'], why: 'clients send them as for POST attach; wsContainersAttach ignores them and attaches every stream' },
  'POST /containers/{}/start': { names: ['checkpoint', 'checkpoint-dir'], why: 'experimental checkpoint restore' },
  'GET /images/json': { names: ['filter'], why: 'deprecated reference filter, still read' },
  'GET /images/{}/get': { names: ['names'], why: 'the shared handler reads it; ignored when the path names the image' },
  'PUT /volumes/{}': { names: ['version'], why: 'API 1.42 cluster volume update (the route is in the table for 1.42 clients)' },
  'POST /build': {
    names: ['cgroupparent', 'isolation', 'ulimits', 'securityopt', 'session', 'buildid', 'cpusetmems'],
    why: 'read by newImageBuildOptions though undocumented'
  },
  'POST /build/cancel': { names: ['id'], why: 'undocumented route (BuildKit cancel)' },
  'GET /containers/{}/checkpoints': { names: ['dir'], why: 'experimental checkpoint routes are undocumented' },
  'DELETE /containers/{}/checkpoints/{}': { names: ['dir'], why: 'experimental checkpoint routes are undocumented' },
  '* /debug/pprof': { names: ['seconds', 'debug', 'gc'], why: 'net/http/pprof handlers, undocumented' },
  '* /debug/pprof/profile': { names: ['seconds', 'debug', 'gc'], why: 'net/http/pprof handlers, undocumented' },
  '* /debug/pprof/trace': { names: ['seconds', 'debug', 'gc'], why: 'net/http/pprof handlers, undocumented' },
  '* /debug/pprof/{}': { names: ['seconds', 'debug', 'gc'], why: 'net/http/pprof handlers, undocumented' }
}

/** Body fields the tables know that the v1.41 definition does not list. */
const EXTRA_FIELDS: Record<string, { names: string[] | ((name: string, documented: Set<string>) => boolean), why: string }> = {
  'POST /containers/create': {
    names: (name, documented) => documented.has(`HostConfig.${name}`) || ['Capabilities', 'HostConfig.Capabilities', 'Cpuset'].includes(name),
    why: 'runconfig ContainerConfigWrapper embeds *HostConfig (its fields are read at the top level too) and has Cpuset; ' +
      'Capabilities is API 1.40 only (still judged as asked for)'
  },
  'POST /containers/{name:.*}/exec': { names: ['Detach'], why: 'types.ExecConfig has Detach (20.10); the definition omits it' }
}

const queryByShape = new Map(Object.entries(QUERY_PARAMS).map(([key, params]) => [shape(key), params]))
const bodyByShape = new Map(Object.entries(BODY_TABLES).map(([key, table]) => [shape(key), table]))

describe('the query parameter allowlist', () => {
  it('has an entry for every route of the route table', () => {
    const missing = ROUTES.map((r) => `${r.method} ${r.pattern}`).filter((key) => QUERY_PARAMS[key] === undefined)
    expect(missing).toEqual([])
  })

  it('has no entry for a route the table does not have, and neither do the body tables', () => {
    const routes = new Set(ROUTES.map((r) => `${r.method} ${r.pattern}`))
    expect(Object.keys(QUERY_PARAMS).filter((key) => !routes.has(key))).toEqual([])
    expect(Object.keys(BODY_TABLES).filter((key) => !routes.has(key))).toEqual([])
    // Every route whose body the route table requires has its table under the same key.
    for (const route of ROUTES) if (route.body !== undefined) expect(BODY_TABLES[`${route.method} ${route.pattern}`], route.pattern).toBeDefined()
  })

  it('classifies every query parameter of Engine API v1.41', () => {
    const unclassified: string[] = []
    for (const [key, { query }] of Object.entries(fixture.routes)) {
      const params = queryByShape.get(shape(key))
      if (params === undefined) { unclassified.push(`${key} (no entry)`); continue }
      for (const name of query) if (!Object.hasOwn(params, name)) unclassified.push(`${key} ?${name}`)
    }
    expect(unclassified).toEqual([])
  })

  it('names only parameters the API has, or an explained exception', () => {
    const documented = new Map(Object.entries(fixture.routes).map(([key, { query }]) => [shape(key), new Set(query)]))
    const strangers: string[] = []
    for (const [key, params] of Object.entries(QUERY_PARAMS)) {
      const known = documented.get(shape(key)) ?? new Set<string>()
      const extra = EXTRA_PARAMS[shape(key)]?.names ?? []
      for (const name of Object.keys(params)) if (!known.has(name) && !extra.includes(name)) strangers.push(`${key} ?${name}`)
    }
    expect(strangers).toEqual([])
  })
})

describe('the body field allowlist', () => {
  it('classifies every body field of Engine API v1.41', () => {
    const unclassified: string[] = []
    for (const [key, { body }] of Object.entries(fixture.routes)) {
      if (body.length === 0) continue
      const table = bodyByShape.get(shape(key))
      const known = table !== undefined
        ? new Set(flatten(table).map(([path]) => path))
        : new Set(HOST_REACHING_BODIES[shape(key)] ?? [])
      if (table === undefined && HOST_REACHING_BODIES[shape(key)] === undefined) { unclassified.push(`${key} (no table)`); continue }
      for (const name of body) if (!known.has(name)) unclassified.push(`${key} ${name}`)
    }
    expect(unclassified).toEqual([])
  })

  it('names only fields the API has, or an explained exception', () => {
    const strangers: string[] = []
    for (const [key, table] of Object.entries(BODY_TABLES)) {
      const documented = new Set(Object.entries(fixture.routes).find(([k]) => shape(k) === shape(key))?.[1].body ?? [])
      const extra = EXTRA_FIELDS[key]?.names ?? []
      for (const [path] of flatten(table)) {
        if (documented.has(path)) continue
        if (typeof extra === 'function' ? extra(path, documented) : extra.includes(path)) continue
        strangers.push(`${key} ${path}`)
      }
    }
    expect(strangers).toEqual([])
  })
})
