// Request headers read the way dockerd's Go code reads them, so portcullis never judges a different request.
//
// What the daemon shows a plugin (moby pkg/authorization): one value per header name, the LAST one sent, while
// the daemon itself (Header.Get, FormValue, ParseForm, mime.ParseMediaType) reads the FIRST. Go's server
// canonicalizes names, drops Transfer-Encoding after reading it, and refuses names that are not tokens.

/** Header names that decide how the body is read, or who the caller is: each must be plain and said once. */
const SENSITIVE_HEADERS = [
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

const SENSITIVE_BY_FOLD: ReadonlyMap<string, string> = new Map(SENSITIVE_HEADERS.map((name) => [name.toLowerCase(), name]))

/** The sensitive headers of one request, found in one pass over the daemon's map (read several times per call). */
export class SensitiveHeaders {
  private readonly found = new Map<string, Array<[string, string]>>()

  constructor (headers: Record<string, string>) {
    for (const key of Object.keys(headers)) {
      // JavaScript's lowercasing folds the Kelvin sign onto k, as Go's does; NFKC catches compatibility forms.
      let name = SENSITIVE_BY_FOLD.get(key.toLowerCase())
      if (name === undefined && !isAsciiName(key)) name = SENSITIVE_BY_FOLD.get(key.normalize('NFKC').toLowerCase())
      if (name === undefined) continue
      const list = this.found.get(name)
      if (list === undefined) this.found.set(name, [[key, headers[key]!]])
      else list.push([key, headers[key]!])
    }
  }

  entries (name: string): Array<[string, string]> {
    return this.found.get(name) ?? []
  }
}

type Headers = Record<string, string> | SensitiveHeaders
const sensitive = (headers: Headers): SensitiveHeaders => headers instanceof SensitiveHeaders ? headers : new SensitiveHeaders(headers)

/** Every value whose name is the same as `name` in ASCII case, or in any Unicode folding (`ToKen` with a Kelvin K). */
function headerEntries (headers: Headers, name: string): Array<[string, string]> {
  const canonical = SENSITIVE_BY_FOLD.get(name.toLowerCase())
  if (canonical !== undefined) return sensitive(headers).entries(canonical)
  if (headers instanceof SensitiveHeaders) throw new Error(`${name} is not a sensitive header`)
  const want = name.toLowerCase()
  return Object.keys(headers).filter((key) => foldName(key) === want).map((key) => [key, headers[key]!])
}

/** The one value of `name`, or undefined; callers must run `headerProblems` first so there is at most one. */
export function headerValue (headers: Headers, name: string): string | undefined {
  return headerEntries(headers, name)[0]?.[1]
}

/** Sensitive headers sent under two names, or holding anything but printable ASCII (tab allowed, as Go allows). */
export function headerProblems (headers: Headers): HeaderProblem | undefined {
  const index = sensitive(headers)
  for (const name of SENSITIVE_HEADERS) {
    const entries = index.entries(name)
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

function isPlainAscii (value: string): boolean {
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
export function contentLength (headers: Headers): number | undefined {
  const value = headerValue(headers, 'Content-Length')
  if (value === undefined) return undefined
  const trimmed = value.trim()
  return /^[0-9]{1,15}$/.test(trimmed) ? Number(trimmed) : NaN
}

function asciiLower (s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32))
}

/**
 * A name as any reader might fold it: ASCII names by ASCII case (NFKC leaves them alone), others the way a careless
 * reader (JavaScript's or Go's Unicode lowercasing, NFKC) would, so `ToKen` with a Kelvin K folds onto `token`.
 */
function foldName (key: string): string {
  return isAsciiName(key) ? key.toLowerCase() : key.normalize('NFKC').toLowerCase()
}

function isAsciiName (key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return false
  return true
}
