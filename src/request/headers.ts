// Request headers read the way dockerd's Go code reads them, so portcullis never judges a different request.
//
// What the daemon shows a plugin (moby pkg/authorization): one value per header name, the LAST one sent, while
// the daemon itself (Header.Get, FormValue, ParseForm, mime.ParseMediaType) reads the FIRST. Go's server
// canonicalizes names, drops Transfer-Encoding after reading it, and refuses names that are not tokens.

/** Header names that decide how the body is read, or who the caller is: each must be plain and said once. */
export const SENSITIVE_HEADERS = [
  'Content-Type', 'Content-Length', 'Transfer-Encoding',
  'X-Portcullis-Token', 'X-Portcullis-Internal', 'X-Portcullis-Bridge'
] as const

/** What Go's mime.ParseMediaType makes of a Content-Type, as far as deciding how the daemon reads the body. */
export type MediaType =
  | { kind: 'absent' }
  | { kind: 'type', type: string }
  | { kind: 'invalid', why: string }

export interface HeaderProblem {
  header: string
  problem: 'repeated' | 'not-plain'
  detail: string
}

/** Every value whose name is the same as `name` in ASCII case, or in any Unicode folding (`ToKen` with a Kelvin K). */
export function headerEntries (headers: Record<string, string>, name: string): Array<[string, string]> {
  const want = name.toLowerCase()
  const found: Array<[string, string]> = []
  for (const key of Object.keys(headers)) {
    if (asciiLower(key) === want || foldKey(key) === want) found.push([key, headers[key]!])
  }
  return found
}

/** The one value of `name`, or undefined; callers must run `headerProblems` first so there is at most one. */
export function headerValue (headers: Record<string, string>, name: string): string | undefined {
  return headerEntries(headers, name)[0]?.[1]
}

/** Sensitive headers sent under two names, or holding anything but printable ASCII (tab allowed, as Go allows). */
export function headerProblems (headers: Record<string, string>): HeaderProblem | undefined {
  for (const name of SENSITIVE_HEADERS) {
    const entries = headerEntries(headers, name)
    if (entries.length > 1) {
      return { header: name, problem: 'repeated', detail: `${name} arrives under ${entries.length} names (${entries.map(([k]) => JSON.stringify(k)).join(', ')})` }
    }
    const [key, value] = entries[0] ?? []
    if (key !== undefined && !/^[\x21-\x7e]+$/.test(key)) {
      return { header: name, problem: 'not-plain', detail: `the header name ${JSON.stringify(key)} is not plain ASCII` }
    }
    if (value !== undefined && !isPlainAscii(value)) {
      return { header: name, problem: 'not-plain', detail: `${name} holds a non-ASCII or control character (Go folds such letters differently)` }
    }
  }
  return undefined
}

export function isPlainAscii (value: string): boolean {
  return /^[\t\x20-\x7e]*$/.test(value)
}

/**
 * The media type Go's mime.ParseMediaType returns for `value`: the part before `;`, lowercased and trimmed,
 * which must be `token` or `token/token`. Parameters do not change it (Go's ParseForm uses the type even when
 * the parameters are invalid). Non-ASCII input is reported invalid: Go's Unicode lowercasing (İ → i, K → k)
 * would read it differently from ours.
 */
export function goMediaType (value: string | undefined): MediaType {
  if (value === undefined) return { kind: 'absent' }
  if (!isPlainAscii(value)) return { kind: 'invalid', why: 'non-ASCII or control character' }
  const semi = value.indexOf(';')
  const type = asciiLower(value.slice(0, semi === -1 ? value.length : semi)).replace(/^[ \t]+|[ \t]+$/g, '')
  if (type === '' && value.trim() === '') return { kind: 'absent' }
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+(\/[!#$%&'*+\-.^_`|~0-9a-z]+)?$/.test(type)) {
    return { kind: 'invalid', why: `"${value}" is not a media type` }
  }
  return { kind: 'type', type }
}

/** Go's ParseForm / ParseMultipartForm read the body as form values, ahead of the query string, for these. */
export function isFormMediaType (type: string): boolean {
  return type === 'application/x-www-form-urlencoded' || type.startsWith('multipart/')
}

/** Content-Length as Go accepts it (digits only), undefined when absent, NaN when unreadable. */
export function contentLength (headers: Record<string, string>): number | undefined {
  const value = headerValue(headers, 'Content-Length')
  if (value === undefined) return undefined
  const trimmed = value.trim()
  return /^[0-9]{1,15}$/.test(trimmed) ? Number(trimmed) : NaN
}

function asciiLower (s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32))
}

/** How a careless reader (JavaScript's or Go's Unicode lowercasing, NFKC) might fold a name. */
function foldKey (key: string): string {
  return key.normalize('NFKC').toLowerCase()
}
