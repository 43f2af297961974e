// Turns the RequestBody the daemon forwarded (base64) into the Go-decoded value, or says why it can't.
//
// dockerd (pkg/authorization/authz.go) forwards a request body to authorization plugins only when
// Content-Type is application/json and 0 < Content-Length < maxBodySize (1048576). Otherwise the
// plugin sees no body while the daemon still reads one: that gap is CVE-2024-41110, so every route
// that needs a body is denied when we do not get one.

import type { BodyProblem } from '../core/types.js'
import { isStrictBase64 } from './base64.js'
import type { BodyKind, BodyTypes } from './docker-types.js'
import { BODY_KIND_TABLES } from './fields/index.js'
import type { FieldTable } from './fields/table.js'
import { decodeAs, type UnknownKey } from './godecode.js'
import { GoJsonError, JsonObject, parseGoJson } from './gojson.js'

/** moby pkg/authorization: bodies of this size or more are never forwarded to plugins. */
export const MAX_FORWARDED_BODY = 1048576

export type BodyReadResult<K extends BodyKind> =
  /** `unknown`: the keys Go would skip (no field of that name), for the allowlist (src/request/allowlist.ts). */
  | { value: BodyTypes[K], unknown: UnknownKey[] }
  | { problem: BodyProblem, detail: string }

/** Reads and Go-decodes the body of a `kind` request. */
export function readBody<K extends BodyKind> (
  kind: K,
  base64: string | null | undefined,
  headers?: Record<string, string> | null
): BodyReadResult<K> {
  return readTableBody(BODY_KIND_TABLES[kind], base64, headers) as BodyReadResult<K>
}

/** Reads and Go-decodes a body into the struct its field table describes. */
export function readTableBody (
  table: FieldTable,
  base64: string | null | undefined,
  headers?: Record<string, string> | null
): { value: Record<string, unknown>, unknown: UnknownKey[] } | { problem: BodyProblem, detail: string } {
  if (base64 === null || base64 === undefined) return missingBody(headers)
  // The largest body the daemon forwards fits in ~1.4 MB of base64; anything bigger did not come from it.
  if (base64.length > Math.ceil(MAX_FORWARDED_BODY / 3) * 4) {
    return { problem: 'too-large', detail: `The request body is larger than ${MAX_FORWARDED_BODY} bytes; send a smaller body.` }
  }
  if (!isStrictBase64(base64)) {
    return { problem: 'invalid-json', detail: 'The forwarded request body is not valid base64, so it cannot be checked.' }
  }
  const bytes = Buffer.from(base64, 'base64')
  if (isBlank(bytes)) {
    return {
      problem: 'empty',
      detail: 'The request body is empty, so portcullis cannot check what it asks for (CVE-2024-41110). ' +
        'Send the JSON body with Content-Type: application/json and a Content-Length.'
    }
  }
  try {
    const parsed = parseGoJson(bytes)
    if (!(parsed instanceof JsonObject)) {
      return { problem: 'not-an-object', detail: 'The request body must be a JSON object.' }
    }
    const unknown: UnknownKey[] = []
    return { value: decodeAs(table.struct, parsed, unknown), unknown }
  } catch (err) {
    if (err instanceof GoJsonError) {
      return { problem: 'invalid-json', detail: `The request body is not valid for this call: ${err.message}.` }
    }
    throw err
  }
}

/** Explains, from the headers, why the daemon sent no body. */
function missingBody (headers: Record<string, string> | null | undefined): { problem: BodyProblem, detail: string } {
  const contentLength = header(headers, 'content-length')
  const transferEncoding = header(headers, 'transfer-encoding')
  const contentType = header(headers, 'content-type')
  const length = contentLength === undefined ? NaN : Number(contentLength.trim())
  if (length >= MAX_FORWARDED_BODY) {
    return {
      problem: 'too-large',
      detail: `The request body is ${length} bytes; the daemon only shows authorization plugins bodies under ` +
        `${MAX_FORWARDED_BODY} bytes, so it cannot be checked. Send a smaller body.`
    }
  }
  if (transferEncoding !== undefined && /chunked/i.test(transferEncoding)) {
    return {
      problem: 'too-large',
      detail: 'The request body was sent chunked; the daemon only shows authorization plugins bodies with a ' +
        `Content-Length under ${MAX_FORWARDED_BODY} bytes. Send it with a Content-Length header.`
    }
  }
  if (length === 0) {
    return {
      problem: 'empty',
      detail: 'The request has Content-Length: 0, so portcullis cannot check what it asks for (CVE-2024-41110). ' +
        'Send the JSON body with Content-Type: application/json.'
    }
  }
  if (contentType !== undefined && !/^\s*application\/json\s*$/i.test(contentType)) {
    return {
      problem: 'missing',
      detail: `The daemon did not forward the request body (Content-Type is "${contentType}"). ` +
        'Send it with Content-Type: application/json, without parameters.'
    }
  }
  return {
    problem: 'missing',
    detail: 'The daemon did not forward a request body, so this call cannot be checked. ' +
      `Send a JSON body with Content-Type: application/json and a Content-Length under ${MAX_FORWARDED_BODY} bytes.`
  }
}

function header (headers: Record<string, string> | null | undefined, name: string): string | undefined {
  if (headers === null || headers === undefined) return undefined
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value
  }
  return undefined
}

function isBlank (bytes: Uint8Array): boolean {
  for (const c of bytes) {
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false
  }
  return true
}
