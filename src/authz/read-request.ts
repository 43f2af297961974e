// From what the daemon sends to the facts the policy judges: route → action and target, then the body read
// the way the daemon itself will read it.

import { PortcullisError } from '../errors.js'
import { header } from '../identity/resolve.js'
import { extractFacts, readBody } from '../request/facts.js'
import { MAX_CACHED_URI_LENGTH } from '../request/limits.js'
import { checkLimits, checkReferences, checkWire } from '../request/wire.js'
import { addBodyFindings, addQueryFindings, judgeOptionalBody } from '../request/allowlist-facts.js'
import { checkNewName } from '../request/object-names.js'
import { pruneFacts } from '../request/prune-filters.js'
import { registryUses } from '../request/registry-uses.js'
import { buildKitFacts } from '../request/buildkit.js'
import { readBuildOutputs } from '../request/build-query.js'
import { attachStream } from '../request/streams.js'
import { matchRoute, type RouteMatch } from '../routes/match.js'
import { normalizeUri, RequestUriError } from '../routes/normalize.js'
import type { AuthZRequest, RequestFacts, WireProblem } from '../core/types.js'

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

/** The route facts, or why the URI cannot be read (a refusal, never a throw: the record must still name the caller). */
function routeFacts (method: string, uri: string): RouteFacts | WireProblem {
  // Only short URIs are kept, so no caller can fill the cache with big ones (at most ~10,000 × 512 characters).
  const cacheable = uri.length <= MAX_CACHED_URI_LENGTH
  const key = method + ' ' + uri
  let found = cacheable ? routeCache.get(key) : undefined
  if (found === undefined) {
    let normalized
    try {
      normalized = normalizeUri(uri)
    } catch (err) {
      if (!(err instanceof RequestUriError)) throw err
      return { code: 'BAD_URI', reason: new PortcullisError('PORTCULLIS_URI_INVALID', err.message).message.replace(/\.$/, '') }
    }
    const oldApi = normalized.apiVersion !== undefined && compareVersions(normalized.apiVersion, '1.24') < 0
    found = { ...normalized, oldApi, route: matchRoute(method, normalized.path, normalized.query) }
    if (cacheable) {
      if (routeCache.size >= ROUTE_CACHE_MAX) routeCache.clear()
      routeCache.set(key, found)
    }
  }
  return found
}

export function readRequest (req: AuthZRequest): RequestFacts {
  const method = req.RequestMethod ?? ''
  const uri = req.RequestUri ?? ''
  const tooLarge = checkLimits(req)
  if (tooLarge !== undefined) {
    return refused({ method, uri, path: '', query: {}, action: null, escapes: [], references: [], auditFields: {} }, tooLarge, req)
  }
  // Shared with the cache: facts.query is read-only from here on.
  const normalized = routeFacts(method, uri)
  if ('code' in normalized) {
    return refused({ method, uri, path: '', query: {}, action: null, escapes: [], references: [], auditFields: {} }, normalized, req)
  }
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
  const ambiguous = checkWire(req, route?.action ?? null)
  if (ambiguous !== undefined) {
    if (route !== null) facts.action = route.action
    return refused(facts, ambiguous, req)
  }
  if (route === null) return facts
  facts.action = route.action
  if (route.target !== undefined) facts.target = route.target
  // Objects the query names (GET /images/get?names=…); the refs are shared with the route cache, read-only.
  if (route.references !== undefined) facts.references.push(...route.references)
  if (route.hostReaching === true) facts.escapes.push({ setting: 'host-reaching-action', detail: route.action })
  readQueryEscapes(facts, normalized)
  addQueryFindings(facts, method, route.pattern)
  checkNewName(facts, undefined)
  const prune = pruneFacts(route.action, facts.query)
  if (prune !== undefined) facts.prune = prune
  const attach = attachStream(facts, header(req.RequestHeaders ?? {}, 'Content-Type'))
  if (attach !== undefined) {
    facts.stream = attach
    facts.auditFields.interactive = { tty: attach.tty, stdin: attach.stdin }
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
    addBodyFindings(facts, route.body, body.value, body.unknown)
    checkNewName(facts, (body.value as { Name?: unknown }).Name as string | undefined)
  } else if (judgeOptionalBody(facts, req, method, route.pattern) === 'problem') {
    return facts
  }
  const tooMany = checkReferences(facts.references.length)
  if (tooMany !== undefined) {
    facts.references = []
    return refused(facts, tooMany, req)
  }
  if (route.action === 'image.build') {
    const outputs = facts.query.outputs
    if (outputs !== undefined) facts.buildOutputs = outputs.flatMap((value) => readBuildOutputs(value).names)
  }
  const buildKit = buildKitFacts(facts)
  if (buildKit !== undefined) {
    facts.buildKit = buildKit
    facts.auditFields.cacheNamespace = buildKit.cacheNamespace
  }
  const registries = registryUses(facts)
  if (registries.uses.length > 0) facts.registryUses = registries.uses
  if (registries.unreadable !== undefined) facts.escapes.push({ setting: 'build-query', detail: registries.unreadable.slice(0, 200) })
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
  for (const name of ['fromImage', 'fromSrc', 'tag', 'repo', 'container', 't', 'filters', 'name', 'names'] as const) {
    const value = query[name]
    if (value !== undefined) facts.auditFields[name] = value.length === 1 ? value[0] : value
  }
}

/** Denied before any look-up; the record says why and shows the headers that decide how the body is read. */
function refused (facts: RequestFacts, wire: WireProblem, req: AuthZRequest): RequestFacts {
  facts.wire = wire
  const headers = req.RequestHeaders ?? {}
  facts.auditFields.wire = { code: wire.code, ...(wire.header !== undefined ? { header: wire.header } : {}) }
  for (const name of ['Content-Type', 'Content-Length'] as const) {
    const value = header(headers, name)
    if (value !== undefined) facts.auditFields[name === 'Content-Type' ? 'contentType' : 'contentLength'] = value
  }
  facts.auditFields.bodyForwarded = req.RequestBody !== null && req.RequestBody !== undefined
  return facts
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
