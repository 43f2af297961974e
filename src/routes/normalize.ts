// Turns the daemon's raw RequestUri into the path and query that dockerd's router acts on.
// dockerd (Go net/http + gorilla/mux) matches routes on the percent-decoded, cleaned path, so the
// policy must judge that path and never the raw text the client sent: `/containers/a%2Fb/json`
// inspects the container `a/b`, and `/v1.41/images/../containers/json` lists containers.

import type { ErrorCode } from '../errors.js'

export interface NormalizedUri {
  /** Decoded, cleaned path without API version prefix or trailing slash, e.g. `/containers/web/start`. */
  path: string
  /** Query parameters decoded like Go's url.ParseQuery, values in the order sent. */
  query: Record<string, string[]>
  /** `1.41` for a `/v1.41/...` URI; absent when the client sent no version prefix. */
  apiVersion?: string
}

export type UriProblem =
  | 'not-a-path'
  | 'control-character'
  | 'invalid-escape'
  | 'invalid-utf8'
  | 'query-semicolon'

/**
 * The URI cannot be read the way dockerd reads it; the caller denies the request.
 * The message completes "The request URI cannot be decoded: …" (PORTCULLIS_URI_INVALID).
 */
export class RequestUriError extends Error {
  readonly code: ErrorCode = 'PORTCULLIS_URI_INVALID'
  readonly problem: UriProblem

  constructor (problem: UriProblem, message: string) {
    super(message)
    this.name = 'RequestUriError'
    this.problem = problem
  }
}

// dockerd registers every route twice: as written and under `/v{version:[0-9.]+}`.
const VERSION_PREFIX = /^\/v([0-9.]+)(\/[\s\S]*)$/
// Go's url.Parse refuses ASCII control bytes anywhere in a URL.
const CONTROL_CHARACTER = /[\x00-\x1f\x7f]/
// An absolute-form request target (`http://host/path`); Go's server accepts it and routes on its path.
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/
const utf8 = new TextDecoder('utf-8', { fatal: true })

export function normalizeUri (uri: string): NormalizedUri {
  if (CONTROL_CHARACTER.test(uri)) {
    throw new RequestUriError('control-character',
      'it contains a control character; percent-encode it (for example %0A)')
  }

  // Go splits the query off at the first `?` before decoding anything; `#` has no meaning here.
  const queryStart = uri.indexOf('?')
  const rawPath = pathOfRequestTarget(queryStart < 0 ? uri : uri.slice(0, queryStart))
  const rawQuery = queryStart < 0 ? '' : uri.slice(queryStart + 1)

  let path = cleanPath(percentDecode(rawPath, false, 'path'))
  let apiVersion: string | undefined
  const versioned = VERSION_PREFIX.exec(path)
  if (versioned !== null) {
    apiVersion = versioned[1]
    path = versioned[2]!
  }

  const result: NormalizedUri = { path, query: parseQuery(rawQuery) }
  if (apiVersion !== undefined) result.apiVersion = apiVersion
  return result
}

/** The path part of an origin-form (`/x`) or absolute-form (`http://host/x`) request target. */
function pathOfRequestTarget (target: string): string {
  if (target.startsWith('/')) return target
  const scheme = SCHEME.exec(target)
  if (scheme !== null) {
    const rest = target.slice(scheme[0].length)
    if (rest.startsWith('//')) {
      const pathStart = rest.indexOf('/', 2)
      return pathStart < 0 ? '/' : rest.slice(pathStart)
    }
  }
  throw new RequestUriError('not-a-path',
    `${JSON.stringify(target)} is not an absolute path; send a path such as /containers/json`)
}

/** Go's path.Clean for a rooted path: no empty, `.` or `..` segments, no trailing slash. */
function cleanPath (path: string): string {
  if (!/\/\.{0,2}(?:\/|$)/.test(path)) return path
  const segments: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') segments.pop()
    else segments.push(segment)
  }
  return '/' + segments.join('/')
}

/** Go's url.ParseQuery, except that the problems Go reports (and dockerd then refuses) throw. */
function parseQuery (rawQuery: string): Record<string, string[]> {
  // A null prototype so that a parameter named `__proto__` or `constructor` is just a parameter.
  const query: Record<string, string[]> = Object.create(null)
  if (rawQuery === '') return query
  for (const pair of rawQuery.split('&')) {
    if (pair.includes(';')) {
      // Go before 1.17 split on `;` too, later versions drop the pair: which one dockerd runs is unknown.
      throw new RequestUriError('query-semicolon',
        'the query string contains ";"; separate parameters with "&" and encode a literal ";" as %3B')
    }
    if (pair === '') continue
    const equals = pair.indexOf('=')
    const key = percentDecode(equals < 0 ? pair : pair.slice(0, equals), true, 'query')
    const value = equals < 0 ? '' : percentDecode(pair.slice(equals + 1), true, 'query')
    const values = query[key]
    if (values === undefined) query[key] = [value]
    else values.push(value)
  }
  return query
}

function percentDecode (text: string, plusIsSpace: boolean, part: 'path' | 'query'): string {
  if (!text.includes('%') && !(plusIsSpace && text.includes('+'))) return text
  // Decode bytes, not characters: an escape may carry one byte of a multi-byte UTF-8 character.
  const raw = Buffer.from(text, 'utf8')
  const decoded = Buffer.allocUnsafe(raw.length)
  let length = 0
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!
    if (byte === 0x25 /* % */) {
      const high = hexValue(raw[i + 1])
      const low = hexValue(raw[i + 2])
      if (high < 0 || low < 0) {
        const escape = raw.subarray(i, i + 3).toString('latin1')
        throw new RequestUriError('invalid-escape',
          `the ${part} has an invalid percent-escape ${JSON.stringify(escape)}; encode a literal "%" as %25`)
      }
      decoded[length++] = high * 16 + low
      i += 2
    } else if (byte === 0x2b /* + */ && plusIsSpace) {
      decoded[length++] = 0x20
    } else {
      decoded[length++] = byte
    }
  }
  try {
    return utf8.decode(decoded.subarray(0, length))
  } catch {
    throw new RequestUriError('invalid-utf8',
      `the ${part} decodes to bytes that are not UTF-8; percent-encode names as UTF-8`)
  }
}

function hexValue (byte: number | undefined): number {
  if (byte === undefined) return -1
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10
  return -1
}
