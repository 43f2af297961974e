// Adds what the allowlists find (src/request/query-params.ts, src/request/fields) to a request's facts: the hook
// read-request.ts calls for the query, for a required body, and for a body a route takes optionally.

import type { AuthZRequest, GrantNeeds, RequestFacts } from '../core/types.js'
import { judgeBody, MAX_LISTED } from './allowlist.js'
import { readTableBody } from './body.js'
import type { BodyKind } from './docker-types.js'
import { BODY_KIND_TABLES, BODY_TABLES } from './fields/index.js'
import type { UnknownKey } from './godecode.js'
import { judgeQuery } from './query-judge.js'

export function addQueryFindings (facts: RequestFacts, method: string, pattern: string): void {
  const found = judgeQuery(method, pattern, facts.query)
  if (found.escapes.length > 0) facts.escapes.push(...found.escapes)
  if (found.references.length > 0) facts.references.push(...found.references)
  if (found.unknownParameters.length > MAX_LISTED) {
    const more = found.unknownParameters.length - MAX_LISTED
    found.unknownParameters.length = MAX_LISTED
    found.unknownParameters.push(`…and ${more} more`)
  }
  if (found.unknownParameters.length > 0) {
    facts.unknownParameters = found.unknownParameters
    facts.auditFields.unknownParameters = found.unknownParameters
  }
}

export function addBodyFindings (facts: RequestFacts, kind: BodyKind, value: unknown, unknown: readonly UnknownKey[]): void {
  judgeInto(facts, BODY_KIND_TABLES[kind], value as Record<string, unknown>, unknown)
}

/**
 * Routes whose body the route table does not require (exec start, commit, secrets, configs) are judged when the
 * daemon forwards one. 'problem' when it cannot be read: the caller stops and the call is denied.
 */
export function judgeOptionalBody (facts: RequestFacts, req: AuthZRequest, method: string, pattern: string): 'problem' | 'ok' {
  const table = BODY_TABLES[`${method} ${pattern}`]
  if (table === undefined || req.RequestBody === null || req.RequestBody === undefined || req.RequestBody === '') return 'ok'
  // The docker CLI sends a nil *Config as `null` (docker commit without --change): Go decodes it to nothing.
  if (isJsonNull(req.RequestBody)) return 'ok'
  const body = readTableBody(table, req.RequestBody, req.RequestHeaders ?? {})
  if ('problem' in body) {
    facts.bodyProblem = body.problem
    facts.bodyProblemDetail = body.detail
    return 'problem'
  }
  judgeInto(facts, table, body.value, body.unknown)
  return 'ok'
}

function judgeInto (facts: RequestFacts, table: Parameters<typeof judgeBody>[0], value: Record<string, unknown>, unknown: readonly UnknownKey[]): void {
  const found = judgeBody(table, value, unknown)
  if (found.escapes.length > 0) facts.escapes.push(...found.escapes)
  if (found.unknownFields.length > 0) {
    facts.unknownFields = found.unknownFields
    facts.auditFields.unknownFields = found.unknownFields
  }
  if (hasNeeds(found.needs)) {
    // Every need is judged; the record keeps the first few of each kind.
    facts.grantNeeds = found.needs
    const { ports, logDrivers, subnets } = found.needs
    facts.auditFields.grantNeeds = { ports: ports.slice(0, MAX_LISTED), logDrivers: logDrivers.slice(0, MAX_LISTED), subnets: subnets.slice(0, MAX_LISTED) }
  }
}

function isJsonNull (base64: string): boolean {
  return base64.length <= 16 && Buffer.from(base64, 'base64').toString('latin1').trim() === 'null'
}

function hasNeeds (needs: GrantNeeds): boolean {
  return needs.ports.length > 0 || needs.logDrivers.length > 0 || needs.subnets.length > 0
}
