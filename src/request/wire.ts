// Refuses requests that dockerd could read differently from portcullis (repeated or non-ASCII headers, form
// bodies, bodies the daemon kept back) and requests beyond the documented limits, before anything is parsed
// or looked up. Every refusal names the header or the limit and says how to send the call instead.

import type { AuthZRequest, WireProblem } from '../core/types.js'
import { BODY_NEVER_FORWARDED, bodyClassOf, OPAQUE_BODIES } from '../routes/request-bodies.js'
import { contentLength, goMediaType, headerProblems, headerValue, isFormMediaType, SensitiveHeaders } from './headers.js'
import { MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_REFERENCES, MAX_URI_LENGTH } from './limits.js'

/** moby pkg/authorization: bodies of this size or more are never forwarded to plugins. */
const MAX_FORWARDED_BODY = 1048576

/** URI and header sizes; checked first, so nothing bigger is parsed, cached or looked up. */
export function checkLimits (req: AuthZRequest): WireProblem | undefined {
  const uri = req.RequestUri ?? ''
  if (uri.length > MAX_URI_LENGTH) {
    return {
      code: 'REQUEST_TOO_LARGE',
      reason: `the request URI is ${uri.length} characters; portcullis judges URIs of at most ${MAX_URI_LENGTH}. ` +
        'Send fewer or shorter query parameters (e.g. fewer filters or build args per call)'
    }
  }
  const headers = req.RequestHeaders ?? {}
  let count = 0
  let bytes = 0
  for (const key of Object.keys(headers)) {
    count++
    bytes += key.length + (headers[key]?.length ?? 0)
  }
  if (count > MAX_HEADER_COUNT || bytes > MAX_HEADER_BYTES) {
    return {
      code: 'REQUEST_TOO_LARGE',
      reason: `the request has ${count} headers of ${bytes} bytes; portcullis judges at most ${MAX_HEADER_COUNT} headers ` +
        `of ${MAX_HEADER_BYTES} bytes in all. Remove the extra headers (see HttpHeaders in ~/.docker/config.json)`
    }
  }
  return undefined
}

/** Headers and body as dockerd will read them, for the route's `action` (null: unknown route, refused anyway). */
export function checkWire (req: AuthZRequest, action: string | null): WireProblem | undefined {
  const headers = new SensitiveHeaders(req.RequestHeaders ?? {})
  const bad = headerProblems(headers)
  if (bad !== undefined) {
    return {
      code: 'AMBIGUOUS_REQUEST',
      header: bad.header,
      reason: `${bad.detail}, so the daemon could read it differently from portcullis. Send ${bad.header} once, in plain ASCII`
    }
  }
  const rawType = headerValue(headers, 'Content-Type')
  const media = goMediaType(rawType)
  if (media.kind === 'invalid') {
    return { code: 'AMBIGUOUS_REQUEST', header: 'Content-Type', reason: `the Content-Type is unreadable (${media.why}). Send a plain media type such as application/json` }
  }
  if (media.kind === 'type' && isFormMediaType(media.type)) {
    return {
      code: 'AMBIGUOUS_REQUEST',
      header: 'Content-Type',
      reason: `the Content-Type is ${media.type}: the daemon would read form values from the body ahead of the query string, ` +
        'where portcullis cannot see them. Send parameters in the query string and JSON bodies as application/json'
    }
  }
  const length = contentLength(headers)
  if (Number.isNaN(length)) {
    return { code: 'AMBIGUOUS_REQUEST', header: 'Content-Length', reason: 'the Content-Length is not a number. Send the body with a plain Content-Length' }
  }
  if (action === null || BODY_NEVER_FORWARDED.has(action)) return undefined

  const type = media.kind === 'type' ? media.type : ''
  const kind = bodyClassOf(action)
  if (kind === 'opaque') {
    const accepted = OPAQUE_BODIES[action] ?? []
    if (accepted.includes(type)) return undefined
    return {
      code: 'AMBIGUOUS_REQUEST',
      header: 'Content-Type',
      reason: `${action} takes a body portcullis cannot see, sent ${accepted.filter((t) => t !== '').map((t) => `as ${t}`).join(' or ') || 'without a Content-Type'}` +
        `${accepted.includes('') && accepted.length > 1 ? ' or without a Content-Type' : ''}; this one is "${rawType ?? ''}". Send it the way the docker CLI does`
    }
  }
  if (req.RequestBody !== null && req.RequestBody !== undefined) return undefined
  // Go's server drops Transfer-Encoding from the headers it shows: a Content-Type without a Content-Length is
  // how a chunked body looks to a plugin.
  const chunked = length === undefined && (media.kind === 'type' || headerValue(headers, 'Transfer-Encoding') !== undefined)
  if (!chunked && (length === undefined || length === 0)) return undefined
  if (length !== undefined && length >= MAX_FORWARDED_BODY) {
    return {
      code: 'REQUEST_TOO_LARGE',
      reason: `the request body is ${length} bytes; the daemon shows authorization plugins only bodies under ${MAX_FORWARDED_BODY} bytes, ` +
        'so portcullis cannot judge it. Send a smaller body'
    }
  }
  const sent = `Content-Type "${rawType ?? ''}", ${chunked ? 'no Content-Length (chunked)' : `${length} bytes`}`
  if (kind === 'none') {
    return {
      code: 'AMBIGUOUS_REQUEST',
      header: 'Content-Type',
      reason: `${action} takes no request body, but this one carries a body the daemon did not show portcullis (${sent}); ` +
        'the daemon may read it as form values ahead of the query string. Send the call without a body, as the docker CLI does'
    }
  }
  return {
    code: 'AMBIGUOUS_REQUEST',
    header: 'Content-Type',
    reason: `the daemon did not show portcullis this request's body (${sent})${type === 'application/json' ? ': an earlier Content-Type header must have hidden it' : ''}. ` +
      `Send the body once, with a single Content-Type: application/json and a Content-Length under ${MAX_FORWARDED_BODY} bytes`
  }
}

/** Other objects named beyond the limit; checked before any of them is looked up. */
export function checkReferences (count: number): WireProblem | undefined {
  if (count <= MAX_REFERENCES) return undefined
  return {
    code: 'TOO_MANY_REFERENCES',
    reason: `the request names ${count} other containers, volumes, networks or images; portcullis looks up at most ${MAX_REFERENCES} per request. ` +
      'Split it, or name fewer (e.g. fewer --volumes-from, --link or image names)'
  }
}
