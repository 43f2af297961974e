// Reads the JSON document dockerd POSTs to /AuthZPlugin.AuthZReq and .AuthZRes. A document that is not what the
// daemon sends is refused, but whatever of it can be read is kept, so the refusal's record can still name the
// caller (a TLS user, a token) and the call.

import type { AuthZRequest } from '../core/types.js'

export type AuthZDocument =
  | { ok: true, request: AuthZRequest }
  /** `partial`: the fields that have the types the daemon sends, for the record; null when nothing could be read. */
  | { ok: false, problem: string, partial: AuthZRequest | null }

const STRING_FIELDS = ['User', 'UserAuthNMethod', 'RequestMethod', 'RequestUri', 'RequestBody', 'ResponseBody'] as const
const MAP_FIELDS = ['RequestHeaders', 'ResponseHeaders'] as const
/** An AuthZReq without these names no call; dockerd always sends both. */
const REQUIRED_IN_REQUEST = ['RequestMethod', 'RequestUri'] as const

export function readAuthZDocument (text: string, endpoint: 'request' | 'response'): AuthZDocument {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return { ok: false, problem: `not JSON: ${(err as Error).message}`, partial: null }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, problem: `not a JSON object but ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`}`, partial: null }
  }
  const fields = parsed as Record<string, unknown>
  // What the daemon sends passes this check, which copies nothing; the rest is for naming what is wrong.
  if (isWellFormed(fields, endpoint)) return { ok: true, request: fields as AuthZRequest }
  const problems: string[] = []
  // A null prototype: a field named __proto__ is just a field.
  const partial: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const name of STRING_FIELDS) {
    const value = fields[name]
    if (value === undefined || value === null) {
      if (value === null) partial[name] = null
    } else if (typeof value === 'string') partial[name] = value
    else problems.push(`${name} must be a string, not ${kindOf(value)}`)
  }
  for (const name of MAP_FIELDS) {
    const value = fields[name]
    if (value === undefined || value === null) continue
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${name} must map names to strings, not ${kindOf(value)}`)
      continue
    }
    // Keep the entries that are strings: the identity headers among them still name the caller in the record.
    const kept: Record<string, string> = Object.create(null) as Record<string, string>
    const bad: string[] = []
    for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
      if (typeof entry === 'string') kept[key] = entry
      else bad.push(key)
    }
    if (bad.length > 0) problems.push(`${name} must map names to strings (${bad.slice(0, 5).map((k) => JSON.stringify(k)).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not)`)
    partial[name] = kept
  }
  const status = fields.ResponseStatusCode
  if (status !== undefined && status !== null) {
    if (typeof status === 'number') partial.ResponseStatusCode = status
    else problems.push(`ResponseStatusCode must be a number, not ${kindOf(status)}`)
  }
  if (endpoint === 'request') {
    for (const name of REQUIRED_IN_REQUEST) {
      if (fields[name] === undefined || fields[name] === null || fields[name] === '') problems.push(`${name} is missing`)
    }
  }
  if (problems.length > 0) return { ok: false, problem: problems.join('; '), partial: partial as AuthZRequest }
  return { ok: true, request: fields as AuthZRequest }
}

/** Exactly when the reading below finds no problem. */
function isWellFormed (fields: Record<string, unknown>, endpoint: 'request' | 'response'): boolean {
  for (const name of STRING_FIELDS) {
    const value = fields[name]
    if (value !== undefined && value !== null && typeof value !== 'string') return false
  }
  for (const name of MAP_FIELDS) {
    const value = fields[name]
    if (value === undefined || value === null) continue
    if (typeof value !== 'object' || Array.isArray(value)) return false
    const map = value as Record<string, unknown>
    for (const key of Object.keys(map)) if (typeof map[key] !== 'string') return false
  }
  const status = fields.ResponseStatusCode
  if (status !== undefined && status !== null && typeof status !== 'number') return false
  if (endpoint === 'request') {
    for (const name of REQUIRED_IN_REQUEST) {
      if (fields[name] === undefined || fields[name] === null || fields[name] === '') return false
    }
  }
  return true
}

function kindOf (value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
