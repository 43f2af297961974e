// From what the daemon sends to the facts the policy judges: route → action and target, then the body read
// the way the daemon itself will read it.

import { PortcullisError } from '../errors.js'
import { header } from '../identity/resolve.js'
import { extractFacts, readBody } from '../request/facts.js'
import { attachStream } from '../request/streams.js'
import { matchRoute, type RouteMatch } from '../routes/match.js'
import { normalizeUri } from '../routes/normalize.js'
import type { AuthZRequest, RequestFacts } from './types.js'

/** What method + URI alone tell us; the same few URIs come again and again, so this is cached. */
interface RouteFacts {
  path: string
  query: Record<string, string[]>
  apiVersion?: string
  /** Below API 1.24 (see readQueryEscapes). */
  oldApi: boolean
  route: RouteMatch | null
}

const ROUTE_CACHE_MAX = 10_000
const routeCache = new Map<string, RouteFacts>()

function routeFacts (method: string, uri: string): RouteFacts {
  const key = method + ' ' + uri
  let found = routeCache.get(key)
  if (found === undefined) {
    let normalized
    try {
      normalized = normalizeUri(uri)
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_URI_INVALID', (err as Error).message)
    }
    const oldApi = normalized.apiVersion !== undefined && compareVersions(normalized.apiVersion, '1.24') < 0
    found = { ...normalized, oldApi, route: matchRoute(method, normalized.path, normalized.query) }
    if (routeCache.size >= ROUTE_CACHE_MAX) routeCache.clear()
    routeCache.set(key, found)
  }
  return found
}

export function readRequest (req: AuthZRequest): RequestFacts {
  const method = req.RequestMethod ?? ''
  const uri = req.RequestUri ?? ''
  // Shared with the cache: facts.query is read-only from here on.
  const normalized = routeFacts(method, uri)
  const facts: RequestFacts = {
    method,
    uri,
    path: normalized.path,
    query: normalized.query,
    action: null,
    escapes: [],
    references: [],
    auditFields: {}
  }
  const route = normalized.route
  if (route === null) return facts
  facts.action = route.action
  if (route.target !== undefined) facts.target = route.target
  if (route.hostReaching === true) facts.escapes.push({ setting: 'host-reaching-action', detail: route.action })
  readQueryEscapes(facts, normalized)
  const attach = attachStream(facts, header(req.RequestHeaders ?? {}, 'Content-Type'))
  if (attach !== undefined) {
    facts.stream = attach
    facts.auditFields.interactive = { tty: attach.tty, stdin: attach.stdin }
  }

  // Go's FormValue reads a form-encoded body ahead of the query string: values we judged in the query could
  // be overridden by ones we never see. No docker client sends such bodies.
  const contentType = header(req.RequestHeaders ?? {}, 'Content-Type') ?? ''
  if (/^\s*(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(contentType)) {
    facts.bodyProblem = 'form-encoded'
    facts.bodyProblemDetail = contentType
    return facts
  }

  if (route.body !== undefined) {
    const body = readBody(route.body, req.RequestBody, req.RequestHeaders ?? {})
    if ('problem' in body) {
      facts.bodyProblem = body.problem
      facts.bodyProblemDetail = body.detail
      const length = header(req.RequestHeaders ?? {}, 'Content-Length')
      if (length !== undefined) facts.auditFields.contentLength = length
      return facts
    }
    const found = extractFacts(route.body, body.value)
    facts.escapes.push(...found.escapes)
    facts.references.push(...found.references)
    if (found.labelProject !== undefined) facts.labelProject = found.labelProject
    if (found.exec !== undefined) facts.exec = found.exec
    if (found.stream !== undefined) facts.stream = found.stream
    Object.assign(facts.auditFields, found.auditFields)
  }
  if (facts.escapes.length > 0) facts.auditFields.escapes = facts.escapes
  return facts
}

/** Host-reaching settings that travel in the query string or the API version rather than a body. */
function readQueryEscapes (facts: RequestFacts, { oldApi, apiVersion }: RouteFacts): void {
  // Below API 1.24, POST /containers/{id}/start still applies a HostConfig body (privileged, binds) that the
  // daemon does not show plugins unless it is JSON; nothing current uses those versions.
  if (oldApi) {
    facts.escapes.push({ setting: 'old-api-version', detail: `API v${apiVersion ?? '?'} (below 1.24)` })
  }
  const query = facts.query
  switch (facts.action) {
    case 'image.build': {
      // Go's FormValue reads the first value; judge every value so no ordering trick hides one.
      const modes = query.networkmode ?? []
      if (modes.includes('host')) facts.escapes.push({ setting: 'net-namespace', detail: 'build networkmode=host' })
      if (modes.length > 0) facts.auditFields.networkmode = modes.join(',')
      break
    }
    case 'image.import': {
      const sources = (query.fromSrc ?? []).filter((src) => src !== '-' && src !== '')
      if (sources.length > 0) facts.escapes.push({ setting: 'import-from-url', detail: `the daemon would fetch ${sources.join(', ')}` })
      break
    }
    case 'container.start': {
      const dirs = query['checkpoint-dir'] ?? []
      if (dirs.some((d) => d !== '')) facts.escapes.push({ setting: 'checkpoint-dir', detail: `host directory ${dirs.join(', ')}` })
      break
    }
  }
  for (const name of ['fromImage', 'fromSrc', 'tag', 'repo', 'container', 't'] as const) {
    const value = query[name]
    if (value !== undefined) facts.auditFields[name] = value.length === 1 ? value[0] : value
  }
}

function compareVersions (a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}
