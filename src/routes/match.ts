// Finds the route dockerd would dispatch a request to, and what it acts on.
// Patterns are compiled once at load. A lookup only tries the routes of its method whose first path
// segment can match, in registration order, so the first match is the one gorilla/mux would pick.

import type { ResourceRef } from '../core/types.js'
import { ROUTES, type BodyKind, type Route } from './table.js'

export interface RouteMatch {
  /** `resource.verb`. */
  action: string
  /** The existing object the call acts on, when the route names one and the request filled it in. */
  target?: ResourceRef
  /** Further existing objects the query names (GET /images/get?names=a&names=b). */
  references?: ResourceRef[]
  /** A JSON body the policy must read; a request without it is denied. */
  body?: BodyKind
  /** Only `unsafe` roles may call this route. */
  hostReaching?: true
  /** The moby pattern that matched, for the audit record. */
  pattern: string
}

interface CompiledRoute {
  route: Route
  regexp: RegExp
  /** Capture group of the target's path variable; 0 when the target is not in the path. */
  targetGroup: number
  /** The literal first path segment, or null when the pattern starts with a variable. */
  firstSegment: string | null
}

interface MethodTable {
  bySegment: Map<string, CompiledRoute[]>
  /** For paths whose first segment no literal route starts with. */
  otherSegments: CompiledRoute[]
}

const VARIABLE = /\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}/g
// `{name}` without a pattern is `[^/]+` in gorilla/mux. Go's `.` matches anything but `\n`, while JavaScript's
// `.` also stops at `\r`, U+2028 and U+2029: spell the Go meaning out.
const VARIABLE_PATTERNS: Record<string, string> = { '': '[^/]+', '.*': '[^\\n]*', '.+': '[^\\n]+' }

function compile (route: Route): CompiledRoute {
  // normalizeUri drops trailing slashes, so `/networks/` must be looked for as `/networks`.
  const template = route.pattern.length > 1 && route.pattern.endsWith('/') ? route.pattern.slice(0, -1) : route.pattern
  const variables: string[] = []
  let source = '^'
  let literalStart = 0
  for (const variable of template.matchAll(VARIABLE)) {
    const pattern = VARIABLE_PATTERNS[variable[2] ?? '']
    if (pattern === undefined) {
      throw new Error(`Route ${route.method} ${route.pattern}: variable pattern "${variable[2]}" is not supported; add its Go meaning to VARIABLE_PATTERNS.`)
    }
    source += escapeRegExp(template.slice(literalStart, variable.index)) + '(' + pattern + ')'
    variables.push(variable[1]!)
    literalStart = variable.index + variable[0].length
  }
  source += escapeRegExp(template.slice(literalStart)) + '$'

  let targetGroup = 0
  if (route.target?.from === 'path') {
    targetGroup = variables.indexOf(route.target.name) + 1
    if (targetGroup === 0) throw new Error(`Route ${route.method} ${route.pattern}: no path variable {${route.target.name}} for its target.`)
  }

  const firstSegment = template.slice(1).split('/')[0]!
  return {
    route,
    regexp: new RegExp(source),
    targetGroup,
    firstSegment: firstSegment.includes('{') ? null : firstSegment
  }
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function methodTable (routes: CompiledRoute[]): MethodTable {
  const bySegment = new Map<string, CompiledRoute[]>()
  for (const { firstSegment } of routes) {
    if (firstSegment === null || bySegment.has(firstSegment)) continue
    // Routes that start with a variable can match any segment, so they keep their place in every list.
    bySegment.set(firstSegment, routes.filter(r => r.firstSegment === firstSegment || r.firstSegment === null))
  }
  return { bySegment, otherSegments: routes.filter(r => r.firstSegment === null) }
}

const compiled = ROUTES.map(compile)
const tables = new Map<string, MethodTable>()
for (const method of new Set(ROUTES.map(r => r.method))) {
  if (method !== '*') tables.set(method, methodTable(compiled.filter(r => r.route.method === method || r.route.method === '*')))
}
// Methods no route names (including lowercase ones: Go compares methods exactly) reach only `*` routes.
const otherMethods = methodTable(compiled.filter(r => r.route.method === '*'))

/**
 * The route dockerd dispatches `method path` to, or null when it has none (the caller denies).
 * `path` and `query` come from normalizeUri.
 */
export function matchRoute (method: string, path: string, query: Record<string, string[]>): RouteMatch | null {
  const table = tables.get(method) ?? otherMethods
  const end = path.indexOf('/', 1)
  const candidates = table.bySegment.get(end < 0 ? path.slice(1) : path.slice(1, end)) ?? table.otherSegments
  for (const candidate of candidates) {
    const found = candidate.regexp.exec(path)
    if (found === null) continue
    const { route } = candidate
    if (route.whenQuery !== undefined && !firstValue(query, route.whenQuery)) continue
    return toMatch(candidate, found, query)
  }
  return null
}

function toMatch ({ route, targetGroup }: CompiledRoute, found: RegExpExecArray, query: Record<string, string[]>): RouteMatch {
  const match: RouteMatch = { action: route.action, pattern: route.pattern }
  if (route.target !== undefined) {
    const ref = route.target.from === 'path' ? found[targetGroup] : firstValue(query, route.target.name)
    // An empty name is not an object; dockerd fails such a call, so report no target rather than guess one.
    if (ref) match.target = { kind: route.target.kind, ref }
  }
  if (route.references !== undefined) {
    const { kind } = route.references
    const refs = ownValues(query, route.references.query).filter(ref => ref !== '').map(ref => ({ kind, ref }))
    if (refs.length > 0) match.references = refs
  }
  if (route.body !== undefined) match.body = route.body
  if (route.hostReaching === true) match.hostReaching = true
  return match
}

/** Go's Form.Get: the first value, or undefined. */
function firstValue (query: Record<string, string[]>, name: string): string | undefined {
  return ownValues(query, name)[0]
}

function ownValues (query: Record<string, string[]>, name: string): string[] {
  return Object.hasOwn(query, name) ? query[name] ?? [] : []
}
